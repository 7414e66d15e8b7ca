//! Integration tests for conjure-media: real ffmpeg on tiny generated sources, checked with
//! ffprobe (frames, duration, size, streams), never by exit status alone.

mod fixtures;
mod images;
mod ops;
mod timeline;

pub use fixtures::*;
