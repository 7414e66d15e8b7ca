//! The smart render: re-encode only the frames an edit changes and copy every other GOP of the
//! sources byte for byte.
//!
//! Why: joining generated clips with transitions or captions otherwise re-encodes every frame,
//! though most of them are shown exactly as the source has them. Here the frames a transition,
//! caption, overlay, fade or clip effect touches (and every frame of an image or colour clip)
//! are *changed*; every other frame is *pristine*, a known frame of a source. The `splice`
//! planner copies what the output shows unchanged from a keyframe on (whole GOPs, and the
//! start of a GOP up to where its last complete B-frame group closes before a change) and
//! re-encodes the rest, up to the keyframe after the change. The re-encoded runs are made by the
//! ordinary producers (sub-ranges of the full render's segments, so their frames are the ones a
//! full render would encode) feeding ONE x264 run with an IDR frame at each run's start and its
//! own parameter-set id; `splice` then lays copied and encoded samples out as one track, and the
//! soundtrack is made and muxed exactly as in a full render.
//!
//! [`prepare`] decides whether a timeline allows it and says why not when it does not (the
//! render then re-encodes everything and reports the reason as a note). It requires an H.264
//! software encode into MP4/MOV, and every video clip's source to be an MP4/MOV H.264 High
//! 4:2:0 track of the output's size and frame rate with closed GOPs and parameter sets that fit
//! into one `avcC`. What this room does not do: copy the end of a GOP whose keyframe is not
//! shown (its frames refer to it), or copy from sources of another size, rate or profile (the
//! full render re-encodes those).

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use super::plan::{Plan, Segment, Source, segments};
use super::video::{Frames, SegmentContext, frame_bytes, segment_invocation};
use super::{CommandRecord, Rendered, Steps, VideoSetup, video_setup};
use crate::progress::Progress;
use crate::splice::{self, Origin, Piece, SourceVideo, Take};
use crate::timeline::Timeline;
use crate::tools::encoder::{Codec, Container, VideoEncoder};
use crate::tools::{Invocation, Pipeline};
use crate::{Ffmpeg, MediaError};

/// How much of a smart render was copied and how much re-encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SmartStats {
    /// Output frames copied from the sources byte for byte.
    pub copied_frames: u64,
    /// Output frames re-encoded.
    pub encoded_frames: u64,
    /// Runs of copied GOPs.
    pub copied_runs: usize,
    /// Runs of re-encoded frames (one encoder run makes them all).
    pub encoded_runs: usize,
}

/// What [`prepare`] found: the sources, read, and the pieces of the output.
#[derive(Debug)]
pub(super) struct Prepared {
    sources: Vec<SourceVideo>,
    pieces: Vec<Piece>,
    /// The parameter-set id the encoder uses, one no source uses.
    sps_id: u32,
    /// The H.264 level the sources state (`level_idc`).
    level: u8,
}

