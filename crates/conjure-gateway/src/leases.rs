//! Stateless instances (issue 14, item 5): which gateway instances are alive, what happens to
//! the jobs of one that stopped, and who polls a submitted job.
//!
//! - **Liveness.** Every running instance has a row in `instances` (migration
//!   `0004_leases.sql`) keyed by the owner id it writes on the jobs it reserves, with a
//!   heartbeat expiry by the database's clock, renewed every [`Config::heartbeat`] and deleted
//!   on a graceful stop. An instance is alive while its row has not expired.
//! - **Orphans.** Any instance settles, every [`Config::sweep_interval`], the jobs that an
//!   instance no longer alive left between reservation and the provider's answer, by the CLI's
//!   rule ([`orphan_settlement`], as `conjure-app`'s `Session::settle_orphans`): `quoted` was
//!   never sent and becomes `failed`; `submitting` may have been charged and becomes `unknown`,
//!   never sent again. Through the store's transition, so the member's webhooks hear of it. A
//!   live instance's jobs are never touched.
//! - **Poll leases.** A submitted job is polled in the background by whichever instance claims
//!   it: a claim locks due rows with `FOR UPDATE SKIP LOCKED` (rows another instance is
//!   claiming at that moment are skipped, not waited for), writes a fresh token and an expiry,
//!   and commits at once; the lease, not an open transaction, keeps other instances off while
//!   the poll is in flight. The poll is [`Runner::poll_once`] with the gateway's credentials,
//!   through the store's leased view ([`PgStore::leased`]), which writes the answer only while
//!   the lease still carries the claim's token. Then the lease is cleared and the job's next poll time set
//!   ([`next_poll`]: the provider's `poll_after_seconds` when it gave one, else the runner's
//!   poll policy). A killed instance's lease expires and the job is claimable again; a
//!   graceful stop finishes its round first, so it leaves no lease behind. Polls are free: a
//!   poll abandoned at [`Config::poll_timeout`] or lost with its instance is simply made again.
//!
//! - **Quotes.** The same sweep settles the 402 quotes that lapsed
//!   ([`crate::approvals::expire_due`]).
//!
//! This is the webhook worker's approach ([`crate::webhooks::Worker`]): database clock for
//! every expiry, claims that commit at once, results only under the claim's token. A member's
//! own `GET` still polls as before (unleased: two polls of one job at once record the same
//! answer twice at worst; the state machine refuses a second finish). Not here: deciding
//! anything about money; `unknown` jobs are not polled (their request id, if any, was never
//! confirmed by the runner).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use conjure_app::App;
use conjure_core::policy::{PollPolicy, PollVerdict};
use conjure_core::runner::{Event, RunError, Runner};
use conjure_core::store::{JobRecord, JobStore, StoreError};
use conjure_core::{JobId, JobState, MediaKind};
use sqlx::{PgPool, Row};
use tokio::task::JoinSet;

use crate::store::{PgStore, PgStoreError};
use crate::webhooks::db::NOW;

/// How instances keep themselves alive and share the polling. [`Config::with_lease`] derives
/// every interval from one lease length; tests shorten it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// How long a heartbeat keeps an instance alive.
    pub instance_ttl: Duration,
    /// How often the heartbeat is renewed (well inside [`Config::instance_ttl`]).
    pub heartbeat: Duration,
    /// How often orphaned jobs are looked for.
    pub sweep_interval: Duration,
    /// How long a claim on a job's poll lasts.
    pub poll_lease: Duration,
    /// A poll still running after this is abandoned (shorter than the lease, so that no
    /// instance writes after its lease could have been taken).
    pub poll_timeout: Duration,
    /// The pause between poll rounds when nothing was due.
    pub idle: Duration,
    /// Jobs claimed in one round.
    pub batch: i64,
    /// Whether this instance polls jobs in the background (liveness and orphan settling run
    /// regardless: they are what keeps its own jobs safe from other instances).
    pub poll: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config::with_lease(DEFAULT_LEASE)
    }
}

/// The lease length [`Config::default`] uses.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

