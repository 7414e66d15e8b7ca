//! [`Journal`]: the SQLite file every paid job is written to before and while it runs.
//!
//! Durability is the point. The database runs in WAL mode with `synchronous=FULL`, so a commit
//! has reached the disk when the call returns: an intent recorded by `reserve` survives a crash
//! one instruction later. Every write that depends on what is stored (a reservation, a state
//! change, a request id) reads and writes inside one `BEGIN IMMEDIATE` transaction, which takes
//! the write lock before reading; with the busy timeout, conjure processes sharing the file queue
//! instead of overwriting each other. That is what makes [`JobStore::reserve`] atomic: the token,
//! duplicate and budget checks read a journal no other process can change before the new job is
//! committed. Budgets are summed in SQL over integer columns, never by parsing stored JSON.
//!
//! The store is async (the core's contract), and SQLite is not: each call runs on tokio's
//! blocking pool over one connection behind a mutex, so a `Journal` is cheap to clone and share.
//!
//! The journal stores what it is given. It never sees credentials (a [`conjure_core::WireRequest`]
//! carries no headers and refers to local files by hash), makes no money decision of its own
//! ([`conjure_core::policy`] does, from the facts it reads), and never deletes jobs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use conjure_core::approval::{Approved, Order};
use conjure_core::batch::{BatchLink, BatchPlan};
use conjure_core::policy::{self, EarlierJob, ProviderSpend, ReserveFacts, SpendRules, Spent};
use conjure_core::store::{
    Answer, InFlight, JobEvent, JobFilter, JobRecord, JobStore, LedgerEntry, OutputRecord,
    ProviderTotals, ReserveError, StoreError,
};
use conjure_core::stored::{self, Reservation};
use conjure_core::{Credits, JobId, JobState, ProviderId};
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::error::JournalError;
use crate::migrate::migrate;
use crate::record::{JOB_COLUMNS, parse_state, record, stored_job};

/// How long a write waits for another process holding the lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The size, in bytes, SQLite cuts the write-ahead log back to when it restarts it (`PRAGMA
/// journal_size_limit`): room for a few hundred frames, more than a paid command writes.
const WAL_SIZE_LIMIT: i64 = 1 << 20;

/// How many candidates an ambiguous id error lists.
const MAX_CANDIDATES: usize = 10;

