//! Rendering a [`Timeline`]: probe, plan, render the segments, join them, mux by stream copy.
//!
//! Rooms: [`plan`] (one probing step, then pure planning), `video` (segment runs, the one
//! encoder some of them feed, and the splice of segments that encode themselves), `audio` (the
//! soundtrack), `copy` (the stream-copy join), `smart` (copy the GOPs an edit leaves alone,
//! re-encode the rest). This module chooses the way to render and runs it: a copy join when
//! nothing changes, else a smart render when the sources allow it (unless
//! [`RenderOptions::full_render`]), else a full render, with a note saying why not smart.
//!
//! Key terms:
//! - *clip length* `L`: a clip's frames on the timeline; a transition of `T` frames overlaps the
//!   last `T` frames of one clip with the first `T` of the next, so the output has
//!   `sum(L) - sum(T)` frames exactly.
//! - *segment*: one ffmpeg run that decodes and filters an exact number of output frames: a
//!   clip's body followed by its transition into the next clip (the clip's tail and the next
//!   clip's head through `xfade`) and, in a full render, the next clip's frames up to its first
//!   keyframe after the transition, where the next segment starts (so no frame is decoded
//!   twice), or all of them when no transition leads out of the next clip (one run fewer; see
//!   `plan::segments_on_keyframes`). A segment has at most two clip inputs plus
//!   overlays, so its memory does not grow with the number of clips. Segments run one at a
//!   time.
//! - *full render with x264* (the usual case): each segment's run also encodes its frames, with
//!   the output's x264 settings, into a file of its own, opening with an IDR picture; the files
//!   are then spliced into one track by stream copy (`crate::splice`, the smart render's
//!   machinery). Why: encoding inside the segments' runs costs the CPU time the decode+encode
//!   floor spends encoding the same frames (measured equal), where producers piping raw frames
//!   into a separate encoder cost 1-2 s CPU more on the reference edit (BENCHMARKS.md,
//!   "Post-production"). With CRF a frame's quality does not depend on one rate control across
//!   the edit. Memory stays one segment run's (decoders, filters and one x264).
//! - *producer* and *encoder* (other codecs, hardware encoders, and the smart render's changed
//!   runs): segment runs write raw frames to their stdout and one encoder run reads them all, in
//!   order, and encodes each output frame exactly once; the frame count of every segment is
//!   checked byte for byte.
//! - *audio pass*: each segment's run also writes its segment's sound (clip sound or silence,
//!   crossfaded at transitions) to a file, from the inputs it already decodes. When the
//!   segments encode themselves one after another, the last segment's run reads the earlier
//!   segments' sound from one file, mixes in the music and encodes the soundtrack; otherwise
//!   one audio-only run (the *mixer*) beside the video takes each file as its run finishes,
//!   mixes in the music and encodes. The video and the soundtrack are then muxed by stream
//!   copy: by the splicer itself when it writes the output (a full render with x264 into MP4),
//!   else by one ffmpeg run.
//! - *transitions*: drawn on the `yuv420p` frames as they are where that gives `xfade`'s
//!   picture (`video::transition_graph`): no `yuv444p` round trip, and a dissolve from masks
//!   computed once rather than a sine per pixel and frame.
//!
//! A timeline of matching, untouched videos joined by hard cuts skips all of this and is joined
//! by stream copy directly. What this module does not do: decide whether an output format is
//! allowed for delivery (the CLI's policy) or retry a failed ffmpeg run (R7).

mod audio;
mod copy;
mod plan;
mod smart;
mod video;

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use self::smart::SmartStats;

use self::audio::{SegmentSound, audio_segment, audio_sink, soundtrack};
use self::copy::CopyJoin;
use self::plan::{Plan, segments_on_keyframes};
use self::video::{Frames, SegmentContext, encoder_invocation, frame_bytes, segment_invocation};
use crate::progress::Progress;
use crate::timeline::Timeline;
use crate::tools::encoder::{Codec, Container, VideoEncoder, container_args};
use crate::tools::{Invocation, Pipeline};
use crate::{Ffmpeg, MediaError};

/// Options for [`render`].
#[derive(Clone, Copy, Default)]
pub struct RenderOptions<'a> {
    /// Called from worker threads as work completes.
    pub progress: Option<&'a (dyn Fn(Progress) + Sync)>,
    /// Keep the working folder (for debugging); its path is in the report.
    pub keep_temp: bool,
    /// Told (sources probed, distinct sources) while the sources are read, before any frame.
    pub probing: Option<&'a (dyn Fn(usize, usize) + Sync)>,
    /// Re-encode every frame even when the sources would allow copying some of them.
    pub full_render: bool,
}

