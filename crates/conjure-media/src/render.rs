//! Rendering a [`Timeline`]: probe, plan, decode segments into one encoder, mux by stream copy.
//!
//! Key terms:
//! - *clip length* `L`: a clip's frames on the timeline; a transition of `T` frames overlaps the
//!   last `T` frames of one clip with the first `T` of the next, so the output has
//!   `sum(L) - sum(T)` frames exactly.
//! - *segment*: one ffmpeg run (a *producer*) that decodes and filters an exact number of output
//!   frames and writes them raw to its stdout: a clip's body followed by its transition into the
//!   next clip (the clip's tail and the next clip's head through `xfade`). A segment has at most
//!   two clip inputs plus overlays, so its memory does not grow with the number of clips.
//! - *encoder*: one ffmpeg run that reads every segment's frames from its stdin, in order, and
//!   encodes each output frame exactly once. Why one: x264's lookahead is most of an encoder's
//!   memory (~0.25 GB at 720p), so two encoders at once cost twice that, and one encoder already
//!   keeps two cores busy. Segments run concurrently with it (the next one starts while the
//!   current one drains), so decoding overlaps encoding. The frame count of every segment is
//!   checked byte for byte.
//! - *audio pass*: the whole soundtrack (clip sound or silence, `acrossfade` at transitions, music
//!   mixed) rendered as one audio-only run beside the video; audio is cheap to hold. The video and
//!   the soundtrack are then muxed by stream copy.
//!
//! A timeline of matching, untouched videos joined by hard cuts skips all of this and is joined
//! by stream copy directly. What this module does not do: decide whether an output format is
//! allowed for delivery (the CLI's policy) or retry a failed ffmpeg run (R7).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::filter::{
    Container, Encoding, VideoEncoder, atempo_chain, container_args, escape_path, escape_value,
    even, fit_graph, secs,
};
use crate::probe::MediaInfo;
use crate::progress::Progress;
use crate::timeline::{Clip, Motion, Timeline, overlay_anchor};
use crate::tools::{Invocation, Piece, Pipeline};
use crate::{Ffmpeg, MediaError, TimelineError};

/// Options for [`render`].
#[derive(Clone, Copy, Default)]
pub struct RenderOptions<'a> {
    /// Called from worker threads as work completes.
    pub progress: Option<&'a (dyn Fn(Progress) + Sync)>,
    /// Keep the working folder (for debugging); its path is in the report.
    pub keep_temp: bool,
    /// Told (sources probed, distinct sources) while the sources are read, before any frame.
    pub probing: Option<&'a (dyn Fn(usize, usize) + Sync)>,
}

impl std::fmt::Debug for RenderOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderOptions").field("keep_temp", &self.keep_temp).finish_non_exhaustive()
    }
}

/// One ffmpeg command that ran, for reports and the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommandRecord {
    /// What the step did.
    pub step: String,
    /// The exact arguments after `ffmpeg`.
    pub args: Vec<String>,
}

impl From<&Invocation> for CommandRecord {
    fn from(inv: &Invocation) -> Self {
        Self { step: inv.step.clone(), args: inv.display_args() }
    }
}

/// What a render produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RenderReport {
    /// The written file.
    pub output: PathBuf,
    /// Output length in seconds (frames / fps).
    pub duration: f64,
    /// Output video frames.
    pub frames: u64,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frames per second.
    pub fps: f64,
    /// Whether the output has an audio track.
    pub audio: bool,
    /// True when nothing was re-encoded (hard-cut join of matching inputs).
    pub stream_copy: bool,
    /// Video segments (producer runs) rendered; 0 for a pure stream copy.
    pub segments: usize,
    /// Every ffmpeg command that ran, in plan order.
    pub commands: Vec<CommandRecord>,
    /// Things the user should know (e.g. a hardware encoder asked for but absent).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The working folder, when kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temp_dir: Option<PathBuf>,
}

/// An exact frame rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rate {
    pub num: u32,
    pub den: u32,
}

impl Rate {
    pub(crate) fn from_f64(fps: f64) -> Self {
        if (fps - fps.round()).abs() < 1e-6 {
            return Self { num: fps.round() as u32, den: 1 };
        }
        let ntsc = fps * 1.001;
        if (ntsc - ntsc.round()).abs() < 0.005 {
            return Self { num: ntsc.round() as u32 * 1000, den: 1001 };
        }
        Self { num: (fps * 1000.0).round() as u32, den: 1000 }
    }

    pub(crate) fn value(self) -> f64 {
        f64::from(self.num) / f64::from(self.den)
    }

    pub(crate) fn frames(self, seconds: f64) -> u64 {
        (seconds * self.value()).round().max(0.0) as u64
    }

    pub(crate) fn seconds(self, frames: u64) -> f64 {
        frames as f64 * f64::from(self.den) / f64::from(self.num)
    }

    pub(crate) fn expr(self) -> String {
        if self.den == 1 { self.num.to_string() } else { format!("{}/{}", self.num, self.den) }
    }
}

#[derive(Debug, Clone)]
enum Source {
    Video { path: PathBuf, info: Box<MediaInfo> },
    Image { path: PathBuf },
    Color { color: String },
}

#[derive(Debug, Clone)]
struct PlannedClip {
    clip: Clip,
    source: Source,
    /// Source second where the clip starts (videos).
    from: f64,
    /// Timeline frames.
    frames: u64,
    /// Whether the clip contributes its own sound.
    audio: bool,
}

#[derive(Debug)]
struct Plan {
    width: u32,
    height: u32,
    rate: Rate,
    clips: Vec<PlannedClip>,
    /// Transition frames after clip `i` (0 for a cut) and its xfade name.
    transitions: Vec<(u64, String)>,
    total_frames: u64,
    container: Container,
    encoding: Encoding,
}

impl Plan {
    #[cfg(test)]
    fn clip_start(&self, i: usize) -> u64 {
        (0..i).map(|k| self.clips[k].frames - self.transitions[k].0).sum()
    }
}

/// Clip `clip` from its frame `start`: `body` frames of its own, then (when `transition > 0`)
/// the transition into the next clip.
#[derive(Debug, Clone)]
struct Segment {
    clip: usize,
    start: u64,
    body: u64,
    transition: u64,
    out_start: u64,
}

impl Segment {
    fn frames(&self) -> u64 {
        self.body + self.transition
    }
}

fn tl_err(path: String, message: String) -> MediaError {
    MediaError::Timeline(TimelineError::new(path, message))
}

fn probe_clip_source(ff: &Ffmpeg, path: &Path, json_path: &str) -> Result<MediaInfo, MediaError> {
    // Whole-file sources: MP4/MOV headers are read in-process, anything else through ffprobe.
    match ff.probe_fast(path) {
        Ok(info) => Ok(info),
        Err(MediaError::MissingInput { path }) => Err(tl_err(
            json_path.to_string(),
            format!("the file `{}` does not exist", path.display()),
        )),
        Err(MediaError::NotMedia { path, detail }) => Err(tl_err(
            json_path.to_string(),
            format!(
                "`{}` is not a video, image or audio file ffmpeg can read ({detail})",
                path.display()
            ),
        )),
        Err(e) => Err(e),
    }
}