/// The job journal, backed by one SQLite file. Clones share one connection.
#[derive(Debug, Clone)]
pub struct Journal {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl Journal {
    /// Opens (creating if needed) the journal at `path` and brings its schema up to date.
    ///
    /// A missing parent directory is created, private to the user on Unix. Several processes
    /// may open a new journal at once: switching it to WAL takes a lock SQLite does not wait
    /// for, so a busy open is tried again for up to the busy timeout.
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            create_private_dir(parent)?;
        }
        let started = Instant::now();
        loop {
            match open_once(path) {
                Err(e) if e.is_busy() && started.elapsed() < BUSY_TIMEOUT => {
                    std::thread::sleep(Duration::from_millis(25));
                }
                Err(e) => return Err(e),
                Ok(conn) => {
                    let inner = Inner { conn: Mutex::new(conn), path: path.to_owned() };
                    return Ok(Journal { inner: Arc::new(inner) });
                }
            }
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Checks the file and conjure's own rules over it ([`crate::check`]); reads only. A
    /// blocking call (it reads the whole file): call it off the async workers.
    pub fn check(&self) -> Result<crate::check::Health, JournalError> {
        crate::check::check(&self.inner.lock())
    }

    /// Runs `f` with the connection, on the calling thread.
    ///
    /// A journal call is short, and every call queues on the one connection anyway; handing it
    /// to the blocking pool costs a thread wake-up each way (and a thread start the first
    /// time), which on a busy machine is more than the call itself, and it stood between a
    /// person's approval and the paid POST. On a multi-thread runtime the call tells the
    /// scheduler first ([`tokio::task::block_in_place`]), so other tasks move to another
    /// worker meanwhile; on a current-thread runtime (a one-request command, tests) it simply
    /// runs: nothing else there needs the thread for that long.
    #[allow(clippy::unused_async)]
    async fn blocking<T, E>(&self, f: impl FnOnce(&Inner) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if multi_thread { tokio::task::block_in_place(|| f(&self.inner)) } else { f(&self.inner) }
    }
}

fn store<T>(r: Result<T, JournalError>) -> Result<T, StoreError> {
    r.map_err(StoreError::from)
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while the lock was held cannot leave a half-written job behind: rusqlite rolls
        // an unfinished transaction back when it is dropped during unwinding. So the connection
        // is still sound and later calls may use it.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn resolve(&self, input: &str) -> Result<JobId, JournalError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(JournalError::NotFound(String::new()));
        }
        let conn = self.lock();
        let exact: Option<String> = conn
            .query_row("SELECT id FROM jobs WHERE id = ?1", [input], |r| r.get(0))
            .optional()?;
        if let Some(id) = exact {
            return Ok(JobId::from_stored(id));
        }
        // `substr` rather than LIKE: `_` in every job id is a LIKE wildcard.
        let mut stmt = conn.prepare_cached(
            "SELECT id FROM jobs WHERE substr(id, 1, length(?1)) = ?1 OR request_id = ?1 \
             ORDER BY created_at DESC, rowid DESC",
        )?;
        let mut ids = stmt.query_map([input], |r| r.get::<_, String>(0))?;
        let mut candidates = Vec::new();
        let mut total = 0_usize;
        for id in &mut ids {
            let id = id?;
            total += 1;
            if candidates.len() < MAX_CANDIDATES {
                candidates.push(JobId::from_stored(id));
            }
        }
        match total {
            0 => Err(JournalError::NotFound(input.to_owned())),
            1 => Ok(candidates.swap_remove(0)),
            _ => Err(JournalError::Ambiguous { input: input.to_owned(), total, candidates }),
        }
    }

    fn events(&self, id: &JobId) -> Result<Vec<JobEvent>, JournalError> {
        let conn = self.lock();
        ensure_exists(&conn, id)?;
        let mut stmt = conn.prepare_cached(
            "SELECT at, from_state, to_state, note FROM job_events WHERE job_id = ?1 ORDER BY seq",
        )?;
        let rows = stmt
            .query_map([id.as_str()], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let id = id.as_str();
        rows.into_iter()
            .map(|(at, from, to, note)| {
                Ok(JobEvent {
                    at,
                    from: from.map(|s| parse_state(id, &s)).transpose()?,
                    to: parse_state(id, &to)?,
                    note,
                })
            })
            .collect()
    }

    fn totals(&self) -> Result<Vec<ProviderTotals>, JournalError> {
        let exposure = state_list(JobState::ALL.into_iter().filter(|s| policy::is_exposure(*s)))?;
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT provider, count(*), coalesce(sum(quoted_credits_tenths), 0), \
                    coalesce(sum(credits_spent_tenths), 0), \
                    coalesce(sum(CASE WHEN state IN (SELECT value FROM json_each(?1)) \
                                      THEN quoted_credits_tenths ELSE 0 END), 0) \
             FROM jobs INDEXED BY jobs_totals WHERE sandbox = 0 \
             GROUP BY provider ORDER BY provider",
        )?;
        let rows = stmt
            .query_map([exposure], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, u64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(provider, jobs, quoted, spent, exposure)| {
                Ok(ProviderTotals {
                    provider: parse_provider(&provider)?,
                    jobs,
                    quoted: Credits::from_tenths(quoted),
                    spent: Credits::from_tenths(spent),
                    exposure: Credits::from_tenths(exposure),
                })
            })
            .collect()
    }

    fn reserve(
        &self,
        r: &Reservation,
        rules: &SpendRules,
        now: i64,
    ) -> Result<JobRecord, ReserveError> {
        let mut conn = self.lock();
        // Ids carry 30 random bits per minute; a clash is rare enough that a few draws suffice.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let id = JobId::generate(now).map_err(|e| StoreError::from(JournalError::Random(e)))?;
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| StoreError::from(JournalError::from(e)))?;
            let asked = Asked {
                provider: r.quote.provider,
                fingerprint: &r.fingerprint,
                token: r.token.as_deref(),
                retry_of: r.retry_of.as_ref(),
                batch: r.batch.as_ref(),
            };
            let facts = store(reserve_facts(&tx, &asked, rules, now))?;
            policy::reserve_verdict(&r.quote, rules, &facts, now)?;
            let inserted = tx.execute(
                "INSERT INTO jobs (id, provider, kind, model, prompt, state, fingerprint, \
                     spec_json, wire_json, quote_json, quoted_credits_tenths, quoted_usd_micros, \
                     usd_per_credit_micros, retry_of, parent, owner, created_at, updated_at, \
                     sandbox, deliver_to, batch_id, batch_json) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, \
                     ?17, ?17, ?18, ?19, ?20, ?21)",
                params![
                    id.as_str(),
                    r.provider.as_str(),
                    r.kind,
                    r.model,
                    r.prompt,
                    JobState::Submitting.as_str(),
                    r.fingerprint,
                    r.spec_json,
                    r.wire_json,
                    r.quote_json,
                    r.quote.credits.tenths(),
                    r.quote.usd.map(conjure_core::Usd::micros),
                    r.usd_per_credit_micros,
                    r.retry_of.as_ref().map(JobId::as_str),
                    r.parent.as_ref().map(JobId::as_str),
                    r.owner,
                    now,
                    rules.sandbox,
                    r.deliver_to,
                    r.batch_id,
                    r.batch_json,
                ],
            );
            match inserted {
                Ok(_) => {}
                Err(e) if attempts < 4 && is_primary_key_clash(&e) => continue,
                Err(e) => return Err(StoreError::from(JournalError::from(e)).into()),
            }
            let record = store((|| {
                if let Some(token) = &r.token {
                    tx.execute(
                        "INSERT INTO approvals (token, job_id, used_at) VALUES (?1, ?2, ?3)",
                        params![token, id.as_str(), now],
                    )?;
                }
                insert_event(&tx, &id, now, None, JobState::Quoted, None)?;
                insert_event(&tx, &id, now, Some(JobState::Quoted), JobState::Submitting, None)?;
                let record = read_job(&tx, &id)?;
                tx.commit()?;
                Ok(record)
            })())?;
            return Ok(record);
        }
    }

    fn transition(
        &self,
        id: &JobId,
        to: JobState,
        note: Option<&str>,
    ) -> Result<JobRecord, JournalError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let record = transition_on(&tx, id, to, note)?;
        tx.commit()?;
        Ok(record)
    }

    fn set_request_id(&self, id: &JobId, request_id: &str) -> Result<(), JournalError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        set_request_id_on(&tx, id, request_id)?;
        tx.commit()?;
        Ok(())
    }

    fn record_snapshot(
        &self,
        id: &JobId,
        snapshot: &str,
        credits_spent: Option<Credits>,
    ) -> Result<(), JournalError> {
        record_snapshot_on(&self.lock(), id, snapshot, credits_spent)
    }

    /// [`JobStore::record_answer`]: the three writes in one transaction. Returning early drops
    /// `tx`, which rolls back: a refused part leaves the job as it was.
    fn record_answer(
        &self,
        id: &JobId,
        request_id: Option<&str>,
        snapshot: &str,
        credits_spent: Option<Credits>,
        to: JobState,
        note: Option<&str>,
    ) -> Result<JobRecord, JournalError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some(request_id) = request_id {
            set_request_id_on(&tx, id, request_id)?;
        }
        record_snapshot_on(&tx, id, snapshot, credits_spent)?;
        let record = transition_on(&tx, id, to, note)?;
        tx.commit()?;
        Ok(record)
    }

    fn record_delivery(&self, id: &JobId, outputs: &[OutputRecord]) -> Result<(), JournalError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        ensure_exists(&tx, id)?;
        for output in outputs {
            // Recording the same file again (a resumed download) updates it in place: the row
            // describes what is on disk now.
            tx.execute(
                "INSERT INTO outputs (job_id, idx, path, url, mime, width, height, \
                     duration_seconds, sha256, bytes, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
                 ON CONFLICT (job_id, idx, path) DO UPDATE SET url = excluded.url, \
                     mime = excluded.mime, width = excluded.width, height = excluded.height, \
                     duration_seconds = excluded.duration_seconds, sha256 = excluded.sha256, \
                     bytes = excluded.bytes, expires_at = excluded.expires_at",
                params![
                    id.as_str(),
                    output.index,
                    output.path,
                    output.url,
                    output.mime,
                    output.width,
                    output.height,
                    output.duration_seconds,
                    output.sha256,
                    output.bytes,
                    output.expires_at,
                ],
            )?;
        }
        let now = now_ms();
        tx.execute(
            "UPDATE jobs SET delivered_at = ?2, updated_at = max(updated_at, ?2) WHERE id = ?1",
            params![id.as_str(), now],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn get(&self, id: &JobId) -> Result<JobRecord, JournalError> {
        read_job(&self.lock(), id)
    }

    fn list(&self, filter: JobFilter, limit: usize) -> Result<Vec<JobRecord>, JournalError> {
        // Which states are pending is the core's decision; pass its list rather than copy it.
        let pending = state_list(JobState::ALL.into_iter().filter(|s| s.is_pending()))?;
        let finished = state_list([JobState::Completed, JobState::Partial])?;
        // LIMIT -1 is SQLite's "no limit".
        let limit = i64::try_from(limit).unwrap_or(-1);
        let conn = self.lock();
        query_jobs(
            &conn,
            "WHERE ?1 = 0 OR state IN (SELECT value FROM json_each(?2)) \
                OR (state IN (SELECT value FROM json_each(?3)) AND delivered_at IS NULL) \
             ORDER BY created_at DESC, rowid DESC LIMIT ?4",
            params![filter == JobFilter::Pending, pending, finished, limit],
        )
    }

    fn children(&self, parent: &JobId) -> Result<Vec<JobRecord>, JournalError> {
        let conn = self.lock();
        query_jobs(&conn, "WHERE parent = ?1 ORDER BY created_at, rowid", params![parent.as_str()])
    }

    fn spent_since(&self, since_ms: i64) -> Result<Spent, JournalError> {
        spent_since(&self.lock(), since_ms, false)
    }

    fn preview(
        &self,
        asked: &Asked<'_>,
        rules: &SpendRules,
        now: i64,
    ) -> Result<ReserveFacts, JournalError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
        reserve_facts(&tx, asked, rules, now)
    }

    fn record_batch(&self, plan: &BatchPlan) -> Result<(), JournalError> {
        let conn = self.lock();
        conn.execute(
            "INSERT INTO batches (id, source, lines_json, created_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (id) DO NOTHING",
            params![plan.id, plan.source, to_json(&plan.lines, "batch lines")?, plan.created_at],
        )?;
        Ok(())
    }

    fn batch(&self, id_or_prefix: &str) -> Result<BatchPlan, JournalError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT id, source, lines_json, created_at FROM batches \
             WHERE id = ?1 OR substr(id, 1, length(?1)) = ?1 ORDER BY id = ?1 DESC",
        )?;
        let found = stmt
            .query_map([id_or_prefix], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let exact = found.first().is_some_and(|f| f.0 == id_or_prefix);
        match (found.len(), exact) {
            (0, _) => Err(JournalError::NotFound(id_or_prefix.to_owned())),
            (1, _) | (_, true) => {
                let (id, source, lines, created_at) = found.into_iter().next().expect("one");
                let lines = serde_json::from_str(&lines).map_err(|e| JournalError::Corrupt {
                    id: id.clone(),
                    field: "lines_json",
                    source: Box::new(e),
                })?;
                Ok(BatchPlan { id, source, lines, created_at })
            }
            (n, _) => Err(JournalError::Ambiguous {
                input: id_or_prefix.to_owned(),
                total: n,
                candidates: Vec::new(),
            }),
        }
    }

    fn batch_jobs(&self, id: &str) -> Result<Vec<JobRecord>, JournalError> {
        let conn = self.lock();
        query_jobs(&conn, "WHERE batch_id = ?1 ORDER BY created_at, rowid", params![id])
    }

    fn ledger(&self, since_ms: i64) -> Result<Vec<LedgerEntry>, JournalError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT id, provider, kind, model, state, request_id IS NOT NULL, created_at, \
                    quoted_credits_tenths, credits_spent_tenths, usd_per_credit_micros \
             FROM jobs WHERE created_at >= ?1 AND sandbox = 0 ORDER BY created_at, rowid",
        )?;
        let rows = stmt
            .query_map([since_ms], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, bool>(5)?,
                    r.get::<_, i64>(6)?,
                    r.get::<_, i64>(7)?,
                    r.get::<_, Option<i64>>(8)?,
                    r.get::<_, Option<i64>>(9)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(id, provider, kind, model, state, has_request_id, created_at, q, c, price)| {
                Ok(LedgerEntry {
                    state: parse_state(&id, &state)?,
                    kind: crate::record::parse(&id, "kind", &kind)?,
                    provider: parse_provider(&provider)?,
                    id: JobId::from_stored(id),
                    model,
                    has_request_id,
                    created_at,
                    quoted: Credits::from_tenths(q),
                    charged: c.map(Credits::from_tenths),
                    usd_per_credit: price.map(conjure_core::CreditPrice::from_micros_per_credit),
                })
            })
            .collect()
    }

    fn in_flight(&self) -> Result<Vec<InFlight>, JournalError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT id, state, owner, updated_at FROM jobs WHERE state IN ('quoted', 'submitting') \
             ORDER BY created_at, rowid",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(id, state, owner, updated_at)| {
                Ok(InFlight {
                    state: parse_state(&id, &state)?,
                    id: JobId::from_stored(id),
                    owner,
                    updated_at,
                })
            })
            .collect()
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

