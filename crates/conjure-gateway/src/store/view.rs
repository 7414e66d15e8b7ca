//! [`StoreView`]: the Postgres store as one gateway task sees it, for the core's runner.
//!
//! The runner is the only code that sends a paid POST or records a poll's answer, and it does
//! both through [`JobStore`]. Rather than a second runner for the gateway, its tasks hand the
//! runner a view of the store that differs from the store in one or two calls:
//! - a member's request ([`PgStore::scoped`]): `reserve` is [`PgStore::reserve_scoped`] (the
//!   member's and the project's budgets, under their row locks, in the reserving transaction).
//!   A scope for reserving, not an access filter: which jobs a member may read is decided by
//!   the gateway's handlers ([`PgStore::member_job`]);
//! - a background poll under a lease ([`PgStore::leased`], [`crate::leases`]): a poll's answer
//!   (`transition`, `record_snapshot`, `record_answer`) is written only while the job's lease still carries the
//!   claim's token; a write that finds it taken over changes nothing and is remembered
//!   ([`StoreView::lost`]).
//!
//! Every other call is the store's own.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use conjure_core::approval::{Approved, Order};
use conjure_core::batch::BatchPlan;
use conjure_core::policy::{ReserveFacts, SpendRules, Spent};
use conjure_core::store::{
    Answer, InFlight, JobEvent, JobFilter, JobRecord, JobStore, LedgerEntry, OutputRecord,
    ProviderTotals, ReserveError, StoreError,
};
use conjure_core::{Credits, JobId, JobState};

use super::{PgStore, PgStoreError, Scope};

/// A [`PgStore`] reserving for a [`Scope`], or writing under a poll lease, or both. Made by
/// [`PgStore::scoped`] and [`PgStore::leased`].
#[derive(Clone, Debug)]
pub struct StoreView {
    store: PgStore,
    scope: Option<Scope>,
    lease: Option<Lease>,
}

/// A claim's token, and whether a write found the lease taken over.
#[derive(Clone, Debug)]
struct Lease {
    token: String,
    lost: Arc<AtomicBool>,
}

impl PgStore {
    /// This store reserving for `scope`: the view a member's request goes down the runner
    /// with, so that a member's request takes the same walk as the CLI's.
    pub fn scoped(&self, scope: Scope) -> StoreView {
        StoreView { store: self.clone(), scope: Some(scope), lease: None }
    }

    /// This store writing a poll's answer only under the lease `token` names.
    pub fn leased(&self, token: impl Into<String>) -> StoreView {
        let lease = Lease { token: token.into(), lost: Arc::new(AtomicBool::new(false)) };
        StoreView { store: self.clone(), scope: None, lease: Some(lease) }
    }
}

impl StoreView {
    /// The scope it reserves for, if any.
    pub fn scope(&self) -> Option<&Scope> {
        self.scope.as_ref()
    }

    /// Whether a write found its lease taken over (by another instance, after it expired).
    pub fn lost(&self) -> bool {
        self.lease.as_ref().is_some_and(|l| l.lost.load(Ordering::Relaxed))
    }

    fn token(&self) -> Option<&str> {
        self.lease.as_ref().map(|l| l.token.as_str())
    }

    fn guard<T>(&self, r: Result<T, PgStoreError>) -> Result<T, StoreError> {
        if let (Err(PgStoreError::LeaseLost(_)), Some(lease)) = (&r, &self.lease) {
            lease.lost.store(true, Ordering::Relaxed);
        }
        r.map_err(StoreError::from)
    }
}

impl JobStore for StoreView {
    async fn reserve(
        &self,
        approved: &Approved,
        owner: &str,
        rules: &SpendRules,
        now_ms: i64,
    ) -> Result<JobRecord, ReserveError> {
        match &self.scope {
            Some(scope) => self.store.reserve_scoped(approved, owner, rules, scope, now_ms).await,
            None => self.store.reserve(approved, owner, rules, now_ms).await,
        }
    }

    async fn preview(
        &self,
        order: &Order,
        token: Option<&str>,
        rules: &SpendRules,
        now_ms: i64,
    ) -> Result<ReserveFacts, StoreError> {
        self.store.preview(order, token, rules, now_ms).await
    }

    async fn transition(
        &self,
        id: &JobId,
        to: JobState,
        note: Option<&str>,
    ) -> Result<JobRecord, StoreError> {
        self.guard(self.store.transition_in(id, to, note, self.token()).await)
    }

    async fn set_request_id(&self, id: &JobId, request_id: &str) -> Result<(), StoreError> {
        self.store.set_request_id(id, request_id).await
    }

    async fn record_answer(&self, id: &JobId, answer: Answer<'_>) -> Result<JobRecord, StoreError> {
        self.guard(self.store.record_answer_in(id, &answer, self.token()).await)
    }

    async fn record_snapshot(
        &self,
        id: &JobId,
        snapshot: &serde_json::Value,
        credits_spent: Option<Credits>,
    ) -> Result<(), StoreError> {
        let snapshot = super::to_json(snapshot, "provider snapshot")?;
        self.guard(self.store.record_snapshot_in(id, &snapshot, credits_spent, self.token()).await)
    }

    async fn record_delivery(
        &self,
        id: &JobId,
        outputs: &[OutputRecord],
    ) -> Result<(), StoreError> {
        self.store.record_delivery(id, outputs).await
    }

    async fn get(&self, id: &JobId) -> Result<JobRecord, StoreError> {
        self.store.get(id).await
    }

    async fn resolve(&self, input: &str) -> Result<JobId, StoreError> {
        self.store.resolve(input).await
    }

    async fn list(&self, filter: JobFilter, limit: usize) -> Result<Vec<JobRecord>, StoreError> {
        self.store.list(filter, limit).await
    }

    async fn children(&self, parent: &JobId) -> Result<Vec<JobRecord>, StoreError> {
        self.store.children(parent).await
    }

    async fn spent_since(&self, since_ms: i64) -> Result<Spent, StoreError> {
        self.store.spent_since(since_ms).await
    }

    async fn totals(&self) -> Result<Vec<ProviderTotals>, StoreError> {
        self.store.totals().await
    }

    async fn ledger(&self, since_ms: i64) -> Result<Vec<LedgerEntry>, StoreError> {
        self.store.ledger(since_ms).await
    }

    async fn record_batch(&self, plan: &BatchPlan) -> Result<(), StoreError> {
        self.store.record_batch(plan).await
    }

    async fn batch(&self, id_or_prefix: &str) -> Result<BatchPlan, StoreError> {
        self.store.batch(id_or_prefix).await
    }

    async fn batch_jobs(&self, id: &str) -> Result<Vec<JobRecord>, StoreError> {
        self.store.batch_jobs(id).await
    }

    async fn in_flight(&self) -> Result<Vec<InFlight>, StoreError> {
        self.store.in_flight().await
    }

    async fn events(&self, id: &JobId) -> Result<Vec<JobEvent>, StoreError> {
        self.store.events(id).await
    }
}
