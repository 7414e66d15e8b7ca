//! Rows in, records out: the mapping between the store's tables and the core's types.
//!
//! As in the SQLite journal, reading is two steps: the raw column values are copied out of the
//! driver's row ([`StoredJob`]), then parsed into a [`JobRecord`] (states, providers, JSON, integer
//! ranges), so that a damaged value becomes a [`PgStoreError::Corrupt`] naming the job and the
//! column instead of an anonymous decode error. Outputs are read for a whole page of jobs in
//! one query.

use std::collections::HashMap;
use std::str::FromStr;

use conjure_core::JobState;
use conjure_core::store::{JobRecord, OutputRecord};
use conjure_core::stored::{self, StoredJob};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::error::PgStoreError;

pub(crate) use conjure_core::stored::JOB_COLUMNS;

/// The columns of one `jobs` row ([`JOB_COLUMNS`]), copied out as they are.
pub(crate) fn stored_job(row: &PgRow) -> Result<StoredJob, sqlx::Error> {
    Ok(StoredJob {
        id: row.try_get(0)?,
        provider: row.try_get(1)?,
        kind: row.try_get(2)?,
        model: row.try_get(3)?,
        prompt: row.try_get(4)?,
        state: row.try_get(5)?,
        fingerprint: row.try_get(6)?,
        spec_json: row.try_get(7)?,
        wire_json: row.try_get(8)?,
        quoted_credits_tenths: row.try_get(9)?,
        quoted_usd_micros: row.try_get(10)?,
        request_id: row.try_get(11)?,
        credits_spent_tenths: row.try_get(12)?,
        error: row.try_get(13)?,
        last_snapshot_json: row.try_get(14)?,
        retry_of: row.try_get(15)?,
        parent: row.try_get(16)?,
        created_at: row.try_get(17)?,
        updated_at: row.try_get(18)?,
        owner: row.try_get(19)?,
        delivered_at: row.try_get(20)?,
        sandbox: row.try_get(21)?,
        deliver_to: row.try_get(22)?,
        batch_json: row.try_get(23)?,
    })
}

/// The records of `rows`, in their order, each with its outputs (read in one query).
pub(crate) async fn into_records(
    conn: &mut PgConnection,
    rows: Vec<StoredJob>,
) -> Result<Vec<JobRecord>, PgStoreError> {
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let mut outputs = outputs(conn, &ids).await?;
    rows.into_iter()
        .map(|row| {
            let files = outputs.remove(&row.id).unwrap_or_default();
            Ok(row.into_record(files)?)
        })
        .collect()
}

pub(crate) fn parse<T>(id: &str, field: &'static str, value: &str) -> Result<T, PgStoreError>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    Ok(stored::parse(id, field, value)?)
}

/// A state column.
pub(crate) fn parse_state(id: &str, value: &str) -> Result<JobState, PgStoreError> {
    Ok(stored::parse_state(id, value)?)
}

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    id: &str,
    field: &'static str,
    text: &str,
) -> Result<T, PgStoreError> {
    Ok(stored::parse_json(id, field, text)?)
}

/// An integer column that must fit `T` (a width, an index, a size).
fn fits<T: TryFrom<i64>>(id: &str, field: &'static str, value: i64) -> Result<T, PgStoreError>
where
    T::Error: std::error::Error + Send + Sync + 'static,
{
    T::try_from(value).map_err(|e| PgStoreError::from(stored::corrupt(id, field, Box::new(e))))
}

/// The delivered files of `ids`, by job, each job's by item index then path.
async fn outputs(
    conn: &mut PgConnection,
    ids: &[&str],
) -> Result<HashMap<String, Vec<OutputRecord>>, PgStoreError> {
    let mut by_job: HashMap<String, Vec<OutputRecord>> = HashMap::new();
    if ids.is_empty() {
        return Ok(by_job);
    }
    let rows = sqlx::query(
        "SELECT job_id, idx, path, url, mime, width, height, duration_seconds, sha256, bytes, \
                expires_at \
         FROM outputs WHERE job_id = ANY($1) ORDER BY job_id, idx, path",
    )
    .bind(ids)
    .fetch_all(conn)
    .await?;
    for row in rows {
        let id: String = row.try_get(0)?;
        let width: Option<i64> = row.try_get(5)?;
        let height: Option<i64> = row.try_get(6)?;
        let output = OutputRecord {
            index: fits(&id, "idx", row.try_get(1)?)?,
            path: row.try_get(2)?,
            url: row.try_get(3)?,
            mime: row.try_get(4)?,
            width: width.map(|w| fits(&id, "width", w)).transpose()?,
            height: height.map(|h| fits(&id, "height", h)).transpose()?,
            duration_seconds: row.try_get(7)?,
            sha256: row.try_get(8)?,
            bytes: fits(&id, "bytes", row.try_get(9)?)?,
            expires_at: row.try_get(10)?,
        };
        by_job.entry(id).or_default().push(output);
    }
    Ok(by_job)
}