fn build_plan(
    ff: &Ffmpeg,
    tl: &Timeline,
    probing: Option<&(dyn Fn(usize, usize) + Sync)>,
) -> Result<Plan, MediaError> {
    tl.validate()?;
    let out = &tl.output;
    let container = Container::from_path(&out.path).unwrap_or(Container::Mp4);
    // Probe each distinct source once (a timeline may use one file thousands of times), a few
    // at a time: ffprobe start-up dominates a stream-copy join.
    let mut distinct: Vec<(&Path, usize)> = Vec::new();
    let mut index = std::collections::HashMap::new();
    let slots: Vec<Option<usize>> = tl
        .clips
        .iter()
        .enumerate()
        .map(|(i, c)| {
            c.src.as_deref().map(|src| {
                *index.entry(src).or_insert_with(|| {
                    distinct.push((src, i));
                    distinct.len() - 1
                })
            })
        })
        .collect();
    let mut probed_infos = Vec::with_capacity(distinct.len());
    for chunk in distinct.chunks(8) {
        let probed: Vec<Result<MediaInfo, MediaError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|(src, i)| {
                    scope.spawn(move || probe_clip_source(ff, src, &format!("clips[{i}].src")))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(MediaError::option("clips", "probing panicked")))
                })
                .collect()
        });
        for p in probed {
            probed_infos.push(p?);
        }
        if let Some(cb) = probing {
            cb(probed_infos.len(), distinct.len());
        }
    }
    let infos: Vec<Option<MediaInfo>> =
        slots.iter().map(|s| s.map(|k| probed_infos[k].clone())).collect();
    let first_visual = infos.iter().flatten().find_map(|i| i.video.clone());
    let rate = match (
        out.fps,
        infos.iter().flatten().find_map(|i| i.video.clone().filter(|v| !v.still)),
    ) {
        (Some(f), _) => Rate::from_f64(f),
        (None, Some(v)) if v.fps_num > 0 && v.fps_den > 0 && v.fps() <= 120.0 => {
            Rate { num: v.fps_num, den: v.fps_den }
        }
        _ => Rate { num: 30, den: 1 },
    };
    let (width, height) = match (out.width, out.height, &first_visual) {
        (Some(w), Some(h), _) => (w, h),
        (Some(w), None, Some(v)) => {
            (w, even(f64::from(w) * f64::from(v.height) / f64::from(v.width.max(1))))
        }
        (None, Some(h), Some(v)) => {
            (even(f64::from(h) * f64::from(v.width) / f64::from(v.height.max(1))), h)
        }
        (None, None, Some(v)) => (even(f64::from(v.width)), even(f64::from(v.height))),
        (w, h, None) => (w.unwrap_or(1280), h.unwrap_or(720)),
    };
    let mut clips = Vec::with_capacity(tl.clips.len());
    for (i, (c, info)) in tl.clips.iter().zip(infos).enumerate() {
        let p = |f: &str| format!("clips[{i}].{f}");
        let planned = match (info, &c.color) {
            (None, Some(color)) => PlannedClip {
                clip: c.clone(),
                source: Source::Color {
                    color: crate::filter::color(color).unwrap_or_else(|| "black".into()),
                },
                from: 0.0,
                frames: rate.frames(c.duration.unwrap_or(1.0)),
                audio: false,
            },
            (Some(info), _) => {
                let path = info.path.clone();
                let Some(video) = info.video.clone() else {
                    return Err(tl_err(
                        p("src"),
                        format!(
                            "`{}` has no picture; put audio files under `audio`",
                            path.display()
                        ),
                    ));
                };
                if video.still {
                    if c.from.is_some() || c.to.is_some() {
                        return Err(tl_err(
                            p(if c.from.is_some() { "from" } else { "to" }),
                            "an image has no `from`/`to`; use `duration`".into(),
                        ));
                    }
                    PlannedClip {
                        clip: c.clone(),
                        source: Source::Image { path },
                        from: 0.0,
                        frames: rate.frames(c.duration.unwrap_or(3.0)),
                        audio: false,
                    }
                } else {
                    let len = info.video_duration();
                    let from = c.from.unwrap_or(0.0);
                    let slack = 0.5 / video.fps().max(1.0);
                    if from >= len - slack {
                        return Err(tl_err(
                            p("from"),
                            format!(
                                "`from` ({from}) is at or beyond the end of `{}` ({}s)",
                                path.display(),
                                secs(len)
                            ),
                        ));
                    }
                    let to = match (c.to, c.duration) {
                        (Some(t), _) => {
                            if t > len + slack {
                                return Err(tl_err(
                                    p("to"),
                                    format!(
                                        "`to` ({t}) is beyond the end of `{}`; the source is {}s long",
                                        path.display(),
                                        secs(len)
                                    ),
                                ));
                            }
                            t.min(len)
                        }
                        (None, Some(d)) => {
                            let t = from + d * c.speed;
                            if t > len + slack {
                                return Err(tl_err(
                                    p("duration"),
                                    format!(
                                        "`duration` ({d}s) runs past the end of `{}`; at most {}s from `from` at this speed",
                                        path.display(),
                                        secs((len - from) / c.speed)
                                    ),
                                ));
                            }
                            t.min(len)
                        }
                        (None, None) => len,
                    };
                    let frames = rate.frames((to - from) / c.speed);
                    if frames == 0 {
                        return Err(tl_err(p("to"), "the clip is shorter than one frame".into()));
                    }
                    PlannedClip {
                        clip: c.clone(),
                        source: Source::Video { path, info: Box::new(info.clone()) },
                        from,
                        frames,
                        audio: c.keep_audio && info.audio.is_some(),
                    }
                }
            }
            (None, None) => {
                return Err(tl_err(format!("clips[{i}]"), "a clip needs `src` or `color`".into()));
            }
        };
        clips.push(planned);
    }
    let mut transitions = Vec::with_capacity(clips.len());
    for (i, c) in tl.clips.iter().enumerate() {
        let t = tl.transition_seconds(i);
        if t > 0.0 {
            // Only asked for when there is a transition, so a copy-only join spawns no extra ffmpeg.
            let caps = ff.capabilities();
            let kind = c.transition.as_ref().map(|t| t.kind.clone()).unwrap_or_default();
            if !caps.transitions.is_empty() && !caps.transitions.contains(&kind) {
                return Err(tl_err(
                    format!("clips[{i}].transition.type"),
                    format!("your ffmpeg ({}) does not know the transition `{kind}`", caps.version),
                ));
            }
            transitions.push((rate.frames(t).max(1), kind));
        } else {
            transitions.push((0, String::new()));
        }
    }
    for i in 0..clips.len() {
        let tin = if i > 0 { transitions[i - 1].0 } else { 0 };
        let tout = transitions[i].0;
        if tin + tout > clips[i].frames {
            let at = if tout > 0 { i } else { i - 1 };
            return Err(tl_err(
                format!("clips[{at}].transition.duration"),
                format!(
                    "transitions need {}s of clip {i}, which is only {}s long; shorten the transition or lengthen the clip",
                    secs(rate.seconds(tin + tout)),
                    secs(rate.seconds(clips[i].frames))
                ),
            ));
        }
    }
    let total_frames =
        clips.iter().map(|c| c.frames).sum::<u64>() - transitions.iter().map(|t| t.0).sum::<u64>();
    if transitions.iter().any(|t| t.0 > 0) {
        ff.require_filter("xfade", "transitions")?;
    }
    if !tl.texts.is_empty() {
        ff.require_filter("ass", "captions (`texts`, drawn with libass)")?;
        for (i, t) in tl.texts.iter().enumerate() {
            if let Some(problem) = t.font.as_deref().and_then(crate::captions::font_problem) {
                return Err(tl_err(format!("texts[{i}].font"), problem));
            }
        }
    }
    if let Some(s) = &tl.subtitles {
        if !s.path.is_file() {
            return Err(tl_err(
                "subtitles.path".into(),
                format!("the file `{}` does not exist", s.path.display()),
            ));
        }
        if s.burn {
            ff.require_filter("subtitles", "burned-in subtitles (libass)")?;
        }
    }
    for (i, a) in tl.audio.iter().enumerate() {
        let info = probe_clip_source(ff, &a.src, &format!("audio[{i}].src"))?;
        if info.audio.is_none() {
            return Err(tl_err(
                format!("audio[{i}].src"),
                format!("`{}` has no sound", a.src.display()),
            ));
        }
    }
    for (i, o) in tl.overlays.iter().enumerate() {
        probe_clip_source(ff, &o.src, &format!("overlays[{i}].src"))?;
    }
    let encoding = Encoding {
        codec: out.codec,
        preset: out.preset.clone(),
        crf: out.crf,
        audio_bitrate: out.audio_bitrate.clone(),
        hardware: out.hardware,
    };
    Ok(Plan { width, height, rate, clips, transitions, total_frames, container, encoding })
}

