//! Every single-step operation as one value, [`Op`], with one [`Op::run`] that every front end
//! calls (the CLI's `conjure media`, an MCP server, a batch file).
//!
//! Front ends only translate their input into an `Op`; deciding *how* a step runs lives here:
//! `crop` (to an aspect), `resize`, `convert` and `sheet` work on PNG/JPEG/WebP images in-process
//! through [`crate::image_ops`] and need no ffmpeg; everything else, and those steps on videos,
//! runs ffmpeg through [`crate::ops`], located only then (a [`LazyFfmpeg`]). `join` with a
//! transition is a crossfade; `slideshow` with a single `%` pattern (`frame_%05d.png`) is a
//! numbered image sequence turned into a video. Regions (`WxH+X+Y`), aspects (`9:16`) and frame
//! ranges (`A-B`) arrive as the text a person types and are parsed here, with errors that say
//! what to write.
//!
//! # JSON shape
//!
//! An `Op` is an object tagged by `op`, the kebab-case variant name; the other fields are the
//! variant's, snake_case, with the same defaults as the CLI flags. Unknown fields are refused.
//! Encoder settings sit in an optional `encoding` object ([`OpEncoding`]).
//!
//! ```json
//! {"op": "trim", "input": "in.mp4", "output": "cut.mp4", "start": 1.5, "end": 4, "fast": true}
//! {"op": "crop", "input": "in.png", "output": "square.png", "aspect": "1:1"}
//! {"op": "join", "inputs": ["a.mp4", "b.mp4"], "output": "ab.mp4", "transition": "fade"}
//! {"op": "speed", "input": "in.mp4", "output": "fast.mp4", "factor": 2,
//!  "encoding": {"codec": "h265", "preset": "veryfast"}}
//! ```
//!
//! `split` and `frames` name several results: `output` is a pattern with `{n}`
//! (`parts/part_{n}.mp4`) or a folder. [`Op::run_with`] checks every output before any work
//! ([`crate::outputs`]): never one of the inputs, and not an existing file unless overwriting.
//!
//! The result, [`OpOutcome`], serialises untagged as the report itself: the `result` of
//! `conjure media --json`, whose envelope is `{"status":"ok","op":<Op::name>,"result":...}`.
//!
//! Printing and progress are the front end's job, not this module's.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Aspect, AudioPick, OpReport};
use crate::filter::Fit;
use crate::image_ops::{self, ImageReport};
use crate::ops;
use crate::outputs::Numbered;
use crate::timeline::{ColorAdjust, Motion, Position, Rect, Scroll, Text};
use crate::tools::encoder::{Codec, Encoding, Hardware};
use crate::{LazyFfmpeg, MediaError};

/// Encoder settings of a step that re-encodes video.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpEncoding {
    /// Video codec (default H.264; `convert` picks by the output's extension when not given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codec: Option<Codec>,
    /// Encoder preset (`ultrafast` ... `veryslow`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// Constant quality (lower is better).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crf: Option<u8>,
    /// A hardware encoder to use when present (`nvenc`, `qsv`, `vaapi`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hardware: Option<Hardware>,
}

impl OpEncoding {
    /// The library's encoder settings (H.264 unless a codec is given).
    pub fn encoding(&self) -> Encoding {
        Encoding {
            codec: self.codec.unwrap_or_default(),
            preset: self.preset.clone(),
            crf: self.crf,
            audio_bitrate: None,
            hardware: self.hardware,
        }
    }
}

