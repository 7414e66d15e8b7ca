//! Rows in, records out: the mapping between the journal's tables and the core's types.
//!
//! Reading happens in two steps. Inside rusqlite's row callback only raw column values are
//! copied out ([`JobRow`]); turning them into a [`JobRecord`] (parsing states, providers and
//! JSON) happens afterwards, so that a damaged value becomes a [`JournalError::Corrupt`] naming
//! the job and the column instead of an anonymous conversion error. It runs no queries of its
//! own except loading a job's outputs.

use std::str::FromStr;

use conjure_core::store::{JobRecord, OutputRecord};
use conjure_core::{Credits, JobId, JobState, Usd};
use rusqlite::{Connection, Row};

use crate::error::JournalError;

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
    pub(crate) fn from_row(row: &Row<'_>) -> rusqlite::Result<JobRow> {
        Ok(JobRow {
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

    /// The record, with its outputs read from `conn`.
    pub(crate) fn into_record(self, conn: &Connection) -> Result<JobRecord, JournalError> {
        let id = self.id;
        let last_snapshot = match self.last_snapshot_json {
            Some(text) => Some(parse_json(&id, "last_snapshot_json", &text)?),
            None => None,
        };
        let outputs = outputs(conn, &id)?;
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

pub(crate) fn parse<T>(id: &str, field: &'static str, value: &str) -> Result<T, JournalError>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    value.parse().map_err(|e: T::Err| corrupt(id, field, Box::new(e)))
}

/// A state column; [`JobState`]'s parse error is a plain string, hence not [`parse`].
pub(crate) fn parse_state(id: &str, value: &str) -> Result<JobState, JournalError> {
    value.parse().map_err(|e: String| corrupt(id, "state", e.into()))
}

fn parse_json<T: serde::de::DeserializeOwned>(
    id: &str,
    field: &'static str,
    text: &str,
) -> Result<T, JournalError> {
    serde_json::from_str(text).map_err(|e| corrupt(id, field, Box::new(e)))
}

fn corrupt(
    id: &str,
    field: &'static str,
    source: Box<dyn std::error::Error + Send + Sync>,
) -> JournalError {
    JournalError::Corrupt { id: id.to_owned(), field, source }
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
