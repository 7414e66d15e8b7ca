//! The delivery worker: claims due deliveries (see [`super::db`] for how claims and leases keep
//! instances apart), POSTs each one signed, and records the attempt and what comes next.
//!
//! One attempt is one POST of the event's stored body with the Standard Webhooks headers:
//! `webhook-id` (the event's id, the same on every attempt and to every endpoint, for receivers
//! to drop duplicates), `webhook-timestamp` (this attempt's time, unix seconds) and
//! `webhook-signature` (`v1,` + the HMAC of both and the body). A 2xx answer delivers it;
//! anything else (another status, a redirect, which is never followed, a timeout, a refused
//! connection, an address refused by the SSRF check) is a failed attempt, retried after
//! [`super::backoff::retry_delay`] until [`Config::max_attempts`]. The HTTP client sends
//! nothing on its own: no redirects, no proxy (a proxy would resolve the name itself, past
//! the check), no retries; its resolver is [`CheckedResolver`].
//!
//! [`Worker::run`] loops until its shutdown future resolves; a round in progress finishes
//! first, so no attempt is left in flight by a graceful stop. A killed instance leaves its
//! claims to expire: another instance's worker retries them.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::task::JoinSet;

use super::db::{self, Claim, Next};
use super::ssrf::{self, CheckedResolver, Refused, Target};
use super::{Config, WebhookError, backoff, sign};
use crate::metrics::{Metrics, WebhookAttempt};

const USER_AGENT: &str = concat!("conjure-gateway/", env!("CARGO_PKG_VERSION"), " (webhooks)");

/// Delivers webhooks. Cheap to clone; clones share the HTTP client.
#[derive(Clone)]
pub struct Worker {
    pool: PgPool,
    config: Arc<Config>,
    client: reqwest::Client,
    metrics: Option<Arc<Metrics>>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").field("config", &self.config).finish_non_exhaustive()
    }
}

/// What one attempt came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempted {
    pub delivery_id: i64,
    pub attempt: i32,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub outcome: Outcome,
}

/// Where a delivery stands after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Failed; tried again after the delay.
    Retrying(Duration),
    /// Failed, and it was the last attempt allowed.
    Failed,
    /// The claim's lease had gone (expired and taken by another worker, or the endpoint was
    /// deleted): the attempt is logged, the delivery is someone else's.
    Superseded,
}

impl Worker {
    /// A worker delivering from `pool` (the gateway's database), counting into `metrics`.
    pub fn new(
        pool: PgPool,
        config: Config,
        metrics: Option<Arc<Metrics>>,
    ) -> Result<Worker, WebhookError> {
        if config.lease <= config.request_timeout {
            return Err(WebhookError::LeaseTooShort {
                lease: config.lease,
                timeout: config.request_timeout,
            });
        }
        let client = reqwest::Client::builder()
            .tls_backend_rustls()
            .user_agent(USER_AGENT)
            .dns_resolver(CheckedResolver { allow_private: config.allow_private })
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .retry(reqwest::retry::never())
            .timeout(config.request_timeout)
            .build()
            .map_err(WebhookError::Client)?;
        Ok(Worker { pool, config: Arc::new(config), client, metrics })
    }

