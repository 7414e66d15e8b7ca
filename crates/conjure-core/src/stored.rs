//! A job as a store keeps it: flat columns of text and integers, made from an approved order
//! ([`Reservation::of`]) and read back into a [`JobRecord`] ([`StoredJob::into_record`]).
//!
//! Why here: every [`crate::JobStore`] (the SQLite journal, the Postgres store of the gateway)
//! must write a job as the same bytes and read it back the same way, or a job would change
//! meaning with its store: the fingerprint is recomputed from the stored request, the quote is
//! compared with the charge. The SQL is each store's own; the shape and its encoding are here.

use std::str::FromStr;

use crate::approval::Approved;
use crate::batch::BatchLink;
use crate::catalogue::ProviderId;
use crate::job::{JobId, JobState};
use crate::money::{Credits, Usd};
use crate::quote::Quote;
use crate::store::{JobRecord, OutputRecord};

/// What cannot be stored or read back.
#[derive(Debug, thiserror::Error)]
pub enum StoredError {
    /// The quote was made for another request than the one being reserved.
    #[error("The quote was made for request {quoted}, not for this request ({actual})")]
    QuoteMismatch { quoted: String, actual: String },
    /// A part of the order could not be written as JSON.
    #[error("Could not encode the {what}")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// A stored column does not read back as what it should hold.
    #[error("Job {id}: the stored {field} cannot be read")]
    Corrupt {
        id: String,
        field: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// An approved order as the columns of the job it becomes, plus what the reserving transaction
/// checks (the token, the batch line).
#[derive(Clone, Debug)]
pub struct Reservation {
    pub quote: Quote,
    pub provider: ProviderId,
    pub kind: &'static str,
    pub model: String,
    pub prompt: String,
    pub fingerprint: String,
    pub spec_json: String,
    pub wire_json: String,
    pub quote_json: String,
    pub usd_per_credit_micros: Option<i64>,
    pub token: Option<String>,
    pub retry_of: Option<JobId>,
    pub parent: Option<JobId>,
    pub owner: String,
    pub deliver_to: Option<String>,
    pub batch_id: Option<String>,
    pub batch_json: Option<String>,
    pub batch: Option<BatchLink>,
}

impl Reservation {
    /// The columns of `approved`, owned by `owner`. Refuses a quote made for another request.
    pub fn of(approved: &Approved, owner: &str) -> Result<Reservation, StoredError> {
        let order = approved.order();
        let fingerprint = order.spec.fingerprint();
        if order.quote.fingerprint != fingerprint {
            return Err(StoredError::QuoteMismatch {
                quoted: order.quote.fingerprint.clone(),
                actual: fingerprint,
            });
        }
        Ok(Reservation {
            quote: order.quote.clone(),
            provider: order.spec.provider,
            kind: order.spec.kind().as_str(),
            model: order.spec.model().to_owned(),
            prompt: order.spec.prompt().to_owned(),
            fingerprint,
            spec_json: to_json(&order.spec, "request")?,
            wire_json: to_json(&order.wire, "wire request")?,
            quote_json: to_json(&order.quote, "quote")?,
            usd_per_credit_micros: order
                .quote
                .usd_per_credit
                .map(|p| (p * 1_000_000.0).round() as i64),
            token: approved.token().map(str::to_owned),
            retry_of: order.retry_of.clone(),
            parent: order.parent.clone(),
            owner: owner.to_owned(),
            deliver_to: order.deliver_to.clone(),
            batch_id: order.batch.as_ref().map(|b| b.batch.clone()),
            batch_json: order.batch.as_ref().map(|b| to_json(b, "batch link")).transpose()?,
            batch: order.batch.clone(),
        })
    }
}

/// `value` as the JSON text a store keeps.
pub fn to_json<T: serde::Serialize + ?Sized>(
    value: &T,
    what: &'static str,
) -> Result<String, StoredError> {
    serde_json::to_string(value).map_err(|source| StoredError::Encode { what, source })
}

/// The `jobs` columns a store selects to read a job, in [`StoredJob`]'s field order.
pub const JOB_COLUMNS: &str = "id, provider, kind, model, prompt, state, fingerprint, \
     spec_json, wire_json, quoted_credits_tenths, quoted_usd_micros, request_id, \
     credits_spent_tenths, error, last_snapshot_json, retry_of, parent, created_at, updated_at, \
     owner, delivered_at, sandbox, deliver_to, batch_json";

/// One stored job, column by column ([`JOB_COLUMNS`]).
#[derive(Clone, Debug)]
pub struct StoredJob {
    pub id: String,
    pub provider: String,
    pub kind: String,
    pub model: String,
    pub prompt: String,
    pub state: String,
    pub fingerprint: String,
    pub spec_json: String,
    pub wire_json: String,
    pub quoted_credits_tenths: i64,
    pub quoted_usd_micros: Option<i64>,
    pub request_id: Option<String>,
    pub credits_spent_tenths: Option<i64>,
    pub error: Option<String>,
    pub last_snapshot_json: Option<String>,
    pub retry_of: Option<String>,
    pub parent: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub owner: Option<String>,
    pub delivered_at: Option<i64>,
    pub sandbox: bool,
    pub deliver_to: Option<String>,
    pub batch_json: Option<String>,
}

impl StoredJob {
    /// The record, with its delivered files.
    pub fn into_record(self, outputs: Vec<OutputRecord>) -> Result<JobRecord, StoredError> {
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

/// A text column of job `id` parsed as `T`.
pub fn parse<T>(id: &str, field: &'static str, value: &str) -> Result<T, StoredError>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    value.parse().map_err(|e: T::Err| corrupt(id, field, Box::new(e)))
}

/// A state column; [`JobState`]'s parse error is a plain string, hence not [`parse`].
pub fn parse_state(id: &str, value: &str) -> Result<JobState, StoredError> {
    value.parse().map_err(|e: String| corrupt(id, "state", e.into()))
}

/// A JSON column of job `id`.
pub fn parse_json<T: serde::de::DeserializeOwned>(
    id: &str,
    field: &'static str,
    text: &str,
) -> Result<T, StoredError> {
    serde_json::from_str(text).map_err(|e| corrupt(id, field, Box::new(e)))
}

/// A column of job `id` that does not hold what it should.
pub fn corrupt(
    id: &str,
    field: &'static str,
    source: Box<dyn std::error::Error + Send + Sync>,
) -> StoredError {
    StoredError::Corrupt { id: id.to_owned(), field, source }
}
