//! Planning a render: one probing step, then a pure plan of frames.
//!
//! Why two steps: everything that asks the machine (the sources' headers, ffmpeg's filter list,
//! fonts and files) happens once in [`probe`]; [`plan`] then turns the timeline and that answer
//! into exact frame counts, transitions and segments without touching anything, so the frame
//! arithmetic is tested without ffmpeg and every later room (video, audio, copy, smart) reads
//! one [`Plan`].
//!
//! Key terms: a *clip length* is its frames on the timeline; a *segment* is a clip's body and its
//! transition into the next clip (in a full render also the next clip's frames up to a
//! keyframe), the unit one producer run renders (see `video`). The probing step also reads the
//! sources' keyframe times (MP4/MOV sample tables, in-process) when the timeline has
//! transitions, so the plan can start segments on them.

use std::path::{Path, PathBuf};

use crate::filter::{even, secs};
use crate::probe::MediaInfo;
use crate::rate::Rate;
use crate::timeline::{Clip, Timeline};
use crate::tools::Capabilities;
use crate::tools::encoder::{Container, Encoding};
use crate::{Ffmpeg, MediaError, TimelineError};

/// Where a clip's pictures come from.
#[derive(Debug, Clone)]
pub(super) enum Source {
    /// A video file, with what probing found.
    Video { path: PathBuf, info: Box<MediaInfo> },
    /// A still image, held for the clip's length.
    Image { path: PathBuf },
    /// A solid colour (ffmpeg's name or `0xRRGGBB`).
    Color { color: String },
}

/// One clip of the timeline with its source and exact length.
#[derive(Debug, Clone)]
pub(super) struct PlannedClip {
    /// The clip as the timeline states it.
    pub(super) clip: Clip,
    /// Where its pictures come from.
    pub(super) source: Source,
    /// Source second where the clip starts (videos).
    pub(super) from: f64,
    /// Timeline frames.
    pub(super) frames: u64,
    /// Whether the clip contributes its own sound.
    pub(super) audio: bool,
    /// Presentation times (source seconds) of the source's keyframes, when known and useful
    /// (a video clip next to a transition whose MP4/MOV sample table the reader understands);
    /// empty otherwise.
    pub(super) keyframes: Vec<f64>,
}

/// A whole render, planned: output size, rate and every clip's frames.
#[derive(Debug)]
pub(super) struct Plan {
    /// Output width in pixels (even).
    pub(super) width: u32,
    /// Output height in pixels (even).
    pub(super) height: u32,
    /// Output frame rate.
    pub(super) rate: Rate,
    /// The clips, in timeline order.
    pub(super) clips: Vec<PlannedClip>,
    /// Transition frames after clip `i` (0 for a cut) and its xfade name.
    pub(super) transitions: Vec<(u64, String)>,
    /// Output frames: the clips' frames less the transitions' overlaps.
    pub(super) total_frames: u64,
    /// The output's container.
    pub(super) container: Container,
    /// The output's encoder settings.
    pub(super) encoding: Encoding,
    /// The soundtrack's sample rate.
    pub(super) sample_rate: u32,
}

impl Plan {
    #[cfg(test)]
    pub(super) fn clip_start(&self, i: usize) -> u64 {
        (0..i).map(|k| self.clips[k].frames - self.transitions[k].0).sum()
    }
}

/// Clip `clip` from its frame `start`: `body` frames of its own, then (when `transition > 0`)
/// the transition into the next clip.
#[derive(Debug, Clone)]
pub(super) struct Segment {
    /// The clip.
    pub(super) clip: usize,
    /// The clip's first frame in this segment (after the transition into it).
    pub(super) start: u64,
    /// Frames of the clip alone.
    pub(super) body: u64,
    /// Frames of the transition into the next clip.
    pub(super) transition: u64,
    /// Frames of the next clip alone after the transition (its frames `[transition,
    /// transition + after)`), when the next clip's segment starts on a keyframe later than the
    /// transition's end (see [`segments_on_keyframes`]); 0 otherwise.
    pub(super) after: u64,
    /// The output frame the segment starts at.
    pub(super) out_start: u64,
}

impl Segment {
    pub(super) fn frames(&self) -> u64 {
        self.body + self.transition + self.after
    }

    /// Frames of the segment's own clip: its body and the tail the transition fades out.
    pub(super) fn own(&self) -> u64 {
        self.body + self.transition
    }
}