impl std::fmt::Debug for RenderOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderOptions")
            .field("keep_temp", &self.keep_temp)
            .field("full_render", &self.full_render)
            .finish_non_exhaustive()
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
    /// Frames copied and re-encoded, when the render was smart (copied the GOPs the edit
    /// leaves alone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smart: Option<SmartStats>,
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
    let progress = opts.progress.or(scoped_cb.as_ref().map(|f| f as &(dyn Fn(Progress) + Sync)));
    let plan = plan::plan(tl, &plan::probe(ff, tl, opts.probing)?)?;
    let out = tl.output.path.clone();
    // Removed by a stop signal too (a process exiting on a signal runs no destructors), and
    // after a kill by the next run.
    let work = crate::workdir::WorkDir::new("render")?;
    let partial = crate::outputs::Partial::new(&out)?;
    let rendered = match copy::copy_join(&plan, tl) {
        CopyJoin::Yes => copy::join(ff, &plan, work.path(), partial.path(), progress)?,
        other => {
            let mut r = if opts.full_render {
                full(ff, tl, &plan, work.path(), partial.path(), progress)?
            } else {
                smart_or_full(ff, tl, &plan, work.path(), partial.path(), progress)?
            };
            if let CopyJoin::Mismatch(why) = other {
                r.notes.insert(0, format!("re-encoded rather than joined by stream copy: {why}"));
            }
            r
        }
    };
    partial.finish()?;
    let temp_dir = if opts.keep_temp { Some(work.keep()) } else { None };
    let frames = rendered.frames.unwrap_or(plan.total_frames);
    Ok(RenderReport {
        output: out,
        duration: plan.rate.seconds(frames),
        frames,
        width: plan.width,
        height: plan.height,
        fps: plan.rate.value(),
        audio: rendered.audio,
        stream_copy: rendered.stream_copy,
        segments: rendered.segments,
        commands: rendered.commands,
        notes: rendered.notes,
        temp_dir,
        smart: rendered.smart,
    })
}

/// What one way of rendering (copy join, full render) produced, for the report.
struct Rendered {
    audio: bool,
    stream_copy: bool,
    segments: usize,
    commands: Vec<CommandRecord>,
    notes: Vec<String>,
    /// Frames written, when they may differ from the plan's (a copy keeps the sources' frames).
    frames: Option<u64>,
    /// What a smart render copied and re-encoded.
    smart: Option<SmartStats>,
}

/// A smart render when the sources allow it, else a full render with a note saying why not
/// (no note when there is no video clip to copy from).
fn smart_or_full(
    ff: &Ffmpeg,
    tl: &Timeline,
    plan: &Plan,
    work: &Path,
    out: &Path,
    progress: Option<&(dyn Fn(Progress) + Sync)>,
) -> Result<Rendered, MediaError> {
    let why_not = match smart::prepare(plan, tl) {
        Ok(None) => None,
        Ok(Some(prepared)) => match smart::render(ff, tl, plan, &prepared, work, out, progress)? {
            smart::Outcome::Done(r) => return Ok(r),
            smart::Outcome::Refused(why) => Some(why),
        },
        Err(why) => Some(why),
    };
    let mut r = full(ff, tl, plan, work, out, progress)?;
    r.notes
        .extend(why_not.map(|why| format!("every frame was re-encoded (no smart render): {why}")));
    Ok(r)
}

/// Plans a timeline without running anything: output frames and segment count.
pub fn plan_summary(
    ff: &Ffmpeg,
    tl: &Timeline,
    probing: Option<&(dyn Fn(usize, usize) + Sync)>,
) -> Result<(u64, f64, usize), MediaError> {
    let plan = plan::plan(tl, &plan::probe(ff, tl, probing)?)?;
    Ok((plan.total_frames, plan.rate.value(), plan::segments(&plan).len()))
}

/// What every re-encoding render starts from: the video encoder for this machine, the captions
/// drawn once for the whole edit, and the notes and commands they bring.
struct VideoSetup {
    video: VideoEncoder,
    captions: Option<crate::captions::Captions>,
    notes: Vec<String>,
    commands: Vec<CommandRecord>,
}

