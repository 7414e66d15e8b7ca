//! Video steps: trim, join, crossfade, split, crop/resize/pad/reframe, fades, speed, reverse,
//! colour, blur, text, overlay/picture-in-picture, side by side, subtitles.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{AudioPick, OpReport, check_range, probe_video, reencode, run_to, video_container};
use crate::filter::{Fit, atempo_chain, escape_path, escape_value, even, fit_graph, secs};
use crate::outputs::Numbered;
use crate::render::RenderOptions;
use crate::timeline::{
    Clip, ColorAdjust, Output, Rect, Text, Timeline, Transition, overlay_anchor,
};
use crate::tools::Invocation;
use crate::tools::encoder::{Container, Encoding};
use crate::{Ffmpeg, MediaError};

/// Options for [`trim`].
#[derive(Debug, Clone, Default)]
pub struct TrimOptions {
    /// Source video.
    pub input: PathBuf,
    /// Result.
    pub output: PathBuf,
    /// First second to keep.
    pub start: f64,
    /// Second to stop at (exclusive with `duration`).
    pub end: Option<f64>,
    /// Seconds to keep (exclusive with `end`).
    pub duration: Option<f64>,
    /// Cut on keyframes by stream copy even when a cut point is not one (instant; the kept
    /// range may start earlier than asked, and a note says what was kept).
    pub fast: bool,
    /// Encoder settings for a frame-exact cut.
    pub encoding: Encoding,
}

/// Keeps a time range, frame-exact: by stream copy when both cut points are keyframes (or the
/// end is the source's end), else by re-encoding. With `fast`, always by stream copy, cutting
/// on the keyframe at or before the start; the note says what range was kept.
pub fn trim(ff: &Ffmpeg, o: &TrimOptions) -> Result<OpReport, MediaError> {
    let info = probe_video(ff, &o.input)?;
    let len = info.video_duration();
    let fps = info.video.as_ref().map_or(30.0, crate::VideoInfo::fps);
    let slack = 0.5 / fps.max(1.0);
    if !(o.start.is_finite() && o.start >= 0.0 && o.start < len) {
        return Err(MediaError::option(
            "start",
            format!("`{}` is outside the source, which is {}s long", o.start, secs(len)),
        ));
    }
    let end = match (o.end, o.duration) {
        (Some(_), Some(_)) => {
            return Err(MediaError::option("end", "give either an end or a duration, not both"));
        }
        (Some(e), None) => e,
        (None, Some(d)) => o.start + d,
        (None, None) => len,
    };
    if end <= o.start {
        return Err(MediaError::option(
            "end",
            format!("`{end}` must be after the start ({})", o.start),
        ));
    }
    if end > len + slack {
        return Err(MediaError::option(
            "end",
            format!("`{end}` is beyond the end of the source ({}s)", secs(len)),
        ));
    }
    let end = end.min(len);
    let dur = end - o.start;
    let on_keyframes = !o.fast && {
        let keys = ff.keyframes(&o.input)?;
        let is_key = |t: f64| keys.iter().any(|k| (k - t).abs() <= slack);
        is_key(o.start) && (end >= len - slack || is_key(end))
    };
    if !o.fast && !on_keyframes {
        let container = video_container(&o.output, &o.encoding)?;
        let v = info.video.as_ref().map_or((0, 0), |v| (v.width, v.height));
        let mut inv = Invocation::new("trim (exact)");
        // On the frame grid: the first frame kept is the one nearest the start, and the sound
        // starts at that frame's time and lasts exactly the frames kept, so picture and sound
        // start and end together. Seeking a hair before the frame keeps rounding from dropping it.
        let rate = crate::rate::Rate::from_f64(fps);
        let first = rate.seconds(rate.frames(o.start));
        let n = rate.frames(dur).max(1);
        let span = rate.seconds(n);
        inv.args(["-ss", &secs((first - 1e-6).max(0.0)), "-t", &secs(span + 1.0 / fps), "-i"])
            .arg(crate::tools::file_arg(&o.input));
        let enc = o.encoding.video_encoder(ff, v.0, v.1, fps)?;
        // The frame count is a filter, not `-frames:v`: an output-level limit ends the file when
        // the picture is done and drops the encoder's last sound frames.
        let vf = enc.chain(&format!("trim=end_frame={n},format=yuv420p"));
        inv.args(["-map", "0:v:0", "-vf", &vf]);
        enc.apply(&mut inv);
        if info.audio.is_some() {
            inv.args(["-map", "0:a:0", "-af", &format!("atrim=duration={}", secs(span))]);
            inv.args(super::audio_out(&o.encoding, container, &[&info]));
        }
        let inv = run_to(ff, inv, Some(container), container.muxer(), &o.output)?;
        return Ok(OpReport::single(&o.output, false, &inv).encoder_note(&enc));
    }
    let container = Container::from_path(&o.output).unwrap_or(Container::Mp4);
    let mut inv =
        Invocation::new(if o.fast { "trim (fast, keyframe copy)" } else { "trim (copy)" });
    inv.args(["-ss", &secs(o.start), "-i"]).arg(crate::tools::file_arg(&o.input));
    inv.args([
        "-t",
        &secs(dur),
        "-map",
        "0:v:0",
        "-map",
        "0:a?",
        "-c",
        "copy",
        "-avoid_negative_ts",
        "make_zero",
    ]);
    let inv = run_to(ff, inv, Some(container), container.muxer(), &o.output)?;
    let report = OpReport::single(&o.output, true, &inv);
    if on_keyframes {
        return Ok(report.note("both cut points are keyframes: stream copy, nothing re-encoded"));
    }
    // What a keyframe copy kept: from the last keyframe at or before the start, for as long as
    // the result lasts.
    let keys = ff.keyframes(&o.input)?;
    let from = keys.iter().copied().filter(|k| *k <= o.start + slack).fold(0.0, f64::max);
    let kept = ff.probe_fast(&o.output).map_or(dur, |i| i.duration);
    Ok(report.note(format!(
        "fast trim kept {} to {} ({}s) of the source, not {} to {}: a stream copy starts on \
         the keyframe at or before the start; leave out --fast for an exact cut",
        secs(from),
        secs(from + kept),
        secs(kept),
        secs(o.start),
        secs(end)
    )))
}

