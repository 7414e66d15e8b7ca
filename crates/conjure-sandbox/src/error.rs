//! The crate's one error type.
//!
//! Errors here are for the embedding program (the CLI, tests): a port that cannot be bound, a
//! media directory that cannot be created, a fault flag that does not parse, a placeholder that
//! cannot be rendered. Errors a *client* sees are HTTP answers built by the handlers, not these.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything that can go wrong while starting or running the sandbox.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("Cannot listen on `{addr}`")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("Cannot prepare the media directory `{}`", path.display())]
    MediaDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("Invalid fault setting `{flag}`: {reason}")]
    Fault { flag: String, reason: String },
    #[error("Cannot encode the placeholder image")]
    Image(#[source] image::ImageError),
    #[error("ffmpeg was not found on PATH; the sandbox needs it to serve placeholder videos")]
    FfmpegMissing,
    #[error("Cannot run `{}`", program.display())]
    Spawn {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("ffmpeg failed with {status}: {stderr_tail}")]
    Ffmpeg { status: String, stderr_tail: String },
    #[error("Cannot write `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