/// Chooses the encoder and prepares the captions (fonts copied into `work`).
fn video_setup(
    ff: &Ffmpeg,
    tl: &Timeline,
    plan: &Plan,
    work: &Path,
) -> Result<VideoSetup, MediaError> {
    let video = plan.encoding.video_encoder(ff, plan.width, plan.height, plan.rate.value())?;
    let mut notes: Vec<String> = video.note.iter().cloned().collect();
    let mut commands = Vec::new();
    let captions = if tl.texts.is_empty() {
        None
    } else {
        let c = crate::captions::prepare(
            ff,
            &tl.texts,
            (plan.width, plan.height),
            plan.rate.seconds(plan.total_frames),
            work,
            &|i| format!("texts[{i}]"),
        )?;
        notes.extend(c.notes.iter().cloned());
        commands.extend(c.commands.iter().map(CommandRecord::from));
        Some(c)
    };
    Ok(VideoSetup { video, captions, notes, commands })
}

/// Re-encodes the whole timeline, the soundtrack made beside the video, then both muxed into
/// `out`. With x264 each segment's run encodes its own frames and the segments are spliced by
/// stream copy; otherwise the segments' producers feed one encoder (see [`encodes_per_segment`]).
fn full(
    ff: &Ffmpeg,
    tl: &Timeline,
    plan: &Plan,
    work: &Path,
    out: &Path,
    progress: Option<&(dyn Fn(Progress) + Sync)>,
) -> Result<Rendered, MediaError> {
    let total_seconds = plan.rate.seconds(plan.total_frames);
    let VideoSetup { video, captions, mut notes, mut commands } = video_setup(ff, tl, plan, work)?;
    let segs = segments_on_keyframes(plan);
    let cx = SegmentContext {
        tl,
        plan,
        captions: captions.as_ref().map(|c| c.filter.as_str()),
        work: Some(work),
    };
    let (audio_file, audio) = soundtrack_sink(tl, plan, work);
    let has_audio = audio.is_some();
    // Each segment's run also writes the segment's sound (read from the inputs it already
    // decodes) to a file: handed to the mixer as soon as the run has finished or, when the
    // segments encode themselves one after another, read by the last segment's run, which
    // makes the soundtrack itself (one ffmpeg run fewer).
    let hz = plan.sample_rate;
    let sound_files: Vec<PathBuf> =
        (0..segs.len()).map(|i| work.join(format!("sound{i:05}.raw"))).collect();
    let pieces: Vec<crate::tools::Piece> = segs
        .iter()
        .zip(&sound_files)
        .map(|(s, file)| audio::segment_piece(plan, hz, s, file))
        .collect();
    let sound = |i: usize| has_audio.then_some((hz, SegmentSound::Raw(&sound_files[i])));
    let count = segs.len();
    let pipeline = |with_sound: bool| -> Result<Pipeline, MediaError> {
        Ok(Pipeline {
            producers: segs
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let sound = sound(i).filter(|_| with_sound);
                    Ok((segment_invocation(&cx, (i, count), s, Frames::Raw, sound)?, s.frames()))
                })
                .collect::<Result<_, MediaError>>()?,
            frame_bytes: frame_bytes(plan),
            sink: encoder_invocation(plan, &video, &work.join("video.mp4")),
        })
    };
    let video_file = work.join("video.mp4");
    let steps = Steps { frames: plan.total_frames, seconds: total_seconds, count };
    let on = |frames: u64, done: usize| steps.report(progress, frames, done);
    let per_segment = encodes_per_segment(plan, &video);
    let files: Vec<(PathBuf, u64)> = segs
        .iter()
        .enumerate()
        .map(|(i, s)| (work.join(format!("segment{i:05}.mp4")), s.frames()))
        .collect();
    if per_segment {
        let earlier = work.join("sound-earlier.raw");
        for (i, s) in segs.iter().enumerate() {
            let frames = Frames::Encoded(&video, &files[i].0);
            let sound = if i + 1 == count && has_audio {
                // The sound of every segment before this one, in one file.
                let before = (i > 0).then_some(earlier.as_path());
                if before.is_some() {
                    crate::tools::write_pieces(&pieces[..i], &earlier, "the soundtrack")?;
                }
                Some((hz, SegmentSound::Soundtrack { earlier: before, out: &audio_file }))
            } else {
                sound(i)
            };
            let inv = segment_invocation(&cx, (i, count), s, frames, sound)?;
            let at = s.out_start;
            let snap = |p: &crate::progress::ProgressSnapshot| {
                if let Some(f) = p.frame {
                    on(at + f.min(s.frames()), i);
                }
            };
            ff.run(&inv, Some(&snap))?;
            commands.push(CommandRecord::from(&inv));
            on(at + s.frames(), i + 1);
        }
    } else {
        mixed_beside(ff, audio.as_ref(), |to_mixer| {
            let hand = |i: usize| {
                if let Some(to_mixer) = to_mixer {
                    // A mixer that has hung up has failed; its own error is reported.
                    let _ = to_mixer.send(pieces[i].clone());
                }
            };
            let run = pipeline(true)?;
            ff.run_pipeline(&run, Some(&on), &hand)?;
            commands.extend(run.producers.iter().map(|(i, _)| CommandRecord::from(i)));
            commands.push(CommandRecord::from(&run.sink));
            Ok(())
        })?;
        if let Some(mixer) = &audio {
            commands.push(CommandRecord::from(mixer));
        }
    }
    // The segments joined by stream copy; straight into `out` with the soundtrack when the
    // splicer can write the output's container (an MP4 with AAC and no soft subtitles), which
    // saves the mux run. `Some(Err(why))`: they were encoded but could not be spliced.
    let mut muxed = false;
    let mut spliced: Option<Result<(), String>> = None;
    if per_segment {
        let sound = if has_audio { crate::mp4::read_sound_track(&audio_file) } else { None };
        if muxes_in_splice(tl, plan) && has_audio == sound.is_some() {
            let r = video::splice_segments(&files, plan.rate, out, sound.as_ref())?;
            muxed = r.is_ok();
            spliced = Some(r);
        } else {
            spliced = Some(video::splice_segments(&files, plan.rate, &video_file, None)?);
        }
    }
    if let Some(Err(why)) = spliced {
        // The sound is made; only the picture is encoded again, through one encoder.
        notes.push(format!(
            "the segments, each encoded by its own run, could not be joined by stream copy \
             ({why}); they were encoded again through one encoder"
        ));
        let run = pipeline(false)?;
        ff.run_pipeline(&run, Some(&on), &|_| {})?;
        commands.extend(run.producers.iter().map(|(i, _)| CommandRecord::from(i)));
        commands.push(CommandRecord::from(&run.sink));
    }
    if !muxed {
        let audio_used = has_audio.then_some(audio_file.as_path());
        commands.push(mux(ff, tl, plan, (&video_file, audio_used), out)?);
    }
    Ok(Rendered {
        audio: has_audio,
        stream_copy: false,
        segments: segs.len(),
        commands,
        notes,
        frames: None,
        smart: None,
    })
}

