//! Stills out of a video (thumbnail, every N seconds, a frame range, a contact sheet) and
//! video out of stills (an image sequence, a slideshow with transitions).

use std::path::PathBuf;

use super::{OpReport, check_range, probe_video, run_to};
use crate::filter::{Fit, secs};
use crate::outputs::Numbered;
use crate::render::RenderOptions;
use crate::timeline::{Clip, Motion, Output, Timeline, Transition};
use crate::tools::Invocation;
use crate::tools::encoder::Encoding;
use crate::{Ffmpeg, MediaError};

pub(crate) fn image_muxer_args(path: &std::path::Path) -> Result<Vec<&'static str>, MediaError> {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("png") => Ok(vec!["-c:v", "png"]),
        Some("jpg" | "jpeg") => Ok(vec!["-c:v", "mjpeg", "-q:v", "2", "-pix_fmt", "yuvj420p"]),
        Some("webp") => Ok(vec!["-c:v", "libwebp", "-quality", "90"]),
        _ => Err(MediaError::option("output", "the image extension must be .png, .jpg or .webp")),
    }
}

/// Options for [`thumbnail`].
#[derive(Debug, Clone, Default)]
pub struct ThumbnailOptions {
    /// Source video.
    pub input: PathBuf,
    /// `.png`, `.jpg` or `.webp`.
    pub output: PathBuf,
    /// Second to grab.
    pub at: f64,
}

/// Saves one frame as an image.
pub fn thumbnail(ff: &Ffmpeg, o: &ThumbnailOptions) -> Result<OpReport, MediaError> {
    let info = probe_video(ff, &o.input)?;
    let len = info.video_duration();
    if !(o.at >= 0.0 && (o.at < len || info.is_still())) {
        return Err(MediaError::option(
            "at",
            format!("`{}` is outside the video, which is {}s long", o.at, secs(len)),
        ));
    }
    let codec = image_muxer_args(&o.output)?;
    let mut inv = Invocation::new("thumbnail");
    inv.args(["-ss", &secs(o.at), "-i"]).arg(crate::tools::file_arg(&o.input));
    inv.args(["-frames:v", "1", "-update", "1"]);
    inv.args(codec);
    let inv = run_to(ff, inv, None, "image2", &o.output)?;
    Ok(OpReport::single(&o.output, false, &inv))
}

/// Options for [`frames`].
#[derive(Debug, Clone)]
pub struct FramesOptions {
    /// Source video.
    pub input: PathBuf,
    /// How the images are named: `frame_{n}.png` in a folder (numbered from 00001).
    pub output: Numbered,
    /// One frame every this many seconds; `None` for every frame.
    pub every: Option<f64>,
    /// Only frames `a..=b` (0-based frame numbers).
    pub range: Option<(u64, u64)>,
}

/// Writes frames as images: all, one every N seconds, or a numbered range.
pub fn frames(ff: &Ffmpeg, o: &FramesOptions) -> Result<OpReport, MediaError> {
    probe_video(ff, &o.input)?;
    let ext = o.output.extension().unwrap_or_default();
    let codec = image_muxer_args(std::path::Path::new(&format!("frame.{ext}")))?;
    let mut inv = Invocation::new("frames");
    inv.arg("-i").arg(crate::tools::file_arg(&o.input));
    match (o.every, o.range) {
        (Some(n), None) => {
            check_range("every", n, 0.01, 86_400.0)?;
            inv.args(["-vf", &format!("fps=1/{}", secs(n))]);
        }
        (None, Some((a, b))) => {
            if b < a {
                return Err(MediaError::option(
                    "range",
                    "the last frame must not come before the first",
                ));
            }
            // `-fps_mode vfr` keeps ffmpeg from duplicating frames to fill the gaps (the skill's
            // `-vsync vff` is not a valid value).
            inv.args([
                "-vf",
                &format!("select={}", crate::filter::escape_value(&format!("between(n,{a},{b})"))),
                "-fps_mode",
                "vfr",
            ]);
        }
        (None, None) => {}
        (Some(_), Some(_)) => {
            return Err(MediaError::option("every", "give either an interval or a range"));
        }
    }
    inv.args(codec);
    let staged = o.output.stage()?;
    inv.args(["-f", "image2"]).arg(o.output.ffmpeg_pattern(staged.path()));
    ff.run(&inv, None)?;
    let outputs = o.output.commit(staged)?;
    Ok(OpReport { outputs, stream_copy: false, notes: Vec::new(), commands: vec![(&inv).into()] })
}

