//! [`PgStore`]: the job store on Postgres, shared by every gateway instance.
//!
//! It keeps the SQLite journal's contract ([`JobStore`], checked by the shared contract suite)
//! and its shape: every write that depends on what is stored reads and writes inside one
//! transaction, and no money decision is made here ([`policy::reserve_verdict`] decides from
//! facts read inside the reserving transaction).
//!
//! **Reservations cannot overspend.** Many connections, from many gateway instances, reserve
//! at once. Each reservation first locks its *ledger*'s row (`SELECT ... FROM ledgers ... FOR
//! UPDATE`; one row for real money, one for the sandbox's), then reads the token, duplicate,
//! batch-line and budget facts, decides, and inserts the job, committing before the lock is
//! released. The transaction runs at READ COMMITTED on purpose: each statement reads a fresh
//! snapshot, so the facts read after the lock is granted include every job committed by the
//! reservations that held it before (at REPEATABLE READ the snapshot would predate the wait).
//! Rejected alternatives: SERIALIZABLE makes racing reservations fail and retry instead of
//! queueing, and its predicate locks over the budget's range scans abort unrelated pairs under
//! load; an advisory lock would do the same as the row lock, but with a key space of our own
//! to keep collision-free and no row to see in `pg_locks`. The ledger is the lock's scope
//! because the spending rules are: a budget may span every provider, and the duplicate and
//! budget facts are read per ledger (the sandbox's never count toward real money).
//!
//! Other writes (a transition, a request id) lock the job's row (`FOR UPDATE`) while reading
//! the value they check. Times are unix milliseconds; JSON is stored as text, exactly as
//! serialised. The store never sees credentials, names no provider except through
//! [`ProviderId`], and never deletes jobs. The database URL appears in errors and `Debug`
//! only redacted.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use conjure_core::approval::{Approved, Order};
use conjure_core::batch::{BatchLink, BatchPlan};
use conjure_core::policy::{
    self, Budget, EarlierJob, ProviderSpend, ReserveFacts, SpendRefusal, SpendRules, Spent,
};
use conjure_core::store::{
    Answer, InFlight, JobEvent, JobFilter, JobRecord, JobStore, LedgerEntry, OutputRecord,
    ProviderTotals, ReserveError, StoreError,
};
use conjure_core::stored::{self, Reservation};
use conjure_core::{Credits, JobId, JobState, ProviderId};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool, Row};

pub use self::error::PgStoreError;
pub use self::migrate::SCHEMA_VERSION;
use self::record::{JOB_COLUMNS, into_records, parse, parse_json, parse_state, stored_job};
use crate::member::MemberId;
use crate::redact::redact_url;
use crate::webhooks::EventType;

mod error;
mod migrate;
mod record;
mod view;

pub use self::view::StoreView;

/// How many candidates an ambiguous id error lists.
const MAX_CANDIDATES: usize = 10;

/// Connections a store opens at most, unless told otherwise.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// How long a call waits for a free connection before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The job store on one Postgres database. Clones share one connection pool.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The database URL, redacted.
    target: String,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("database", &self.target).finish_non_exhaustive()
    }
}

/// Why a reservation recorded nothing: the money rules refused it, or the store failed.
enum NotReserved {
    Refused(SpendRefusal),
    Failed(PgStoreError),
}

impl From<PgStoreError> for NotReserved {
    fn from(e: PgStoreError) -> NotReserved {
        NotReserved::Failed(e)
    }
}

impl From<sqlx::Error> for NotReserved {
    fn from(e: sqlx::Error) -> NotReserved {
        NotReserved::Failed(e.into())
    }
}