fn segments(plan: &Plan) -> Vec<Segment> {
    let mut out = Vec::with_capacity(plan.clips.len());
    let mut pos = 0;
    for (i, c) in plan.clips.iter().enumerate() {
        let tin = if i > 0 { plan.transitions[i - 1].0 } else { 0 };
        let tout = plan.transitions[i].0;
        let seg = Segment {
            clip: i,
            start: tin,
            body: c.frames - tin - tout,
            transition: tout,
            out_start: pos,
        };
        pos += seg.frames();
        if seg.frames() > 0 {
            out.push(seg);
        }
    }
    out
}

/// Adds inputs and a filter chain producing frames `[a, a+n)` of clip `ci` as `[{label}]`,
/// timestamps from 0.
#[expect(
    clippy::many_single_char_names,
    reason = "w/h/x/y/a/n are the names ffmpeg's own filter docs use"
)]
fn clip_chain(
    plan: &Plan,
    ci: usize,
    a: u64,
    n: u64,
    inv: &mut Invocation,
    inputs: &mut usize,
    label: &str,
) -> String {
    let pc = &plan.clips[ci];
    let c = &pc.clip;
    let (w, h, rate) = (plan.width, plan.height, plan.rate);
    let fit = c.fit;
    let mut g = String::new();
    let raw = format!("{label}raw");
    match &pc.source {
        Source::Video { path, info } => {
            let first = if c.reverse { pc.frames - a - n } else { a };
            let start = pc.from + rate.seconds(first) * c.speed;
            let read = rate.seconds(n + 3) * c.speed;
            // One decoding thread: a segment only has to keep ahead of the encoder, and frame
            // threads would hold a picture buffer set each.
            inv.args(["-threads", "1", "-ss", &secs(start), "-t", &secs(read), "-i"]);
            inv.arg(crate::tools::file_arg(path));
            let k = *inputs;
            *inputs += 1;
            let mut pre = String::new();
            if let Some(r) = c.crop {
                let _ = write!(pre, "crop={}:{}:{}:{},", r.width, r.height, r.x, r.y);
            }
            if (c.speed - 1.0).abs() > 1e-9 {
                let _ = write!(pre, "setpts=(PTS-STARTPTS)/{},", secs(c.speed));
            } else {
                pre.push_str("setpts=PTS-STARTPTS,");
            }
            let _ = write!(g, "[{k}:v]{pre}fps={}[{label}pre];", rate.expr());
            let same_size = c.crop.is_none()
                && info.video.as_ref().is_some_and(|v| (v.width, v.height) == (w, h));
            if same_size {
                // Every fit of a frame already the output's size is the frame itself.
                let _ = write!(g, "[{label}pre]setsar=1[{raw}];");
            } else {
                g.push_str(&fit_graph(&format!("{label}pre"), &raw, fit, w, h, "black", label));
                g.push(';');
            }
        }
        Source::Image { path } => {
            inv.arg("-i").arg(crate::tools::file_arg(path));
            let k = *inputs;
            *inputs += 1;
            let crop = c
                .crop
                .map(|r| format!("crop={}:{}:{}:{},", r.width, r.height, r.x, r.y))
                .unwrap_or_default();
            let _ = write!(g, "[{k}:v]{crop}format=yuv420p[{label}img];");
            if c.motion == Motion::None {
                g.push_str(&fit_graph(
                    &format!("{label}img"),
                    &format!("{label}fit"),
                    fit,
                    w,
                    h,
                    "black",
                    label,
                ));
                // The picture's own time base (1/25 for image2) cannot hold every frame time
                // of other rates; the output's can.
                let _ = write!(
                    g,
                    ";[{label}fit]loop=loop={}:size=1,settb=expr={}/{},setpts=N[{raw}];",
                    n.saturating_sub(1),
                    rate.den,
                    rate.num
                );
            } else {
                // Work at twice the size so zoompan's integer offsets do not jitter.
                g.push_str(&fit_graph(
                    &format!("{label}img"),
                    &format!("{label}fit"),
                    fit,
                    w * 2,
                    h * 2,
                    "black",
                    label,
                ));
                let total = pc.frames.max(1) as f64;
                let prog = format!("((on+{a})/{})", secs(total));
                let (z, x, y) = match c.motion {
                    Motion::ZoomIn => (
                        format!("1+0.2*{prog}"),
                        "iw/2-(iw/zoom/2)".to_string(),
                        "ih/2-(ih/zoom/2)".to_string(),
                    ),
                    Motion::ZoomOut => (
                        format!("1.2-0.2*{prog}"),
                        "iw/2-(iw/zoom/2)".to_string(),
                        "ih/2-(ih/zoom/2)".to_string(),
                    ),
                    Motion::PanLeft => (
                        "1.2".to_string(),
                        format!("(iw-iw/zoom)*(1-{prog})"),
                        "ih/2-(ih/zoom/2)".to_string(),
                    ),
                    Motion::PanRight | Motion::None => (
                        "1.2".to_string(),
                        format!("(iw-iw/zoom)*{prog}"),
                        "ih/2-(ih/zoom/2)".to_string(),
                    ),
                };
                let _ = write!(
                    g,
                    ";[{label}fit]zoompan=z={}:x={}:y={}:d={n}:s={w}x{h}:fps={},setsar=1,setpts=N*{}/{}/TB[{raw}];",
                    escape_value(&z),
                    escape_value(&x),
                    escape_value(&y),
                    rate.expr(),
                    rate.den,
                    rate.num
                );
            }
        }
        Source::Color { color } => {
            let _ = write!(g, "color=c={color}:s={w}x{h}:r={},setsar=1[{raw}];", rate.expr());
        }
    }
    // Effects, exact length, then fades in clip-local time.
    let mut post = String::new();
    if c.greyscale {
        post.push_str("hue=s=0,");
    }
    if let Some(eq) = c.eq {
        let _ = write!(
            post,
            "eq=brightness={}:contrast={}:saturation={}:gamma={},",
            secs(eq.brightness),
            secs(eq.contrast),
            secs(eq.saturation),
            secs(eq.gamma)
        );
    }
    let _ = write!(post, "tpad=stop_mode=clone:stop={n},trim=end_frame={n},");
    if c.reverse && matches!(pc.source, Source::Video { .. }) {
        post.push_str("reverse,");
    }
    let fade_in = c.fade_in.filter(|f| *f > 0.0);
    let fade_out = c.fade_out.filter(|f| *f > 0.0);
    if fade_in.is_some() || fade_out.is_some() {
        let _ = write!(post, "setpts=PTS-STARTPTS+{}/TB,", secs(rate.seconds(a)));
        if let Some(f) = fade_in {
            let _ = write!(post, "fade=t=in:st=0:d={},", secs(f));
        }
        if let Some(f) = fade_out {
            let total = rate.seconds(pc.frames);
            let _ = write!(post, "fade=t=out:st={}:d={},", secs((total - f).max(0.0)), secs(f));
        }
    }
    post.push_str("setpts=PTS-STARTPTS,format=yuv420p");
    match c.blur {
        Some(b) if b.region.is_some() => {
            let r = b.region.unwrap_or(crate::timeline::Rect { x: 0, y: 0, width: 2, height: 2 });
            let _ = write!(
                g,
                "[{raw}]{post},split=2[{label}b0][{label}b1];[{label}b1]crop={}:{}:{}:{},gblur=sigma={}[{label}b2];[{label}b0][{label}b2]overlay={}:{}[{label}]",
                r.width,
                r.height,
                r.x,
                r.y,
                secs(b.sigma),
                r.x,
                r.y
            );
        }
        Some(b) => {
            let _ = write!(g, "[{raw}]{post},gblur=sigma={}[{label}]", secs(b.sigma));
        }
        None => {
            let _ = write!(g, "[{raw}]{post}[{label}]");
        }
    }
    g
}

