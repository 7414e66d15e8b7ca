//! The one error type of `conjure-media`.
//!
//! Every failure a caller can see is a [`MediaError`]. Timeline problems carry the JSON path of the
//! offending field (see [`TimelineError`]); ffmpeg failures carry the step that failed and the tail
//! of ffmpeg's own stderr, because R7 of the post-processing spec asks for ffmpeg's exact words.

use std::path::PathBuf;

/// A problem with a timeline, located by its JSON path (`clips[3].to`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{path}`: {message}")]
pub struct TimelineError {
    /// Where in the document the problem is, e.g. `clips[3].transition.duration`.
    pub path: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl TimelineError {
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into() }
    }
}

/// Everything that can go wrong while probing, rendering or converting media.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// ffmpeg or ffprobe is not installed or not in an absolute `PATH` directory.
    #[error("`{tool}` was not found on PATH (needed for video editing, probing and conversion)")]
    ToolMissing {
        /// `ffmpeg` or `ffprobe`.
        tool: &'static str,
    },
    /// `CONJURE_FFMPEG` or `CONJURE_FFPROBE` names something that is not an executable file.
    #[error("`{var}` is set to `{}`, which is not an executable file", path.display())]
    ToolOverride {
        /// The variable.
        var: &'static str,
        /// Its value, as given.
        path: PathBuf,
    },
    /// The installed ffmpeg lacks an encoder, filter or library that the operation needs.
    #[error("Your ffmpeg lacks `{feature}`, which {purpose} needs")]
    Unsupported {
        /// The encoder or filter name.
        feature: String,
        /// What needed it.
        purpose: String,
    },
    /// An input file does not exist.
    #[error("Input file `{}` does not exist", path.display())]
    MissingInput {
        /// The path as given.
        path: PathBuf,
    },
    /// ffprobe could not read the file as media.
    #[error("`{}` is not a readable media file: {detail}", path.display())]
    NotMedia {
        /// The path as given.
        path: PathBuf,
        /// ffprobe's complaint.
        detail: String,
    },
    /// The file is media but lacks what the operation needs (e.g. a video stream).
    #[error("`{}` {problem}", path.display())]
    BadInput {
        /// The path as given.
        path: PathBuf,
        /// What is missing or wrong.
        problem: String,
    },
    /// The output names one of the inputs (the same path, or the same file through a link).
    #[error("Refusing to write `{}`: it is the input `{}`", output.display(), input.display())]
    OutputIsInput {
        /// The output as given.
        output: PathBuf,
        /// The input it is the same file as.
        input: PathBuf,
    },
    /// The output exists and overwriting was not asked for.
    #[error("`{}` already exists", path.display())]
    OutputExists {
        /// The existing file.
        path: PathBuf,
    },
    /// Options given to an operation are not usable.
    #[error("Invalid option `{option}`: {message}")]
    InvalidOption {
        /// The option name as the user knows it.
        option: String,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// A timeline is not valid.
    #[error("Invalid timeline at {0}")]
    Timeline(#[from] TimelineError),
    /// A timeline file could not be parsed at all.
    #[error("Could not parse timeline `{}`: {message}", path.display())]
    TimelineSyntax {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column where known.
        message: String,
    },
    /// ffmpeg ran and failed.
    #[error("ffmpeg failed during `{step}` ({status}); its last words:\n{stderr_tail}")]
    Ffmpeg {
        /// What conjure was doing, e.g. `segment 3 of 9 (clip 2 body)`.
        step: String,
        /// The exit status as text.
        status: String,
        /// The last lines ffmpeg wrote to stderr.
        stderr_tail: String,
    },
    /// Reading or writing a file or starting a process failed.
    #[error("I/O error while {context}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An image could not be decoded, processed or encoded.
    #[error("Image error while {context}")]
    Image {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: image::ImageError,
    },
    /// Resizing an image failed.
    #[error("Image resize failed for `{}`", path.display())]
    Resize {
        /// The image.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: fast_image_resize::ResizeError,
    },
}

impl MediaError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io { context: context.into(), source }
    }

    pub(crate) fn option(option: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidOption { option: option.into(), message: message.into() }
    }

    /// A short suggestion for the user, printed by the CLI as a `hint:` line.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Self::ToolMissing { .. } => Some(
                "install ffmpeg: `apt-get install ffmpeg fonts-dejavu-core` (Debian/Ubuntu), `brew install ffmpeg` (macOS)",
            ),
            Self::ToolOverride { .. } => Some(
                "point the variable at the ffmpeg or ffprobe binary itself, or unset it to search PATH",
            ),
            Self::Unsupported { .. } => Some(
                "install a full ffmpeg build (Debian's `ffmpeg` package has every encoder conjure uses)",
            ),
            Self::OutputIsInput { .. } => Some(
                "write the result to a new file (`-o NEW`); conjure never writes over a source",
            ),
            Self::OutputExists { .. } => Some(
                "pass `--force` to replace it (in a timeline: `output.overwrite: true`), or choose another `-o`",
            ),
            _ => None,
        }
    }
}