/// The facts [`policy::reserve_verdict`] needs, read inside the reserving transaction (or a
/// read transaction, for a preview).
fn reserve_facts(
    conn: &Connection,
    asked: &Asked<'_>,
    rules: &SpendRules,
    now: i64,
) -> Result<ReserveFacts, JournalError> {
    let Asked { provider, fingerprint, token, retry_of, batch } = *asked;
    let batch_line_sent = match batch {
        Some(link) => batch_line_sent(conn, link, rules.sandbox)?,
        None => None,
    };
    let token_used_by = match token {
        Some(token) => conn
            .prepare_cached("SELECT job_id FROM approvals WHERE token = ?1")?
            .query_row([token], |row| row.get::<_, String>(0))
            .optional()?
            .map(JobId::from_stored),
        None => None,
    };
    let same_request = if rules.again {
        None
    } else {
        let (always, accepted) = at_risk_lists()?;
        // Cached, as every query of these facts: a paid request reads them twice, for its
        // preview and again inside its reservation.
        conn.prepare_cached(
            "SELECT id, state, request_id IS NOT NULL, created_at FROM jobs \
             WHERE fingerprint = ?1 AND created_at >= ?2 AND (?3 IS NULL OR id <> ?3) \
               AND (state IN (SELECT value FROM json_each(?4)) \
                    OR (request_id IS NOT NULL AND state IN (SELECT value FROM json_each(?5)))) \
               AND sandbox = ?6 \
             ORDER BY created_at DESC, rowid DESC LIMIT 1",
        )?
        .query_row(
            params![
                fingerprint,
                SpendRules::duplicate_since(now),
                retry_of.map(JobId::as_str),
                always,
                accepted,
                rules.sandbox
            ],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, bool>(2)?,
                    row.get::<_, i64>(3)?,
                ))
            },
        )
        .optional()?
        .map(|(id, state, has_request_id, created_at)| {
            Ok::<_, JournalError>(EarlierJob {
                state: parse_state(&id, &state)?,
                id: JobId::from_stored(id),
                has_request_id,
                created_at,
            })
        })
        .transpose()?
    };
    let mut spent = BTreeMap::new();
    for window in rules.windows_for(provider) {
        spent.insert(window, spent_since(conn, window.since(now), rules.sandbox)?);
    }
    Ok(ReserveFacts { token_used_by, same_request, batch_line_sent, spent })
}

