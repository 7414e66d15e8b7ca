//! `conjure edit`: render a timeline file (JSON or YAML) with conjure-media.
//!
//! The engine does the work; this file reads the spec, draws a progress bar on a terminal, and
//! prints the report. Media errors map to exit codes in `error.rs` (exit 2 when the input is at
//! fault, exit 1 when ffmpeg itself failed, with its stderr tail).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use clap::Args;
use conjure_app::Config;
use conjure_media::{Ffmpeg, MediaError, Progress, RenderOptions, Timeline};

use serde_json::json;

use crate::commands::Ctx;
use crate::error::CliError;
use crate::output::Output;

/// Render an edit: clips, transitions, captions and music from a timeline file. Local work:
/// costs no credits.
///
/// `conjure edit --example` prints a complete, commented timeline to start from;
/// `conjure edit --schema` prints its JSON Schema (every field, with defaults).
#[derive(Debug, Args)]
pub struct EditArgs {
    /// The timeline: a `.json`, `.yaml` or `.yml` file.
    #[arg(required_unless_present_any = ["schema", "example"])]
    pub spec: Option<PathBuf>,
    /// Write here instead of the spec's `output.path` (which may then be left out).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Replace the output if it exists (never one of the sources).
    #[arg(long)]
    pub force: bool,
    /// Check the timeline and its sources without rendering.
    #[arg(long)]
    pub check: bool,
    /// Re-encode every frame. By default an edit whose video clips match the output (H.264
    /// High, same size and frame rate) copies the GOPs it leaves untouched and re-encodes only
    /// around transitions, captions, fades and effects.
    #[arg(long)]
    pub no_smart: bool,
    /// Print the timeline's JSON Schema and exit.
    #[arg(long, conflicts_with_all = ["spec", "example"])]
    pub schema: bool,
    /// Print a complete, commented example timeline (YAML) and exit.
    #[arg(long, conflicts_with = "spec")]
    pub example: bool,
}

/// The timeline's JSON Schema, as shipped in the binary.
pub const SCHEMA: &str = include_str!("../../../../docs/timeline.schema.json");
/// A complete, commented example timeline.
pub const EXAMPLE: &str = include_str!("../../../../docs/timeline.example.yaml");

/// Locates ffmpeg or fails with the install hint. What the build can do (encoders, filters,
/// transitions: three ffmpeg runs, ~0.25 s CPU, to learn) is kept between commands in the data
/// directory's `cache` folder ([`capabilities_cache`]).
pub fn ffmpeg(config: &Config) -> Result<Ffmpeg, CliError> {
    Ok(Ffmpeg::locate()?.with_capabilities_cache(capabilities_cache(config)))
}

/// Where ffmpeg's capabilities are kept between commands: one small file per ffmpeg binary,
/// learned again when that binary changes.
pub fn capabilities_cache(config: &Config) -> PathBuf {
    config.data_dir.join("cache")
}

/// A file the work wrote, for its `file` event: path, width and height, duration.
pub type Made<'a> = (&'a Path, Option<(u32, u32)>, Option<f64>);

/// A one-line progress bar on stderr, only when stderr is a terminal and output is human; with
/// `--events`, `progress` events instead (one per percent), about the work named by its output
/// path. Shared by `edit` (frames of the render) and `media` (seconds of ffmpeg's output).
pub struct Bar {
    enabled: bool,
    last: Mutex<u32>,
    out: Output,
    /// What identifies the work in events: the output's absolute path.
    work: String,
    started: Instant,
}

impl Bar {
    /// A bar for the work that writes `output`.
    pub fn new(ctx: &Ctx, output: &Path) -> Self {
        let work = std::path::absolute(output).unwrap_or_else(|_| output.to_path_buf());
        Self {
            enabled: ctx.out.progress_enabled(),
            last: Mutex::new(u32::MAX),
            out: ctx.out,
            work: work.display().to_string(),
            started: Instant::now(),
        }
    }

    /// With `--events`: the work (not a check) has started.
    pub fn start(&self) {
        self.event(
            "progress",
            &json!({"status": "started", "progress": 0, "elapsed_seconds": 0.0}),
        );
    }

    /// Whether anyone wants progress: a terminal with human output, or `--events`.
    pub fn enabled(&self) -> bool {
        self.enabled || self.out.events
    }

    fn event(&self, name: &str, fields: &serde_json::Value) {
        self.out.event(name, Some(&self.work), fields);
    }

    fn elapsed(&self) -> f64 {
        (self.started.elapsed().as_secs_f64() * 10.0).round() / 10.0
    }

