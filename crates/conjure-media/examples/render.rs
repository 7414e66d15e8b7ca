//! Renders one timeline file and prints the report as JSON: the engine alone, without the
//! CLI, for `scripts/bench-media` and for debugging a timeline.
//!
//! Usage: `render [--no-smart] [--commands] [--keep-temp] SPEC.json|yaml`
//! - `--no-smart`: re-encode every frame (`RenderOptions::full_render`), to compare with smart
//!   render;
//! - `--commands`: keep every ffmpeg command that ran in the report (left out by default);
//! - `--keep-temp`: keep the working folder (its path is in the report), to rerun a command.
//!
//! ffmpeg's capabilities are cached in `$XDG_CACHE_HOME/conjure` (else `~/.cache/conjure`), see
//! `Ffmpeg::with_capabilities_cache`, so only the first render on a machine probes them.

use std::io::Write as _;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut full_render, mut commands, mut keep_temp, mut spec) = (false, false, false, None);
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--no-smart" => full_render = true,
            "--commands" => commands = true,
            "--keep-temp" => keep_temp = true,
            _ => spec = Some(PathBuf::from(arg)),
        }
    }
    let spec =
        spec.ok_or("usage: render [--no-smart] [--commands] [--keep-temp] SPEC.json|yaml")?;
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")));
    let mut ff = conjure_media::Ffmpeg::locate()?;
    if let Some(cache) = cache {
        ff = ff.with_capabilities_cache(cache.join("conjure"));
    }
    let timeline = conjure_media::Timeline::from_path(&spec)?;
    let options = conjure_media::RenderOptions { full_render, keep_temp, ..Default::default() };
    let mut report = conjure_media::render(&ff, &timeline, &options)?;
    if !commands {
        report.commands.clear();
    }
    writeln!(std::io::stdout(), "{}", serde_json::to_string(&report)?)?;
    Ok(())
}
