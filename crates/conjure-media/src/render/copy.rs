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
use crate::progress::Progress;
use crate::timeline::Timeline;
use crate::tools::Invocation;
use crate::tools::encoder::{Container, container_args};
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

/// True when `info` is already what a hard-cut copy join into `plan`'s output needs.
pub(super) fn copy_compatible(plan: &Plan, tl: &Timeline) -> bool {
    if !tl.texts.is_empty()
        || !tl.audio.is_empty()
        || !tl.overlays.is_empty()
        || tl.subtitles.as_ref().is_some_and(|s| s.burn)
    {
        return false;
    }
    if plan.encoding.codec != crate::tools::encoder::Codec::H264
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
