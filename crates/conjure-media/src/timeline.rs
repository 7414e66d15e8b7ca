//! The timeline format: what `conjure edit SPEC.json|yaml` reads.
//!
//! A [`Timeline`] is plain data (serde). [`Timeline::from_path`] parses JSON or YAML and reports
//! type errors at their JSON path; [`Timeline::validate`] checks everything that can be checked
//! without touching the files (ranges, names, transition lengths) and points at the offending
//! path with what is allowed. Checks that need ffprobe (missing files, `to` beyond the source)
//! happen when rendering, with the same kind of path. `docs/timeline.md` documents the format and
//! `docs/timeline.schema.json` is its JSON Schema.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::filter::Fit;
use crate::tools::encoder::{Codec, Encoding, Hardware};
use crate::{MediaError, TimelineError};

/// Transition names accepted by ffmpeg's `xfade` (5.1 and later), plus `cut` for a hard cut.
pub const TRANSITIONS: &[&str] = &[
    "cut",
    "fade",
    "wipeleft",
    "wiperight",
    "wipeup",
    "wipedown",
    "slideleft",
    "slideright",
    "slideup",
    "slidedown",
    "circlecrop",
    "rectcrop",
    "distance",
    "fadeblack",
    "fadewhite",
    "radial",
    "smoothleft",
    "smoothright",
    "smoothup",
    "smoothdown",
    "circleopen",
    "circleclose",
    "vertopen",
    "vertclose",
    "horzopen",
    "horzclose",
    "dissolve",
    "pixelize",
    "diagtl",
    "diagtr",
    "diagbl",
    "diagbr",
    "hlslice",
    "hrslice",
    "vuslice",
    "vdslice",
    "hblur",
    "fadegrays",
    "wipetl",
    "wipetr",
    "wipebl",
    "wipebr",
    "squeezeh",
    "squeezev",
    "zoomin",
    "fadefast",
    "fadeslow",
    "hlwind",
    "hrwind",
    "vuwind",
    "vdwind",
    "coverleft",
    "coverright",
    "coverup",
    "coverdown",
    "revealleft",
    "revealright",
    "revealup",
    "revealdown",
];

/// A whole edit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeline {
    /// Where and how to write the result (may be left out when the front end names the file).
    #[serde(default)]
    pub output: Output,
    /// The clips, played in order.
    pub clips: Vec<Clip>,
    /// Captions drawn over the result, in output time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub texts: Vec<Text>,
    /// Music and other tracks mixed under the clips' own sound.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audio: Vec<AudioTrack>,
    /// Images or videos drawn over the result (logos, picture-in-picture).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overlays: Vec<Overlay>,
    /// A subtitle file, burned in or muxed as a soft track.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtitles: Option<Subtitles>,
}

/// The output file and its encoding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Output {
    /// Output file; the extension picks the container (`.mp4`, `.mov`, `.mkv`, `.webm`).
    /// May be left out when the front end names the output (`conjure edit SPEC -o OUT`).
    #[serde(default)]
    pub path: PathBuf,
    /// Replace `path` if it exists (never when it is one of the sources).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub overwrite: bool,
    /// Width in pixels (even). Defaults to the first visual clip's width.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Height in pixels (even). Defaults to the first visual clip's height.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Frames per second. Defaults to the first video clip's rate, else 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fps: Option<f64>,
    /// Video codec.
    #[serde(default)]
    pub codec: Codec,
    /// Encoder preset (x264 names: `ultrafast` ... `veryslow`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// Constant quality (lower is better; default 18 for H.264); 0 is lossless for H.264,
    /// H.265 and VP9.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crf: Option<u8>,
    /// Audio bitrate, e.g. `192k`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_bitrate: Option<String>,
    /// Use a hardware encoder (`nvenc`, `qsv`, `vaapi`) when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware: Option<Hardware>,
}

/// Camera motion for still images (Ken Burns).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Motion {
    /// A static frame.
    #[default]
    None,
    /// Slowly zoom in.
    ZoomIn,
    /// Slowly zoom out.
    ZoomOut,
    /// Pan from right to left.
    PanLeft,
    /// Pan from left to right.
    PanRight,
}

/// A transition into the next clip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transition {
    /// Any `xfade` transition name, or `cut`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Seconds of overlap with the next clip.
    #[serde(default = "default_transition")]
    pub duration: f64,
}