/// Whether a full render's segments encode themselves and are spliced by stream copy, rather
/// than feed one encoder: with x264 (software H.264, which the splicer reads).
///
/// Why: one encoder fed raw frames by the producers keeps decoding and encoding in separate
/// processes that exchange every frame through a pipe; on the reference edit that cost 1-2 s
/// CPU more than the same work in one process (BENCHMARKS.md, "Post-production"). With CRF a frame's quality does not depend on one rate control across the edit, so each
/// segment can be encoded alone, opening with an IDR picture where the splice joins it.
fn encodes_per_segment(plan: &Plan, video: &VideoEncoder) -> bool {
    plan.encoding.codec == Codec::H264
        && video.device_args.is_empty()
        && video.filter_tail.is_empty()
        && video.args.windows(2).any(|w| w == ["-c:v", "libx264"])
}

/// Whether the splicer can write the output itself, video and sound (see
/// [`crate::splice::write`]): an MP4 whose sound, if any, is AAC (the soundtrack run's `.m4a`),
/// with no soft subtitles to mux. Otherwise one ffmpeg run muxes by stream copy.
fn muxes_in_splice(tl: &Timeline, plan: &Plan) -> bool {
    plan.container == Container::Mp4
        && !plan.encoding.opus(plan.container)
        && tl.subtitles.as_ref().is_none_or(|s| s.burn)
}

/// Each segment's sound run (none for a silent one) and what it hands the mixer.
type SoundRuns = Vec<(Option<Invocation>, crate::tools::Piece)>;

/// Where the soundtrack goes and the mixer run writing it (`None` for a silent output).
fn soundtrack_sink(tl: &Timeline, plan: &Plan, work: &Path) -> (PathBuf, Option<Invocation>) {
    // AAC goes through MP4, whose edit list carries the encoder's priming to the output (a
    // Matroska intermediate would lose it and start the sound 1024 samples late); Opus through
    // Matroska, which carries its pre-skip.
    let opus = plan.encoding.opus(plan.container);
    let audio_file = work.join(if opus { "audio.mka" } else { "audio.m4a" });
    let audio = audio_sink(tl, plan, plan.sample_rate, &audio_file);
    (audio_file, audio)
}