/// The first line of `link` that an earlier job of its batch, one that may have cost money,
/// already carries.
fn batch_line_sent(
    conn: &Connection,
    link: &BatchLink,
    sandbox: bool,
) -> Result<Option<(u32, EarlierJob)>, JournalError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, state, request_id IS NOT NULL, created_at, batch_json FROM jobs \
         WHERE batch_id = ?1 AND sandbox = ?2 ORDER BY created_at, rowid",
    )?;
    let rows = stmt
        .query_map(params![link.batch, sandbox], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, bool>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    for (id, state, has_request_id, created_at, json) in rows {
        let state = parse_state(&id, &state)?;
        if !policy::money_at_risk(state, has_request_id) {
            continue;
        }
        let Some(json) = json else { continue };
        let theirs: BatchLink = serde_json::from_str(&json).map_err(|e| JournalError::Corrupt {
            id: id.clone(),
            field: "batch_json",
            source: Box::new(e),
        })?;
        if let Some(line) =
            link.lines.iter().find(|l| theirs.items_of(l.line).is_some()).map(|l| l.line)
        {
            let earlier =
                EarlierJob { id: JobId::from_stored(id), state, has_request_id, created_at };
            return Ok(Some((line, earlier)));
        }
    }
    Ok(None)
}

/// Money at risk since `since_ms`, per provider, in credits and (at its own price per credit)
/// dollars: a job the provider settled ([`policy::is_settled`]) with a reported charge counts
/// at that charge, any other at the larger of its quote and the charge reported so far.
fn spent_since(conn: &Connection, since_ms: i64, sandbox: bool) -> Result<Spent, JournalError> {
    let (always, accepted) = at_risk_lists()?;
    let settled = state_list(JobState::ALL.into_iter().filter(|s| policy::is_settled(*s)))?;
    let mut stmt = conn.prepare_cached(
        "SELECT provider, \
                coalesce(sum(CASE WHEN settled THEN credits_spent_tenths \
                    ELSE max(quoted_credits_tenths, coalesce(credits_spent_tenths, 0)) END), 0), \
                coalesce(sum(CASE WHEN quoted_usd_micros IS NULL THEN 0 \
                    WHEN settled THEN (credits_spent_tenths \
                        * coalesce(usd_per_credit_micros, 0) + 5) / 10 \
                    ELSE max(quoted_usd_micros, (coalesce(credits_spent_tenths, 0) \
                        * coalesce(usd_per_credit_micros, 0) + 5) / 10) END), 0), \
                coalesce(sum(quoted_usd_micros IS NULL), 0) \
         FROM (SELECT *, credits_spent_tenths IS NOT NULL \
                    AND state IN (SELECT value FROM json_each(?5)) AS settled \
               FROM jobs INDEXED BY jobs_budget \
               WHERE created_at >= ?1 \
                 AND (state IN (SELECT value FROM json_each(?2)) \
                      OR (request_id IS NOT NULL AND state IN (SELECT value FROM json_each(?3)))) \
                 AND sandbox = ?4) \
         GROUP BY provider",
    )?;
    let rows = stmt
        .query_map(params![since_ms, always, accepted, sandbox, settled], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut spent = Spent::default();
    for (provider, credits, usd, unpriced) in rows {
        spent.by_provider.insert(
            parse_provider(&provider)?,
            ProviderSpend {
                credits: Credits::from_tenths(credits),
                usd: conjure_core::Usd::from_micros(usd),
                unpriced_jobs: u64::try_from(unpriced).unwrap_or(0),
            },
        );
    }
    Ok(spent)
}

/// [`policy::money_at_risk_states`] as two JSON arrays for `json_each`.
fn at_risk_lists() -> Result<(String, String), JournalError> {
    let (always, accepted) = policy::money_at_risk_states();
    Ok((state_list(always)?, state_list(accepted)?))
}

fn state_list(states: impl IntoIterator<Item = JobState>) -> Result<String, JournalError> {
    let names: Vec<&str> = states.into_iter().map(JobState::as_str).collect();
    to_json(&names, "state list")
}

fn parse_provider(s: &str) -> Result<ProviderId, JournalError> {
    s.parse().map_err(|e| JournalError::Corrupt {
        id: String::from("(totals)"),
        field: "provider",
        source: Box::new(e),
    })
}

impl JobStore for Journal {
    async fn reserve(
        &self,
        approved: &Approved,
        owner: &str,
        rules: &SpendRules,
        now_ms: i64,
    ) -> Result<JobRecord, ReserveError> {
        let r = store(Reservation::of(approved, owner).map_err(JournalError::from))?;
        let rules = rules.clone();
        self.blocking(move |inner| inner.reserve(&r, &rules, now_ms)).await
    }

    async fn preview(
        &self,
        order: &Order,
        token: Option<&str>,
        rules: &SpendRules,
        now_ms: i64,
    ) -> Result<ReserveFacts, StoreError> {
        let fingerprint = order.spec.fingerprint();
        let provider = order.spec.provider;
        let token = token.map(str::to_owned);
        let retry_of = order.retry_of.clone();
        let batch = order.batch.clone();
        let rules = rules.clone();
        self.blocking(move |inner| {
            let asked = Asked {
                provider,
                fingerprint: &fingerprint,
                token: token.as_deref(),
                retry_of: retry_of.as_ref(),
                batch: batch.as_ref(),
            };
            store(inner.preview(&asked, &rules, now_ms))
        })
        .await
    }

    async fn transition(
        &self,
        id: &JobId,
        to: JobState,
        note: Option<&str>,
    ) -> Result<JobRecord, StoreError> {
        let (id, note) = (id.clone(), note.map(str::to_owned));
        self.blocking(move |inner| store(inner.transition(&id, to, note.as_deref()))).await
    }

    async fn set_request_id(&self, id: &JobId, request_id: &str) -> Result<(), StoreError> {
        let (id, request_id) = (id.clone(), request_id.to_owned());
        self.blocking(move |inner| store(inner.set_request_id(&id, &request_id))).await
    }

    async fn record_answer(&self, id: &JobId, answer: Answer<'_>) -> Result<JobRecord, StoreError> {
        let snapshot = store(to_json(answer.snapshot, "provider snapshot"))?;
        let id = id.clone();
        let request_id = answer.request_id.map(str::to_owned);
        let (credits, to, note) = (answer.credits_spent, answer.to, answer.note.map(str::to_owned));
        self.blocking(move |inner| {
            store(inner.record_answer(
                &id,
                request_id.as_deref(),
                &snapshot,
                credits,
                to,
                note.as_deref(),
            ))
        })
        .await
    }

    async fn record_snapshot(
        &self,
        id: &JobId,
        snapshot: &serde_json::Value,
        credits_spent: Option<Credits>,
    ) -> Result<(), StoreError> {
        let snapshot = store(to_json(snapshot, "provider snapshot"))?;
        let id = id.clone();
        self.blocking(move |inner| store(inner.record_snapshot(&id, &snapshot, credits_spent)))
            .await
    }

    async fn record_delivery(
        &self,
        id: &JobId,
        outputs: &[OutputRecord],
    ) -> Result<(), StoreError> {
        let (id, outputs) = (id.clone(), outputs.to_vec());
        self.blocking(move |inner| store(inner.record_delivery(&id, &outputs))).await
    }

    async fn get(&self, id: &JobId) -> Result<JobRecord, StoreError> {
        let id = id.clone();
        self.blocking(move |inner| store(inner.get(&id))).await
    }

    async fn resolve(&self, input: &str) -> Result<JobId, StoreError> {
        let input = input.to_owned();
        self.blocking(move |inner| store(inner.resolve(&input))).await
    }

    async fn list(&self, filter: JobFilter, limit: usize) -> Result<Vec<JobRecord>, StoreError> {
        self.blocking(move |inner| store(inner.list(filter, limit))).await
    }

    async fn children(&self, parent: &JobId) -> Result<Vec<JobRecord>, StoreError> {
        let parent = parent.clone();
        self.blocking(move |inner| store(inner.children(&parent))).await
    }

    async fn spent_since(&self, since_ms: i64) -> Result<Spent, StoreError> {
        self.blocking(move |inner| store(inner.spent_since(since_ms))).await
    }

    async fn totals(&self) -> Result<Vec<ProviderTotals>, StoreError> {
        self.blocking(|inner| store(inner.totals())).await
    }

    async fn record_batch(&self, plan: &BatchPlan) -> Result<(), StoreError> {
        let plan = plan.clone();
        self.blocking(move |inner| store(inner.record_batch(&plan))).await
    }

    async fn batch(&self, id_or_prefix: &str) -> Result<BatchPlan, StoreError> {
        let id = id_or_prefix.to_owned();
        self.blocking(move |inner| store(inner.batch(&id))).await
    }

    async fn batch_jobs(&self, id: &str) -> Result<Vec<JobRecord>, StoreError> {
        let id = id.to_owned();
        self.blocking(move |inner| store(inner.batch_jobs(&id))).await
    }

    async fn ledger(&self, since_ms: i64) -> Result<Vec<LedgerEntry>, StoreError> {
        self.blocking(move |inner| store(inner.ledger(since_ms))).await
    }

    async fn in_flight(&self) -> Result<Vec<InFlight>, StoreError> {
        self.blocking(|inner| store(inner.in_flight())).await
    }

    async fn events(&self, id: &JobId) -> Result<Vec<JobEvent>, StoreError> {
        let id = id.clone();
        self.blocking(move |inner| store(inner.events(&id))).await
    }
}

/// Creates `dir` and its missing parents; on Unix the ones created are readable by the user
/// only (the journal holds prompts and input images). Existing directories are left as they are.
fn create_private_dir(dir: &Path) -> Result<(), JournalError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|source| JournalError::CreateDir { path: dir.to_owned(), source })
}