struct SegmentContext<'a> {
    tl: &'a Timeline,
    plan: &'a Plan,
    /// The `ass` filter drawing every caption (`texts`), when there are any.
    captions: Option<&'a str>,
}

/// Filters applied in output time: captions, overlays, burned subtitles.
fn output_time_filters(
    cx: &SegmentContext<'_>,
    seg: &Segment,
    input: &str,
    inv: &mut Invocation,
    inputs: &mut usize,
) -> String {
    let plan = cx.plan;
    let rate = plan.rate;
    let s0 = rate.seconds(seg.out_start);
    let s1 = rate.seconds(seg.out_start + seg.frames());
    let total = rate.seconds(plan.total_frames);
    let mut g = String::new();
    let mut cur = input.to_string();
    let mut step = 0;
    let next = |g: &mut String, body: &str, cur: &mut String, step: &mut usize| {
        *step += 1;
        let lbl = format!("o{step}");
        let _ = write!(g, "[{cur}]{body}[{lbl}];");
        *cur = lbl;
    };
    next(&mut g, &format!("setpts=PTS-STARTPTS+{}/TB", secs(s0)), &mut cur, &mut step);
    for (i, ov) in cx.tl.overlays.iter().enumerate() {
        let end = ov.end.unwrap_or(total);
        if ov.start >= s1 || end <= s0 {
            continue;
        }
        let info_still = matches!(
            ov.src.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref(),
            Some("png" | "jpg" | "jpeg" | "webp" | "bmp")
        );
        let k = *inputs;
        *inputs += 1;
        let ow = even(f64::from(plan.width) * ov.width);
        if info_still {
            inv.arg("-i").arg(crate::tools::file_arg(&ov.src));
            let _ = write!(g, "[{k}:v]scale={ow}:-2,format=rgba[ov{i}];");
        } else {
            let skip = (s0 - ov.start).max(0.0);
            inv.args(["-ss", &secs(skip), "-i"]).arg(crate::tools::file_arg(&ov.src));
            let _ = write!(
                g,
                "[{k}:v]fps={},scale={ow}:-2,setpts=PTS-STARTPTS+{}/TB[ov{i}];",
                rate.expr(),
                secs(s0.max(ov.start))
            );
        }
        let (x, y) = overlay_anchor(&ov.position, ov.margin).unwrap_or(("0".into(), "0".into()));
        let enable = escape_value(&format!("between(t,{},{})", secs(ov.start), secs(end)));
        let eof = if info_still { "repeat" } else { "pass" };
        step += 1;
        let lbl = format!("o{step}");
        let _ = write!(
            g,
            "[{cur}][ov{i}]overlay=x={}:y={}:enable={enable}:eof_action={eof}[{lbl}];",
            escape_value(&x),
            escape_value(&y)
        );
        cur = lbl;
    }
    // One libass run draws every caption in output time; segments no caption touches skip it.
    if let Some(captions) = cx.captions
        && cx.tl.texts.iter().any(|t| t.start < s1 && t.end.unwrap_or(total) > s0)
    {
        next(&mut g, captions, &mut cur, &mut step);
    }
    if let Some(s) = cx.tl.subtitles.as_ref().filter(|s| s.burn) {
        next(&mut g, &format!("subtitles=filename={}", escape_path(&s.path)), &mut cur, &mut step);
    }
    // Frame n at n/fps exactly, so the raw output neither drops nor repeats a frame whatever
    // time base the filters above left (concat, for one, leaves microseconds).
    let _ = write!(g, "[{cur}]settb=expr={}/{},setpts=N,format=yuv420p[v]", rate.den, rate.num);
    g
}