fn default_transition() -> f64 {
    0.5
}

/// Brightness/contrast/saturation/gamma adjustments (ffmpeg `eq`).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColorAdjust {
    /// -1..1, 0 unchanged.
    #[serde(default)]
    pub brightness: f64,
    /// 0..4, 1 unchanged.
    #[serde(default = "one")]
    pub contrast: f64,
    /// 0..3, 1 unchanged, 0 grey.
    #[serde(default = "one")]
    pub saturation: f64,
    /// 0.1..10, 1 unchanged.
    #[serde(default = "one")]
    pub gamma: f64,
}

fn one() -> f64 {
    1.0
}

fn yes() -> bool {
    true
}

/// A rectangle in source pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rect {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// Blur of the whole frame or a region.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Blur {
    /// Gaussian sigma in pixels.
    #[serde(default = "default_sigma")]
    pub sigma: f64,
    /// Only this region (in output pixels), e.g. a face or a plate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<Rect>,
}

fn default_sigma() -> f64 {
    10.0
}

/// One clip: a video, a still image, or a solid colour.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clip {
    /// A video or image file (exclusive with `color`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src: Option<PathBuf>,
    /// A solid colour `#rrggbb` (exclusive with `src`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    /// Start in the source, seconds (videos).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<f64>,
    /// End in the source, seconds (videos; default the source's end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<f64>,
    /// Length on the timeline, seconds (stills and colours; for videos an alternative to `to`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    /// How the source fills the canvas.
    #[serde(default)]
    pub fit: Fit,
    /// Playback speed (0.25..4).
    #[serde(default = "one")]
    pub speed: f64,
    /// Volume factor of the clip's own sound.
    #[serde(default = "one")]
    pub volume: f64,
    /// Keep the clip's own sound (default true); false puts silence in its place.
    #[serde(default = "yes")]
    pub keep_audio: bool,
    /// Motion for stills.
    #[serde(default)]
    pub motion: Motion,
    /// Transition into the next clip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition: Option<Transition>,
    /// Fade in from black (and silence) over this many seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fade_in: Option<f64>,
    /// Fade out to black (and silence) over this many seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fade_out: Option<f64>,
    /// Play backwards.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reverse: bool,
    /// Drop colour.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub greyscale: bool,
    /// Colour adjustments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eq: Option<ColorAdjust>,
    /// Blur.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blur: Option<Blur>,
    /// Crop this region of the source before fitting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crop: Option<Rect>,
}

impl Output {
    /// An output at `path` with a single-step op's encoder settings. It overwrites: a step
    /// checks its output before any work ([`crate::Op::run_with`]), the way `render` would.
    pub fn with_encoding(
        path: PathBuf,
        width: Option<u32>,
        height: Option<u32>,
        fps: Option<f64>,
        enc: &Encoding,
    ) -> Self {
        Self {
            path,
            overwrite: true,
            width,
            height,
            fps,
            codec: enc.codec,
            preset: enc.preset.clone(),
            crf: enc.crf,
            audio_bitrate: enc.audio_bitrate.clone(),
            hardware: enc.hardware,
        }
    }
}

impl Default for Output {
    fn default() -> Self {
        Self {
            path: PathBuf::new(),
            overwrite: false,
            width: None,
            height: None,
            fps: None,
            codec: Codec::H264,
            preset: None,
            crf: None,
            audio_bitrate: None,
            hardware: None,
        }
    }
}

/// Where a caption sits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Position {
    /// `top`, `center`, `bottom`, `top-left`, `top-right`, `bottom-left`, `bottom-right`, or `x,y`.
    Named(String),
    /// `[x, y]` in pixels.
    Xy([f64; 2]),
}

impl Default for Position {
    fn default() -> Self {
        Self::Named("bottom".into())
    }
}

/// Scrolling of a caption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scroll {
    /// Right to left (a ticker).
    Left,
    /// Bottom to top (credits).
    Up,
}

