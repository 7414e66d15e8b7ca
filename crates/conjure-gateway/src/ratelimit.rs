//! Rate limits per member (issue 14, item 7): how many requests a member's keys may make a
//! minute, the gateway's default (`conjure serve --rate-limit N/min`) or the member's own
//! (`conjure serve admin member rate-limit NAME N/min`, `PUT /admin/members/{name}/rate-limit`).
//!
//! - **Shared, not per instance.** The count lives in Postgres (migration
//!   `0007_rate_limits.sql`), so a member gets N a minute from the whole gateway however many
//!   instances there are and whichever a load balancer picks; a per-instance count would allow
//!   N times the instance count, and change whenever instances are added. It costs one
//!   statement per keyed request, on a row of the member's own (members never wait for each
//!   other).
//! - **The rule** is GCRA (a token bucket kept as one time): N a minute means one request every
//!   `60 s / N`, with bursts of up to N. Each member's row holds its "theoretical arrival time"
//!   by the database's clock; a request is let through, and the time pushed on by one
//!   interval, if that leaves it at most a minute ahead of now. A refused request changes
//!   nothing, and is answered 429 with `Retry-After` (when the next one would pass) and a JSON
//!   error saying what to do. Concurrent requests queue on the member's row, so the limit is
//!   exact.
//! - **Per member**, all of its keys together: a member cannot multiply its allowance by making
//!   keys. Admin-key requests are not limited.
//!
//! Not here: limits on spending (budgets, [`crate::store::StoreView`]), or on unauthenticated
//! requests (those are answered 401 before any database write).

use std::time::Duration;

use axum::Extension;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use sqlx::Row as _;

use crate::member::MemberId;
use crate::store::{PgStore, PgStoreError};
use crate::webhooks::db::NOW;

/// The window every rate is counted over.
const WINDOW_MS: i64 = 60_000;

/// A number of requests a minute; 0 is "no limit" (a member's override only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate(pub u32);

impl Rate {
    /// `120/min`, `120/minute` or `120`; `none` (or `0`) is no limit.
    pub fn parse(text: &str) -> Option<Rate> {
        let t = text.trim().to_ascii_lowercase();
        if t == "none" || t == "unlimited" {
            return Some(Rate(0));
        }
        let n = t.strip_suffix("/minute").or_else(|| t.strip_suffix("/min")).unwrap_or(&t);
        n.trim().parse::<u32>().ok().filter(|n| *n <= 60_000).map(Rate)
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 == 0 { f.write_str("none") } else { write!(f, "{}/min", self.0) }
    }
}

/// The gateway's limits: cheap to clone.
#[derive(Clone, Debug)]
pub struct Limits {
    store: PgStore,
    default: Option<Rate>,
}

/// What one request came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Let through (or not limited).
    Allowed,
    /// Over `rate`; the next request passes after `retry_after`.
    Limited { rate: Rate, retry_after: Duration },
}

impl Limits {
    /// Limits on `store`'s database, `default` for members without their own rate.
    pub fn new(store: PgStore, default: Option<Rate>) -> Limits {
        Limits { store, default: default.filter(|r| r.0 > 0) }
    }

    /// Counts one request of `member` and says whether it may go on.
    pub async fn check(&self, member: &MemberId) -> Result<Verdict, PgStoreError> {
        let default = self.default.map(|r| i64::from(r.0));
        // One statement: the member's rate (its own, else the default), and the conditional
        // push of its arrival time; on a refusal, the time as it was (the CTEs share one
        // snapshot), from which the wait follows. The update reads the clock itself, after it
        // has the member's row: a request that queued behind others for the row is judged at
        // the time it gets it, not at the time it started (which could refuse it at the
        // boundary of a burst that fits).
        let row = sqlx::query(&format!(
            "WITH lim AS ( \
                 SELECT COALESCE(m.rate_per_minute::BIGINT, $2::BIGINT) AS n \
                 FROM members m WHERE m.id = $1), \
             t AS (SELECT n, ({WINDOW_MS} / n)::BIGINT AS step, {NOW} AS now \
                   FROM lim WHERE n > 0), \
             up AS ( \
                 INSERT INTO rate_limits (member, tat) SELECT $1, t.now + t.step FROM t \
                 ON CONFLICT (member) DO UPDATE \
                     SET tat = GREATEST(rate_limits.tat, {NOW}) + (SELECT step FROM t) \
                     WHERE GREATEST(rate_limits.tat, {NOW}) + (SELECT step FROM t) \
                           - {NOW} <= {WINDOW_MS} \
                 RETURNING tat) \
             SELECT t.n, t.step, t.now, (SELECT count(*) FROM up) AS passed, \
                    (SELECT r.tat FROM rate_limits r WHERE r.member = $1) AS tat \
             FROM t"
        ))
        .bind(member.as_str())
        .bind(default)
        .fetch_optional(self.store.pool())
        .await?;
        // No row: no limit for this member.
        let Some(row) = row else { return Ok(Verdict::Allowed) };
        let passed: i64 = row.try_get("passed")?;
        if passed > 0 {
            return Ok(Verdict::Allowed);
        }
        let n: i64 = row.try_get("n")?;
        let step: i64 = row.try_get("step")?;
        let now: i64 = row.try_get("now")?;
        let tat: Option<i64> = row.try_get("tat")?;
        let wait = tat.map_or(0, |tat| tat.max(now) + step - now - WINDOW_MS).max(0);
        Ok(Verdict::Limited {
            rate: Rate(u32::try_from(n).unwrap_or(u32::MAX)),
            retry_after: Duration::from_millis(wait as u64),
        })
    }
}