impl Config {
    /// Every interval from one lease length: an instance is alive for `lease` after its last
    /// heartbeat, beating four times in that span; a job's poll claim lasts `lease`, a poll is
    /// abandoned after two thirds of it.
    pub fn with_lease(lease: Duration) -> Config {
        Config {
            instance_ttl: lease,
            heartbeat: lease / 4,
            sweep_interval: lease / 4,
            poll_lease: lease,
            poll_timeout: lease * 2 / 3,
            idle: (lease / 10).min(Duration::from_secs(1)),
            batch: 16,
            poll: true,
        }
    }

    /// Checks the intervals against each other.
    pub fn check(&self) -> Result<(), LeaseError> {
        if self.heartbeat.is_zero() || self.heartbeat >= self.instance_ttl {
            return Err(LeaseError::HeartbeatTooSlow {
                heartbeat: self.heartbeat,
                ttl: self.instance_ttl,
            });
        }
        if self.poll_timeout.is_zero() || self.poll_timeout >= self.poll_lease {
            return Err(LeaseError::LeaseTooShort {
                lease: self.poll_lease,
                timeout: self.poll_timeout,
            });
        }
        Ok(())
    }
}

/// Why instance liveness or background polling could not run.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("The heartbeat ({heartbeat:?}) must be shorter than the instance lease ({ttl:?})")]
    HeartbeatTooSlow { heartbeat: Duration, ttl: Duration },
    #[error("The poll lease ({lease:?}) must be longer than the poll timeout ({timeout:?})")]
    LeaseTooShort { lease: Duration, timeout: Duration },
    #[error(transparent)]
    Store(#[from] PgStoreError),
    /// Reading a claimed job back failed; its lease expires and the job is polled again then.
    #[error(transparent)]
    Job(#[from] StoreError),
}

impl LeaseError {
    /// What the operator can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            LeaseError::HeartbeatTooSlow { .. } | LeaseError::LeaseTooShort { .. } => Some(
                "build the configuration with `leases::Config::with_lease`, which keeps the \
                 intervals in proportion"
                    .to_owned(),
            ),
            LeaseError::Store(e) => e.hint(),
            LeaseError::Job(e) => e.hint(),
        }
    }
}