/// What an order asks the reserve decision about.
struct Asked<'a> {
    provider: ProviderId,
    fingerprint: &'a str,
    token: Option<&'a str>,
    retry_of: Option<&'a JobId>,
    batch: Option<&'a BatchLink>,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`, or
    /// `?host=/socket/dir` for a unix socket) with up to [`DEFAULT_MAX_CONNECTIONS`]
    /// connections, and brings its schema up to date.
    pub async fn connect(url: &str) -> Result<PgStore, PgStoreError> {
        PgStore::connect_with(url, DEFAULT_MAX_CONNECTIONS).await
    }

    /// [`PgStore::connect`] with a pool of at most `max_connections`.
    pub async fn connect_with(url: &str, max_connections: u32) -> Result<PgStore, PgStoreError> {
        let target = redact_url(url);
        let connect_err = |source| PgStoreError::Connect { target: target.clone(), source };
        let options: PgConnectOptions = url.parse().map_err(connect_err)?;
        // The first connection is made directly, not by the pool: the pool retries a refused
        // or failed connection until its acquire timeout and then reports only the timeout,
        // where this reports the cause at once.
        let mut first = PgConnection::connect_with(&options).await.map_err(connect_err)?;
        let migrated = migrate::migrate(&mut first).await;
        // Closing politely is a courtesy to the server; a failure to do so changes nothing.
        let _ = first.close().await;
        migrated?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        Ok(PgStore { pool, target })
    }

    /// [`JobStore::reserve`] for a gateway member: the member's row and the project's are
    /// locked (in that order, after the ledger's) and their budgets hold together with the
    /// rules', in the one transaction that records the job with its member and project. The
    /// same-request check looks at the member's own jobs only.
    pub async fn reserve_scoped(
        &self,
        approved: &Approved,
        owner: &str,
        rules: &SpendRules,
        scope: &Scope,
        now_ms: i64,
    ) -> Result<JobRecord, ReserveError> {
        let r = store(Reservation::of(approved, owner).map_err(PgStoreError::from))?;
        match self.reserve_in(&r, rules, Some(scope), now_ms).await {
            Ok(record) => Ok(record),
            Err(NotReserved::Refused(refusal)) => Err(ReserveError::Refused(refusal)),
            Err(NotReserved::Failed(e)) => Err(StoreError::from(e).into()),
        }
    }

    /// What [`PgStore::reserve_scoped`] would decide for `order`, read in one snapshot without
    /// locking or recording anything: for refusing before a person is asked to approve what
    /// the budgets would refuse anyway. Not a promise; the reservation decides again.
    pub async fn preview_scoped(
        &self,
        order: &Order,
        rules: &SpendRules,
        scope: &Scope,
        now_ms: i64,
    ) -> Result<Result<(), SpendRefusal>, PgStoreError> {
        let fingerprint = order.spec.fingerprint();
        let asked = Asked {
            provider: order.spec.provider,
            fingerprint: &fingerprint,
            token: None,
            retry_of: order.retry_of.as_ref(),
            batch: order.batch.as_ref(),
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let budgets = read_scope(&mut tx, scope, false).await?;
        let member = Some(scope.member.as_str());
        let facts = reserve_facts(&mut tx, &asked, rules, member, now_ms).await?;
        let mut verdict = policy::reserve_verdict(&order.quote, rules, &facts, now_ms);
        if verdict.is_ok() {
            verdict =
                scoped_verdict(&mut tx, Some(scope), &budgets, &order.quote, rules.sandbox, now_ms)
                    .await?;
        }
        tx.commit().await?;
        Ok(verdict)
    }

    /// The pool, for the gateway's own tables (members, keys, quotes, webhooks, metrics).
    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// `member`'s job whose gateway id or provider request id is `id`; `None` for any other
    /// member's job, as for no job at all.
    pub async fn member_job(
        &self,
        member: &MemberId,
        id: &str,
    ) -> Result<Option<JobRecord>, PgStoreError> {
        let mut conn = self.conn().await?;
        let sql = jobs_sql(
            "WHERE member_id = $1 AND (id = $2 OR request_id = $2) \
             ORDER BY created_at DESC, seq DESC LIMIT 1",
        );
        Ok(query_jobs(&mut conn, &sql, |q| q.bind(member.as_str()).bind(id)).await?.pop())
    }

    /// The database URL, redacted: safe to print.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Whether the database answers a query (for a health check).
    pub async fn ping(&self) -> Result<(), PgStoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes every connection, waiting for those in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Postgres>, PgStoreError> {
        Ok(self.pool.acquire().await?)
    }

    async fn reserve_in(
        &self,
        r: &Reservation,
        rules: &SpendRules,
        scope: Option<&Scope>,
        now: i64,
    ) -> Result<JobRecord, NotReserved> {
        let mut tx = self.pool.begin().await?;
        // Postgres's default, stated because the lock below relies on it (see the module doc).
        sqlx::query("SET TRANSACTION ISOLATION LEVEL READ COMMITTED").execute(&mut *tx).await?;
        // The fixed lock order: ledger, member, project. A member's reservation needs the
        // ledger exclusively only when the gateway-wide rules have a budget to count.
        let exclusive = scope.is_none() || !rules.budgets.is_empty();
        let ledger_lock = if exclusive {
            "SELECT sandbox FROM ledgers WHERE sandbox = $1 FOR UPDATE"
        } else {
            "SELECT sandbox FROM ledgers WHERE sandbox = $1 FOR SHARE"
        };
        sqlx::query(ledger_lock).bind(rules.sandbox).fetch_one(&mut *tx).await?;
        let scoped = match scope {
            Some(scope) => Some(lock_scope(&mut tx, scope).await?),
            None => None,
        };
        let asked = Asked {
            provider: r.quote.provider,
            fingerprint: &r.fingerprint,
            token: r.token.as_deref(),
            retry_of: r.retry_of.as_ref(),
            batch: r.batch.as_ref(),
        };
        let member = scope.map(|s| s.member.as_str());
        let facts = reserve_facts(&mut tx, &asked, rules, member, now).await?;
        let mut verdict = policy::reserve_verdict(&r.quote, rules, &facts, now);
        if let (Ok(()), Some(scoped)) = (&verdict, &scoped) {
            verdict = scoped_verdict(&mut tx, scope, scoped, &r.quote, rules.sandbox, now).await?;
        }
        if let Err(refusal) = verdict {
            // Nothing was recorded. Rolled back here rather than when the pool next tests the
            // connection, because other reservations are queueing on the ledger's lock.
            tx.rollback().await?;
            return Err(NotReserved::Refused(refusal));
        }
        // Ids carry 30 random bits per minute; a clash is rare enough that a few draws suffice.
        // ON CONFLICT keeps the transaction alive where a failed INSERT would abort it.
        let mut attempts = 0;
        let id = loop {
            attempts += 1;
            let id = JobId::generate(now).map_err(PgStoreError::Random)?;
            let inserted = sqlx::query(
                "INSERT INTO jobs (id, provider, kind, model, prompt, state, fingerprint, \
                     spec_json, wire_json, quote_json, quoted_credits_tenths, quoted_usd_micros, \
                     usd_per_credit_micros, retry_of, parent, owner, created_at, updated_at, \
                     sandbox, deliver_to, batch_id, batch_json, member_id, project_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
                     $17, $17, $18, $19, $20, $21, $22, $23) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(id.as_str())
            .bind(r.provider.as_str())
            .bind(r.kind)
            .bind(&r.model)
            .bind(&r.prompt)
            .bind(JobState::Submitting.as_str())
            .bind(&r.fingerprint)
            .bind(&r.spec_json)
            .bind(&r.wire_json)
            .bind(&r.quote_json)
            .bind(r.quote.credits.tenths())
            .bind(r.quote.usd.map(conjure_core::Usd::micros))
            .bind(r.usd_per_credit_micros)
            .bind(r.retry_of.as_ref().map(JobId::as_str))
            .bind(r.parent.as_ref().map(JobId::as_str))
            .bind(&r.owner)
            .bind(now)
            .bind(rules.sandbox)
            .bind(&r.deliver_to)
            .bind(&r.batch_id)
            .bind(&r.batch_json)
            .bind(member)
            .bind(scope.and_then(|s| s.project.as_deref()))
            .execute(&mut *tx)
            .await?;
            if inserted.rows_affected() == 1 {
                break id;
            }
            if attempts >= 4 {
                return Err(PgStoreError::IdClash.into());
            }
        };
        if let Some(token) = &r.token {
            sqlx::query("INSERT INTO approvals (token, job_id, used_at) VALUES ($1, $2, $3)")
                .bind(token)
                .bind(id.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        insert_event(&mut tx, &id, now, None, JobState::Quoted, None).await?;
        insert_event(&mut tx, &id, now, Some(JobState::Quoted), JobState::Submitting, None).await?;
        let record = read_job(&mut tx, &id).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn preview_in(
        &self,
        asked: &Asked<'_>,
        rules: &SpendRules,
        now: i64,
    ) -> Result<ReserveFacts, PgStoreError> {
        let mut tx = self.pool.begin().await?;
        // One snapshot for all the facts; a preview promises nothing, so it takes no lock.
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let facts = reserve_facts(&mut tx, asked, rules, None, now).await?;
        tx.commit().await?;
        Ok(facts)
    }

    /// A job's state change; with `lease`, made only while the job's poll lease carries that
    /// token ([`PgStoreError::LeaseLost`] otherwise, nothing changed).
    pub(crate) async fn transition_in(
        &self,
        id: &JobId,
        to: JobState,
        note: Option<&str>,
        lease: Option<&str>,
    ) -> Result<JobRecord, PgStoreError> {
        let mut tx = self.pool.begin().await?;
        let record = transition_on(&mut tx, id, to, note, lease).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn set_request_id_in(&self, id: &JobId, request_id: &str) -> Result<(), PgStoreError> {
        let mut tx = self.pool.begin().await?;
        set_request_id_on(&mut tx, id, request_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a poll's answer; with `lease`, only while the job's poll lease carries that
    /// token ([`PgStoreError::LeaseLost`] otherwise, nothing written).
    pub(crate) async fn record_snapshot_in(
        &self,
        id: &JobId,
        snapshot: &str,
        credits_spent: Option<Credits>,
        lease: Option<&str>,
    ) -> Result<(), PgStoreError> {
        let mut conn = self.pool.acquire().await?;
        record_snapshot_on(&mut conn, id, snapshot, credits_spent, lease).await
    }

    /// [`JobStore::record_answer`]: the three writes in one transaction; with `lease`, only
    /// while the job's poll lease carries that token. Returning early drops `tx`, which rolls
    /// back: a refused part leaves the job as it was.
    pub(crate) async fn record_answer_in(
        &self,
        id: &JobId,
        answer: &Answer<'_>,
        lease: Option<&str>,
    ) -> Result<JobRecord, PgStoreError> {
        let snapshot = to_json(answer.snapshot, "provider snapshot")?;
        let mut tx = self.pool.begin().await?;
        if let Some(request_id) = answer.request_id {
            set_request_id_on(&mut tx, id, request_id).await?;
        }
        record_snapshot_on(&mut tx, id, &snapshot, answer.credits_spent, lease).await?;
        let record = transition_on(&mut tx, id, answer.to, answer.note, lease).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn record_delivery_in(
        &self,
        id: &JobId,
        outputs: &[OutputRecord],
    ) -> Result<(), PgStoreError> {
        let mut tx = self.pool.begin().await?;
        ensure_exists(&mut tx, id).await?;
        for output in outputs {
            // Recording the same file again (a resumed download) updates it in place: the row
            // describes what is on disk now.
            sqlx::query(
                "INSERT INTO outputs (job_id, idx, path, url, mime, width, height, \
                     duration_seconds, sha256, bytes, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                 ON CONFLICT (job_id, idx, path) DO UPDATE SET url = excluded.url, \
                     mime = excluded.mime, width = excluded.width, height = excluded.height, \
                     duration_seconds = excluded.duration_seconds, sha256 = excluded.sha256, \
                     bytes = excluded.bytes, expires_at = excluded.expires_at",
            )
            .bind(id.as_str())
            .bind(i64::try_from(output.index).unwrap_or(i64::MAX))
            .bind(&output.path)
            .bind(&output.url)
            .bind(&output.mime)
            .bind(output.width.map(i64::from))
            .bind(output.height.map(i64::from))
            .bind(output.duration_seconds)
            .bind(&output.sha256)
            .bind(i64::try_from(output.bytes).unwrap_or(i64::MAX))
            .bind(&output.expires_at)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE jobs SET delivered_at = $2, updated_at = greatest(updated_at, $2) \
             WHERE id = $1",
        )
        .bind(id.as_str())
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn resolve_in(&self, input: &str) -> Result<JobId, PgStoreError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(PgStoreError::NotFound(String::new()));
        }
        let mut conn = self.conn().await?;
        let exact: Option<String> = sqlx::query_scalar("SELECT id FROM jobs WHERE id = $1")
            .bind(input)
            .fetch_optional(&mut *conn)
            .await?;
        if let Some(id) = exact {
            return Ok(JobId::from_stored(id));
        }
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM jobs WHERE id LIKE $1 ESCAPE '\\' OR request_id = $2 \
             ORDER BY created_at DESC, seq DESC",
        )
        .bind(prefix_pattern(input))
        .bind(input)
        .fetch_all(&mut *conn)
        .await?;
        let total = ids.len();
        let mut candidates: Vec<JobId> =
            ids.into_iter().take(MAX_CANDIDATES).map(JobId::from_stored).collect();
        match total {
            0 => Err(PgStoreError::NotFound(input.to_owned())),
            1 => Ok(candidates.swap_remove(0)),
            _ => Err(PgStoreError::Ambiguous { input: input.to_owned(), total, candidates }),
        }
    }

    async fn list_in(
        &self,
        filter: JobFilter,
        limit: usize,
    ) -> Result<Vec<JobRecord>, PgStoreError> {
        // Which states are pending is the core's decision; pass its list rather than copy it.
        let pending = states(JobState::ALL.into_iter().filter(|s| s.is_pending()));
        let finished = states([JobState::Completed, JobState::Partial]);
        let mut conn = self.conn().await?;
        // LIMIT NULL is Postgres's "no limit".
        let sql = jobs_sql(
            "WHERE NOT $1 OR state = ANY($2) OR (state = ANY($3) AND delivered_at IS NULL) \
             ORDER BY created_at DESC, seq DESC LIMIT $4",
        );
        query_jobs(&mut conn, &sql, |q| {
            q.bind(filter == JobFilter::Pending)
                .bind(pending)
                .bind(finished)
                .bind(i64::try_from(limit).ok())
        })
        .await
    }

    async fn totals_in(&self) -> Result<Vec<ProviderTotals>, PgStoreError> {
        let exposure = states(JobState::ALL.into_iter().filter(|s| policy::is_exposure(*s)));
        let rows = sqlx::query(
            "SELECT provider, count(*), coalesce(sum(quoted_credits_tenths), 0)::BIGINT, \
                    coalesce(sum(credits_spent_tenths), 0)::BIGINT, \
                    coalesce(sum(quoted_credits_tenths) FILTER (WHERE state = ANY($1)), 0)::BIGINT \
             FROM jobs WHERE NOT sandbox GROUP BY provider ORDER BY provider",
        )
        .bind(exposure)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ProviderTotals {
                    provider: parse("(totals)", "provider", &r.try_get::<String, _>(0)?)?,
                    jobs: u64::try_from(r.try_get::<i64, _>(1)?).unwrap_or(0),
                    quoted: Credits::from_tenths(r.try_get(2)?),
                    spent: Credits::from_tenths(r.try_get(3)?),
                    exposure: Credits::from_tenths(r.try_get(4)?),
                })
            })
            .collect()
    }

    async fn batch_in(&self, id_or_prefix: &str) -> Result<BatchPlan, PgStoreError> {
        let rows = sqlx::query(
            "SELECT id, source, lines_json, created_at FROM batches \
             WHERE id = $1 OR id LIKE $2 ESCAPE '\\' ORDER BY id = $1 DESC, id",
        )
        .bind(id_or_prefix)
        .bind(prefix_pattern(id_or_prefix))
        .fetch_all(&self.pool)
        .await?;
        let exact = match rows.first() {
            Some(first) => first.try_get::<String, _>(0)? == id_or_prefix,
            None => false,
        };
        match (rows.len(), exact) {
            (0, _) => Err(PgStoreError::NotFound(id_or_prefix.to_owned())),
            (1, _) | (_, true) => {
                let row = &rows[0];
                let id: String = row.try_get(0)?;
                let lines = parse_json(&id, "lines_json", &row.try_get::<String, _>(2)?)?;
                Ok(BatchPlan { source: row.try_get(1)?, lines, created_at: row.try_get(3)?, id })
            }
            (n, _) => Err(PgStoreError::Ambiguous {
                input: id_or_prefix.to_owned(),
                total: n,
                candidates: Vec::new(),
            }),
        }
    }

    async fn ledger_in(&self, since_ms: i64) -> Result<Vec<LedgerEntry>, PgStoreError> {
        let rows = sqlx::query(
            "SELECT id, provider, kind, model, state, request_id IS NOT NULL, created_at, \
                    quoted_credits_tenths, credits_spent_tenths, usd_per_credit_micros \
             FROM jobs WHERE created_at >= $1 AND NOT sandbox ORDER BY created_at, seq",
        )
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get(0)?;
                let price: Option<i64> = r.try_get(9)?;
                let charged: Option<i64> = r.try_get(8)?;
                Ok(LedgerEntry {
                    provider: parse(&id, "provider", &r.try_get::<String, _>(1)?)?,
                    kind: parse(&id, "kind", &r.try_get::<String, _>(2)?)?,
                    model: r.try_get(3)?,
                    state: parse_state(&id, &r.try_get::<String, _>(4)?)?,
                    has_request_id: r.try_get(5)?,
                    created_at: r.try_get(6)?,
                    quoted: Credits::from_tenths(r.try_get(7)?),
                    charged: charged.map(Credits::from_tenths),
                    usd_per_credit: price.map(conjure_core::CreditPrice::from_micros_per_credit),
                    id: JobId::from_stored(id),
                })
            })
            .collect()
    }

    async fn in_flight_in(&self) -> Result<Vec<InFlight>, PgStoreError> {
        let rows = sqlx::query(
            "SELECT id, state, owner, updated_at FROM jobs WHERE state = ANY($1) \
             ORDER BY created_at, seq",
        )
        .bind(states([JobState::Quoted, JobState::Submitting]))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get(0)?;
                Ok(InFlight {
                    state: parse_state(&id, &r.try_get::<String, _>(1)?)?,
                    owner: r.try_get(2)?,
                    updated_at: r.try_get(3)?,
                    id: JobId::from_stored(id),
                })
            })
            .collect()
    }

    async fn events_in(&self, id: &JobId) -> Result<Vec<JobEvent>, PgStoreError> {
        let mut conn = self.conn().await?;
        ensure_exists(&mut conn, id).await?;
        let rows = sqlx::query(
            "SELECT at, from_state, to_state, note FROM job_events WHERE job_id = $1 ORDER BY seq",
        )
        .bind(id.as_str())
        .fetch_all(&mut *conn)
        .await?;
        let id = id.as_str();
        rows.iter()
            .map(|r| {
                let from: Option<String> = r.try_get(1)?;
                Ok(JobEvent {
                    at: r.try_get(0)?,
                    from: from.map(|s| parse_state(id, &s)).transpose()?,
                    to: parse_state(id, &r.try_get::<String, _>(2)?)?,
                    note: r.try_get(3)?,
                })
            })
            .collect()
    }
}

