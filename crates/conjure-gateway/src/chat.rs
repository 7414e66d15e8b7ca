//! Katana's text wire for members: `POST /v1/chat/completions` (OpenAI's shape, so that the
//! OpenAI SDKs work unchanged with a member's key), in its three forms:
//! - a whole answer: one `chat.completion` once the model is done;
//! - `stream: true`: server-sent `chat.completion.chunk` events handed to the member as each
//!   piece arrives from upstream (not buffered), then the finish chunk, the usage chunk when
//!   `stream_options.include_usage` asks for it, and `data: [DONE]`;
//! - `?wait=false`: an async job, answered with Katana's envelope and polled at
//!   `GET /v1/generation-requests/{id}`, where the answer is the text asset of spec §7.4.
//!
//! The body is read into the CLI's own [`conjure_app::TextRequest`] (the conversation given
//! whole, images as https:// or data: URLs only), priced by the catalogue (the text reserve:
//! the worst case `max_tokens` allows) and sent down the paid path of
//! [`crate::api::submit`] (`api::clear`, `api::send`): a member's
//! pre-approval or a 402, the reserve held against the member's and the project's budgets, one
//! POST by the core's runner, and the real charge settled from `usage.imgnai`.
//!
//! A stream cut upstream leaves the member what arrived, then an `error` event saying the job
//! is `unknown` with the credits it may have cost; the request is never sent again. The
//! runner goes on in a task of its own, so a member who hangs up does not stop the job being
//! recorded. Fields conjure cannot pass on (`tools`, `response_format`, `n` above 1, ...) are
//! refused rather than dropped, so a request never means less than the member asked.

use std::collections::VecDeque;

use axum::Extension;
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use conjure_app::{AppError, Request, TextRequest};
use conjure_core::provider::Snapshot;
use conjure_core::runner::{Event, RunError};
use conjure_core::spec::InputKind;
use conjure_core::text::{Delta, TextAnswer, TextMode, TextUsage};
use conjure_core::{JobRecord, ProviderId};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use crate::api::{self, Gateway, error};
use crate::katana;
use crate::member::MemberId;

/// The body fields the gateway passes on (all others are refused, see the module doc).
const KNOWN_FIELDS: &[&str] = &[
    "model",
    "messages",
    "prompt",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "files",
    "stream",
    "stream_options",
    "n",
    "user",
];

/// `?wait=false`.
#[derive(Debug, Default, Deserialize)]
pub struct ChatQuery {
    pub wait: Option<bool>,
}

/// How the member asked for the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Asked {
    mode: TextMode,
    include_usage: bool,
}

/// `POST /v1/chat/completions`.
pub async fn completions(
    State(gw): State<Gateway>,
    member: Option<Extension<MemberId>>,
    Query(query): Query<ChatQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(Extension(member)) = member else { return api::members_only() };
    let payload: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) | Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "The body is not a JSON object",
                Some(
                    "send OpenAI's chat shape: {\"model\": \"...\", \"messages\": [{\"role\": \"user\", \"content\": \"...\"}]}",
                ),
            );
        }
    };
    let (request, asked) = match text_request(&payload, query.wait == Some(false)) {
        Ok(r) => r,
        Err(e) => return api::invalid(&e),
    };
    let spec = match Request::Text(request).spec_in(gw.app.catalogue()) {
        Ok(s) => s,
        Err(e) => return api::invalid(&e),
    };
    // The approval binds what the member sent, query included.
    let mut bound = payload.clone();
    if asked.mode == TextMode::Async {
        bound["conjure_wait"] = false.into();
    }
    let cleared = match api::clear(&gw, &member, &headers, &bound, spec, None).await {
        Ok(c) => c,
        Err(answer) => return answer,
    };
    match asked.mode {
        TextMode::Stream => stream(gw, cleared, asked).await,
        TextMode::Whole => match api::send(&gw, cleared, None).await {
            Ok(Ok(job)) => Json(completion(&job)).into_response(),
            Ok(Err(e)) => failed(&gw, e).await,
            Err(answer) => answer,
        },
        TextMode::Async => match api::send(&gw, cleared, None).await {
            Ok(Ok(job)) => Json(katana::envelope(&job)).into_response(),
            Ok(Err(e)) => failed(&gw, e).await,
            Err(answer) => answer,
        },
    }
}

