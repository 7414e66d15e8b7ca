//! The provider abstraction: what every provider translator must do, and its classified errors.
//!
//! A provider is a thin translator. Building the request is pure and needs no credentials (the
//! providers crate's registry turns a validated [`crate::JobSpec`] into the exact
//! [`WireRequest`] shown by `quote --dry-run` and journalled). A connected [`Provider`] then
//! `submit`s it once, `poll`s the job and `download`s one asset to disk. Both providers fit
//! one [`Snapshot`]: Katana's `requests/responses` envelope and ImaginePro's message with a
//! `progress` percentage and follow-up `buttons` (a button press is a new child job of the
//! message it came from). Whether a failed call may be sent again is not decided here but in
//! [`crate::policy`], from the [`ProviderError`] class.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::catalogue::ProviderId;
use crate::money::Credits;
use crate::spec::FileRef;

/// The exact HTTP request a paid call sends, minus credentials (headers are the client's job).
///
/// Local input files are not inlined here: the body carries a reference
/// ([`crate::spec::FILE_REF_PREFIX`] and the file's sha256) for each, listed in `files`. The
/// provider reads them when it sends, and refuses to send if a file's bytes no longer have the
/// hash that was quoted. So the journal holds a small request, and the bytes sent are the bytes
/// quoted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireRequest {
    pub method: String,
    /// Path and query relative to the provider's base URL, e.g. `/v1/generation-requests?wait=false`.
    pub path: String,
    pub body: serde_json::Value,
    /// The local files the body refers to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileRef>,
}

impl WireRequest {
    pub fn new(method: &str, path: &str, body: serde_json::Value) -> WireRequest {
        WireRequest { method: method.to_owned(), path: path.to_owned(), body, files: Vec::new() }
    }

    /// The file a reference in the body names, if it is one.
    pub fn file_for(&self, value: &str) -> Option<&FileRef> {
        let sha = value.strip_prefix(crate::spec::FILE_REF_PREFIX)?;
        self.files.iter().find(|f| f.sha256 == sha)
    }
}

/// A provider-neutral status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemoteStatus {
    Queued,
    Processing,
    Completed,
    /// Some items failed; the outputs present are usable.
    Partial,
    Failed,
    /// Refused at submit time.
    Rejected,
    /// A status string this version does not know: treated as still running.
    Other(String),
}

impl RemoteStatus {
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            RemoteStatus::Completed
                | RemoteStatus::Partial
                | RemoteStatus::Failed
                | RemoteStatus::Rejected
        )
    }
}

/// One output file the provider produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Asset {
    /// The item this asset belongs to (index into the request's items).
    pub item: usize,
    pub kind: String,
    pub mime: String,
    /// Full resolution URL (`https:` or `data:`).
    pub url: String,
    /// A second URL to try when the first fails (Katana's possibly compressed `url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
    /// RFC 3339, as the provider sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// A per-item or whole-request error the provider reported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteError {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
}

/// What the provider says about a job, from a submit response or a poll.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Required on submit; a poll may omit it.
    pub request_id: Option<String>,
    pub status: RemoteStatus,
    /// The provider's hint for the next poll, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_after_seconds: Option<f64>,
    /// 0-100 where the provider reports it (ImaginePro).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<u8>,
    pub assets: Vec<Asset>,
    /// Credits actually charged, summed over items, when reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits_spent: Option<Credits>,
    pub errors: Vec<RemoteError>,
    /// The model the provider says it ran (may be a normalised legacy key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Follow-up actions offered (ImaginePro buttons).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<String>,
    /// A text job's answer (whole, or as far as a cut stream came) and its usage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<crate::text::TextAnswer>,
}

impl Snapshot {
    /// An answer with only a request id and a status; the rest is filled in by whoever reads
    /// more from the provider.
    pub fn new(request_id: Option<String>, status: RemoteStatus) -> Snapshot {
        Snapshot {
            request_id,
            status,
            poll_after_seconds: None,
            progress: None,
            assets: Vec::new(),
            credits_spent: None,
            errors: Vec::new(),
            model: None,
            buttons: Vec::new(),
            text: None,
        }
    }
}

/// A downloaded asset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Downloaded {
    pub bytes: u64,
    pub sha256: String,
    /// The Content-Type the server sent, if any.
    pub mime: Option<String>,
}