/// Decides whether `plan` can be rendered smart: `Ok(None)` when there is nothing to copy
/// (no video clip), `Err(why)` when the sources or the output settings do not allow it.
pub(super) fn prepare(plan: &Plan, tl: &Timeline) -> Result<Option<Prepared>, String> {
    if !plan.clips.iter().any(|c| matches!(c.source, Source::Video { .. })) {
        return Ok(None);
    }
    let enc = &plan.encoding;
    if enc.codec != Codec::H264 || enc.hardware.is_some() {
        return Err("the output is not encoded with the software H.264 encoder (x264)".into());
    }
    if enc.crf == Some(0) {
        return Err("a lossless output (crf 0) is High 4:4:4 Predictive, unlike the sources".into());
    }
    if !matches!(plan.container, Container::Mp4 | Container::Mov) {
        return Err("the output is not an MP4 or MOV file".into());
    }
    if tl.subtitles.as_ref().is_some_and(|s| s.burn) {
        return Err("burned-in subtitles change every frame".into());
    }
    let mut sources: Vec<SourceVideo> = Vec::new();
    let mut clip_source = Vec::with_capacity(plan.clips.len());
    for (i, pc) in plan.clips.iter().enumerate() {
        let Source::Video { path, info } = &pc.source else {
            clip_source.push(None);
            continue;
        };
        let name = path.display();
        let Some(v) = &info.video else { return Err(format!("clip {i} has no picture")) };
        let (w, h) = (plan.width, plan.height);
        if v.codec != "h264" || v.pix_fmt.as_deref() != Some("yuv420p") {
            return Err(format!(
                "clip {i} (`{name}`) is `{}` `{}`, not H.264 yuv420p",
                v.codec,
                v.pix_fmt.as_deref().unwrap_or("?")
            ));
        }
        if v.profile.as_deref() != Some("High") {
            return Err(format!(
                "clip {i} (`{name}`) is H.264 {}, not High like the output",
                v.profile.as_deref().unwrap_or("of an unknown profile")
            ));
        }
        if (v.width, v.height) != (w, h) {
            return Err(format!(
                "clip {i} (`{name}`) is {}x{} where the output is {w}x{h}",
                v.width, v.height
            ));
        }
        let k = if let Some(k) = sources.iter().position(|s| s.path == *path) {
            k
        } else {
            let s = splice::analyse(path).map_err(|why| format!("clip {i}: {why}"))?;
            if !s.has_rate(plan.rate.num, plan.rate.den) {
                return Err(format!(
                    "clip {i} (`{name}`) is not at the output's {} frames per second",
                    plan.rate.expr()
                ));
            }
            sources.push(s);
            sources.len() - 1
        };
        clip_source.push(Some(k));
    }
    let configs: Vec<&[u8]> = sources.iter().map(SourceVideo::avcc).collect();
    splice::merge_avcc(&configs).map_err(|why| format!("the sources' H.264 settings: {why}"))?;
    let (sps_id, level) = fresh_id(&configs).ok_or("the sources use every parameter-set id")?;
    let origins = origins(plan, tl, &clip_source, &sources);
    let cuts: Vec<splice::Cuts> = sources.iter().map(|s| s.cuts.clone()).collect();
    let pieces = splice::plan(&origins, &cuts);
    if !pieces.iter().any(|p| matches!(p, Piece::Copy { .. })) {
        return Err("no whole GOP of a source is shown unchanged".into());
    }
    Ok(Some(Prepared { sources, pieces, sps_id, level }))
}

/// The smallest parameter-set id no source uses for an SPS or a PPS (x264's `sps-id` numbers
/// both), and the highest level the sources state.
fn fresh_id(configs: &[&[u8]]) -> Option<(u32, u8)> {
    let mut used = Vec::new();
    let mut level = 0;
    for c in configs {
        level = level.max(*c.get(3)?);
        used.extend(splice::parameter_set_ids(c)?);
    }
    (0..32).find(|id| !used.contains(id)).map(|id| (id, level))
}

/// Where each output frame comes from (see [`Origin`]).
fn origins(
    plan: &Plan,
    tl: &Timeline,
    clip_source: &[Option<usize>],
    sources: &[SourceVideo],
) -> Vec<Origin> {
    let rate = plan.rate;
    let total = usize::try_from(plan.total_frames).unwrap_or(usize::MAX);
    let mut out = vec![Origin::Changed; total];
    // Output frames whose time `t` may fall in `[start, end]`, one frame wider each side so a
    // filter rounding a time the other way never shows on a copied frame.
    let span = |start: f64, end: f64| {
        let a = (start * rate.value()).floor() - 1.0;
        let b = (end * rate.value()).ceil() + 1.0;
        (a.max(0.0) as usize).min(total)..(b.max(0.0) as usize).min(total)
    };
    for seg in segments(plan) {
        let pc = &plan.clips[seg.clip];
        let c = &pc.clip;
        let untouched = (c.speed - 1.0).abs() < 1e-9
            && !c.reverse
            && !c.greyscale
            && c.eq.is_none()
            && c.blur.is_none()
            && c.crop.is_none();
        let Some(src) = clip_source[seg.clip].filter(|_| untouched) else { continue };
        let from = pc.from * rate.value();
        if (from - from.round()).abs() > 1e-3 {
            // A start between two source frames: what ffmpeg shows is not one source frame.
            continue;
        }
        let first = from.round() as u64;
        for f in 0..seg.body {
            let source_frame = first + seg.start + f;
            if source_frame < sources[src].frames() {
                out[(seg.out_start + f) as usize] = Origin::Pristine { source: src, source_frame };
            }
        }
        // Fades, in clip time.
        let clip_start = rate.seconds(seg.out_start - seg.start);
        let clip_len = rate.seconds(pc.frames);
        if let Some(d) = c.fade_in.filter(|d| *d > 0.0) {
            out[span(clip_start, clip_start + d)].fill(Origin::Changed);
        }
        if let Some(d) = c.fade_out.filter(|d| *d > 0.0) {
            let end = clip_start + clip_len;
            out[span(end - d, end)].fill(Origin::Changed);
        }
    }
    let length = rate.seconds(plan.total_frames);
    for t in &tl.texts {
        out[span(t.start, t.end.unwrap_or(length))].fill(Origin::Changed);
    }
    for o in &tl.overlays {
        out[span(o.start, o.end.unwrap_or(length))].fill(Origin::Changed);
    }
    out
}