/// The answer to a send that stopped short; a job the provider ran and failed is shown as
/// Katana's envelope says it (its errors and state).
async fn failed(gw: &Gateway, e: RunError) -> Response {
    use conjure_core::JobStore as _;
    match e {
        RunError::Failed { job, .. } => match gw.store.get(&job).await {
            Ok(record) => {
                let env = katana::envelope(&record);
                let message = record.error.clone().unwrap_or_else(|| "the model failed".into());
                let body = json!({
                    "detail": message,
                    "error": {"code": "upstream_failed", "message": message,
                        "hint": "nothing more was charged than the envelope says; change the request and send it again"},
                    "conjure": env["conjure"],
                });
                (StatusCode::BAD_GATEWAY, Json(body)).into_response()
            }
            Err(e) => api::invalid(&AppError::from(e)),
        },
        other => api::run_error(other),
    }
}

/// The body read into the CLI's text request, and how the answer is to come back.
fn text_request(payload: &Value, no_wait: bool) -> Result<(TextRequest, Asked), AppError> {
    let obj = payload.as_object().ok_or_else(|| AppError::invalid("The body is not an object"))?;
    if let Some(unknown) = obj.keys().find(|k| !KNOWN_FIELDS.contains(&k.as_str())) {
        return Err(AppError::invalid(format!("The gateway does not pass `{unknown}` on")).hint(
            format!("leave `{unknown}` out; the gateway takes {}", KNOWN_FIELDS.join(", ")),
        ));
    }
    if obj.get("n").and_then(Value::as_u64).is_some_and(|n| n != 1) {
        return Err(AppError::invalid("`n` above 1 is not supported")
            .hint("ask for one answer per request (leave `n` out)"));
    }
    let model = obj.get("model").and_then(Value::as_str).ok_or_else(|| {
        AppError::invalid("The request names no `model`")
            .hint("add a text model, e.g. \"model\": \"q-naifu-a3b\"; GET /v1/models lists them")
    })?;
    let mut image =
        |url: &str| api::remote(url, InputKind::Image, "messages").map_err(|e| e.message);
    let history = match (obj.get("messages"), obj.get("prompt")) {
        (Some(m), _) => conjure_providers::katana::chat::parse_messages(m, &mut image).map_err(
            |e| {
                AppError::invalid(format!("The messages are not usable: {e}")).hint(
                    "give `messages` as [{\"role\": \"user\", \"content\": \"...\"}]; images as https:// or data: URLs",
                )
            },
        )?,
        (None, Some(Value::String(p))) => {
            vec![conjure_core::text::Message::text(conjure_core::text::Role::User, p.clone())]
        }
        _ => {
            return Err(AppError::invalid("The request has no `messages`")
                .hint("send `messages`: [{\"role\": \"user\", \"content\": \"...\"}]"));
        }
    };
    if history.is_empty() {
        return Err(AppError::invalid("`messages` is empty").hint("send at least one message"));
    }
    let tokens = obj.get("max_tokens").or_else(|| obj.get("max_completion_tokens"));
    let max_tokens = match tokens {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64().and_then(|n| u32::try_from(n).ok()).filter(|n| *n > 0).ok_or_else(|| {
                AppError::invalid("`max_tokens` is not a positive whole number").hint("e.g. 1000")
            })?,
        ),
    };
    let number = |k: &str| -> Result<Option<f64>, AppError> {
        match obj.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_f64().map(Some).ok_or_else(|| {
                AppError::invalid(format!("`{k}` is not a number")).hint("e.g. 0.7")
            }),
        }
    };
    let files = match obj.get("files") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|f| {
                let url = f.get("url").and_then(Value::as_str).unwrap_or_default().trim();
                if url.to_ascii_lowercase().starts_with("https://") {
                    Ok(url.to_owned())
                } else {
                    Err(AppError::invalid("A `files` entry is not an https:// URL")
                        .hint("give files as [{\"url\": \"https://...\"}]"))
                }
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(AppError::invalid("`files` is not a list")
                .hint("give files as [{\"url\": \"https://...\"}]"));
        }
    };
    let streamed = obj.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let mode = match (no_wait, streamed) {
        (true, true) => {
            return Err(AppError::invalid("`stream` and `?wait=false` exclude each other")
                .hint("stream the answer, or poll for it, not both"));
        }
        (true, false) => TextMode::Async,
        (false, true) => TextMode::Stream,
        (false, false) => TextMode::Whole,
    };
    let include_usage =
        obj.get("stream_options").and_then(|o| o.get("include_usage")).and_then(Value::as_bool)
            == Some(true);
    let request = TextRequest {
        prompt: None,
        provider: ProviderId::Katana,
        model: model.to_owned(),
        system: None,
        messages: None,
        history,
        continues: None,
        max_tokens,
        temperature: number("temperature")?,
        top_p: number("top_p")?,
        images: Vec::new(),
        files,
        mode,
    };
    Ok((request, Asked { mode, include_usage }))
}