/// Options for [`contact_sheet`].
#[derive(Debug, Clone, Default)]
pub struct ContactSheetOptions {
    /// Source video.
    pub input: PathBuf,
    /// `.png`, `.jpg` or `.webp`.
    pub output: PathBuf,
    /// Columns (default 4).
    pub columns: u32,
    /// Rows (default 3).
    pub rows: u32,
    /// Width of each tile in pixels (default 320).
    pub tile_width: u32,
}

/// A grid of frames sampled evenly across the video, as one image, each tile labelled with its
/// time (`0:03.2`, ASCII digits drawn in-process: no font needed).
pub fn contact_sheet(ff: &Ffmpeg, o: &ContactSheetOptions) -> Result<OpReport, MediaError> {
    let info = probe_video(ff, &o.input)?;
    let (c, r) = (if o.columns == 0 { 4 } else { o.columns }, if o.rows == 0 { 3 } else { o.rows });
    let tw = if o.tile_width == 0 { 320 } else { o.tile_width };
    if c * r > 400 {
        return Err(MediaError::option("columns", "at most 400 tiles"));
    }
    let len = info.video_duration().max(0.04);
    image_muxer_args(&o.output)?;
    let rate = f64::from(c * r) / len;
    let work = crate::workdir::WorkDir::new("sheet")?;
    let mut inv = Invocation::new("contact sheet (frames)");
    inv.arg("-i").arg(crate::tools::file_arg(&o.input));
    let vf = format!("fps={},scale={}:-2", secs(rate), crate::filter::even(f64::from(tw)));
    inv.args(["-vf", &vf, "-frames:v", &(c * r).to_string(), "-f", "image2"]);
    inv.arg(crate::tools::file_arg(&work.path().join("%04d.png")));
    ff.run(&inv, None)?;
    let mut tiles: Vec<PathBuf> = std::fs::read_dir(work.path())
        .map_err(|e| MediaError::io("listing the sheet's frames", e))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    tiles.sort();
    let labels = (0..tiles.len()).map(|i| clock(i as f64 / rate)).collect();
    crate::image_ops::sheet(&crate::image_ops::ImageSheetOptions {
        inputs: tiles,
        output: o.output.clone(),
        columns: Some(c),
        tile_width: Some(crate::filter::even(f64::from(tw))),
        gap: Some(4),
        background: Some("#000000".into()),
        quality: None,
        labels,
    })?;
    Ok(OpReport::single(&o.output, false, &inv))
}

/// `m:ss.d`, e.g. `0:03.2`, `12:00.0`.
fn clock(seconds: f64) -> String {
    let tenths = (seconds * 10.0).round() as u64;
    format!("{}:{:02}.{}", tenths / 600, tenths / 10 % 60, tenths % 10)
}

/// Options for [`images_to_video`].
#[derive(Debug, Clone, Default)]
pub struct ImagesToVideoOptions {
    /// A numbered pattern such as `frames/frame_%05d.png`.
    pub pattern: PathBuf,
    /// Result.
    pub output: PathBuf,
    /// Frames per second (default 30).
    pub fps: Option<f64>,
    /// Encoder settings.
    pub encoding: Encoding,
}