/// The producer for one segment: its frames, raw `yuv420p`, on standard output.
fn segment_invocation(
    cx: &SegmentContext<'_>,
    idx: usize,
    count: usize,
    seg: &Segment,
) -> Invocation {
    let plan = cx.plan;
    let mut inputs = 0;
    let ci = seg.clip;
    let mut inv = Invocation::new("");
    // The clip from `start` to its end: the body, then the tail the transition fades out.
    let mut g = clip_chain(plan, ci, seg.start, seg.frames(), &mut inv, &mut inputs, "k");
    let what = if seg.transition > 0 {
        let n = seg.transition;
        let kind = &plan.transitions[ci].1;
        let tail = if seg.body > 0 {
            let _ = write!(
                g,
                ";[k]split=2[kb][kt];[kb]trim=end_frame={b}[body];[kt]trim=start_frame={b},setpts=PTS-STARTPTS[tail]",
                b = seg.body
            );
            "tail"
        } else {
            "k"
        };
        g.push(';');
        g.push_str(&clip_chain(plan, ci + 1, 0, n, &mut inv, &mut inputs, "h"));
        let _ = write!(
            g,
            ";[{tail}][h]xfade=transition={kind}:duration={}:offset=0,trim=end_frame={n}[x]",
            secs(plan.rate.seconds(n))
        );
        if seg.body > 0 {
            g.push_str(";[body][x]concat=n=2:v=1:a=0[c]");
        } else {
            g.push_str(";[x]null[c]");
        }
        format!("clip {ci}, transition {ci}->{} ({kind})", ci + 1)
    } else {
        g.push_str(";[k]null[c]");
        format!("clip {ci}")
    };
    inv.step = format!("segment {}/{count}: {what}", idx + 1);
    g.push(';');
    g.push_str(&output_time_filters(cx, seg, "c", &mut inv, &mut inputs));
    inv.args(["-filter_complex", &g, "-map", "[v]", "-an", "-frames:v", &seg.frames().to_string()]);
    inv.args(["-r", &plan.rate.expr(), "-f", "rawvideo", "-pix_fmt", "yuv420p", "pipe:1"]);
    inv
}

/// Bytes of one raw `yuv420p` frame (even sizes: the planner makes them so).
fn frame_bytes(plan: &Plan) -> u64 {
    u64::from(plan.width) * u64::from(plan.height) * 3 / 2
}

/// The one encoder: raw frames from standard input to a video-only file.
fn encoder_invocation(plan: &Plan, video: &VideoEncoder, out: &Path) -> Invocation {
    let mut inv = Invocation::new("encoding the video");
    let size = format!("{}x{}", plan.width, plan.height);
    inv.args(["-f", "rawvideo", "-pix_fmt", "yuv420p", "-video_size", &size]);
    inv.args(["-framerate", &plan.rate.expr(), "-i", "pipe:0"]);
    if let Some(upload) = video.filter_tail.strip_prefix(',') {
        inv.args(["-vf", upload]);
    }
    inv.args(["-map", "0:v:0", "-an", "-frames:v", &plan.total_frames.to_string()]);
    video.apply(&mut inv);
    inv.args(["-f", "mp4"]).arg(out.as_os_str());
    inv
}

/// Samples of the soundtrack before output frame `f` (exact integer rounding, so segment
/// lengths add up to the total).
fn sample_at(plan: &Plan, hz: u32, f: u64) -> u64 {
    let num = u128::from(plan.rate.num);
    let exact = u128::from(f) * u128::from(hz) * u128::from(plan.rate.den);
    u64::try_from((exact + num / 2) / num).unwrap_or(u64::MAX)
}

/// Adds an input (or a silent source) and a chain producing exactly `samples` stereo samples of
/// clip `ci`'s sound for its frames `[a, a+n)`, as `[{label}]`.
#[expect(clippy::too_many_arguments, reason = "one chain, described by its range and sink")]
#[expect(clippy::many_single_char_names, reason = "the same names as `clip_chain`")]
fn clip_audio(
    plan: &Plan,
    ci: usize,
    a: u64,
    n: u64,
    samples: u64,
    hz: u32,
    inv: &mut Invocation,
    label: &str,
) -> String {
    let pc = &plan.clips[ci];
    let c = &pc.clip;
    let rate = plan.rate;
    let (true, Source::Video { path, .. }) = (pc.audio, &pc.source) else {
        return format!("anullsrc=r={hz}:cl=stereo,atrim=end_sample={samples}[{label}]");
    };
    let first = if c.reverse { pc.frames - a - n } else { a };
    let start = pc.from + rate.seconds(first) * c.speed;
    let span = rate.seconds(n) * c.speed;
    let k = inv.args.iter().filter(|x| *x == "-i").count();
    inv.args(["-vn", "-ss", &secs(start), "-t", &secs(span), "-i"])
        .arg(crate::tools::file_arg(path));
    let mut g = format!(
        "[{k}:a]aresample={hz},aformat=sample_fmts=fltp:channel_layouts=stereo,asetpts=PTS-STARTPTS"
    );
    if c.reverse {
        g.push_str(",areverse");
    }
    if (c.speed - 1.0).abs() > 1e-9 {
        g.push(',');
        g.push_str(&atempo_chain(c.speed));
    }
    if (c.volume - 1.0).abs() > 1e-9 {
        let _ = write!(g, ",volume={}", secs(c.volume));
    }
    let _ = write!(g, ",apad=whole_len={samples},atrim=end_sample={samples}");
    let fade_in = c.fade_in.filter(|f| *f > 0.0);
    let fade_out = c.fade_out.filter(|f| *f > 0.0);
    if fade_in.is_some() || fade_out.is_some() {
        // Fades are in clip time: shift to it, fade, shift back.
        let _ = write!(g, ",asetpts=PTS-STARTPTS+{}/TB", secs(rate.seconds(a)));
        if let Some(f) = fade_in {
            let _ = write!(g, ",afade=t=in:st=0:d={}", secs(f));
        }
        if let Some(f) = fade_out {
            let total = rate.seconds(pc.frames);
            let _ = write!(g, ",afade=t=out:st={}:d={}", secs((total - f).max(0.0)), secs(f));
        }
        g.push_str(",asetpts=PTS-STARTPTS");
    }
    let _ = write!(g, "[{label}]");
    g
}

/// The run writing one segment's sound (its clip's sound, crossfaded into the next clip's over
/// the transition) to `file` as raw stereo `f32` samples, and what the soundtrack gets from it;
/// no run when the segment is silent. Sample positions come from the output frame grid, so the
/// segments add up to the total exactly.
fn audio_segment(
    plan: &Plan,
    hz: u32,
    (idx, count): (usize, usize),
    seg: &Segment,
    file: &Path,
) -> (Option<Invocation>, Piece) {
    let s0 = sample_at(plan, hz, seg.out_start);
    let s1 = sample_at(plan, hz, seg.out_start + seg.body);
    let s2 = sample_at(plan, hz, seg.out_start + seg.frames());
    let ci = seg.clip;
    let next_sounds = seg.transition > 0 && plan.clips[ci + 1].audio;
    if !plan.clips[ci].audio && !next_sounds {
        return (None, Piece::Zeros((s2 - s0) * 8));
    }
    let mut inv = Invocation::new(format!("sound {}/{count}: clip {ci}", idx + 1));
    let mut g = clip_audio(plan, ci, seg.start, seg.frames(), s2 - s0, hz, &mut inv, "k");
    if seg.transition > 0 {
        let (nb, nt) = (s1 - s0, s2 - s1);
        let tail = if nb > 0 {
            let _ = write!(
                g,
                ";[k]asplit=2[kb][kt];[kb]atrim=end_sample={nb}[body];[kt]atrim=start_sample={nb},asetpts=PTS-STARTPTS[tail]"
            );
            "tail"
        } else {
            "k"
        };
        g.push(';');
        g.push_str(&clip_audio(plan, ci + 1, 0, seg.transition, nt, hz, &mut inv, "h"));
        let _ = write!(g, ";[{tail}][h]acrossfade=ns={nt}:c1=tri:c2=tri[x]");
        g.push_str(if nb > 0 { ";[body][x]concat=n=2:v=0:a=1[c]" } else { ";[x]anull[c]" });
    } else {
        g.push_str(";[k]anull[c]");
    }
    g.push_str(";[c]aformat=sample_fmts=flt:channel_layouts=stereo[a]");
    inv.args(["-filter_complex", &g, "-map", "[a]", "-c:a", "pcm_f32le", "-f", "f32le"]);
    inv.arg(file.as_os_str());
    (Some(inv), Piece::File(file.to_path_buf(), (s2 - s0) * 8))
}

