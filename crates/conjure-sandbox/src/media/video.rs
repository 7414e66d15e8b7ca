//! Placeholder videos, made by running ffmpeg.
//!
//! A `testsrc2` pattern of exactly the requested length at 12 fps, H.264 yuv420p with the moov
//! atom up front (`+faststart`), plus a quiet sine tone when the model outputs audio. The label
//! is burnt in with `drawtext` only when the DejaVu font exists and this ffmpeg has the filter;
//! otherwise a label picture drawn by [`super::image`] is overlaid. ffmpeg runs with the media
//! directory as its working directory so the filter graph names files without any path quoting.
//! Arguments go in a Vec, never through a shell. ffmpeg is found by conjure-media's one locator
//! ([`conjure_media::find_tool`]: `CONJURE_FFMPEG`, else an absolute `PATH` directory).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use conjure_media::{MediaError, Tool};
use tokio::process::Command;
use tokio::sync::OnceCell;

use crate::error::SandboxError;

/// The font `drawtext` uses when it is present.
pub(crate) const DEJAVU: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const FPS: u32 = 12;
const STDERR_TAIL: usize = 2_000;

/// An ffmpeg binary, located once.
#[derive(Debug)]
pub(crate) struct Ffmpeg {
    path: PathBuf,
    drawtext: OnceCell<bool>,
}

/// What to encode.
#[derive(Debug)]
pub(crate) struct VideoJob<'a> {
    pub width: u32,
    pub height: u32,
    pub seconds: u32,
    pub audio: bool,
    /// Label lines for `drawtext` (one per line).
    pub label_text: &'a str,
    /// PNG bytes of the label, for the overlay fallback.
    pub label_png: &'a [u8],
}

impl Ffmpeg {
    /// Finds `ffmpeg` as conjure-media does; `None` when it is not installed or
    /// `CONJURE_FFMPEG` names no executable file (logged: the sandbox still serves pictures).
    pub(crate) fn locate() -> Option<Ffmpeg> {
        match conjure_media::find_tool(Tool::Ffmpeg) {
            Ok(path) => Some(Ffmpeg { path, drawtext: OnceCell::new() }),
            Err(MediaError::ToolMissing { .. }) => None,
            Err(e) => {
                tracing::warn!("{e}; placeholder videos are unavailable");
                None
            }
        }
    }

    /// Whether a label can be burnt with `drawtext`: the font exists and the filter is built in.
    async fn can_drawtext(&self) -> bool {
        *self
            .drawtext
            .get_or_init(|| async {
                if !Path::new(DEJAVU).is_file() {
                    return false;
                }
                let out = Command::new(&self.path)
                    .args(["-hide_banner", "-filters"])
                    .stdin(Stdio::null())
                    .output()
                    .await;
                out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(" drawtext "))
            })
            .await
    }

    /// Encodes `job` into `dir/name` (written under a temporary name, then renamed).
    pub(crate) async fn render(
        &self,
        job: &VideoJob<'_>,
        dir: &Path,
        name: &str,
    ) -> Result<PathBuf, SandboxError> {
        let stem = name.trim_end_matches(".mp4");
        let partial = format!("{stem}.partial.mp4");
        let seconds = job.seconds.to_string();
        let size = format!("{}x{}", job.width, job.height);
        let mut args: Vec<String> =
            ["-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i"]
                .map(str::to_owned)
                .to_vec();
        args.push(format!("testsrc2=size={size}:rate={FPS}:duration={seconds}"));
        let filter = if self.can_drawtext().await {
            let text_file = format!("{stem}.label.txt");
            write(dir, &text_file, job.label_text.as_bytes()).await?;
            let font_size = (job.width / 32).clamp(10, 24);
            format!(
                "[0:v]drawtext=fontfile={DEJAVU}:textfile={text_file}:expansion=none:fontcolor=white:fontsize={font_size}:\
                 box=1:boxcolor=black@0.7:boxborderw=8:x=16:y=16,format=yuv420p[v]"
            )
        } else {
            let label_file = format!("{stem}.label.png");
            write(dir, &label_file, job.label_png).await?;
            args.extend(["-i".to_owned(), label_file]);
            "[0:v][1:v]overlay=0:0,format=yuv420p[v]".to_owned()
        };
        let mut filter = filter;
        if job.audio {
            let index = args.iter().filter(|a| *a == "-i").count();
            args.extend(["-f", "lavfi", "-i"].map(str::to_owned));
            args.push(format!("sine=frequency=440:sample_rate=44100:duration={seconds}"));
            filter = format!("{filter};[{index}:a]volume=0.1[a]");
        }
        args.extend(["-filter_complex".to_owned(), filter, "-map".to_owned(), "[v]".to_owned()]);
        if job.audio {
            args.extend(["-map", "[a]", "-c:a", "aac", "-b:a", "64k"].map(str::to_owned));
        }
        args.extend(
            [
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p",
                "-r",
                &FPS.to_string(),
                "-t",
                &seconds,
            ]
            .map(str::to_owned),
        );
        args.extend(["-movflags", "+faststart", "-f", "mp4"].map(str::to_owned));
        args.push(partial.clone());

        let output = Command::new(&self.path)
            .args(&args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|source| SandboxError::Spawn { program: self.path.clone(), source })?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail: String = {
                let chars: Vec<char> = stderr.trim().chars().collect();
                chars[chars.len().saturating_sub(STDERR_TAIL)..].iter().collect()
            };
            return Err(SandboxError::Ffmpeg {
                status: output.status.to_string(),
                stderr_tail: tail,
            });
        }
        let finished = dir.join(name);
        tokio::fs::rename(dir.join(&partial), &finished)
            .await
            .map_err(|source| SandboxError::Write { path: finished.clone(), source })?;
        Ok(finished)
    }
}

async fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), SandboxError> {
    let path = dir.join(name);
    tokio::fs::write(&path, bytes).await.map_err(|source| SandboxError::Write { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fallback for hosts without the DejaVu font: a label picture overlaid on the pattern.
    #[tokio::test]
    async fn overlay_fallback_encodes() {
        let Some(Ffmpeg { path, .. }) = Ffmpeg::locate() else { return };
        let ffmpeg = Ffmpeg { path, drawtext: OnceCell::new_with(Some(false)) };
        let label = crate::media::image::Placeholder {
            model: "ltx-2-3",
            prompt: "overlay",
            note: None,
            width: 160,
            height: 45,
        };
        let png = crate::media::image::encode(
            &crate::media::image::render_label(&label),
            conjure_core::spec::ImageFormat::Png,
        )
        .unwrap();
        let job = VideoJob {
            width: 160,
            height: 90,
            seconds: 1,
            audio: true,
            label_text: "",
            label_png: &png,
        };
        let dir = tempfile::tempdir().unwrap();
        let out = ffmpeg.render(&job, dir.path(), "clip.mp4").await.unwrap();
        let bytes = std::fs::read(out).unwrap();
        assert!(bytes.windows(4).any(|w| w == b"ftyp"));
        assert!(!dir.path().join("clip.partial.mp4").exists());
    }

    #[test]
    fn locates_an_absolute_ffmpeg_when_installed() {
        if let Some(ffmpeg) = Ffmpeg::locate() {
            assert!(ffmpeg.path.is_absolute(), "{}", ffmpeg.path.display());
        }
    }
}
