//! `GET /metrics`: the gateway's numbers in the Prometheus text exposition format (0.0.4),
//! written by hand (the format is a few lines of text; a metrics crate would cost more to
//! build than this file).
//!
//! Two kinds of numbers. **Counters and the latency histogram live in this process**
//! ([`Metrics`], atomics and one short lock): what this instance did since it started
//! (reservations accepted and refused, provider request latency, webhook attempts by outcome
//! and deliveries given up on). Prometheus sums them over instances. **Gauges are read from
//! Postgres at scrape time**: jobs by provider, state and ledger, money spent by provider and
//! ledger (credits as providers reported them, and dollars where the price per credit is
//! known), the exposure (quotes of jobs that may have been charged unseen), webhook deliveries
//! by status. They describe the whole gateway, so every instance
//! reports the same values (aggregate them with `max`, not `sum`). If the database does not
//! answer, the scrape still succeeds with the in-process numbers and
//! `conjure_database_up 0`. The paid path reports into [`Metrics`] through
//! [`Metrics::observe_provider`] and [`Metrics::observe_reservation`]; the webhook worker
//! through the webhook methods. No label holds a member, key or URL.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use sqlx::PgPool;

/// The `Content-Type` of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds (seconds) of the provider latency histogram's buckets: provider calls take
/// from tens of milliseconds (a status poll) to minutes (a synchronous generation).
pub const LATENCY_BUCKETS: [f64; 12] =
    [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];

/// How a webhook attempt ended, for the attempts counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookAttempt {
    /// Answered 2xx.
    Delivered,
    /// Answered with another status.
    HttpError,
    /// No answer: connection refused, timeout, TLS...
    TransportError,
    /// Not sent: the address was refused (SSRF) or the URL unusable.
    Refused,
}

impl WebhookAttempt {
    const ALL: [WebhookAttempt; 4] = [
        WebhookAttempt::Delivered,
        WebhookAttempt::HttpError,
        WebhookAttempt::TransportError,
        WebhookAttempt::Refused,
    ];

    fn label(self) -> &'static str {
        match self {
            WebhookAttempt::Delivered => "delivered",
            WebhookAttempt::HttpError => "http_error",
            WebhookAttempt::TransportError => "transport_error",
            WebhookAttempt::Refused => "refused",
        }
    }
}

/// One histogram's state: per-bucket counts (not cumulative), the count and the sum.
#[derive(Clone, Debug, Default)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// This instance's counters. Shared (`Arc`) by everything that reports.
#[derive(Debug, Default)]
pub struct Metrics {
    reservations_accepted: AtomicU64,
    reservations_refused: AtomicU64,
    provider_latency: Mutex<BTreeMap<String, Histogram>>,
    webhook_attempts: [AtomicU64; 4],
    webhook_failed: AtomicU64,
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// A provider request took `seconds` (the paid path calls this around every provider call).
    pub fn observe_provider(&self, provider: &str, seconds: f64) {
        if !seconds.is_finite() || seconds < 0.0 {
            return;
        }
        // Poisoning only means another thread panicked mid-update of plain numbers; they are
        // still numbers, so keep counting.
        let mut all =
            self.provider_latency.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let h = all.entry(provider.to_owned()).or_default();
        if let Some(i) = LATENCY_BUCKETS.iter().position(|bound| seconds <= *bound) {
            h.buckets[i] += 1;
        }
        h.count += 1;
        h.sum += seconds;
    }

