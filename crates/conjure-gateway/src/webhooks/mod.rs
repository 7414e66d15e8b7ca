//! Webhooks (issue 14, item 6): job events delivered, signed, to URLs members register, retried
//! until they are acknowledged, with a log the member can read.
//!
//! The parts, in the order an event travels:
//! - **Endpoints** ([`router`]): a member registers a URL (and optionally the event types it
//!   wants), lists and deletes them, and reads each one's delivery log. The gateway generates
//!   the endpoint's signing secret and shows it once, in the answer that creates it. The member
//!   is the caller the key check put in the request ([`MemberId`]); a member sees and deletes
//!   only their own endpoints, and another member's look exactly like missing ones.
//! - **The outbox** ([`enqueue`]): the code that changes a job records its event on the same
//!   transaction, so an event exists if and only if its job change committed. Enqueueing fans
//!   the event out to one delivery row per matching endpoint.
//! - **The worker** ([`Worker`]): any number of instances run one; each claims due deliveries
//!   under a lease that expires (see [`db`] for the claim), POSTs them signed in the Standard
//!   Webhooks layout ([`sign`]), and records every attempt. Failures are retried with
//!   exponential backoff and jitter ([`backoff`]) up to [`Config::max_attempts`]. Delivery is
//!   *at least once*: every attempt of an event carries the same `webhook-id`, which receivers
//!   use to drop duplicates (an instance killed after the POST but before recording it leads
//!   to a second POST from the instance that takes over).
//! - **SSRF** ([`ssrf`]): URLs resolving to non-public addresses are refused at registration and
//!   again at every delivery, unless [`Config::allow_private`].
//!
//! Event types and when they fire are [`EventType`]'s. What this module does not do: it has no
//! event producer (the job code calls [`enqueue`]); it does not authenticate anyone (the key
//! check in front of [`router`] does); it does not order events (a retried event may arrive
//! after a later one: the body's `timestamp` and `data` say which is newer); and it keeps the
//! log forever (no pruning yet).

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use sqlx::PgConnection;

use crate::member::MemberId;

mod api;
pub mod backoff;
pub mod db;
pub mod event;
pub mod sign;
pub mod ssrf;
mod worker;

pub use api::{MAX_ENDPOINTS, router};
pub use db::{AttemptView, Claim, DeliveryView};
pub use event::EventType;
pub use sign::Secret;
pub use worker::{Attempted, Outcome, Worker};

/// How webhooks behave: the SSRF switch, the retry schedule and the worker's pace. The
/// defaults suit production; tests shorten the delays.
#[derive(Clone, Debug)]
pub struct Config {
    /// Allow endpoints on loopback and private addresses (`--allow-private-webhooks`): for tests
    /// and gateways whose receivers are on the same private network.
    pub allow_private: bool,
    /// Attempts per delivery before it is marked failed.
    pub max_attempts: u32,
    /// The wait before the first retry (nominal; jittered), doubling after each failure.
    pub retry_base: Duration,
    /// The longest wait between attempts.
    pub retry_max: Duration,
    /// How long one POST may take, connection included.
    pub request_timeout: Duration,
    /// How long a claim keeps other instances off a delivery. Longer than `request_timeout`, or
    /// a slow receiver would get a second copy while the first is still being sent.
    pub lease: Duration,
    /// Deliveries claimed (and sent concurrently) at once.
    pub batch: u32,
    /// How long an idle worker waits before looking for due deliveries again.
    pub poll_interval: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            allow_private: false,
            max_attempts: 10,
            retry_base: Duration::from_secs(30),
            retry_max: Duration::from_secs(6 * 3600),
            request_timeout: Duration::from_secs(15),
            lease: Duration::from_secs(60),
            batch: 32,
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// A registered endpoint, as its member sees it (never with its secret).
#[derive(Clone, Debug, Serialize)]
pub struct Endpoint {
    pub id: String,
    pub url: String,
    /// `None`: every event type.
    pub event_types: Option<Vec<String>>,
    pub description: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// A failure of the webhook code.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("The webhook URL is not usable: {0}")]
    InvalidUrl(ssrf::UrlProblem),