/// The part `[from, to)` (frames relative to the segment's start) of a segment, as a segment
/// of its own; a part that reaches into the transition holds all of it (a transition's frames
/// are all changed, so a re-encoded run never cuts one).
fn sub_segment(seg: &Segment, from: u64, to: u64) -> Segment {
    debug_assert_eq!(seg.after, 0, "the smart render cuts from `segments`, which have no `after`");
    if to <= seg.body {
        Segment {
            clip: seg.clip,
            start: seg.start + from,
            body: to - from,
            transition: 0,
            after: 0,
            out_start: seg.out_start + from,
        }
    } else {
        debug_assert_eq!(to, seg.frames(), "a re-encoded run cuts a transition");
        Segment {
            clip: seg.clip,
            start: seg.start + from,
            body: seg.body.saturating_sub(from),
            transition: seg.transition,
            after: 0,
            out_start: seg.out_start + from,
        }
    }
}

/// The segments (and parts of segments) making the output frames `range`.
fn parts(segs: &[Segment], range: &std::ops::Range<u64>) -> Vec<Segment> {
    segs.iter()
        .filter_map(|s| {
            let a = range.start.max(s.out_start);
            let b = range.end.min(s.out_start + s.frames());
            (a < b).then(|| sub_segment(s, a - s.out_start, b - s.out_start))
        })
        .collect()
}

/// The encoder for the re-encoded runs: the output's x264 settings, at the sources' level,
/// with parameter sets numbered `sps_id`, and an IDR frame at each run's start (`starts`,
/// frames of its input) so each run can be cut out whole.
fn encoder(
    video: &VideoEncoder,
    plan: &Plan,
    prepared: &Prepared,
    (frames, starts): (u64, &[u64]),
    out: &Path,
) -> Invocation {
    let mut inv = Invocation::new("encoding the changed frames");
    let size = format!("{}x{}", plan.width, plan.height);
    inv.args(["-f", "rawvideo", "-pix_fmt", "yuv420p", "-video_size", &size]);
    inv.args(["-framerate", &plan.rate.expr(), "-i", "pipe:0"]);
    inv.args(["-map", "0:v:0", "-an", "-frames:v", &frames.to_string()]);
    let mut args = video.args.clone();
    let level = format!("{}.{}", prepared.level / 10, prepared.level % 10);
    let mut params = false;
    for i in 1..args.len() {
        match args[i - 1].as_str() {
            "-level:v" if prepared.level > 0 => args[i].clone_from(&level),
            "-x264-params" => {
                let _ = write!(args[i], ":sps-id={}", prepared.sps_id);
                params = true;
            }
            _ => {}
        }
    }
    if !params {
        args.extend(["-x264-params".into(), format!("sps-id={}", prepared.sps_id)]);
    }
    inv.args(&args);
    let keys = starts.iter().fold(String::from("expr:"), |mut acc, s| {
        if acc.len() > 5 {
            acc.push('+');
        }
        let _ = write!(acc, "eq(n,{s})");
        acc
    });
    inv.args(["-forced-idr", "1", "-force_key_frames", &keys]);
    inv.args(["-f", "mp4"]).arg(out.as_os_str());
    inv
}

/// What [`render`] did: rendered, or found after encoding that the result cannot be spliced
/// (the encoder did not cut where asked), in which case the caller renders in full.
pub(super) enum Outcome {
    Done(Rendered),
    Refused(String),
}