    /// A reservation was made (`accepted`) or refused by the money rules.
    pub fn observe_reservation(&self, accepted: bool) {
        let counter =
            if accepted { &self.reservations_accepted } else { &self.reservations_refused };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A webhook attempt ended as `kind`.
    pub fn observe_webhook_attempt(&self, kind: WebhookAttempt) {
        let i = WebhookAttempt::ALL.iter().position(|k| *k == kind).unwrap_or(0);
        self.webhook_attempts[i].fetch_add(1, Ordering::Relaxed);
    }

    /// `n` webhook deliveries were given up on (attempts exhausted).
    pub fn webhook_deliveries_failed(&self, n: u64) {
        self.webhook_failed.fetch_add(n, Ordering::Relaxed);
    }

    /// The exposition: these counters, and `gauges` if the database answered.
    pub fn render(&self, gauges: Option<&Gauges>) -> String {
        let mut x = Exposition::default();
        x.family(
            "conjure_database_up",
            "Whether the database answered this scrape (1) or not (0).",
            "gauge",
        );
        x.sample("conjure_database_up", &[], u8::from(gauges.is_some()));
        if let Some(g) = gauges {
            g.render(&mut x);
        }
        x.family(
            "conjure_reservations_total",
            "Reservations decided by this instance, by outcome (refused: a money rule said no).",
            "counter",
        );
        let accepted = self.reservations_accepted.load(Ordering::Relaxed);
        let refused = self.reservations_refused.load(Ordering::Relaxed);
        x.sample("conjure_reservations_total", &[("outcome", "accepted")], accepted);
        x.sample("conjure_reservations_total", &[("outcome", "refused")], refused);

        let name = "conjure_provider_request_duration_seconds";
        x.family(name, "Provider request latency seen by this instance, by provider.", "histogram");
        let latency =
            self.provider_latency.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        for (provider, h) in &latency {
            let provider = provider.as_str();
            let mut cumulative = 0;
            for (bound, n) in LATENCY_BUCKETS.iter().zip(h.buckets) {
                cumulative += n;
                let le = bound.to_string();
                x.sample(
                    &format!("{name}_bucket"),
                    &[("provider", provider), ("le", &le)],
                    cumulative,
                );
            }
            x.sample(&format!("{name}_bucket"), &[("provider", provider), ("le", "+Inf")], h.count);
            x.sample(&format!("{name}_sum"), &[("provider", provider)], Float(h.sum));
            x.sample(&format!("{name}_count"), &[("provider", provider)], h.count);
        }

        x.family(
            "conjure_webhook_attempts_total",
            "Webhook POSTs attempted by this instance, by outcome.",
            "counter",
        );
        for (kind, counter) in WebhookAttempt::ALL.iter().zip(&self.webhook_attempts) {
            x.sample(
                "conjure_webhook_attempts_total",
                &[("outcome", kind.label())],
                counter.load(Ordering::Relaxed),
            );
        }
        x.family(
            "conjure_webhook_delivery_failures_total",
            "Webhook deliveries this instance gave up on (every attempt failed).",
            "counter",
        );
        x.sample(
            "conjure_webhook_delivery_failures_total",
            &[],
            self.webhook_failed.load(Ordering::Relaxed),
        );
        x.out
    }
}

/// The numbers read from Postgres at scrape time.
#[derive(Clone, Debug, Default)]
pub struct Gauges {
    /// (provider, state, ledger, jobs).
    pub jobs: Vec<(String, String, &'static str, i64)>,
    /// (provider, ledger, credits reported spent, dollars spent where priced).
    pub spend: Vec<(String, &'static str, f64, f64)>,
    /// (provider, ledger, credits quoted for jobs that may have been charged unseen:
    /// [`conjure_core::policy::is_exposure`]).
    pub exposure: Vec<(String, &'static str, f64)>,
    /// (status, deliveries); `None` if the webhook tables could not be read.
    pub webhook_deliveries: Option<Vec<(String, i64)>>,
}

fn ledger(sandbox: bool) -> &'static str {
    if sandbox { "sandbox" } else { "real" }
}

impl Gauges {
    /// Reads them. Fails if the job tables cannot be read; the webhook tables' absence (a
    /// database not migrated that far) only leaves their gauge out.
    pub async fn read(pool: &PgPool) -> Result<Gauges, sqlx::Error> {
        let jobs: Vec<(String, String, bool, i64)> = sqlx::query_as(
            "SELECT provider, state, sandbox, count(*) FROM jobs \
             GROUP BY provider, state, sandbox ORDER BY provider, state, sandbox",
        )
        .fetch_all(pool)
        .await?;
        // Credits in tenths; dollars = tenths / 10 * micro-dollars per credit / 1e6.
        let spend: Vec<(String, bool, i64, f64)> = sqlx::query_as(
            "SELECT provider, sandbox, coalesce(sum(credits_spent_tenths), 0)::BIGINT, \
                 coalesce(sum(credits_spent_tenths::FLOAT8 * usd_per_credit_micros::FLOAT8), 0) \
                     / 1e7 \
             FROM jobs GROUP BY provider, sandbox ORDER BY provider, sandbox",
        )
        .fetch_all(pool)
        .await?;
        let exposed: Vec<&str> = conjure_core::JobState::ALL
            .into_iter()
            .filter(|s| conjure_core::policy::is_exposure(*s))
            .map(conjure_core::JobState::as_str)
            .collect();
        let exposure: Vec<(String, bool, i64)> = sqlx::query_as(
            "SELECT provider, sandbox, coalesce(sum(quoted_credits_tenths), 0)::BIGINT FROM jobs \
             WHERE state = ANY($1) GROUP BY provider, sandbox ORDER BY provider, sandbox",
        )
        .bind(exposed)
        .fetch_all(pool)
        .await?;
        let webhook_deliveries = crate::webhooks::db::count_by_status(pool).await.ok();
        Ok(Gauges {
            jobs: jobs.into_iter().map(|(p, s, sb, n)| (p, s, ledger(sb), n)).collect(),
            spend: spend
                .into_iter()
                .map(|(p, sb, t, usd)| (p, ledger(sb), t as f64 / 10.0, usd))
                .collect(),
            exposure: exposure
                .into_iter()
                .map(|(p, sb, t)| (p, ledger(sb), t as f64 / 10.0))
                .collect(),
            webhook_deliveries,
        })
    }

    fn render(&self, x: &mut Exposition) {
        x.family("conjure_jobs", "Jobs in the store, by provider, state and ledger.", "gauge");
        for (provider, state, ledger, n) in &self.jobs {
            let labels =
                [("provider", provider.as_str()), ("state", state.as_str()), ("ledger", *ledger)];
            x.sample("conjure_jobs", &labels, n);
        }
        x.family(
            "conjure_spent_credits",
            "Credits providers reported as charged, by provider and ledger.",
            "gauge",
        );
        for (provider, ledger, credits, _) in &self.spend {
            let labels = [("provider", provider.as_str()), ("ledger", *ledger)];
            x.sample("conjure_spent_credits", &labels, Float(*credits));
        }
        x.family(
            "conjure_spent_usd",
            "Dollars charged (reported credits times the price per credit, where known), by \
             provider and ledger.",
            "gauge",
        );
        for (provider, ledger, _, usd) in &self.spend {
            let labels = [("provider", provider.as_str()), ("ledger", *ledger)];
            x.sample("conjure_spent_usd", &labels, Float(*usd));
        }
        x.family(
            "conjure_exposure_credits",
            "Credits quoted for jobs that may have been charged without an answer (unknown, or \
             still being sent), by provider and ledger.",
            "gauge",
        );
        for (provider, ledger, credits) in &self.exposure {
            let labels = [("provider", provider.as_str()), ("ledger", *ledger)];
            x.sample("conjure_exposure_credits", &labels, Float(*credits));
        }
        if let Some(deliveries) = &self.webhook_deliveries {
            x.family(
                "conjure_webhook_deliveries",
                "Webhook deliveries in the log, by status.",
                "gauge",
            );
            for (status, n) in deliveries {
                x.sample("conjure_webhook_deliveries", &[("status", status.as_str())], n);
            }
        }
    }
}

/// A float sample value in the format's spelling (`+Inf`, `-Inf`, `NaN`).
struct Float(f64);

impl std::fmt::Display for Float {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            v if v.is_nan() => f.write_str("NaN"),
            v if v == f64::INFINITY => f.write_str("+Inf"),
            v if v == f64::NEG_INFINITY => f.write_str("-Inf"),
            v => write!(f, "{v}"),
        }
    }
}

/// The text being written.
#[derive(Default)]
struct Exposition {
    out: String,
}

impl Exposition {
    fn family(&mut self, name: &str, help: &str, kind: &str) {
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }
}

/// A label value escaped: backslash, double quote and line feed.
pub fn escape_label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// HELP text escaped: backslash and line feed.
fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

#[derive(Clone)]
struct Scrape {
    pool: PgPool,
    metrics: Arc<Metrics>,
}

/// `GET /metrics`, with its own state: the database the gauges are read from, and this
/// instance's counters (the same `Arc` the paid path and the webhook worker report into).
pub fn router(pool: PgPool, metrics: Arc<Metrics>) -> Router {
    Router::new().route("/metrics", get(scrape)).with_state(Scrape { pool, metrics })
}

async fn scrape(State(s): State<Scrape>) -> impl IntoResponse {
    let gauges = match Gauges::read(&s.pool).await {
        Ok(g) => Some(g),
        Err(e) => {
            tracing::warn!(error = %e, "metrics: the database did not answer");
            None
        }
    };
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], s.metrics.render(gauges.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_and_help_are_escaped() {
        assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label("a\nb"), "a\\nb");
        assert_eq!(escape_help("a\\b\nc \"q\""), "a\\\\b\\nc \"q\"");
    }