/// A caption.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Text {
    /// The text; any characters (quotes, colons, `%`, emoji, non-Latin scripts). `\n` breaks lines.
    pub text: String,
    /// Output second the caption appears (default 0).
    #[serde(default)]
    pub start: f64,
    /// Output second it disappears (default the end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<f64>,
    /// Placement.
    #[serde(default)]
    pub position: Position,
    /// Font size in pixels (default height/16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u32>,
    /// Colour (`#rrggbb`, a name, optional `@alpha`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    /// Draw a translucent box behind the text.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub r#box: bool,
    /// A TrueType/OpenType font file (default DejaVu Sans); characters it lacks are drawn from
    /// other installed fonts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub font: Option<PathBuf>,
    /// Scroll the text instead of holding it still.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scroll: Option<Scroll>,
}

/// A music or sound track.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AudioTrack {
    /// The audio (or video with sound) file.
    pub src: PathBuf,
    /// Output second where it starts.
    #[serde(default)]
    pub start: f64,
    /// Volume factor.
    #[serde(default = "one")]
    pub volume: f64,
    /// Fade-in seconds.
    #[serde(default)]
    pub fade_in: f64,
    /// Fade-out seconds (ending at the output's end).
    #[serde(default)]
    pub fade_out: f64,
    /// Repeat the track until the output ends.
    #[serde(default, rename = "loop")]
    pub looped: bool,
}

/// An image or video drawn over the result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overlay {
    /// Image (logo) or video (picture-in-picture).
    pub src: PathBuf,
    /// Output second it appears.
    #[serde(default)]
    pub start: f64,
    /// Output second it disappears (default the end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<f64>,
    /// `top-left`, `top-right`, `bottom-left`, `bottom-right`, `center`, or `x,y`.
    #[serde(default = "default_corner")]
    pub position: String,
    /// Width as a fraction of the output width (0..1].
    #[serde(default = "default_overlay_width")]
    pub width: f64,
    /// Margin from the edges in pixels.
    #[serde(default = "default_margin")]
    pub margin: u32,
}

fn default_corner() -> String {
    "bottom-right".into()
}

fn default_overlay_width() -> f64 {
    0.25
}

fn default_margin() -> u32 {
    16
}

/// A subtitle file for the result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subtitles {
    /// `.srt` or `.ass` file, timed in output seconds.
    pub path: PathBuf,
    /// Burn into the picture (needs libass) instead of a switchable track.
    #[serde(default)]
    pub burn: bool,
}