fn open_once(path: &Path) -> Result<Connection, JournalError> {
    let open_err = |source| JournalError::Open { path: path.to_owned(), source };
    let mut conn = Connection::open(path).map_err(open_err)?;
    configure(&conn, path)?;
    migrate(&mut conn, path)?;
    Ok(conn)
}

/// Per-connection settings. Set before migrating so that migrations run under them too.
fn configure(conn: &Connection, path: &Path) -> Result<(), JournalError> {
    let open_err = |source| JournalError::Open { path: path.to_owned(), source };
    conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(open_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(JournalError::NoWal { path: path.to_owned(), mode });
    }
    // In WAL mode NORMAL may lose the last commits on power loss; FULL syncs the log on every
    // commit, which is what "the intent was recorded before the POST" requires.
    conn.pragma_update(None, "synchronous", "FULL").map_err(open_err)?;
    conn.pragma_update(None, "foreign_keys", true).map_err(open_err)?;
    // The log and its index file outlive the connection (see `Inner`'s `Drop`): a process that
    // finds them creates neither file before its first commit (SQLite still syncs the directory
    // once per process, which then has nothing to write). Left to itself, SQLite deletes both
    // when the last connection closes, so every short-lived conjure process created them again
    // before its reserve.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true).map_err(open_err)?;
    // The log keeps its blocks between processes (see `Inner`'s `Drop`); a log left larger
    // than this by a burst of writes is cut back to it when it next restarts.
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT).map_err(open_err)?;
    Ok(())
}

