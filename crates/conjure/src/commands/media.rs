//! `conjure media OP ...`: single-step post-production with conjure-media.
//!
//! One clap subcommand per operation, translated into a [`conjure_media::Op`] and run with
//! [`Op::run`], which every front end shares: it decides image (in-process) or video (ffmpeg,
//! located only then), parses regions and frame ranges, and names the step. This file holds the
//! flags, that translation and the printing; nothing else. Local work: costs no credits.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use conjure_media::filter::Fit;
use conjure_media::ops::RunOptions;
use conjure_media::ops::{AudioPick, OpEncoding};
use conjure_media::progress::ProgressSink;
use conjure_media::timeline::{Motion, Position, Scroll};
use conjure_media::{Codec, Hardware};
use conjure_media::{LazyFfmpeg, MediaError, Op, OpOutcome, Progress};
use serde_json::json;

use crate::commands::Ctx;
use crate::commands::edit::Bar;

/// Edit one file in one step: trim, join, reframe, caption, audio, convert, frames ...
/// Local work with ffmpeg (images without it); costs no credits.
#[derive(Debug, Args)]
pub struct MediaArgs {
    /// Replace an output that exists (an output that is one of the inputs is always refused).
    #[arg(long, global = true)]
    pub force: bool,
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
    /// The result (a new file; see --force).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: PathBuf,
}

/// Several outputs (`split`, `frames`): a pattern or existing folder with `-o`, or a folder with
/// `--out-dir`.
#[derive(Debug, Args)]
pub struct ManyOut {
    // clap turns a literal `{n}` in help into a line break; an ANSI reset between `{` and `n`
    // keeps the braces (the escape is stripped when stderr/stdout is not a colour terminal).
    #[arg(
        long,
        short = 'o',
        value_name = "PATTERN|DIR",
        required_unless_present = "out_dir",
        help = concat!(
            "A name pattern with {\x1b[0mn} for the number (e.g. part_{\x1b[0mn}.mp4), ",
            "or an existing folder"
        )
    )]
    pub output: Option<PathBuf>,
    /// A folder for the results (created when missing), named as the step's default.
    #[arg(long, value_name = "DIR", conflicts_with = "output")]
    pub out_dir: Option<PathBuf>,
}

impl ManyOut {
    /// The library's output: a `{n}` pattern or a folder. `-o` naming neither is refused here,
    /// so `-o` always means "the output file(s)", never a folder created by surprise.
    fn path(self) -> anyhow::Result<PathBuf> {
        match (self.output, self.out_dir) {
            (Some(o), _) if o.to_string_lossy().contains("{n}") || o.is_dir() => Ok(o),
            (Some(o), _) => Err(crate::error::CliError::from(MediaError::InvalidOption {
                option: "output".into(),
                message: format!(
                    "`{}` is neither a pattern with {{n}} (e.g. part_{{n}}.mp4) nor an existing folder; use --out-dir to create a folder",
                    o.display()
                ),
            })
            .into()),
            (None, Some(d)) => Ok(d),
            (None, None) => unreachable!("clap requires -o or --out-dir"),
        }
    }
}

/// Fade lengths, shared by `media fade` and `media audio fade`. `--in/--out` are the old
/// spellings, hidden and kept for one release.
#[derive(Debug, Args)]
pub struct FadeArgs {
    /// Fade-in length in seconds (from the start).
    #[arg(long, value_name = "SECONDS")]
    pub fade_in: Option<f64>,
    /// Fade-out length in seconds (up to the end).
    #[arg(long, value_name = "SECONDS")]
    pub fade_out: Option<f64>,
    /// Deprecated spelling of --fade-in.
    #[arg(long = "in", hide = true, conflicts_with = "fade_in")]
    pub old_in: Option<f64>,
    /// Deprecated spelling of --fade-out.
    #[arg(long = "out", hide = true, conflicts_with = "fade_out")]
    pub old_out: Option<f64>,
}

impl FadeArgs {
    fn seconds(&self) -> (f64, f64) {
        (self.fade_in.or(self.old_in).unwrap_or(0.0), self.fade_out.or(self.old_out).unwrap_or(0.0))
    }