    /// Delivers until `shutdown` resolves, finishing the round in progress first. Database
    /// errors are logged and retried after the poll interval.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let busy = match self.run_once().await {
                Ok(attempts) => !attempts.is_empty(),
                Err(e) => {
                    tracing::warn!(error = %e, hint = ?e.hint(), "webhook delivery round failed");
                    false
                }
            };
            let pause = if busy { Duration::ZERO } else { self.config.poll_interval };
            tokio::select! {
                biased;
                () = &mut shutdown => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// One round: fails deliveries whose last attempt was abandoned, claims up to
    /// [`Config::batch`] due deliveries and attempts them all concurrently.
    pub async fn run_once(&self) -> Result<Vec<Attempted>, WebhookError> {
        let abandoned = db::fail_abandoned(&self.pool, self.config.max_attempts).await?;
        if let Some(m) = &self.metrics {
            m.webhook_deliveries_failed(abandoned);
        }
        let claims = self.claim().await?;
        let mut running = JoinSet::new();
        for claim in claims {
            let worker = self.clone();
            running.spawn(async move { worker.deliver(claim).await });
        }
        crate::join_round(running, "a webhook attempt").await
    }

    /// Claims up to [`Config::batch`] due deliveries for this worker (their attempts are
    /// started and logged). Each must then be passed to [`Worker::deliver`]; one that never
    /// is (the instance stopped) is retried by any worker once its lease expires.
    pub async fn claim(&self) -> Result<Vec<Claim>, WebhookError> {
        let token = super::event::new_id("lease_")?;
        db::claim(
            &self.pool,
            &token,
            self.config.batch,
            self.config.lease,
            self.config.max_attempts,
        )
        .await
    }

    /// Makes the claimed attempt and records it.
    pub async fn deliver(&self, claim: Claim) -> Result<Attempted, WebhookError> {
        let (status_code, error, kind) = self.post(&claim).await;
        let next = match kind {
            WebhookAttempt::Delivered => Next::Delivered,
            _ if claim.attempt >= i32::try_from(self.config.max_attempts).unwrap_or(i32::MAX) => {
                Next::Failed
            }
            _ => {
                let mut random = [0_u8; 8];
                getrandom::fill(&mut random)?;
                Next::RetryIn(backoff::retry_delay(
                    u32::try_from(claim.attempt).unwrap_or(1),
                    self.config.retry_base,
                    self.config.retry_max,
                    u64::from_le_bytes(random),
                ))
            }
        };
        let held = db::finish(&self.pool, &claim, status_code, error.as_deref(), next).await?;
        let outcome = match next {
            _ if !held => Outcome::Superseded,
            Next::Delivered => Outcome::Delivered,
            Next::RetryIn(d) => Outcome::Retrying(d),
            Next::Failed => Outcome::Failed,
        };
        if let Some(m) = &self.metrics {
            m.observe_webhook_attempt(kind);
            if outcome == Outcome::Failed {
                m.webhook_deliveries_failed(1);
            }
        }
        Ok(Attempted {
            delivery_id: claim.delivery_id,
            attempt: claim.attempt,
            status_code,
            error,
            outcome,
        })
    }

    /// The POST: the status it was answered with, or why there was none.
    async fn post(&self, claim: &Claim) -> (Option<u16>, Option<String>, WebhookAttempt) {
        let url = match ssrf::parse_url(&claim.url) {
            Ok((url, target)) => {
                // A literal address never reaches the resolver, so it is checked here.
                if let (Target::Literal(ip), false) = (target, self.config.allow_private)
                    && let Err(refused) = super::api::check_literal(ip)
                {
                    return (None, Some(refusal(&refused)), WebhookAttempt::Refused);
                }
                url
            }
            Err(problem) => {
                let error = format!("The endpoint's URL is not usable: {problem}");
                return (None, Some(error), WebhookAttempt::Refused);
            }
        };
        let timestamp = crate::timefmt_now() / 1000;
        let signature =
            sign::signature(&claim.secret, &claim.event_id, timestamp, claim.body.as_bytes());
        let sent = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &claim.event_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(claim.body.clone())
            .send()
            .await;
        match sent {
            Ok(response) => {
                let status = response.status();
                if status.is_success() {
                    (Some(status.as_u16()), None, WebhookAttempt::Delivered)
                } else {
                    let mut error = format!("The endpoint answered {status}");
                    if status.is_redirection() {
                        error.push_str(" (redirects are not followed: register the final URL)");
                    }
                    (Some(status.as_u16()), Some(error), WebhookAttempt::HttpError)
                }
            }
            Err(e) => match find_refusal(&e) {
                Some(refused) => (None, Some(refusal(refused)), WebhookAttempt::Refused),
                None => (
                    None,
                    Some(transport_error(&e, self.config.request_timeout)),
                    WebhookAttempt::TransportError,
                ),
            },
        }
    }
}

fn refusal(refused: &Refused) -> String {
    format!("Not sent: {refused}; webhooks go only to public addresses")
}

/// The SSRF refusal behind a failed request, if that is why it failed.
fn find_refusal(e: &reqwest::Error) -> Option<&Refused> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(refused) = err.downcast_ref::<Refused>() {
            return Some(refused);
        }
        source = err.source();
    }
    None
}

/// A transport failure in words, without the URL (it may carry a token of the member's).
fn transport_error(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("No answer within {timeout:?}");
    }
    let mut message = if e.is_connect() {
        "Could not connect".to_owned()
    } else {
        "The request failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(err) = source {
        message.push_str(": ");
        message.push_str(&err.to_string());
        source = err.source();
    }
    message
}
