//! Renders one timeline file and prints the report as JSON: the engine alone, without the
//! CLI, for `scripts/bench-media` and for debugging a timeline.
//!
//! Usage: `render [--no-smart] SPEC.json|yaml` (`--no-smart`: re-encode every frame)

use std::io::Write as _;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1).peekable();
    let full_render = args.next_if(|a| a == "--no-smart").is_some();
    let spec = PathBuf::from(args.next().ok_or("usage: render [--no-smart] SPEC.json|yaml")?);
    let ff = conjure_media::Ffmpeg::locate()?;
    let timeline = conjure_media::Timeline::from_path(&spec)?;
    let opts = conjure_media::RenderOptions { full_render, ..Default::default() };
    let mut report = conjure_media::render(&ff, &timeline, &opts)?;
    report.commands.clear();
    writeln!(std::io::stdout(), "{}", serde_json::to_string(&report)?)?;
    Ok(())
}