/// Whose jobs a spending sum counts.
#[derive(Clone, Copy, Debug)]
pub(crate) enum SpentBy<'a> {
    Everyone,
    Member(&'a str),
    Project(&'a str),
}

/// Whose money a gateway reservation spends: a member, and the project the request names.
/// Their budgets are read inside the reserving transaction, after their rows are locked, so
/// a budget changed meanwhile is either wholly before or wholly after the reservation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    pub member: MemberId,
    pub project: Option<String>,
}

/// The budgets of a locked scope.
struct ScopeBudgets {
    member: Vec<Budget>,
    project: Vec<Budget>,
}

/// Locks the member's row, then the project's (the fixed order), and reads their budgets.
async fn lock_scope(conn: &mut PgConnection, scope: &Scope) -> Result<ScopeBudgets, PgStoreError> {
    read_scope(conn, scope, true).await
}

/// The member's and the project's budgets; with `lock`, their rows locked first (member, then
/// project).
async fn read_scope(
    conn: &mut PgConnection,
    scope: &Scope,
    lock: bool,
) -> Result<ScopeBudgets, PgStoreError> {
    let (member_sql, project_sql) = if lock {
        (
            "SELECT id FROM members WHERE id = $1 FOR UPDATE",
            "SELECT id FROM projects WHERE id = $1 FOR UPDATE",
        )
    } else {
        ("SELECT id FROM members WHERE id = $1", "SELECT id FROM projects WHERE id = $1")
    };
    let member: Option<String> = sqlx::query_scalar(member_sql)
        .bind(scope.member.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    if member.is_none() {
        return Err(PgStoreError::UnknownMember(scope.member.to_string()));
    }
    let mut project = Vec::new();
    if let Some(p) = &scope.project {
        let found: Option<String> =
            sqlx::query_scalar(project_sql).bind(p).fetch_optional(&mut *conn).await?;
        if found.is_none() {
            return Err(PgStoreError::UnknownProject(p.clone()));
        }
        // The handlers refuse a non-member before pricing; this holds the rule for any caller,
        // read in the reserving transaction itself.
        let member_of: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM project_members WHERE project_id = $1 AND member_id = $2",
        )
        .bind(p)
        .bind(scope.member.as_str())
        .fetch_optional(&mut *conn)
        .await?;
        if member_of.is_none() {
            return Err(PgStoreError::NotProjectMember {
                member: scope.member.to_string(),
                project: p.clone(),
            });
        }
        project = crate::admin::budgets_of(conn, crate::admin::BudgetScope::Project, p).await?;
    }
    let member =
        crate::admin::budgets_of(conn, crate::admin::BudgetScope::Member, scope.member.as_str())
            .await?;
    Ok(ScopeBudgets { member, project })
}

