//! Renders one timeline file and prints the report as JSON: the engine alone, without the
//! CLI, for `scripts/bench-media` and for debugging a timeline.
//!
//! Usage: `render SPEC.json|yaml`

use std::io::Write as _;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let spec = PathBuf::from(args.next().ok_or("usage: render SPEC.json|yaml")?);
    let ff = conjure_media::Ffmpeg::locate()?;
    let timeline = conjure_media::Timeline::from_path(&spec)?;
    let mut report =
        conjure_media::render(&ff, &timeline, &conjure_media::RenderOptions::default())?;
    report.commands.clear();
    writeln!(std::io::stdout(), "{}", serde_json::to_string(&report)?)?;
    Ok(())
}
