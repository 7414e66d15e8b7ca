//! The journal's contract: what the runner records, and when; what front ends read back.
//!
//! The runner writes through [`JobStore`] at fixed points: [`JobStore::reserve`] records an
//! approved order (the intent: request, fingerprint, quote) before any POST, in one transaction
//! with the money decision ([`crate::policy::reserve_verdict`]: token unused, not a duplicate,
//! within budget), so two processes cannot both pass; the answer to the POST (its request id,
//! the answer and the state it leads to) in one write ([`JobStore::record_answer`]); every
//! later state change through [`crate::job::JobState::transition`]; the delivered files, once
//! they are all on disk.
//!
//! The trait is async so that a store may be a database server as well as a local file. The
//! SQLite implementation lives in `conjure-journal`; `conjure-test`'s contract suite is what any
//! implementation must pass. This module keeps the core free of storage.

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::approval::{Approved, Order};
use crate::catalogue::{MediaKind, ProviderId};
use crate::job::{IllegalTransition, JobId, JobState};
use crate::money::{CreditPrice, Credits, Usd};
use crate::policy::{ReserveFacts, SpendRefusal, SpendRules, Spent};
use crate::provider::WireRequest;
use crate::spec::JobSpec;

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
    pub id: JobId,
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
    pub retry_of: Option<JobId>,
    pub parent: Option<JobId>,
    /// The process that reserved it (see `conjure-app`'s owner lease), while it may be sending.
    pub owner: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
    /// When every output was on disk (unix ms); `None` until then.
    pub delivered_at: Option<i64>,
    /// Sent to the offline sandbox (see [`crate::policy::SpendRules::sandbox`]): no real money.
    pub sandbox: bool,
    /// Where the results were asked to go ([`crate::approval::Order::deliver_to`]).
    pub deliver_to: Option<String>,
    /// The batch lines it sends ([`crate::approval::Order::batch`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<crate::batch::BatchLink>,
    pub outputs: Vec<OutputRecord>,
}

impl JobRecord {
    /// Finished at the provider with results that were never all written to disk.
    pub fn is_undelivered(&self) -> bool {
        matches!(self.state, JobState::Completed | JobState::Partial) && self.delivered_at.is_none()
    }

    /// What the provider reported as charged, else the quote.
    pub fn credits(&self) -> Credits {
        self.credits_spent.unwrap_or(self.quoted_credits)
    }

    /// The provider reported charging more than was quoted.
    pub fn charged_above_quote(&self) -> Option<Credits> {
        self.credits_spent.filter(|c| *c > self.quoted_credits).map(|c| c - self.quoted_credits)
    }
}

/// One entry of a job's audit trail: a state change, or the job's creation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JobEvent {
    /// Unix milliseconds.
    pub at: i64,
    /// `None` for the event that created the job.
    pub from: Option<JobState>,
    pub to: JobState,
    /// The note given with the transition, if any.
    pub note: Option<String>,
}

/// Money recorded for one provider, over every job in the journal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProviderTotals {
    pub provider: ProviderId,
    pub jobs: u64,
    /// What was quoted and approved, including jobs that later failed or were rejected.
    pub quoted: Credits,
    /// What the provider reported as charged; jobs without a report count as zero.
    pub spent: Credits,
    /// The quotes of jobs whose outcome is uncertain (`unknown`, or still being sent).
    pub exposure: Credits,
}

/// One job's money, for the spending report: what it was quoted and what the provider reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerEntry {
    pub id: JobId,
    pub provider: ProviderId,
    pub kind: MediaKind,
    pub model: String,
    pub state: JobState,
    pub has_request_id: bool,
    /// Unix milliseconds.
    pub created_at: i64,
    pub quoted: Credits,
    /// The reported charge, if any.
    pub charged: Option<Credits>,
    /// The price per credit the job was quoted at, when it had one.
    pub usd_per_credit: Option<CreditPrice>,
}

/// A job reserved or being sent, with the process that owns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InFlight {
    pub id: JobId,
    pub state: JobState,
    pub owner: Option<String>,
    /// Unix milliseconds of the last change.
    pub updated_at: i64,
}

/// Which jobs a listing shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobFilter {
    All,
    /// Outstanding: pending states (see [`JobState::is_pending`]) and finished jobs whose
    /// outputs were never all delivered.
    Pending,
}

/// A journal failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
    #[error("No job `{0}` in the journal")]
    NotFound(String),
    #[error("`{input}` matches {total} jobs: {}", list_ids(candidates, *total))]
    Ambiguous { input: String, total: usize, candidates: Vec<JobId> },
    #[error("The journal failed: {message}")]
    Backend {
        message: String,
        /// What to do about it, when the store knows.
        hint: Option<String>,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl StoreError {
    pub fn backend(message: impl Into<String>) -> StoreError {
        StoreError::Backend { message: message.into(), hint: None, source: None }
    }

    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            StoreError::Illegal(_) => None,
            StoreError::NotFound(_) | StoreError::Ambiguous { .. } => {
                Some("`conjure jobs` lists job ids".to_owned())
            }
            StoreError::Backend { hint, .. } => hint.clone(),
        }
    }
}

fn list_ids(ids: &[JobId], total: usize) -> String {
    let list = ids.iter().map(|id| format!("`{id}`")).collect::<Vec<_>>().join(", ");
    match total.checked_sub(ids.len()) {
        Some(more) if more > 0 => format!("{list} and {more} more"),
        _ => list,
    }
}