    pub fn update(&self, p: &Progress) {
        if !self.enabled() {
            return;
        }
        let pct = (p.fraction() * 100.0).round() as u32;
        let Ok(mut last) = self.last.lock() else { return };
        if *last == pct {
            return;
        }
        *last = pct;
        if self.out.events {
            let fields =
                json!({"status": "rendering", "progress": pct, "elapsed_seconds": self.elapsed()});
            self.event("progress", &fields);
            return;
        }
        let filled = (pct / 4) as usize;
        let mut err = std::io::stderr().lock();
        let done = if p.frames_total > 0 {
            format!("{}/{} frames", p.frames_done, p.frames_total)
        } else {
            format!("{:.1}/{:.1} s", p.seconds_done, p.seconds_total)
        };
        let _ =
            write!(err, "\r[{}{}] {pct:>3}% {done}", "#".repeat(filled), ".".repeat(25 - filled));
        let _ = err.flush();
    }

    /// With `--events`: the work is done (`completed`), and what it wrote (a `file` each, with
    /// the dimensions and duration when the caller knows them).
    pub fn done(&self, files: &[Made<'_>]) {
        if !self.out.events {
            return;
        }
        self.event("completed", &json!({"status": "completed", "elapsed_seconds": self.elapsed()}));
        for (path, dims, duration) in files {
            let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
            let Ok(facts) = conjure_app::deliver::local_file(&path) else { continue };
            self.event(
                "file",
                &json!({
                    "path": path.display().to_string(),
                    "mime": facts.mime,
                    "bytes": facts.bytes,
                    "sha256": facts.sha256,
                    "width": dims.map(|d| d.0),
                    "height": dims.map(|d| d.1),
                    "duration_seconds": duration,
                }),
            );
        }
    }

    /// While a timeline's sources are read (before any frame): `probing sources 8/120`.
    pub fn probing(&self, done: usize, total: usize) {
        if !self.enabled {
            return;
        }
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\rprobing sources {done}/{total}");
        let _ = err.flush();
    }

    pub fn finish(&self) {
        if self.enabled {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r{:60}\r", "");
            let _ = err.flush();
        }
    }
}

pub fn run(ctx: &Ctx, args: &EditArgs) -> anyhow::Result<()> {
    if args.schema {
        ctx.out.line(SCHEMA.trim_end());
        return Ok(());
    }
    if args.example {
        ctx.out.line(EXAMPLE.trim_end());
        return Ok(());
    }
    let Some(spec) = &args.spec else { unreachable!("clap requires SPEC") };
    let mut timeline = Timeline::from_path(spec)?;
    if let Some(out) = &args.output {
        timeline.output.path.clone_from(out);
    }
    timeline.output.overwrite |= args.force;
    timeline.validate().map_err(MediaError::from)?;
    let ff = ffmpeg(&ctx.app.config)?;
    let bar = Bar::new(ctx, &timeline.output.path);
    let probing = |done: usize, total: usize| bar.probing(done, total);
    if args.check {
        let summary = conjure_media::plan_summary(&ff, &timeline, Some(&probing));
        bar.finish();
        let (frames, fps, segments) = summary?;
        if ctx.out.json {
            ctx.out.json_value(&serde_json::json!({"status": "ok", "frames": frames, "fps": fps, "segments": segments}));
        } else {
            ctx.out.line(format!("ok: {frames} frames at {fps} fps in {segments} segments"));
        }
        return Ok(());
    }
    crate::commands::media::stop_on_signals(ctx.out);
    bar.start();
    let cb = |p: Progress| bar.update(&p);
    let opts = RenderOptions {
        progress: Some(&cb),
        probing: Some(&probing),
        keep_temp: false,
        full_render: args.no_smart,
    };
    let report = conjure_media::render(&ff, &timeline, &opts);
    bar.finish();
    if let Err(e) = &report {
        crate::commands::media::hold_if_stopping(e);
    }
    let mut report = report?;
    if let Ok(abs) = std::path::absolute(&report.output) {
        report.output = abs;
    }
    let audio_only = report.frames == 0;
    let dims = (!audio_only).then_some((report.width, report.height));
    bar.done(&[(&report.output, dims, Some(report.duration))]);
    if ctx.out.json {
        ctx.out.json_value(&serde_json::json!({"status": "ok", "edit": report}));
    } else {
        ctx.out.line(report.output.display().to_string());
        ctx.out.note(format!(
            "{} frames, {:.3}s, {}x{} at {} fps{}{}",
            report.frames,
            report.duration,
            report.width,
            report.height,
            report.fps,
            if report.audio { ", with sound" } else { ", silent" },
            if report.stream_copy { ", joined by stream copy (no re-encode)" } else { "" }
        ));
        if let Some(s) = &report.smart {
            ctx.out.note(format!(
                "smart render: {} frames copied from the sources, {} re-encoded",
                s.copied_frames, s.encoded_frames
            ));
        }
        for n in &report.notes {
            ctx.out.note(format!("note: {n}"));
        }
    }
    Ok(())
}
