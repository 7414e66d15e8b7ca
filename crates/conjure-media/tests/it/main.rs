//! Integration tests for conjure-media: real ffmpeg on tiny generated sources, checked with
//! ffprobe (frames, duration, size, streams), never by exit status alone.
#![expect(clippy::unwrap_used, reason = "test helpers fail loudly on setup errors")]
#![expect(
    clippy::many_single_char_names,
    reason = "short names for paths and sizes keep assertions readable"
)]

mod captions;
mod fixtures;
mod fuzz;
mod images;
mod op;
mod ops;
mod sound;
mod timeline;

pub use fixtures::*;