/// The provider's answer to a paid POST, as [`JobStore::record_answer`] writes it.
#[derive(Clone, Copy, Debug)]
pub struct Answer<'a> {
    /// The request id it names; `None` only for a refusal, which needs none.
    pub request_id: Option<&'a str>,
    /// The answer, normalised (a [`crate::provider::Snapshot`] as JSON).
    pub snapshot: &'a serde_json::Value,
    /// The credits it reports as spent, if it says.
    pub credits_spent: Option<Credits>,
    /// The state it leads to.
    pub to: JobState,
    /// The note to show with it (a refusal's reasons), if any.
    pub note: Option<&'a str>,
}

/// Why [`JobStore::reserve`] recorded nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReserveError {
    /// The money rules refused it; nothing was recorded or sent.
    #[error(transparent)]
    Refused(#[from] SpendRefusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The journal.
pub trait JobStore: Send + Sync {
    /// Records `approved` as a new job about to be sent (state `submitting`, its trail
    /// `quoted` then `submitting`), owned by `owner`, if [`crate::policy::reserve_verdict`]
    /// allows it; in one transaction that also consumes the approving token, so that of several
    /// processes reserving at once each decision sees every job the others recorded. One
    /// durable commit is all that stands between the approval and the POST.
    fn reserve(
        &self,
        approved: &Approved,
        owner: &str,
        rules: &SpendRules,
        now_ms: i64,
    ) -> impl Future<Output = Result<JobRecord, ReserveError>> + Send;

    /// The facts `reserve` would decide `order` from (with `token` approving it), read without
    /// recording anything: for telling a user before they approve. Not a promise, since another
    /// process may reserve in between; `reserve` decides again, atomically.
    fn preview(
        &self,
        order: &Order,
        token: Option<&str>,
        rules: &SpendRules,
        now_ms: i64,
    ) -> impl Future<Output = Result<ReserveFacts, StoreError>> + Send;

    /// Moves a job to `to` through the state machine, atomically with reading the current
    /// state, and records `note` (shown as the job's error/note when not empty).
    fn transition(
        &self,
        id: &JobId,
        to: JobState,
        note: Option<&str>,
    ) -> impl Future<Output = Result<JobRecord, StoreError>> + Send;

    /// Records the provider's request id; a job never changes it once known.
    fn set_request_id(
        &self,
        id: &JobId,
        request_id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records the answer to the paid POST in one write: the request id it names, the answer
    /// and the credits it reports, and the state it leads to; nothing of it when any part is
    /// refused (a second request id, a move the state machine forbids). One write, because a
    /// process killed between separate ones would leave the job `submitting` with a request
    /// id, which the orphan rule settles as `unknown`: a job the provider accepted, never
    /// polled for its result.
    fn record_answer(
        &self,
        id: &JobId,
        answer: Answer<'_>,
    ) -> impl Future<Output = Result<JobRecord, StoreError>> + Send;

    /// Stores the provider's latest answer and the credits it reports as spent.
    fn record_snapshot(
        &self,
        id: &JobId,
        snapshot: &serde_json::Value,
        credits_spent: Option<Credits>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records the files of a job that are now all on disk, and the job as delivered, in one
    /// write. A file recorded again (the same index and path) is updated in place.
    fn record_delivery(
        &self,
        id: &JobId,
        outputs: &[OutputRecord],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn get(&self, id: &JobId) -> impl Future<Output = Result<JobRecord, StoreError>> + Send;

    /// The one job `input` names: an exact id, a unique prefix of one, or a provider request id.
    fn resolve(&self, input: &str) -> impl Future<Output = Result<JobId, StoreError>> + Send;

    /// Jobs, newest first.
    fn list(
        &self,
        filter: JobFilter,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<JobRecord>, StoreError>> + Send;

    /// The jobs made from `parent` (its `parent` is `parent`), oldest first.
    fn children(
        &self,
        parent: &JobId,
    ) -> impl Future<Output = Result<Vec<JobRecord>, StoreError>> + Send;

    /// Money at risk (see [`crate::policy::money_at_risk`]) of real (not sandbox) jobs created
    /// at or after `since_ms`, per provider.
    fn spent_since(&self, since_ms: i64) -> impl Future<Output = Result<Spent, StoreError>> + Send;

    /// Credits quoted, charged and exposed, per provider, over the whole journal's real (not
    /// sandbox) jobs.
    fn totals(&self) -> impl Future<Output = Result<Vec<ProviderTotals>, StoreError>> + Send;

    /// Every real (not sandbox) job created since `since_ms`, oldest first, with its money.
    fn ledger(
        &self,
        since_ms: i64,
    ) -> impl Future<Output = Result<Vec<LedgerEntry>, StoreError>> + Send;

    /// Journals a batch's plan before any of it is sent. A plan with the same id already
    /// journalled is kept as it is (the same lines: running the same file again resumes it).
    fn record_batch(
        &self,
        plan: &crate::batch::BatchPlan,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The batch with this id, or the only one whose id starts with it.
    fn batch(
        &self,
        id_or_prefix: &str,
    ) -> impl Future<Output = Result<crate::batch::BatchPlan, StoreError>> + Send;

    /// Every job that sends lines of batch `id`, oldest first.
    fn batch_jobs(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Vec<JobRecord>, StoreError>> + Send;

    /// Jobs reserved or being sent (`quoted`, `submitting`), oldest first.
    fn in_flight(&self) -> impl Future<Output = Result<Vec<InFlight>, StoreError>> + Send;

    /// A job's audit trail, oldest first.
    fn events(&self, id: &JobId) -> impl Future<Output = Result<Vec<JobEvent>, StoreError>> + Send;
}
