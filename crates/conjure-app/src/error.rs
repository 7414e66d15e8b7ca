//! The application's one error: a kind (which becomes a documented exit code), a message, a
//! hint saying what to do next, and the job and request id it is about.
//!
//! Every library error converts into an [`AppError`] here, in this one file, keeping its hint:
//! a journal, provider, spending or request error that reaches a front end keeps its meaning.
//! The kinds are the contract front ends map to exit codes and JSON `error.kind`.

use conjure_core::catalogue::CatalogueError;
use conjure_core::policy::SpendRefusal;
use conjure_core::runner::RunError;
use conjure_core::spec::SpecError;
use conjure_core::{JobId, ProviderError, ReserveError, StoreError};
use conjure_journal::JournalError;
use conjure_providers::katana::PayloadError;
use serde::Serialize;

/// What kind of failure, as front ends report it (`error.kind` in JSON, and the exit code).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Anything else: network unreachable, disk, journal (exit 1).
    Error,
    /// Invalid input or usage, found by conjure (nothing sent) or by the provider's HTTP 400
    /// (nothing charged) (exit 2).
    InvalidInput,
    /// Confirmation required; nothing sent (exit 3).
    ConfirmationRequired,
    /// Failed or rejected by the provider (exit 4).
    ProviderFailed,
    /// Outcome unknown: may have been charged, not sent again (exit 5).
    OutcomeUnknown,
    /// Over budget or the cost limit; nothing sent (exit 6).
    OverBudget,
    /// Credentials missing or refused (exit 7).
    Credentials,
    /// Still pending after the hard stop; resumable (exit 8).
    StillPending,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Error => "error",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::ConfirmationRequired => "confirmation_required",
            ErrorKind::ProviderFailed => "provider_failed",
            ErrorKind::OutcomeUnknown => "outcome_unknown",
            ErrorKind::OverBudget => "over_budget",
            ErrorKind::Credentials => "credentials",
            ErrorKind::StillPending => "still_pending",
        }
    }
}

/// A failure as a user or agent sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppError {
    pub kind: ErrorKind,
    pub message: String,
    pub hint: Option<String>,
    /// The job it is about, when there is one.
    pub job: Option<JobId>,
    /// The provider's request id, when the provider accepted the request (never lose it).
    pub request_id: Option<String>,
    /// A rate limit refused the submit before the provider accepted it (nothing charged): how
    /// long the provider asked to wait. Only `conjure batch` acts on it.
    pub retry_after: Option<std::time::Duration>,
}

