//! Quotes a wire client could not approve: kept when the gateway answers 402, approved by
//! the member (or an admin) at `/approve/<token>`, and then used once by the same request.
//!
//! The token is the quote's own approval token (`cq_...`, bound by the core to the request's
//! fingerprint, total and price); the row binds it further to the member, the project and the
//! request body ([`crate::katana::body_hash`]). A token is used once: the reservation records
//! it in the store's `approvals` table, in the same transaction as the job, and the core's
//! reserve decision refuses a used one.
//!
//! A pending quote holds no money: it is a row here, not a job, so it counts toward no budget
//! and no exposure; only the reservation made when the approved request is sent again does.
//! What it holds is a promise to send at the quoted price, and that promise lapses after
//! [`QUOTE_LIFETIME`]: approving an older quote is refused (the member quotes again), an
//! approved one older than that no longer lets its request through, and the lease sweep of
//! whichever instance gets there first settles it ([`expire_due`], `FOR UPDATE SKIP LOCKED`, so
//! each quote is settled by one instance).

use std::time::Duration;

use sqlx::Row;

use crate::member::MemberId;
use crate::store::{PgStore, PgStoreError};

/// How long a gateway quote can be approved and used, from when it was quoted. The CLI's
/// tokens carry no clock (they lapse when the request, its total or the price changes, which
/// the token binds, and when used); a gateway quote is kept in the database and approved from
/// another device, so it also lapses with the longest window the money rules remember a
/// request by: the 24-hour duplicate window.
pub const QUOTE_LIFETIME: Duration = conjure_core::policy::DUPLICATE_WINDOW;

/// Quotes settled per sweep statement; a sweep repeats until none is left.
const SWEEP_BATCH: i64 = 500;

/// Quotes made at or before this time have lapsed at `now_ms`.
fn lapsed_at_or_before(now_ms: i64) -> i64 {
    let lifetime = i64::try_from(QUOTE_LIFETIME.as_millis()).unwrap_or(i64::MAX);
    now_ms.saturating_sub(lifetime)
}

/// A quote waiting for (or given) approval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    pub token: String,
    pub member: MemberId,
    pub quote_json: String,
    pub approved: bool,
}

/// What approving a quote came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Approval {
    /// Approved (now, or already before).
    Approved(Pending),
    /// Older than [`QUOTE_LIFETIME`]: not approved; the request is quoted again.
    Expired(Pending),
    /// No such quote for this caller (another member's quote is not found either).
    NotFound,
}

/// Keeps a quote the gateway answered 402 for.
pub async fn record(
    store: &PgStore,
    token: &str,
    member: &MemberId,
    project: Option<&str>,
    body_sha256: &str,
    quote_json: &str,
    now_ms: i64,
) -> Result<(), PgStoreError> {
    sqlx::query(
        "INSERT INTO pending_quotes (token, member_id, project_id, body_sha256, quote_json, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (token) DO NOTHING",
    )
    .bind(token)
    .bind(member.as_str())
    .bind(project)
    .bind(body_sha256)
    .bind(quote_json)
    .bind(now_ms)
    .execute(store.pool())
    .await?;
    Ok(())
}

/// Approves the quote `token`, if `member` may: its own member, or any quote for an admin
/// (`member` `None`), and if it has not lapsed. The row is locked while deciding, so a sweep
/// settling it at the same moment skips it or is seen to have settled it.
pub async fn approve(
    store: &PgStore,
    token: &str,
    member: Option<&MemberId>,
    now_ms: i64,
) -> Result<Approval, PgStoreError> {
    let mut tx = store.pool().begin().await?;
    let row = sqlx::query(
        "SELECT token, member_id, quote_json, approved_at IS NOT NULL, \
                (expired_at IS NOT NULL OR created_at <= $3) \
         FROM pending_quotes WHERE token = $1 AND ($2::TEXT IS NULL OR member_id = $2) \
         FOR UPDATE",
    )
    .bind(token)
    .bind(member.map(MemberId::as_str))
    .bind(lapsed_at_or_before(now_ms))
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else { return Ok(Approval::NotFound) };
    let mut pending = Pending {
        token: row.try_get(0)?,
        member: MemberId(row.try_get(1)?),
        quote_json: row.try_get(2)?,
        approved: row.try_get(3)?,
    };
    if row.try_get::<bool, _>(4)? {
        return Ok(Approval::Expired(pending));
    }
    sqlx::query(
        "UPDATE pending_quotes SET approved_at = coalesce(approved_at, $2) WHERE token = $1",
    )
    .bind(token)
    .bind(now_ms)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    pending.approved = true;
    Ok(Approval::Approved(pending))
}

/// The newest approved, unused token for this member's request body that has not lapsed.
pub async fn approved_token(
    store: &PgStore,
    member: &MemberId,
    body_sha256: &str,
    now_ms: i64,
) -> Result<Option<String>, PgStoreError> {
    Ok(sqlx::query_scalar(
        "SELECT q.token FROM pending_quotes q \
         WHERE q.member_id = $1 AND q.body_sha256 = $2 AND q.approved_at IS NOT NULL \
           AND q.expired_at IS NULL AND q.created_at > $3 \
           AND NOT EXISTS (SELECT 1 FROM approvals a WHERE a.token = q.token) \
         ORDER BY q.approved_at DESC LIMIT 1",
    )
    .bind(member.as_str())
    .bind(body_sha256)
    .bind(lapsed_at_or_before(now_ms))
    .fetch_optional(store.pool())
    .await?)
}

/// Settles every quote that lapsed by `now_ms` and was not settled yet (used ones included:
/// they can no longer be approved either); returns the tokens this call settled. Rows another
/// instance's sweep holds are skipped, not waited for, so two sweeps at once settle each quote
/// once between them.
pub async fn expire_due(store: &PgStore, now_ms: i64) -> Result<Vec<String>, PgStoreError> {
    let mut settled = Vec::new();
    loop {
        let batch: Vec<String> = sqlx::query_scalar(
            "UPDATE pending_quotes SET expired_at = $1 WHERE token IN ( \
                 SELECT token FROM pending_quotes \
                 WHERE expired_at IS NULL AND created_at <= $2 \
                 ORDER BY created_at LIMIT $3 FOR UPDATE SKIP LOCKED) \
             RETURNING token",
        )
        .bind(now_ms)
        .bind(lapsed_at_or_before(now_ms))
        .bind(SWEEP_BATCH)
        .fetch_all(store.pool())
        .await?;
        let done = i64::try_from(batch.len()).unwrap_or(i64::MAX) < SWEEP_BATCH;
        settled.extend(batch);
        if done {
            return Ok(settled);
        }
    }
}