/// The soundtrack's runs when the producers do not make the sound (smart render): where the
/// mixer writes it, the mixer (`None` for a silent output) and each segment's sound run.
fn sound_runs(
    tl: &Timeline,
    plan: &Plan,
    segs: &[plan::Segment],
    work: &Path,
) -> (PathBuf, Option<Invocation>, SoundRuns) {
    let (audio_file, audio) = soundtrack_sink(tl, plan, work);
    let hz = plan.sample_rate;
    let sounds = segs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let file = work.join(format!("sound{i:05}.raw"));
            audio_segment(plan, hz, (i, segs.len()), s, &file)
        })
        .collect();
    (audio_file, audio, sounds)
}

/// Runs `video` while the `mixer` run mixes in the music and encodes the sound it is handed:
/// `video` gets the channel to hand it each segment's sound as it is made (`None` when the
/// output is silent).
fn mixed_beside(
    ff: &Ffmpeg,
    mixer: Option<&Invocation>,
    video: impl FnOnce(Option<&std::sync::mpsc::Sender<crate::tools::Piece>>) -> Result<(), MediaError>,
) -> Result<(), MediaError> {
    let (video_result, audio_result) = std::thread::scope(|scope| {
        let (to_mixer, pieces) = std::sync::mpsc::channel();
        let mixing = mixer.map(|mixer| scope.spawn(move || ff.run_fed(mixer, pieces)));
        let v = video(mixing.is_some().then_some(&to_mixer));
        // Closing the channel ends the mixer's input; after a failed video the render is lost
        // anyway, so a short soundtrack does no harm.
        drop(to_mixer);
        (v, soundtrack_result(mixing))
    });
    video_result?;
    audio_result
}

/// Runs `video` while the soundtrack is made beside it: one small run per segment writes its
/// sound to a file, and the `mixer` run mixes in the music and encodes it as the files arrive.
fn beside_soundtrack(
    ff: &Ffmpeg,
    mixer: Option<&Invocation>,
    sounds: &[(Option<Invocation>, crate::tools::Piece)],
    video: impl FnOnce() -> Result<(), MediaError>,
) -> Result<(), MediaError> {
    let video_failed = std::sync::atomic::AtomicBool::new(false);
    let (video_result, audio_result) = std::thread::scope(|scope| {
        let audio_run = mixer.map(|mixer| {
            let video_failed = &video_failed;
            scope.spawn(move || soundtrack(ff, mixer, sounds, video_failed))
        });
        let v = video();
        if v.is_err() {
            video_failed.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        (v, soundtrack_result(audio_run))
    });
    video_result?;
    audio_result
}

/// How the soundtrack's thread ended (`Ok` when there was none).
fn soundtrack_result(
    run: Option<std::thread::ScopedJoinHandle<'_, Result<(), MediaError>>>,
) -> Result<(), MediaError> {
    run.map_or(Ok(()), |h| {
        h.join().unwrap_or_else(|_| Err(MediaError::option("audio", "the soundtrack run panicked")))
    })
}

/// Muxes the encoded video, the soundtrack (when there is one) and soft subtitles into `out`,
/// all by stream copy.
fn mux(
    ff: &Ffmpeg,
    tl: &Timeline,
    plan: &Plan,
    (video_file, audio_file): (&Path, Option<&Path>),
    out: &Path,
) -> Result<CommandRecord, MediaError> {
    let mut inv = Invocation::new("muxing video and sound by stream copy");
    inv.arg("-i").arg(crate::tools::file_arg(video_file));
    let mut next_input = 1;
    if let Some(audio_file) = audio_file {
        inv.arg("-i").arg(crate::tools::file_arg(audio_file));
        next_input += 1;
    }
    let soft_subs = tl.subtitles.as_ref().filter(|s| !s.burn);
    if let Some(s) = soft_subs {
        inv.arg("-i").arg(crate::tools::file_arg(&s.path));
    }
    inv.args(["-map", "0:v:0"]);
    if audio_file.is_some() {
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
    inv.args(["-f", plan.container.muxer()]).arg(crate::tools::file_arg(out));
    ff.run(&inv, None)?;
    Ok(CommandRecord::from(&inv))
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