/// Options for [`join`] and [`crossfade`].
#[derive(Debug, Clone, Default)]
pub struct JoinOptions {
    /// Clips in order.
    pub inputs: Vec<PathBuf>,
    /// Result.
    pub output: PathBuf,
    /// Canvas width (default: the first clip's).
    pub width: Option<u32>,
    /// Canvas height (default: the first clip's).
    pub height: Option<u32>,
    /// Frame rate (default: the first clip's).
    pub fps: Option<f64>,
    /// How clips of another shape fill the canvas.
    pub fit: Fit,
    /// Transition between clips (`None` for hard cuts).
    pub transition: Option<String>,
    /// Transition seconds.
    pub transition_duration: f64,
    /// Encoder settings when re-encoding.
    pub encoding: Encoding,
}

fn join_timeline(o: &JoinOptions) -> Timeline {
    let n = o.inputs.len();
    Timeline {
        output: Output::with_encoding(o.output.clone(), o.width, o.height, o.fps, &o.encoding),
        clips: o
            .inputs
            .iter()
            .enumerate()
            .map(|(i, p)| Clip {
                src: Some(p.clone()),
                fit: o.fit,
                speed: 1.0,
                volume: 1.0,
                keep_audio: true,
                transition: o
                    .transition
                    .as_ref()
                    .filter(|_| i + 1 < n)
                    .map(|t| Transition { kind: t.clone(), duration: o.transition_duration }),
                ..Clip::default()
            })
            .collect(),
        texts: Vec::new(),
        audio: Vec::new(),
        overlays: Vec::new(),
        subtitles: None,
    }
}

fn timeline_report(r: &crate::RenderReport) -> OpReport {
    OpReport {
        outputs: vec![r.output.clone()],
        stream_copy: r.stream_copy,
        notes: r.notes.clone(),
        commands: r.commands.clone(),
    }
}

fn render_op(ff: &Ffmpeg, tl: &Timeline) -> Result<OpReport, MediaError> {
    let r = crate::render(ff, tl, &RenderOptions::default()).map_err(|e| match e {
        // Ops have no JSON document; name the input instead of a timeline path.
        MediaError::Timeline(t) => MediaError::option(t.path.replace("clips", "inputs"), t.message),
        other => other,
    })?;
    Ok(timeline_report(&r))
}

/// Plays clips back to back: stream copy when they match (H.264/AAC, same size and rate),
/// otherwise normalised to the first clip's canvas.
pub fn join(ff: &Ffmpeg, o: &JoinOptions) -> Result<OpReport, MediaError> {
    if o.inputs.len() < 2 {
        return Err(MediaError::option("inputs", "join needs at least two clips"));
    }
    let mut o = o.clone();
    o.transition = None;
    render_op(ff, &join_timeline(&o))
}

/// Joins clips with an `xfade` transition and `acrossfade` on the sound.
pub fn crossfade(ff: &Ffmpeg, o: &JoinOptions) -> Result<OpReport, MediaError> {
    if o.inputs.len() < 2 {
        return Err(MediaError::option("inputs", "a crossfade needs at least two clips"));
    }
    let mut o = o.clone();
    if o.transition.is_none() {
        o.transition = Some("fade".into());
    }
    if o.transition_duration <= 0.0 {
        o.transition_duration = 0.5;
    }
    render_op(ff, &join_timeline(&o))
}

/// Options for [`split`].
#[derive(Debug, Clone)]
pub struct SplitOptions {
    /// Source video.
    pub input: PathBuf,
    /// How the parts are named: `part_{n}.mp4` in a folder (numbered from 000).
    pub output: Numbered,
    /// Target length of each part (parts start on keyframes).
    pub segment_seconds: f64,
}