/// One single-step operation and everything it needs. See the module doc for the JSON shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Op {
    /// Keep a time range, frame-exact (a stream copy when both cut points are keyframes;
    /// `fast` always copies, cutting on keyframes).
    Trim {
        /// The source file.
        input: PathBuf,
        /// The result.
        output: PathBuf,
        /// First second to keep.
        #[serde(default)]
        start: f64,
        /// Second to stop at (not with `duration`).
        #[serde(default)]
        end: Option<f64>,
        /// Seconds to keep.
        #[serde(default)]
        duration: Option<f64>,
        /// Cut on keyframes by stream copy (instant; the kept range may be wider).
        #[serde(default)]
        fast: bool,
        /// Deprecated: trims are frame-exact by default; ignored.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        exact: bool,
        /// Encoder settings.
        #[serde(default)]
        encoding: OpEncoding,
    },
    /// Play clips back to back (stream copy when they match, else normalised); with a
    /// `transition`, a crossfade.
    Join {
        /// Clips in order (at least two).
        inputs: Vec<PathBuf>,
        /// The result.
        output: PathBuf,
        /// Crossfade with this transition (fade, dissolve, wipeleft ...).
        #[serde(default)]
        transition: Option<String>,
        /// Transition seconds.
        #[serde(default = "half")]
        transition_duration: f64,
        /// How other shapes fill the first clip's canvas.
        #[serde(default)]
        fit: Fit,
        /// Encoder settings.
        #[serde(default)]
        encoding: OpEncoding,
    },
    /// Chop into parts of about `seconds` (stream copy, on keyframes).
    Split {
        /// The source file.
        input: PathBuf,
        /// A pattern with `{n}` (`parts/part_{n}.mp4`), or a folder for `part_001.ext` ...
        output: PathBuf,
        /// Seconds per part.
        #[serde(default = "thirty")]
        seconds: f64,
    },
    /// Crop a region (`rect`, `WxH+X+Y`) or to an aspect, centred (`aspect`, `9:16`). Images too
    /// (by aspect).
    Crop {
        /// The source file.
        input: PathBuf,
        /// The result.
        output: PathBuf,
        /// `W:H`, e.g. `9:16`.
        #[serde(default)]
        aspect: Option<String>,
        /// `WxH+X+Y`, e.g. `320x180+10+20`.
        #[serde(default)]
        rect: Option<String>,
        /// Encoder settings.
        #[serde(default)]
        encoding: OpEncoding,
    },
    /// Resize to a width and/or height, or by `scale` (videos only). Images too.
    Resize {
        /// The source file.
        input: PathBuf,
        /// The result.
        output: PathBuf,
        /// Target width.
        #[serde(default)]
        width: Option<u32>,
        /// Target height.
        #[serde(default)]
        height: Option<u32>,
        /// A factor instead of a size, e.g. 0.5.
        #[serde(default)]
        scale: Option<f64>,
        /// How to fill the box when both sides are given.
        #[serde(default)]
        fit: Fit,
        /// Encoder settings.
        #[serde(default)]
        encoding: OpEncoding,
    },
    /// Add bars to reach an aspect (never crops).
    Pad {
        /// The source file.
        input: PathBuf,
        /// The result.
        output: PathBuf,
        /// `W:H`, e.g. `1:1`.
        aspect: String,
        /// Bar colour.
        #[serde(default)]
        color: Option<String>,
        /// Encoder settings.
        #[serde(default)]
        encoding: OpEncoding,
    },
    /// Change the aspect (e.g. `9:16` for vertical) by cover, contain or blurred fill.
    Reframe {
        /// The source file.
        input: PathBuf,
        /// The result.
        output: PathBuf,
        /// `W:H`, e.g. `9:16`.
        aspect: String,
        /// How the picture fills the new shape.
        #[serde(default = "blur_fit")]
        fit: Fit,
        /// Output height.
        #[serde(default)]
        height: Option<u32>,
        /// Encoder settings.
        #[serde(default)]
        encoding: OpEncoding,
    },
    /// Fade picture and sound in and/or out.
    Fade {
        /// The source file.
        input: PathBuf,
        /// The result.
        output: PathBuf,
        /// Fade-in seconds.
        #[serde(default)]
        fade_in: f64,
        /// Fade-out seconds.
        #[serde(default)]
        fade_out: f64,
        /// Encoder settings.
        #[serde(default)]
        encoding: OpEncoding,
    },
    /// Speed up or slow down (0.25 to 4).
    Speed {
        /// The source file.
        input: PathBuf,
        /// The result.
        output: PathBuf,
        /// The speed factor.
        factor: f64,
        /// Encoder settings.
        #[serde(default)]
        encoding: OpEncoding,
    },
    /// Play backwards.
    Reverse {
        /// The source file.
        input: PathBuf,
        /// The result.
        output: PathBuf,
        /// Encoder settings.
        #[serde(default)]
        encoding: OpEncoding,
    },
    /// Adjust brightness/contrast/saturation/gamma, or make grey.
    Color {
        /// The source file.
        input: PathBuf,
        /// The result.
        output: PathBuf,
        /// -1..1, 0 unchanged.
        #[serde(default)]
        brightness: f64,
        /// 0..4, 1 unchanged.
        #[serde(default = "one")]
        contrast: f64,
        /// 0..3, 1 unchanged.
        #[serde(default = "one")]
        saturation: f64,
        /// 0.1..10, 1 unchanged.
        #[serde(default = "one")]
        gamma: f64,
        /// Drop colour.
        #[serde(default)]
        greyscale: bool,
        /// Encoder settings.
        #[serde(default)]
        encoding: OpEncoding,
    },
    /// Blur the frame or a region (`WxH+X+Y`).
    Blur {
        /// The source file.
        input: PathBuf,
        /// The result.
        output: PathBuf,
        /// Blur strength.
        #[serde(default = "ten")]
        sigma: f64,
        /// `WxH+X+Y`; the whole frame when absent.
        #[serde(default)]
        region: Option<String>,
        /// Encoder settings.
        #[serde(default)]
        encoding: OpEncoding,
    },
    /// Draw a caption: static, timed (`start`/`end`) or scrolling (`scroll`).
    Text {
        /// The source file.
        input: PathBuf,
        /// The result.
        output: PathBuf,
        /// The text; any characters.
        text: String,
        /// Second it appears.
        #[serde(default)]
        start: f64,
        /// Second it disappears.
        #[serde(default)]
        end: Option<f64>,
        /// `top`, `center`, `bottom`, `top-left` ... or `x,y` (default `bottom`).
        #[serde(default)]
        position: Position,
        /// Font size in pixels.
        #[serde(default)]
        size: Option<u32>,
        /// Colour (`#rrggbb`, a name, optional `@alpha`).
        #[serde(default)]
        color: Option<String>,
        /// Draw a translucent box behind the text.
        #[serde(default, rename = "box")]
        boxed: bool,
        /// A TrueType/OpenType font file.
        #[serde(default)]
        font: Option<PathBuf>,
        /// `left` (a ticker) or `up` (credits).
        #[serde(default)]
        scroll: Option<Scroll>,
        /// Encoder settings.
        #[serde(default)]
        encoding: OpEncoding,
    },
    /// Put a logo (image) or picture-in-picture (video) over the video.
    Overlay {
        /// The main video.
        input: PathBuf,
        /// The result.
        output: PathBuf,
        /// The image or video on top.
        top: PathBuf,
        /// `top-left`, `top-right`, `bottom-left`, `bottom-right`, `center` or `x,y`.
        #[serde(default = "bottom_right")]
        position: String,
        /// Width as a fraction of the main video's width.
        #[serde(default = "quarter")]
        width: f64,
        /// Margin in pixels.
        #[serde(default = "sixteen")]
        margin: u32,
        /// Which sound to keep.
        #[serde(default)]
        audio: AudioPick,
        /// Encoder settings.
        #[serde(default)]
        encoding: OpEncoding,
    },
    /// Two videos next to each other (`vertical` stacks them).
    SideBySide {
        /// The left (or top) video.
        left: PathBuf,
        /// The right (or bottom) video.
        right: PathBuf,
        /// The result.
        output: PathBuf,
        /// Stack instead.
        #[serde(default)]
        vertical: bool,
        /// Which sound to keep.
        #[serde(default)]
        audio: AudioPick,
        /// Encoder settings.
        #[serde(default)]
        encoding: OpEncoding,
    },
    /// Add subtitles: a switchable track, or burned in with `burn`.
    Subtitles {
        /// The source file.
        input: PathBuf,
        /// The result.
        output: PathBuf,
        /// The `.srt` or `.ass` file.
        subs: PathBuf,
        /// Burn into the picture.
        #[serde(default)]
        burn: bool,
        /// Encoder settings.
        #[serde(default)]
        encoding: OpEncoding,
    },
    /// Swap the soundtrack (or add one to a silent clip).
    AudioReplace {
        /// The source video.
        input: PathBuf,
        /// The result.
        output: PathBuf,
        /// The new sound.
        audio: PathBuf,
        /// Repeat the sound until the video ends.
        #[serde(default, rename = "loop")]
        looped: bool,
    },
    /// Save the sound alone (`.m4a .aac .mp3 .wav .opus .flac`).
    AudioExtract {
        /// The source file.
        input: PathBuf,
        /// The result.
        output: PathBuf,
    },
    /// A silent copy.
    AudioRemove {
        /// The source file.
        input: PathBuf,
        /// The result.
        output: PathBuf,
    },
    /// Louder or quieter by a factor.
    AudioVolume {
        /// The source file.
        input: PathBuf,
        /// The result.
        output: PathBuf,
        /// The volume factor.
        factor: f64,
    },
    /// Normalise loudness (EBU R128).
    AudioLoudnorm {
        /// The source file.
        input: PathBuf,
        /// The result.
        output: PathBuf,
        /// Target integrated loudness.
        #[serde(default = "minus_sixteen")]
        lufs: f64,
    },
    /// Lay music under the original sound.
    AudioMix {
        /// The source file.
        input: PathBuf,
        /// The result.
        output: PathBuf,
        /// The music.
        music: PathBuf,
        /// The music's volume factor.
        #[serde(default = "music_volume")]
        music_volume: f64,
        /// Repeat the music until the video ends.
        #[serde(default, rename = "loop")]
        looped: bool,
    },
    /// Fade the sound in and/or out.
    AudioFade {
        /// The source file.
        input: PathBuf,
        /// The result.
        output: PathBuf,
        /// Fade-in seconds.
        #[serde(default)]
        fade_in: f64,
        /// Fade-out seconds.
        #[serde(default)]
        fade_out: f64,
    },
    /// Shift the sound later by milliseconds.
    AudioDelay {
        /// The source file.
        input: PathBuf,
        /// The result.
        output: PathBuf,
        /// Milliseconds.
        millis: u32,
    },
    /// Convert: `.mp4 .mov .mkv .webm .gif` (palette), AV1 into `.webm`/`.mkv`. Images too
    /// (`.png .jpg .webp`).
    Convert {
        /// The source file.
        input: PathBuf,
        /// The result; the extension picks the format.
        output: PathBuf,
        /// GIF frame rate.
        #[serde(default)]
        gif_fps: Option<f64>,
        /// GIF width.
        #[serde(default)]
        gif_width: Option<u32>,
        /// JPEG quality 1..100 (images).
        #[serde(default)]
        quality: Option<u8>,
        /// Encoder settings.
        #[serde(default)]
        encoding: OpEncoding,
    },
    /// One frame as an image.
    Thumbnail {
        /// The source video.
        input: PathBuf,
        /// The image.
        output: PathBuf,
        /// The second to take.
        #[serde(default)]
        at: f64,
    },
    /// Frames as images: all, one `every` N seconds, or a `range` `A-B`.
    Frames {
        /// The source video.
        input: PathBuf,
        /// A pattern with `{n}` (`stills/f_{n}.jpg`), or a folder for `frame_00001.png` ...
        output: PathBuf,
        /// One frame every this many seconds.
        #[serde(default)]
        every: Option<f64>,
        /// `A-B`, 0-based frame numbers, e.g. `10-20`.
        #[serde(default)]
        range: Option<String>,
        /// `png`, `jpg` or `webp`.
        #[serde(default = "png")]
        format: String,
    },
    /// A contact sheet: frames of one video, or many images tiled.
    Sheet {
        /// One video, or images.
        inputs: Vec<PathBuf>,
        /// The image.
        output: PathBuf,
        /// Columns.
        #[serde(default)]
        columns: Option<u32>,
        /// Rows (videos).
        #[serde(default)]
        rows: Option<u32>,
        /// Width of each tile.
        #[serde(default)]
        tile_width: Option<u32>,
    },
    /// A video from images: a slideshow (files) or a numbered pattern (`frame_%05d.png`).
    Slideshow {
        /// Images in order, or one `%` pattern.
        images: Vec<PathBuf>,
        /// The result.
        output: PathBuf,
        /// Seconds each image is on screen.
        #[serde(default = "three")]
        seconds: f64,
        /// Transition between images.
        #[serde(default)]
        transition: Option<String>,
        /// Transition seconds.
        #[serde(default = "half")]
        transition_duration: f64,
        /// Frames per second.
        #[serde(default)]
        fps: Option<f64>,
        /// Canvas width.
        #[serde(default)]
        width: Option<u32>,
        /// Canvas height.
        #[serde(default)]
        height: Option<u32>,
        /// Ken Burns motion (`none`, `zoom-in`, `zoom-out`, `pan-left`, `pan-right`).
        #[serde(default)]
        motion: Motion,
        /// Encoder settings.
        #[serde(default)]
        encoding: OpEncoding,
    },
    /// Set title/artist/comment (stream copy).
    Metadata {
        /// The source file.
        input: PathBuf,
        /// The result.
        output: PathBuf,
        /// Title.
        #[serde(default)]
        title: Option<String>,
        /// Artist.
        #[serde(default)]
        artist: Option<String>,
        /// Comment.
        #[serde(default)]
        comment: Option<String>,
    },
}