/// Sets `member`'s own rate: `Some(Rate(0))` for no limit, `None` for the gateway's default.
pub async fn set_member_rate(
    store: &PgStore,
    member: &MemberId,
    rate: Option<Rate>,
) -> Result<(), PgStoreError> {
    let done = sqlx::query("UPDATE members SET rate_per_minute = $2 WHERE id = $1")
        .bind(member.as_str())
        .bind(rate.map(|r| i64::from(r.0)))
        .execute(store.pool())
        .await?;
    if done.rows_affected() == 0 {
        return Err(PgStoreError::UnknownMember(member.to_string()));
    }
    Ok(())
}

/// `PUT /admin/members/{name}/rate-limit`: `{"rate": "30/min"}`, `{"rate": "none"}` (no
/// limit) or `{"rate": null}` (the gateway's default).
#[derive(Debug, serde::Deserialize)]
pub struct RateBody {
    pub rate: Option<String>,
}

pub async fn admin_set_rate(
    State(gw): State<crate::Gateway>,
    axum::extract::Path(name): axum::extract::Path<String>,
    axum::Json(body): axum::Json<RateBody>,
) -> Response {
    let rate = match body.rate.as_deref().map(Rate::parse) {
        Some(None) => {
            return crate::api::error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "`rate` is not a rate",
                Some("give it as `30/min`, `none` (no limit), or null for the gateway's default"),
            );
        }
        Some(r) => r,
        None => None,
    };
    let member = MemberId(name);
    match set_member_rate(&gw.store, &member, rate).await {
        Ok(()) => axum::Json(serde_json::json!({
            "member": member.as_str(),
            "rate": rate.map(|r| r.to_string()),
        }))
        .into_response(),
        Err(e) => {
            let status = if matches!(e, PgStoreError::UnknownMember(_)) {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            crate::api::error(status, "store", &e.to_string(), e.hint().as_deref())
        }
    }
}

/// The answer to a limited request.
pub fn too_many(rate: Rate, retry_after: Duration) -> Response {
    let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
    let message = format!(
        "Your key made more than {rate} requests; nothing was done with this one. Try again in {seconds} s"
    );
    let mut response = crate::api::error(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limit_exceeded",
        &message,
        Some(&format!(
            "wait for the Retry-After seconds ({seconds}), then send it again; if you need more, ask the gateway's admin (`conjure serve admin member rate-limit NAME N/min`)"
        )),
    );
    if let Ok(v) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// The middleware, after the key check: counts a member's request, or answers 429.
/// It also names the caller for the access log ([`crate::logs::Who`]): it is the first layer
/// that knows who that is.
pub async fn limit(
    State(limits): State<Limits>,
    member: Option<Extension<MemberId>>,
    admin: Option<Extension<crate::keys::Admin>>,
    who: Option<Extension<crate::logs::Who>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(Extension(who)) = &who {
        match (&member, &admin) {
            (Some(Extension(m)), _) => who.set(m.as_str()),
            (None, Some(_)) => who.set("admin"),
            (None, None) => {}
        }
    }
    let Some(Extension(member)) = member else { return next.run(request).await };
    match limits.check(&member).await {
        Ok(Verdict::Allowed) => next.run(request).await,
        Ok(Verdict::Limited { rate, retry_after }) => too_many(rate, retry_after),
        Err(e) => crate::api::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            &e.to_string(),
            e.hint().as_deref(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_with_or_without_their_unit() {
        assert_eq!(Rate::parse("120/min"), Some(Rate(120)));
        assert_eq!(Rate::parse(" 5/minute "), Some(Rate(5)));
        assert_eq!(Rate::parse("30"), Some(Rate(30)));
        assert_eq!(Rate::parse("none"), Some(Rate(0)));
        assert_eq!(Rate::parse("0"), Some(Rate(0)));
        for bad in ["", "fast", "-1/min", "10/s", "70000/min"] {
            assert_eq!(Rate::parse(bad), None, "{bad}");
        }
        assert_eq!(Rate(120).to_string(), "120/min");
        assert_eq!(Rate(0).to_string(), "none");
    }

    #[test]
    fn a_limited_answer_is_429_with_retry_after_and_a_hint() {
        let r = too_many(Rate(10), Duration::from_millis(5200));
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "6");
    }
}