fn snapshot_of(job: &JobRecord) -> Option<Snapshot> {
    job.last_snapshot.as_ref().and_then(|v| serde_json::from_value(v.clone()).ok())
}

fn model_of(job: &JobRecord) -> String {
    snapshot_of(job).and_then(|s| s.model).unwrap_or_else(|| job.model.clone())
}

/// OpenAI's `usage`, with Katana's credits under `imgnai`.
pub fn usage_json(u: &TextUsage) -> Value {
    let credits = |c: Option<conjure_core::Credits>| c.map(conjure_core::Credits::as_f64);
    let total = match (u.prompt_tokens, u.completion_tokens) {
        (Some(p), Some(c)) => Some(p + c),
        _ => None,
    };
    json!({
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": total,
        "imgnai": {
            "credits_reserved": credits(u.credits_reserved),
            "credits_charged": credits(u.credits_charged),
            "credits_refunded": credits(u.credits_refunded),
            "privacy_mode": u.privacy_mode,
            "billing_source": u.billing_source,
        },
    })
}

/// The text asset of an async answer in Katana's envelope (spec §7.4).
pub fn text_asset(text: &TextAnswer) -> Value {
    json!({
        "kind": "text",
        "mime_type": "text/plain",
        "content": text.answer,
        "reasoning_content": (!text.reasoning.is_empty()).then_some(&text.reasoning),
        "metadata": {"usage": text.usage.as_ref().map(usage_json)},
    })
}

fn conjure_of(job: &JobRecord) -> Value {
    json!({
        "job": job.id.as_str(),
        "state": job.state.as_str(),
        "quoted_credits": katana::credits_str(job.quoted_credits),
        "credits_spent": job.credits_spent.map(katana::credits_str),
    })
}

/// A whole `chat.completion` for a finished job.
fn completion(job: &JobRecord) -> Value {
    let text = snapshot_of(job).and_then(|s| s.text).unwrap_or_default();
    let mut message = Map::new();
    message.insert("role".into(), "assistant".into());
    message.insert("content".into(), text.answer.clone().into());
    if !text.reasoning.is_empty() {
        message.insert("reasoning_content".into(), text.reasoning.clone().into());
    }
    json!({
        "id": job.request_id.clone().unwrap_or_else(|| job.id.to_string()),
        "object": "chat.completion",
        "created": job.created_at / 1000,
        "model": model_of(job),
        "choices": [{
            "index": 0,
            "message": Value::Object(message),
            "finish_reason": text.finish_reason.as_deref().unwrap_or("stop"),
        }],
        "usage": text.usage.as_ref().map(usage_json),
        "conjure": conjure_of(job),
    })
}

/// What the runner's task hands the streaming answer, in order.
enum Piece {
    Started(String),
    Answer(String),
    Reasoning(String),
    Finished(Box<Result<JobRecord, RunError>>),
    /// The request never reached the runner (no turn at the provider): the member's answer.
    NotSent(Response),
}