/// The soundtrack run: the segments' sound from `pipe:0` (see [`Ffmpeg::run_fed`]), music mixed
/// in, encoded to `out`; `None` when the output has no sound at all.
fn audio_sink(tl: &Timeline, plan: &Plan, hz: u32, out: &Path) -> Option<Invocation> {
    if !plan.clips.iter().any(|c| c.audio) && tl.audio.is_empty() {
        return None;
    }
    let mut inv = Invocation::new("soundtrack (clip sound, crossfades, music)");
    inv.args(["-f", "f32le", "-ar", &hz.to_string(), "-ac", "2", "-i", "pipe:0"]);
    let fmt = format!("aresample={hz},aformat=sample_fmts=fltp:channel_layouts=stereo");
    let total_samples = sample_at(plan, hz, plan.total_frames);
    let total = plan.rate.seconds(plan.total_frames);
    let mut g = String::new();
    let mut cur = "0:a".to_string();
    let mut mix = vec![cur.clone()];
    let mut k = 1;
    for (i, a) in tl.audio.iter().enumerate() {
        if a.start >= total {
            continue;
        }
        if a.looped {
            inv.args(["-stream_loop", "-1"]);
        }
        inv.arg("-i").arg(crate::tools::file_arg(&a.src));
        let len = total - a.start;
        let mut chain = format!("[{k}:a]{fmt},atrim=duration={},asetpts=PTS-STARTPTS", secs(len));
        k += 1;
        if (a.volume - 1.0).abs() > 1e-9 {
            let _ = write!(chain, ",volume={}", secs(a.volume));
        }
        if a.fade_in > 0.0 {
            let _ = write!(chain, ",afade=t=in:st=0:d={}", secs(a.fade_in));
        }
        if a.fade_out > 0.0 {
            let _ = write!(
                chain,
                ",afade=t=out:st={}:d={}",
                secs((len - a.fade_out).max(0.0)),
                secs(a.fade_out)
            );
        }
        if a.start > 0.0 {
            let _ = write!(chain, ",adelay=delays={}:all=1", (a.start * 1000.0).round() as u64);
        }
        let _ = write!(g, "{chain}[m{i}];");
        mix.push(format!("m{i}"));
    }
    if mix.len() > 1 {
        let labels = mix.iter().fold(String::new(), |mut acc, l| {
            let _ = write!(acc, "[{l}]");
            acc
        });
        let _ = write!(
            g,
            "{labels}amix=inputs={}:duration=first:dropout_transition=0:normalize=0[mixed];",
            mix.len()
        );
        cur = "mixed".into();
    }
    let _ =
        write!(g, "[{cur}]apad=whole_len={total_samples},atrim=end_sample={total_samples}[aout]");
    inv.args(["-filter_complex", &g, "-map", "[aout]", "-vn"]);
    inv.args(plan.encoding.audio_args(plan.container));
    inv.args(["-f", "matroska"]).arg(out.as_os_str());
    Some(inv)
}

pub(crate) fn muxer_for(container: Container) -> &'static str {
    match container {
        Container::Mp4 => "mp4",
        Container::Mov => "mov",
        Container::Mkv => "matroska",
        Container::Webm => "webm",
    }
}

pub(crate) fn concat_list(work: &Path, files: &[PathBuf]) -> Result<PathBuf, MediaError> {
    let mut list = String::new();
    for f in files {
        let abs = std::path::absolute(f).unwrap_or_else(|_| f.clone());
        // The concat demuxer's own quoting: single quotes, a quote written as '\''.
        let _ = writeln!(list, "file 'file:{}'", abs.to_string_lossy().replace('\'', "'\\''"));
    }
    let path = work.join("concat.txt");
    std::fs::write(&path, list)
        .map_err(|e| MediaError::io(format!("writing `{}`", path.display()), e))?;
    Ok(path)
}

/// True when `info` is already what a hard-cut copy join into `plan`'s output needs.
fn copy_compatible(plan: &Plan, tl: &Timeline) -> bool {
    if !tl.texts.is_empty()
        || !tl.audio.is_empty()
        || !tl.overlays.is_empty()
        || tl.subtitles.as_ref().is_some_and(|s| s.burn)
    {
        return false;
    }
    if plan.encoding.codec != crate::filter::Codec::H264
        || plan.encoding.hardware.is_some()
        || plan.container == Container::Webm
    {
        return false;
    }
    if plan.transitions.iter().any(|t| t.0 > 0) {
        return false;
    }
    let mut audio_shape = None;
    let mut video_config = None;
    for pc in &plan.clips {
        let c = &pc.clip;
        let Source::Video { info, .. } = &pc.source else { return false };
        let untouched = c.from.is_none_or(|f| f == 0.0)
            && c.to.is_none()
            && c.duration.is_none()
            && (c.speed - 1.0).abs() < 1e-9
            && (c.volume - 1.0).abs() < 1e-9
            && c.keep_audio
            && c.fade_in.is_none()
            && c.fade_out.is_none()
            && !c.reverse
            && !c.greyscale
            && c.eq.is_none()
            && c.blur.is_none()
            && c.crop.is_none();
        let Some(v) = &info.video else { return false };
        let video_ok = v.codec == "h264"
            && v.pix_fmt.as_deref() == Some("yuv420p")
            && v.profile.as_deref().is_some_and(|p| {
                p.contains("High") || p.contains("Main") || p.contains("Baseline")
            })
            && v.width == plan.width
            && v.height == plan.height
            && v.fps_num * plan.rate.den == plan.rate.num * v.fps_den;
        // The output keeps only the first clip's codec configuration (the `avcC` SPS/PPS, the
        // AAC config). ffmpeg's concat demuxer repeats later clips' parameter sets in-band, so
        // ffmpeg itself decodes a mixed join, but players that trust the sample entry (as `avc1`
        // allows) would not: clips whose configurations differ are normalised instead.
        match &video_config {
            None => video_config = Some(&v.config),
            Some(c) if *c != &v.config => return false,
            Some(_) => {}
        }
        let shape = info
            .audio
            .as_ref()
            .map(|a| (a.codec.clone(), a.sample_rate, a.channels, a.config.clone()));
        let audio_ok =
            shape.as_ref().is_none_or(|(c, r, ch, _)| c == "aac" && *r == 44100 && *ch == 2);
        if !(untouched && video_ok && audio_ok) {
            return false;
        }
        match &audio_shape {
            None => audio_shape = Some(shape),
            Some(s) if *s != shape => return false,
            Some(_) => {}
        }
    }
    true
}

