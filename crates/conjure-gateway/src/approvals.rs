//! Quotes a wire client could not approve: kept when the gateway answers 402, approved by
//! the member (or an admin) at `/approve/<token>`, and then used once by the same request.
//!
//! The token is the quote's own approval token (`cq_...`, bound by the core to the request's
//! fingerprint, total and price); the row binds it further to the member, the project and the
//! request body ([`crate::katana::body_hash`]). A token is used once: the reservation records
//! it in the store's `approvals` table, in the same transaction as the job, and the core's
//! reserve decision refuses a used one.

use sqlx::Row;

use crate::member::MemberId;
use crate::store::{PgStore, PgStoreError};

/// A quote waiting for (or given) approval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    pub token: String,
    pub member: MemberId,
    pub quote_json: String,
    pub approved: bool,
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
/// (`member` `None`). `None` when there is no such quote for this caller (another member's
/// quote is not found either).
pub async fn approve(
    store: &PgStore,
    token: &str,
    member: Option<&MemberId>,
    now_ms: i64,
) -> Result<Option<Pending>, PgStoreError> {
    let row = sqlx::query(
        "UPDATE pending_quotes SET approved_at = coalesce(approved_at, $3) \
         WHERE token = $1 AND ($2::TEXT IS NULL OR member_id = $2) \
         RETURNING token, member_id, quote_json",
    )
    .bind(token)
    .bind(member.map(MemberId::as_str))
    .bind(now_ms)
    .fetch_optional(store.pool())
    .await?;
    Ok(match row {
        Some(r) => Some(Pending {
            token: r.try_get(0)?,
            member: MemberId(r.try_get(1)?),
            quote_json: r.try_get(2)?,
            approved: true,
        }),
        None => None,
    })
}

/// The newest approved, unused token for this member's request body.
pub async fn approved_token(
    store: &PgStore,
    member: &MemberId,
    body_sha256: &str,
) -> Result<Option<String>, PgStoreError> {
    Ok(sqlx::query_scalar(
        "SELECT q.token FROM pending_quotes q \
         WHERE q.member_id = $1 AND q.body_sha256 = $2 AND q.approved_at IS NOT NULL \
           AND NOT EXISTS (SELECT 1 FROM approvals a WHERE a.token = q.token) \
         ORDER BY q.approved_at DESC LIMIT 1",
    )
    .bind(member.as_str())
    .bind(body_sha256)
    .fetch_optional(store.pool())
    .await?)
}