/// The chunks written so far share an id, a creation time and a model.
struct Chunks {
    id: String,
    created: i64,
    model: String,
    started: bool,
    /// Whether any of the answer went out as it arrived.
    relayed: bool,
    include_usage: bool,
    gw: Gateway,
}

impl Chunks {
    fn frame(value: &Value) -> Bytes {
        Bytes::from(format!("data: {value}\n\n"))
    }

    fn chunk(&self, delta: &Value, finish: Option<&str>) -> Bytes {
        Self::frame(&json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }))
    }

    /// The frames one piece becomes.
    async fn frames(&mut self, piece: Piece) -> Vec<Bytes> {
        let mut out = Vec::new();
        let start = |this: &mut Chunks, out: &mut Vec<Bytes>| {
            if !this.started {
                this.started = true;
                out.push(this.chunk(&json!({"role": "assistant", "content": ""}), None));
            }
        };
        match piece {
            Piece::Started(id) => {
                if !self.started {
                    self.id = id;
                }
                start(self, &mut out);
            }
            Piece::Answer(a) => {
                start(self, &mut out);
                self.relayed = true;
                out.push(self.chunk(&json!({"content": a}), None));
            }
            Piece::Reasoning(r) => {
                start(self, &mut out);
                self.relayed = true;
                out.push(self.chunk(&json!({"reasoning_content": r}), None));
            }
            // Only ever the first and only piece, answered before any chunk (see `stream`).
            Piece::NotSent(_) => {}
            Piece::Finished(result) => {
                start(self, &mut out);
                match *result {
                    Ok(job) => {
                        let text = snapshot_of(&job).and_then(|s| s.text).unwrap_or_default();
                        // An upstream that answered whole rather than streamed: the answer
                        // goes out in one piece.
                        if !self.relayed {
                            if !text.reasoning.is_empty() {
                                let delta = json!({"reasoning_content": text.reasoning});
                                out.push(self.chunk(&delta, None));
                            }
                            if !text.answer.is_empty() {
                                out.push(self.chunk(&json!({"content": text.answer}), None));
                            }
                        }
                        let finish = text.finish_reason.as_deref().unwrap_or("stop");
                        out.push(self.chunk(&json!({}), Some(finish)));
                        if self.include_usage {
                            out.push(Self::frame(&json!({
                                "id": self.id,
                                "object": "chat.completion.chunk",
                                "created": self.created,
                                "model": self.model,
                                "choices": [],
                                "usage": text.usage.as_ref().map(usage_json),
                                "conjure": conjure_of(&job),
                            })));
                        }
                        out.push(Bytes::from_static(b"data: [DONE]\n\n"));
                    }
                    Err(e) => out.push(Self::frame(&self.error_event(e).await)),
                }
            }
        }
        out
    }

    /// The event that ends a stream that stopped short: OpenAI's SDKs raise an API error
    /// with its message. No `[DONE]` follows, as none came from upstream.
    async fn error_event(&self, e: RunError) -> Value {
        use conjure_core::JobStore as _;
        match e {
            RunError::Unknown { job, error: cause, quoted } => {
                let (message, conjure) = api::unknown_outcome(&job, &cause, quoted);
                let partial = match self.gw.store.get(&job).await {
                    Ok(record) => snapshot_of(&record).and_then(|s| s.text).map(|t| t.answer),
                    Err(_) => None,
                };
                json!({"error": {
                    "message": message,
                    "type": "outcome_unknown",
                    "code": "outcome_unknown",
                    "hint": api::unknown_hint(&job),
                    "conjure": {"job": conjure["job"], "state": "unknown",
                        "exposure_credits": conjure["exposure_credits"], "answer_so_far": partial},
                }})
            }
            other => {
                let message = other.to_string();
                json!({"error": {"message": message, "type": "upstream_failed", "code": "upstream_failed"}})
            }
        }
    }
}