/// The member's and the project's budgets against what their jobs spent, read under their locks.
async fn scoped_verdict(
    conn: &mut PgConnection,
    scope: Option<&Scope>,
    budgets: &ScopeBudgets,
    quote: &conjure_core::Quote,
    sandbox: bool,
    now: i64,
) -> Result<Result<(), SpendRefusal>, PgStoreError> {
    let Some(scope) = scope else { return Ok(Ok(())) };
    let mut checks = vec![(SpentBy::Member(scope.member.as_str()), &budgets.member)];
    if let Some(p) = &scope.project {
        checks.push((SpentBy::Project(p), &budgets.project));
    }
    for (by, list) in checks {
        let rules = SpendRules { budgets: list.clone(), ..SpendRules::default() };
        let mut spent = BTreeMap::new();
        for window in rules.windows_for(quote.provider) {
            spent.insert(window, spent_since(conn, window.since(now), sandbox, by).await?);
        }
        if let Err(refusal) = policy::check_budgets(&rules, &spent, quote) {
            return Ok(Err(refusal));
        }
    }
    Ok(Ok(()))
}

/// The facts [`policy::reserve_verdict`] needs, read inside the reserving transaction (or a
/// read-only one, for a preview).
///
/// With a `member`, the same-request check looks at that member's jobs only: one member's
/// request never reveals, or is blocked by, another's.
async fn reserve_facts(
    conn: &mut PgConnection,
    asked: &Asked<'_>,
    rules: &SpendRules,
    member: Option<&str>,
    now: i64,
) -> Result<ReserveFacts, PgStoreError> {
    let Asked { provider, fingerprint, token, retry_of, batch } = *asked;
    let batch_line_sent = match batch {
        Some(link) => batch_line_sent(conn, link, rules.sandbox).await?,
        None => None,
    };
    let token_used_by = match token {
        Some(token) => {
            sqlx::query_scalar::<_, String>("SELECT job_id FROM approvals WHERE token = $1")
                .bind(token)
                .fetch_optional(&mut *conn)
                .await?
                .map(JobId::from_stored)
        }
        None => None,
    };
    let same_request = if rules.again {
        None
    } else {
        let (always, accepted) = policy::money_at_risk_states();
        let row = sqlx::query(
            "SELECT id, state, request_id IS NOT NULL, created_at FROM jobs \
             WHERE fingerprint = $1 AND created_at >= $2 AND ($3::TEXT IS NULL OR id <> $3) \
               AND (state = ANY($4) OR (request_id IS NOT NULL AND state = ANY($5))) \
               AND sandbox = $6 AND ($7::TEXT IS NULL OR member_id = $7) \
             ORDER BY created_at DESC, seq DESC LIMIT 1",
        )
        .bind(fingerprint)
        .bind(SpendRules::duplicate_since(now))
        .bind(retry_of.map(JobId::as_str))
        .bind(states(always))
        .bind(states(accepted))
        .bind(rules.sandbox)
        .bind(member)
        .fetch_optional(&mut *conn)
        .await?;
        match row {
            Some(r) => {
                let id: String = r.try_get(0)?;
                Some(EarlierJob {
                    state: parse_state(&id, &r.try_get::<String, _>(1)?)?,
                    has_request_id: r.try_get(2)?,
                    created_at: r.try_get(3)?,
                    id: JobId::from_stored(id),
                })
            }
            None => None,
        }
    };
    let mut spent = BTreeMap::new();
    for window in rules.windows_for(provider) {
        let since = window.since(now);
        spent.insert(window, spent_since(conn, since, rules.sandbox, SpentBy::Everyone).await?);
    }
    Ok(ReserveFacts { token_used_by, same_request, batch_line_sent, spent })
}