/// Chops a video into parts of about `segment_seconds` by stream copy. Parts can only start
/// on keyframes: when that makes fewer parts than asked, or parts of uneven length, a note
/// says so.
pub fn split(ff: &Ffmpeg, o: &SplitOptions) -> Result<OpReport, MediaError> {
    let info = probe_video(ff, &o.input)?;
    check_range("segment_seconds", o.segment_seconds, 0.1, 86_400.0)?;
    let staged = o.output.stage()?;
    let mut inv = Invocation::new("split (segment copy)");
    inv.arg("-i").arg(crate::tools::file_arg(&o.input));
    inv.args([
        "-map",
        "0:v:0",
        "-map",
        "0:a?",
        "-c",
        "copy",
        "-f",
        "segment",
        "-segment_time",
        &secs(o.segment_seconds),
    ]);
    // Numbered from 1, like every `{n}` in conjure (frames, paid outputs).
    inv.args(["-reset_timestamps", "1", "-segment_start_number", "1"]);
    inv.arg(o.output.ffmpeg_pattern(staged.path()));
    ff.run(&inv, None)?;
    let outputs = o.output.commit(staged)?;
    let lengths: Vec<f64> =
        outputs.iter().map(|p| ff.probe_fast(p).map_or(0.0, |i| i.video_duration())).collect();
    let fps = info.video.as_ref().map_or(30.0, crate::VideoInfo::fps);
    let mut notes = vec!["parts start on keyframes".to_string()];
    notes.extend(split_note(info.video_duration(), o.segment_seconds, fps, &lengths));
    Ok(OpReport { outputs, stream_copy: true, notes, commands: vec![(&inv).into()] })
}

/// The warning when keyframes made fewer parts than asked, or parts of uneven length: a pure
/// function of the source length, the asked part length, the frame rate and the parts made.
fn split_note(len: f64, seconds: f64, fps: f64, parts: &[f64]) -> Option<String> {
    let asked = (len / seconds - 1e-6).ceil().max(1.0) as usize;
    let list = || parts.iter().map(|p| format!("{}s", secs(*p))).collect::<Vec<_>>().join(", ");
    if parts.len() < asked {
        return Some(format!(
            "the source's keyframes allow {} parts where {asked} were asked ({}); parts can \
             only start on a keyframe: use `media trim` for exact cuts",
            parts.len(),
            list()
        ));
    }
    let tolerance = (1.0 / fps.max(1.0)).max(seconds * 0.05);
    let uneven = parts.iter().rev().skip(1).any(|p| (p - seconds).abs() > tolerance);
    uneven.then(|| {
        format!(
            "parts are uneven ({}) because they can only start on a keyframe; use `media trim` \
             for exact cuts",
            list()
        )
    })
}

/// An aspect ratio `w:h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aspect {
    /// Width part.
    pub w: u32,
    /// Height part.
    pub h: u32,
}

impl Aspect {
    /// Parses `16:9`, `9/16` or `1`.
    #[expect(
        clippy::many_single_char_names,
        reason = "w/h/x/y/a/n are the names ffmpeg's own filter docs use"
    )]
    pub fn parse(s: &str) -> Result<Self, MediaError> {
        let bad = || {
            MediaError::option(
                "aspect",
                format!("`{s}` is not an aspect ratio; write e.g. `9:16`, `1:1`, `4:5`"),
            )
        };
        let (a, b) = s.split_once([':', '/', 'x']).unwrap_or((s, "1"));
        let (w, h) = (
            a.trim().parse::<u32>().map_err(|_| bad())?,
            b.trim().parse::<u32>().map_err(|_| bad())?,
        );
        if w == 0 || h == 0 {
            return Err(bad());
        }
        Ok(Self { w, h })
    }

    fn ratio(self) -> f64 {
        f64::from(self.w) / f64::from(self.h)
    }
}

/// Options for [`crop`].
#[derive(Debug, Clone, Default)]
pub struct CropOptions {
    /// Source video.
    pub input: PathBuf,
    /// Result.
    pub output: PathBuf,
    /// A region (exclusive with `aspect`).
    pub rect: Option<Rect>,
    /// A centred crop to this aspect (exclusive with `rect`).
    pub aspect: Option<Aspect>,
    /// Encoder settings.
    pub encoding: Encoding,
}

/// Crops a region, or the largest centred rectangle of an aspect (even sizes).
#[expect(
    clippy::many_single_char_names,
    reason = "w/h/x/y/a/n are the names ffmpeg's own filter docs use"
)]
pub fn crop(ff: &Ffmpeg, o: &CropOptions) -> Result<OpReport, MediaError> {
    let mut notes = Vec::new();
    let info = probe_video(ff, &o.input)?;
    let (iw, ih) = info.video.as_ref().map_or((0, 0), |v| (v.width, v.height));
    let (w, h, x, y) = match (o.rect, o.aspect) {
        (Some(r), None) => {
            if r.x + r.width > iw || r.y + r.height > ih || r.width < 2 || r.height < 2 {
                return Err(MediaError::option(
                    "rect",
                    format!(
                        "{}x{}+{}+{} does not fit inside the {iw}x{ih} source",
                        r.width, r.height, r.x, r.y
                    ),
                ));
            }
            if super::is_still_output(&o.output) {
                // A still keeps the exact region; only H.264 video needs even sizes.
                (r.width, r.height, r.x, r.y)
            } else {
                let (w, h) = (r.width - r.width % 2, r.height - r.height % 2);
                if (w, h) != (r.width, r.height) {
                    notes.push(format!(
                        "region {}x{} rounded to {w}x{h} (H.264 video needs even sizes)",
                        r.width, r.height
                    ));
                }
                (w, h, r.x, r.y)
            }
        }
        (None, Some(a)) => {
            let (w, h) = if f64::from(iw) / f64::from(ih) > a.ratio() {
                (even(f64::from(ih) * a.ratio()), even(f64::from(ih)))
            } else {
                (even(f64::from(iw)), even(f64::from(iw) / a.ratio()))
            };
            (w, h, (iw - w) / 2, (ih - h) / 2)
        }
        _ => return Err(MediaError::option("rect", "give either a region or an aspect")),
    };
    let mut report = reencode(
        ff,
        "crop",
        &o.input,
        &o.output,
        &o.encoding,
        // `exact`: a still may have any size; without it ffmpeg rounds a 4:2:0 source's to even.
        &format!(
            "crop={w}:{h}:{x}:{y}{},setsar=1",
            if super::is_still_output(&o.output) { ":exact=1" } else { "" }
        ),
        "",
    )?;
    report.notes.extend(notes);
    Ok(report)
}

