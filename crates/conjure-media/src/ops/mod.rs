//! Single-step operations: one function per step, each taking a typed options struct.
//!
//! Every function probes its input, builds one argument vector, runs ffmpeg into a hidden
//! sibling file and renames it into place, so a failure never leaves a half-written output.
//! Rules from the post-processing spec applied throughout: audio is kept unless the step is
//! about removing it (R1); MP4 output uses the R2 profile; sizes are even (R4); missing
//! encoders and filters fail with a clear message (R5); ffmpeg's own error is returned (R7).
//! Steps that are really edits (join, crossfade, slideshow) build a [`crate::Timeline`] and
//! render it, so they share its stream-copy fast path and frame-exact segments.
//!
//! Modules: [`video`] (cutting, framing, effects, text, overlays, subtitles), [`audio`],
//! [`convert`](mod@convert) (containers, GIF, metadata), [`frames`](mod@frames) (stills out,
//! stills in), and [`op`]: every step as one serde value, [`Op`], whose one [`Op::run`] also
//! routes images to [`crate::image_ops`]; front ends (CLI, MCP, batch) call that rather than
//! these functions.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::outputs::Partial;
use crate::render::CommandRecord;
use crate::tools::Invocation;
use crate::tools::encoder::{Container, Encoding, container_args};
use crate::{Ffmpeg, MediaError, MediaInfo};

pub mod audio;
pub mod convert;
pub mod frames;
pub mod op;
pub mod video;

pub use audio::*;
pub use convert::*;
pub use frames::*;
pub use op::{Op, OpEncoding, OpOutcome, RunOptions};
pub use video::*;

/// What an operation produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpReport {
    /// Files written.
    pub outputs: Vec<PathBuf>,
    /// True when no stream was re-encoded.
    pub stream_copy: bool,
    /// Things the user should know (e.g. a GIF has no sound).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The ffmpeg commands that ran.
    pub commands: Vec<CommandRecord>,
}

impl OpReport {
    fn single(output: &Path, stream_copy: bool, inv: &Invocation) -> Self {
        Self {
            outputs: vec![output.to_path_buf()],
            stream_copy,
            notes: Vec::new(),
            commands: vec![inv.into()],
        }
    }

    fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// Adds the encoder's note (a hardware encoder asked for but absent), if any.
    fn encoder_note(self, enc: &crate::tools::encoder::VideoEncoder) -> Self {
        match &enc.note {
            Some(n) => self.note(n.clone()),
            None => self,
        }
    }
}

/// Which sound to keep when two videos are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AudioPick {
    /// The first (main) input's sound.
    #[default]
    First,
    /// The second input's sound.
    Second,
    /// Both, mixed.
    Mix,
}

pub(crate) fn video_container(output: &Path, enc: &Encoding) -> Result<Container, MediaError> {
    let c = Container::from_path(output).ok_or_else(|| {
        MediaError::option(
            "output",
            format!("`{}` needs an extension of .mp4, .mov, .mkv or .webm", output.display()),
        )
    })?;
    if !c.allows(enc.codec) {
        return Err(MediaError::option(
            "codec",
            format!(
                "`{:?}` cannot be written to `{}`; use .mkv or .webm for VP9/AV1, .mp4 for H.264/H.265",
                enc.codec,
                output.display()
            ),
        ));
    }
    Ok(c)
}

pub(crate) fn probe_video(ff: &Ffmpeg, input: &Path) -> Result<MediaInfo, MediaError> {
    let info = ff.probe(input)?;
    if info.video.is_none() {
        return Err(MediaError::BadInput {
            path: input.to_path_buf(),
            problem: "has no video stream".into(),
        });
    }
    Ok(info)
}

pub(crate) fn run_to(
    ff: &Ffmpeg,
    mut inv: Invocation,
    container: Option<Container>,
    muxer: &str,
    output: &Path,
) -> Result<Invocation, MediaError> {
    if let Some(c) = container {
        inv.args(container_args(c));
    }
    let partial = Partial::new(output)?;
    inv.args(["-f", muxer]).arg(crate::tools::file_arg(partial.path()));
    ff.run(&inv, None)?;
    partial.finish()?;
    Ok(inv)
}