/// The first line of `link` that an earlier job of its batch, one that may have cost money,
/// already carries.
async fn batch_line_sent(
    conn: &mut PgConnection,
    link: &BatchLink,
    sandbox: bool,
) -> Result<Option<(u32, EarlierJob)>, PgStoreError> {
    let rows = sqlx::query(
        "SELECT id, state, request_id IS NOT NULL, created_at, batch_json FROM jobs \
         WHERE batch_id = $1 AND sandbox = $2 ORDER BY created_at, seq",
    )
    .bind(&link.batch)
    .bind(sandbox)
    .fetch_all(conn)
    .await?;
    for r in &rows {
        let id: String = r.try_get(0)?;
        let state = parse_state(&id, &r.try_get::<String, _>(1)?)?;
        let has_request_id: bool = r.try_get(2)?;
        if !policy::money_at_risk(state, has_request_id) {
            continue;
        }
        let Some(json) = r.try_get::<Option<String>, _>(4)? else { continue };
        let theirs: BatchLink = parse_json(&id, "batch_json", &json)?;
        if let Some(line) =
            link.lines.iter().find(|l| theirs.items_of(l.line).is_some()).map(|l| l.line)
        {
            let earlier = EarlierJob {
                state,
                has_request_id,
                created_at: r.try_get(3)?,
                id: JobId::from_stored(id),
            };
            return Ok(Some((line, earlier)));
        }
    }
    Ok(None)
}