fn half() -> f64 {
    0.5
}

fn one() -> f64 {
    1.0
}

fn three() -> f64 {
    3.0
}

fn ten() -> f64 {
    10.0
}

fn thirty() -> f64 {
    30.0
}

fn quarter() -> f64 {
    0.25
}

fn sixteen() -> u32 {
    16
}

fn minus_sixteen() -> f64 {
    -16.0
}

fn music_volume() -> f64 {
    0.3
}

fn blur_fit() -> Fit {
    Fit::Blur
}

fn png() -> String {
    "png".into()
}

fn bottom_right() -> String {
    "bottom-right".into()
}

/// How [`Op::run_with`] treats existing files, and where its progress goes.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// Replace an existing output (never one of the inputs).
    pub overwrite: bool,
    /// Told how far the step is, from ffmpeg's own progress (video steps only).
    pub progress: Option<crate::progress::ProgressSink>,
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions").field("overwrite", &self.overwrite).finish_non_exhaustive()
    }
}

/// What [`Op::run`] produced.
///
/// Serialises untagged, as the report itself: `{"outputs","stream_copy","notes","commands"}`
/// for ffmpeg steps (`notes` left out when empty), `{"output","width","height"}` for image steps.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum OpOutcome {
    /// ffmpeg ran.
    Ffmpeg(OpReport),
    /// An image step ran in-process.
    Image(ImageReport),
}

impl OpOutcome {
    /// The files written.
    pub fn outputs(&self) -> Vec<&Path> {
        match self {
            Self::Ffmpeg(r) => r.outputs.iter().map(PathBuf::as_path).collect(),
            Self::Image(r) => vec![r.output.as_path()],
        }
    }

    /// True when ffmpeg copied every stream; never for image steps.
    pub fn stream_copy(&self) -> bool {
        matches!(self, Self::Ffmpeg(r) if r.stream_copy)
    }

    /// Things the user should know (e.g. a GIF has no sound).
    pub fn notes(&self) -> &[String] {
        match self {
            Self::Ffmpeg(r) => &r.notes,
            Self::Image(_) => &[],
        }
    }
}

