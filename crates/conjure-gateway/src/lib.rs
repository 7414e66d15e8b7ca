//! The team gateway (`conjure serve`, issue 14): many people and agents spending through one
//! set of provider accounts, with every money rule of the CLI, on Postgres.
//!
//! - [`store::PgStore`]: the core's [`conjure_core::JobStore`] on Postgres (its own
//!   migrations; reservations that queue on row locks so that any number of connections and
//!   instances cannot overspend), passing the same contract suite as the SQLite journal; and
//!   [`store::StoreView`], the same store reserving for a member and a project, or writing a
//!   background poll's answer under its lease.
//! - [`admin`]: members, projects (and who may name them), budgets and usage; [`keys`]: API
//!   keys (kept hashed) and the middleware that maps a request's key to its
//!   [`member::MemberId`]; [`approvals`]: quotes a wire client could not approve (402) and their
//!   approval.
//! - [`api`] and [`katana`]: Katana's wire endpoints for members, the approve endpoint and the
//!   admin API; [`chat`]: Katana's text wire (`/v1/chat/completions`, OpenAI's shape: whole,
//!   streamed, async); [`imaginepro`]: ImaginePro's wire (`/api/v1`, both path families); all
//!   three down one paid path (`api::clear`, `api::send`); [`server`]: the routes and a graceful
//!   stop, with `/healthz`.
//! - [`webhooks`]: a member's endpoints, the outbox a job change writes its event to (in the
//!   same transaction), and the leased delivery worker every instance runs, signing each
//!   delivery and refusing private addresses; [`metrics`]: `/metrics` in Prometheus text.
//! - [`leases`]: stateless instances: each instance's heartbeat row, the settling of a stopped
//!   instance's jobs (the CLI's orphan rule), and the background poller that polls submitted
//!   jobs under expiring leases, so that a killed instance's jobs are finished by another.
//! - [`own`]: conjure's own HTTP API for members under `/conjure/v1` (quote, spend a quote's
//!   token once, jobs, status, outputs, spend, events as SSE); [`openapi`]: its OpenAPI 3.1
//!   document at `/openapi.json`; [`storage`]: the directory (shared by the instances) that
//!   member jobs' output files are downloaded into and served from.
//! - [`turns`]: one request in flight per provider account (or the configured few) across
//!   every instance, with Postgres advisory locks held for a paid POST's span.
//! - [`ratelimit`]: requests a minute per member, counted in Postgres so that the limit holds
//!   for the whole gateway, answered 429 with `Retry-After`.
//! - [`logs`]: one access-log line per request (member name, route template, status, latency,
//!   job; never a key) and a JSON-lines formatter for every event.
//! - [`redact::redact_url`] keeps database passwords out of messages.

pub mod admin;
pub mod api;
pub mod approvals;
pub mod chat;
pub mod imaginepro;
pub mod katana;
pub mod keys;
pub mod leases;
pub mod logs;
pub mod member;
pub mod metrics;
pub mod openapi;
pub mod own;
pub mod ratelimit;
pub mod redact;
pub mod server;
pub mod storage;
pub mod store;
pub mod turns;
pub mod webhooks;

pub use api::Gateway;
pub use store::{PgStore, PgStoreError, Scope, StoreView};

/// Waits for every task of one background round (polls, webhook deliveries): what succeeded,
/// or the first error when nothing did (a later error is logged, the round's successes kept).
/// A task that panicked is logged; its claim expires and the work is taken up again.
pub(crate) async fn join_round<T: 'static, E: std::fmt::Display + 'static>(
    mut running: tokio::task::JoinSet<Result<T, E>>,
    what: &str,
) -> Result<Vec<T>, E> {
    let mut done = Vec::new();
    let mut first_error = None;
    while let Some(joined) = running.join_next().await {
        match joined {
            Ok(Ok(t)) => done.push(t),
            Ok(Err(e)) => first_error = first_error.or(Some(e)),
            Err(e) => tracing::warn!(error = %e, "{what} panicked"),
        }
    }
    match first_error {
        Some(e) if done.is_empty() => Err(e),
        Some(e) => {
            tracing::warn!(error = %e, "{what} failed");
            Ok(done)
        }
        None => Ok(done),
    }
}

/// Now, in unix milliseconds (the stores' clock).
pub(crate) fn timefmt_now() -> i64 {
    conjure_app::timefmt::now_ms()
}