/// A timeline error at a JSON path.
pub(super) fn tl_err(path: String, message: String) -> MediaError {
    MediaError::Timeline(TimelineError::new(path, message))
}

/// Probes one source, naming the timeline field in what goes wrong.
pub(super) fn probe_clip_source(
    ff: &Ffmpeg,
    path: &Path,
    json_path: &str,
) -> Result<MediaInfo, MediaError> {
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

/// What the machine says about a timeline: every source probed, and (only when the timeline
/// needs transitions, captions or burned subtitles) what the installed ffmpeg can do.
#[derive(Debug)]
pub(super) struct Probed {
    /// Per clip, its source's media information (`None` for colour clips).
    clips: Vec<Option<MediaInfo>>,
    /// Per clip, its source's keyframe times (see [`PlannedClip::keyframes`]).
    keyframes: Vec<Vec<f64>>,
    /// Per `audio` entry, its media information.
    audio: Vec<MediaInfo>,
    /// ffmpeg's encoders, filters and transitions, when the timeline uses any of them.
    caps: Option<Capabilities>,
}

/// The one step of planning that asks the machine: probes each distinct source once, every
/// music track and overlay, checks caption fonts and subtitle files, and learns ffmpeg's filters
/// when the timeline needs them. Everything after it ([`plan`]) is pure.
pub(super) fn probe(
    ff: &Ffmpeg,
    tl: &Timeline,
    probing: Option<&(dyn Fn(usize, usize) + Sync)>,
) -> Result<Probed, MediaError> {
    tl.validate()?;
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
    let clips: Vec<Option<MediaInfo>> =
        slots.iter().map(|s| s.map(|k| probed_infos[k].clone())).collect();
    // Keyframes only matter where a transition splits a clip between two segments; reading
    // them is one more pass over each distinct source's `moov`, in-process.
    let has_transitions = (0..tl.clips.len()).any(|i| tl.transition_seconds(i) > 0.0);
    let keyframes: Vec<Vec<f64>> = if has_transitions {
        let distinct_keys: Vec<Vec<f64>> =
            distinct.iter().map(|(src, _)| source_keyframes(src)).collect();
        slots.iter().map(|s| s.map(|k| distinct_keys[k].clone()).unwrap_or_default()).collect()
    } else {
        vec![Vec::new(); tl.clips.len()]
    };
    for (i, t) in tl.texts.iter().enumerate() {
        if let Some(problem) = t.font.as_deref().and_then(crate::captions::font_problem) {
            return Err(tl_err(format!("texts[{i}].font"), problem));
        }
    }
    if let Some(s) = &tl.subtitles
        && !s.path.is_file()
    {
        return Err(tl_err(
            "subtitles.path".into(),
            format!("the file `{}` does not exist", s.path.display()),
        ));
    }
    let audio = tl
        .audio
        .iter()
        .enumerate()
        .map(|(i, a)| probe_clip_source(ff, &a.src, &format!("audio[{i}].src")))
        .collect::<Result<Vec<_>, _>>()?;
    for (i, o) in tl.overlays.iter().enumerate() {
        probe_clip_source(ff, &o.src, &format!("overlays[{i}].src"))?;
    }
    // Only asked for when needed, so a copy-only join spawns no extra ffmpeg.
    let needs_caps = (0..tl.clips.len()).any(|i| tl.transition_seconds(i) > 0.0)
        || !tl.texts.is_empty()
        || tl.subtitles.as_ref().is_some_and(|s| s.burn);
    let caps = needs_caps.then(|| ff.capabilities().clone());
    Ok(Probed { clips, keyframes, audio, caps })
}

/// Presentation times (seconds, from the first frame shown) of an MP4/MOV source's H.264
/// keyframes, read from its sample table; empty for anything the in-process reader does not
/// understand (the render then splits clips where it always did).
fn source_keyframes(path: &Path) -> Vec<f64> {
    let Some(track) = crate::mp4::read_video_track(path) else { return Vec::new() };
    let scale = f64::from(track.timescale.max(1));
    let mut keys: Vec<f64> = track
        .samples
        .iter()
        .filter(|s| s.sync)
        .map(|s| {
            let pts = s.dts.cast_signed() + s.cts_offset - track.media_start;
            pts as f64 / scale
        })
        .collect();
    keys.sort_by(f64::total_cmp);
    keys
}

fn require_filter(probed: &Probed, name: &str, purpose: &str) -> Result<(), MediaError> {
    match &probed.caps {
        Some(caps) if !caps.filters.contains(name) => {
            Err(MediaError::Unsupported { feature: name.to_string(), purpose: purpose.to_string() })
        }
        _ => Ok(()),
    }
}

/// Plans a probed timeline: output size and rate, each clip's frames, the transitions, and every
/// check that needs no machine. Pure: the same timeline and probe give the same plan.
pub(super) fn plan(tl: &Timeline, probed: &Probed) -> Result<Plan, MediaError> {
    let out = &tl.output;
    let container = Container::from_path(&out.path).unwrap_or(Container::Mp4);
    let infos: Vec<Option<MediaInfo>> = probed.clips.clone();
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
    for (i, ((c, info), keyframes)) in tl.clips.iter().zip(infos).zip(&probed.keyframes).enumerate()
    {
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
                keyframes: Vec::new(),
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
                        keyframes: Vec::new(),
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
                        keyframes: keyframes.clone(),
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
            let kind = c.transition.as_ref().map(|t| t.kind.clone()).unwrap_or_default();
            if let Some(caps) = &probed.caps
                && !caps.transitions.is_empty()
                && !caps.transitions.contains(&kind)
            {
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
        require_filter(probed, "xfade", "transitions")?;
    }
    if !tl.texts.is_empty() {
        require_filter(probed, "ass", "captions (`texts`, drawn with libass)")?;
    }
    if tl.subtitles.as_ref().is_some_and(|s| s.burn) {
        require_filter(probed, "subtitles", "burned-in subtitles (libass)")?;
    }
    for (i, (a, info)) in tl.audio.iter().zip(&probed.audio).enumerate() {
        if info.audio.is_none() {
            return Err(tl_err(
                format!("audio[{i}].src"),
                format!("`{}` has no sound", a.src.display()),
            ));
        }
    }
    let encoding = Encoding {
        codec: out.codec,
        preset: out.preset.clone(),
        crf: out.crf,
        audio_bitrate: out.audio_bitrate.clone(),
        hardware: out.hardware,
    };
    // The sound keeps its sources' rate when they share one (see `Encoding::sample_rate`).
    let clip_rates = clips.iter().filter(|c| c.audio).filter_map(|c| match &c.source {
        Source::Video { info, .. } => info.audio.as_ref().map(|a| a.sample_rate),
        _ => None,
    });
    let music_rates = probed.audio.iter().filter_map(|i| i.audio.as_ref().map(|a| a.sample_rate));
    let sample_rate = encoding.sample_rate(container, clip_rates.chain(music_rates));
    Ok(Plan {
        width,
        height,
        rate,
        clips,
        transitions,
        total_frames,
        container,
        encoding,
        sample_rate,
    })
}

/// The segments of a plan, in output order; together they cover every output frame once. Each
/// clip's segment starts where the transition into it ends (the smart render's sub-ranges and
/// sound runs are cut from these).
pub(super) fn segments(plan: &Plan) -> Vec<Segment> {
    split_segments(plan, |i| if i > 0 { plan.transitions[i - 1].0 } else { 0 })
}

/// The segments of a full render: like [`segments`], but a clip that a transition leads into
/// starts its own segment on its first keyframe after the transition (when its body has one),
/// and the segment of the transition carries its frames up to there (`after`); a clip that a
/// transition leads into and none leads out of (the last clip, or one before a cut) has no
/// segment of its own: the transition's segment carries all of it.
///
/// Why: a segment that starts a clip between two keyframes makes its producer decode from the
/// keyframe before as pre-roll, and those frames were already decoded by the previous segment
/// for the transition: ~15 frames per transition twice on the reference edit. Starting on a
/// keyframe decodes every frame once. A clip with no transition out needs no second input in
/// its own run, so the transition's run, which already decodes it, goes on to its end: one
/// ffmpeg run fewer (~0.08 s CPU to start one), with the same decoders and encoder in memory.
/// A clip changed in time (speed, reverse) or with unknown keyframes splits where [`segments`]
/// does.
pub(super) fn segments_on_keyframes(plan: &Plan) -> Vec<Segment> {
    split_segments(plan, |i| {
        let tin = if i > 0 { plan.transitions[i - 1].0 } else { 0 };
        if tin == 0 {
            return 0;
        }
        let pc = &plan.clips[i];
        let c = &pc.clip;
        if (c.speed - 1.0).abs() > 1e-9 || c.reverse {
            return tin;
        }
        if plan.transitions[i].0 == 0 {
            return pc.frames;
        }
        let last = pc.frames - plan.transitions[i].0;
        // The clip's frame `f` is read from source time `from + f / rate`: a split there on a
        // keyframe's time (to half a millisecond) needs no pre-roll.
        let per_frame = plan.rate.seconds(1);
        pc.keyframes
            .iter()
            .filter_map(|&t| {
                let f = ((t - pc.from) / per_frame).round();
                let exact = (pc.from + f * per_frame - t).abs() < 5e-4;
                (exact && f >= 0.0).then_some(f as u64)
            })
            .find(|f| (tin..=last).contains(f) && *f < pc.frames)
            .unwrap_or(tin)
    })
}

/// Segments where clip `i`'s own segment starts at its frame `split(i)` (from the end of the
/// transition into it to the start of the transition out of it; 0 after a cut).
fn split_segments(plan: &Plan, split: impl Fn(usize) -> u64) -> Vec<Segment> {
    let splits: Vec<u64> = (0..plan.clips.len()).map(&split).collect();
    let mut out = Vec::with_capacity(plan.clips.len());
    let mut pos = 0;
    for (i, c) in plan.clips.iter().enumerate() {
        let tout = plan.transitions[i].0;
        let after = if tout > 0 { splits[i + 1] - tout } else { 0 };
        let seg = Segment {
            clip: i,
            start: splits[i],
            body: c.frames - splits[i] - tout,
            transition: tout,
            after,
            out_start: pos,
        };
        pos += seg.frames();
        if seg.frames() > 0 {
            out.push(seg);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_cover_every_frame_once() {
        let clip = |frames| PlannedClip {
            clip: Clip::default(),
            source: Source::Color { color: "black".into() },
            from: 0.0,
            frames,
            audio: false,
            keyframes: Vec::new(),
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
            sample_rate: 48_000,
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

    #[test]
    fn full_render_segments_start_clips_on_keyframes() {
        // Keyframes every 29 source frames, as x264 placed them in the benchmark's sources.
        let keys = vec![0.0, 29.0 / 30.0, 58.0 / 30.0, 87.0 / 30.0];
        let clip = |frames, from: f64, speed: f64| PlannedClip {
            clip: Clip { speed, ..Clip::default() },
            source: Source::Color { color: "black".into() },
            from,
            frames,
            audio: false,
            keyframes: keys.clone(),
        };
        let mut plan = Plan {
            width: 16,
            height: 16,
            rate: Rate { num: 30, den: 1 },
            clips: vec![clip(120, 0.0, 1.0), clip(90, 0.5, 1.0), clip(120, 0.0, 1.0)],
            transitions: vec![(15, "fade".into()), (15, "fade".into()), (0, String::new())],
            total_frames: 300,
            container: Container::Mp4,
            encoding: Encoding::default(),
            sample_rate: 48_000,
        };
        let shape = |segs: &[Segment]| {
            segs.iter().map(|s| (s.start, s.body, s.transition, s.after)).collect::<Vec<_>>()
        };
        let covered = |segs: &[Segment]| {
            segs.iter().fold(0, |pos, s| {
                assert_eq!(s.out_start, pos);
                pos + s.frames()
            })
        };
        let segs = segments_on_keyframes(&plan);
        // Clip 1 (from 0.5 s) starts its own segment at its frame 43 (source 1.933 s); the
        // transition's segment carries its frames up to there. Clip 2, which no transition
        // leads out of, has no segment of its own: the transition's segment carries all of it.
        assert_eq!(shape(&segs), [(0, 105, 15, 28), (43, 32, 15, 105)]);
        assert_eq!(covered(&segs), 300);
        // Where no keyframe lies in a clip's body, the split is the end of the transition.
        plan.clips[1].keyframes = vec![0.0, 4.0];
        let segs = segments_on_keyframes(&plan);
        assert_eq!(shape(&segs), [(0, 105, 15, 0), (15, 60, 15, 105)]);
        assert_eq!(covered(&segs), 300);
        // A clip changed in time splits where `segments` does, whatever follows it.
        plan.clips[1].clip.speed = 2.0;
        plan.clips[2].clip.speed = 2.0;
        let segs = segments_on_keyframes(&plan);
        assert_eq!(shape(&segs), shape(&segments(&plan)));
        assert_eq!(shape(&segs), [(0, 105, 15, 0), (15, 60, 15, 0), (15, 105, 0, 0)]);
        assert_eq!(covered(&segs), 300);
    }
}
