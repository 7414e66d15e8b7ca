//! `conjure media OP ...`: single-step post-production with conjure-media.
//!
//! One clap subcommand per operation, translated into a [`conjure_media::Op`] and run with
//! [`Op::run`], which every front end shares: it decides image (in-process) or video (ffmpeg,
//! located only then), parses regions and frame ranges, and names the step. This file holds the
//! flags, that translation and the printing; nothing else. Local work: costs no credits.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use conjure_media::filter::{Codec, Fit, Hardware};
use conjure_media::ops::{AudioPick, OpEncoding};
use conjure_media::timeline::{Motion, Position, Scroll};
use conjure_media::{LazyFfmpeg, Op, OpOutcome};
use serde_json::json;

use crate::commands::Ctx;

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
    fn encoding(self) -> OpEncoding {
        OpEncoding {
            codec: self.codec.map(|c| match c {
                CodecArg::H264 => Codec::H264,
                CodecArg::H265 => Codec::H265,
                CodecArg::Vp9 => Codec::Vp9,
                CodecArg::Av1 => Codec::Av1,
            }),
            preset: self.preset,
            crf: self.crf,
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

fn motion(s: &str) -> Motion {
    match s {
        "zoom-in" => Motion::ZoomIn,
        "zoom-out" => Motion::ZoomOut,
        "pan-left" => Motion::PanLeft,
        "pan-right" => Motion::PanRight,
        _ => Motion::None,
    }
}

impl MediaOp {
    /// The library's operation for these flags: a translation, no decisions.
    fn into_op(self) -> Op {
        match self {
            Self::Trim { io, start, end, duration, exact, enc } => Op::Trim {
                input: io.input,
                output: io.output,
                start,
                end,
                duration,
                exact,
                encoding: enc.encoding(),
            },
            Self::Join { inputs, output, transition, transition_duration, fit, enc } => Op::Join {
                inputs,
                output,
                transition,
                transition_duration,
                fit: fit.fit(),
                encoding: enc.encoding(),
            },
            Self::Split { input, output, seconds } => Op::Split { input, output, seconds },
            Self::Crop { io, aspect, rect, enc } => Op::Crop {
                input: io.input,
                output: io.output,
                aspect,
                rect,
                encoding: enc.encoding(),
            },
            Self::Resize { io, width, height, scale, fit, enc } => Op::Resize {
                input: io.input,
                output: io.output,
                width,
                height,
                scale,
                fit: fit.fit(),
                encoding: enc.encoding(),
            },
            Self::Pad { io, aspect, color, enc } => Op::Pad {
                input: io.input,
                output: io.output,
                aspect,
                color,
                encoding: enc.encoding(),
            },
            Self::Reframe { io, aspect, fit, height, enc } => Op::Reframe {
                input: io.input,
                output: io.output,
                aspect,
                fit: fit.fit(),
                height,
                encoding: enc.encoding(),
            },
            Self::Fade { io, r#in, out, enc } => Op::Fade {
                input: io.input,
                output: io.output,
                fade_in: r#in,
                fade_out: out,
                encoding: enc.encoding(),
            },
            Self::Speed { io, factor, enc } => {
                Op::Speed { input: io.input, output: io.output, factor, encoding: enc.encoding() }
            }
            Self::Reverse { io, enc } => {
                Op::Reverse { input: io.input, output: io.output, encoding: enc.encoding() }
            }
            Self::Color { io, brightness, contrast, saturation, gamma, greyscale, enc } => {
                Op::Color {
                    input: io.input,
                    output: io.output,
                    brightness,
                    contrast,
                    saturation,
                    gamma,
                    greyscale,
                    encoding: enc.encoding(),
                }
            }
            Self::Blur { io, sigma, region, enc } => Op::Blur {
                input: io.input,
                output: io.output,
                sigma,
                region,
                encoding: enc.encoding(),
            },
            Self::Text {
                io,
                text,
                start,
                end,
                position,
                size,
                color,
                boxed,
                font,
                scroll,
                enc,
            } => Op::Text {
                input: io.input,
                output: io.output,
                text,
                start,
                end,
                position: Position::Named(position),
                size,
                color,
                boxed,
                font,
                scroll: scroll.map(|s| if s == "up" { Scroll::Up } else { Scroll::Left }),
                encoding: enc.encoding(),
            },
            Self::Overlay { io, top, position, width, margin, audio, enc } => Op::Overlay {
                input: io.input,
                output: io.output,
                top,
                position,
                width,
                margin,
                audio: audio.pick(),
                encoding: enc.encoding(),
            },
            Self::SideBySide { left, right, output, vertical, audio, enc } => Op::SideBySide {
                left,
                right,
                output,
                vertical,
                audio: audio.pick(),
                encoding: enc.encoding(),
            },
            Self::Subtitles { io, subs, burn, enc } => Op::Subtitles {
                input: io.input,
                output: io.output,
                subs,
                burn,
                encoding: enc.encoding(),
            },
            Self::Audio { op } => op.into_op(),
            Self::Convert { io, gif_fps, gif_width, quality, enc } => Op::Convert {
                input: io.input,
                output: io.output,
                gif_fps,
                gif_width,
                quality,
                encoding: enc.encoding(),
            },
            Self::Thumbnail { io, at } => Op::Thumbnail { input: io.input, output: io.output, at },
            Self::Frames { input, output, every, range, format } => {
                Op::Frames { input, output, every, range, format }
            }
            Self::Sheet { inputs, output, columns, rows, tile_width } => {
                Op::Sheet { inputs, output, columns, rows, tile_width }
            }
            Self::Slideshow {
                images,
                output,
                seconds,
                transition,
                transition_duration,
                fps,
                width,
                height,
                motion: m,
                enc,
            } => Op::Slideshow {
                images,
                output,
                seconds,
                transition,
                transition_duration,
                fps,
                width,
                height,
                motion: motion(&m),
                encoding: enc.encoding(),
            },
            Self::Metadata { io, title, artist, comment } => {
                Op::Metadata { input: io.input, output: io.output, title, artist, comment }
            }
        }
    }
}

impl AudioOp {
    fn into_op(self) -> Op {
        match self {
            Self::Replace { io, audio, looped } => {
                Op::AudioReplace { input: io.input, output: io.output, audio, looped }
            }
            Self::Extract { io } => Op::AudioExtract { input: io.input, output: io.output },
            Self::Remove { io } => Op::AudioRemove { input: io.input, output: io.output },
            Self::Volume { io, factor } => {
                Op::AudioVolume { input: io.input, output: io.output, factor }
            }
            Self::Loudnorm { io, lufs } => {
                Op::AudioLoudnorm { input: io.input, output: io.output, lufs }
            }
            Self::Mix { io, music, music_volume, looped } => {
                Op::AudioMix { input: io.input, output: io.output, music, music_volume, looped }
            }
            Self::Fade { io, r#in, out } => {
                Op::AudioFade { input: io.input, output: io.output, fade_in: r#in, fade_out: out }
            }
            Self::Delay { io, millis } => {
                Op::AudioDelay { input: io.input, output: io.output, millis }
            }
        }
    }
}

fn report(ctx: &Ctx, op: &str, outcome: &OpOutcome) {
    if ctx.out.json {
        ctx.out.json_value(&json!({"status": "ok", "op": op, "result": outcome}));
        return;
    }
    match outcome {
        OpOutcome::Image(r) => {
            ctx.out.line(r.output.display().to_string());
            ctx.out.note(format!("{op}: {}x{}", r.width, r.height));
        }
        OpOutcome::Ffmpeg(r) => {
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
    }
}

pub fn run(ctx: &Ctx, args: MediaArgs) -> anyhow::Result<()> {
    let op = args.op.into_op();
    let outcome = op.run(&LazyFfmpeg::new()).map_err(crate::error::CliError::from)?;
    report(ctx, op.name(), &outcome);
    Ok(())
}