/// Audio encoder arguments for an output whose sound comes from `sources` (their common sample
/// rate when they share one, else 48 kHz; see [`Encoding::sample_rate`]).
pub(crate) fn audio_out(
    enc: &Encoding,
    container: Container,
    sources: &[&MediaInfo],
) -> Vec<String> {
    let rates = sources.iter().filter_map(|i| i.audio.as_ref().map(|a| a.sample_rate));
    enc.audio_args(container, enc.sample_rate(container, rates))
}

/// Re-encodes `input` through a video filter chain and an audio filter chain (either may be
/// empty), keeping the audio when there is some (R1).
pub(crate) fn reencode(
    ff: &Ffmpeg,
    step: &str,
    input: &Path,
    output: &Path,
    enc: &Encoding,
    vf: &str,
    af: &str,
) -> Result<OpReport, MediaError> {
    if is_still_output(output) {
        let vf = if vf.is_empty() { "null" } else { vf };
        return still(ff, step, input, output, &["-vf", vf]);
    }
    let info = probe_video(ff, input)?;
    let container = video_container(output, enc)?;
    let v = info.video.as_ref().map_or((0, 0, 30.0), |v| (v.width, v.height, v.fps()));
    let venc = enc.video_encoder(ff, v.0, v.1, v.2)?;
    // The sound is first cut to the picture's length (a decoder gives back an AAC stream's
    // padding past its stated end), so it ends with the picture whatever `af` then does.
    let af = with_picture_length(&info, af);
    let audio = info.audio.is_some().then(|| (af.as_str(), audio_out(enc, container, &[&info])));
    let inv = reencode_invocation(step, input, &venc, vf, audio);
    let inv = run_to(ff, inv, Some(container), container.muxer(), output)?;
    Ok(OpReport::single(output, false, &inv).encoder_note(&venc))
}

/// Whether a step's output is a still image (by extension): geometry and colour steps then
/// work on one frame, so they apply to PNG/JPEG/WebP images as their help says.
pub(crate) fn is_still_output(output: &Path) -> bool {
    matches!(
        output.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref(),
        Some("png" | "jpg" | "jpeg" | "webp")
    )
}

/// One frame of `input` through `filter` (`-vf CHAIN` or `-filter_complex GRAPH -map [L]`),
/// written as the still `output`.
pub(crate) fn still(
    ff: &Ffmpeg,
    step: &str,
    input: &Path,
    output: &Path,
    filter: &[&str],
) -> Result<OpReport, MediaError> {
    probe_video(ff, input)?;
    let codec = frames::image_muxer_args(output)?;
    let mut inv = Invocation::new(format!("{step} (image)"));
    inv.arg("-i").arg(crate::tools::file_arg(input));
    inv.args(filter.iter().copied());
    inv.args(["-frames:v", "1", "-update", "1"]);
    inv.args(codec);
    let inv = run_to(ff, inv, None, "image2", output)?;
    Ok(OpReport::single(output, false, &inv))
}

/// The arguments of [`reencode`] up to the output: a pure function. `audio` is the audio
/// filter chain and encoder arguments when the input has sound.
fn reencode_invocation(
    step: &str,
    input: &Path,
    venc: &crate::tools::encoder::VideoEncoder,
    vf: &str,
    audio: Option<(&str, Vec<String>)>,
) -> Invocation {
    let mut inv = Invocation::new(step);
    inv.arg("-i").arg(crate::tools::file_arg(input));
    let vf = venc.chain(&if vf.is_empty() {
        "format=yuv420p".to_string()
    } else {
        format!("{vf},format=yuv420p")
    });
    inv.args(["-map", "0:v:0", "-vf", &vf]);
    venc.apply(&mut inv);
    if let Some((af, args)) = audio {
        inv.args(["-map", "0:a:0"]);
        if !af.is_empty() {
            inv.args(["-af", af]);
        }
        inv.args(args);
    }
    inv
}

/// `af` preceded by a cut of the sound to the picture's length, when there is a picture.
fn with_picture_length(info: &MediaInfo, af: &str) -> String {
    if info.video.as_ref().is_none_or(|v| v.still) {
        return af.to_string();
    }
    let cut = format!("atrim=duration={}", crate::filter::secs(info.video_duration()));
    if af.is_empty() { cut } else { format!("{cut},{af}") }
}