/// Options for [`resize`].
#[derive(Debug, Clone, Default)]
pub struct ResizeOptions {
    /// Source video.
    pub input: PathBuf,
    /// Result.
    pub output: PathBuf,
    /// Target width (height follows the aspect when not given).
    pub width: Option<u32>,
    /// Target height (width follows the aspect when not given).
    pub height: Option<u32>,
    /// A factor instead of a size, e.g. 0.5.
    pub scale: Option<f64>,
    /// How to fill a box when both width and height are given.
    pub fit: Fit,
    /// Encoder settings.
    pub encoding: Encoding,
}

/// Changes the resolution: into a box (contain/cover/blur/stretch), to one side, or by a factor.
pub fn resize(ff: &Ffmpeg, o: &ResizeOptions) -> Result<OpReport, MediaError> {
    let mut notes = Vec::new();
    super::size_option("width", o.width, &mut notes)?;
    super::size_option("height", o.height, &mut notes)?;
    let info = probe_video(ff, &o.input)?;
    let (iw, ih) =
        info.video.as_ref().map_or((2.0, 2.0), |v| (f64::from(v.width), f64::from(v.height)));
    let vf = match (o.width, o.height, o.scale) {
        (Some(w), Some(h), None) => {
            fit_graph("0:v", "out", o.fit, even(f64::from(w)), even(f64::from(h)), "black", "r")
        }
        (Some(w), None, None) => {
            format!("scale={}:{}", even(f64::from(w)), even(f64::from(w) * ih / iw))
        }
        (None, Some(h), None) => {
            format!("scale={}:{}", even(f64::from(h) * iw / ih), even(f64::from(h)))
        }
        (None, None, Some(f)) => {
            check_range("scale", f, 0.01, 16.0)?;
            format!("scale={}:{}", even(iw * f), even(ih * f))
        }
        _ => {
            return Err(MediaError::option(
                "width",
                "give a width, a height, both, or a scale factor",
            ));
        }
    };
    let mut report = if vf.starts_with('[') {
        graph_op(ff, "resize", &o.input, &o.output, &o.encoding, &vf, "out")?
    } else {
        reencode(ff, "resize", &o.input, &o.output, &o.encoding, &format!("{vf},setsar=1"), "")?
    };
    report.notes.extend(notes);
    Ok(report)
}

/// Runs a `-filter_complex` graph from `[0:v]` to `[{out}]`, keeping the audio (R1).
fn graph_op(
    ff: &Ffmpeg,
    step: &str,
    input: &Path,
    output: &Path,
    enc: &Encoding,
    graph: &str,
    out: &str,
) -> Result<OpReport, MediaError> {
    if super::is_still_output(output) {
        return super::still(
            ff,
            step,
            input,
            output,
            &["-filter_complex", graph, "-map", &format!("[{out}]")],
        );
    }
    let info = probe_video(ff, input)?;
    let container = video_container(output, enc)?;
    let v = info.video.as_ref().map_or((0, 0, 30.0), |v| (v.width, v.height, v.fps()));
    let venc = enc.video_encoder(ff, v.0, v.1, v.2)?;
    let mut inv = Invocation::new(step);
    inv.arg("-i").arg(crate::tools::file_arg(input));
    let g = format!("{graph};[{out}]{}[vout]", venc.chain("format=yuv420p"));
    inv.args(["-filter_complex", &g, "-map", "[vout]"]);
    venc.apply(&mut inv);
    if info.audio.is_some() {
        inv.args(["-map", "0:a:0"]);
        inv.args(super::audio_out(enc, container, &[&info]));
    }
    let inv = run_to(ff, inv, Some(container), container.muxer(), output)?;
    Ok(OpReport::single(output, false, &inv).encoder_note(&venc))
}

/// Options for [`pad`].
#[derive(Debug, Clone, Default)]
pub struct PadOptions {
    /// Source video.
    pub input: PathBuf,
    /// Result.
    pub output: PathBuf,
    /// Target aspect; bars are added, never cropped.
    pub aspect: Option<Aspect>,
    /// Bar colour (default black).
    pub color: Option<String>,
    /// Encoder settings.
    pub encoding: Encoding,
}

