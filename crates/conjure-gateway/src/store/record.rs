//! Rows in, records out: the mapping between the store's tables and the core's types.
//!
//! As in the SQLite journal, reading is two steps: the raw column values are copied out of the
//! driver's row ([`JobRow`]), then parsed into a [`JobRecord`] (states, providers, JSON, integer
//! ranges), so that a damaged value becomes a [`PgStoreError::Corrupt`] naming the job and the
//! column instead of an anonymous decode error. Outputs are read for a whole page of jobs in
//! one query.

use std::collections::HashMap;
use std::str::FromStr;

use conjure_core::store::{JobRecord, OutputRecord};
use conjure_core::{Credits, JobId, JobState, Usd};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::error::PgStoreError;

/// The `jobs` columns every job query selects, in [`JobRow::from_row`] order.
pub(crate) const JOB_COLUMNS: &str = "id, provider, kind, model, prompt, state, fingerprint, \
     spec_json, wire_json, quoted_credits_tenths, quoted_usd_micros, request_id, \
     credits_spent_tenths, error, last_snapshot_json, retry_of, parent, created_at, updated_at, \
     owner, delivered_at, sandbox, deliver_to, batch_json";

/// One `jobs` row as stored.
pub(crate) struct JobRow {
    id: String,
    provider: String,
    kind: String,
    model: String,
    prompt: String,
    state: String,
    fingerprint: String,
    spec_json: String,
    wire_json: String,
    quoted_credits_tenths: i64,
    quoted_usd_micros: Option<i64>,
    request_id: Option<String>,
    credits_spent_tenths: Option<i64>,
    error: Option<String>,
    last_snapshot_json: Option<String>,
    retry_of: Option<String>,
    parent: Option<String>,
    created_at: i64,
    updated_at: i64,
    owner: Option<String>,
    delivered_at: Option<i64>,
    sandbox: bool,
    deliver_to: Option<String>,
    batch_json: Option<String>,
}

impl JobRow {
    pub(crate) fn from_row(row: &PgRow) -> Result<JobRow, sqlx::Error> {
        Ok(JobRow {
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

    fn into_record(self, outputs: Vec<OutputRecord>) -> Result<JobRecord, PgStoreError> {
        let id = self.id;
        let last_snapshot = match self.last_snapshot_json {
            Some(text) => Some(parse_json(&id, "last_snapshot_json", &text)?),
            None => None,
        };
        Ok(JobRecord {
            provider: parse(&id, "provider", &self.provider)?,
            kind: parse(&id, "kind", &self.kind)?,
            model: self.model,
            prompt: self.prompt,
            state: parse_state(&id, &self.state)?,
            fingerprint: self.fingerprint,
            spec: parse_json(&id, "spec_json", &self.spec_json)?,
            wire: parse_json(&id, "wire_json", &self.wire_json)?,
            quoted_credits: Credits::from_tenths(self.quoted_credits_tenths),
            quoted_usd: self.quoted_usd_micros.map(Usd::from_micros),
            request_id: self.request_id,
            credits_spent: self.credits_spent_tenths.map(Credits::from_tenths),
            error: self.error,
            last_snapshot,
            retry_of: self.retry_of.map(JobId::from_stored),
            parent: self.parent.map(JobId::from_stored),
            owner: self.owner,
            created_at: self.created_at,
            updated_at: self.updated_at,
            delivered_at: self.delivered_at,
            sandbox: self.sandbox,
            deliver_to: self.deliver_to,
            batch: match &self.batch_json {
                Some(text) => Some(parse_json(&id, "batch_json", text)?),
                None => None,
            },
            outputs,
            id: JobId::from_stored(id),
        })
    }
}

/// The records of `rows`, in their order, each with its outputs (read in one query).
pub(crate) async fn into_records(
    conn: &mut PgConnection,
    rows: Vec<JobRow>,
) -> Result<Vec<JobRecord>, PgStoreError> {
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let mut outputs = outputs(conn, &ids).await?;
    rows.into_iter()
        .map(|row| {
            let files = outputs.remove(&row.id).unwrap_or_default();
            row.into_record(files)
        })
        .collect()
}

pub(crate) fn parse<T>(id: &str, field: &'static str, value: &str) -> Result<T, PgStoreError>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    value.parse().map_err(|e: T::Err| corrupt(id, field, Box::new(e)))
}

/// A state column; [`JobState`]'s parse error is a plain string, hence not [`parse`].
pub(crate) fn parse_state(id: &str, value: &str) -> Result<JobState, PgStoreError> {
    value.parse().map_err(|e: String| corrupt(id, "state", e.into()))
}

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    id: &str,
    field: &'static str,
    text: &str,
) -> Result<T, PgStoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(id, field, Box::new(e)))
}

fn corrupt(
    id: &str,
    field: &'static str,
    source: Box<dyn std::error::Error + Send + Sync>,
) -> PgStoreError {
    PgStoreError::Corrupt { id: id.to_owned(), field, source }
}

/// An integer column that must fit `T` (a width, an index, a size).
fn fits<T: TryFrom<i64>>(id: &str, field: &'static str, value: i64) -> Result<T, PgStoreError>
where
    T::Error: std::error::Error + Send + Sync + 'static,
{
    T::try_from(value).map_err(|e| corrupt(id, field, Box::new(e)))
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
