//! [`Journal`]: the SQLite file every paid job is written to before and while it runs.
//!
//! Durability is the point. The database runs in WAL mode with `synchronous=FULL`, so a commit
//! has reached the disk when the call returns: an intent recorded by `create` survives a crash
//! one instruction later. Every write that depends on what is stored (a state change, a request
//! id) reads and writes inside one `BEGIN IMMEDIATE` transaction, which takes the write lock
//! before reading; with the busy timeout, two conjure processes sharing the file queue instead
//! of overwriting each other. One connection per `Journal`, behind a mutex, makes it
//! `Send + Sync`.
//!
//! The journal stores what it is given. It never sees credentials (a [`conjure_core::WireRequest`]
//! carries no headers), decides nothing about money beyond refusing a quote made for another request, and
//! never deletes jobs.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use conjure_core::store::{JobRecord, JobStore, NewJob, OutputRecord, StoreError};
use conjure_core::{Credits, JobState, ProviderId};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::error::JournalError;
use crate::id::new_job_id;
use crate::migrate::migrate;
use crate::record::{JOB_COLUMNS, JobEvent, JobRow, ProviderTotals, parse_state};

/// How long a write waits for another process holding the lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How many candidates an ambiguous id error lists.
const MAX_CANDIDATES: usize = 10;

/// The job journal, backed by one SQLite file.
#[derive(Debug)]
pub struct Journal {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl Journal {
    /// Opens (creating if needed) the journal at `path` and brings its schema up to date.
    ///
    /// A missing parent directory is created, private to the user on Unix.
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            create_private_dir(parent)?;
        }
        let open_err = |source| JournalError::Open { path: path.to_owned(), source };
        let mut conn = Connection::open(path).map_err(open_err)?;
        configure(&conn, path)?;
        migrate(&mut conn, path)?;
        Ok(Journal { conn: Mutex::new(conn), path: path.to_owned() })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while the lock was held cannot leave a half-written job behind: rusqlite rolls
        // an unfinished transaction back when it is dropped during unwinding. So the connection
        // is still sound and later calls may use it.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The newest job `provider` knows as `request_id`.
    pub fn find_by_request_id(
        &self,
        provider: ProviderId,
        request_id: &str,
    ) -> Result<Option<JobRecord>, JournalError> {
        let conn = self.lock();
        let mut jobs = query_jobs(
            &conn,
            "WHERE provider = ?1 AND request_id = ?2 ORDER BY created_at DESC, rowid DESC LIMIT 1",
            params![provider.as_str(), request_id],
        )?;
        Ok(jobs.pop())
    }