/// Letterboxes or pillarboxes to an aspect by growing the frame (never shrinking it, unlike the
/// skill's `pad=ih*4/3` sample that fails on wide input).
pub fn pad(ff: &Ffmpeg, o: &PadOptions) -> Result<OpReport, MediaError> {
    let info = probe_video(ff, &o.input)?;
    let a = o
        .aspect
        .ok_or_else(|| MediaError::option("aspect", "give the aspect to pad to, e.g. `4:3`"))?;
    let (iw, ih) =
        info.video.as_ref().map_or((2.0, 2.0), |v| (f64::from(v.width), f64::from(v.height)));
    let (w, h) = if iw / ih > a.ratio() {
        (even(iw), even((iw / a.ratio()).ceil() + 1.0))
    } else {
        (even((ih * a.ratio()).ceil() + 1.0), even(ih))
    };
    let colour = crate::filter::color(o.color.as_deref().unwrap_or("black"))
        .ok_or_else(|| MediaError::option("color", "write `#rrggbb` or a colour name"))?;
    let vf = format!(
        "scale=trunc(iw/2)*2:trunc(ih/2)*2,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:color={colour},setsar=1"
    );
    reencode(ff, "pad", &o.input, &o.output, &o.encoding, &vf, "")
}

/// Options for [`reframe`].
#[derive(Debug, Clone, Default)]
pub struct ReframeOptions {
    /// Source video.
    pub input: PathBuf,
    /// Result.
    pub output: PathBuf,
    /// Target aspect, e.g. 9:16 for vertical.
    pub aspect: Option<Aspect>,
    /// Cover (crop), contain (bars), blur (blurred fill) or stretch.
    pub fit: Fit,
    /// Output height (default: the source's height for a narrower target, else computed).
    pub height: Option<u32>,
    /// Encoder settings.
    pub encoding: Encoding,
}

/// Converts to another aspect at the source's scale: cover, contain or blurred background.
pub fn reframe(ff: &Ffmpeg, o: &ReframeOptions) -> Result<OpReport, MediaError> {
    let mut notes = Vec::new();
    super::size_option("height", o.height, &mut notes)?;
    let info = probe_video(ff, &o.input)?;
    let a = o
        .aspect
        .ok_or_else(|| MediaError::option("aspect", "give the target aspect, e.g. `9:16`"))?;
    let ih = info.video.as_ref().map_or(2.0, |v| f64::from(v.height));
    let h = even(o.height.map_or(ih, f64::from));
    let w = even(f64::from(h) * a.ratio());
    let graph = fit_graph("0:v", "out", o.fit, w, h, "black", "r");
    let mut report = graph_op(ff, "reframe", &o.input, &o.output, &o.encoding, &graph, "out")?;
    report.notes.extend(notes);
    Ok(report)
}

/// Options for [`fade`].
#[derive(Debug, Clone, Default)]
pub struct FadeOptions {
    /// Source video.
    pub input: PathBuf,
    /// Result.
    pub output: PathBuf,
    /// Seconds of fade from black at the start.
    pub fade_in: f64,
    /// Seconds of fade to black at the end.
    pub fade_out: f64,
    /// Encoder settings.
    pub encoding: Encoding,
}

/// Fades picture and sound in and out.
pub fn fade(ff: &Ffmpeg, o: &FadeOptions) -> Result<OpReport, MediaError> {
    let info = probe_video(ff, &o.input)?;
    let len = info.video_duration();
    check_range("fade_in", o.fade_in, 0.0, len)?;
    check_range("fade_out", o.fade_out, 0.0, len)?;
    let (mut vf, mut af) = (Vec::new(), Vec::new());
    if o.fade_in > 0.0 {
        vf.push(format!("fade=t=in:st=0:d={}", secs(o.fade_in)));
        af.push(format!("afade=t=in:st=0:d={}", secs(o.fade_in)));
    }
    if o.fade_out > 0.0 {
        let st = secs(len - o.fade_out);
        vf.push(format!("fade=t=out:st={st}:d={}", secs(o.fade_out)));
        af.push(format!("afade=t=out:st={st}:d={}", secs(o.fade_out)));
    }
    reencode(ff, "fade", &o.input, &o.output, &o.encoding, &vf.join(","), &af.join(","))
}

/// Options for [`speed`].
#[derive(Debug, Clone, Default)]
pub struct SpeedOptions {
    /// Source video.
    pub input: PathBuf,
    /// Result.
    pub output: PathBuf,
    /// 2.0 plays twice as fast; 0.5 half speed (0.25..4).
    pub factor: f64,
    /// Encoder settings.
    pub encoding: Encoding,
}

/// Speeds up or slows down picture and sound (pitch kept).
pub fn speed(ff: &Ffmpeg, o: &SpeedOptions) -> Result<OpReport, MediaError> {
    check_range("factor", o.factor, 0.25, 4.0)?;
    let info = probe_video(ff, &o.input)?;
    let fps = info.video.as_ref().map_or(30.0, crate::VideoInfo::fps);
    // Resample to the source rate so the result stays constant-rate with `len / factor` frames.
    let rate = crate::rate::Rate::from_f64(fps);
    let vf = format!("setpts=(PTS-STARTPTS)/{},fps={}", secs(o.factor), rate.expr());
    // atempo's output length is close, not exact: the sound is brought to the picture's.
    let len = secs(rate.seconds(rate.frames(info.video_duration() / o.factor)));
    let af = format!("{},apad=whole_dur={len},atrim=duration={len}", atempo_chain(o.factor));
    reencode(ff, "speed", &o.input, &o.output, &o.encoding, &vf, &af)
}