/// Money at risk since `since_ms`, per provider, in credits and (at its own price per credit)
/// dollars: a job the provider settled ([`policy::is_settled`]) with a reported charge counts
/// at that charge, any other at the larger of its quote and the charge reported so far.
pub(crate) async fn spent_since(
    conn: &mut PgConnection,
    since_ms: i64,
    sandbox: bool,
    by: SpentBy<'_>,
) -> Result<Spent, PgStoreError> {
    let (member, project) = match by {
        SpentBy::Everyone => (None, None),
        SpentBy::Member(m) => (Some(m), None),
        SpentBy::Project(p) => (None, Some(p)),
    };
    let (always, accepted) = policy::money_at_risk_states();
    let settled = states(JobState::ALL.into_iter().filter(|s| policy::is_settled(*s)));
    let rows = sqlx::query(
        "SELECT provider, \
                coalesce(sum(CASE WHEN settled THEN credits_spent_tenths \
                    ELSE greatest(quoted_credits_tenths, coalesce(credits_spent_tenths, 0)) \
                    END), 0)::BIGINT, \
                coalesce(sum(CASE WHEN quoted_usd_micros IS NULL THEN 0 \
                    WHEN settled THEN (credits_spent_tenths \
                        * coalesce(usd_per_credit_micros, 0) + 5) / 10 \
                    ELSE greatest(quoted_usd_micros, (coalesce(credits_spent_tenths, 0) \
                        * coalesce(usd_per_credit_micros, 0) + 5) / 10) END), 0)::BIGINT, \
                count(*) FILTER (WHERE quoted_usd_micros IS NULL) \
         FROM (SELECT provider, quoted_credits_tenths, credits_spent_tenths, quoted_usd_micros, \
                      usd_per_credit_micros, \
                      credits_spent_tenths IS NOT NULL AND state = ANY($5) AS settled \
               FROM jobs \
               WHERE sandbox = $4 AND created_at >= $1 \
                 AND (state = ANY($2) OR (request_id IS NOT NULL AND state = ANY($3))) \
                 AND ($6::TEXT IS NULL OR member_id = $6) \
                 AND ($7::TEXT IS NULL OR project_id = $7)) AS j \
         GROUP BY provider",
    )
    .bind(since_ms)
    .bind(states(always))
    .bind(states(accepted))
    .bind(sandbox)
    .bind(settled)
    .bind(member)
    .bind(project)
    .fetch_all(conn)
    .await?;
    let mut spent = Spent::default();
    for r in &rows {
        spent.by_provider.insert(
            parse("(budget)", "provider", &r.try_get::<String, _>(0)?)?,
            ProviderSpend {
                credits: Credits::from_tenths(r.try_get(1)?),
                usd: conjure_core::Usd::from_micros(r.try_get(2)?),
                unpriced_jobs: u64::try_from(r.try_get::<i64, _>(3)?).unwrap_or(0),
            },
        );
    }
    Ok(spent)
}

fn states(states: impl IntoIterator<Item = JobState>) -> Vec<&'static str> {
    states.into_iter().map(JobState::as_str).collect()
}