    #[test]
    fn floats_use_the_formats_spelling() {
        assert_eq!(Float(f64::INFINITY).to_string(), "+Inf");
        assert_eq!(Float(f64::NEG_INFINITY).to_string(), "-Inf");
        assert_eq!(Float(f64::NAN).to_string(), "NaN");
        assert_eq!(Float(0.25).to_string(), "0.25");
        assert_eq!(Float(3.0).to_string(), "3");
    }

    #[test]
    fn the_histogram_is_cumulative_and_ends_at_inf() {
        let m = Metrics::new();
        m.observe_provider("katana", 0.01);
        m.observe_provider("katana", 0.3);
        m.observe_provider("katana", 1000.0);
        m.observe_provider("katana", f64::NAN);
        let text = m.render(None);
        let bucket = |le: &str| {
            let prefix = format!(
                "conjure_provider_request_duration_seconds_bucket{{provider=\"katana\",le=\"{le}\"}} "
            );
            text.lines().find_map(|l| l.strip_prefix(&prefix)).unwrap().to_owned()
        };
        assert_eq!(bucket("0.05"), "1");
        assert_eq!(bucket("0.25"), "1");
        assert_eq!(bucket("0.5"), "2");
        assert_eq!(bucket("300"), "2");
        assert_eq!(bucket("+Inf"), "3");
        assert!(
            text.contains(
                "conjure_provider_request_duration_seconds_count{provider=\"katana\"} 3\n"
            )
        );
        assert!(text.contains(
            "conjure_provider_request_duration_seconds_sum{provider=\"katana\"} 1000.31\n"
        ));
        assert!(text.contains("conjure_database_up 0\n"));
    }

    #[test]
    fn counters_count() {
        let m = Metrics::new();
        m.observe_reservation(true);
        m.observe_reservation(true);
        m.observe_reservation(false);
        m.observe_webhook_attempt(WebhookAttempt::HttpError);
        m.webhook_deliveries_failed(2);
        let text = m.render(None);
        for line in [
            "conjure_reservations_total{outcome=\"accepted\"} 2",
            "conjure_reservations_total{outcome=\"refused\"} 1",
            "conjure_webhook_attempts_total{outcome=\"http_error\"} 1",
            "conjure_webhook_attempts_total{outcome=\"delivered\"} 0",
            "conjure_webhook_delivery_failures_total 2",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }
}
