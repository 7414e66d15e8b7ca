//! [`ScopedStore`]: the Postgres store as one gateway member's, for the core's runner.
//!
//! The runner is the only code that sends a paid POST, and it reserves through
//! [`JobStore::reserve`]. Rather than a second runner for the gateway, a member's request goes
//! through this view, whose `reserve` is [`PgStore::reserve_scoped`] (the member's and the
//! project's budgets, under their row locks, in the reserving transaction); every other call
//! is the store's own. It is a scope for reserving, not an access filter: which jobs a member
//! may read is decided by the gateway's handlers ([`PgStore::member_job`]).

use conjure_core::approval::{Approved, Order};
use conjure_core::batch::BatchPlan;
use conjure_core::policy::{ReserveFacts, SpendRules, Spent};
use conjure_core::store::{
    InFlight, JobEvent, JobFilter, JobRecord, JobStore, LedgerEntry, OutputRecord, ProviderTotals,
    ReserveError, StoreError,
};
use conjure_core::{Credits, JobId, JobState};

use super::{PgStore, Scope};

/// A [`PgStore`] reserving for one [`Scope`]. Made by [`PgStore::scoped`].
#[derive(Clone, Debug)]
pub struct ScopedStore {
    pub(super) store: PgStore,
    pub(super) scope: Scope,
}

impl ScopedStore {
    pub fn scope(&self) -> &Scope {
        &self.scope
    }
}

impl JobStore for ScopedStore {
    async fn reserve(
        &self,
        approved: &Approved,
        owner: &str,
        rules: &SpendRules,
        now_ms: i64,
    ) -> Result<JobRecord, ReserveError> {
        self.store.reserve_scoped(approved, owner, rules, &self.scope, now_ms).await
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
        self.store.transition(id, to, note).await
    }

    async fn set_request_id(&self, id: &JobId, request_id: &str) -> Result<(), StoreError> {
        self.store.set_request_id(id, request_id).await
    }

    async fn record_snapshot(
        &self,
        id: &JobId,
        snapshot: &serde_json::Value,
        credits_spent: Option<Credits>,
    ) -> Result<(), StoreError> {
        self.store.record_snapshot(id, snapshot, credits_spent).await
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
