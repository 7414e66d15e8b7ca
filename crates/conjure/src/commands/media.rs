//! `conjure media OP ...`: single-step post-production with conjure-media.
//!
//! One clap subcommand per operation, each a thin translation into the library's typed
//! options. `resize`, `crop`, `convert` and `sheet` work on images in-process (no ffmpeg) when
//! given images, and on videos through ffmpeg otherwise. Local work: costs no credits.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use conjure_media::filter::{Codec, Encoding, Fit, Hardware};
use conjure_media::image_ops;
use conjure_media::ops::{self, Aspect, AudioPick, OpReport};
use conjure_media::timeline::{ColorAdjust, Motion, Position, Rect, Scroll, Text};
use serde_json::json;

use crate::commands::Ctx;
use crate::commands::edit::{ffmpeg, media_error};
use crate::error::CliError;

/// Edit one file in one step: trim, join, reframe, caption, audio, convert, frames ...
/// Local work with ffmpeg (images without it); costs no credits.
#[derive(Debug, Args)]
pub struct MediaArgs {
    #[command(subcommand)]
    pub op: MediaOp,
}

/// Encoder settings shared by steps that re-encode.
#[derive(Debug, Args, Clone, Default)]
pub struct EncodeArgs {
    /// Video codec of the result.
    #[arg(long, value_enum)]
    pub codec: Option<CodecArg>,
    /// Encoder preset (ultrafast ... veryslow).
    #[arg(long)]
    pub preset: Option<String>,
    /// Constant quality (lower is better).
    #[arg(long)]
    pub crf: Option<u8>,
    /// Use a hardware encoder when present.
    #[arg(long, value_enum)]
    pub hw: Option<HwArg>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CodecArg {
    H264,
    H265,
    Vp9,
    Av1,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum HwArg {
    Nvenc,
    Qsv,
    Vaapi,
}

#[derive(Debug, Clone, Copy, Default, ValueEnum)]
pub enum FitArg {
    #[default]
    Contain,
    Cover,
    Blur,
    Stretch,
}

#[derive(Debug, Clone, Copy, Default, ValueEnum)]
pub enum PickArg {
    #[default]
    First,
    Second,
    Mix,
}

impl FitArg {
    fn fit(self) -> Fit {
        match self {
            Self::Contain => Fit::Contain,
            Self::Cover => Fit::Cover,
            Self::Blur => Fit::Blur,
            Self::Stretch => Fit::Stretch,
        }
    }
}

impl PickArg {
    fn pick(self) -> AudioPick {
        match self {
            Self::First => AudioPick::First,
            Self::Second => AudioPick::Second,
            Self::Mix => AudioPick::Mix,
        }
    }
}

impl EncodeArgs {
    fn encoding(&self) -> Encoding {
        Encoding {
            codec: match self.codec {
                None | Some(CodecArg::H264) => Codec::H264,
                Some(CodecArg::H265) => Codec::H265,
                Some(CodecArg::Vp9) => Codec::Vp9,
                Some(CodecArg::Av1) => Codec::Av1,
            },
            preset: self.preset.clone(),
            crf: self.crf,
            audio_bitrate: None,
            hardware: self.hw.map(|h| match h {
                HwArg::Nvenc => Hardware::Nvenc,
                HwArg::Qsv => Hardware::Qsv,
                HwArg::Vaapi => Hardware::Vaapi,
            }),
        }
    }
}

/// One input, one output.
#[derive(Debug, Args)]
pub struct Io {
    /// The source file.
    pub input: PathBuf,
    /// The result.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum MediaOp {
    /// Keep a time range (keyframe copy; --exact re-encodes for a frame-accurate cut).
    Trim {
        #[command(flatten)]
        io: Io,
        /// First second to keep.
        #[arg(long, default_value_t = 0.0)]
        start: f64,
        /// Second to stop at.
        #[arg(long, conflicts_with = "duration")]
        end: Option<f64>,
        /// Seconds to keep.
        #[arg(long)]
        duration: Option<f64>,
        /// Frame-accurate (re-encodes).
        #[arg(long)]
        exact: bool,
        #[command(flatten)]
        enc: EncodeArgs,
    },
    /// Play clips back to back (stream copy when they match, else normalised).
    Join {
        /// Clips in order.
        #[arg(required = true, num_args = 2..)]
        inputs: Vec<PathBuf>,
        #[arg(long, short = 'o', value_name = "FILE")]
        output: PathBuf,
        /// Crossfade with this transition (fade, dissolve, wipeleft ...).
        #[arg(long)]
        transition: Option<String>,
        /// Transition seconds.
        #[arg(long, default_value_t = 0.5)]
        transition_duration: f64,
        /// How other shapes fill the first clip's canvas.
        #[arg(long, value_enum, default_value_t)]
        fit: FitArg,
        #[command(flatten)]
        enc: EncodeArgs,
    },
    /// Chop into parts of about N seconds (stream copy, on keyframes).
    Split {
        input: PathBuf,
        /// Folder for part_000.ext, part_001.ext ...
        #[arg(long, short = 'o', value_name = "DIR")]
        output: PathBuf,
        #[arg(long, default_value_t = 30.0)]
        seconds: f64,
    },
    /// Crop a region (--rect WxH+X+Y) or to an aspect, centred (--aspect 9:16). Images too.
    Crop {
        #[command(flatten)]
        io: Io,
        #[arg(long)]
        aspect: Option<String>,
        #[arg(long, conflicts_with = "aspect")]
        rect: Option<String>,
        #[command(flatten)]
        enc: EncodeArgs,
    },
    /// Resize to a width and/or height, or by --scale. Images too.
    Resize {
        #[command(flatten)]
        io: Io,
        #[arg(long)]
        width: Option<u32>,
        #[arg(long)]
        height: Option<u32>,
        #[arg(long)]
        scale: Option<f64>,
        #[arg(long, value_enum, default_value_t)]
        fit: FitArg,
        #[command(flatten)]
        enc: EncodeArgs,
    },
    /// Add bars to reach an aspect (never crops).
    Pad {
        #[command(flatten)]
        io: Io,
        #[arg(long)]
        aspect: String,
        #[arg(long)]
        color: Option<String>,
        #[command(flatten)]
        enc: EncodeArgs,
    },
    /// Change the aspect (e.g. 9:16 for vertical) by cover, contain or blurred fill.
    Reframe {
        #[command(flatten)]
        io: Io,
        #[arg(long)]
        aspect: String,
        #[arg(long, value_enum, default_value_t = FitArg::Blur)]
        fit: FitArg,
        #[arg(long)]
        height: Option<u32>,
        #[command(flatten)]
        enc: EncodeArgs,
    },
    /// Fade picture and sound in and/or out.
    Fade {
        #[command(flatten)]
        io: Io,
        #[arg(long, default_value_t = 0.0)]
        r#in: f64,
        #[arg(long, default_value_t = 0.0)]
        out: f64,
        #[command(flatten)]
        enc: EncodeArgs,
    },
    /// Speed up or slow down (0.25 to 4).
    Speed {
        #[command(flatten)]
        io: Io,
        factor: f64,
        #[command(flatten)]
        enc: EncodeArgs,
    },
    /// Play backwards.
    Reverse {
        #[command(flatten)]
        io: Io,
        #[command(flatten)]
        enc: EncodeArgs,
    },
    /// Adjust brightness/contrast/saturation/gamma, or make grey.
    Color {
        #[command(flatten)]
        io: Io,
        #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
        brightness: f64,
        #[arg(long, default_value_t = 1.0)]
        contrast: f64,
        #[arg(long, default_value_t = 1.0)]
        saturation: f64,
        #[arg(long, default_value_t = 1.0)]
        gamma: f64,
        #[arg(long)]
        greyscale: bool,
        #[command(flatten)]
        enc: EncodeArgs,
    },
    /// Blur the frame or a region (--region WxH+X+Y).
    Blur {
        #[command(flatten)]
        io: Io,
        #[arg(long, default_value_t = 10.0)]
        sigma: f64,
        #[arg(long)]
        region: Option<String>,
        #[command(flatten)]
        enc: EncodeArgs,
    },
    /// Draw a caption: static, timed (--start/--end) or scrolling (--scroll left|up).
    Text {
        #[command(flatten)]
        io: Io,
        /// The text; any characters.
        #[arg(long)]
        text: String,
        #[arg(long, default_value_t = 0.0)]
        start: f64,
        #[arg(long)]
        end: Option<f64>,
        /// top, center, bottom, top-left ... or x,y
        #[arg(long, default_value = "bottom")]
        position: String,
        #[arg(long)]
        size: Option<u32>,
        #[arg(long)]
        color: Option<String>,
        #[arg(long = "box")]
        boxed: bool,
        #[arg(long)]
        font: Option<PathBuf>,
        #[arg(long, value_parser = ["left", "up"])]
        scroll: Option<String>,
        #[command(flatten)]
        enc: EncodeArgs,
    },
    /// Put a logo (image) or picture-in-picture (video) over the video.
    Overlay {
        #[command(flatten)]
        io: Io,
        /// The image or video on top.
        #[arg(long)]
        top: PathBuf,
        #[arg(long, default_value = "bottom-right")]
        position: String,
        /// Width as a fraction of the main video's width.
        #[arg(long, default_value_t = 0.25)]
        width: f64,
        #[arg(long, default_value_t = 16)]
        margin: u32,
        #[arg(long, value_enum, default_value_t)]
        audio: PickArg,
        #[command(flatten)]
        enc: EncodeArgs,
    },
    /// Two videos next to each other (--vertical stacks them).
    SideBySide {
        left: PathBuf,
        right: PathBuf,
        #[arg(long, short = 'o', value_name = "FILE")]
        output: PathBuf,
        #[arg(long)]
        vertical: bool,
        #[arg(long, value_enum, default_value_t)]
        audio: PickArg,
        #[command(flatten)]
        enc: EncodeArgs,
    },
    /// Add subtitles: a switchable track, or burned in with --burn.
    Subtitles {
        #[command(flatten)]
        io: Io,
        /// The .srt or .ass file.
        #[arg(long)]
        subs: PathBuf,
        #[arg(long)]
        burn: bool,
        #[command(flatten)]
        enc: EncodeArgs,
    },
    /// Sound: replace, extract, remove, volume, loudnorm, mix, fade, delay.
    Audio {
        #[command(subcommand)]
        op: AudioOp,
    },
    /// Convert: .mp4 .mov .mkv .webm .gif (palette), --codec av1 into .webm/.mkv. Images too.
    Convert {
        #[command(flatten)]
        io: Io,
        #[arg(long)]
        gif_fps: Option<f64>,
        #[arg(long)]
        gif_width: Option<u32>,
        #[arg(long)]
        quality: Option<u8>,
        #[command(flatten)]
        enc: EncodeArgs,
    },
    /// One frame as an image.
    Thumbnail {
        #[command(flatten)]
        io: Io,
        #[arg(long, default_value_t = 0.0)]
        at: f64,
    },
    /// Frames as images: all, --every N seconds, or --range A-B.
    Frames {
        input: PathBuf,
        #[arg(long, short = 'o', value_name = "DIR")]
        output: PathBuf,
        #[arg(long)]
        every: Option<f64>,
        #[arg(long, conflicts_with = "every")]
        range: Option<String>,
        #[arg(long, default_value = "png")]
        format: String,
    },
    /// A contact sheet: frames of one video, or many images tiled.
    Sheet {
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        #[arg(long, short = 'o', value_name = "FILE")]
        output: PathBuf,
        #[arg(long)]
        columns: Option<u32>,
        #[arg(long)]
        rows: Option<u32>,
        #[arg(long)]
        tile_width: Option<u32>,
    },
    /// A video from images: a slideshow (files) or a numbered pattern (frame_%05d.png).
    Slideshow {
        #[arg(required = true)]
        images: Vec<PathBuf>,
        #[arg(long, short = 'o', value_name = "FILE")]
        output: PathBuf,
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        #[arg(long)]
        transition: Option<String>,
        #[arg(long, default_value_t = 0.5)]
        transition_duration: f64,
        #[arg(long)]
        fps: Option<f64>,
        #[arg(long)]
        width: Option<u32>,
        #[arg(long)]
        height: Option<u32>,
        #[arg(long, value_parser = ["none", "zoom-in", "zoom-out", "pan-left", "pan-right"], default_value = "none")]
        motion: String,
        #[command(flatten)]
        enc: EncodeArgs,
    },
    /// Set title/artist/comment (stream copy).
    Metadata {
        #[command(flatten)]
        io: Io,
        #[arg(long)]
        title: Option<String>,
        #[arg(long)]
        artist: Option<String>,
        #[arg(long)]
        comment: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AudioOp {
    /// Swap the soundtrack (or add one to a silent clip).
    Replace {
        #[command(flatten)]
        io: Io,
        #[arg(long)]
        audio: PathBuf,
        #[arg(long = "loop")]
        looped: bool,
    },
    /// Save the sound alone (.m4a .aac .mp3 .wav .opus .flac).
    Extract {
        #[command(flatten)]
        io: Io,
    },
    /// A silent copy (only when you ask for it).
    Remove {
        #[command(flatten)]
        io: Io,
    },
    /// Louder or quieter by a factor.
    Volume {
        #[command(flatten)]
        io: Io,
        factor: f64,
    },
    /// Normalise loudness (EBU R128).
    Loudnorm {
        #[command(flatten)]
        io: Io,
        #[arg(long, default_value_t = -16.0, allow_hyphen_values = true)]
        lufs: f64,
    },
    /// Lay music under the original sound.
    Mix {
        #[command(flatten)]
        io: Io,
        #[arg(long)]
        music: PathBuf,
        #[arg(long, default_value_t = 0.3)]
        music_volume: f64,
        #[arg(long = "loop")]
        looped: bool,
    },
    /// Fade the sound in and/or out.
    Fade {
        #[command(flatten)]
        io: Io,
        #[arg(long, default_value_t = 0.0)]
        r#in: f64,
        #[arg(long, default_value_t = 0.0)]
        out: f64,
    },
    /// Shift the sound later by milliseconds.
    Delay {
        #[command(flatten)]
        io: Io,
        millis: u32,
    },
}

fn is_image(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref(),
        Some("png" | "jpg" | "jpeg" | "webp")
    )
}

#[expect(
    clippy::many_single_char_names,
    reason = "w/h/x/y and short option names mirror the flags"
)]
fn parse_rect(s: &str, what: &str) -> Result<Rect, CliError> {
    let bad = || {
        CliError::usage(format!(
            "`{s}` is not a region for --{what}; write WxH+X+Y, e.g. 320x180+10+20"
        ))
    };
    let (size, pos) = s.split_once('+').ok_or_else(bad)?;
    let (w, h) = size.split_once('x').ok_or_else(bad)?;
    let (x, y) = pos.split_once('+').ok_or_else(bad)?;
    let n = |v: &str| v.trim().parse::<u32>().map_err(|_| bad());
    Ok(Rect { x: n(x)?, y: n(y)?, width: n(w)?, height: n(h)? })
}

fn aspect(s: &str) -> Result<Aspect, CliError> {
    Aspect::parse(s).map_err(media_error)
}

fn motion(s: &str) -> Motion {
    match s {
        "zoom-in" => Motion::ZoomIn,
        "zoom-out" => Motion::ZoomOut,
        "pan-left" => Motion::PanLeft,
        "pan-right" => Motion::PanRight,
        _ => Motion::None,
    }
}

fn report(ctx: &Ctx, op: &str, r: &OpReport) {
    if ctx.out.json {
        ctx.out.json_value(&json!({"status": "ok", "op": op, "result": r}));
        return;
    }
    for o in &r.outputs {
        ctx.out.line(o.display().to_string());
    }
    if r.stream_copy {
        ctx.out.note(format!("{op}: stream copy, nothing re-encoded"));
    }
    for n in &r.notes {
        ctx.out.note(format!("note: {n}"));
    }
}

fn image_report(ctx: &Ctx, op: &str, r: &image_ops::ImageReport) {
    if ctx.out.json {
        ctx.out.json_value(&json!({"status": "ok", "op": op, "result": r}));
    } else {
        ctx.out.line(r.output.display().to_string());
        ctx.out.note(format!("{op}: {}x{}", r.width, r.height));
    }
}

#[expect(
    clippy::many_single_char_names,
    reason = "w/h/x/y and short option names mirror the flags"
)]
pub fn run(ctx: &Ctx, args: MediaArgs) -> anyhow::Result<()> {
    let m = media_error;
    match args.op {
        MediaOp::Crop { io, aspect: Some(a), .. } if is_image(&io.input) => {
            let r = image_ops::crop(&image_ops::ImageCropOptions {
                input: io.input,
                output: io.output,
                aspect: aspect(&a)?,
                quality: None,
            })
            .map_err(m)?;
            image_report(ctx, "crop", &r);
            return Ok(());
        }
        MediaOp::Resize { io, width, height, fit, .. } if is_image(&io.input) => {
            let r = image_ops::resize(&image_ops::ImageResizeOptions {
                input: io.input,
                output: io.output,
                width,
                height,
                fit: fit.fit(),
                quality: None,
            })
            .map_err(m)?;
            image_report(ctx, "resize", &r);
            return Ok(());
        }
        MediaOp::Convert { io, quality, .. } if is_image(&io.input) => {
            let r = image_ops::convert(&image_ops::ImageConvertOptions {
                input: io.input,
                output: io.output,
                quality,
            })
            .map_err(m)?;
            image_report(ctx, "convert", &r);
            return Ok(());
        }
        MediaOp::Sheet { inputs, output, columns, tile_width, .. }
            if inputs.iter().all(|p| is_image(p)) =>
        {
            let r = image_ops::sheet(&image_ops::ImageSheetOptions {
                inputs,
                output,
                columns,
                tile_width,
                ..Default::default()
            })
            .map_err(m)?;
            image_report(ctx, "sheet", &r);
            return Ok(());
        }
        _ => {}
    }
    let ff = ffmpeg()?;
    let ff = &ff;
    let (name, r) = match args.op {
        MediaOp::Trim { io, start, end, duration, exact, enc } => (
            "trim",
            ops::trim(
                ff,
                &ops::TrimOptions {
                    input: io.input,
                    output: io.output,
                    start,
                    end,
                    duration,
                    exact,
                    encoding: enc.encoding(),
                },
            ),
        ),
        MediaOp::Join { inputs, output, transition, transition_duration, fit, enc } => {
            let o = ops::JoinOptions {
                inputs,
                output,
                fit: fit.fit(),
                transition: transition.clone(),
                transition_duration,
                encoding: enc.encoding(),
                ..Default::default()
            };
            if transition.is_some() {
                ("crossfade", ops::crossfade(ff, &o))
            } else {
                ("join", ops::join(ff, &o))
            }
        }
        MediaOp::Split { input, output, seconds } => (
            "split",
            ops::split(
                ff,
                &ops::SplitOptions { input, output_dir: output, segment_seconds: seconds },
            ),
        ),
        MediaOp::Crop { io, aspect: a, rect, enc } => {
            let rect = rect.map(|r| parse_rect(&r, "rect")).transpose()?;
            let a = a.map(|a| aspect(&a)).transpose()?;
            (
                "crop",
                ops::crop(
                    ff,
                    &ops::CropOptions {
                        input: io.input,
                        output: io.output,
                        rect,
                        aspect: a,
                        encoding: enc.encoding(),
                    },
                ),
            )
        }
        MediaOp::Resize { io, width, height, scale, fit, enc } => (
            "resize",
            ops::resize(
                ff,
                &ops::ResizeOptions {
                    input: io.input,
                    output: io.output,
                    width,
                    height,
                    scale,
                    fit: fit.fit(),
                    encoding: enc.encoding(),
                },
            ),
        ),
        MediaOp::Pad { io, aspect: a, color, enc } => (
            "pad",
            ops::pad(
                ff,
                &ops::PadOptions {
                    input: io.input,
                    output: io.output,
                    aspect: Some(aspect(&a)?),
                    color,
                    encoding: enc.encoding(),
                },
            ),
        ),
        MediaOp::Reframe { io, aspect: a, fit, height, enc } => (
            "reframe",
            ops::reframe(
                ff,
                &ops::ReframeOptions {
                    input: io.input,
                    output: io.output,
                    aspect: Some(aspect(&a)?),
                    fit: fit.fit(),
                    height,
                    encoding: enc.encoding(),
                },
            ),
        ),
        MediaOp::Fade { io, r#in, out, enc } => (
            "fade",
            ops::fade(
                ff,
                &ops::FadeOptions {
                    input: io.input,
                    output: io.output,
                    fade_in: r#in,
                    fade_out: out,
                    encoding: enc.encoding(),
                },
            ),
        ),
        MediaOp::Speed { io, factor, enc } => (
            "speed",
            ops::speed(
                ff,
                &ops::SpeedOptions {
                    input: io.input,
                    output: io.output,
                    factor,
                    encoding: enc.encoding(),
                },
            ),
        ),
        MediaOp::Reverse { io, enc } => (
            "reverse",
            ops::reverse(
                ff,
                &ops::SimpleOptions {
                    input: io.input,
                    output: io.output,
                    encoding: enc.encoding(),
                },
            ),
        ),
        MediaOp::Color { io, brightness, contrast, saturation, gamma, greyscale, enc } => {
            let off = |v: f64, neutral: f64| (v - neutral).abs() > 1e-9;
            let changed = off(brightness, 0.0)
                || off(contrast, 1.0)
                || off(saturation, 1.0)
                || off(gamma, 1.0);
            let eq = changed.then_some(ColorAdjust { brightness, contrast, saturation, gamma });
            (
                "color",
                ops::color(
                    ff,
                    &ops::ColorOptions {
                        input: io.input,
                        output: io.output,
                        eq,
                        greyscale,
                        encoding: enc.encoding(),
                    },
                ),
            )
        }
        MediaOp::Blur { io, sigma, region, enc } => {
            let region = region.map(|r| parse_rect(&r, "region")).transpose()?;
            (
                "blur",
                ops::blur(
                    ff,
                    &ops::BlurOptions {
                        input: io.input,
                        output: io.output,
                        sigma,
                        region,
                        encoding: enc.encoding(),
                    },
                ),
            )
        }
        MediaOp::Text { io, text, start, end, position, size, color, boxed, font, scroll, enc } => {
            let scroll = scroll.map(|s| if s == "up" { Scroll::Up } else { Scroll::Left });
            let text = Text {
                text,
                start,
                end,
                position: Position::Named(position),
                size,
                color,
                r#box: boxed,
                font,
                scroll,
            };
            (
                "text",
                ops::text(
                    ff,
                    &ops::TextOptions {
                        input: io.input,
                        output: io.output,
                        text,
                        encoding: enc.encoding(),
                    },
                ),
            )
        }
        MediaOp::Overlay { io, top, position, width, margin, audio, enc } => (
            "overlay",
            ops::overlay(
                ff,
                &ops::OverlayOptions {
                    input: io.input,
                    overlay: top,
                    output: io.output,
                    position,
                    width,
                    margin,
                    audio: audio.pick(),
                    encoding: enc.encoding(),
                    ..Default::default()
                },
            ),
        ),
        MediaOp::SideBySide { left, right, output, vertical, audio, enc } => (
            "side-by-side",
            ops::side_by_side(
                ff,
                &ops::SideBySideOptions {
                    left,
                    right,
                    output,
                    vertical,
                    audio: audio.pick(),
                    encoding: enc.encoding(),
                    height: None,
                },
            ),
        ),
        MediaOp::Subtitles { io, subs, burn, enc } => (
            "subtitles",
            ops::subtitles(
                ff,
                &ops::SubtitleOptions {
                    input: io.input,
                    subtitles: subs,
                    output: io.output,
                    burn,
                    encoding: enc.encoding(),
                },
            ),
        ),
        MediaOp::Audio { op } => match op {
            AudioOp::Replace { io, audio, looped } => (
                "audio replace",
                ops::audio_replace(
                    ff,
                    &ops::AudioReplaceOptions { input: io.input, audio, output: io.output, looped },
                ),
            ),
            AudioOp::Extract { io } => (
                "audio extract",
                ops::audio_extract(ff, &ops::AudioIoOptions { input: io.input, output: io.output }),
            ),
            AudioOp::Remove { io } => (
                "audio remove",
                ops::audio_remove(ff, &ops::AudioIoOptions { input: io.input, output: io.output }),
            ),
            AudioOp::Volume { io, factor } => (
                "audio volume",
                ops::volume(ff, &ops::VolumeOptions { input: io.input, output: io.output, factor }),
            ),
            AudioOp::Loudnorm { io, lufs } => (
                "audio loudnorm",
                ops::loudnorm(
                    ff,
                    &ops::LoudnormOptions {
                        input: io.input,
                        output: io.output,
                        integrated: lufs,
                        ..Default::default()
                    },
                ),
            ),
            AudioOp::Mix { io, music, music_volume, looped } => (
                "audio mix",
                ops::audio_mix(
                    ff,
                    &ops::AudioMixOptions {
                        input: io.input,
                        music,
                        output: io.output,
                        music_volume,
                        looped,
                    },
                ),
            ),
            AudioOp::Fade { io, r#in, out } => (
                "audio fade",
                ops::audio_fade(
                    ff,
                    &ops::AudioFadeOptions {
                        input: io.input,
                        output: io.output,
                        fade_in: r#in,
                        fade_out: out,
                    },
                ),
            ),
            AudioOp::Delay { io, millis } => (
                "audio delay",
                ops::audio_delay(
                    ff,
                    &ops::AudioDelayOptions { input: io.input, output: io.output, millis },
                ),
            ),
        },
        MediaOp::Convert { io, gif_fps, gif_width, enc, .. } => {
            let codec = enc.codec.map(|_| enc.encoding().codec);
            (
                "convert",
                ops::convert(
                    ff,
                    &ops::ConvertOptions {
                        input: io.input,
                        output: io.output,
                        codec,
                        gif_fps,
                        gif_width,
                        encoding: enc.encoding(),
                    },
                ),
            )
        }
        MediaOp::Thumbnail { io, at } => (
            "thumbnail",
            ops::thumbnail(ff, &ops::ThumbnailOptions { input: io.input, output: io.output, at }),
        ),
        MediaOp::Frames { input, output, every, range, format } => {
            let range = match range {
                Some(r) => {
                    let (a, b) = r.split_once('-').ok_or_else(|| {
                        CliError::usage(format!(
                            "`{r}` is not a frame range; write A-B, e.g. 10-20"
                        ))
                    })?;
                    let n = |v: &str| {
                        v.trim().parse::<u64>().map_err(|_| {
                            CliError::usage(format!("`{r}` is not a frame range; write A-B"))
                        })
                    };
                    Some((n(a)?, n(b)?))
                }
                None => None,
            };
            (
                "frames",
                ops::frames(
                    ff,
                    &ops::FramesOptions {
                        input,
                        output_dir: output,
                        every,
                        range,
                        format: Some(format),
                    },
                ),
            )
        }
        MediaOp::Sheet { inputs, output, columns, rows, tile_width } => {
            let [input] = <[PathBuf; 1]>::try_from(inputs).map_err(|_| {
                CliError::usage(
                    "a video contact sheet takes one video; give images to tile several files",
                )
            })?;
            (
                "sheet",
                ops::contact_sheet(
                    ff,
                    &ops::ContactSheetOptions {
                        input,
                        output,
                        columns: columns.unwrap_or(0),
                        rows: rows.unwrap_or(0),
                        tile_width: tile_width.unwrap_or(0),
                    },
                ),
            )
        }
        MediaOp::Slideshow {
            images,
            output,
            seconds,
            transition,
            transition_duration,
            fps,
            width,
            height,
            motion: mo,
            enc,
        } => {
            if images.len() == 1 && images[0].to_string_lossy().contains('%') {
                let [pattern] =
                    <[PathBuf; 1]>::try_from(images).map_err(|_| CliError::usage("one pattern"))?;
                (
                    "images to video",
                    ops::images_to_video(
                        ff,
                        &ops::ImagesToVideoOptions {
                            pattern,
                            output,
                            fps,
                            encoding: enc.encoding(),
                        },
                    ),
                )
            } else {
                (
                    "slideshow",
                    ops::slideshow(
                        ff,
                        &ops::SlideshowOptions {
                            images,
                            output,
                            seconds_each: seconds,
                            transition,
                            transition_duration,
                            width,
                            height,
                            fps,
                            fit: Fit::Contain,
                            motion: motion(&mo),
                            encoding: enc.encoding(),
                        },
                    ),
                )
            }
        }
        MediaOp::Metadata { io, title, artist, comment } => (
            "metadata",
            ops::metadata(
                ff,
                &ops::MetadataOptions {
                    input: io.input,
                    output: io.output,
                    title,
                    artist,
                    comment,
                },
            ),
        ),
    };
    let r = r.map_err(m)?;
    report(ctx, name, &r);
    Ok(())
}
