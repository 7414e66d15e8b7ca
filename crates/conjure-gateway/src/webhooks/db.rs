//! The webhook tables' SQL (migration `0003_webhooks.sql`): endpoints, the outbox, claims and
//! the delivery log. Handlers and the worker call these; nothing else writes the tables.
//!
//! **Clocks.** Every time a decision depends on (when a delivery is due, when a lease
//! expires) is the database's clock (`NOW`), not an instance's: instances whose clocks
//! disagree still agree on whose lease has expired.
//!
//! **Claims.** A worker claims due deliveries in one statement: the due rows are locked with
//! `FOR UPDATE SKIP LOCKED` (a row another worker is claiming at that moment is skipped, not
//! waited for), given a fresh lease token and a lease expiry, their attempt counter raised and
//! an attempt row written; the statement commits at once, so the lease, not an open
//! transaction, is what keeps other workers off while the POST is in flight. A row whose lease
//! has expired (its instance was killed) is due again. A result is recorded only under the
//! lease token it was claimed with: a worker that lost its lease cannot overwrite the outcome
//! of the worker that took over (its attempt row is still completed, for the log).

use std::time::Duration;

use sqlx::{PgConnection, PgPool, Row};

use super::sign::Secret;
use super::{Endpoint, WebhookError};

/// The database's clock, in unix milliseconds (`clock_timestamp`, not `now()`: the statement's
/// time, not its transaction's).
pub(crate) const NOW: &str = "(extract(epoch from clock_timestamp()) * 1000)::BIGINT";

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

pub(crate) async fn insert_endpoint(
    pool: &PgPool,
    member: &str,
    endpoint: &Endpoint,
    secret: &Secret,
    max_endpoints: i64,
) -> Result<(), WebhookError> {
    let mut tx = pool.begin().await?;
    // Registrations by one member queue on a lock of their own, so that two at once cannot
    // both pass the count (the members table, which would be the row to lock, is not ours).
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('conjure-webhooks:' || $1, 0))")
        .bind(member)
        .execute(&mut *tx)
        .await?;
    let live: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM webhook_endpoints WHERE member_id = $1 AND deleted_at IS NULL",
    )
    .bind(member)
    .fetch_one(&mut *tx)
    .await?;
    if live >= max_endpoints {
        return Err(WebhookError::TooManyEndpoints(live));
    }
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, member_id, url, event_types, description, secret, \
             created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&endpoint.id)
    .bind(member)
    .bind(&endpoint.url)
    .bind(&endpoint.event_types)
    .bind(&endpoint.description)
    .bind(secret.expose())
    .bind(endpoint.created_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

const ENDPOINT_COLUMNS: &str = "id, url, event_types, description, created_at";

fn endpoint(row: &sqlx::postgres::PgRow) -> Result<Endpoint, sqlx::Error> {
    Ok(Endpoint {
        id: row.try_get(0)?,
        url: row.try_get(1)?,
        event_types: row.try_get(2)?,
        description: row.try_get(3)?,
        created_at: row.try_get(4)?,
    })
}

pub(crate) async fn list_endpoints(
    pool: &PgPool,
    member: &str,
) -> Result<Vec<Endpoint>, WebhookError> {
    let rows = sqlx::query(&format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints \
         WHERE member_id = $1 AND deleted_at IS NULL ORDER BY created_at, id"
    ))
    .bind(member)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(endpoint).collect::<Result<_, _>>()?)
}

/// A member's live endpoint; `NotFound` for another member's, as for one that does not exist.
pub(crate) async fn get_endpoint(
    pool: &PgPool,
    member: &str,
    id: &str,
) -> Result<Endpoint, WebhookError> {
    let row = sqlx::query(&format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints \
         WHERE id = $1 AND member_id = $2 AND deleted_at IS NULL"
    ))
    .bind(id)
    .bind(member)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| WebhookError::NotFound(id.to_owned()))?;
    Ok(endpoint(&row)?)
}