/// Renders a timeline to its output file.
pub fn render(
    ff: &Ffmpeg,
    tl: &Timeline,
    opts: &RenderOptions<'_>,
) -> Result<RenderReport, MediaError> {
    crate::outputs::check(tl.sources(), &tl.output.path, tl.output.overwrite)?;
    // A step built on a timeline (join, slideshow) reports to its op's progress scope.
    let scoped = crate::progress::current();
    let scoped_cb = scoped.as_ref().map(|(sink, _)| {
        let sink = sink.clone();
        move |p: Progress| sink(p)
    });
    let opts = &RenderOptions {
        progress: opts.progress.or(scoped_cb.as_ref().map(|f| f as &(dyn Fn(Progress) + Sync))),
        keep_temp: opts.keep_temp,
        probing: opts.probing,
    };
    let plan = build_plan(ff, tl, opts.probing)?;
    let out = tl.output.path.clone();
    // Removed by a stop signal too (a process exiting on a signal runs no destructors), and
    // after a kill by the next run.
    let work = crate::workdir::WorkDir::new("render")?;
    let total_seconds = plan.rate.seconds(plan.total_frames);
    let partial = crate::outputs::Partial::new(&out)?;
    let mut commands = Vec::new();
    let has_audio;
    let stream_copy;
    let mut segment_count = 0;
    let mut notes = Vec::new();
    let mut copied_frames = None;
    if copy_compatible(&plan, tl) {
        let files: Vec<PathBuf> = plan
            .clips
            .iter()
            .filter_map(|c| match &c.source {
                Source::Video { path, .. } => Some(path.clone()),
                _ => None,
            })
            .collect();
        has_audio = plan.clips.iter().any(|c| c.audio);
        let list = concat_list(work.path(), &files)?;
        let mut inv = Invocation::new("join by stream copy");
        inv.args(["-f", "concat", "-safe", "0", "-i"]).arg(crate::tools::file_arg(&list));
        inv.args(["-map", "0:v:0"]);
        if has_audio {
            inv.args(["-map", "0:a:0"]);
        }
        inv.args(["-c", "copy"]);
        inv.args(container_args(plan.container));
        inv.args(["-f", muxer_for(plan.container)]).arg(crate::tools::file_arg(partial.path()));
        let steps = Steps { frames: plan.total_frames, seconds: total_seconds, count: 1 };
        let on = |snap: &crate::progress::ProgressSnapshot| {
            if let Some(f) = snap.frame {
                steps.report(opts.progress, f, usize::from(snap.end));
            }
        };
        ff.run(&inv, Some(&on))?;
        // A copy keeps the sources' frames. When a source did not state its frame count (a
        // Matroska file's duration can round to one frame too many), count what was written
        // where the container says (MP4/MOV).
        let counted = plan.clips.iter().all(|c| match &c.source {
            Source::Video { info, .. } => info.video.as_ref().is_some_and(|v| v.frames.is_some()),
            _ => false,
        });
        if !counted
            && plan.container != Container::Mkv
            && let Ok(info) = ff.probe_fast(partial.path())
        {
            copied_frames = info.video.and_then(|v| v.frames);
        }
        steps.report(opts.progress, plan.total_frames, 1);
        commands.push(CommandRecord::from(&inv));
        stream_copy = true;
    } else {
        let video = plan.encoding.video_encoder(ff, plan.width, plan.height, plan.rate.value())?;
        notes.extend(video.note.clone());
        let segs = segments(&plan);
        segment_count = segs.len();
        let captions = if tl.texts.is_empty() {
            None
        } else {
            let c = crate::captions::prepare(
                ff,
                &tl.texts,
                (plan.width, plan.height),
                total_seconds,
                work.path(),
                &|i| format!("texts[{i}]"),
            )?;
            notes.extend(c.notes.iter().cloned());
            commands.extend(c.commands.iter().map(CommandRecord::from));
            Some(c)
        };
        let cx = SegmentContext {
            tl,
            plan: &plan,
            captions: captions.as_ref().map(|c| c.filter.as_str()),
        };
        let audio_file = work.path().join("audio.mka");
        let hz = plan.encoding.audio_rate(plan.container);
        let audio = audio_sink(tl, &plan, hz, &audio_file);
        has_audio = audio.is_some();
        let producers = segs
            .iter()
            .enumerate()
            .map(|(i, s)| (segment_invocation(&cx, i, segs.len(), s), s.frames()))
            .collect::<Vec<_>>();
        let sounds: Vec<_> = segs
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let file = work.path().join(format!("sound{i:05}.raw"));
                audio_segment(&plan, hz, (i, segs.len()), s, &file)
            })
            .collect();
        let video_file = work.path().join("video.mp4");
        let video_run = Pipeline {
            producers,
            frame_bytes: frame_bytes(&plan),
            sink: encoder_invocation(&plan, &video, &video_file),
        };
        let steps = Steps { frames: plan.total_frames, seconds: total_seconds, count: segs.len() };
        let on = |frames: u64, done: usize| steps.report(opts.progress, frames, done);
        let video_failed = std::sync::atomic::AtomicBool::new(false);
        // The soundtrack is made beside the video: one small run per segment writes its sound
        // to a file, and one run mixes in the music and encodes it as the files arrive.
        let (video_result, audio_result) = std::thread::scope(|scope| {
            let audio_run = audio.as_ref().map(|mixer| {
                let (sounds, video_failed) = (&sounds, &video_failed);
                scope.spawn(move || soundtrack(ff, mixer, sounds, video_failed))
            });
            let v = ff.run_pipeline(&video_run, Some(&on), &|_| {});
            if v.is_err() {
                video_failed.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            let a = audio_run.map_or(Ok(()), |h| {
                h.join().unwrap_or_else(|_| {
                    Err(MediaError::option("audio", "the soundtrack run panicked"))
                })
            });
            (v, a)
        });
        video_result?;
        audio_result?;
        commands.extend(video_run.producers.iter().map(|(i, _)| CommandRecord::from(i)));
        commands.push(CommandRecord::from(&video_run.sink));
        if let Some(mixer) = &audio {
            commands.extend(sounds.iter().filter_map(|(i, _)| i.as_ref()).map(CommandRecord::from));
            commands.push(CommandRecord::from(mixer));
        }
        let mut inv = Invocation::new("muxing video and sound by stream copy");
        inv.arg("-i").arg(crate::tools::file_arg(&video_file));
        let mut next_input = 1;
        if has_audio {
            inv.arg("-i").arg(crate::tools::file_arg(&audio_file));
            next_input += 1;
        }
        let soft_subs = tl.subtitles.as_ref().filter(|s| !s.burn);
        if let Some(s) = soft_subs {
            inv.arg("-i").arg(crate::tools::file_arg(&s.path));
        }
        inv.args(["-map", "0:v:0"]);
        if has_audio {
            inv.args(["-map", "1:a:0"]);
        }
        inv.args(["-c", "copy"]);
        if soft_subs.is_some() {
            inv.args(["-map", &format!("{next_input}:s:0")]);
            let codec = match plan.container {
                Container::Mp4 | Container::Mov => "mov_text",
                Container::Webm => "webvtt",
                Container::Mkv => "srt",
            };
            inv.args(["-c:s", codec]);
        }
        inv.args(container_args(plan.container));
        inv.args(["-f", muxer_for(plan.container)]).arg(crate::tools::file_arg(partial.path()));
        ff.run(&inv, None)?;
        commands.push(CommandRecord::from(&inv));
        stream_copy = false;
    }
    partial.finish()?;
    let temp_dir = if opts.keep_temp { Some(work.keep()) } else { None };
    let frames = copied_frames.unwrap_or(plan.total_frames);
    Ok(RenderReport {
        output: out,
        duration: plan.rate.seconds(frames),
        frames,
        width: plan.width,
        height: plan.height,
        fps: plan.rate.value(),
        audio: has_audio,
        stream_copy,
        segments: segment_count,
        commands,
        notes,
        temp_dir,
    })
}