/// A LIKE pattern matching every text that starts with `prefix` (its `%`, `_` and `\` escaped:
/// `_` is in every job id).
fn prefix_pattern(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// A job's state change inside the caller's transaction; with `lease`, made only while the
/// job's poll lease carries that token ([`PgStoreError::LeaseLost`] otherwise). A member's job
/// tells their webhooks in the same transaction: the event exists exactly when the change does.
async fn transition_on(
    conn: &mut PgConnection,
    id: &JobId,
    to: JobState,
    note: Option<&str>,
    lease: Option<&str>,
) -> Result<JobRecord, PgStoreError> {
    let note = note.filter(|n| !n.trim().is_empty());
    let row = sqlx::query(
        "SELECT state, updated_at, member_id, poll_lease_token FROM jobs WHERE id = $1 \
         FOR UPDATE",
    )
    .bind(id.as_str())
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| PgStoreError::NotFound(id.to_string()))?;
    let from = parse_state(id.as_str(), &row.try_get::<String, _>(0)?)?;
    let updated_at: i64 = row.try_get(1)?;
    let member: Option<String> = row.try_get(2)?;
    let holder: Option<String> = row.try_get(3)?;
    if let Some(token) = lease
        && holder.as_deref() != Some(token)
    {
        return Err(PgStoreError::LeaseLost(id.to_string()));
    }
    // An illegal move returns before writing; the caller's transaction rolls back.
    from.transition(to)?;
    // A wall clock stepped back (NTP), or another instance's clock behind ours, must not
    // make the trail run backwards.
    let now = now_ms().max(updated_at);
    sqlx::query(
        "UPDATE jobs SET state = $2, updated_at = $3, error = coalesce($4, error) WHERE id = $1",
    )
    .bind(id.as_str())
    .bind(to.as_str())
    .bind(now)
    .bind(note)
    .execute(&mut *conn)
    .await?;
    insert_event(conn, id, now, Some(from), to, note).await?;
    let record = read_job(conn, id).await?;
    if let (Some(member), Some(event)) = (member, EventType::for_state(to)) {
        let data = serde_json::json!({
            "job_id": record.id.as_str(),
            "state": to.as_str(),
            "previous_state": from.as_str(),
            "provider": record.provider.as_str(),
            "model": record.model,
            "request_id": record.request_id,
            "note": note,
        });
        crate::webhooks::enqueue(conn, &MemberId(member), event, &data)
            .await
            .map_err(|e| PgStoreError::Webhook(Box::new(e)))?;
    }
    Ok(record)
}

/// A job's request id inside the caller's transaction: set once, never changed.
async fn set_request_id_on(
    conn: &mut PgConnection,
    id: &JobId,
    request_id: &str,
) -> Result<(), PgStoreError> {
    let existing: Option<String> =
        sqlx::query("SELECT request_id FROM jobs WHERE id = $1 FOR UPDATE")
            .bind(id.as_str())
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(|| PgStoreError::NotFound(id.to_string()))?
            .try_get(0)?;
    match existing {
        // The same answer read twice (a retried poll) is not a change.
        Some(existing) if existing == request_id => Ok(()),
        // A job is one paid request; silently replacing its id would orphan that payment.
        Some(existing) => Err(PgStoreError::RequestIdConflict {
            id: id.to_string(),
            existing,
            new: request_id.to_owned(),
        }),
        None => {
            sqlx::query(
                "UPDATE jobs SET request_id = $2, updated_at = greatest(updated_at, $3) \
                 WHERE id = $1",
            )
            .bind(id.as_str())
            .bind(request_id)
            .bind(now_ms())
            .execute(&mut *conn)
            .await?;
            Ok(())
        }
    }
}

/// The provider's latest answer and the credits it reports as spent; with `lease`, only while
/// the job's poll lease carries that token ([`PgStoreError::LeaseLost`] otherwise).
async fn record_snapshot_on(
    conn: &mut PgConnection,
    id: &JobId,
    snapshot: &str,
    credits_spent: Option<Credits>,
    lease: Option<&str>,
) -> Result<(), PgStoreError> {
    // A poll that does not report credits keeps the last reported figure.
    let changed = sqlx::query(
        "UPDATE jobs SET last_snapshot_json = $2, \
             credits_spent_tenths = coalesce($3, credits_spent_tenths), \
             updated_at = greatest(updated_at, $4) \
         WHERE id = $1 AND ($5::TEXT IS NULL OR poll_lease_token = $5)",
    )
    .bind(id.as_str())
    .bind(snapshot)
    .bind(credits_spent.map(Credits::tenths))
    .bind(now_ms())
    .bind(lease)
    .execute(&mut *conn)
    .await?;
    if changed.rows_affected() == 0 {
        // Jobs are never deleted: a leased write that changed nothing lost its lease.
        return Err(match lease {
            Some(_) => PgStoreError::LeaseLost(id.to_string()),
            None => PgStoreError::NotFound(id.to_string()),
        });
    }
    Ok(())
}

async fn ensure_exists(conn: &mut PgConnection, id: &JobId) -> Result<(), PgStoreError> {
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM jobs WHERE id = $1")
        .bind(id.as_str())
        .fetch_optional(conn)
        .await?;
    found.map(drop).ok_or_else(|| PgStoreError::NotFound(id.to_string()))
}

