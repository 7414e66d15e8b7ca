//! The gateway's logs (issue 14, item 7): one line per request on stderr, and the background
//! workers' events, as text or as JSON lines (`conjure serve --log-format json`).
//!
//! - **The access log** is a middleware around every route ([`access_log`]): when the answer
//!   is ready it emits one `tracing` event (target [`ACCESS_TARGET`]) with the time, this
//!   instance, a request id (the caller's `X-Request-Id` when it is a short plain token, else a
//!   new one, echoed in the answer's `X-Request-Id`), the member's name (never a key: the rate
//!   limit, which runs after the key check, writes the name into the request's [`Who`] slot),
//!   the method, the route's template (`/v1/generation-requests/{id}`, never the path with its
//!   ids or a query string), the status, the latency, and the job when a handler names one
//!   ([`with_job`]).
//! - **JSON lines** ([`JsonLines`]): a `tracing_subscriber` formatter writing each event as one
//!   JSON object (`time`, `level`, `instance`, the message and the event's fields), for log
//!   shippers. The background workers (webhook deliveries, heartbeats, orphan sweeps, polls)
//!   log through `tracing` too, so they come out the same way.
//!
//! Secrets stay out because nothing secret is ever a field: keys are never put in events, URLs
//! with passwords go through [`crate::redact`], headers are not logged.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use conjure_core::JobId;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The target of the access log's events.
pub const ACCESS_TARGET: &str = "conjure_gateway::access";

/// The header a request id travels in.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

static INSTANCE: OnceLock<String> = OnceLock::new();

/// Names this process's instance in every log line (its owner id). The first call wins.
pub fn set_instance(owner: &str) {
    let _ = INSTANCE.set(owner.to_owned());
}

fn instance() -> &'static str {
    INSTANCE.get().map_or("-", String::as_str)
}

/// Who made a request, as the middleware after the key check saw it: a member's name or
/// `admin`. Shared with the access log through the request's extensions.
#[derive(Clone, Debug, Default)]
pub struct Who(Arc<Mutex<Option<String>>>);

impl Who {
    /// Records who made the request.
    pub fn set(&self, name: &str) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(name.to_owned());
    }

    fn get(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// A job an answer is about, for the access log.
#[derive(Clone, Debug)]
pub struct LoggedJob(pub JobId);

/// `response`, naming `job` in the access log.
pub fn with_job(mut response: Response, job: &JobId) -> Response {
    response.extensions_mut().insert(LoggedJob(job.clone()));
    response
}

/// The caller's request id if it is a short plain token (it is logged, so nothing else is
/// taken), else a new one.
fn request_id(request: &Request) -> String {
    let given =
        request.headers().get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()).filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        });
    match given {
        Some(v) => v.to_owned(),
        None => crate::webhooks::event::new_id("req_").unwrap_or_else(|_| "req_unknown".to_owned()),
    }
}

/// The middleware: one access-log event per request, once its answer is ready.
pub async fn access_log(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(&request);
    let method: Method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "(no route)".to_owned(), |p| p.as_str().to_owned());
    let who = Who::default();
    request.extensions_mut().insert(who.clone());
    let mut response = next.run(request).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    let job = response.extensions().get::<LoggedJob>().map(|j| j.0.to_string());
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(
        target: ACCESS_TARGET,
        request_id = %id,
        member = who.get().as_deref().unwrap_or("-"),
        method = %method,
        route = %route,
        status = response.status().as_u16(),
        latency_ms = (latency_ms * 1000.0).round() / 1000.0,
        job = job.as_deref().unwrap_or("-"),
        "request"
    );
    response
}

/// Collects an event's fields into a JSON object.
struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), Value::from(format!("{value:?}")));
    }
}

/// A formatter writing every event as one JSON line: `time` (RFC 3339, UTC, milliseconds),
/// `level`, `target`, `instance`, `message` and the event's own fields.
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let mut map = Map::new();
        map.insert(
            "time".into(),
            conjure_app::timefmt::rfc3339_millis(crate::timefmt_now()).into(),
        );
        map.insert("level".into(), event.metadata().level().as_str().to_ascii_lowercase().into());
        map.insert("target".into(), event.metadata().target().into());
        map.insert("instance".into(), instance().into());
        event.record(&mut Fields(&mut map));
        writeln!(writer, "{}", Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_short_request_ids_are_taken_from_the_caller() {
        let with = |v: &str| {
            Request::builder().header(REQUEST_ID_HEADER, v).body(axum::body::Body::empty()).unwrap()
        };
        assert_eq!(request_id(&with("abc-123_x.y:z")), "abc-123_x.y:z");
        for bad in ["", "has space", "quote\"", &"x".repeat(65)] {
            assert!(request_id(&with(bad)).starts_with("req_"), "{bad}");
        }
        let none = Request::builder().body(axum::body::Body::empty()).unwrap();
        assert!(request_id(&none).starts_with("req_"));
    }
}