    fn deprecations(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.old_in.is_some() {
            v.push("`--in` is deprecated and will be removed; use `--fade-in`");
        }
        if self.old_out.is_some() {
            v.push("`--out` is deprecated and will be removed; use `--fade-out`");
        }
        v
    }
}

#[derive(Debug, Subcommand)]
pub enum MediaOp {
    /// Keep a time range, frame-exact (stream copy when both cut points are keyframes; --fast
    /// always copies, cutting on keyframes).
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
        /// Cut on keyframes by stream copy: instant, but the kept range may start earlier (a
        /// note says what was kept).
        #[arg(long)]
        fast: bool,
        /// Deprecated: trims are frame-exact by default.
        #[arg(long, hide = true, conflicts_with = "fast")]
        exact: bool,
        #[command(flatten)]
        enc: EncodeArgs,
    },
    /// Play clips back to back (stream copy when they match, else normalised).
    Join {
        /// Clips in order.
        #[arg(required = true, num_args = 2..)]
        inputs: Vec<PathBuf>,
        /// The result.
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
    /// Chop into parts of about N seconds (stream copy, on keyframes): part_001.mp4 ...
    Split {
        /// The source file.
        input: PathBuf,
        #[command(flatten)]
        out: ManyOut,
        /// Seconds per part (parts start on keyframes).
        #[arg(long, default_value_t = 30.0)]
        seconds: f64,
    },
    /// Crop a region (--rect WxH+X+Y) or to an aspect, centred (--aspect 9:16). Images too.
    Crop {
        #[command(flatten)]
        io: Io,
        /// Keep the largest centred W:H rectangle, e.g. 9:16.
        #[arg(long)]
        aspect: Option<String>,
        /// Keep this region, WxH+X+Y (e.g. 320x180+10+20).
        #[arg(long, conflicts_with = "aspect")]
        rect: Option<String>,
        #[command(flatten)]
        enc: EncodeArgs,
    },
    /// Resize to a width and/or height, or by --scale. Images too.
    Resize {
        #[command(flatten)]
        io: Io,
        /// Target width in pixels (videos: rounded to even).
        #[arg(long)]
        width: Option<u32>,
        /// Target height in pixels (videos: rounded to even).
        #[arg(long)]
        height: Option<u32>,
        /// A factor instead of a size, e.g. 0.5 (videos).
        #[arg(long)]
        scale: Option<f64>,
        /// How to fill the box when both sides are given.
        #[arg(long, value_enum, default_value_t)]
        fit: FitArg,
        #[command(flatten)]
        enc: EncodeArgs,
    },
    /// Add bars to reach an aspect (never crops).
    Pad {
        #[command(flatten)]
        io: Io,
        /// The aspect to reach, W:H (e.g. 1:1).
        #[arg(long)]
        aspect: String,
        /// Bar colour (#rrggbb or a name; default black). (`--color` is the global output
        /// colour switch.)
        #[arg(long, value_name = "COLOR")]
        bar_color: Option<String>,
        #[command(flatten)]
        enc: EncodeArgs,
    },
    /// Change the aspect (e.g. 9:16 for vertical) by cover, contain or blurred fill.
    Reframe {
        #[command(flatten)]
        io: Io,
        /// The new aspect, W:H (e.g. 9:16).
        #[arg(long)]
        aspect: String,
        /// How the picture fills the new shape.
        #[arg(long, value_enum, default_value_t = FitArg::Blur)]
        fit: FitArg,
        /// Output height in pixels (default: the source's).
        #[arg(long)]
        height: Option<u32>,
        #[command(flatten)]
        enc: EncodeArgs,
    },
    /// Fade picture and sound in and/or out.
    Fade {
        #[command(flatten)]
        io: Io,
        #[command(flatten)]
        fade: FadeArgs,
        #[command(flatten)]
        enc: EncodeArgs,
    },
    /// Speed up or slow down (0.25 to 4).
    Speed {
        #[command(flatten)]
        io: Io,
        /// The speed factor: 2 plays twice as fast, 0.5 at half speed.
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
        /// -1 to 1; 0 leaves it unchanged.
        #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
        brightness: f64,
        /// 0 to 4; 1 leaves it unchanged.
        #[arg(long, default_value_t = 1.0)]
        contrast: f64,
        /// 0 to 3; 1 leaves it unchanged.
        #[arg(long, default_value_t = 1.0)]
        saturation: f64,
        /// 0.1 to 10; 1 leaves it unchanged.
        #[arg(long, default_value_t = 1.0)]
        gamma: f64,
        /// Drop the colour (black and white).
        #[arg(long)]
        greyscale: bool,
        #[command(flatten)]
        enc: EncodeArgs,
    },
    /// Blur the frame or a region (--region WxH+X+Y).
    Blur {
        #[command(flatten)]
        io: Io,
        /// Blur strength.
        #[arg(long, default_value_t = 10.0)]
        sigma: f64,
        /// Blur only this region, WxH+X+Y (e.g. 80x40+10+10); the whole frame when absent.
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
        /// Second it appears.
        #[arg(long, default_value_t = 0.0)]
        start: f64,
        /// Second it disappears (default: the end).
        #[arg(long)]
        end: Option<f64>,
        /// top, center, bottom, top-left ... or x,y
        #[arg(long, default_value = "bottom")]
        position: String,
        /// Font size in pixels (default: from the video's height).
        #[arg(long)]
        size: Option<u32>,
        /// Text colour: #rrggbb or a name, optionally @alpha (default white).
        #[arg(long, value_name = "COLOR")]
        text_color: Option<String>,
        /// Draw a translucent box behind the text.
        #[arg(long = "box")]
        boxed: bool,
        /// A TrueType/OpenType font file.
        #[arg(long)]
        font: Option<PathBuf>,
        /// Scroll: left (a ticker) or up (credits).
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
        /// top-left, top-right, bottom-left, bottom-right, center or x,y.
        #[arg(long, default_value = "bottom-right")]
        position: String,
        /// Width as a fraction of the main video's width.
        #[arg(long, default_value_t = 0.25)]
        width: f64,
        /// Margin from the edges in pixels.
        #[arg(long, default_value_t = 16)]
        margin: u32,
        /// Which sound to keep.
        #[arg(long, value_enum, default_value_t)]
        audio: PickArg,
        #[command(flatten)]
        enc: EncodeArgs,
    },
    /// Two videos next to each other (--vertical stacks them).
    SideBySide {
        /// The left (or top) video.
        left: PathBuf,
        /// The right (or bottom) video.
        right: PathBuf,
        /// The result.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: PathBuf,
        /// Stack them, one above the other.
        #[arg(long)]
        vertical: bool,
        /// Which sound to keep.
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
        /// Burn them into the picture (re-encodes; needs libass).
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
        /// GIF frames per second (default 12).
        #[arg(long)]
        gif_fps: Option<f64>,
        /// GIF width in pixels (default 480).
        #[arg(long)]
        gif_width: Option<u32>,
        /// JPEG/WebP quality 1 to 100 (images).
        #[arg(long)]
        quality: Option<u8>,
        #[command(flatten)]
        enc: EncodeArgs,
    },
    /// One frame as an image.
    Thumbnail {
        #[command(flatten)]
        io: Io,
        /// The second to take it from.
        #[arg(long, default_value_t = 0.0)]
        at: f64,
    },
    /// Frames as images: all, --every N seconds, or --range A-B (frame_00001.png ...).
    Frames {
        /// The source video.
        input: PathBuf,
        #[command(flatten)]
        out: ManyOut,
        /// One frame every this many seconds.
        #[arg(long)]
        every: Option<f64>,
        /// Only frames A to B (0-based, inclusive), e.g. 10-20.
        #[arg(long, conflicts_with = "every")]
        range: Option<String>,
        /// Image format when -o/--out-dir is a folder: png, jpg or webp.
        #[arg(long, default_value = "png")]
        format: String,
    },
    /// A contact sheet: frames of one video (labelled with their time), or many images tiled.
    Sheet {
        /// One video, or several images.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// The image (.png, .jpg or .webp).
        #[arg(long, short = 'o', value_name = "FILE")]
        output: PathBuf,
        /// Columns (default 4 for a video).
        #[arg(long)]
        columns: Option<u32>,
        /// Rows, for a video (default 3).
        #[arg(long)]
        rows: Option<u32>,
        /// Width of each tile in pixels.
        #[arg(long)]
        tile_width: Option<u32>,
    },
    /// A video from images: a slideshow (files) or a numbered pattern (frame_%05d.png).
    Slideshow {
        /// Images in order, or one numbered pattern.
        #[arg(required = true)]
        images: Vec<PathBuf>,
        /// The result.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: PathBuf,
        /// Seconds each image is on screen.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Transition between images (fade, dissolve, wipeleft ...).
        #[arg(long)]
        transition: Option<String>,
        /// Transition seconds.
        #[arg(long, default_value_t = 0.5)]
        transition_duration: f64,
        /// Frames per second (default 30).
        #[arg(long)]
        fps: Option<f64>,
        /// Canvas width (default: the first image's).
        #[arg(long)]
        width: Option<u32>,
        /// Canvas height (default: the first image's).
        #[arg(long)]
        height: Option<u32>,
        /// Ken Burns motion on each image.
        #[arg(long, value_parser = ["none", "zoom-in", "zoom-out", "pan-left", "pan-right"], default_value = "none")]
        motion: String,
        #[command(flatten)]
        enc: EncodeArgs,
    },
    /// Set title/artist/comment (stream copy).
    Metadata {
        #[command(flatten)]
        io: Io,
        /// The title.
        #[arg(long)]
        title: Option<String>,
        /// The artist.
        #[arg(long)]
        artist: Option<String>,
        /// A comment.
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
        /// The new sound (any audio or video file with sound).
        #[arg(long)]
        audio: PathBuf,
        /// Repeat the sound until the video ends.
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
        /// The volume factor: 2 doubles, 0.5 halves.
        factor: f64,
    },
    /// Normalise loudness (EBU R128).
    Loudnorm {
        #[command(flatten)]
        io: Io,
        /// Target integrated loudness in LUFS.
        #[arg(long, default_value_t = -16.0, allow_hyphen_values = true)]
        lufs: f64,
    },
    /// Lay music under the original sound.
    Mix {
        #[command(flatten)]
        io: Io,
        /// The music file.
        #[arg(long)]
        music: PathBuf,
        /// The music's volume factor.
        #[arg(long, default_value_t = 0.3)]
        music_volume: f64,
        /// Repeat the music until the video ends.
        #[arg(long = "loop")]
        looped: bool,
    },
    /// Fade the sound in and/or out.
    Fade {
        #[command(flatten)]
        io: Io,
        #[command(flatten)]
        fade: FadeArgs,
    },
    /// Shift the sound later by milliseconds.
    Delay {
        #[command(flatten)]
        io: Io,
        /// Milliseconds to delay the sound by.
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
    /// Notes for deprecated spellings used, printed on stderr before the step runs.
    fn deprecations(&self) -> Vec<&'static str> {
        match self {
            Self::Fade { fade, .. } | Self::Audio { op: AudioOp::Fade { fade, .. } } => {
                fade.deprecations()
            }
            Self::Trim { exact: true, .. } => {
                vec!["`--exact` is deprecated and does nothing: trims are frame-exact by default"]
            }
            _ => Vec::new(),
        }
    }

    /// The library's operation for these flags: a translation, no decisions.
    fn into_op(self) -> anyhow::Result<Op> {
        Ok(match self {
            Self::Trim { io, start, end, duration, fast, exact: _, enc } => Op::Trim {
                input: io.input,
                output: io.output,
                start,
                end,
                duration,
                fast,
                exact: false,
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
            Self::Split { input, out, seconds } => {
                Op::Split { input, output: out.path()?, seconds }
            }
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
            Self::Pad { io, aspect, bar_color, enc } => Op::Pad {
                input: io.input,
                output: io.output,
                aspect,
                color: bar_color,
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
            Self::Fade { io, fade, enc } => {
                let (fade_in, fade_out) = fade.seconds();
                Op::Fade {
                    input: io.input,
                    output: io.output,
                    fade_in,
                    fade_out,
                    encoding: enc.encoding(),
                }
            }
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
                text_color,
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
                color: text_color,
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
            Self::Frames { input, out, every, range, format } => {
                Op::Frames { input, output: out.path()?, every, range, format }
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
        })
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
            Self::Fade { io, fade } => {
                let (fade_in, fade_out) = fade.seconds();
                Op::AudioFade { input: io.input, output: io.output, fade_in, fade_out }
            }
            Self::Delay { io, millis } => {
                Op::AudioDelay { input: io.input, output: io.output, millis }
            }
        }
    }
}

/// Outputs as absolute paths, so JSON consumers need not know the working directory.
pub fn absolute(mut outcome: OpOutcome) -> OpOutcome {
    let abs = |p: &mut PathBuf| {
        if let Ok(a) = std::path::absolute(&*p) {
            *p = a;
        }
    };
    match &mut outcome {
        OpOutcome::Image(r) => abs(&mut r.output),
        OpOutcome::Ffmpeg(r) => r.outputs.iter_mut().for_each(abs),
    }
    outcome
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

/// From here on, SIGINT (Ctrl-C) and SIGTERM stop every ffmpeg this process started, remove
/// the unfinished outputs and exit 130 or 143. Only the local commands (`media`, `edit`)
/// install this: the paid commands keep their own Ctrl-C handling ("safe to resume").
pub(crate) fn stop_on_signals(out: crate::output::Output) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) =
            (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
        else {
            return;
        };
        tokio::spawn(async move {
            let (code, name) = tokio::select! {
                _ = int.recv() => (130, "interrupted"),
                _ = term.recv() => (143, "terminated"),
            };
            let killed = conjure_media::stop::stop_all();
            let message = format!(
                "{name}: stopped {killed} ffmpeg run{}; no unfinished output was left behind",
                if killed == 1 { "" } else { "s" }
            );
            if out.events {
                out.event(
                    "error",
                    None,
                    &json!({"kind": name, "message": message, "exit_code": code}),
                );
            } else {
                eprintln!("\n{message}");
            }
            std::process::exit(code);
        });
    }
}

/// After a failure caused by a stop signal, waits for the handler to exit with the signal's
/// code rather than reporting ffmpeg's death as an error of its own. Ctrl-C reaches ffmpeg
/// (same process group) at the same moment as conjure, so its failure can arrive before the
/// handler task has run: a failure gets a short grace to see whether a stop is under way.
pub(crate) fn hold_if_stopping(err: &MediaError) {
    if !matches!(err, MediaError::Ffmpeg { .. } | MediaError::Io { .. }) {
        return;
    }
    for _ in 0..25 {
        if conjure_media::stop::stopping() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    while conjure_media::stop::stopping() {
        std::thread::park_timeout(std::time::Duration::from_secs(1));
    }
}

pub fn run(ctx: &Ctx, args: MediaArgs) -> anyhow::Result<()> {
    for note in args.op.deprecations() {
        ctx.out.warn(note);
    }
    let op = args.op.into_op()?;
    stop_on_signals(ctx.out);
    let bar = std::sync::Arc::new(Bar::new(ctx, op.output()));
    bar.start();
    let sink = bar.clone();
    let progress: Option<ProgressSink> = bar
        .enabled()
        .then(|| std::sync::Arc::new(move |p: Progress| sink.update(&p)) as ProgressSink);
    let opts = RunOptions { overwrite: args.force, progress };
    let ff = LazyFfmpeg::with_capabilities_cache(crate::commands::edit::capabilities_cache(
        &ctx.app.config,
    ));
    let outcome = op.run_with(&ff, &opts);
    bar.finish();
    if let Err(e) = &outcome {
        hold_if_stopping(e);
    }
    let outcome = absolute(outcome.map_err(crate::error::CliError::from)?);
    match &outcome {
        OpOutcome::Image(r) => bar.done(&[(&r.output, Some((r.width, r.height)), None)]),
        OpOutcome::Ffmpeg(r) => {
            bar.done(&r.outputs.iter().map(|o| (o.as_path(), None, None)).collect::<Vec<_>>());
        }
    }
    report(ctx, op.name(), &outcome);
    Ok(())
}
