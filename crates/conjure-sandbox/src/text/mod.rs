//! `POST /v1/chat/completions`: Katana's OpenAI-compatible text endpoint, with placeholder
//! answers and the provider's reserve billing.
//!
//! A call authenticates with `Authorization: Bearer key:secret`, is validated ([`request`]),
//! gets its deterministic answer ([`reply`]) and is billed with the client's own arithmetic, so
//! an offline run charges exactly what conjure quotes: prompt tokens are
//! `TextItem::input_tokens()`, completion tokens `estimate_tokens(answer) +
//! estimate_tokens(reasoning)`, the reserve `conjure_core::text::reserve(model, prompt,
//! max_tokens or DEFAULT_MAX_TOKENS)` and the charge `conjure_core::text::charge`. The whole
//! reserve is taken first (402 when the balance does not cover it), then the unused part is
//! refunded and `usage.imgnai` reports all three figures.
//!
//! Three ways to answer: one `chat.completion` JSON body (with `request_id` equal to `id`); an
//! SSE stream of `chat.completion.chunk` frames ([`stream`]); or, with `?wait=false`, an async
//! job in the generation envelope, polled at `GET /v1/generation-requests/{id}` like media, the
//! unused reserve being refunded when the job completes. The text faults (`text-500`,
//! `stream-cut-after`, `stream-malformed`, `split-utf8`, `catalogue-drift`) are described in
//! [`crate::faults`]; a 500 or a cut stream keeps the whole reserve.

mod reply;
mod request;
mod stream;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use conjure_core::catalogue::{Model, Privacy};
use conjure_core::money::Credits;
use conjure_core::text::{self, Role};
use serde_json::{Value, json};
use time::OffsetDateTime;

pub use reply::REASON_MARKER;
pub(crate) use reply::Reply;

use crate::auth::AuthForms;
use crate::envelope;
use crate::server::{authenticate, detail, random_token, request_id};
use crate::state::{AppState, Counters, Job, Phase, Work, credits_string};

/// What a text call used and cost, as `usage` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub reserved: Credits,
    pub charged: Credits,
    pub privacy: Privacy,
}

impl Usage {
    fn new(model: &Model, prompt_tokens: u64, max_tokens: u32, reply: &Reply) -> Usage {
        let completion_tokens = reply.completion_tokens();
        Usage {
            prompt_tokens,
            completion_tokens,
            reserved: text::reserve(model, prompt_tokens, max_tokens),
            charged: text::charge(model, prompt_tokens, completion_tokens),
            privacy: model.privacy.unwrap_or(Privacy::Anonymized),
        }
    }

    /// The part of the reserve given back.
    pub(crate) fn refunded(&self) -> Credits {
        self.reserved - self.charged
    }

    /// The OpenAI `usage` object with Katana's `imgnai` block.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "imgnai": {
                "credits_reserved": self.reserved,
                "credits_charged": self.charged,
                "credits_refunded": self.refunded(),
                "privacy_mode": self.privacy.label(),
                "billing_source": "api_key",
            },
        })
    }
}

/// An async text job: its answer is decided at acceptance and shown once it completes.
#[derive(Clone, Debug)]
pub(crate) struct TextJob {
    pub model: &'static Model,
    /// The last user turn, for the `requests[]` echo.
    pub prompt: String,
    pub max_tokens: u32,
    pub reply: Reply,
    pub usage: Usage,
}

impl TextJob {
    /// The `requests[]` echo: what was asked, with the model's canonical name.
    pub(crate) fn echo(&self) -> Value {
        json!({
            "type": "text",
            "model": self.model.id,
            "prompt": self.prompt,
            "max_tokens": self.max_tokens,
        })
    }
}

/// How the answer goes back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Whole,
    Stream,
    Async,
}

/// `?wait=false` (or `0`, `no`) asks for an async job; anything else answers at once.
fn asynchronous(query: &HashMap<String, String>) -> bool {
    query
        .get("wait")
        .is_some_and(|w| matches!(w.to_ascii_lowercase().as_str(), "false" | "0" | "no"))
}

