//! The copy join: a timeline of matching, untouched videos joined by hard cuts is joined by
//! stream copy, with no frame decoded.
//!
//! Why: a hard-cut join of clips from one generator is the everyday edit, and copying takes a
//! few percent of re-encoding's time with no loss. [`copy_compatible`] decides whether the
//! sources allow it; when they do not, the render re-encodes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::plan::{Plan, Source};
use super::{CommandRecord, Rendered, Steps};
use crate::filter::secs;
use crate::probe::{MediaInfo, VideoInfo};
use crate::progress::Progress;
use crate::timeline::Timeline;
use crate::tools::Invocation;
use crate::tools::encoder::{Codec, Container, container_args};
use crate::{Ffmpeg, MediaError};

/// Writes the concat demuxer's list of `files` into `work`.
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

/// Whether a timeline can be joined by stream copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum CopyJoin {
    /// Every clip is an untouched video matching the output and the others: copy.
    Yes,
    /// The timeline asks for more than a hard-cut join (effects, captions, transitions ...).
    No,
    /// A plain hard-cut join whose sources differ where a valid stream needs them alike; why.
    Mismatch(String),
}

/// Decides whether `tl` is a hard-cut join of clips that can be copied into `plan`'s output.
///
/// What must match for a valid stream: the video codec (H.264, `yuv420p`, a profile players
/// take), the output's size and frame rate, one codec configuration (the output's sample entry
/// keeps only the first clip's SPS/PPS and AAC config), and the sound's codec, sample rate and
/// channels (any AAC rate, as long as every clip has the same, or no clip has sound).
pub(super) fn copy_join(plan: &Plan, tl: &Timeline) -> CopyJoin {
    if !tl.texts.is_empty()
        || !tl.audio.is_empty()
        || !tl.overlays.is_empty()
        || tl.subtitles.as_ref().is_some_and(|s| s.burn)
        || plan.encoding.codec != Codec::H264
        || plan.encoding.hardware.is_some()
        || plan.container == Container::Webm
        || plan.transitions.iter().any(|t| t.0 > 0)
    {
        return CopyJoin::No;
    }
    let mut first: Option<(usize, &MediaInfo)> = None;
    for (i, pc) in plan.clips.iter().enumerate() {
        let c = &pc.clip;
        let Source::Video { info, .. } = &pc.source else { return CopyJoin::No };
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
        let Some(v) = &info.video else { return CopyJoin::No };
        if !untouched || v.still {
            return CopyJoin::No;
        }
        if let Some(why) = video_mismatch(plan, i, v) {
            return CopyJoin::Mismatch(why);
        }
        match first {
            None => first = Some((i, info)),
            Some((k, f)) => {
                if let Some(why) = pair_mismatch((k, f), (i, info)) {
                    return CopyJoin::Mismatch(why);
                }
            }
        }
    }
    CopyJoin::Yes
}

/// Why clip `i`'s video cannot be copied into the output, if it cannot.
fn video_mismatch(plan: &Plan, i: usize, v: &VideoInfo) -> Option<String> {
    if v.codec != "h264" {
        return Some(format!("clip {i} is {}, not H.264", v.codec));
    }
    if v.pix_fmt.as_deref() != Some("yuv420p") {
        let fmt = v.pix_fmt.as_deref().unwrap_or("an unknown pixel format");
        return Some(format!("clip {i} is {fmt}, not yuv420p"));
    }
    let profile = v.profile.as_deref().unwrap_or("unknown");
    if !(profile.contains("High") || profile.contains("Main") || profile.contains("Baseline")) {
        return Some(format!("clip {i}'s H.264 profile is {profile}"));
    }
    if (v.width, v.height) != (plan.width, plan.height) {
        return Some(format!(
            "clip {i} is {}x{}, the output {}x{}",
            v.width, v.height, plan.width, plan.height
        ));
    }
    if v.fps_num * plan.rate.den != plan.rate.num * v.fps_den {
        return Some(format!(
            "clip {i} runs at {} fps, the output at {} fps",
            secs(v.fps()),
            secs(plan.rate.value())
        ));
    }
    None
}