impl Op {
    /// The step's name in reports: `trim`, `crossfade` (a join with a transition), `audio
    /// replace`, `images to video` (a slideshow from a `%` pattern) ...
    pub fn name(&self) -> &'static str {
        match self {
            Self::Trim { .. } => "trim",
            Self::Join { transition: Some(_), .. } => "crossfade",
            Self::Join { .. } => "join",
            Self::Split { .. } => "split",
            Self::Crop { .. } => "crop",
            Self::Resize { .. } => "resize",
            Self::Pad { .. } => "pad",
            Self::Reframe { .. } => "reframe",
            Self::Fade { .. } => "fade",
            Self::Speed { .. } => "speed",
            Self::Reverse { .. } => "reverse",
            Self::Color { .. } => "color",
            Self::Blur { .. } => "blur",
            Self::Text { .. } => "text",
            Self::Overlay { .. } => "overlay",
            Self::SideBySide { .. } => "side-by-side",
            Self::Subtitles { .. } => "subtitles",
            Self::AudioReplace { .. } => "audio replace",
            Self::AudioExtract { .. } => "audio extract",
            Self::AudioRemove { .. } => "audio remove",
            Self::AudioVolume { .. } => "audio volume",
            Self::AudioLoudnorm { .. } => "audio loudnorm",
            Self::AudioMix { .. } => "audio mix",
            Self::AudioFade { .. } => "audio fade",
            Self::AudioDelay { .. } => "audio delay",
            Self::Convert { .. } => "convert",
            Self::Thumbnail { .. } => "thumbnail",
            Self::Frames { .. } => "frames",
            Self::Sheet { .. } => "sheet",
            Self::Slideshow { images, .. } if pattern(images).is_some() => "images to video",
            Self::Slideshow { .. } => "slideshow",
            Self::Metadata { .. } => "metadata",
        }
    }

    /// Whether this step runs in-process on images, without ffmpeg: `crop` to an aspect,
    /// `resize` and `convert` of a PNG/JPEG/WebP input, and `sheet` of images only.
    pub fn in_process(&self) -> bool {
        match self {
            Self::Crop { input, aspect: Some(_), rect: None, .. }
            | Self::Resize { input, .. }
            | Self::Convert { input, .. } => is_image(input),
            Self::Sheet { inputs, .. } => inputs.iter().all(|p| is_image(p)),
            _ => false,
        }
    }

    /// [`Op::run_with`] with the default options: an existing output is refused.
    pub fn run(&self, ff: &LazyFfmpeg) -> Result<OpOutcome, MediaError> {
        self.run_with(ff, &RunOptions::default())
    }

    /// Runs the step: images in-process (see [`Op::in_process`]), everything else with ffmpeg,
    /// taken from `ff` only then. Before any work, the output is checked: never one of the
    /// inputs, and not an existing file unless `opts.overwrite` ([`crate::outputs::check`]).
    /// Options are checked before ffmpeg is located, so a mistyped region is reported as such
    /// even where ffmpeg is missing.
    pub fn run_with(&self, ff: &LazyFfmpeg, opts: &RunOptions) -> Result<OpOutcome, MediaError> {
        if let Self::Crop { aspect: Some(_), rect: Some(_), .. } = self {
            return Err(MediaError::option("rect", "give either a region (`rect`) or an aspect"));
        }
        self.check_sizes()?;
        let inputs = self.inputs();
        match self.numbered()? {
            Some(n) => n.check(inputs.iter().copied(), opts.overwrite)?,
            None => crate::outputs::check(inputs.iter().copied(), self.output(), opts.overwrite)?,
        }
        if self.in_process() {
            return self.run_image().map(OpOutcome::Image);
        }
        match &opts.progress {
            Some(sink) => {
                let expected = self.expected_seconds(ff);
                crate::progress::scoped(sink.clone(), expected, || self.run_ffmpeg(ff))
            }
            None => self.run_ffmpeg(ff),
        }
        .map(OpOutcome::Ffmpeg)
    }

    /// About how many seconds of output the step writes, for progress: the first input's
    /// length, cut or sped up as asked (0 when unknown).
    fn expected_seconds(&self, ff: &LazyFfmpeg) -> f64 {
        let Some(first) = self.inputs().first().copied() else { return 0.0 };
        let Ok(len) = ff.get().and_then(|f| f.probe_fast(first)).map(|i| i.duration) else {
            return 0.0;
        };
        match self {
            Self::Trim { start, end, duration, .. } => {
                duration.unwrap_or_else(|| end.unwrap_or(len) - start).max(0.0)
            }
            Self::Speed { factor, .. } if *factor > 0.0 => len / factor,
            Self::Join { inputs, .. } => inputs
                .iter()
                .filter_map(|p| ff.get().ok()?.probe_fast(p).ok())
                .map(|i| i.duration)
                .sum(),
            _ => len,
        }
    }

    /// Sizes where 0 would silently mean "the default" or a degenerate picture are refused.
    fn check_sizes(&self) -> Result<(), MediaError> {
        let bad = |name: &str, v: u32, lo: u32, hi: u32| {
            Err(MediaError::option(name, format!("`{v}` is not allowed; use {lo} to {hi}")))
        };
        match self {
            Self::Sheet { columns, rows, tile_width, .. } => {
                if let Some(t) = tile_width.filter(|t| !(8..=4096).contains(t)) {
                    return bad("tile_width", t, 8, 4096);
                }
                if let Some(c) = columns.filter(|c| *c == 0) {
                    return bad("columns", c, 1, 400);
                }
                if let Some(r) = rows.filter(|r| *r == 0) {
                    return bad("rows", r, 1, 400);
                }
                Ok(())
            }
            Self::Convert { gif_width: Some(w), .. } if !(2..=4096).contains(w) => {
                bad("gif_width", *w, 2, 4096)
            }
            Self::Slideshow { width, height, .. } => {
                for (name, v) in [("width", width), ("height", height)] {
                    if let Some(v) = v.filter(|v| !(16..=8192).contains(v) || v % 2 == 1) {
                        return Err(MediaError::option(
                            name,
                            format!("`{v}` is not allowed; use an even number from 16 to 8192"),
                        ));
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Every file the step reads (a slideshow's `%` pattern is not a file and is left out).
    pub fn inputs(&self) -> Vec<&Path> {
        match self {
            Self::Join { inputs, .. } | Self::Sheet { inputs, .. } => {
                inputs.iter().map(PathBuf::as_path).collect()
            }
            Self::Slideshow { images, .. } => {
                if pattern(images).is_some() {
                    Vec::new()
                } else {
                    images.iter().map(PathBuf::as_path).collect()
                }
            }
            Self::SideBySide { left, right, .. } => vec![left, right],
            Self::Overlay { input, top, .. } => vec![input, top],
            Self::Subtitles { input, subs, .. } => vec![input, subs],
            Self::AudioReplace { input, audio, .. } => vec![input, audio],
            Self::AudioMix { input, music, .. } => vec![input, music],
            Self::Text { input, font, .. } => {
                let mut v = vec![input.as_path()];
                v.extend(font.as_deref());
                v
            }
            Self::Trim { input, .. }
            | Self::Split { input, .. }
            | Self::Crop { input, .. }
            | Self::Resize { input, .. }
            | Self::Pad { input, .. }
            | Self::Reframe { input, .. }
            | Self::Fade { input, .. }
            | Self::Speed { input, .. }
            | Self::Reverse { input, .. }
            | Self::Color { input, .. }
            | Self::Blur { input, .. }
            | Self::AudioExtract { input, .. }
            | Self::AudioRemove { input, .. }
            | Self::AudioVolume { input, .. }
            | Self::AudioLoudnorm { input, .. }
            | Self::AudioFade { input, .. }
            | Self::AudioDelay { input, .. }
            | Self::Convert { input, .. }
            | Self::Thumbnail { input, .. }
            | Self::Frames { input, .. }
            | Self::Metadata { input, .. } => vec![input],
        }
    }

    /// The output as given: a file, or for `split` and `frames` a pattern or folder.
    pub fn output(&self) -> &Path {
        match self {
            Self::Trim { output, .. }
            | Self::Join { output, .. }
            | Self::Split { output, .. }
            | Self::Crop { output, .. }
            | Self::Resize { output, .. }
            | Self::Pad { output, .. }
            | Self::Reframe { output, .. }
            | Self::Fade { output, .. }
            | Self::Speed { output, .. }
            | Self::Reverse { output, .. }
            | Self::Color { output, .. }
            | Self::Blur { output, .. }
            | Self::Text { output, .. }
            | Self::Overlay { output, .. }
            | Self::SideBySide { output, .. }
            | Self::Subtitles { output, .. }
            | Self::AudioReplace { output, .. }
            | Self::AudioExtract { output, .. }
            | Self::AudioRemove { output, .. }
            | Self::AudioVolume { output, .. }
            | Self::AudioLoudnorm { output, .. }
            | Self::AudioMix { output, .. }
            | Self::AudioFade { output, .. }
            | Self::AudioDelay { output, .. }
            | Self::Convert { output, .. }
            | Self::Thumbnail { output, .. }
            | Self::Frames { output, .. }
            | Self::Sheet { output, .. }
            | Self::Slideshow { output, .. }
            | Self::Metadata { output, .. } => output,
        }
    }

    /// How the results of a step with several (`split`, `frames`) are named.
    pub fn numbered(&self) -> Result<Option<Numbered>, MediaError> {
        match self {
            Self::Split { input, output, .. } => {
                let ext = input.extension().and_then(|e| e.to_str()).unwrap_or("mp4");
                Numbered::parse(output, &format!("part_{{n}}.{ext}"), 3).map(Some)
            }
            Self::Frames { output, format, .. } => {
                Numbered::parse(output, &format!("frame_{{n}}.{format}"), 5).map(Some)
            }
            _ => Ok(None),
        }
    }

    fn run_image(&self) -> Result<ImageReport, MediaError> {
        match self {
            Self::Crop { input, output, aspect: Some(a), .. } => {
                image_ops::crop(&image_ops::ImageCropOptions {
                    input: input.clone(),
                    output: output.clone(),
                    aspect: Aspect::parse(a)?,
                    quality: None,
                })
            }
            Self::Resize { input, output, width, height, fit, .. } => {
                image_ops::resize(&image_ops::ImageResizeOptions {
                    input: input.clone(),
                    output: output.clone(),
                    width: *width,
                    height: *height,
                    fit: *fit,
                    quality: None,
                })
            }
            Self::Convert { input, output, quality, .. } => {
                image_ops::convert(&image_ops::ImageConvertOptions {
                    input: input.clone(),
                    output: output.clone(),
                    quality: *quality,
                })
            }
            Self::Sheet { inputs, output, columns, tile_width, .. } => {
                image_ops::sheet(&image_ops::ImageSheetOptions {
                    inputs: inputs.clone(),
                    output: output.clone(),
                    columns: *columns,
                    tile_width: *tile_width,
                    ..Default::default()
                })
            }
            other => Err(MediaError::option(
                "op",
                format!("`{}` has no in-process image step; give it a video", other.name()),
            )),
        }
    }

    fn run_ffmpeg(&self, ff: &LazyFfmpeg) -> Result<OpReport, MediaError> {
        // Each arm checks its own options first, then locates ffmpeg (`ff.get()?`).
        match self.clone() {
            Self::Trim { input, output, start, end, duration, fast, exact, encoding } => {
                let report = ops::trim(
                    ff.get()?,
                    &ops::TrimOptions {
                        input,
                        output,
                        start,
                        end,
                        duration,
                        fast,
                        encoding: encoding.encoding(),
                    },
                )?;
                Ok(if exact {
                    report
                        .note("`exact` is deprecated and ignored: trims are frame-exact by default")
                } else {
                    report
                })
            }
            Self::Join { inputs, output, transition, transition_duration, fit, encoding } => {
                let crossfade = transition.is_some();
                let o = ops::JoinOptions {
                    inputs,
                    output,
                    fit,
                    transition,
                    transition_duration,
                    encoding: encoding.encoding(),
                    ..Default::default()
                };
                if crossfade { ops::crossfade(ff.get()?, &o) } else { ops::join(ff.get()?, &o) }
            }
            Self::Split { input, seconds, .. } => {
                let output = self.numbered()?.unwrap_or_else(|| unreachable!("split is numbered"));
                ops::split(
                    ff.get()?,
                    &ops::SplitOptions { input, output, segment_seconds: seconds },
                )
            }
            Self::Crop { input, output, aspect, rect, encoding } => {
                let rect = rect.map(|r| parse_rect(&r, "rect")).transpose()?;
                let aspect = aspect.map(|a| Aspect::parse(&a)).transpose()?;
                ops::crop(
                    ff.get()?,
                    &ops::CropOptions {
                        input,
                        output,
                        rect,
                        aspect,
                        encoding: encoding.encoding(),
                    },
                )
            }
            Self::Resize { input, output, width, height, scale, fit, encoding } => ops::resize(
                ff.get()?,
                &ops::ResizeOptions {
                    input,
                    output,
                    width,
                    height,
                    scale,
                    fit,
                    encoding: encoding.encoding(),
                },
            ),
            Self::Pad { input, output, aspect, color, encoding } => {
                let aspect = Some(Aspect::parse(&aspect)?);
                ops::pad(
                    ff.get()?,
                    &ops::PadOptions {
                        input,
                        output,
                        aspect,
                        color,
                        encoding: encoding.encoding(),
                    },
                )
            }
            Self::Reframe { input, output, aspect, fit, height, encoding } => {
                let aspect = Some(Aspect::parse(&aspect)?);
                ops::reframe(
                    ff.get()?,
                    &ops::ReframeOptions {
                        input,
                        output,
                        aspect,
                        fit,
                        height,
                        encoding: encoding.encoding(),
                    },
                )
            }
            Self::Fade { input, output, fade_in, fade_out, encoding } => ops::fade(
                ff.get()?,
                &ops::FadeOptions {
                    input,
                    output,
                    fade_in,
                    fade_out,
                    encoding: encoding.encoding(),
                },
            ),
            Self::Speed { input, output, factor, encoding } => ops::speed(
                ff.get()?,
                &ops::SpeedOptions { input, output, factor, encoding: encoding.encoding() },
            ),
            Self::Reverse { input, output, encoding } => ops::reverse(
                ff.get()?,
                &ops::SimpleOptions { input, output, encoding: encoding.encoding() },
            ),
            Self::Color {
                input,
                output,
                brightness,
                contrast,
                saturation,
                gamma,
                greyscale,
                encoding,
            } => {
                let adjust = ColorAdjust { brightness, contrast, saturation, gamma };
                ops::color(
                    ff.get()?,
                    &ops::ColorOptions {
                        input,
                        output,
                        eq: changed(adjust),
                        greyscale,
                        encoding: encoding.encoding(),
                    },
                )
            }
            Self::Blur { input, output, sigma, region, encoding } => {
                let region = region.map(|r| parse_rect(&r, "region")).transpose()?;
                ops::blur(
                    ff.get()?,
                    &ops::BlurOptions {
                        input,
                        output,
                        sigma,
                        region,
                        encoding: encoding.encoding(),
                    },
                )
            }
            Self::Text {
                input,
                output,
                text,
                start,
                end,
                position,
                size,
                color,
                boxed,
                font,
                scroll,
                encoding,
            } => ops::text(
                ff.get()?,
                &ops::TextOptions {
                    input,
                    output,
                    text: Text {
                        text,
                        start,
                        end,
                        position,
                        size,
                        color,
                        r#box: boxed,
                        font,
                        scroll,
                    },
                    encoding: encoding.encoding(),
                },
            ),
            Self::Overlay { input, output, top, position, width, margin, audio, encoding } => {
                ops::overlay(
                    ff.get()?,
                    &ops::OverlayOptions {
                        input,
                        overlay: top,
                        output,
                        position,
                        width,
                        margin,
                        audio,
                        encoding: encoding.encoding(),
                        ..Default::default()
                    },
                )
            }
            Self::SideBySide { left, right, output, vertical, audio, encoding } => {
                ops::side_by_side(
                    ff.get()?,
                    &ops::SideBySideOptions {
                        left,
                        right,
                        output,
                        vertical,
                        audio,
                        encoding: encoding.encoding(),
                        height: None,
                    },
                )
            }
            Self::Subtitles { input, output, subs, burn, encoding } => ops::subtitles(
                ff.get()?,
                &ops::SubtitleOptions {
                    input,
                    subtitles: subs,
                    output,
                    burn,
                    encoding: encoding.encoding(),
                },
            ),
            Self::AudioReplace { input, output, audio, looped } => ops::audio_replace(
                ff.get()?,
                &ops::AudioReplaceOptions { input, audio, output, looped },
            ),
            Self::AudioExtract { input, output } => {
                ops::audio_extract(ff.get()?, &ops::AudioIoOptions { input, output })
            }
            Self::AudioRemove { input, output } => {
                ops::audio_remove(ff.get()?, &ops::AudioIoOptions { input, output })
            }
            Self::AudioVolume { input, output, factor } => {
                ops::volume(ff.get()?, &ops::VolumeOptions { input, output, factor })
            }
            Self::AudioLoudnorm { input, output, lufs } => ops::loudnorm(
                ff.get()?,
                &ops::LoudnormOptions { input, output, integrated: lufs, ..Default::default() },
            ),
            Self::AudioMix { input, output, music, music_volume, looped } => ops::audio_mix(
                ff.get()?,
                &ops::AudioMixOptions { input, music, output, music_volume, looped },
            ),
            Self::AudioFade { input, output, fade_in, fade_out } => ops::audio_fade(
                ff.get()?,
                &ops::AudioFadeOptions { input, output, fade_in, fade_out },
            ),
            Self::AudioDelay { input, output, millis } => {
                ops::audio_delay(ff.get()?, &ops::AudioDelayOptions { input, output, millis })
            }
            Self::Convert { input, output, gif_fps, gif_width, quality: _, encoding } => {
                ops::convert(
                    ff.get()?,
                    &ops::ConvertOptions {
                        input,
                        output,
                        codec: encoding.codec,
                        gif_fps,
                        gif_width,
                        encoding: encoding.encoding(),
                    },
                )
            }
            Self::Thumbnail { input, output, at } => {
                ops::thumbnail(ff.get()?, &ops::ThumbnailOptions { input, output, at })
            }
            Self::Frames { input, every, range, .. } => {
                let range = range.map(|r| parse_frame_range(&r)).transpose()?;
                let output =
                    self.numbered()?.unwrap_or_else(|| unreachable!("frames are numbered"));
                ops::frames(ff.get()?, &ops::FramesOptions { input, output, every, range })
            }
            Self::Sheet { inputs, output, columns, rows, tile_width } => {
                let [input] = <[PathBuf; 1]>::try_from(inputs).map_err(|_| {
                    MediaError::option(
                        "inputs",
                        "a video contact sheet takes one video; give images (.png .jpg .webp) to tile several files",
                    )
                })?;
                ops::contact_sheet(
                    ff.get()?,
                    &ops::ContactSheetOptions {
                        input,
                        output,
                        columns: columns.unwrap_or(0),
                        rows: rows.unwrap_or(0),
                        tile_width: tile_width.unwrap_or(0),
                    },
                )
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
                motion,
                encoding,
            } => match pattern(&images) {
                Some(pattern) => ops::images_to_video(
                    ff.get()?,
                    &ops::ImagesToVideoOptions {
                        pattern: pattern.to_path_buf(),
                        output,
                        fps,
                        encoding: encoding.encoding(),
                    },
                ),
                None => ops::slideshow(
                    ff.get()?,
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
                        motion,
                        encoding: encoding.encoding(),
                    },
                ),
            },
            Self::Metadata { input, output, title, artist, comment } => ops::metadata(
                ff.get()?,
                &ops::MetadataOptions { input, output, title, artist, comment },
            ),
        }
    }
}

/// Whether a path names an image the in-process steps read (by extension).
fn is_image(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref(),
        Some("png" | "jpg" | "jpeg" | "webp")
    )
}

/// The numbered pattern of a slideshow given exactly one path containing `%`.
fn pattern(images: &[PathBuf]) -> Option<&Path> {
    match images {
        [one] if one.to_string_lossy().contains('%') => Some(one.as_path()),
        _ => None,
    }
}

/// The adjustment, unless every value is neutral (then ffmpeg's `eq` is left out).
fn changed(adjust: ColorAdjust) -> Option<ColorAdjust> {
    let off = |v: f64, neutral: f64| (v - neutral).abs() > 1e-9;
    (off(adjust.brightness, 0.0)
        || off(adjust.contrast, 1.0)
        || off(adjust.saturation, 1.0)
        || off(adjust.gamma, 1.0))
    .then_some(adjust)
}

/// Parses `WxH+X+Y` (e.g. `320x180+10+20`) for the option named `option`.
#[expect(clippy::many_single_char_names, reason = "w/h/x/y are the parts of WxH+X+Y")]
fn parse_rect(s: &str, option: &str) -> Result<Rect, MediaError> {
    let bad = || {
        MediaError::option(
            option,
            format!("`{s}` is not a region; write WxH+X+Y, e.g. 320x180+10+20"),
        )
    };
    let (size, pos) = s.split_once('+').ok_or_else(bad)?;
    let (w, h) = size.split_once('x').ok_or_else(bad)?;
    let (x, y) = pos.split_once('+').ok_or_else(bad)?;
    let n = |v: &str| v.trim().parse::<u32>().map_err(|_| bad());
    Ok(Rect { x: n(x)?, y: n(y)?, width: n(w)?, height: n(h)? })
}

/// Parses a frame range `A-B` (0-based, inclusive), e.g. `10-20`.
fn parse_frame_range(s: &str) -> Result<(u64, u64), MediaError> {
    let bad = || {
        MediaError::option("range", format!("`{s}` is not a frame range; write A-B, e.g. 10-20"))
    };
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let n = |v: &str| v.trim().parse::<u64>().map_err(|_| bad());
    Ok((n(a)?, n(b)?))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::Ffmpeg;

    /// An ffmpeg that cannot run: a step that reaches it fails naming these paths.
    fn bogus() -> LazyFfmpeg {
        LazyFfmpeg::from(Ffmpeg::with_paths(
            "/nonexistent/conjure/ffmpeg".into(),
            "/nonexistent/conjure/ffprobe".into(),
        ))
    }

    /// Asserts that `r` failed by trying to run the bogus ffmpeg or ffprobe.
    fn reached_ffmpeg(r: Result<OpOutcome, MediaError>) {
        match r {
            Err(MediaError::Io { context, .. }) => {
                assert!(context.contains("/nonexistent/conjure/"), "{context}");
            }
            other => panic!("expected a run of the bogus ffmpeg, got {other:?}"),
        }
    }

    fn png(dir: &Path, name: &str, w: u32, h: u32) -> PathBuf {
        let p = dir.join(name);
        image::RgbaImage::from_pixel(w, h, image::Rgba([200, 40, 40, 255])).save(&p).unwrap();
        p
    }

    fn op(v: serde_json::Value) -> Op {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn parses_regions_and_says_what_to_write() {
        assert_eq!(
            parse_rect("320x180+10+20", "rect").unwrap(),
            Rect { x: 10, y: 20, width: 320, height: 180 }
        );
        assert_eq!(parse_rect(" 2x4+0+ 6", "region").unwrap().y, 6);
        for bad in ["320x180", "320+10+20", "320x180+10", "axb+1+2", "-1x2+3+4", ""] {
            let e = parse_rect(bad, "region").unwrap_err().to_string();
            assert!(
                e.contains("`region`") && e.contains("write WxH+X+Y, e.g. 320x180+10+20"),
                "{e}"
            );
            assert!(e.contains(&format!("`{bad}`")), "{e}");
        }
    }

    #[test]
    fn parses_frame_ranges_and_says_what_to_write() {
        assert_eq!(parse_frame_range("10-20").unwrap(), (10, 20));
        assert_eq!(parse_frame_range(" 0 - 5 ").unwrap(), (0, 5));
        for bad in ["10", "a-b", "1-2-3", "-5", ""] {
            let e = parse_frame_range(bad).unwrap_err().to_string();
            assert!(e.contains("`range`") && e.contains("write A-B, e.g. 10-20"), "{e}");
        }
    }

    #[test]
    fn neutral_colour_leaves_out_the_adjustment() {
        let neutral = ColorAdjust { brightness: 0.0, contrast: 1.0, saturation: 1.0, gamma: 1.0 };
        assert_eq!(changed(neutral), None);
        let darker = ColorAdjust { brightness: -0.1, ..neutral };
        assert_eq!(changed(darker), Some(darker));
        let flat = ColorAdjust { saturation: 0.0, ..neutral };
        assert_eq!(changed(flat), Some(flat));
    }

    #[test]
    fn names_follow_what_runs() {
        let join = json!({"op": "join", "inputs": ["a.mp4", "b.mp4"], "output": "o.mp4"});
        assert_eq!(op(join.clone()).name(), "join");
        let mut fade = join;
        fade["transition"] = json!("fade");
        assert_eq!(op(fade).name(), "crossfade");
        let slides = json!({"op": "slideshow", "images": ["a.png", "b.png"], "output": "o.mp4"});
        assert_eq!(op(slides).name(), "slideshow");
        let seq = json!({"op": "slideshow", "images": ["f/frame_%05d.png"], "output": "o.mp4"});
        assert_eq!(op(seq).name(), "images to video");
        let replace =
            json!({"op": "audio-replace", "input": "v.mp4", "output": "o.mp4", "audio": "m.m4a"});
        assert_eq!(op(replace).name(), "audio replace");
        let sbs =
            json!({"op": "side-by-side", "left": "a.mp4", "right": "b.mp4", "output": "o.mp4"});
        assert_eq!(op(sbs).name(), "side-by-side");
    }

    #[test]
    fn json_has_the_cli_defaults_and_refuses_unknown_fields() {
        let o = op(json!({"op": "join", "inputs": ["a.mp4", "b.mp4"], "output": "o.mp4"}));
        let Op::Join { transition_duration, fit, transition: None, .. } = o else { panic!() };
        assert!((transition_duration - 0.5).abs() < 1e-9);
        assert_eq!(fit, Fit::Contain);
        let o = op(json!({"op": "reframe", "input": "a.mp4", "output": "o.mp4", "aspect": "9:16"}));
        assert!(matches!(o, Op::Reframe { fit: Fit::Blur, height: None, .. }));
        let o =
            op(json!({"op": "overlay", "input": "a.mp4", "output": "o.mp4", "top": "logo.png"}));
        let Op::Overlay { position, width, margin, audio, .. } = o else { panic!() };
        assert_eq!((position.as_str(), margin, audio), ("bottom-right", 16, AudioPick::First));
        assert!((width - 0.25).abs() < 1e-9);
        let o = op(
            json!({"op": "text", "input": "a.mp4", "output": "o.mp4", "text": "hi", "box": true, "scroll": "up"}),
        );
        assert!(matches!(o, Op::Text { boxed: true, scroll: Some(Scroll::Up), .. }));
        let Op::Text { position, .. } = o else { panic!() };
        assert_eq!(position, Position::Named("bottom".into()));
        let o = op(
            json!({"op": "audio-mix", "input": "a.mp4", "output": "o.mp4", "music": "m.m4a", "loop": true}),
        );
        assert!(matches!(o, Op::AudioMix { looped: true, .. }));
        let o = op(json!({"op": "frames", "input": "a.mp4", "output": "dir"}));
        assert!(matches!(o, Op::Frames { ref format, .. } if format == "png"));
        let o = op(json!({"op": "audio-loudnorm", "input": "a.mp4", "output": "o.mp4"}));
        assert!(matches!(o, Op::AudioLoudnorm { lufs, .. } if (lufs + 16.0).abs() < 1e-9));
        let o = op(json!({
            "op": "trim", "input": "a.mp4", "output": "o.mp4", "end": 2,
            "encoding": {"codec": "h265", "preset": "veryfast", "crf": 20, "hardware": "vaapi"}
        }));
        let Op::Trim { encoding, start, .. } = &o else { panic!() };
        assert!(start.abs() < 1e-9);
        let enc = encoding.encoding();
        assert_eq!(
            (enc.codec, enc.crf, enc.hardware),
            (Codec::H265, Some(20), Some(Hardware::Vaapi))
        );
        assert_eq!(OpEncoding::default().encoding(), Encoding::default());

        // A round trip gives the same op back.
        let back: Op = serde_json::from_str(&serde_json::to_string(&o).unwrap()).unwrap();
        assert_eq!(back, o);
        assert_eq!(serde_json::to_value(&o).unwrap()["op"], "trim");

        let typo = json!({"op": "trim", "input": "a.mp4", "output": "o.mp4", "strat": 1});
        let e = serde_json::from_value::<Op>(typo).unwrap_err().to_string();
        assert!(e.contains("strat"), "{e}");
        let typo =
            json!({"op": "trim", "input": "a.mp4", "output": "o.mp4", "encoding": {"cfr": 1}});
        assert!(serde_json::from_value::<Op>(typo).is_err());
        let e = serde_json::from_value::<Op>(json!({"op": "sharpen", "input": "a.mp4"}));
        assert!(e.unwrap_err().to_string().contains("sharpen"));
    }

    #[test]
    fn the_module_doc_examples_parse() {
        let doc = include_str!("op.rs");
        let lines: Vec<&str> = doc
            .lines()
            .skip_while(|l| !l.starts_with("//! ```json"))
            .skip(1)
            .take_while(|l| !l.starts_with("//! ```"))
            .map(|l| l.trim_start_matches("//!"))
            .collect();
        let mut text = lines.join("\n");
        text = format!("[{}]", text.replace("}\n {", "},\n {"));
        let ops: Vec<Op> = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(ops.len(), 4);
        assert!(matches!(&ops[3], Op::Speed { factor, encoding, .. }
            if (*factor - 2.0).abs() < 1e-9 && encoding.codec == Some(Codec::H265)));
    }

    #[test]
    fn images_go_in_process_without_ffmpeg() {
        let d = tempfile::tempdir().unwrap();
        let a = png(d.path(), "a.png", 64, 48);
        let b = png(d.path(), "b.png", 48, 64);
        let out = |n: &str| d.path().join(n).to_string_lossy().into_owned();
        let ff = bogus();

        let crop = op(json!({"op": "crop", "input": a, "output": out("sq.png"), "aspect": "1:1"}));
        assert!(crop.in_process());
        let OpOutcome::Image(r) = crop.run(&ff).unwrap() else { panic!("crop ran ffmpeg") };
        assert_eq!((r.width, r.height), (48, 48));

        let resize = op(json!({"op": "resize", "input": a, "output": out("r.jpg"), "width": 32}));
        let OpOutcome::Image(r) = resize.run(&ff).unwrap() else { panic!("resize ran ffmpeg") };
        assert_eq!((r.width, r.height), (32, 24));

        let convert = op(json!({"op": "convert", "input": b, "output": out("b.webp")}));
        let outcome = convert.run(&ff).unwrap();
        assert_eq!(outcome.outputs(), [d.path().join("b.webp")]);
        assert!(!outcome.stream_copy() && outcome.notes().is_empty());

        let sheet =
            op(json!({"op": "sheet", "inputs": [a, b], "output": out("s.png"), "tile_width": 16}));
        assert!(sheet.in_process());
        assert!(matches!(sheet.run(&ff).unwrap(), OpOutcome::Image(_)));
    }

    #[test]
    fn videos_and_video_only_steps_go_to_ffmpeg() {
        let d = tempfile::tempdir().unwrap();
        let clip = d.path().join("clip.mp4");
        std::fs::write(&clip, b"not really a video").unwrap();
        let image = png(d.path(), "a.png", 8, 8);
        let out = d.path().join("o.mp4");
        let ff = bogus();
        let cases = [
            json!({"op": "crop", "input": clip, "output": out, "aspect": "9:16"}),
            json!({"op": "crop", "input": clip, "output": out, "rect": "8x8+0+0"}),
            // A region crop has no in-process image step.
            json!({"op": "crop", "input": image, "output": "o.png", "rect": "4x4+0+0"}),
            json!({"op": "resize", "input": clip, "output": out, "scale": 0.5}),
            json!({"op": "convert", "input": clip, "output": "o.gif"}),
            json!({"op": "sheet", "inputs": [clip], "output": "s.png"}),
            json!({"op": "trim", "input": clip, "output": out, "end": 1}),
            json!({"op": "frames", "input": clip, "output": "dir", "range": "1-2"}),
            json!({"op": "blur", "input": clip, "output": out, "region": "2x2+1+1"}),
            json!({"op": "audio-volume", "input": clip, "output": out, "factor": 2}),
        ];
        for case in cases {
            let o = op(case.clone());
            assert!(!o.in_process(), "{case}");
            reached_ffmpeg(o.run(&ff));
        }
    }

    #[test]
    fn options_are_checked_before_ffmpeg_is_needed() {
        let ff = bogus();
        let bad = [
            (json!({"op": "crop", "input": "v.mp4", "output": "o.mp4", "rect": "big"}), "rect"),
            (json!({"op": "blur", "input": "v.mp4", "output": "o.mp4", "region": "1x1"}), "region"),
            (json!({"op": "frames", "input": "v.mp4", "output": "d", "range": "7"}), "range"),
            (json!({"op": "pad", "input": "v.mp4", "output": "o.mp4", "aspect": "wide"}), "aspect"),
            (
                json!({"op": "reframe", "input": "v.mp4", "output": "o.mp4", "aspect": "0:1"}),
                "aspect",
            ),
            (
                json!({"op": "crop", "input": "a.png", "output": "o.png", "aspect": "1:1", "rect": "1x1+0+0"}),
                "rect",
            ),
            (json!({"op": "sheet", "inputs": ["a.mp4", "b.mp4"], "output": "s.png"}), "inputs"),
            (json!({"op": "sheet", "inputs": ["a.png", "b.mp4"], "output": "s.png"}), "inputs"),
        ];
        for (case, option) in bad {
            match op(case.clone()).run(&ff) {
                Err(MediaError::InvalidOption { option: o, message }) => {
                    assert_eq!(o, option, "{case}: {message}");
                }
                other => panic!("{case}: expected an invalid `{option}`, got {other:?}"),
            }
        }
    }

    #[test]
    fn outcomes_serialise_as_the_report_itself() {
        let image = OpOutcome::Image(ImageReport { output: "o.png".into(), width: 4, height: 2 });
        assert_eq!(
            serde_json::to_value(&image).unwrap(),
            json!({"output": "o.png", "width": 4, "height": 2})
        );
        let report = OpReport {
            outputs: vec!["o.mp4".into()],
            stream_copy: true,
            notes: Vec::new(),
            commands: Vec::new(),
        };
        let video = OpOutcome::Ffmpeg(report.clone());
        assert_eq!(serde_json::to_string(&video).unwrap(), serde_json::to_string(&report).unwrap());
        assert_eq!(
            serde_json::to_value(&video).unwrap(),
            json!({"outputs": ["o.mp4"], "stream_copy": true, "commands": []})
        );
        assert!(video.stream_copy());
    }
}
