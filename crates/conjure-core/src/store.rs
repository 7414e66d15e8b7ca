//! The journal's contract: what the runner records, and when.
//!
//! The runner writes through [`JobStore`] at fixed points: the intent (request, fingerprint,
//! quote) is committed before any POST; the request id the moment it is known; every state
//! change through [`crate::job::JobState::transition`]; every delivered file. The SQLite
//! implementation lives in `conjure-journal`; this trait keeps the core free of storage.

use serde::{Deserialize, Serialize};

use crate::catalogue::{MediaKind, ProviderId};
use crate::job::{IllegalTransition, JobState};
use crate::money::{Credits, Usd};
use crate::provider::WireRequest;
use crate::quote::Quote;
use crate::spec::JobSpec;

/// What is recorded before a paid call.
#[derive(Clone, Debug)]
pub struct NewJob<'a> {
    pub spec: &'a JobSpec,
    pub wire: &'a WireRequest,
    pub quote: &'a Quote,
    /// The job this one re-sends (`conjure retry`).
    pub retry_of: Option<&'a str>,
    /// The job this one derives from (an ImaginePro button press on a parent message).
    pub parent: Option<&'a str>,
}

/// A delivered output file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutputRecord {
    pub index: usize,
    pub path: String,
    pub url: String,
    pub mime: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_seconds: Option<f64>,
    pub sha256: String,
    pub bytes: u64,
    pub expires_at: Option<String>,
}

/// A job as the journal holds it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: String,
    pub provider: ProviderId,
    pub kind: MediaKind,
    pub model: String,
    pub prompt: String,
    pub state: JobState,
    pub fingerprint: String,
    pub spec: JobSpec,
    pub wire: WireRequest,
    pub quoted_credits: Credits,
    pub quoted_usd: Option<Usd>,
    pub request_id: Option<String>,
    pub credits_spent: Option<Credits>,
    /// The last error or note shown to the user for this job.
    pub error: Option<String>,
    /// The provider's last answer, normalised (a [`crate::provider::Snapshot`] as JSON).
    pub last_snapshot: Option<serde_json::Value>,
    pub retry_of: Option<String>,
    pub parent: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
    pub outputs: Vec<OutputRecord>,
}

/// A journal failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
    #[error("No job `{0}` in the journal")]
    NotFound(String),
    #[error("The journal failed: {message}")]
    Backend {
        message: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

/// The journal.
pub trait JobStore: Send + Sync {
    /// Records the intent in state `quoted` and commits it. Returns the new job.
    fn create(&self, job: NewJob<'_>) -> Result<JobRecord, StoreError>;

    /// Moves a job to `to` through the state machine, atomically with reading the current
    /// state, and records `note` (shown as the job's error/note when not empty).
    fn transition(
        &self,
        id: &str,
        to: JobState,
        note: Option<&str>,
    ) -> Result<JobRecord, StoreError>;

    fn set_request_id(&self, id: &str, request_id: &str) -> Result<(), StoreError>;

    /// Stores the provider's latest answer and the credits it reports as spent.
    fn record_snapshot(
        &self,
        id: &str,
        snapshot: &serde_json::Value,
        credits_spent: Option<Credits>,
    ) -> Result<(), StoreError>;

    fn add_output(&self, id: &str, output: &OutputRecord) -> Result<(), StoreError>;

    fn get(&self, id: &str) -> Result<JobRecord, StoreError>;

    /// The newest job with this fingerprint created at or after `since_ms` (unix ms), if any.
    fn find_fingerprint(
        &self,
        fingerprint: &str,
        since_ms: i64,
    ) -> Result<Option<JobRecord>, StoreError>;

    /// Jobs, newest first; only pending ones (see [`JobState::is_pending`]) when asked.
    fn list(&self, pending_only: bool, limit: usize) -> Result<Vec<JobRecord>, StoreError>;
}