/// Turns a numbered image sequence into a clip (R2, even size).
pub fn images_to_video(ff: &Ffmpeg, o: &ImagesToVideoOptions) -> Result<OpReport, MediaError> {
    let fps = o.fps.unwrap_or(30.0);
    check_range("fps", fps, 1.0, 120.0)?;
    let container = super::video_container(&o.output, &o.encoding)?;
    let rate = crate::rate::Rate::from_f64(fps);
    let mut inv = Invocation::new("images to video");
    inv.args(["-framerate", &rate.expr(), "-f", "image2", "-i"])
        .arg(crate::tools::file_arg(&o.pattern));
    let enc = o.encoding.video_encoder(ff, 1920, 1080, fps)?;
    inv.args(["-vf", &enc.chain("scale=trunc(iw/2)*2:trunc(ih/2)*2,setsar=1,format=yuv420p")]);
    enc.apply(&mut inv);
    let inv =
        run_to(ff, inv, Some(container), container.muxer(), &o.output).map_err(|e| match e {
            MediaError::Ffmpeg { stderr_tail, .. }
                if stderr_tail.contains("No such file")
                    || stderr_tail.contains("Could find no file") =>
            {
                MediaError::MissingInput { path: o.pattern.clone() }
            }
            other => other,
        })?;
    Ok(OpReport::single(&o.output, false, &inv).encoder_note(&enc))
}

/// Options for [`slideshow`].
#[derive(Debug, Clone, Default)]
pub struct SlideshowOptions {
    /// Images in order.
    pub images: Vec<PathBuf>,
    /// Result.
    pub output: PathBuf,
    /// Seconds each image is on screen (including its transition).
    pub seconds_each: f64,
    /// Transition name (`None` for hard cuts).
    pub transition: Option<String>,
    /// Transition seconds.
    pub transition_duration: f64,
    /// Canvas width (default the first image's).
    pub width: Option<u32>,
    /// Canvas height (default the first image's).
    pub height: Option<u32>,
    /// Frames per second (default 30).
    pub fps: Option<f64>,
    /// How images of another shape fill the canvas.
    pub fit: Fit,
    /// Ken Burns motion.
    pub motion: Motion,
    /// Encoder settings.
    pub encoding: Encoding,
}

/// A video from stills, with optional transitions and motion. The result is silent; add
/// music with [`super::audio_replace`].
pub fn slideshow(ff: &Ffmpeg, o: &SlideshowOptions) -> Result<OpReport, MediaError> {
    if o.images.is_empty() {
        return Err(MediaError::option("images", "give at least one image"));
    }
    let n = o.images.len();
    let each = if o.seconds_each > 0.0 { o.seconds_each } else { 3.0 };
    let tl = Timeline {
        output: Output::with_encoding(
            o.output.clone(),
            o.width,
            o.height,
            Some(o.fps.unwrap_or(30.0)),
            &o.encoding,
        ),
        clips: o
            .images
            .iter()
            .enumerate()
            .map(|(i, p)| Clip {
                src: Some(p.clone()),
                duration: Some(each),
                fit: o.fit,
                motion: o.motion,
                speed: 1.0,
                volume: 1.0,
                keep_audio: true,
                transition: o.transition.as_ref().filter(|_| i + 1 < n).map(|t| Transition {
                    kind: t.clone(),
                    duration: if o.transition_duration > 0.0 { o.transition_duration } else { 0.5 },
                }),
                ..Clip::default()
            })
            .collect(),
        texts: Vec::new(),
        audio: Vec::new(),
        overlays: Vec::new(),
        subtitles: None,
    };
    let r = crate::render(ff, &tl, &RenderOptions::default()).map_err(|e| match e {
        MediaError::Timeline(t) => MediaError::option(t.path.replace("clips", "images"), t.message),
        other => other,
    })?;
    Ok(OpReport {
        outputs: vec![r.output],
        stream_copy: false,
        notes: r.notes,
        commands: r.commands,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn clocks_are_minutes_seconds_tenths() {
        assert_eq!(super::clock(3.24), "0:03.2");
        assert_eq!(super::clock(0.0), "0:00.0");
        assert_eq!(super::clock(725.96), "12:06.0");
    }
}
