//! The binary's error: a message, a hint, a kind, and the documented exit code.
//!
//! Commands work with `anyhow` inside; whatever reaches the top is turned into a [`CliError`]
//! here, in one file: every library error arrives as a `conjure_app::AppError` (whose kinds are
//! the exit codes below, and which keeps each library's hint) or a `conjure_media::MediaError`.
//! Exit codes are a stable contract:
//! 0 ok, 1 other, 2 invalid input (nothing sent), 3 confirmation required (nothing sent),
//! 4 failed or rejected by the provider, 5 outcome unknown (may have been charged, not retried),
//! 6 over budget or `--max-cost` (nothing sent), 7 credentials missing or refused,
//! 8 still pending after the hard stop. `conjure doctor` exits 1 when one of its checks failed.

use conjure_app::{AppError, ErrorKind};
use conjure_media::MediaError;

/// The exit codes of the README.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    Other = 1,
    Usage = 2,
    Confirm = 3,
    Provider = 4,
    Unknown = 5,
    Budget = 6,
    Credentials = 7,
    Pending = 8,
}

impl Exit {
    /// The exit code of each kind of failure: the one mapping between the two.
    pub fn of(kind: ErrorKind) -> Exit {
        match kind {
            ErrorKind::Error => Exit::Other,
            ErrorKind::InvalidInput => Exit::Usage,
            ErrorKind::ConfirmationRequired => Exit::Confirm,
            ErrorKind::ProviderFailed => Exit::Provider,
            ErrorKind::OutcomeUnknown => Exit::Unknown,
            ErrorKind::OverBudget => Exit::Budget,
            ErrorKind::Credentials => Exit::Credentials,
            ErrorKind::StillPending => Exit::Pending,
        }
    }

    /// The `kind` field of JSON errors (`ok` for success).
    pub fn kind(self) -> &'static str {
        const KINDS: [ErrorKind; 8] = [
            ErrorKind::Error,
            ErrorKind::InvalidInput,
            ErrorKind::ConfirmationRequired,
            ErrorKind::ProviderFailed,
            ErrorKind::OutcomeUnknown,
            ErrorKind::OverBudget,
            ErrorKind::Credentials,
            ErrorKind::StillPending,
        ];
        KINDS.into_iter().find(|k| Exit::of(*k) == self).map_or("ok", ErrorKind::as_str)
    }
}

/// An error as the user sees it.
#[derive(Debug)]
pub struct CliError {
    pub exit: Exit,
    pub message: String,
    pub hint: Option<String>,
    /// The job the error is about, when there is one.
    pub job_id: Option<String>,
    /// The provider's request id, when the provider accepted the request.
    pub request_id: Option<String>,
    /// What arrived of a text answer before the failure (a cut stream).
    pub answer: Option<Box<str>>,
}

impl CliError {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        CliError {
            exit,
            message: message.into(),
            hint: None,
            job_id: None,
            request_id: None,
            answer: None,
        }
    }

    /// An exit whose output was already printed (e.g. `confirmation_required`).
    pub fn silent(exit: Exit) -> Self {
        CliError::new(exit, String::new())
    }

    pub fn is_silent(&self) -> bool {
        self.message.is_empty()
    }

    pub fn usage(message: impl Into<String>) -> Self {
        CliError::new(Exit::Usage, message)
    }

    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

impl From<AppError> for CliError {
    fn from(e: AppError) -> Self {
        CliError {
            exit: Exit::of(e.kind),
            message: e.message,
            hint: e.hint,
            job_id: e.job.map(|j| j.to_string()),
            request_id: e.request_id,
            answer: None,
        }
    }
}

impl From<conjure_core::catalogue::CatalogueError> for CliError {
    fn from(e: conjure_core::catalogue::CatalogueError) -> Self {
        AppError::from(e).into()
    }
}

/// Media errors: exit 2 when the input is at fault (a path is named), exit 1 when ffmpeg failed
/// (its stderr tail is in the message).
impl From<MediaError> for CliError {
    fn from(e: MediaError) -> Self {
        let hint = e.hint();
        let exit = match &e {
            MediaError::Timeline(_)
            | MediaError::TimelineSyntax { .. }
            | MediaError::InvalidOption { .. }
            | MediaError::MissingInput { .. }
            | MediaError::NotMedia { .. }
            | MediaError::BadInput { .. }
            | MediaError::OutputIsInput { .. }
            | MediaError::OutputExists { .. } => Exit::Usage,
            _ => Exit::Other,
        };
        let err = CliError::new(exit, e.to_string());
        match hint {
            Some(h) => err.hint(h),
            None => err,
        }
    }
}

/// The gateway's store (`conjure serve`): a database that cannot be reached or was migrated by
/// a newer conjure is exit 1 with the store's hint; its messages name the database only
/// redacted.
impl From<conjure_gateway::PgStoreError> for CliError {
    fn from(e: conjure_gateway::PgStoreError) -> Self {
        let hint = e.hint();
        let err = CliError::new(Exit::Other, e.to_string());
        match hint {
            Some(h) => err.hint(h),
            None => err,
        }
    }
}

/// Turns whatever a command returned into a [`CliError`].
pub fn classify(err: anyhow::Error) -> CliError {
    let err = match err.downcast::<CliError>() {
        Ok(e) => return e,
        Err(err) => err,
    };
    let err = match err.downcast::<AppError>() {
        Ok(e) => return e.into(),
        Err(err) => err,
    };
    let err = match err.downcast::<MediaError>() {
        Ok(e) => return e.into(),
        Err(err) => err,
    };
    match err.downcast::<conjure_gateway::PgStoreError>() {
        Ok(e) => e.into(),
        Err(err) => CliError::new(Exit::Other, format!("{err:#}")),
    }
}