/// Renders `plan` smart into `out`: the changed runs encoded once, spliced with the copied
/// GOPs, muxed with the soundtrack.
pub(super) fn render(
    ff: &Ffmpeg,
    tl: &Timeline,
    plan: &Plan,
    prepared: &Prepared,
    work: &Path,
    out: &Path,
    progress: Option<&(dyn Fn(Progress) + Sync)>,
) -> Result<Outcome, MediaError> {
    let total_seconds = plan.rate.seconds(plan.total_frames);
    let VideoSetup { video, captions, notes, mut commands } = video_setup(ff, tl, plan, work)?;
    let segs = segments(plan);
    let cx = SegmentContext {
        tl,
        plan,
        captions: captions.as_ref().map(|c| c.filter.as_str()),
        work: Some(work),
    };
    // Producers for every re-encoded run, in output order, and where each run starts in the
    // encoder's input.
    let mut producers = Vec::new();
    let mut starts = Vec::new();
    let mut encoded = 0u64;
    let runs: Vec<_> = prepared
        .pieces
        .iter()
        .filter_map(|p| match p {
            Piece::Encode { output_frames } => Some(output_frames.clone()),
            Piece::Copy { .. } => None,
        })
        .collect();
    for range in &runs {
        starts.push(encoded);
        encoded += range.end - range.start;
        debug_assert!(prepared.pieces.iter().any(|p| p.len() == range.end - range.start));
        for part in parts(&segs, range) {
            let mut inv =
                segment_invocation(&cx, (part.clip, segs.len()), &part, Frames::Raw, None)?;
            inv.step = format!(
                "frames {}..{} ({})",
                part.out_start,
                part.out_start + part.frames(),
                inv.step
            );
            producers.push((inv, part.frames()));
        }
    }
    let encoded_file = work.join("changed.mp4");
    let video_run = Pipeline {
        producers,
        frame_bytes: frame_bytes(plan),
        sink: encoder(&video, plan, prepared, (encoded, &starts), &encoded_file),
    };
    let (audio_file, audio, sounds) = super::sound_runs(tl, plan, &segs, work);
    let copied = plan.total_frames - encoded;
    let steps = Steps {
        frames: plan.total_frames,
        seconds: total_seconds,
        count: video_run.producers.len() + 1,
    };
    let on = |frames: u64, done: usize| steps.report(progress, frames, done);
    super::beside_soundtrack(ff, audio.as_ref(), &sounds, || {
        if video_run.producers.is_empty() {
            return Ok(());
        }
        ff.run_pipeline(&video_run, Some(&on), &|_| {})
    })?;
    commands.extend(video_run.producers.iter().map(|(i, _)| CommandRecord::from(i)));
    commands.push(CommandRecord::from(&video_run.sink));
    if let Some(mixer) = &audio {
        commands.extend(sounds.iter().filter_map(|(i, _)| i.as_ref()).map(CommandRecord::from));
        commands.push(CommandRecord::from(mixer));
    }
    // The takes: copied GOPs from the sources, encoded runs from the encoder's file.
    let changed = if runs.is_empty() {
        None
    } else {
        match splice::analyse(&encoded_file) {
            Ok(s) => Some(s),
            Err(why) => return Ok(Outcome::Refused(format!("the re-encoded frames: {why}"))),
        }
    };
    let mut sources: Vec<&SourceVideo> = prepared.sources.iter().collect();
    let changed_index = sources.len();
    sources.extend(changed.as_ref());
    let mut takes = Vec::with_capacity(prepared.pieces.len());
    let mut run = 0;
    for p in &prepared.pieces {
        match p {
            Piece::Copy { source, frames, .. } => {
                takes.push(Take { source: *source, frames: frames.clone() });
            }
            Piece::Encode { output_frames } => {
                let start = starts[run];
                run += 1;
                let frames = start..start + (output_frames.end - output_frames.start);
                takes.push(Take { source: changed_index, frames });
            }
        }
    }
    let layout = match splice::layout(&sources, &takes) {
        Ok(l) if l.frames() == plan.total_frames => l,
        Ok(l) => {
            let n = l.frames();
            return Ok(Outcome::Refused(format!(
                "the spliced video would have {n} frames where the plan has {}",
                plan.total_frames
            )));
        }
        Err(why) => return Ok(Outcome::Refused(why)),
    };
    let spliced = work.join("video.mp4");
    splice::write(&spliced, &sources, &layout, (plan.rate.num, plan.rate.den), None)?;
    let audio_used = audio.is_some().then_some(audio_file.as_path());
    commands.push(super::mux(ff, tl, plan, (&spliced, audio_used), out)?);
    steps.report(progress, plan.total_frames, steps.count);
    Ok(Outcome::Done(Rendered {
        audio: audio.is_some(),
        stream_copy: false,
        segments: video_run.producers.len(),
        commands,
        notes,
        frames: None,
        smart: Some(SmartStats {
            copied_frames: copied,
            encoded_frames: encoded,
            copied_runs: prepared.pieces.len() - runs.len(),
            encoded_runs: runs.len(),
        }),
    }))
}