/// Why clip `i` cannot follow clip `k` in one copied stream, if it cannot.
fn pair_mismatch(
    (k, first): (usize, &MediaInfo),
    (i, info): (usize, &MediaInfo),
) -> Option<String> {
    let (fv, v) = (first.video.as_ref()?, info.video.as_ref()?);
    // The output keeps only the first clip's codec configuration (the `avcC` SPS/PPS, the AAC
    // config). ffmpeg's concat demuxer repeats later clips' parameter sets in-band, so ffmpeg
    // itself decodes a mixed join, but players that trust the sample entry (as `avc1` allows)
    // would not: clips whose configurations differ are re-encoded instead.
    if fv.config != v.config {
        return Some(format!(
            "clip {i}'s H.264 parameter sets differ from clip {k}'s (another encoder or other settings)"
        ));
    }
    match (&first.audio, &info.audio) {
        (None, None) => None,
        (Some(_), None) => Some(format!("clip {i} has no sound and clip {k} has")),
        (None, Some(_)) => Some(format!("clip {i} has sound and clip {k} has none")),
        (Some(fa), Some(a)) => {
            if a.codec != "aac" {
                Some(format!("clip {i}'s sound is {}, not AAC", a.codec))
            } else if fa.codec != "aac" {
                Some(format!("clip {k}'s sound is {}, not AAC", fa.codec))
            } else if a.sample_rate != fa.sample_rate {
                Some(format!(
                    "clip {i}'s sound is {} where clip {k}'s is {}",
                    khz(a.sample_rate),
                    khz(fa.sample_rate)
                ))
            } else if a.channels != fa.channels {
                Some(format!(
                    "clip {i}'s sound has {} channels where clip {k}'s has {}",
                    a.channels, fa.channels
                ))
            } else if a.config != fa.config {
                Some(format!("clip {i}'s AAC configuration differs from clip {k}'s"))
            } else {
                None
            }
        }
    }
}

/// `48 kHz`, `44.1 kHz`.
fn khz(hz: u32) -> String {
    format!("{} kHz", secs(f64::from(hz) / 1000.0))
}

/// Joins the plan's clips by stream copy into `out`.
pub(super) fn join(
    ff: &Ffmpeg,
    plan: &Plan,
    work: &Path,
    out: &Path,
    progress: Option<&(dyn Fn(Progress) + Sync)>,
) -> Result<Rendered, MediaError> {
    let total_seconds = plan.rate.seconds(plan.total_frames);
    let mut copied_frames = None;
    let files: Vec<PathBuf> = plan
        .clips
        .iter()
        .filter_map(|c| match &c.source {
            Source::Video { path, .. } => Some(path.clone()),
            _ => None,
        })
        .collect();
    let has_audio = plan.clips.iter().any(|c| c.audio);
    let list = concat_list(work, &files)?;
    let mut inv = Invocation::new("join by stream copy");
    inv.args(["-f", "concat", "-safe", "0", "-i"]).arg(crate::tools::file_arg(&list));
    inv.args(["-map", "0:v:0"]);
    if has_audio {
        inv.args(["-map", "0:a:0"]);
    }
    inv.args(["-c", "copy"]);
    inv.args(container_args(plan.container));
    inv.args(["-f", plan.container.muxer()]).arg(crate::tools::file_arg(out));
    let steps = Steps { frames: plan.total_frames, seconds: total_seconds, count: 1 };
    let on = |snap: &crate::progress::ProgressSnapshot| {
        if let Some(f) = snap.frame {
            steps.report(progress, f, usize::from(snap.end));
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
        && let Ok(info) = ff.probe_fast(out)
    {
        copied_frames = info.video.and_then(|v| v.frames);
    }
    steps.report(progress, plan.total_frames, 1);
    Ok(Rendered {
        audio: has_audio,
        stream_copy: true,
        segments: 0,
        commands: vec![CommandRecord::from(&inv)],
        notes: Vec::new(),
        frames: copied_frames,
    })
}