/// Keeps the video as it is and re-encodes only the audio through `af`.
pub(crate) fn audio_only_filter(
    ff: &Ffmpeg,
    step: &str,
    input: &Path,
    output: &Path,
    af: &str,
) -> Result<OpReport, MediaError> {
    let info = ff.probe(input)?;
    if info.audio.is_none() {
        return Err(MediaError::BadInput {
            path: input.to_path_buf(),
            problem: "has no audio stream to change".into(),
        });
    }
    let container = Container::from_path(output).unwrap_or(Container::Mp4);
    let mut inv = Invocation::new(step);
    inv.arg("-i").arg(crate::tools::file_arg(input));
    if info.video.is_some() {
        inv.args(["-map", "0:v:0", "-c:v", "copy"]);
    }
    inv.args(["-map", "0:a:0", "-af", &with_picture_length(&info, af)]);
    inv.args(audio_out(&Encoding::default(), container, &[&info]));
    let inv = run_to(ff, inv, Some(container), container.muxer(), output)?;
    Ok(OpReport::single(output, false, &inv))
}

/// A pixel size option: 2 to 16384, else refused; an odd one is rounded down to even for
/// H.264 (R4), with a note saying so.
pub(crate) fn size_option(
    name: &str,
    value: Option<u32>,
    notes: &mut Vec<String>,
) -> Result<(), MediaError> {
    match value {
        Some(v) if !(2..=16_384).contains(&v) => {
            Err(MediaError::option(name, format!("`{v}` is not allowed; use 2 to 16384 pixels")))
        }
        Some(v) if v % 2 == 1 => {
            notes.push(format!(
                "{name} {v} rounded to {} (H.264 video needs even sizes)",
                crate::filter::even(f64::from(v))
            ));
            Ok(())
        }
        _ => Ok(()),
    }
}

fn check_range(name: &str, v: f64, lo: f64, hi: f64) -> Result<(), MediaError> {
    if v.is_finite() && (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(MediaError::option(name, format!("`{v}` is not allowed; use {lo} to {hi}")))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::tools::encoder::{EncoderSupport, Hardware};

    #[test]
    fn vaapi_uploads_at_the_end_of_a_single_step_chain() {
        let encoders: BTreeSet<String> = ["libx264", "h264_vaapi"].map(String::from).into();
        let support = EncoderSupport { encoders: &encoders, vaapi_device: true };
        let enc = Encoding { hardware: Some(Hardware::Vaapi), ..Encoding::default() };
        let venc = enc.compile_video(support, 320, 180, 30.0).unwrap();
        let audio = Some(("volume=2", enc.audio_args(Container::Mp4, 48_000)));
        let inv = reencode_invocation("colour", Path::new("in.mp4"), &venc, "hue=s=0", audio);
        let a = inv.display_args();
        assert_eq!(
            &a[..4],
            ["-init_hw_device", "vaapi=va:/dev/dri/renderD128", "-filter_hw_device", "va"]
        );
        assert_eq!(&a[4..6], ["-i", "file:in.mp4"]);
        let vf = a.iter().position(|x| x == "-vf").unwrap();
        assert_eq!(a[vf + 1], "hue=s=0,format=yuv420p,format=nv12,hwupload");
        assert_eq!(a.iter().filter(|x| *x == "-vf").count(), 1);
        assert!(a.windows(2).any(|w| w == ["-c:v", "h264_vaapi"]));
        assert!(!a.iter().any(|x| x == "-vaapi_device"));
        assert!(a.windows(2).any(|w| w == ["-af", "volume=2"]));
    }

    #[test]
    fn software_chain_is_unchanged() {
        let encoders: BTreeSet<String> = ["libx264"].map(String::from).into();
        let support = EncoderSupport { encoders: &encoders, vaapi_device: false };
        let enc = Encoding { hardware: Some(Hardware::Vaapi), ..Encoding::default() };
        let venc = enc.compile_video(support, 320, 180, 30.0).unwrap();
        let inv = reencode_invocation("blur", Path::new("in.mp4"), &venc, "", None);
        let a = inv.display_args();
        assert_eq!(&a[..6], ["-i", "file:in.mp4", "-map", "0:v:0", "-vf", "format=yuv420p"]);
        assert!(a.windows(2).any(|w| w == ["-c:v", "libx264"]));
        assert!(venc.note.is_some());
    }
}