impl Drop for Inner {
    /// After this process wrote: copies the log into the database and starts it again from its
    /// first frame, keeping the file and its blocks; without waiting: if another process is
    /// reading or writing, the log stays as it is, and whoever opens it next reads it back (as
    /// after a crash). Either way nothing committed is lost.
    ///
    /// Why restart it here rather than empty it: the next process's first commit is its
    /// reserve, the last step before a paid request. A commit into an emptied log first writes
    /// the log's header and syncs it on its own, then syncs its frames: two syncs of about half
    /// a millisecond each on the project machine, both growing the file. Into a log restarted
    /// here it appends after the restart's frame: one sync, into blocks the file already has
    /// (BENCHMARKS.md, "Text"). The restart is an ordinary transaction (the schema version
    /// rewritten as it is), so SQLite's own locking keeps it safe beside other processes, and
    /// the new salt it writes makes every frame left after it invalid: the next process to
    /// open the journal reads back one frame.
    fn drop(&mut self) {
        let conn = self.conn.get_mut().unwrap_or_else(PoisonError::into_inner);
        // A process that only read (a listing, a refused request) leaves the log to the
        // writers: copying and restarting it would cost a reader four syncs on its way out.
        if conn.total_changes() == 0 || conn.busy_timeout(Duration::ZERO).is_err() {
            return;
        }
        // (busy, frames in the log, frames copied into the database)
        let copied = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        });
        if matches!(copied, Ok((0, frames, done)) if frames > 0 && frames == done) {
            let _ = restart_log(conn);
        }
    }
}