/// Options for single-input steps with no parameters ([`reverse`]).
#[derive(Debug, Clone, Default)]
pub struct SimpleOptions {
    /// Source video.
    pub input: PathBuf,
    /// Result.
    pub output: PathBuf,
    /// Encoder settings.
    pub encoding: Encoding,
}

/// Plays picture and sound backwards (holds the clip in memory: meant for short clips).
pub fn reverse(ff: &Ffmpeg, o: &SimpleOptions) -> Result<OpReport, MediaError> {
    reencode(ff, "reverse", &o.input, &o.output, &o.encoding, "reverse", "areverse")
}

/// Options for [`color`].
#[derive(Debug, Clone, Default)]
pub struct ColorOptions {
    /// Source video.
    pub input: PathBuf,
    /// Result.
    pub output: PathBuf,
    /// Brightness/contrast/saturation/gamma.
    pub eq: Option<ColorAdjust>,
    /// Drop colour.
    pub greyscale: bool,
    /// Encoder settings.
    pub encoding: Encoding,
}

/// Adjusts colour (`eq`) and/or makes the picture grey.
pub fn color(ff: &Ffmpeg, o: &ColorOptions) -> Result<OpReport, MediaError> {
    let mut vf = Vec::new();
    if let Some(eq) = o.eq {
        check_range("brightness", eq.brightness, -1.0, 1.0)?;
        check_range("contrast", eq.contrast, 0.0, 4.0)?;
        check_range("saturation", eq.saturation, 0.0, 3.0)?;
        check_range("gamma", eq.gamma, 0.1, 10.0)?;
        vf.push(format!(
            "eq=brightness={}:contrast={}:saturation={}:gamma={}",
            secs(eq.brightness),
            secs(eq.contrast),
            secs(eq.saturation),
            secs(eq.gamma)
        ));
    }
    if o.greyscale {
        vf.push("hue=s=0".into());
    }
    if vf.is_empty() {
        return Err(MediaError::option("eq", "give colour adjustments or greyscale"));
    }
    reencode(ff, "colour", &o.input, &o.output, &o.encoding, &vf.join(","), "")
}

/// Options for [`blur`].
#[derive(Debug, Clone, Default)]
pub struct BlurOptions {
    /// Source video.
    pub input: PathBuf,
    /// Result.
    pub output: PathBuf,
    /// Gaussian sigma in pixels.
    pub sigma: f64,
    /// Only this region (a face, a plate); whole frame when `None`.
    pub region: Option<Rect>,
    /// Encoder settings.
    pub encoding: Encoding,
}

/// Blurs the whole frame or one region.
pub fn blur(ff: &Ffmpeg, o: &BlurOptions) -> Result<OpReport, MediaError> {
    check_range("sigma", o.sigma, 0.1, 100.0)?;
    match o.region {
        None => reencode(
            ff,
            "blur",
            &o.input,
            &o.output,
            &o.encoding,
            &format!("gblur=sigma={}", secs(o.sigma)),
            "",
        ),
        Some(r) => {
            let info = probe_video(ff, &o.input)?;
            let (iw, ih) = info.video.as_ref().map_or((0, 0), |v| (v.width, v.height));
            if r.x + r.width > iw || r.y + r.height > ih {
                return Err(MediaError::option(
                    "region",
                    format!(
                        "{}x{}+{}+{} does not fit inside the {iw}x{ih} source",
                        r.width, r.height, r.x, r.y
                    ),
                ));
            }
            let g = format!(
                "[0:v]split=2[m][c];[c]crop={}:{}:{}:{},gblur=sigma={}[b];[m][b]overlay={}:{}[out]",
                r.width,
                r.height,
                r.x,
                r.y,
                secs(o.sigma),
                r.x,
                r.y
            );
            graph_op(ff, "blur region", &o.input, &o.output, &o.encoding, &g, "out")
        }
    }
}

/// Options for [`text`].
#[derive(Debug, Clone)]
pub struct TextOptions {
    /// Source video.
    pub input: PathBuf,
    /// Result.
    pub output: PathBuf,
    /// The caption: static (no `end`), timed (`start`/`end`) or scrolling (`scroll`).
    pub text: Text,
    /// Encoder settings.
    pub encoding: Encoding,
}