pub(crate) async fn chat(
    State(state): State<Arc<AppState>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    Counters::bump(&state.counters.chat_posts_received);
    let key = match authenticate(&state, &headers, AuthForms::Bearer) {
        Ok(key) => key,
        Err(failure) => return failure.into_response(),
    };
    let asynchronous = asynchronous(&query);
    let req = match request::parse(&body, state.catalogue(), asynchronous) {
        Ok(req) => req,
        Err(refusal) => return detail(refusal.status, &refusal.detail),
    };
    let mode = match (asynchronous, req.stream) {
        (true, _) => Mode::Async,
        (false, true) => Mode::Stream,
        (false, false) => Mode::Whole,
    };
    let reply = reply::compose(&req);
    let max_tokens = req.item.effective_max_tokens();
    let usage = Usage::new(req.model, req.item.input_tokens(), max_tokens, &reply);
    if !state.charge(&key, usage.reserved) {
        let balance = state.balance(&key).unwrap_or_default();
        return detail(
            StatusCode::PAYMENT_REQUIRED,
            &format!(
                "Insufficient credits: this call reserves {} credits and the balance is {}",
                credits_string(usage.reserved),
                credits_string(balance)
            ),
        );
    }
    Counters::bump(&state.counters.chat_paid);
    Counters::bump(match mode {
        Mode::Whole => &state.counters.chat_paid_whole,
        Mode::Stream => &state.counters.chat_paid_stream,
        Mode::Async => &state.counters.chat_paid_async,
    });
    let faults = state.faults();
    tracing::debug!(model = %req.model.id, reserved = %usage.reserved, "sandbox took a text reserve");
    if faults.text_500 {
        return detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    }
    let now = OffsetDateTime::now_utc();
    if mode == Mode::Async {
        let job = Job {
            id: request_id(),
            owner: key,
            created_at: now,
            updated_at: now,
            work: Work::Text(Box::new(TextJob {
                model: req.model,
                prompt: req.item.prompt().to_owned(),
                max_tokens,
                reply,
                usage,
            })),
            faults: faults.clone(),
            rate_limited: 0,
            polls: 0,
            phase: Phase::Processing,
        };
        let body = envelope::render(&job, &state.base_url, faults.poll_after_secs, None);
        state.insert_job(job);
        return Json(body).into_response();
    }
    let id = format!("chatcmpl-{}", random_token());
    let head = stream::Head { id: &id, created: now.unix_timestamp(), model: &req.model.id };
    if mode == Mode::Whole {
        state.refund(&key, usage.refunded());
        return with_request_id(Json(whole(&head, &reply, &usage)).into_response(), &id);
    }
    // A cut stream never reports usage, and a stream without usage keeps the whole reserve.
    if faults.stream_cut_after.is_none() {
        state.refund(&key, usage.refunded());
    }
    let usage_json = usage.to_json();
    let steps = stream::steps(&head, &reply, req.include_usage.then_some(&usage_json), &faults);
    let headers = [
        (CONTENT_TYPE, HeaderValue::from_static("text/event-stream")),
        (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    with_request_id((headers, stream::body(steps)).into_response(), &id)
}

fn with_request_id(mut response: Response, id: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(id) {
        response.headers_mut().insert(HeaderName::from_static("x-request-id"), value);
    }
    response
}

/// The `chat.completion` body.
fn whole(head: &stream::Head<'_>, reply: &Reply, usage: &Usage) -> Value {
    let mut message = json!({ "role": Role::Assistant.as_str(), "content": reply.content });
    if let (Some(reasoning), Value::Object(obj)) = (&reply.reasoning, &mut message) {
        obj.insert("reasoning_content".into(), reasoning.clone().into());
    }
    json!({
        "id": head.id,
        "object": "chat.completion",
        "created": head.created,
        "model": head.model,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": reply.finish_reason,
        }],
        "usage": usage.to_json(),
        "request_id": head.id,
    })
}