    #[error(transparent)]
    NonPublic(#[from] ssrf::Refused),

    #[error("Could not resolve the webhook host `{host}`")]
    Resolve {
        host: String,
        #[source]
        source: std::io::Error,
    },

    #[error("`{0}` is not a webhook event type")]
    UnknownEventType(String),

    #[error("The description is longer than {MAX_DESCRIPTION} characters")]
    DescriptionTooLong,

    #[error("You have {0} webhook endpoints already, the most a member may have")]
    TooManyEndpoints(i64),

    #[error("No webhook endpoint `{0}`")]
    NotFound(String),

    #[error("This request has no member: webhooks are managed with a member key")]
    NoMember,

    #[error("The webhook lease ({lease:?}) must be longer than the request timeout ({timeout:?})")]
    LeaseTooShort { lease: Duration, timeout: Duration },

    #[error("Could not build the webhook HTTP client")]
    Client(#[source] reqwest::Error),

    #[error("Could not encode the event as JSON")]
    Encode(#[from] serde_json::Error),

    #[error("The system's random number generator failed")]
    Random(#[from] getrandom::Error),

    #[error("Postgres returned an error")]
    Database(#[from] sqlx::Error),
}

/// The longest endpoint description.
pub const MAX_DESCRIPTION: usize = 500;

impl WebhookError {
    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        let types = || EventType::ALL.map(EventType::as_str).join(", ");
        match self {
            WebhookError::InvalidUrl(_) => Some(
                "Give an absolute http:// or https:// URL, such as https://example.com/hooks"
                    .into(),
            ),
            WebhookError::NonPublic(_) => Some(
                "Webhooks go only to public addresses. Use a public URL, or run the gateway with \
                 --allow-private-webhooks if its receivers are on a private network"
                    .into(),
            ),
            WebhookError::Resolve { .. } => {
                Some("Check the host name; it must resolve from the gateway".into())
            }
            WebhookError::UnknownEventType(_) => Some(format!("The event types are: {}", types())),
            WebhookError::DescriptionTooLong => Some("Shorten the description".into()),
            WebhookError::TooManyEndpoints(_) => Some(
                "Delete one you no longer use (DELETE /v1/webhooks/ID), or receive several event \
                 types on one endpoint"
                    .into(),
            ),
            WebhookError::NotFound(_) => Some("List your endpoints with GET /v1/webhooks".into()),
            WebhookError::NoMember => {
                Some("Send the request with a member key (Authorization: Bearer ...)".into())
            }
            WebhookError::LeaseTooShort { .. } => {
                Some("Lengthen the lease or shorten the request timeout".into())
            }
            WebhookError::Database(_) => {
                Some("Check that the gateway's database is up and migrated".into())
            }
            WebhookError::Client(_) | WebhookError::Encode(_) | WebhookError::Random(_) => None,
        }
    }
}

/// Records an event of `event_type` with `data` for `member` on `conn` (the transaction that
/// records the job change it describes; commit it and the event exists, roll it back and it
/// does not), and queues one delivery per endpoint of theirs that takes the type. Returns the
/// event's id (its `webhook-id`) and how many deliveries were queued. The body sent is
/// `{"type": ..., "timestamp": ..., "data": data}`; `data` should name the job (`{"job_id",
/// "state", "provider", ...}`) and must hold no secret.
pub async fn enqueue(
    conn: &mut PgConnection,
    member: &MemberId,
    event_type: EventType,
    data: &serde_json::Value,
) -> Result<(String, u64), WebhookError> {
    let at = crate::timefmt_now();
    let id = event::new_id("msg_")?;
    let body = event::body(event_type, at, data)?;
    let queued =
        db::insert_event(conn, member.as_str(), &id, event_type.as_str(), &body, at).await?;
    Ok((id, queued))
}

/// The state shared by the handlers.
#[derive(Clone)]
struct Hooks {
    pool: sqlx::PgPool,
    config: Arc<Config>,
}