/// Draws a caption in any script (libass: shaping, right-to-left, font fallback per glyph).
pub fn text(ff: &Ffmpeg, o: &TextOptions) -> Result<OpReport, MediaError> {
    ff.require_filter("ass", "captions (libass)")?;
    let info = probe_video(ff, &o.input)?;
    let tl = Timeline {
        output: Output { path: o.output.clone(), overwrite: true, ..Output::default() },
        clips: vec![Clip {
            color: Some("black".into()),
            duration: Some(1.0),
            speed: 1.0,
            volume: 1.0,
            ..Clip::default()
        }],
        texts: vec![o.text.clone()],
        audio: Vec::new(),
        overlays: Vec::new(),
        subtitles: None,
    };
    tl.validate().map_err(|e| MediaError::option(e.path.replace("texts[0].", ""), e.message))?;
    if let Some(problem) = o.text.font.as_deref().and_then(crate::captions::font_problem) {
        return Err(MediaError::option("font", problem));
    }
    let work = crate::workdir::WorkDir::new("text")?;
    let frame = info.video.as_ref().map_or((1280, 720), |v| (v.width, v.height));
    let captions = crate::captions::prepare(
        ff,
        std::slice::from_ref(&o.text),
        frame,
        info.video_duration(),
        work.path(),
        &|_| "the caption".into(),
    )?;
    let mut report = reencode(ff, "text", &o.input, &o.output, &o.encoding, &captions.filter, "")?;
    report.notes.extend(captions.notes);
    report.commands.splice(0..0, captions.commands.iter().map(Into::into));
    Ok(report)
}

/// Options for [`overlay`] (logo, watermark, picture-in-picture).
#[derive(Debug, Clone)]
pub struct OverlayOptions {
    /// Main video.
    pub input: PathBuf,
    /// Image or video drawn on top.
    pub overlay: PathBuf,
    /// Result.
    pub output: PathBuf,
    /// `top-left`, `top-right`, `bottom-left`, `bottom-right`, `center` or `x,y`.
    pub position: String,
    /// Width as a fraction of the main video's width (scaled against the main video, not the logo).
    pub width: f64,
    /// Margin in pixels.
    pub margin: u32,
    /// Second it appears.
    pub start: f64,
    /// Second it disappears.
    pub end: Option<f64>,
    /// Which sound to keep.
    pub audio: AudioPick,
    /// Encoder settings.
    pub encoding: Encoding,
}

impl Default for OverlayOptions {
    fn default() -> Self {
        Self {
            input: PathBuf::new(),
            overlay: PathBuf::new(),
            output: PathBuf::new(),
            position: "bottom-right".into(),
            width: 0.25,
            margin: 16,
            start: 0.0,
            end: None,
            audio: AudioPick::First,
            encoding: Encoding::default(),
        }
    }
}

/// Puts an image (logo) or a video (picture-in-picture) over the main video.
pub fn overlay(ff: &Ffmpeg, o: &OverlayOptions) -> Result<OpReport, MediaError> {
    let info = probe_video(ff, &o.input)?;
    let top = probe_video(ff, &o.overlay)?;
    let container = video_container(&o.output, &o.encoding)?;
    check_range("width", o.width, 0.01, 1.0)?;
    let (iw, ih, fps) = info.video.as_ref().map_or((2, 2, 30.0), |v| (v.width, v.height, v.fps()));
    let (x, y) = overlay_anchor(&o.position, o.margin).ok_or_else(|| {
        MediaError::option(
            "position",
            "use top-left, top-right, bottom-left, bottom-right, center or `x,y`",
        )
    })?;
    let ow = even(f64::from(iw) * o.width);
    let end = o.end.unwrap_or(info.video_duration());
    let still = top.is_still();
    let mut inv =
        Invocation::new(if still { "overlay (logo)" } else { "overlay (picture-in-picture)" });
    inv.arg("-i").arg(crate::tools::file_arg(&o.input));
    inv.arg("-i").arg(crate::tools::file_arg(&o.overlay));
    let prep = if still {
        format!("scale={ow}:-2,format=rgba")
    } else {
        format!("scale={ow}:-2,setpts=PTS-STARTPTS+{}/TB", secs(o.start))
    };
    let enc = o.encoding.video_encoder(ff, iw, ih, fps)?;
    let mut g = format!(
        "[1:v]{prep}[ov];[0:v][ov]overlay=x={}:y={}:enable={}:eof_action={},{}[vout]",
        escape_value(&x),
        escape_value(&y),
        escape_value(&format!("between(t,{},{})", secs(o.start), secs(end))),
        if still { "repeat" } else { "pass" },
        enc.chain("format=yuv420p")
    );
    let audio_map =
        audio_pick(&mut g, o.audio, info.audio.is_some(), top.audio.is_some() && !still)?;
    inv.args(["-filter_complex", &g, "-map", "[vout]"]);
    enc.apply(&mut inv);
    if let Some(m) = audio_map {
        inv.args(["-map", &m]);
        inv.args(super::audio_out(&o.encoding, container, &[&info, &top]));
    }
    let inv = run_to(ff, inv, Some(container), container.muxer(), &o.output)?;
    Ok(OpReport::single(&o.output, false, &inv).encoder_note(&enc))
}

/// Adds the audio part of a two-input graph and returns what to map.
fn audio_pick(
    g: &mut String,
    pick: AudioPick,
    first: bool,
    second: bool,
) -> Result<Option<String>, MediaError> {
    Ok(match pick {
        AudioPick::First => first.then(|| "0:a:0".to_string()),
        AudioPick::Second => {
            if !second {
                return Err(MediaError::option("audio", "the second input has no sound to keep"));
            }
            Some("1:a:0".into())
        }
        AudioPick::Mix => match (first, second) {
            (true, true) => {
                let _ = write!(
                    g,
                    ";[0:a][1:a]amix=inputs=2:duration=first:dropout_transition=0:normalize=0[aout]"
                );
                Some("[aout]".into())
            }
            (true, false) => Some("0:a:0".into()),
            (false, true) => Some("1:a:0".into()),
            (false, false) => None,
        },
    })
}

