//! Placeholder media: what the sandbox serves at `/assets/…`.
//!
//! Pictures (outputs, thumbnails, final frames) are rendered on request; they are cheap and
//! deterministic, so nothing is stored. Videos are encoded by ffmpeg on their first download and
//! cached as files in the media directory; concurrent first downloads of the same video share
//! one encode. The media directory is a temporary directory removed with the sandbox, unless the
//! caller named one.

pub(crate) mod image;
pub(crate) mod video;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::OnceCell;

use crate::error::SandboxError;
use video::{Ffmpeg, VideoJob};

type Cached = Arc<OnceCell<Result<PathBuf, String>>>;

/// The media directory, the ffmpeg binary and the encoded videos.
#[derive(Debug)]
pub(crate) struct MediaStore {
    dir: PathBuf,
    /// Keeps a temporary media directory alive; removed on drop.
    _temp: Option<tempfile::TempDir>,
    ffmpeg: Option<Ffmpeg>,
    videos: Mutex<HashMap<String, Cached>>,
}

impl MediaStore {
    pub(crate) fn new(dir: Option<&Path>) -> Result<MediaStore, SandboxError> {
        let (dir, temp) = if let Some(dir) = dir {
            std::fs::create_dir_all(dir)
                .map_err(|source| SandboxError::MediaDir { path: dir.to_owned(), source })?;
            (dir.to_owned(), None)
        } else {
            let temp = tempfile::Builder::new()
                .prefix("conjure-sandbox-")
                .tempdir()
                .map_err(|source| SandboxError::MediaDir { path: std::env::temp_dir(), source })?;
            (temp.path().to_owned(), Some(temp))
        };
        Ok(MediaStore {
            dir,
            _temp: temp,
            ffmpeg: Ffmpeg::locate(),
            videos: Mutex::new(HashMap::new()),
        })
    }

    #[cfg(test)]
    pub(crate) fn without_ffmpeg(mut self) -> MediaStore {
        self.ffmpeg = None;
        self
    }

    /// The path of the encoded video `name`, encoding it on first use. The error is a message
    /// fit for a 500 body.
    pub(crate) async fn video(&self, name: &str, job: &VideoJob<'_>) -> Result<PathBuf, String> {
        let Some(ffmpeg) = &self.ffmpeg else {
            return Err(SandboxError::FfmpegMissing.to_string());
        };
        let cell = {
            let mut videos = self.videos.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(videos.entry(name.to_owned()).or_default())
        };
        cell.get_or_init(|| async {
            ffmpeg.render(job, &self.dir, name).await.map_err(|e| {
                let text = format!("Cannot encode the placeholder video: {e}");
                tracing::warn!("{text}");
                text
            })
        })
        .await
        .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn missing_ffmpeg_is_a_clear_error() {
        let store = MediaStore::new(None).unwrap().without_ffmpeg();
        let job = VideoJob {
            width: 64,
            height: 64,
            seconds: 1,
            audio: false,
            label_text: "x",
            label_png: &[],
        };
        let err = store.video("a.mp4", &job).await.unwrap_err();
        assert!(err.contains("ffmpeg was not found"), "{err}");
    }
}