async fn insert_event(
    conn: &mut PgConnection,
    id: &JobId,
    at: i64,
    from: Option<JobState>,
    to: JobState,
    note: Option<&str>,
) -> Result<(), PgStoreError> {
    sqlx::query(
        "INSERT INTO job_events (job_id, at, from_state, to_state, note) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id.as_str())
    .bind(at)
    .bind(from.map(JobState::as_str))
    .bind(to.as_str())
    .bind(note)
    .execute(conn)
    .await?;
    Ok(())
}

async fn read_job(conn: &mut PgConnection, id: &JobId) -> Result<JobRecord, PgStoreError> {
    let sql = jobs_sql("WHERE id = $1");
    query_jobs(conn, &sql, |q| q.bind(id.as_str()))
        .await?
        .pop()
        .ok_or_else(|| PgStoreError::NotFound(id.to_string()))
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// A query of whole jobs: `tail` is its WHERE/ORDER/LIMIT clause.
fn jobs_sql(tail: &str) -> String {
    format!("SELECT {JOB_COLUMNS} FROM jobs {tail}")
}

/// The jobs `sql` (from [`jobs_sql`], its parameters bound by `bind`) selects, each with its
/// outputs.
async fn query_jobs<'q>(
    conn: &mut PgConnection,
    sql: &'q str,
    bind: impl FnOnce(PgQuery<'q>) -> PgQuery<'q>,
) -> Result<Vec<JobRecord>, PgStoreError> {
    let rows = bind(sqlx::query(sql)).fetch_all(&mut *conn).await?;
    let rows = rows.iter().map(stored_job).collect::<Result<Vec<_>, _>>()?;
    into_records(conn, rows).await
}

fn now_ms() -> i64 {
    // A clock before 1970 is a broken clock; zero keeps ordering sane rather than failing a job.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

pub(crate) fn to_json<T: serde::Serialize + ?Sized>(
    value: &T,
    what: &'static str,
) -> Result<String, PgStoreError> {
    Ok(stored::to_json(value, what)?)
}

fn store<T>(r: Result<T, PgStoreError>) -> Result<T, StoreError> {
    r.map_err(StoreError::from)
}

impl JobStore for PgStore {
    async fn reserve(
        &self,
        approved: &Approved,
        owner: &str,
        rules: &SpendRules,
        now_ms: i64,
    ) -> Result<JobRecord, ReserveError> {
        let r = store(Reservation::of(approved, owner).map_err(PgStoreError::from))?;
        match self.reserve_in(&r, rules, None, now_ms).await {
            Ok(record) => Ok(record),
            Err(NotReserved::Refused(refusal)) => Err(ReserveError::Refused(refusal)),
            Err(NotReserved::Failed(e)) => Err(StoreError::from(e).into()),
        }
    }

    async fn preview(
        &self,
        order: &Order,
        token: Option<&str>,
        rules: &SpendRules,
        now_ms: i64,
    ) -> Result<ReserveFacts, StoreError> {
        let fingerprint = order.spec.fingerprint();
        let asked = Asked {
            provider: order.spec.provider,
            fingerprint: &fingerprint,
            token,
            retry_of: order.retry_of.as_ref(),
            batch: order.batch.as_ref(),
        };
        store(self.preview_in(&asked, rules, now_ms).await)
    }

    async fn transition(
        &self,
        id: &JobId,
        to: JobState,
        note: Option<&str>,
    ) -> Result<JobRecord, StoreError> {
        store(self.transition_in(id, to, note, None).await)
    }

    async fn set_request_id(&self, id: &JobId, request_id: &str) -> Result<(), StoreError> {
        store(self.set_request_id_in(id, request_id).await)
    }

    async fn record_answer(&self, id: &JobId, answer: Answer<'_>) -> Result<JobRecord, StoreError> {
        store(self.record_answer_in(id, &answer, None).await)
    }

    async fn record_snapshot(
        &self,
        id: &JobId,
        snapshot: &serde_json::Value,
        credits_spent: Option<Credits>,
    ) -> Result<(), StoreError> {
        let snapshot = store(to_json(snapshot, "provider snapshot"))?;
        store(self.record_snapshot_in(id, &snapshot, credits_spent, None).await)
    }

    async fn record_delivery(
        &self,
        id: &JobId,
        outputs: &[OutputRecord],
    ) -> Result<(), StoreError> {
        store(self.record_delivery_in(id, outputs).await)
    }

    async fn get(&self, id: &JobId) -> Result<JobRecord, StoreError> {
        store(async { read_job(&mut *self.conn().await?, id).await }.await)
    }

    async fn resolve(&self, input: &str) -> Result<JobId, StoreError> {
        store(self.resolve_in(input).await)
    }

    async fn list(&self, filter: JobFilter, limit: usize) -> Result<Vec<JobRecord>, StoreError> {
        store(self.list_in(filter, limit).await)
    }

    async fn children(&self, parent: &JobId) -> Result<Vec<JobRecord>, StoreError> {
        store(
            async {
                let mut conn = self.conn().await?;
                let sql = jobs_sql("WHERE parent = $1 ORDER BY created_at, seq");
                query_jobs(&mut conn, &sql, |q| q.bind(parent.as_str())).await
            }
            .await,
        )
    }

    async fn spent_since(&self, since_ms: i64) -> Result<Spent, StoreError> {
        store(
            async {
                spent_since(&mut *self.conn().await?, since_ms, false, SpentBy::Everyone).await
            }
            .await,
        )
    }

    async fn totals(&self) -> Result<Vec<ProviderTotals>, StoreError> {
        store(self.totals_in().await)
    }

    async fn ledger(&self, since_ms: i64) -> Result<Vec<LedgerEntry>, StoreError> {
        store(self.ledger_in(since_ms).await)
    }

    async fn record_batch(&self, plan: &BatchPlan) -> Result<(), StoreError> {
        let lines = store(to_json(&plan.lines, "batch lines"))?;
        let done = sqlx::query(
            "INSERT INTO batches (id, source, lines_json, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&plan.id)
        .bind(&plan.source)
        .bind(lines)
        .bind(plan.created_at)
        .execute(&self.pool)
        .await;
        store(done.map(drop).map_err(PgStoreError::from))
    }

    async fn batch(&self, id_or_prefix: &str) -> Result<BatchPlan, StoreError> {
        store(self.batch_in(id_or_prefix).await)
    }

    async fn batch_jobs(&self, id: &str) -> Result<Vec<JobRecord>, StoreError> {
        store(
            async {
                let mut conn = self.conn().await?;
                let sql = jobs_sql("WHERE batch_id = $1 ORDER BY created_at, seq");
                query_jobs(&mut conn, &sql, |q| q.bind(id)).await
            }
            .await,
        )
    }

    async fn in_flight(&self) -> Result<Vec<InFlight>, StoreError> {
        store(self.in_flight_in().await)
    }

    async fn events(&self, id: &JobId) -> Result<Vec<JobEvent>, StoreError> {
        store(self.events_in(id).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_patterns_escape_like_wildcards() {
        assert_eq!(prefix_pattern("j_ab"), "j\\_ab%");
        assert_eq!(prefix_pattern("50%\\"), "50\\%\\\\%");
        assert_eq!(prefix_pattern(""), "%");
    }

    #[test]
    fn store_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<PgStore>();
    }
}