/// Options for [`side_by_side`].
#[derive(Debug, Clone, Default)]
pub struct SideBySideOptions {
    /// Left (or top) video.
    pub left: PathBuf,
    /// Right (or bottom) video.
    pub right: PathBuf,
    /// Result.
    pub output: PathBuf,
    /// Height of each half (default: the left video's height).
    pub height: Option<u32>,
    /// Stack top and bottom instead of left and right.
    pub vertical: bool,
    /// Which sound to keep (an explicit choice, see the spec's open question 5).
    pub audio: AudioPick,
    /// Encoder settings.
    pub encoding: Encoding,
}

/// Places two videos next to each other (each fitted into half of the frame), ending with the
/// shorter one.
#[expect(
    clippy::many_single_char_names,
    reason = "w/h/x/y/a/n are the names ffmpeg's own filter docs use"
)]
pub fn side_by_side(ff: &Ffmpeg, o: &SideBySideOptions) -> Result<OpReport, MediaError> {
    let l = probe_video(ff, &o.left)?;
    let r = probe_video(ff, &o.right)?;
    let container = video_container(&o.output, &o.encoding)?;
    let (lw, lh, fps) = l.video.as_ref().map_or((2, 2, 30.0), |v| (v.width, v.height, v.fps()));
    let h = even(f64::from(o.height.unwrap_or(lh)));
    let w = even(f64::from(h) * f64::from(lw) / f64::from(lh.max(1)));
    let rate = crate::rate::Rate::from_f64(fps).expr();
    let stack = if o.vertical { "vstack" } else { "hstack" };
    let (ow, oh) = if o.vertical { (w, h * 2) } else { (w * 2, h) };
    let enc = o.encoding.video_encoder(ff, ow, oh, fps)?;
    let mut g = format!(
        "{};{};[l0]fps={rate}[l];[r0]fps={rate}[r];[l][r]{stack}=inputs=2:shortest=1,{}[vout]",
        fit_graph("0:v", "l0", Fit::Contain, w, h, "black", "a"),
        fit_graph("1:v", "r0", Fit::Contain, w, h, "black", "b"),
        enc.chain("format=yuv420p"),
    );
    let audio = audio_pick(&mut g, o.audio, l.audio.is_some(), r.audio.is_some())?;
    let mut inv = Invocation::new("side by side");
    inv.arg("-i")
        .arg(crate::tools::file_arg(&o.left))
        .arg("-i")
        .arg(crate::tools::file_arg(&o.right));
    inv.args(["-filter_complex", &g, "-map", "[vout]"]);
    enc.apply(&mut inv);
    if let Some(m) = audio {
        inv.args(["-map", &m]);
        inv.args(super::audio_out(&o.encoding, container, &[&l, &r]));
        inv.arg("-shortest");
    }
    let inv = run_to(ff, inv, Some(container), container.muxer(), &o.output)?;
    Ok(OpReport::single(&o.output, false, &inv).encoder_note(&enc))
}

/// Options for [`subtitles`].
#[derive(Debug, Clone, Default)]
pub struct SubtitleOptions {
    /// Source video.
    pub input: PathBuf,
    /// `.srt` or `.ass` file.
    pub subtitles: PathBuf,
    /// Result.
    pub output: PathBuf,
    /// Burn into the picture (libass) instead of adding a switchable track.
    pub burn: bool,
    /// Encoder settings when burning.
    pub encoding: Encoding,
}

/// Burns subtitles in, or muxes them as a soft track (`mov_text` in MP4) with stream copy.
pub fn subtitles(ff: &Ffmpeg, o: &SubtitleOptions) -> Result<OpReport, MediaError> {
    if !o.subtitles.is_file() {
        return Err(MediaError::MissingInput { path: o.subtitles.clone() });
    }
    if o.burn {
        ff.require_filter("subtitles", "burned-in subtitles (libass)")?;
        return reencode(
            ff,
            "subtitles (burn-in)",
            &o.input,
            &o.output,
            &o.encoding,
            &format!("subtitles=filename={}", escape_path(&o.subtitles)),
            "",
        );
    }
    let info = probe_video(ff, &o.input)?;
    let container = Container::from_path(&o.output).unwrap_or(Container::Mp4);
    let codec = match container {
        Container::Mp4 | Container::Mov => "mov_text",
        Container::Webm => "webvtt",
        Container::Mkv => "srt",
    };
    let mut inv = Invocation::new("subtitles (soft track)");
    inv.arg("-i")
        .arg(crate::tools::file_arg(&o.input))
        .arg("-i")
        .arg(crate::tools::file_arg(&o.subtitles));
    inv.args(["-map", "0:v:0"]);
    if info.audio.is_some() {
        inv.args(["-map", "0:a:0"]);
    }
    inv.args(["-map", "1:s:0", "-c:v", "copy", "-c:a", "copy", "-c:s", codec]);
    let inv = run_to(ff, inv, Some(container), container.muxer(), &o.output)?;
    Ok(OpReport::single(&o.output, true, &inv))
}