impl From<sqlx::Error> for LeaseError {
    fn from(e: sqlx::Error) -> LeaseError {
        LeaseError::Store(e.into())
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

// ---------------------------------------------------------------------------------------------
// Decisions (pure).

/// Where a job left in flight by a process that is gone goes, and why: the CLI's rule
/// (`Session::settle_orphans`). `None`: the state is not one an orphan can be stuck in.
pub fn orphan_settlement(state: JobState) -> Option<(JobState, &'static str)> {
    match state {
        JobState::Quoted => Some((
            JobState::Failed,
            "the gateway instance that reserved this job stopped before sending it; nothing was sent or charged",
        )),
        JobState::Submitting => Some((
            JobState::Unknown,
            "the gateway instance sending this job stopped before it read the answer; it may have been charged",
        )),
        _ => None,
    }
}

/// What one background poll came to.
#[derive(Clone, Debug, PartialEq)]
pub enum Polled {
    /// The job reached a terminal state (recorded).
    Finished,
    /// Still running; the provider's hint for the next poll, if it gave one.
    Pending { hint_seconds: Option<f64> },
    /// The poll failed in a way that passes; try again after this long.
    RetryAfter(Duration),
    /// The poll failed in a way that will not pass by itself (credentials refused, the job
    /// unknown to the provider); tried again rarely, in case it does.
    Stopped,
    /// Another instance took the lease over; its poll counts, this one recorded nothing.
    Lost,
    /// Not polled: the provider's last hint said to wait this much longer.
    Deferred(Duration),
}

/// How long until a job is polled again after `polled`, `elapsed` after it was created; `None`
/// when it needs no more polls. Past the kind's deadline (when the CLI would stop waiting) a
/// job is still polled, at the slowest rate.
pub fn next_poll(
    policy: &PollPolicy,
    kind: MediaKind,
    polled: &Polled,
    elapsed: Duration,
) -> Option<Duration> {
    // `next_delay` clamps a hint to the policy's bounds and scales it: the longest interval.
    let slowest = policy.next_delay(elapsed, Some(policy.max_interval.as_secs_f64()));
    match polled {
        Polled::Finished | Polled::Lost => None,
        Polled::Stopped => Some(slowest),
        _ if elapsed > policy.deadline(kind) => Some(slowest),
        Polled::Pending { hint_seconds } => Some(policy.next_delay(elapsed, *hint_seconds)),
        Polled::RetryAfter(d) | Polled::Deferred(d) => Some(*d),
    }
}

/// For a job no lease has polled yet: how much longer to wait before its first background
/// poll, `since_update` after its last recorded change. The provider's hint in the submit
/// answer is honoured as [`Runner::wait`] honours it; without one the job is due at once.
pub fn first_poll_wait(
    policy: &PollPolicy,
    last_snapshot: Option<&serde_json::Value>,
    since_update: Duration,
) -> Duration {
    let hint =
        last_snapshot.and_then(|s| s.get("poll_after_seconds")).and_then(serde_json::Value::as_f64);
    match hint {
        Some(h) => policy.next_delay(Duration::ZERO, Some(h)).saturating_sub(since_update),
        None => Duration::ZERO,
    }
}

// ---------------------------------------------------------------------------------------------
// Instances (thin SQL, the database's clock).

/// Writes (or renews) `owner`'s row: alive for `ttl` from now. A row pruned while this
/// instance was late is written again.
pub async fn heartbeat(pool: &PgPool, owner: &str, ttl: Duration) -> Result<(), LeaseError> {
    sqlx::query(&format!(
        "INSERT INTO instances (owner, started_at, heartbeat_at, expires_at) \
         VALUES ($1, {NOW}, {NOW}, {NOW} + $2) \
         ON CONFLICT (owner) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, \
             expires_at = excluded.expires_at"
    ))
    .bind(owner)
    .bind(millis(ttl))
    .execute(pool)
    .await?;
    Ok(())
}

/// Deletes `owner`'s row (a graceful stop): its jobs in flight, if any were left, are orphans
/// at once.
pub async fn deregister(pool: &PgPool, owner: &str) -> Result<(), LeaseError> {
    sqlx::query("DELETE FROM instances WHERE owner = $1").bind(owner).execute(pool).await?;
    Ok(())
}

/// Whether `owner` has a live row.
pub async fn is_alive(pool: &PgPool, owner: &str) -> Result<bool, LeaseError> {
    let alive: Option<i32> = sqlx::query_scalar(&format!(
        "SELECT 1 FROM instances WHERE owner = $1 AND expires_at > {NOW}"
    ))
    .bind(owner)
    .fetch_optional(pool)
    .await?;
    Ok(alive.is_some())
}

/// Settles the jobs whose owner has no live instance row ([`orphan_settlement`]); returns the
/// jobs moved. A job settled by another instance at the same moment is skipped.
pub async fn settle_orphans(store: &PgStore) -> Result<Vec<(JobId, JobState)>, LeaseError> {
    let pool = store.pool();
    // Rows of instances killed long ago are of no more use (a late instance writes its row
    // again); an hour keeps them visible for whoever looks into a kill.
    sqlx::query(&format!("DELETE FROM instances WHERE expires_at < {NOW} - 3600000"))
        .execute(pool)
        .await?;
    let rows = sqlx::query(&format!(
        "SELECT id, state FROM jobs j \
         WHERE state IN ('quoted', 'submitting') \
           AND NOT EXISTS (SELECT 1 FROM instances i \
                           WHERE i.owner = j.owner AND i.expires_at > {NOW}) \
         ORDER BY created_at, seq LIMIT 500"
    ))
    .fetch_all(pool)
    .await?;
    let mut settled = Vec::new();
    for row in rows {
        let id = JobId::from_stored(row.try_get::<String, _>(0)?);
        let Ok(state) = row.try_get::<String, _>(1)?.parse::<JobState>() else { continue };
        let Some((to, note)) = orphan_settlement(state) else { continue };
        match store.transition_in(&id, to, Some(note), None).await {
            Ok(_) => {
                tracing::warn!(job = %id, from = %state, to = %to, "settled a stopped instance's job");
                settled.push((id, to));
            }
            // Another instance settled it first: its move stands.
            Err(PgStoreError::Illegal(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(settled)
}

// ---------------------------------------------------------------------------------------------
// Poll claims.

/// A claimed job: polled under `token` until the lease expires.
#[derive(Clone, Debug)]
pub struct Claim {
    pub job: JobId,
    pub token: String,
    /// No lease has polled it before (its submit answer's hint decides the first poll).
    pub first: bool,
}

/// Claims up to `batch` due jobs for `lease`.
async fn claim(pool: &PgPool, batch: i64, lease: Duration) -> Result<Vec<Claim>, LeaseError> {
    let token = crate::webhooks::event::new_id("poll_")
        .map_err(|e| LeaseError::Store(PgStoreError::Random(e)))?;
    // The states are written out so that the partial index `jobs_poll_due` applies; they are
    // the core's pollable states (`JobState::is_pollable`, checked by a unit test).
    let rows = sqlx::query(&format!(
        "WITH due AS ( \
             SELECT id FROM jobs \
             WHERE state IN ('submitted', 'processing') AND request_id IS NOT NULL \
               AND (next_poll_at IS NULL OR next_poll_at <= {NOW}) \
               AND (poll_lease_until IS NULL OR poll_lease_until <= {NOW}) \
             ORDER BY next_poll_at NULLS FIRST, seq \
             LIMIT $1 \
             FOR UPDATE SKIP LOCKED) \
         UPDATE jobs j SET poll_lease_token = $2, poll_lease_until = {NOW} + $3 \
         FROM due WHERE j.id = due.id \
         RETURNING j.id, j.next_poll_at IS NULL"
    ))
    .bind(batch)
    .bind(&token)
    .bind(millis(lease))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Claim {
                job: JobId::from_stored(r.try_get::<String, _>(0)?),
                token: token.clone(),
                first: r.try_get(1)?,
            })
        })
        .collect()
}

/// Clears the claim's lease and sets when the job is next due; `false` when the lease was no
/// longer the claim's.
async fn release(pool: &PgPool, claim: &Claim, next: Duration) -> Result<bool, LeaseError> {
    let done = sqlx::query(&format!(
        "UPDATE jobs SET poll_lease_token = NULL, poll_lease_until = NULL, \
             next_poll_at = {NOW} + $3 \
         WHERE id = $1 AND poll_lease_token = $2"
    ))
    .bind(claim.job.as_str())
    .bind(&claim.token)
    .bind(millis(next))
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

// ---------------------------------------------------------------------------------------------
// The background work.

/// One background poll, as it came out.
#[derive(Clone, Debug, PartialEq)]
pub struct PollOutcome {
    pub job: JobId,
    pub polled: Polled,
    /// When it is due again (`None`: finished, or another instance's now).
    pub next: Option<Duration>,
}

/// An instance's background work: its heartbeat, the orphan sweep and the job poller. Cheap to
/// clone.
#[derive(Clone)]
pub struct Instance {
    store: PgStore,
    app: Arc<App>,
    owner: Arc<str>,
    config: Arc<Config>,
    /// Where a member job this instance polls to the end has its files downloaded to.
    storage: Option<crate::storage::Storage>,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("owner", &self.owner)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Instance {
    /// The background work of the instance `owner`, polling with `app`'s credentials.
    pub fn new(
        store: PgStore,
        app: Arc<App>,
        owner: &str,
        config: Config,
    ) -> Result<Instance, LeaseError> {
        config.check()?;
        Ok(Instance {
            store,
            app,
            owner: Arc::from(owner),
            config: Arc::new(config),
            storage: None,
        })
    }

    /// The same instance downloading the files of the member jobs it polls to the end into
    /// `storage` ([`crate::storage`]).
    #[must_use]
    pub fn with_storage(mut self, storage: crate::storage::Storage) -> Instance {
        self.storage = Some(storage);
        self
    }

    /// Writes this instance's row: call before it reserves anything, so that no other
    /// instance takes its jobs for orphans.
    pub async fn register(&self) -> Result<(), LeaseError> {
        heartbeat(self.store.pool(), &self.owner, self.config.instance_ttl).await
    }

    /// Deletes this instance's row (a graceful stop, after its requests in flight finished).
    pub async fn deregister(&self) -> Result<(), LeaseError> {
        deregister(self.store.pool(), &self.owner).await
    }

    /// Settles stopped instances' jobs ([`settle_orphans`]).
    pub async fn sweep(&self) -> Result<Vec<(JobId, JobState)>, LeaseError> {
        settle_orphans(&self.store).await
    }

    /// Settles the quotes that lapsed ([`crate::approvals::expire_due`]), alongside the orphan
    /// sweep; returns the tokens this instance settled (another instance's share is skipped).
    pub async fn expire_quotes(&self) -> Result<Vec<String>, LeaseError> {
        Ok(crate::approvals::expire_due(&self.store, crate::timefmt_now()).await?)
    }

    /// One poll round: claims up to [`Config::batch`] due jobs and polls them all at once,
    /// each once; every claim is released (or found taken over) before this returns.
    pub async fn poll_round(&self) -> Result<Vec<PollOutcome>, LeaseError> {
        let claims = claim(self.store.pool(), self.config.batch, self.config.poll_lease).await?;
        let mut running = JoinSet::new();
        for claim in claims {
            let me = self.clone();
            running.spawn(async move { me.poll_claimed(claim).await });
        }
        crate::join_round(running, "a background poll").await
    }

    async fn poll_claimed(&self, claim: Claim) -> Result<PollOutcome, LeaseError> {
        let job = self.store.get(&claim.job).await?;
        let policy = self.app.config.poll.for_provider(job.provider);
        let now = crate::timefmt_now();
        let age = |at: i64| Duration::from_millis(u64::try_from(now - at).unwrap_or(0));
        let mut polled = None;
        if claim.first {
            let wait = first_poll_wait(&policy, job.last_snapshot.as_ref(), age(job.updated_at));
            if !wait.is_zero() {
                polled = Some(Polled::Deferred(wait));
            }
        }
        let polled = match polled {
            Some(p) => p,
            None => self.poll(&claim, &job, &policy, age(job.created_at)).await,
        };
        let next = next_poll(&policy, job.kind, &polled, age(job.created_at));
        let mut held = polled != Polled::Lost;
        if held {
            held = release(self.store.pool(), &claim, next.unwrap_or(Duration::ZERO)).await?;
        }
        let polled = if held { polled } else { Polled::Lost };
        let next = if held { next } else { None };
        Ok(PollOutcome { job: claim.job, polled, next })
    }

    async fn poll(
        &self,
        claim: &Claim,
        job: &JobRecord,
        policy: &PollPolicy,
        elapsed: Duration,
    ) -> Polled {
        let connected = match self.app.connect(job.provider) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(job = %job.id, provider = %job.provider, error = %e,
                    "cannot poll: the gateway has no usable credentials for this provider");
                return Polled::Stopped;
            }
        };
        let leased = self.store.leased(claim.token.clone());
        let quiet = |_: Event<'_>| {};
        let runner = Runner {
            provider: &connected,
            store: &leased,
            policy: policy.clone(),
            owner: &self.owner,
            observer: &quiet,
        };
        let answer =
            tokio::time::timeout(self.config.poll_timeout, runner.poll_once(&job.id)).await;
        if leased.lost() {
            return Polled::Lost;
        }
        match answer {
            Err(_) => {
                tracing::warn!(job = %job.id, timeout = ?self.config.poll_timeout,
                    "a background poll took too long and was abandoned");
                Polled::Pending { hint_seconds: None }
            }
            Ok(Ok(record)) if record.state.is_pollable() => Polled::Pending {
                hint_seconds: record
                    .last_snapshot
                    .as_ref()
                    .and_then(|s| s.get("poll_after_seconds"))
                    .and_then(serde_json::Value::as_f64),
            },
            Ok(Ok(record)) => {
                if let Some(storage) = &self.storage {
                    storage.store_finished(&self.store, &connected, &record).await;
                }
                Polled::Finished
            }
            Ok(Err(RunError::Failed { .. })) => Polled::Finished,
            Ok(Err(RunError::PollStopped { error, .. })) => {
                match conjure_core::policy::after_poll_error(policy, &error, elapsed) {
                    PollVerdict::RetryAfter(d) => Polled::RetryAfter(d),
                    PollVerdict::Stop => {
                        tracing::warn!(job = %job.id, error = %error, "background polling paused");
                        Polled::Stopped
                    }
                }
            }
            Ok(Err(e)) => {
                tracing::warn!(job = %job.id, error = %e, "a background poll failed");
                Polled::Pending { hint_seconds: None }
            }
        }
    }

    /// Renews this instance's row every [`Config::heartbeat`] until `shutdown` resolves. Kept
    /// apart from [`Instance::run`] because it must outlast it: a stopping instance stays alive
    /// until its requests in flight (a paid POST among them) have been answered and recorded,
    /// or another instance would take its `submitting` jobs for a stopped instance's.
    pub async fn keep_alive(self, shutdown: impl Future<Output = ()>) {
        let me = self.clone();
        every(self.config.heartbeat, shutdown, move || {
            let me = me.clone();
            async move {
                if let Err(e) = me.register().await {
                    tracing::warn!(error = %e, hint = ?e.hint(), "instance heartbeat failed");
                }
                false
            }
        })
        .await;
    }

    /// Runs the orphan sweep and (with [`Config::poll`]) the poller until `shutdown` resolves;
    /// each finishes what it is doing first, so no lease is left held by a graceful stop.
    /// Database errors are logged and retried at the next interval. The heartbeat is
    /// [`Instance::keep_alive`]; the row is deleted by [`Instance::deregister`].
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let wait = move |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let mut tasks = JoinSet::new();
        let me = self.clone();
        tasks.spawn(every(self.config.sweep_interval, wait(stopped.clone()), move || {
            let me = me.clone();
            async move {
                if let Err(e) = me.sweep().await {
                    tracing::warn!(error = %e, hint = ?e.hint(), "orphan sweep failed");
                }
                if let Err(e) = me.expire_quotes().await {
                    tracing::warn!(error = %e, hint = ?e.hint(), "quote expiry sweep failed");
                }
                false
            }
        }));
        if self.config.poll {
            let me = self.clone();
            tasks.spawn(every(self.config.idle, wait(stopped.clone()), move || {
                let me = me.clone();
                async move {
                    match me.poll_round().await {
                        Ok(done) => !done.is_empty(),
                        Err(e) => {
                            tracing::warn!(error = %e, hint = ?e.hint(), "poll round failed");
                            false
                        }
                    }
                }
            }));
        }
        shutdown.await;
        let _ = stop.send(true);
        while tasks.join_next().await.is_some() {}
    }
}

/// Runs `step` until `shutdown` resolves: again at once when it reports it was busy, else
/// after `pause`. A step in progress finishes first.
async fn every<F, Fut>(pause: Duration, shutdown: impl Future<Output = ()>, mut step: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    tokio::pin!(shutdown);
    loop {
        let busy = step().await;
        let pause = if busy { Duration::ZERO } else { pause };
        tokio::select! {
            biased;
            () = &mut shutdown => return,
            () = tokio::time::sleep(pause) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> PollPolicy {
        PollPolicy::default()
    }

    #[test]
    fn orphans_follow_the_clis_rule() {
        assert_eq!(orphan_settlement(JobState::Quoted).map(|s| s.0), Some(JobState::Failed));
        assert_eq!(orphan_settlement(JobState::Submitting).map(|s| s.0), Some(JobState::Unknown));
        for state in JobState::ALL {
            if !matches!(state, JobState::Quoted | JobState::Submitting) {
                assert_eq!(orphan_settlement(state), None, "{state}");
            }
            if let Some((to, note)) = orphan_settlement(state) {
                assert!(state.transition(to).is_ok(), "{state} -> {to}");
                assert!(!note.is_empty());
            }
        }
        assert!(
            orphan_settlement(JobState::Submitting).unwrap().1.contains("may have been charged")
        );
    }

    #[test]
    fn the_claims_states_are_the_cores_pollable_states() {
        let pollable: Vec<_> =
            JobState::ALL.into_iter().filter(|s| s.is_pollable()).map(JobState::as_str).collect();
        assert_eq!(pollable, ["submitted", "processing"]);
        let in_flight = [JobState::Quoted, JobState::Submitting].map(JobState::as_str);
        assert_eq!(in_flight, ["quoted", "submitting"]);
    }

    #[test]
    fn the_providers_hint_sets_the_next_poll_within_the_policys_bounds() {
        let p = policy();
        let pending = |h| Polled::Pending { hint_seconds: h };
        let early = Duration::from_secs(10);
        assert_eq!(
            next_poll(&p, MediaKind::Image, &pending(Some(7.0)), early),
            Some(Duration::from_secs(7))
        );
        assert_eq!(next_poll(&p, MediaKind::Image, &pending(None), early), Some(p.early_interval));
        assert_eq!(
            next_poll(&p, MediaKind::Image, &pending(Some(0.01)), early),
            Some(p.min_interval)
        );
        assert_eq!(
            next_poll(&p, MediaKind::Image, &pending(Some(1e9)), early),
            Some(p.max_interval)
        );
        assert_eq!(next_poll(&p, MediaKind::Image, &Polled::Finished, early), None);
        assert_eq!(next_poll(&p, MediaKind::Image, &Polled::Lost, early), None);
        assert_eq!(
            next_poll(&p, MediaKind::Image, &Polled::RetryAfter(Duration::from_secs(3)), early),
            Some(Duration::from_secs(3))
        );
        assert_eq!(next_poll(&p, MediaKind::Image, &Polled::Stopped, early), Some(p.max_interval));
    }

    #[test]
    fn past_the_deadline_a_job_is_polled_at_the_slowest_rate() {
        let p = policy();
        let late = p.deadline(MediaKind::Image) + Duration::from_secs(1);
        let pending = Polled::Pending { hint_seconds: Some(2.0) };
        assert_eq!(next_poll(&p, MediaKind::Image, &pending, late), Some(p.max_interval));
        // A video's deadline is longer: the same age is still within it.
        assert_eq!(next_poll(&p, MediaKind::Video, &pending, late), Some(Duration::from_secs(2)));
    }

    #[test]
    fn the_first_poll_waits_out_the_submit_answers_hint() {
        let p = policy();
        let hinted = serde_json::json!({"poll_after_seconds": 5});
        assert_eq!(
            first_poll_wait(&p, Some(&hinted), Duration::from_secs(2)),
            Duration::from_secs(3)
        );
        assert_eq!(first_poll_wait(&p, Some(&hinted), Duration::from_secs(9)), Duration::ZERO);
        assert_eq!(first_poll_wait(&p, None, Duration::ZERO), Duration::ZERO);
        let silent = serde_json::json!({"status": "queued"});
        assert_eq!(first_poll_wait(&p, Some(&silent), Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn a_lease_config_keeps_its_intervals_in_proportion() {
        Config::default().check().unwrap();
        Config::with_lease(Duration::from_millis(300)).check().unwrap();
        let bad = Config { poll_timeout: Duration::from_secs(60), ..Config::default() };
        assert!(matches!(bad.check(), Err(LeaseError::LeaseTooShort { .. })));
        let bad = Config { heartbeat: Duration::from_secs(60), ..Config::default() };
        assert!(matches!(bad.check(), Err(LeaseError::HeartbeatTooSlow { .. })));
    }
}
