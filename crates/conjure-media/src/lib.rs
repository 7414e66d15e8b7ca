//! conjure-media: local post-production with ffmpeg, and image steps without it.
//!
//! - [`Ffmpeg`] locates ffmpeg/ffprobe once and runs argument vectors (never a shell);
//!   [`find_tool`] is the one locator (the sandbox uses it too), [`LazyFfmpeg`] locates on first use.
//! - [`Timeline`] is the edit format; [`render`] compiles it into frame-exact segments that one
//!   encoder turns into the output, with the soundtrack made beside them (its rooms: planning,
//!   video, audio, the copy join). [`Encoding`] chooses the encoder, beside the ffmpeg runner.
//! - [`ops`] has one function per single-step operation (trim, join, crop, text, audio, convert ...),
//!   and [`Op`]: every step as one serde value with one [`Op::run`] that sends images to
//!   [`image_ops`] and everything else to ffmpeg. Front ends (CLI, MCP, batch) call `Op::run`.
//! - `mp4` reads MP4/MOV track headers in-process so a copy join needs no ffprobe per input.
//! - [`outputs`] keeps results from destroying inputs or existing files (checked before any
//!   work, written beside and renamed into place); [`stop`] kills every ffmpeg this process
//!   started and removes unfinished files when the front end is told to stop (a signal);
//!   [`workdir`] holds working folders under an owner lock, so the next run removes what a
//!   killed one left.
//! - `splice` copies whole H.264 GOPs byte for byte and joins them with re-encoded runs in a
//!   minimal MP4 writer (the smart render's building block), which also writes a full
//!   render's output with its soundtrack.
//! - [`image_ops`] resizes, crops, converts and tiles still images in-process.
//!
//! This crate knows nothing about providers, credits or the journal; the CLI records the
//! commands a [`RenderReport`] lists.

mod captions;
mod error;
pub mod filter;
pub mod image_ops;
mod mp4;
pub mod ops;
pub mod outputs;
pub mod probe;
pub mod progress;
mod rate;
mod render;
mod splice;
pub mod stop;
pub mod timeline;
mod tools;
pub mod workdir;

pub use error::{MediaError, TimelineError};
pub use filter::Fit;
pub use ops::{Op, OpOutcome};
pub use probe::{AudioInfo, MediaInfo, VideoInfo};
pub use progress::{Progress, ProgressParser, ProgressSnapshot, parse_progress};
pub use render::{CommandRecord, RenderOptions, RenderReport, SmartStats, plan_summary, render};
pub use timeline::Timeline;
pub use tools::encoder::{
    Codec, Container, EncoderSupport, Encoding, Hardware, VideoEncoder, container_args,
};
pub use tools::{
    Capabilities, Ffmpeg, Invocation, LazyFfmpeg, Tool, find_tool, parse_capabilities,
};