impl Timeline {
    /// Reads a timeline from a `.json`, `.yaml` or `.yml` file; relative paths inside it are
    /// resolved against the file's folder.
    pub fn from_path(path: &Path) -> Result<Self, MediaError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| MediaError::io(format!("reading timeline `{}`", path.display()), e))?;
        let yaml = matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"));
        let mut tl = Self::parse(&text, yaml).map_err(|e| match e {
            MediaError::TimelineSyntax { message, .. } => {
                MediaError::TimelineSyntax { path: path.to_path_buf(), message }
            }
            other => other,
        })?;
        if let Some(base) = path.parent() {
            tl.rebase(base);
        }
        Ok(tl)
    }

    /// Parses a timeline from JSON (or YAML when `yaml`), reporting type errors at their path.
    pub fn parse(text: &str, yaml: bool) -> Result<Self, MediaError> {
        let syntax = |message: String| MediaError::TimelineSyntax {
            path: PathBuf::from("<timeline>"),
            message,
        };
        let value: serde_json::Value = if yaml {
            // libyaml takes time quadratic in the nesting of flow collections (`{"a": {"a": …`
            // 20,000 deep: two seconds; 100,000: minutes) before serde_norway's own depth
            // limit (128) refuses the document, so such a document is refused first.
            if flow_depth(text) > MAX_YAML_FLOW_DEPTH {
                return Err(syntax(format!(
                    "brackets nested more than {MAX_YAML_FLOW_DEPTH} deep; a timeline needs a handful"
                )));
            }
            serde_norway::from_str(text).map_err(|e| syntax(e.to_string()))?
        } else {
            serde_json::from_str(text).map_err(|e| syntax(e.to_string()))?
        };
        serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { "(top level)".to_string() } else { path };
            MediaError::Timeline(TimelineError::new(path, e.into_inner().to_string()))
        })
    }

    /// Every file the timeline reads: clip, audio and overlay sources and the subtitles.
    pub fn sources(&self) -> Vec<&Path> {
        let mut v: Vec<&Path> = self.clips.iter().filter_map(|c| c.src.as_deref()).collect();
        v.extend(self.audio.iter().map(|a| a.src.as_path()));
        v.extend(self.overlays.iter().map(|o| o.src.as_path()));
        v.extend(self.subtitles.iter().map(|s| s.path.as_path()));
        v
    }

    /// Makes relative source paths relative to `base`.
    pub fn rebase(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() && !base.as_os_str().is_empty() {
                *p = base.join(&*p);
            }
        };
        if !self.output.path.as_os_str().is_empty() {
            fix(&mut self.output.path);
        }
        for c in &mut self.clips {
            if let Some(src) = c.src.as_mut() {
                fix(src);
            }
        }
        for a in &mut self.audio {
            fix(&mut a.src);
        }
        for o in &mut self.overlays {
            fix(&mut o.src);
        }
        for t in &mut self.texts {
            if let Some(f) = t.font.as_mut() {
                fix(f);
            }
        }
        if let Some(s) = self.subtitles.as_mut() {
            fix(&mut s.path);
        }
    }

    /// Checks everything that needs no file access. Errors name the JSON path.
    pub fn validate(&self) -> Result<(), TimelineError> {
        fn err(path: impl Into<String>, message: impl Into<String>) -> TimelineError {
            TimelineError::new(path, message)
        }
        let o = &self.output;
        if o.path.as_os_str().is_empty() {
            return Err(err(
                "output.path",
                "no output file: give `output.path` in the timeline, or `-o FILE`",
            ));
        }
        let container = crate::tools::encoder::Container::from_path(&o.path).ok_or_else(|| {
            err("output.path", "the extension must be `.mp4`, `.mov`, `.mkv` or `.webm`")
        })?;
        if !container.allows(o.codec) {
            return Err(err(
                "output.codec",
                format!(
                    "`{}` cannot go into `{}`; use h264/h265 for .mp4/.mov, vp9/av1 for .webm, anything for .mkv",
                    format!("{:?}", o.codec).to_lowercase(),
                    o.path.extension().and_then(|e| e.to_str()).unwrap_or_default()
                ),
            ));
        }
        for (name, v) in [("width", o.width), ("height", o.height)] {
            if let Some(v) = v
                && (!(16..=8192).contains(&v) || v % 2 != 0)
            {
                return Err(err(
                    format!("output.{name}"),
                    format!("`{v}` is not allowed; use an even number from 16 to 8192"),
                ));
            }
        }
        if let Some(fps) = o.fps
            && !(fps.is_finite() && (1.0..=120.0).contains(&fps))
        {
            return Err(err("output.fps", format!("`{fps}` is not allowed; use 1 to 120")));
        }
        if let Some(crf) = o.crf
            && crf > 63
        {
            return Err(err("output.crf", format!("`{crf}` is not allowed; use 0 to 63")));
        }
        if let Some(p) = &o.preset {
            const PRESETS: &[&str] = &[
                "ultrafast",
                "superfast",
                "veryfast",
                "faster",
                "fast",
                "medium",
                "slow",
                "slower",
                "veryslow",
            ];
            if !PRESETS.contains(&p.as_str()) {
                return Err(err(
                    "output.preset",
                    format!("`{p}` is unknown; use one of {}", PRESETS.join(", ")),
                ));
            }
        }
        if let Some(b) = &o.audio_bitrate {
            let digits = b.trim_end_matches(['k', 'K']);
            if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
                return Err(err(
                    "output.audio_bitrate",
                    format!("`{b}` is not a bitrate; write e.g. `192k`"),
                ));
            }
        }
        if self.clips.is_empty() {
            return Err(err("clips", "a timeline needs at least one clip"));
        }
        let n = self.clips.len();
        for (i, c) in self.clips.iter().enumerate() {
            let p = |f: &str| format!("clips[{i}].{f}");
            match (&c.src, &c.color) {
                (Some(_), Some(_)) => {
                    return Err(err(
                        format!("clips[{i}]"),
                        "give either `src` or `color`, not both",
                    ));
                }
                (None, None) => {
                    return Err(err(
                        format!("clips[{i}]"),
                        "a clip needs `src` (a video or image) or `color`",
                    ));
                }
                (None, Some(col)) => {
                    if crate::filter::color(col).is_none() {
                        return Err(err(
                            p("color"),
                            format!(
                                "`{col}` is not a colour; write `#rrggbb` or a name like `black`"
                            ),
                        ));
                    }
                    if c.duration.is_none() {
                        return Err(err(
                            p("duration"),
                            "a colour clip needs a `duration` in seconds",
                        ));
                    }
                    if c.from.is_some() || c.to.is_some() {
                        return Err(err(
                            p(if c.from.is_some() { "from" } else { "to" }),
                            "only video clips have `from`/`to`",
                        ));
                    }
                }
                (Some(_), None) => {}
            }
            for (name, v) in [
                ("from", c.from),
                ("to", c.to),
                ("duration", c.duration),
                ("fade_in", c.fade_in),
                ("fade_out", c.fade_out),
            ] {
                if let Some(v) = v
                    && !(v.is_finite() && v >= 0.0)
                {
                    return Err(err(
                        p(name),
                        format!("`{v}` is not allowed; use a number of seconds, 0 or more"),
                    ));
                }
            }
            if let Some(d) = c.duration
                && d <= 0.0
            {
                return Err(err(p("duration"), "must be more than 0 seconds"));
            }
            if let (Some(f), Some(t)) = (c.from, c.to)
                && t <= f
            {
                return Err(err(p("to"), format!("`to` ({t}) must be after `from` ({f})")));
            }
            if c.to.is_some() && c.duration.is_some() {
                return Err(err(p("duration"), "give either `to` or `duration`, not both"));
            }
            if !(c.speed.is_finite() && (0.25..=4.0).contains(&c.speed)) {
                return Err(err(
                    p("speed"),
                    format!("`{}` is not allowed; use 0.25 to 4", c.speed),
                ));
            }
            if !(c.volume.is_finite() && (0.0..=10.0).contains(&c.volume)) {
                return Err(err(
                    p("volume"),
                    format!("`{}` is not allowed; use 0 to 10", c.volume),
                ));
            }
            if let Some(eq) = c.eq {
                for (name, v, lo, hi) in [
                    ("brightness", eq.brightness, -1.0, 1.0),
                    ("contrast", eq.contrast, 0.0, 4.0),
                    ("saturation", eq.saturation, 0.0, 3.0),
                    ("gamma", eq.gamma, 0.1, 10.0),
                ] {
                    if !(v.is_finite() && (lo..=hi).contains(&v)) {
                        return Err(err(
                            p(&format!("eq.{name}")),
                            format!("`{v}` is not allowed; use {lo} to {hi}"),
                        ));
                    }
                }
            }
            if let Some(b) = c.blur
                && !(b.sigma.is_finite() && b.sigma > 0.0 && b.sigma <= 100.0)
            {
                return Err(err(
                    p("blur.sigma"),
                    format!("`{}` is not allowed; use more than 0 up to 100", b.sigma),
                ));
            }
            if let Some(r) = c.crop
                && (r.width < 2 || r.height < 2)
            {
                return Err(err(p("crop"), "the crop must be at least 2x2 pixels"));
            }
            if let Some(t) = &c.transition {
                if !TRANSITIONS.contains(&t.kind.as_str()) {
                    return Err(err(
                        p("transition.type"),
                        format!(
                            "`{}` is not a transition; use `cut` or an xfade name such as fade, dissolve, wipeleft, slideup, circleopen",
                            t.kind
                        ),
                    ));
                }
                if i + 1 == n && t.kind != "cut" {
                    return Err(err(
                        p("transition"),
                        "the last clip has no next clip to transition into",
                    ));
                }
                if !(t.duration.is_finite() && t.duration > 0.0 && t.duration <= 10.0)
                    && t.kind != "cut"
                {
                    return Err(err(
                        p("transition.duration"),
                        format!(
                            "`{}` is not allowed; use more than 0 up to 10 seconds",
                            t.duration
                        ),
                    ));
                }
            }
        }
        // Transition lengths against the clip lengths known without probing.
        for i in 0..n {
            let Some(len) = self.static_length(i) else { continue };
            let tin = if i > 0 { self.transition_seconds(i - 1) } else { 0.0 };
            let tout = self.transition_seconds(i);
            if tin + tout > len + 1e-9 {
                let at = if tout > 0.0 {
                    format!("clips[{i}].transition.duration")
                } else {
                    format!("clips[{}].transition.duration", i - 1)
                };
                return Err(err(
                    at,
                    format!(
                        "transitions of {}s overlap clip {i}, which is only {}s long; shorten them or lengthen the clip",
                        tin + tout,
                        len
                    ),
                ));
            }
        }
        for (i, t) in self.texts.iter().enumerate() {
            let p = |f: &str| format!("texts[{i}].{f}");
            if t.text.is_empty() {
                return Err(err(p("text"), "the text is empty"));
            }
            if let Some(end) = t.end
                && end <= t.start
            {
                return Err(err(
                    p("end"),
                    format!("`end` ({end}) must be after `start` ({})", t.start),
                ));
            }
            if !(t.start.is_finite() && t.start >= 0.0) {
                return Err(err(p("start"), "use a number of seconds, 0 or more"));
            }
            if let Some(c) = &t.color
                && crate::filter::color(c).is_none()
            {
                return Err(err(
                    p("color"),
                    format!(
                        "`{c}` is not a colour; write `#rrggbb`, a name, optionally `@0.5` for alpha"
                    ),
                ));
            }
            if let Some(s) = t.size
                && !(4..=1000).contains(&s)
            {
                return Err(err(p("size"), format!("`{s}` is not allowed; use 4 to 1000 pixels")));
            }
            if let Position::Named(name) = &t.position
                && crate::captions::named_anchor(name, 1.0, 1.0).is_none()
            {
                return Err(err(
                    p("position"),
                    format!(
                        "`{name}` is not a position; use top, center, bottom, top-left, top-right, bottom-left, bottom-right or `x,y`"
                    ),
                ));
            }
        }
        for (i, a) in self.audio.iter().enumerate() {
            let p = |f: &str| format!("audio[{i}].{f}");
            for (name, v) in [("start", a.start), ("fade_in", a.fade_in), ("fade_out", a.fade_out)]
            {
                if !(v.is_finite() && v >= 0.0) {
                    return Err(err(
                        p(name),
                        format!("`{v}` is not allowed; use seconds, 0 or more"),
                    ));
                }
            }
            if !(a.volume.is_finite() && (0.0..=10.0).contains(&a.volume)) {
                return Err(err(
                    p("volume"),
                    format!("`{}` is not allowed; use 0 to 10", a.volume),
                ));
            }
        }
        for (i, ov) in self.overlays.iter().enumerate() {
            let p = |f: &str| format!("overlays[{i}].{f}");
            if !(ov.width.is_finite() && ov.width > 0.0 && ov.width <= 1.0) {
                return Err(err(
                    p("width"),
                    format!(
                        "`{}` is not allowed; use a fraction of the output width, more than 0 up to 1",
                        ov.width
                    ),
                ));
            }
            if overlay_anchor(&ov.position, 0).is_none() {
                return Err(err(
                    p("position"),
                    format!(
                        "`{}` is not a position; use top-left, top-right, bottom-left, bottom-right, center or `x,y`",
                        ov.position
                    ),
                ));
            }
            if let Some(end) = ov.end
                && end <= ov.start
            {
                return Err(err(p("end"), "`end` must be after `start`"));
            }
        }
        Ok(())
    }

    /// Timeline length of clip `i` when it is known without probing (stills, colours,
    /// videos with `to` or `duration`).
    pub(crate) fn static_length(&self, i: usize) -> Option<f64> {
        let c = &self.clips[i];
        if c.color.is_some() {
            return c.duration;
        }
        if let Some(d) = c.duration {
            return Some(d);
        }
        match (c.from, c.to) {
            (f, Some(t)) => Some((t - f.unwrap_or(0.0)) / c.speed),
            _ => None,
        }
    }

    /// Seconds of overlap between clip `i` and clip `i + 1`.
    pub(crate) fn transition_seconds(&self, i: usize) -> f64 {
        match self.clips.get(i).and_then(|c| c.transition.as_ref()) {
            Some(t) if t.kind != "cut" && i + 1 < self.clips.len() => t.duration,
            _ => 0.0,
        }
    }
}