/// Plans a timeline without running anything: output frames and segment count.
pub fn plan_summary(
    ff: &Ffmpeg,
    tl: &Timeline,
    probing: Option<&(dyn Fn(usize, usize) + Sync)>,
) -> Result<(u64, f64, usize), MediaError> {
    let plan = build_plan(ff, tl, probing)?;
    Ok((plan.total_frames, plan.rate.value(), segments(&plan).len()))
}

/// Runs the per-segment sound runs in order, handing each file to the `mixer` run as it is
/// finished; stops early once the video has failed (the render is lost anyway).
fn soundtrack(
    ff: &Ffmpeg,
    mixer: &Invocation,
    sounds: &[(Option<Invocation>, Piece)],
    video_failed: &std::sync::atomic::AtomicBool,
) -> Result<(), MediaError> {
    let (pieces, received) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        let mixing = scope.spawn(move || ff.run_fed(mixer, received));
        let mut made = Ok(());
        for (run, piece) in sounds {
            if video_failed.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            if let Some(run) = run
                && let Err(e) = ff.run(run, None)
            {
                made = Err(e);
                break;
            }
            if pieces.send(piece.clone()).is_err() {
                break;
            }
        }
        drop(pieces);
        let encoded = mixing
            .join()
            .unwrap_or_else(|_| Err(MediaError::option("audio", "the soundtrack run panicked")));
        made.and(encoded)
    })
}

/// Turns "frames done, steps done" into the caller's [`Progress`].
struct Steps {
    frames: u64,
    seconds: f64,
    count: usize,
}

impl Steps {
    fn report(&self, to: Option<&(dyn Fn(Progress) + Sync)>, frames: u64, done: usize) {
        if let Some(cb) = to {
            let f = frames.min(self.frames);
            cb(Progress {
                frames_done: f,
                frames_total: self.frames,
                seconds_done: if self.frames > 0 {
                    self.seconds * f as f64 / self.frames as f64
                } else {
                    0.0
                },
                seconds_total: self.seconds,
                steps_done: done.min(self.count),
                steps_total: self.count,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_exact() {
        assert_eq!(Rate::from_f64(30.0), Rate { num: 30, den: 1 });
        assert_eq!(Rate::from_f64(29.97), Rate { num: 30000, den: 1001 });
        assert_eq!(Rate::from_f64(12.5), Rate { num: 12500, den: 1000 });
        assert_eq!(Rate { num: 30, den: 1 }.frames(0.5), 15);
    }

    #[test]
    fn vaapi_uploads_in_the_encoder_and_segments_stay_raw() {
        let clip = PlannedClip {
            clip: Clip::default(),
            source: Source::Color { color: "black".into() },
            from: 0.0,
            frames: 30,
            audio: false,
        };
        let encoders: std::collections::BTreeSet<String> =
            ["libx264", "h264_vaapi"].map(String::from).into();
        let support = crate::filter::EncoderSupport { encoders: &encoders, vaapi_device: true };
        let encoding = Encoding { hardware: Some(crate::Hardware::Vaapi), ..Encoding::default() };
        let video = encoding.compile_video(support, 64, 36, 30.0).unwrap();
        let plan = Plan {
            width: 64,
            height: 36,
            rate: Rate { num: 30, den: 1 },
            clips: vec![clip.clone(), clip],
            transitions: vec![(10, "fade".into()), (0, String::new())],
            total_frames: 50,
            container: Container::Mp4,
            encoding,
        };
        let tl = Timeline {
            output: crate::timeline::Output::default(),
            clips: Vec::new(),
            texts: Vec::new(),
            audio: Vec::new(),
            overlays: Vec::new(),
            subtitles: None,
        };
        let work = tempfile::tempdir().unwrap();
        let cx = SegmentContext { tl: &tl, plan: &plan, captions: None };
        let segs = segments(&plan);
        assert_eq!(segs.len(), 2);
        for (i, seg) in segs.iter().enumerate() {
            let a = segment_invocation(&cx, i, 2, seg).display_args();
            let g = &a[a.iter().position(|x| x == "-filter_complex").unwrap() + 1];
            assert!(g.ends_with(",format=yuv420p[v]"), "{g}");
            assert!(a.ends_with(&["rawvideo", "-pix_fmt", "yuv420p", "pipe:1"].map(String::from)));
            assert!(!a.iter().any(|x| x.contains("vaapi") || x == "-c:v"), "{a:?}");
        }
        let a = encoder_invocation(&plan, &video, &work.path().join("v.mp4")).display_args();
        assert_eq!(
            &a[..4],
            ["-init_hw_device", "vaapi=va:/dev/dri/renderD128", "-filter_hw_device", "va"]
        );
        assert!(a.windows(2).any(|w| w == ["-i", "pipe:0"]));
        assert!(a.windows(2).any(|w| w == ["-vf", "format=nv12,hwupload"]));
        assert!(a.windows(2).any(|w| w == ["-c:v", "h264_vaapi"]));
        assert!(a.windows(2).any(|w| w == ["-frames:v", "50"]));
    }

    #[test]
    fn segments_cover_every_frame_once() {
        let clip = |frames| PlannedClip {
            clip: Clip::default(),
            source: Source::Color { color: "black".into() },
            from: 0.0,
            frames,
            audio: false,
        };
        let plan = Plan {
            width: 16,
            height: 16,
            rate: Rate { num: 30, den: 1 },
            clips: vec![clip(120), clip(120), clip(45)],
            transitions: vec![(15, "fade".into()), (0, String::new()), (0, String::new())],
            total_frames: 270,
            container: Container::Mp4,
            encoding: Encoding::default(),
        };
        let segs = segments(&plan);
        let mut pos = 0;
        for s in &segs {
            assert_eq!(s.out_start, pos);
            pos += s.frames();
        }
        assert_eq!(pos, 270);
        assert_eq!(plan.clip_start(2), 225);
        // Clip 0 carries the transition into clip 1, which starts after the overlap.
        assert_eq!((segs[0].start, segs[0].body, segs[0].transition), (0, 105, 15));
        assert_eq!((segs[1].start, segs[1].body, segs[1].transition), (15, 105, 0));
        assert_eq!(segs.len(), 3);
    }
}