/// One write that changes nothing, so that SQLite restarts the fully copied log now, under
/// its write lock, rather than in the next process's reserve (see `Inner`'s `Drop`).
fn restart_log(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    tx.pragma_update(None, "user_version", version)?;
    tx.commit()
}

fn now_ms() -> i64 {
    // A clock before 1970 is a broken clock; zero keeps ordering sane rather than failing a job.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn to_json<T: serde::Serialize + ?Sized>(
    value: &T,
    what: &'static str,
) -> Result<String, JournalError> {
    Ok(stored::to_json(value, what)?)
}

fn is_primary_key_clash(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

/// A job's move to `to` through the state machine, inside the caller's transaction.
fn transition_on(
    conn: &Connection,
    id: &JobId,
    to: JobState,
    note: Option<&str>,
) -> Result<JobRecord, JournalError> {
    let note = note.filter(|n| !n.trim().is_empty());
    let (from, updated_at): (String, i64) = conn
        .query_row("SELECT state, updated_at FROM jobs WHERE id = ?1", [id.as_str()], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?
        .ok_or_else(|| JournalError::NotFound(id.to_string()))?;
    let from = parse_state(id.as_str(), &from)?;
    // An illegal move returns before writing; the caller's transaction rolls back.
    from.transition(to)?;
    // A wall clock stepped back (NTP) must not make the trail run backwards.
    let now = now_ms().max(updated_at);
    conn.execute(
        "UPDATE jobs SET state = ?2, updated_at = ?3, error = coalesce(?4, error) WHERE id = ?1",
        params![id.as_str(), to.as_str(), now, note],
    )?;
    insert_event(conn, id, now, Some(from), to, note)?;
    read_job(conn, id)
}

/// A job's request id, inside the caller's transaction: set once, never changed.
fn set_request_id_on(conn: &Connection, id: &JobId, request_id: &str) -> Result<(), JournalError> {
    let existing: Option<String> = conn
        .query_row("SELECT request_id FROM jobs WHERE id = ?1", [id.as_str()], |r| r.get(0))
        .optional()?
        .ok_or_else(|| JournalError::NotFound(id.to_string()))?;
    match existing {
        // The same answer read twice (a retried poll) is not a change.
        Some(existing) if existing == request_id => Ok(()),
        // A job is one paid request; silently replacing its id would orphan that payment.
        Some(existing) => Err(JournalError::RequestIdConflict {
            id: id.to_string(),
            existing,
            new: request_id.to_owned(),
        }),
        None => {
            conn.execute(
                "UPDATE jobs SET request_id = ?2, updated_at = max(updated_at, ?3) WHERE id = ?1",
                params![id.as_str(), request_id, now_ms()],
            )?;
            Ok(())
        }
    }
}

/// The provider's latest answer and the credits it reports as spent.
fn record_snapshot_on(
    conn: &Connection,
    id: &JobId,
    snapshot: &str,
    credits_spent: Option<Credits>,
) -> Result<(), JournalError> {
    // A poll that does not report credits keeps the last reported figure.
    let changed = conn.execute(
        "UPDATE jobs SET last_snapshot_json = ?2, \
             credits_spent_tenths = coalesce(?3, credits_spent_tenths), \
             updated_at = max(updated_at, ?4) \
         WHERE id = ?1",
        params![id.as_str(), snapshot, credits_spent.map(Credits::tenths), now_ms()],
    )?;
    if changed == 0 {
        return Err(JournalError::NotFound(id.to_string()));
    }
    Ok(())
}

fn ensure_exists(conn: &Connection, id: &JobId) -> Result<(), JournalError> {
    let found: Option<i64> = conn
        .query_row("SELECT 1 FROM jobs WHERE id = ?1", [id.as_str()], |r| r.get(0))
        .optional()?;
    found.map(drop).ok_or_else(|| JournalError::NotFound(id.to_string()))
}

fn insert_event(
    conn: &Connection,
    id: &JobId,
    at: i64,
    from: Option<JobState>,
    to: JobState,
    note: Option<&str>,
) -> Result<(), JournalError> {
    conn.execute(
        "INSERT INTO job_events (job_id, at, from_state, to_state, note) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id.as_str(), at, from.map(JobState::as_str), to.as_str(), note],
    )?;
    Ok(())
}

fn read_job(conn: &Connection, id: &JobId) -> Result<JobRecord, JournalError> {
    query_jobs(conn, "WHERE id = ?1", [id.as_str()])?
        .pop()
        .ok_or_else(|| JournalError::NotFound(id.to_string()))
}

/// Jobs selected by `tail` (a WHERE/ORDER/LIMIT clause), each with its outputs.
fn query_jobs(
    conn: &Connection,
    tail: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<JobRecord>, JournalError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {JOB_COLUMNS} FROM jobs {tail}"))?;
    let rows = stmt.query_map(params, stored_job)?.collect::<Result<Vec<_>, _>>()?;
    rows.into_iter().map(|row| record(row, conn)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pragma<T: rusqlite::types::FromSql>(journal: &Journal, name: &str) -> T {
        journal.inner.lock().pragma_query_value(None, name, |r| r.get(0)).unwrap()
    }

    #[test]
    fn connection_is_configured_for_durability_and_sharing() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(&dir.path().join("journal.db")).unwrap();
        assert_eq!(pragma::<String>(&journal, "journal_mode"), "wal");
        // 2 = FULL.
        assert_eq!(pragma::<i64>(&journal, "synchronous"), 2);
        assert_eq!(pragma::<i64>(&journal, "foreign_keys"), 1);
        assert_eq!(pragma::<i64>(&journal, "busy_timeout"), 5_000);
    }

    fn count_batches(path: &Path) -> i64 {
        let conn = Connection::open(path).unwrap();
        conn.query_row("SELECT count(*) FROM batches", [], |r| r.get(0)).unwrap()
    }

    fn add_batch(journal: &Journal, id: &str) {
        let sql =
            "INSERT INTO batches (id, source, lines_json, created_at) VALUES (?1, 's', '[]', 0)";
        journal.inner.lock().execute(sql, [id]).unwrap();
    }

    #[test]
    fn closing_copies_the_log_into_the_database_and_restarts_it_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let wal = dir.path().join("journal.db-wal");
        let wal_len = || std::fs::metadata(&wal).unwrap().len();
        let journal = Journal::open(&path).unwrap();
        for i in 0..20 {
            add_batch(&journal, &format!("b{i}"));
        }
        let written = wal_len();
        assert!(written > 0, "the commits went to the log");
        drop(journal);
        // Kept for the next process at its size: the commits are in the database file itself.
        assert_eq!(wal_len(), written);
        assert!(dir.path().join("journal.db-shm").exists());
        let copy = dir.path().join("copy.db");
        std::fs::copy(&path, &copy).unwrap();
        assert_eq!(count_batches(&copy), 20, "the database file alone holds every commit");
        // The next process reuses the files: its commits overwrite the log's old frames rather
        // than grow the file (a sync that does not grow a file is the cheap kind), and nothing
        // is read back twice or lost.
        let journal = Journal::open(&path).unwrap();
        add_batch(&journal, "next");
        assert_eq!(wal_len(), written, "the commit went into the restarted log's blocks");
        drop(journal);
        assert_eq!(count_batches(&path), 21);
    }

    #[test]
    fn a_process_that_only_reads_leaves_the_log_as_it_found_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let wal = dir.path().join("journal.db-wal");
        let journal = Journal::open(&path).unwrap();
        add_batch(&journal, "b1");
        drop(journal);
        let before = std::fs::read(&wal).unwrap();
        let reader = Journal::open(&path).unwrap();
        let n: i64 = reader
            .inner
            .lock()
            .query_row("SELECT count(*) FROM batches", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
        drop(reader);
        // Not copied, not restarted: a listing pays no sync on its way out.
        assert!(std::fs::read(&wal).unwrap() == before, "the log was rewritten by a reader");
    }

    #[test]
    fn closing_while_another_process_reads_keeps_the_log_and_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let journal = Journal::open(&path).unwrap();
        add_batch(&journal, "b1");
        // A reader in the middle of a read transaction: the log cannot be emptied now, and the
        // closing journal must not wait for it.
        let reader = Connection::open(&path).unwrap();
        reader.execute_batch("BEGIN; SELECT count(*) FROM batches;").unwrap();
        let closed = Instant::now();
        drop(journal);
        assert!(closed.elapsed() < BUSY_TIMEOUT, "closing waited for the reader");
        reader.execute_batch("COMMIT").unwrap();
        drop(reader);
        let journal = Journal::open(&path).unwrap();
        add_batch(&journal, "b2");
        drop(journal);
        assert_eq!(count_batches(&path), 2);
    }

    #[cfg(unix)]
    #[test]
    fn created_directories_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a").join("b");
        let journal = Journal::open(&nested.join("journal.db")).unwrap();
        assert_eq!(journal.path(), nested.join("journal.db"));
        for d in [dir.path().join("a"), nested] {
            let mode = std::fs::metadata(&d).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", d.display());
        }
    }

    #[test]
    fn journal_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Journal>();
    }
}