/// A provider call that did not return a usable answer, classified so that policy can decide
/// what happens next without looking at HTTP details.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ProviderError {
    /// Credentials missing, wrong, or (ImaginePro 401) possibly out of credits.
    #[error("The provider refused the credentials (HTTP {status}): {message}")]
    Auth { status: u16, message: String },
    #[error("The provider is rate limiting requests{}: {message}", retry_after_text(*retry_after))]
    RateLimited { retry_after: Option<Duration>, message: String },
    /// A 4xx other than auth and rate limiting: the provider refused the request.
    #[error("The provider rejected the request (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },
    #[error("The provider does not know this job (HTTP 404): {message}")]
    NotFound { message: String },
    /// A 5xx: the request may or may not have been acted on.
    #[error("The provider failed (HTTP {status}): {message}")]
    Remote { status: u16, message: String },
    /// A 2xx whose body could not be understood.
    #[error("The provider's answer could not be read: {message}")]
    Protocol { message: String },
    #[error("{message}")]
    Unsupported { message: String },
    /// This machine failed (a file could not be written); the provider was not involved.
    #[error("{message}")]
    Local { message: String },
    /// No HTTP answer. `sent` is true when the request may have reached the server.
    #[error("The connection failed{}: {message}", if *sent { " after the request was sent" } else { "" })]
    Transport { sent: bool, message: String },
}

impl ProviderError {
    /// What the user can do about it, without knowing which job or command it came from.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            ProviderError::Auth { .. } => {
                "check the key and secret: `conjure auth PROVIDER` stores them, or set them in the environment (see `conjure auth --help`)".to_owned()
            }
            ProviderError::RateLimited { retry_after, .. } => format!(
                "wait {} and try again",
                retry_after.map_or_else(|| "a while".to_owned(), |d| format!("{} s", d.as_secs()))
            ),
            ProviderError::Rejected { status: 402, .. } => {
                "the account has too little credit for this request; top it up or pick a cheaper request".to_owned()
            }
            ProviderError::Rejected { .. } => {
                "the provider refused the request as sent; change it (see the message) and try again".to_owned()
            }
            ProviderError::NotFound { .. } => {
                "the provider no longer knows it; its results may have expired".to_owned()
            }
            ProviderError::Remote { .. } => "the provider is having trouble; try again later".to_owned(),
            ProviderError::Protocol { .. } => {
                "the provider answered in a form conjure does not understand; try again, and report it if it persists".to_owned()
            }
            ProviderError::Transport { sent: false, .. } => {
                "check the network and the provider's base URL (CONJURE_<PROVIDER>_BASE_URL)".to_owned()
            }
            ProviderError::Transport { sent: true, .. } => {
                "the connection broke after the request left; check the provider's dashboard".to_owned()
            }
            ProviderError::Unsupported { .. } | ProviderError::Local { .. } => return None,
        })
    }
}

fn retry_after_text(d: Option<Duration>) -> String {
    d.map_or_else(String::new, |d| format!(" (retry after {} s)", d.as_secs()))
}

/// One connected provider: the three network calls.
pub trait Provider: Send + Sync {
    fn id(&self) -> ProviderId;

    /// Sends a paid request exactly once. Never retries. Reads the local files the request
    /// refers to and sends nothing (a `Local` error) if one changed since it was quoted.
    fn submit(
        &self,
        request: &WireRequest,
    ) -> impl Future<Output = Result<Snapshot, ProviderError>> + Send;

    /// [`Provider::submit`] for a request whose answer streams (a text job asked with
    /// `stream`): hands each piece to `sink` as it arrives, and answers once the stream ends.
    /// A stream cut before its usage arrived is a `Transport { sent: true }` error (the reserve
    /// may be kept); the pieces already handed over are the caller's record of the partial
    /// answer. Providers without streaming send it as a plain submit.
    fn submit_streaming(
        &self,
        request: &WireRequest,
        sink: &(dyn Fn(crate::text::Delta<'_>) + Send + Sync),
    ) -> impl Future<Output = Result<Snapshot, ProviderError>> + Send {
        let _ = sink;
        self.submit(request)
    }

    /// Reads the state of a job of `kind` (ImaginePro polls video at a path of its own). Free;
    /// policy may call it again after an error.
    fn poll(
        &self,
        request_id: &str,
        kind: crate::catalogue::MediaKind,
    ) -> impl Future<Output = Result<Snapshot, ProviderError>> + Send;

    /// Streams `url` (`https:`, loopback `http:`, or `data:`) into `dest` (a temp file the
    /// caller renames into place).
    fn download(
        &self,
        url: &str,
        dest: &Path,
    ) -> impl Future<Output = Result<Downloaded, ProviderError>> + Send;
}
