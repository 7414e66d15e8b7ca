//! Container and codec conversion (MP4, MOV, MKV, WebM, AV1, GIF with a palette) and metadata.

use std::path::PathBuf;

use super::{OpReport, probe_video, run_to};
use crate::filter::secs;
use crate::tools::Invocation;
use crate::tools::encoder::{Codec, Container, Encoding};
use crate::{Ffmpeg, MediaError};

/// Options for [`convert`].
#[derive(Debug, Clone, Default)]
pub struct ConvertOptions {
    /// Source video.
    pub input: PathBuf,
    /// Result; the extension picks the format (`.mp4 .mov .mkv .webm .gif`).
    pub output: PathBuf,
    /// Video codec (default: H.264, or VP9 for `.webm`). AV1 goes to `.webm` or `.mkv`.
    pub codec: Option<Codec>,
    /// GIF frame rate (default 12).
    pub gif_fps: Option<f64>,
    /// GIF width (default 480, height follows).
    pub gif_width: Option<u32>,
    /// Encoder settings (its codec is overridden by `codec`).
    pub encoding: Encoding,
}

/// Converts between formats; copies streams when the source already has the target's codecs
/// (e.g. an R2 MOV to MP4).
pub fn convert(ff: &Ffmpeg, o: &ConvertOptions) -> Result<OpReport, MediaError> {
    let info = probe_video(ff, &o.input)?;
    let ext = o
        .output
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    if ext == "gif" {
        return gif(ff, o, info.audio.is_some());
    }
    let container = Container::from_path(&o.output).ok_or_else(|| {
        MediaError::option("output", "the extension must be .mp4, .mov, .mkv, .webm or .gif")
    })?;
    let mut enc = o.encoding.clone();
    enc.codec =
        o.codec.unwrap_or(if container == Container::Webm { Codec::Vp9 } else { Codec::H264 });
    if !container.allows(enc.codec) {
        return Err(MediaError::option(
            "codec",
            format!(
                "`{:?}` cannot go into `.{ext}`; AV1 and VP9 belong in .webm or .mkv (not .mp4), H.264/H.265 in .mp4/.mov/.mkv",
                enc.codec
            ),
        ));
    }
    let v = info.video.as_ref().map_or((2, 2, 30.0), |v| (v.width, v.height, v.fps()));
    let video_matches = info.video.as_ref().is_some_and(|v| {
        enc.codec == Codec::H264
            && v.codec == "h264"
            && v.pix_fmt.as_deref() == Some("yuv420p")
            && enc.hardware.is_none()
    });
    let opus = enc.opus(container);
    let audio_matches =
        info.audio.as_ref().is_none_or(|a| if opus { a.codec == "opus" } else { a.codec == "aac" });
    let mut inv = Invocation::new(format!("convert to .{ext}"));
    inv.arg("-i").arg(crate::tools::file_arg(&o.input));
    inv.args(["-map", "0:v:0"]);
    let copy = video_matches && audio_matches;
    let mut note = None;
    if video_matches {
        inv.args(["-c:v", "copy"]);
    } else {
        let venc = enc.video_encoder(ff, v.0, v.1, v.2)?;
        inv.args(["-vf", &venc.chain("scale=trunc(iw/2)*2:trunc(ih/2)*2,format=yuv420p")]);
        venc.apply(&mut inv);
        note = venc.note;
    }
    if info.audio.is_some() {
        inv.args(["-map", "0:a:0"]);
        if audio_matches {
            inv.args(["-c:a", "copy"]);
        } else {
            inv.args(super::audio_out(&enc, container, &[&info]));
        }
    }
    let inv = run_to(ff, inv, Some(container), container.muxer(), &o.output)?;
    let mut r = OpReport::single(&o.output, copy, &inv);
    if let Some(n) = note {
        r = r.note(n);
    }
    if !matches!(container, Container::Mp4) || enc.codec != Codec::H264 {
        r = r.note(
            "this format is outside the delivery list (MP4 H.264 + AAC, GIF); fine for local use",
        );
    }
    Ok(r)
}

fn gif(ff: &Ffmpeg, o: &ConvertOptions, had_audio: bool) -> Result<OpReport, MediaError> {
    let fps = o.gif_fps.unwrap_or(12.0);
    let width = o.gif_width.unwrap_or(480);
    if !(1.0..=50.0).contains(&fps) {
        return Err(MediaError::option("gif_fps", format!("`{fps}` is not allowed; use 1 to 50")));
    }
    // One graph reading the input once: split, build a palette from one branch, apply it to the other.
    let g = format!(
        "[0:v]fps={},scale={width}:-1:flags=lanczos,split[a][b];[a]palettegen=stats_mode=diff[p];[b][p]paletteuse=dither=bayer:bayer_scale=5[out]",
        secs(fps)
    );
    let mut inv = Invocation::new("convert to .gif (palette)");
    inv.arg("-i").arg(crate::tools::file_arg(&o.input));
    inv.args(["-filter_complex", &g, "-map", "[out]", "-an", "-loop", "0"]);
    let inv = run_to(ff, inv, None, "gif", &o.output)?;
    let mut r = OpReport::single(&o.output, false, &inv);
    if had_audio {
        r = r.note("a GIF has no sound: the audio was dropped");
    }
    Ok(r)
}

/// Options for [`metadata`].
#[derive(Debug, Clone, Default)]
pub struct MetadataOptions {
    /// Source.
    pub input: PathBuf,
    /// Result.
    pub output: PathBuf,
    /// Title tag.
    pub title: Option<String>,
    /// Artist tag.
    pub artist: Option<String>,
    /// Comment tag.
    pub comment: Option<String>,
}

/// Sets title/artist/comment with stream copy.
pub fn metadata(ff: &Ffmpeg, o: &MetadataOptions) -> Result<OpReport, MediaError> {
    ff.probe(&o.input)?;
    let container = Container::from_path(&o.output).unwrap_or(Container::Mp4);
    let mut inv = Invocation::new("metadata");
    inv.arg("-i").arg(crate::tools::file_arg(&o.input));
    inv.args(["-map", "0", "-c", "copy"]);
    for (k, v) in [("title", &o.title), ("artist", &o.artist), ("comment", &o.comment)] {
        if let Some(v) = v {
            inv.arg("-metadata").arg(format!("{k}={v}"));
        }
    }
    let inv = run_to(ff, inv, Some(container), container.muxer(), &o.output)?;
    Ok(OpReport::single(&o.output, true, &inv))
}