/// Deletes a member's endpoint (hidden, its log kept) and cancels its pending deliveries,
/// including one in flight: its worker's result then finds the lease gone and changes nothing.
pub(crate) async fn delete_endpoint(
    pool: &PgPool,
    member: &str,
    id: &str,
) -> Result<(), WebhookError> {
    let mut tx = pool.begin().await?;
    let deleted = sqlx::query(&format!(
        "UPDATE webhook_endpoints SET deleted_at = {NOW} \
         WHERE id = $1 AND member_id = $2 AND deleted_at IS NULL"
    ))
    .bind(id)
    .bind(member)
    .execute(&mut *tx)
    .await?;
    if deleted.rows_affected() == 0 {
        return Err(WebhookError::NotFound(id.to_owned()));
    }
    sqlx::query(&format!(
        "UPDATE webhook_deliveries SET status = 'cancelled', lease_token = NULL, \
             lease_until = NULL, last_error = 'The endpoint was deleted before delivery', \
             finished_at = {NOW}, updated_at = {NOW} \
         WHERE endpoint_id = $1 AND status = 'pending'"
    ))
    .bind(id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Records an event and one pending delivery per live endpoint of `member` that takes its
/// type, on `conn` (the caller's transaction). The number of deliveries created.
pub(crate) async fn insert_event(
    conn: &mut PgConnection,
    member: &str,
    id: &str,
    event_type: &str,
    body: &str,
    at_ms: i64,
) -> Result<u64, WebhookError> {
    sqlx::query(
        "INSERT INTO webhook_events (id, member_id, event_type, body, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(member)
    .bind(event_type)
    .bind(body)
    .bind(at_ms)
    .execute(&mut *conn)
    .await?;
    let fanned = sqlx::query(&format!(
        "INSERT INTO webhook_deliveries (event_id, endpoint_id, member_id, next_attempt_at, \
             created_at, updated_at) \
         SELECT $1, id, member_id, {NOW}, {NOW}, {NOW} FROM webhook_endpoints \
         WHERE member_id = $2 AND deleted_at IS NULL \
             AND (event_types IS NULL OR $3 = ANY(event_types))"
    ))
    .bind(id)
    .bind(member)
    .bind(event_type)
    .execute(&mut *conn)
    .await?;
    Ok(fanned.rows_affected())
}

/// One claimed delivery: everything its attempt needs.
#[derive(Debug)]
pub struct Claim {
    pub delivery_id: i64,
    pub(crate) lease_token: String,
    /// This attempt's number (1 for the first).
    pub attempt: i32,
    /// The `webhook-id`.
    pub event_id: String,
    pub(crate) body: String,
    pub(crate) url: String,
    pub(crate) secret: Secret,
}

/// Marks failed the deliveries whose last allowed attempt was abandoned (its lease expired
/// with no result). The number marked.
pub(crate) async fn fail_abandoned(pool: &PgPool, max_attempts: u32) -> Result<u64, WebhookError> {
    let done = sqlx::query(&format!(
        "UPDATE webhook_deliveries SET status = 'failed', lease_token = NULL, lease_until = NULL, \
             last_error = 'The last attempt was abandoned: the instance making it stopped \
                 before recording a result', \
             finished_at = {NOW}, updated_at = {NOW} \
         WHERE status = 'pending' AND attempts >= $1 AND lease_until <= {NOW}"
    ))
    .bind(i32::try_from(max_attempts).unwrap_or(i32::MAX))
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Claims up to `limit` due deliveries for `lease`, under `token`.
pub(crate) async fn claim(
    pool: &PgPool,
    token: &str,
    limit: u32,
    lease: Duration,
    max_attempts: u32,
) -> Result<Vec<Claim>, WebhookError> {
    let rows = sqlx::query(&format!(
        "WITH due AS ( \
             SELECT d.id FROM webhook_deliveries d \
             JOIN webhook_endpoints p ON p.id = d.endpoint_id \
             WHERE d.status = 'pending' AND d.next_attempt_at <= {NOW} AND d.attempts < $4 \
                 AND (d.lease_until IS NULL OR d.lease_until <= {NOW}) \
                 AND p.deleted_at IS NULL \
             ORDER BY d.next_attempt_at, d.id \
             LIMIT $1 \
             FOR UPDATE OF d SKIP LOCKED \
         ), claimed AS ( \
             UPDATE webhook_deliveries d SET lease_token = $2, lease_until = {NOW} + $3, \
                 attempts = d.attempts + 1, updated_at = {NOW} \
             FROM due WHERE d.id = due.id \
             RETURNING d.id, d.attempts, d.event_id, d.endpoint_id \
         ), logged AS ( \
             INSERT INTO webhook_attempts (delivery_id, attempt, started_at) \
             SELECT id, attempts, {NOW} FROM claimed \
         ) \
         SELECT c.id, c.attempts, e.id, e.body, p.url, p.secret FROM claimed c \
         JOIN webhook_events e ON e.id = c.event_id \
         JOIN webhook_endpoints p ON p.id = c.endpoint_id \
         ORDER BY c.id"
    ))
    .bind(i64::from(limit))
    .bind(token)
    .bind(millis(lease))
    .bind(i32::try_from(max_attempts).unwrap_or(i32::MAX))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Claim {
                delivery_id: r.try_get(0)?,
                lease_token: token.to_owned(),
                attempt: r.try_get(1)?,
                event_id: r.try_get(2)?,
                body: r.try_get(3)?,
                url: r.try_get(4)?,
                secret: Secret::from_stored(r.try_get(5)?),
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// What became of a delivery after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    Delivered,
    RetryIn(Duration),
    Failed,
}

/// Records an attempt's result and what comes next. `false` when the lease was no longer
/// this claim's (it expired and another worker took the delivery, or it was cancelled): the
/// attempt is logged, the delivery left to its new holder.
pub(crate) async fn finish(
    pool: &PgPool,
    claim: &Claim,
    status_code: Option<u16>,
    error: Option<&str>,
    next: Next,
) -> Result<bool, WebhookError> {
    let (status, delay) = match next {
        Next::Delivered => ("delivered", 0),
        Next::RetryIn(d) => ("pending", millis(d)),
        Next::Failed => ("failed", 0),
    };
    let code = status_code.map(i32::from);
    let mut tx = pool.begin().await?;
    sqlx::query(&format!(
        "UPDATE webhook_attempts SET finished_at = {NOW}, status_code = $3, error = $4 \
         WHERE delivery_id = $1 AND attempt = $2"
    ))
    .bind(claim.delivery_id)
    .bind(claim.attempt)
    .bind(code)
    .bind(error)
    .execute(&mut *tx)
    .await?;
    let updated = sqlx::query(&format!(
        "UPDATE webhook_deliveries SET status = $3, \
             next_attempt_at = CASE WHEN $3 = 'pending' THEN {NOW} + $4 ELSE next_attempt_at END, \
             lease_token = NULL, lease_until = NULL, last_status_code = $5, last_error = $6, \
             finished_at = CASE WHEN $3 = 'pending' THEN NULL ELSE {NOW} END, \
             updated_at = {NOW} \
         WHERE id = $1 AND lease_token = $2 AND status = 'pending'"
    ))
    .bind(claim.delivery_id)
    .bind(&claim.lease_token)
    .bind(status)
    .bind(delay)
    .bind(code)
    .bind(error)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(updated.rows_affected() == 1)
}

/// One attempt in the log.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AttemptView {
    pub attempt: i32,
    pub started_at: i64,
    /// `None` while in flight, or if its instance stopped first.
    pub finished_at: Option<i64>,
    pub status_code: Option<i32>,
    pub error: Option<String>,
}

/// One delivery in the log.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DeliveryView {
    pub id: i64,
    /// The `webhook-id` every attempt carried.
    pub event_id: String,
    pub event_type: String,
    /// `pending`, `delivered`, `failed` or `cancelled`.
    pub status: String,
    pub attempts: i32,
    /// When the next attempt is due (pending deliveries only).
    pub next_attempt_at: Option<i64>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
    pub attempt_log: Vec<AttemptView>,
}

/// The newest `limit` deliveries to one of `member`'s endpoints (deleted ones included: their
/// log stays readable), with their attempts.
pub(crate) async fn deliveries(
    pool: &PgPool,
    member: &str,
    endpoint_id: &str,
    limit: i64,
) -> Result<Vec<DeliveryView>, WebhookError> {
    let owned: Option<(String,)> =
        sqlx::query_as("SELECT id FROM webhook_endpoints WHERE id = $1 AND member_id = $2")
            .bind(endpoint_id)
            .bind(member)
            .fetch_optional(pool)
            .await?;
    if owned.is_none() {
        return Err(WebhookError::NotFound(endpoint_id.to_owned()));
    }
    let rows = sqlx::query(
        "SELECT d.id, d.event_id, e.event_type, d.status, d.attempts, d.next_attempt_at, \
             d.last_status_code, d.last_error, d.created_at, d.finished_at \
         FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id \
         WHERE d.endpoint_id = $1 AND d.member_id = $2 ORDER BY d.id DESC LIMIT $3",
    )
    .bind(endpoint_id)
    .bind(member)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let status: String = r.try_get(3)?;
        let pending = status == "pending";
        out.push(DeliveryView {
            id: r.try_get(0)?,
            event_id: r.try_get(1)?,
            event_type: r.try_get(2)?,
            status,
            attempts: r.try_get(4)?,
            next_attempt_at: if pending { Some(r.try_get(5)?) } else { None },
            last_status_code: r.try_get(6)?,
            last_error: r.try_get(7)?,
            created_at: r.try_get(8)?,
            finished_at: r.try_get(9)?,
            attempt_log: Vec::new(),
        });
    }
    let ids: Vec<i64> = out.iter().map(|d| d.id).collect();
    let attempts = sqlx::query(
        "SELECT delivery_id, attempt, started_at, finished_at, status_code, error \
         FROM webhook_attempts WHERE delivery_id = ANY($1) ORDER BY delivery_id, attempt",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    for a in &attempts {
        let delivery: i64 = a.try_get(0)?;
        if let Some(d) = out.iter_mut().find(|d| d.id == delivery) {
            d.attempt_log.push(AttemptView {
                attempt: a.try_get(1)?,
                started_at: a.try_get(2)?,
                finished_at: a.try_get(3)?,
                status_code: a.try_get(4)?,
                error: a.try_get(5)?,
            });
        }
    }
    Ok(out)
}

/// Deliveries by status, over every member (for `/metrics`).
pub(crate) async fn count_by_status(pool: &PgPool) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT status, count(*) FROM webhook_deliveries GROUP BY status ORDER BY status",
    )
    .fetch_all(pool)
    .await
}