    /// The id of the one job that `input` names: an exact job id, a unique prefix of one, or an
    /// exact provider request id. Matching several jobs is an error that lists them.
    pub fn resolve_id(&self, input: &str) -> Result<String, JournalError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(JournalError::NotFound(String::new()));
        }
        let conn = self.lock();
        let exact: Option<String> = conn
            .query_row("SELECT id FROM jobs WHERE id = ?1", [input], |r| r.get(0))
            .optional()?;
        if let Some(id) = exact {
            return Ok(id);
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
                candidates.push(id);
            }
        }
        match total {
            0 => Err(JournalError::NotFound(input.to_owned())),
            1 => Ok(candidates.swap_remove(0)),
            _ => Err(JournalError::Ambiguous { input: input.to_owned(), total, candidates }),
        }
    }

    /// A job's audit trail, oldest first: its creation, then every transition.
    pub fn events(&self, id: &str) -> Result<Vec<JobEvent>, JournalError> {
        let conn = self.lock();
        ensure_exists(&conn, id)?;
        let mut stmt = conn.prepare_cached(
            "SELECT at, from_state, to_state, note FROM job_events WHERE job_id = ?1 ORDER BY seq",
        )?;
        let rows = stmt
            .query_map([id], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
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

    /// Credits quoted and spent, per provider, over the whole journal.
    pub fn totals(&self) -> Result<Vec<ProviderTotals>, JournalError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT provider, count(*), total(quoted_credits_tenths), \
                    total(credits_spent_tenths) \
             FROM jobs GROUP BY provider ORDER BY provider",
        )?;
        let rows = stmt
            .query_map([], |r| {
                // `total()` is SUM that never overflows and never returns NULL; it is a REAL,
                // exact for any integer below 2^53 tenths of a credit.
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, u64>(1)?,
                    r.get::<_, f64>(2)?,
                    r.get::<_, f64>(3)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(provider, jobs, quoted, spent)| {
                let provider = provider.parse().map_err(|e| JournalError::Corrupt {
                    id: String::from("(totals)"),
                    field: "provider",
                    source: Box::new(e),
                })?;
                Ok(ProviderTotals {
                    provider,
                    jobs,
                    quoted: Credits::from_tenths(quoted as i64),
                    spent: Credits::from_tenths(spent as i64),
                })
            })
            .collect()
    }

    fn create_job(&self, job: &NewJob<'_>) -> Result<JobRecord, JournalError> {
        let fingerprint = job.spec.fingerprint();
        if job.quote.fingerprint != fingerprint {
            return Err(JournalError::QuoteMismatch {
                quoted: job.quote.fingerprint.clone(),
                actual: fingerprint,
            });
        }
        let spec_json = to_json(job.spec, "request")?;
        let wire_json = to_json(job.wire, "wire request")?;
        let quote_json = to_json(job.quote, "quote")?;
        let now = now_ms();
        let mut conn = self.lock();
        // Ids carry 30 random bits per minute; a clash is rare enough that a few draws suffice.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let id = new_job_id(now).map_err(JournalError::Random)?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let inserted = tx.execute(
                "INSERT INTO jobs (id, provider, kind, model, prompt, state, fingerprint, \
                     spec_json, wire_json, quote_json, quoted_credits_tenths, quoted_usd_micros, \
                     retry_of, parent, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?15)",
                params![
                    id,
                    job.spec.provider.as_str(),
                    job.spec.kind().as_str(),
                    job.spec.model(),
                    job.spec.prompt(),
                    JobState::Quoted.as_str(),
                    fingerprint,
                    spec_json,
                    wire_json,
                    quote_json,
                    job.quote.credits.tenths(),
                    job.quote.usd.map(conjure_core::Usd::micros),
                    job.retry_of,
                    job.parent,
                    now,
                ],
            );
            match inserted {
                Ok(_) => {}
                Err(e) if attempts < 4 && is_primary_key_clash(&e) => continue,
                Err(e) => return Err(e.into()),
            }
            insert_event(&tx, &id, now, None, JobState::Quoted, None)?;
            let record = read_job(&tx, &id)?;
            tx.commit()?;
            return Ok(record);
        }
    }

    fn transition_job(
        &self,
        id: &str,
        to: JobState,
        note: Option<&str>,
    ) -> Result<JobRecord, JournalError> {
        let note = note.filter(|n| !n.trim().is_empty());
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (from, updated_at): (String, i64) = tx
            .query_row("SELECT state, updated_at FROM jobs WHERE id = ?1", [id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?
            .ok_or_else(|| JournalError::NotFound(id.to_owned()))?;
        let from = parse_state(id, &from)?;
        // Returning here drops `tx`, which rolls back: an illegal move changes nothing.
        from.transition(to)?;
        // A wall clock stepped back (NTP) must not make the trail run backwards.
        let now = now_ms().max(updated_at);
        tx.execute(
            "UPDATE jobs SET state = ?2, updated_at = ?3, error = coalesce(?4, error) \
             WHERE id = ?1",
            params![id, to.as_str(), now, note],
        )?;
        insert_event(&tx, id, now, Some(from), to, note)?;
        let record = read_job(&tx, id)?;
        tx.commit()?;
        Ok(record)
    }

    fn set_request_id_inner(&self, id: &str, request_id: &str) -> Result<(), JournalError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing: Option<String> = tx
            .query_row("SELECT request_id FROM jobs WHERE id = ?1", [id], |r| r.get(0))
            .optional()?
            .ok_or_else(|| JournalError::NotFound(id.to_owned()))?;
        match existing {
            // The same answer read twice (a retried poll) is not a change.
            Some(existing) if existing == request_id => return Ok(()),
            // A job is one paid request; silently replacing its id would orphan that payment.
            Some(existing) => {
                return Err(JournalError::RequestIdConflict {
                    id: id.to_owned(),
                    existing,
                    new: request_id.to_owned(),
                });
            }
            None => {}
        }
        tx.execute(
            "UPDATE jobs SET request_id = ?2, updated_at = max(updated_at, ?3) WHERE id = ?1",
            params![id, request_id, now_ms()],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn record_snapshot_inner(
        &self,
        id: &str,
        snapshot: &serde_json::Value,
        credits_spent: Option<Credits>,
    ) -> Result<(), JournalError> {
        let snapshot = to_json(snapshot, "provider snapshot")?;
        let conn = self.lock();
        // A poll that does not report credits keeps the last reported figure.
        let changed = conn.execute(
            "UPDATE jobs SET last_snapshot_json = ?2, \
                 credits_spent_tenths = coalesce(?3, credits_spent_tenths), \
                 updated_at = max(updated_at, ?4) \
             WHERE id = ?1",
            params![id, snapshot, credits_spent.map(Credits::tenths), now_ms()],
        )?;
        if changed == 0 {
            return Err(JournalError::NotFound(id.to_owned()));
        }
        Ok(())
    }

    fn add_output_inner(&self, id: &str, output: &OutputRecord) -> Result<(), JournalError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        ensure_exists(&tx, id)?;
        // Recording the same file again (a resumed download) updates it in place: the row
        // describes what is on disk now.
        tx.execute(
            "INSERT INTO outputs (job_id, idx, path, url, mime, width, height, duration_seconds, \
                 sha256, bytes, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
             ON CONFLICT (job_id, idx, path) DO UPDATE SET url = excluded.url, \
                 mime = excluded.mime, width = excluded.width, height = excluded.height, \
                 duration_seconds = excluded.duration_seconds, sha256 = excluded.sha256, \
                 bytes = excluded.bytes, expires_at = excluded.expires_at",
            params![
                id,
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
        tx.execute(
            "UPDATE jobs SET updated_at = max(updated_at, ?2) WHERE id = ?1",
            params![id, now_ms()],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn get_inner(&self, id: &str) -> Result<JobRecord, JournalError> {
        read_job(&self.lock(), id)
    }

    fn find_fingerprint_inner(
        &self,
        fingerprint: &str,
        since_ms: i64,
    ) -> Result<Option<JobRecord>, JournalError> {
        let conn = self.lock();
        let mut jobs = query_jobs(
            &conn,
            "WHERE fingerprint = ?1 AND created_at >= ?2 \
             ORDER BY created_at DESC, rowid DESC LIMIT 1",
            params![fingerprint, since_ms],
        )?;
        Ok(jobs.pop())
    }

    fn list_inner(&self, pending_only: bool, limit: usize) -> Result<Vec<JobRecord>, JournalError> {
        // Which states are pending is the core's decision; pass its list rather than copy it.
        let pending: Vec<&str> =
            JobState::ALL.into_iter().filter(|s| s.is_pending()).map(JobState::as_str).collect();
        let pending = to_json(&pending, "state list")?;
        // LIMIT -1 is SQLite's "no limit".
        let limit = i64::try_from(limit).unwrap_or(-1);
        let conn = self.lock();
        query_jobs(
            &conn,
            "WHERE ?1 = 0 OR state IN (SELECT value FROM json_each(?2)) \
             ORDER BY created_at DESC, rowid DESC LIMIT ?3",
            params![pending_only, pending, limit],
        )
    }
}

impl JobStore for Journal {
    fn create(&self, job: NewJob<'_>) -> Result<JobRecord, StoreError> {
        Ok(self.create_job(&job)?)
    }

    fn transition(
        &self,
        id: &str,
        to: JobState,
        note: Option<&str>,
    ) -> Result<JobRecord, StoreError> {
        Ok(self.transition_job(id, to, note)?)
    }

    fn set_request_id(&self, id: &str, request_id: &str) -> Result<(), StoreError> {
        Ok(self.set_request_id_inner(id, request_id)?)
    }

    fn record_snapshot(
        &self,
        id: &str,
        snapshot: &serde_json::Value,
        credits_spent: Option<Credits>,
    ) -> Result<(), StoreError> {
        Ok(self.record_snapshot_inner(id, snapshot, credits_spent)?)
    }

    fn add_output(&self, id: &str, output: &OutputRecord) -> Result<(), StoreError> {
        Ok(self.add_output_inner(id, output)?)
    }

    fn get(&self, id: &str) -> Result<JobRecord, StoreError> {
        Ok(self.get_inner(id)?)
    }

    fn find_fingerprint(
        &self,
        fingerprint: &str,
        since_ms: i64,
    ) -> Result<Option<JobRecord>, StoreError> {
        Ok(self.find_fingerprint_inner(fingerprint, since_ms)?)
    }

    fn list(&self, pending_only: bool, limit: usize) -> Result<Vec<JobRecord>, StoreError> {
        Ok(self.list_inner(pending_only, limit)?)
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
    Ok(())
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
    serde_json::to_string(value).map_err(|source| JournalError::Encode { what, source })
}

fn is_primary_key_clash(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

fn ensure_exists(conn: &Connection, id: &str) -> Result<(), JournalError> {
    let found: Option<i64> =
        conn.query_row("SELECT 1 FROM jobs WHERE id = ?1", [id], |r| r.get(0)).optional()?;
    found.map(drop).ok_or_else(|| JournalError::NotFound(id.to_owned()))
}

fn insert_event(
    conn: &Connection,
    id: &str,
    at: i64,
    from: Option<JobState>,
    to: JobState,
    note: Option<&str>,
) -> Result<(), JournalError> {
    conn.execute(
        "INSERT INTO job_events (job_id, at, from_state, to_state, note) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id, at, from.map(JobState::as_str), to.as_str(), note],
    )?;
    Ok(())
}

fn read_job(conn: &Connection, id: &str) -> Result<JobRecord, JournalError> {
    query_jobs(conn, "WHERE id = ?1", [id])?
        .pop()
        .ok_or_else(|| JournalError::NotFound(id.to_owned()))
}

/// Jobs selected by `tail` (a WHERE/ORDER/LIMIT clause), each with its outputs.
fn query_jobs(
    conn: &Connection,
    tail: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<JobRecord>, JournalError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {JOB_COLUMNS} FROM jobs {tail}"))?;
    let rows = stmt.query_map(params, JobRow::from_row)?.collect::<Result<Vec<_>, _>>()?;
    rows.into_iter().map(|row| row.into_record(conn)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pragma<T: rusqlite::types::FromSql>(journal: &Journal, name: &str) -> T {
        journal.lock().pragma_query_value(None, name, |r| r.get(0)).unwrap()
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
