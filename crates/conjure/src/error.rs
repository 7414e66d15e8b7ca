//! The binary's error: a message, a hint, a kind, and the documented exit code.
//!
//! Commands work with `anyhow` inside; whatever reaches the top is turned into a [`CliError`]
//! here, in one mapping, so exit codes stay a stable contract:
//! 0 ok, 1 other, 2 invalid input (nothing sent), 3 confirmation required (nothing sent),
//! 4 failed or rejected by the provider, 5 outcome unknown (may have been charged, not retried),
//! 6 over budget or `--max-cost` (nothing sent), 7 credentials missing or refused,
//! 8 still pending after the hard stop.

use conjure_core::ProviderError;
use conjure_core::runner::RunError;
use conjure_core::spec::SpecError;

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
    /// The `kind` field of JSON errors.
    pub fn kind(self) -> &'static str {
        match self {
            Exit::Ok => "ok",
            Exit::Other => "error",
            Exit::Usage => "invalid_input",
            Exit::Confirm => "confirmation_required",
            Exit::Provider => "provider_failed",
            Exit::Unknown => "outcome_unknown",
            Exit::Budget => "over_budget",
            Exit::Credentials => "credentials",
            Exit::Pending => "still_pending",
        }
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
}

impl CliError {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        CliError { exit, message: message.into(), hint: None, job_id: None }
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

    #[must_use]
    pub fn job(mut self, job: impl Into<String>) -> Self {
        self.job_id = Some(job.into());
        self
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

impl From<SpecError> for CliError {
    fn from(e: SpecError) -> Self {
        let hint = e.hint();
        CliError { exit: Exit::Usage, message: e.to_string(), hint, job_id: None }
    }
}

impl From<conjure_core::catalogue::CatalogueError> for CliError {
    fn from(e: conjure_core::catalogue::CatalogueError) -> Self {
        CliError::from(SpecError::from(e))
    }
}

/// Maps a provider error outside a job (balance, credentials check).
pub fn provider_error(e: &ProviderError) -> CliError {
    let exit = match e {
        ProviderError::Auth { .. } => Exit::Credentials,
        ProviderError::Unsupported { .. } => Exit::Usage,
        ProviderError::Transport { .. } | ProviderError::Local { .. } => Exit::Other,
        _ => Exit::Provider,
    };
    let err = CliError::new(exit, e.to_string());
    match e {
        ProviderError::Auth { .. } => err.hint(
            "check the key and secret (`conjure auth katana`), or the secrets file named by KATANA_SECRETS_FILE",
        ),
        ProviderError::Transport { sent: false, .. } => {
            err.hint("check the network and the base URL (CONJURE_KATANA_BASE_URL)")
        }
        _ => err,
    }
}

impl From<RunError> for CliError {
    fn from(e: RunError) -> Self {
        let message = e.to_string();
        match e {
            RunError::Store(_) => CliError::new(Exit::Other, message),
            RunError::Refused { job, error } => {
                let mut err = provider_error(&error);
                if let ProviderError::RateLimited { retry_after, .. } = &error {
                    let wait = retry_after.map_or_else(|| "a while".to_owned(), |d| format!("{} s", d.as_secs()));
                    err = err.hint(format!(
                        "nothing was charged; wait {wait}, then send it again with `conjure retry {job}`"
                    ));
                } else if err.hint.is_none() {
                    err = err.hint(format!("nothing was charged; fix the request, or `conjure retry {job}`"));
                }
                err.job(job)
            }
            RunError::Unknown { job, .. } => CliError::new(Exit::Unknown, message)
                .hint(format!(
                    "the request may have been charged. Check the provider's dashboard before sending it again; \
                     `conjure status {job}` shows what is known and `conjure retry {job}` sends it again after a new approval"
                ))
                .job(job),
            RunError::Failed { job, .. } => CliError::new(Exit::Provider, message)
                .hint("failed jobs are refunded by the provider (not for terms-of-service refusals); change the request or the model and try again")
                .job(job),
            RunError::StillPending { job, .. } => CliError::new(Exit::Pending, message)
                .hint(format!("it keeps running at the provider; resume with `conjure wait {job}`"))
                .job(job),
            RunError::PollStopped { job, error } => {
                let mut err = provider_error(&error);
                err.message = message;
                err.job(job)
            }
            RunError::WrongState { job, .. } => CliError::usage(message).job(job),
            RunError::Download { job, .. } => CliError::new(Exit::Other, message)
                .hint(format!("the result is safe at the provider until it expires; `conjure fetch {job}` downloads it again"))
                .job(job),
        }
    }
}

/// Turns whatever a command returned into a [`CliError`].
pub fn classify(err: anyhow::Error) -> CliError {
    match err.downcast::<CliError>() {
        Ok(e) => e,
        Err(err) => match err.downcast::<RunError>() {
            Ok(e) => CliError::from(e),
            Err(err) => match err.downcast::<SpecError>() {
                Ok(e) => CliError::from(e),
                Err(err) => CliError::new(Exit::Other, format!("{err:#}")),
            },
        },
    }
}
