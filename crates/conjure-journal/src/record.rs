//! Rows in, records out: the mapping between the journal's tables and the core's types.
//!
//! Reading happens in two steps. Inside rusqlite's row callback only raw column values are
//! copied out ([`StoredJob`]); turning them into a [`JobRecord`] (parsing states, providers and
//! JSON) happens afterwards, so that a damaged value becomes a [`JournalError::Corrupt`] naming
//! the job and the column instead of an anonymous conversion error. It runs no queries of its
//! own except loading a job's outputs.

use conjure_core::JobState;
use conjure_core::store::{JobRecord, OutputRecord};
use conjure_core::stored::{self, StoredJob};
use rusqlite::{Connection, Row};

use crate::error::JournalError;

pub(crate) use conjure_core::stored::JOB_COLUMNS;

/// The columns of one `jobs` row ([`JOB_COLUMNS`]), copied out as they are.
pub(crate) fn stored_job(row: &Row<'_>) -> rusqlite::Result<StoredJob> {
    Ok(StoredJob {
        id: row.get(0)?,
        provider: row.get(1)?,
        kind: row.get(2)?,
        model: row.get(3)?,
        prompt: row.get(4)?,
        state: row.get(5)?,
        fingerprint: row.get(6)?,
        spec_json: row.get(7)?,
        wire_json: row.get(8)?,
        quoted_credits_tenths: row.get(9)?,
        quoted_usd_micros: row.get(10)?,
        request_id: row.get(11)?,
        credits_spent_tenths: row.get(12)?,
        error: row.get(13)?,
        last_snapshot_json: row.get(14)?,
        retry_of: row.get(15)?,
        parent: row.get(16)?,
        created_at: row.get(17)?,
        updated_at: row.get(18)?,
        owner: row.get(19)?,
        delivered_at: row.get(20)?,
        sandbox: row.get(21)?,
        deliver_to: row.get(22)?,
        batch_json: row.get(23)?,
    })
}

/// The record of `job`, with its outputs read from `conn`.
pub(crate) fn record(job: StoredJob, conn: &Connection) -> Result<JobRecord, JournalError> {
    let outputs = outputs(conn, &job.id)?;
    Ok(job.into_record(outputs)?)
}

pub(crate) fn parse<T>(id: &str, field: &'static str, value: &str) -> Result<T, JournalError>
where
    T: std::str::FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    Ok(stored::parse(id, field, value)?)
}

/// A state column.
pub(crate) fn parse_state(id: &str, value: &str) -> Result<JobState, JournalError> {
    Ok(stored::parse_state(id, value)?)
}

/// A job's delivered files, by item index then path.
fn outputs(conn: &Connection, id: &str) -> Result<Vec<OutputRecord>, JournalError> {
    let mut stmt = conn.prepare_cached(
        "SELECT idx, path, url, mime, width, height, duration_seconds, sha256, bytes, expires_at \
         FROM outputs WHERE job_id = ?1 ORDER BY idx, path",
    )?;
    let rows = stmt.query_map([id], |row| {
        Ok(OutputRecord {
            index: row.get(0)?,
            path: row.get(1)?,
            url: row.get(2)?,
            mime: row.get(3)?,
            width: row.get(4)?,
            height: row.get(5)?,
            duration_seconds: row.get(6)?,
            sha256: row.get(7)?,
            bytes: row.get(8)?,
            expires_at: row.get(9)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}