impl AppError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> AppError {
        AppError {
            kind,
            message: message.into(),
            hint: None,
            job: None,
            request_id: None,
            retry_after: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> AppError {
        AppError::new(ErrorKind::InvalidInput, message)
    }

    pub fn other(message: impl Into<String>) -> AppError {
        AppError::new(ErrorKind::Error, message)
    }

    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> AppError {
        self.hint = Some(hint.into());
        self
    }

    #[must_use]
    pub fn hint_opt(mut self, hint: Option<String>) -> AppError {
        if hint.is_some() {
            self.hint = hint;
        }
        self
    }

    #[must_use]
    pub fn job(mut self, job: &JobId) -> AppError {
        self.job = Some(job.clone());
        self
    }

    /// Names `provider`'s own command and variables in the hint, where a library hint could only
    /// say `PROVIDER`.
    #[must_use]
    pub fn for_provider(mut self, provider: conjure_core::ProviderId) -> AppError {
        let caps = conjure_providers::registry::capabilities(provider);
        if !caps.reports_charges && self.hint.as_deref() == Some(REFUNDED_HINT) {
            self.hint = Some(format!(
                "{provider} does not say whether a failed job is charged (charged: unknown); check your account with it, then change the request and try again"
            ));
        }
        self.hint = self.hint.map(|h| {
            h.replace("CONJURE_<PROVIDER>_BASE_URL", caps.base_url_env)
                .replace("conjure auth PROVIDER", &format!("conjure auth {provider}"))
        });
        self
    }

    /// A provider error outside a job (balance, credentials check, a free poll).
    pub fn provider(e: &ProviderError) -> AppError {
        let kind = match e {
            ProviderError::Auth { .. } => ErrorKind::Credentials,
            // The provider found the request invalid before accepting it (HTTP 400): bad input,
            // as when conjure's own checks refuse it, and nothing was charged.
            ProviderError::Unsupported { .. } | ProviderError::Rejected { status: 400, .. } => {
                ErrorKind::InvalidInput
            }
            ProviderError::Transport { .. } | ProviderError::Local { .. } => ErrorKind::Error,
            _ => ErrorKind::ProviderFailed,
        };
        AppError::new(kind, e.to_string()).hint_opt(e.hint())
    }
}

/// What a failed job costs, where the provider refunds failures (Katana).
const REFUNDED_HINT: &str = "failed jobs are refunded by the provider (not for terms-of-service refusals); change the request or the model and try again";

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AppError {}

impl From<std::io::Error> for AppError {
    fn from(e: std::io::Error) -> Self {
        AppError::other(e.to_string())
    }
}

impl From<SpecError> for AppError {
    fn from(e: SpecError) -> Self {
        let hint = e.hint();
        AppError::invalid(e.to_string()).hint_opt(hint)
    }
}

impl From<CatalogueError> for AppError {
    fn from(e: CatalogueError) -> Self {
        AppError::from(SpecError::from(e))
    }
}

impl From<PayloadError> for AppError {
    fn from(e: PayloadError) -> Self {
        let hint = e.hint.clone().or_else(|| {
            Some("the payload must look like {\"requests\":[{\"type\":\"image\",\"model\":\"gen\",\"prompt\":\"...\"}]}".to_owned())
        });
        AppError::invalid(e.to_string()).hint_opt(hint)
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        let hint = e.hint();
        let kind = match e {
            StoreError::NotFound(_) | StoreError::Ambiguous { .. } => ErrorKind::InvalidInput,
            StoreError::Illegal(_) | StoreError::Backend { .. } => ErrorKind::Error,
        };
        AppError::new(kind, e.to_string()).hint_opt(hint)
    }
}

impl From<JournalError> for AppError {
    fn from(e: JournalError) -> Self {
        let hint = e.hint();
        let mut message = e.to_string();
        if let Some(cause) = std::error::Error::source(&e) {
            message = format!("{message}: {cause}");
        }
        AppError::other(message).hint_opt(hint)
    }
}

impl From<SpendRefusal> for AppError {
    fn from(r: SpendRefusal) -> Self {
        let kind =
            if r.is_duplicate_or_token() { ErrorKind::InvalidInput } else { ErrorKind::OverBudget };
        let mut err = AppError::new(kind, r.to_string()).hint(r.hint());
        match &r {
            SpendRefusal::Duplicate { earlier, .. } => err = err.job(earlier),
            SpendRefusal::TokenUsed { job } => err = err.job(job),
            _ => {}
        }
        err
    }
}

impl From<ReserveError> for AppError {
    fn from(e: ReserveError) -> Self {
        match e {
            ReserveError::Refused(r) => r.into(),
            ReserveError::Store(s) => s.into(),
        }
    }
}

impl From<conjure_providers::Error> for AppError {
    fn from(e: conjure_providers::Error) -> Self {
        use conjure_providers::Error as E;
        let hint = e.hint();
        let kind = match e {
            E::BaseUrl { .. } | E::UnsupportedProvider { .. } => ErrorKind::InvalidInput,
            E::Client { .. } | E::Write { .. } => ErrorKind::Error,
            _ => ErrorKind::Credentials,
        };
        AppError::new(kind, e.to_string()).hint_opt(hint)
    }
}

impl From<RunError> for AppError {
    fn from(e: RunError) -> Self {
        let message = e.to_string();
        match e {
            RunError::Store(s) => s.into(),
            RunError::Refused(r) => r.into(),
            RunError::WrongProvider { .. } => AppError::other(message),
            RunError::Rejected { job, error } => {
                let mut err = AppError::provider(&error);
                if let ProviderError::RateLimited { retry_after, .. } = &error {
                    let wait = retry_after.map_or_else(|| "a while".to_owned(), |d| format!("{} s", d.as_secs()));
                    err = err.hint(format!(
                        "nothing was charged; wait {wait}, then send it again with `conjure retry {job}`"
                    ));
                    err.retry_after = Some(retry_after.unwrap_or(std::time::Duration::from_secs(5)));
                } else if let ProviderError::Local { .. } = &error {
                    err = err.hint("nothing was sent or charged; check the input files and run the command again");
                } else if err.hint.is_none() {
                    err = err.hint(format!("nothing was charged; fix the request, or `conjure retry {job}`"));
                }
                err.job(&job)
            }
            RunError::Unknown { job, .. } => AppError::new(ErrorKind::OutcomeUnknown, message)
                .hint(format!(
                    "the request may have been charged. Check the provider's dashboard before sending it again; \
                     `conjure status {job}` shows what is known and `conjure retry {job}` sends it again after a new approval"
                ))
                .job(&job),
            RunError::Unrecorded { job, request_id, .. } => {
                let mut err = AppError::new(ErrorKind::OutcomeUnknown, message)
                    .hint(format!(
                        "the provider has the request; keep its request id. It is also written to the journal's fallback file; \
                         `conjure wait {job}` collects it once the journal works again"
                    ))
                    .job(&job);
                err.request_id = request_id;
                err
            }
            RunError::Failed { job, .. } => AppError::new(ErrorKind::ProviderFailed, message)
                .hint(REFUNDED_HINT)
                .job(&job),
            RunError::StillPending { job, .. } => AppError::new(ErrorKind::StillPending, message)
                .hint(format!("it keeps running at the provider; resume with `conjure wait {job}`"))
                .job(&job),
            RunError::PollStopped { job, error } => {
                let mut err = AppError::provider(&error);
                err.message = message;
                err.job(&job)
            }
            RunError::WrongState { job, .. } => AppError::invalid(message).job(&job),
        }
    }
}