/// Sends the request with its answer streamed: the runner runs in a task of its own, handing
/// each piece over a channel; the member's response starts with the first piece (so that a
/// refusal before anything was sent is a plain JSON error) and follows the upstream stream.
async fn stream(gw: Gateway, cleared: api::Cleared, asked: Asked) -> Response {
    let model = cleared.approved.order().quote.model.clone();
    let (tx, mut rx) = mpsc::unbounded_channel::<Piece>();
    let task_gw = gw.clone();
    let done = tx.clone();
    tokio::spawn(async move {
        let observer = move |e: Event<'_>| {
            if let Event::Streamed { delta, .. } = e {
                let piece = match delta {
                    Delta::Started { request_id } => Piece::Started(request_id.to_owned()),
                    Delta::Answer(a) => Piece::Answer(a.to_owned()),
                    Delta::Reasoning(r) => Piece::Reasoning(r.to_owned()),
                };
                // A member who hung up stops nothing: the job is still recorded.
                let _ = tx.send(piece);
            }
        };
        let piece = match api::send(&task_gw, cleared, Some(std::sync::Arc::new(observer))).await {
            Ok(result) => Piece::Finished(Box::new(result)),
            Err(answer) => Piece::NotSent(answer),
        };
        let _ = done.send(piece);
    });
    let Some(first) = rx.recv().await else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "gateway_error",
            "The request's task ended without an answer",
            Some("GET /v1/generation-requests lists nothing new; send it again"),
        );
    };
    let first = match first {
        // Nothing streamed: a plain JSON answer says it with its status code.
        Piece::Finished(result) => match *result {
            Ok(job) => Piece::Finished(Box::new(Ok(job))),
            Err(e) => return failed(&gw, e).await,
        },
        Piece::NotSent(answer) => return answer,
        other => other,
    };
    let chunks = Chunks {
        id: String::new(),
        created: crate::timefmt_now() / 1000,
        model,
        started: false,
        relayed: false,
        include_usage: asked.include_usage,
        gw,
    };
    let state = (chunks, Some(first), rx, VecDeque::<Bytes>::new(), false);
    let body = futures_util::stream::unfold(
        state,
        |(mut chunks, mut first, mut rx, mut queue, mut over)| async move {
            loop {
                if let Some(b) = queue.pop_front() {
                    return Some((
                        Ok::<Bytes, std::io::Error>(b),
                        (chunks, first, rx, queue, over),
                    ));
                }
                if over {
                    return None;
                }
                let piece = match first.take() {
                    Some(p) => p,
                    None => rx.recv().await?,
                };
                over = matches!(piece, Piece::Finished(_) | Piece::NotSent(_));
                queue.extend(chunks.frames(piece).await);
            }
        },
    );
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_body_is_the_clis_text_request() {
        let body = json!({"model": "q-naifu-a3b", "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 50, "stream": true, "stream_options": {"include_usage": true}});
        let (r, asked) = text_request(&body, false).unwrap();
        assert_eq!(asked, Asked { mode: TextMode::Stream, include_usage: true });
        assert_eq!(r.max_tokens, Some(50));
        assert_eq!(r.history.len(), 1);
        assert_eq!(
            text_request(&body, true).unwrap_err().kind,
            conjure_app::ErrorKind::InvalidInput
        );
        let whole = json!({"model": "m", "prompt": "hi"});
        assert_eq!(text_request(&whole, false).unwrap().1.mode, TextMode::Whole);
        assert_eq!(text_request(&whole, true).unwrap().1.mode, TextMode::Async);
    }

    #[test]
    fn what_cannot_be_passed_on_is_refused_with_what_to_do() {
        for body in [
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": []}),
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 2}),
            json!({"messages": [{"role": "user", "content": "x"}]}),
            json!({"model": "m", "messages": []}),
            json!({"model": "m", "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "/etc/passwd"}}]}]}),
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "files": [{"url": "file:///x"}]}),
        ] {
            let e = text_request(&body, false).unwrap_err();
            assert!(e.hint.is_some(), "{body}: {e:?}");
        }
    }
}