/// Deeper than any timeline, and than serde_norway's own limit (128), which would refuse it
/// anyway, only later.
const MAX_YAML_FLOW_DEPTH: usize = 256;

/// The deepest nesting of `[`/`{` in `text`, quotes ignored: brackets inside quoted strings can
/// only overcount, and a document needs hundreds of unclosed ones to be refused for that.
fn flow_depth(text: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    for b in text.bytes() {
        match b {
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// overlay x/y expressions for a named corner with a margin.
pub(crate) fn overlay_anchor(name: &str, margin: u32) -> Option<(String, String)> {
    let m = margin;
    let pair = |x: String, y: String| Some((x, y));
    match name {
        "top-left" => pair(format!("{m}"), format!("{m}")),
        "top-right" => pair(format!("W-w-{m}"), format!("{m}")),
        "bottom-left" => pair(format!("{m}"), format!("H-h-{m}")),
        "bottom-right" => pair(format!("W-w-{m}"), format!("H-h-{m}")),
        "center" | "centre" => pair("(W-w)/2".into(), "(H-h)/2".into()),
        other => {
            let (x, y) = other.split_once(',')?;
            let (x, y) = (x.trim().parse::<f64>().ok()?, y.trim().parse::<f64>().ok()?);
            pair(crate::filter::secs(x), crate::filter::secs(y))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tl(json: &str) -> Result<Timeline, MediaError> {
        Timeline::parse(json, false)
    }

    #[test]
    fn type_errors_carry_json_path() {
        let e =
            tl(r#"{"output":{"path":"o.mp4"},"clips":[{"src":"a.mp4"},{"src":"b.mp4","to":"x"}]}"#)
                .unwrap_err();
        let MediaError::Timeline(e) = e else { panic!("{e}") };
        assert_eq!(e.path, "clips[1].to");
        let e = tl(r#"{"output":{"path":"o.mp4"},"clips":[{"src":"a.mp4","fit":"zoom"}]}"#)
            .unwrap_err();
        assert!(e.to_string().contains("clips[0].fit"), "{e}");
        assert!(e.to_string().contains("contain"), "{e}");
    }

    #[test]
    fn yaml_parses() {
        let t = Timeline::parse(
            "output: {path: o.mp4}\nclips:\n  - color: '#ff0000'\n    duration: 1\n",
            true,
        )
        .unwrap();
        assert_eq!(t.clips[0].color.as_deref(), Some("#ff0000"));
        t.validate().unwrap();
    }

    #[test]
    fn deeply_nested_yaml_is_refused_at_once() {
        // Found by fuzzing (tests/it/fuzz.rs): 100,000 nested flow mappings kept libyaml busy
        // for over a minute before the depth limit refused them.
        let text = format!("{}1{}", "{\"a\": ".repeat(100_000), "}".repeat(100_000));
        let e = Timeline::parse(&text, true).unwrap_err();
        assert!(e.to_string().contains("nested more than 256 deep"), "{e}");
        let fine = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        assert!(!Timeline::parse(&fine, true).unwrap_err().to_string().contains("nested more"));
    }

    #[test]
    fn validation_points_at_paths() {
        let cases = [
            (
                r#"{"output":{"path":"o.mp4"},"clips":[{"color":"black","duration":1,"transition":{"type":"zap"}},{"color":"black","duration":1}]}"#,
                "clips[0].transition.type",
            ),
            (
                r#"{"output":{"path":"o.mp4"},"clips":[{"color":"black","duration":1,"transition":{"type":"fade","duration":2}},{"color":"black","duration":3}]}"#,
                "clips[0].transition.duration",
            ),
            (
                r#"{"output":{"path":"o.mp4","width":161},"clips":[{"color":"black","duration":1}]}"#,
                "output.width",
            ),
            (
                r#"{"output":{"path":"o.mp4","codec":"vp9"},"clips":[{"color":"black","duration":1}]}"#,
                "output.codec",
            ),
            (
                r#"{"output":{"path":"o.mp4"},"clips":[{"src":"a.mp4","from":2,"to":1}]}"#,
                "clips[0].to",
            ),
            (
                r#"{"output":{"path":"o.mp4"},"clips":[{"color":"black","duration":1}],"texts":[{"text":"x","position":"left-ish"}]}"#,
                "texts[0].position",
            ),
        ];
        for (json, path) in cases {
            let e = tl(json).unwrap().validate().unwrap_err();
            assert_eq!(e.path, path, "{e}");
        }
    }
}
