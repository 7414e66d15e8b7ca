//! conjure's own HTTP API for members, under [`PREFIX`] (`/conjure/v1`): the CLI's quote ->
//! approve protocol over HTTP, and what a member reads about their own jobs.
//!
//! - `POST /quote`: a request in conjure's own shape (`{"type": "image", "prompt": ...}`, the
//!   fields of `conjure image` / `conjure video` / `conjure text`) becomes the quote the CLI
//!   prints, with its approval token (`cq_...`). The gateway keeps the token with the member,
//!   the project and the request; nothing is reserved or sent. Every input (a text request's
//!   images and message image URLs included) is https:// or a `data:` URL within the inline
//!   cap: a path would be read on the gateway's own disk.
//! - `POST /jobs` with `{"token": ...}`: the member's approval of exactly that quote. The request
//!   is priced again and must still match the token (same request, total and price), then goes
//!   down the gateway's one paid path (`reserve_scoped` for the member and project, the core's
//!   runner, one POST). A token is used once: sending it again answers 409 with the job it
//!   sent, so a client whose answer was lost can ask again without paying twice. A text
//!   answer that streams is handed on as JSON lines as it arrives (see [`streamed`]); the
//!   runner goes on in a task of its own, so a member who hangs up does not stop the job
//!   being recorded.
//! - `GET /jobs`, `GET /jobs/{id}`, `GET /jobs/{id}/outputs[/{n}]`, `GET /spend`,
//!   `GET /events` (Server-Sent Events of the member's job changes, with the webhook event
//!   names): reads of the member's own jobs and spending. Another member's job is 404, as no
//!   job is.
//!
//! Every error is the gateway's one JSON shape (`error {code, message, hint}`, the hint saying
//! what to do next). The routes are listed once, in [`routes`], which both the router and the
//! OpenAPI document's test read ([`crate::openapi`]).

use std::collections::HashMap;
use std::time::Duration;

use axum::Extension;
use axum::Json;
use axum::body::Body;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use conjure_app::{AppError, Request};
use conjure_core::approval::{Consent, NeedsApproval, Order, approve};
use conjure_core::policy;
use conjure_core::provider::{RemoteStatus, Snapshot};
use conjure_core::runner::{Event, RunError};
use conjure_core::text::Delta;
use conjure_core::{JobId, JobRecord, JobState, JobStore as _};
use futures_util::StreamExt as _;
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::Row as _;

use crate::api::{self, Gateway, error};
use crate::member::MemberId;
use crate::store::{PgStoreError, Scope};
use crate::webhooks::event::EventType;
use crate::{admin, approvals, timefmt_now};

/// Where the own API lives.
pub const PREFIX: &str = "/conjure/v1";

/// The largest request body of a quote or a spend: a video's inputs inline (first and last
/// frame, references, audio), each at most [`conjure_app::inputs::MAX_INLINE_BYTES`] as base64.
pub const BODY_LIMIT: usize = 64 * 1024 * 1024;

/// One route of the own API: its path (axum's syntax, which is also OpenAPI's), its methods,
/// and its handlers.
pub struct Route {
    pub path: &'static str,
    pub methods: &'static [&'static str],
    pub handler: MethodRouter<Gateway>,
}

/// Every route of the own API (all under the member-key check).
pub fn routes() -> Vec<Route> {
    vec![
        Route {
            path: "/conjure/v1/quote",
            methods: &["post"],
            handler: post(quote).layer(DefaultBodyLimit::max(BODY_LIMIT)),
        },
        Route {
            path: "/conjure/v1/jobs",
            methods: &["get", "post"],
            handler: get(jobs).post(spend).layer(DefaultBodyLimit::max(BODY_LIMIT)),
        },
        Route { path: "/conjure/v1/jobs/{id}", methods: &["get"], handler: get(job) },
        Route { path: "/conjure/v1/jobs/{id}/outputs", methods: &["get"], handler: get(outputs) },
        Route {
            path: "/conjure/v1/jobs/{id}/outputs/{n}",
            methods: &["get"],
            handler: get(output),
        },
        Route { path: "/conjure/v1/spend", methods: &["get"], handler: get(spent) },
        Route { path: "/conjure/v1/events", methods: &["get"], handler: get(events) },
    ]
}

fn member_key_required() -> Response {
    error(
        StatusCode::FORBIDDEN,
        "member_key_required",
        "conjure's own API takes a member's key",
        Some("send a member key (`cjm_...`) as `Authorization: Bearer KEY`"),
    )
}

fn base_url(headers: &HeaderMap) -> String {
    let host = headers.get("host").and_then(|v| v.to_str().ok()).unwrap_or("localhost");
    format!("http://{host}")
}

fn not_found(id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        &format!("No job `{id}` of yours"),
        Some("GET /conjure/v1/jobs lists your jobs"),
    )
}

fn storage_error(e: &crate::storage::StorageError) -> Response {
    use crate::storage::StorageError as E;
    let (status, code) = match e {
        E::NoFiles { .. } => (StatusCode::CONFLICT, "no_files"),
        E::NoSuchFile { .. } => (StatusCode::NOT_FOUND, "not_found"),
        E::Download { .. } => (StatusCode::BAD_GATEWAY, "download_failed"),
        E::BadName(_) | E::Io { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "storage"),
    };
    error(status, code, &e.to_string(), Some(&e.hint()))
}

/// Only what a remote client can mean by an input: a path would name a file on the gateway's
/// own disk.
fn check_remote(request: &Request) -> Result<(), AppError> {
    let (inputs, hooks): (Vec<(&str, &String)>, _) = match request {
        Request::Image(r) => (r.refs.iter().map(|v| ("refs", v)).collect(), &r.hooks),
        Request::Video(r) => {
            let mut list: Vec<(&str, &String)> = Vec::new();
            list.extend(r.first_frame.iter().map(|v| ("first_frame", v)));
            list.extend(r.last_frame.iter().map(|v| ("last_frame", v)));
            list.extend(r.refs.iter().map(|v| ("refs", v)));
            list.extend(r.audio.iter().map(|v| ("audio", v)));
            (list, &r.hooks)
        }
        Request::Text(r) => {
            // Every image of the conversation must travel in the request: a path would be read
            // on the gateway's disk.
            if r.history.iter().flat_map(|m| &m.content).any(|p| {
                matches!(
                    p,
                    conjure_core::text::Part::Image {
                        input: conjure_core::spec::MediaInput::File(_)
                    }
                )
            }) {
                return Err(AppError::invalid(
                    "`history`: an image of the conversation is a local file the gateway cannot read",
                )
                .hint("send its https:// or data: URL instead"));
            }
            let mut list: Vec<(&str, &String)> = r.images.iter().map(|v| ("images", v)).collect();
            list.extend(r.files.iter().map(|v| ("files", v)));
            let mut urls = Vec::new();
            if let Some(raw) = &r.messages {
                message_urls(raw, &mut urls);
            }
            for url in &urls {
                let lower = url.trim().to_ascii_lowercase();
                if !(lower.starts_with("https://") || lower.starts_with("data:")) {
                    return Err(AppError::invalid(format!(
                        "`messages`: the gateway takes images as https:// or data: URLs only, not `{url}`"
                    ))
                    .hint("send the image's https:// URL, or inline it as a data: URL"));
                }
            }
            for (field, value) in list {
                check_input(field, value)?;
            }
            return Ok(());
        }
        // The image is fetched by the provider: a URL, never a path on the gateway's disk.
        Request::Tool(r) => (vec![("image", &r.image)], &r.hooks),
        Request::Payload(_) => {
            return Err(AppError::invalid(
                "The own API quotes `image`, `video`, `text` and `tool` requests",
            )
            .hint("send {\"type\": \"image\", ...} or {\"type\": \"video\", ...}; a provider's own payload goes to the gateway's wire endpoint for that provider"));
        }
    };
    if hooks.webhook.is_some() {
        return Err(AppError::invalid("`hooks.webhook` is not taken through the gateway")
            .hint("register your URL with POST /v1/webhooks: the gateway signs and delivers its job events"));
    }
    for (field, value) in inputs {
        check_input(field, value)?;
    }
    Ok(())
}

/// Every `url` and `image_url` string of an OpenAI-style messages value.
fn message_urls(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| message_urls(v, out)),
        Value::Object(map) => {
            for (k, v) in map {
                match v {
                    Value::String(s) if k == "url" || k == "image_url" => out.push(s.clone()),
                    other => message_urls(other, out),
                }
            }
        }
        _ => {}
    }
}

/// One input of a request: https:// or a `data:` URL within the inline cap.
fn check_input(field: &str, value: &str) -> Result<(), AppError> {
    {
        let lower = value.trim().to_ascii_lowercase();
        if !(lower.starts_with("https://") || lower.starts_with("data:")) {
            return Err(AppError::invalid(format!(
                "`{field}`: the gateway takes https:// or data: URLs only, not `{value}`"
            ))
            .hint("upload the file somewhere reachable and send its https:// URL, or send it as a data: URL"));
        }
        let cap = conjure_app::inputs::MAX_INLINE_BYTES;
        if lower.starts_with("data:") && (value.len() as u64) / 4 * 3 > cap + 1024 {
            return Err(AppError::invalid(format!(
                "`{field}`: the data URL is over {} MB; inline inputs are capped at that",
                cap / 1024 / 1024
            ))
            .hint("make the file smaller (e.g. `conjure media resize`), or host it and send its https:// URL"));
        }
    }
    Ok(())
}

/// The priced order for `request` (conjure's own JSON shape), checked as the gateway checks
/// every request of a member.
async fn order_for(
    gw: &Gateway,
    member: &MemberId,
    request: &Value,
    project: Option<&str>,
) -> Result<Order, Response> {
    let parsed: Request = serde_json::from_value(request.clone()).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &format!("The request is not one conjure knows: {e}"),
            Some("send {\"type\": \"image\", \"prompt\": \"...\"} with the fields of `conjure image` (model, aspect, format, refs, negative, fast, uhd, count, mode, provider), or a `video` with those of `conjure video`"),
        )
    })?;
    check_remote(&parsed).map_err(|e| api::app_error(&e))?;
    let profile = match admin::member(&gw.store, member).await {
        Ok(Some(m)) => m,
        Ok(None) => return Err(api::store_error(&PgStoreError::UnknownMember(member.to_string()))),
        Err(e) => return Err(api::store_error(&e)),
    };
    if let Some(p) = project {
        match admin::project_exists(&gw.store, p).await {
            Ok(true) => {}
            Ok(false) => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "unknown_project",
                    &format!("No project `{p}` in the gateway; nothing was sent"),
                    Some("check the project's name with the gateway's admin, or leave it out"),
                ));
            }
            Err(e) => return Err(api::store_error(&e)),
        }
    }
    let provider = parsed.provider();
    if !policy::provider_allowed(profile.providers.as_deref(), provider) {
        return Err(error(
            StatusCode::FORBIDDEN,
            "provider_not_allowed",
            &format!("Your key may not spend with {provider}; nothing was sent"),
            Some(
                "ask the gateway's admin to allow it (`conjure serve admin member add ... --provider ...`)",
            ),
        ));
    }
    let spec = parsed.spec_in(gw.app.catalogue()).map_err(|e| api::app_error(&e))?;
    gw.app.order(spec, None).map_err(|e| api::app_error(&e))
}

/// A JSON body of type `T`, or the gateway's error shape saying what is wrong with it (axum's
/// own rejection is plain text).
fn parse<T: serde::de::DeserializeOwned>(body: &[u8], shape: &str) -> Result<T, Box<Response>> {
    serde_json::from_slice(body).map_err(|e| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &format!("The body is not what this endpoint takes: {e}"),
            Some(&format!("send JSON like {shape} (GET /openapi.json describes every endpoint)")),
        ))
    })
}

/// The query string as `T`, or the gateway's error shape.
fn query<T: serde::de::DeserializeOwned>(raw: Option<&str>) -> Result<T, Box<Response>> {
    serde_urlencoded_like(raw.unwrap_or("")).map_err(|e| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &format!("The query string is not valid: {e}"),
            Some("GET /openapi.json lists each endpoint's parameters"),
        ))
    })
}

fn serde_urlencoded_like<T: serde::de::DeserializeOwned>(raw: &str) -> Result<T, String> {
    axum::extract::Query::<T>::try_from_uri(
        &format!("/?{raw}").parse().map_err(|e: axum::http::uri::InvalidUri| e.to_string())?,
    )
    .map(|q| q.0)
    .map_err(|e| e.body_text())
}

/// What a kept quote binds besides its token: the member, the project and the request (as
/// parsed JSON). Its own prefix keeps it apart from the wire endpoints' body hashes, so no
/// approval of one answers for the other.
fn request_hash(member: &MemberId, project: Option<&str>, request: &Value) -> String {
    use sha2::{Digest as _, Sha256};
    let mut h = Sha256::new();
    h.update(b"conjure-gateway-own-request-v1\0");
    h.update(member.as_str().as_bytes());
    h.update(b"\0");
    h.update(project.unwrap_or("").as_bytes());
    h.update(b"\0");
    h.update(request.to_string().as_bytes());
    hex::encode(h.finalize())
}

fn rules(gw: &Gateway, again: bool) -> policy::SpendRules {
    gw.app.rules(&conjure_app::PayOptions { again, ..conjure_app::PayOptions::default() })
}

/// `POST /conjure/v1/quote`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuoteBody {
    /// conjure's request: `{"type": "image" | "video", "prompt": ..., ...}`.
    pub request: Value,
    #[serde(default)]
    pub project: Option<String>,
    /// Send even though the same request was sent in the last 24 hours.
    #[serde(default)]
    pub again: bool,
}

async fn quote(
    State(gw): State<Gateway>,
    member: Option<Extension<MemberId>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(Extension(member)) = member else { return member_key_required() };
    let body: QuoteBody = match parse(&body, r#"{"request": {"type": "image", "prompt": "a fox"}}"#)
    {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let project = body.project.as_deref().map(str::trim).filter(|p| !p.is_empty());
    let order = match order_for(&gw, &member, &body.request, project).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    // Nobody is asked to approve what the budgets would refuse anyway.
    let scope = Scope { member: member.clone(), project: project.map(str::to_owned) };
    match gw.store.preview_scoped(&order, &rules(&gw, body.again), &scope, timefmt_now()).await {
        Ok(Ok(())) => {}
        Ok(Err(refusal)) => return api::refused(&refusal),
        Err(e) => return api::store_error(&e),
    }
    let kept = json!({"own": true, "request": body.request, "again": body.again,
        "quote": {"credits": order.quote.credits, "model": order.quote.model}});
    let body_sha = request_hash(&member, project, &body.request);
    if let Err(e) = approvals::record(
        &gw.store,
        &order.quote.token,
        &member,
        project,
        &body_sha,
        &kept.to_string(),
        timefmt_now(),
    )
    .await
    {
        return api::store_error(&e);
    }
    let url = format!("{}{PREFIX}/jobs", base_url(&headers));
    Json(json!({
        "status": "quote",
        "quote": order.quote,
        "token": order.quote.token,
        "spend": {"method": "POST", "url": url, "body": {"token": order.quote.token}},
        "next": "nothing was sent; to send exactly this request, POST the token to /conjure/v1/jobs",
    }))
    .into_response()
}

/// `POST /conjure/v1/jobs`: spend an approved quote.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpendBody {
    /// The quote's token.
    pub token: String,
    /// The request again, if the client wants the gateway to check it is the one quoted.
    #[serde(default)]
    pub request: Option<Value>,
}

fn no_such_quote() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no_such_quote",
        "No quote of yours has this token; nothing was sent",
        Some(
            "quote the request first with POST /conjure/v1/quote and send the token it answers with",
        ),
    )
}

async fn spend(
    State(gw): State<Gateway>,
    member: Option<Extension<MemberId>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(Extension(member)) = member else { return member_key_required() };
    let body: SpendBody = match parse(&body, r#"{"token": "cq_..."}"#) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let token = body.token.trim();
    let row = sqlx::query(
        "SELECT quote_json, project_id FROM pending_quotes WHERE token = $1 AND member_id = $2",
    )
    .bind(token)
    .bind(member.as_str())
    .fetch_optional(gw.store.pool())
    .await;
    let kept: Option<(Value, Option<String>)> = match row {
        Ok(Some(r)) => {
            let text: String = r.try_get(0).unwrap_or_default();
            let project: Option<String> = r.try_get(1).unwrap_or_default();
            serde_json::from_str::<Value>(&text)
                .ok()
                .filter(|v| v["own"] == true)
                .map(|v| (v, project))
        }
        Ok(None) => None,
        Err(e) => return api::store_error(&PgStoreError::from(e)),
    };
    let Some((kept, project)) = kept else { return no_such_quote() };
    let request = kept["request"].clone();
    if let Some(given) = &body.request
        && *given != request
    {
        return error(
            StatusCode::CONFLICT,
            "token_mismatch",
            "This token was issued for another request; nothing was sent",
            Some("quote this request with POST /conjure/v1/quote and use its token"),
        );
    }
    let again = kept["again"] == true;
    let order = match order_for(&gw, &member, &request, project.as_deref()).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let approved = match approve(order, Some(Consent::Token(token.to_owned()))) {
        Ok(a) => a,
        Err(NeedsApproval::Missing(_) | NeedsApproval::TokenMismatch(_)) => {
            return error(
                StatusCode::CONFLICT,
                "quote_changed",
                "The price of this request changed since it was quoted; nothing was sent",
                Some("quote it again with POST /conjure/v1/quote and approve the new quote"),
            );
        }
    };
    match approvals::approve(&gw.store, token, Some(&member), timefmt_now()).await {
        Ok(approvals::Approval::Approved(_)) => {}
        Ok(approvals::Approval::Expired(_)) => {
            let hours = approvals::QUOTE_LIFETIME.as_secs() / 3600;
            return error(
                StatusCode::GONE,
                "quote_expired",
                &format!(
                    "This quote expired (a quote can be used for {hours} hours); nothing was sent"
                ),
                Some("quote it again with POST /conjure/v1/quote and send the new token"),
            );
        }
        // Settled between the read above and now (the lapsed-quote sweep); as if never found.
        Ok(approvals::Approval::NotFound) => return no_such_quote(),
        Err(e) => return api::store_error(&e),
    }
    let provider = approved.order().spec.provider;
    let connected = match gw.app.connect(provider) {
        Ok(p) => p,
        Err(e) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "gateway_credentials",
                &e.message,
                Some("the gateway has no credentials for this provider; tell its admin"),
            );
        }
    };
    let cleared = api::Cleared {
        approved,
        rules: rules(&gw, again),
        scope: Scope { member: member.clone(), project },
        connected,
    };
    let base = base_url(&headers);
    // The runner goes on in a task of its own: a member who hangs up mid-answer does not stop
    // the job being recorded. What it streams comes back through the channel as it arrives.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Piece>();
    let task_gw = gw.clone();
    tokio::spawn(async move {
        let pieces = tx.clone();
        let observer = move |event: Event<'_>| {
            if let Event::Streamed { job, delta } = event {
                let line = match delta {
                    // The member's id for the job is the gateway's, never the provider's.
                    Delta::Started { .. } => json!({"started": job.as_str()}),
                    Delta::Answer(a) => json!({"answer": a}),
                    Delta::Reasoning(r) => json!({"reasoning": r}),
                };
                let _ = pieces.send(Piece::Line(line));
            }
        };
        let piece = match api::send(&task_gw, cleared, Some(std::sync::Arc::new(observer))).await {
            Ok(sent) => Piece::Done(Box::new(sent)),
            Err(answer) => Piece::NotSent(answer),
        };
        let _ = tx.send(piece);
    });
    match rx.recv().await {
        Some(Piece::Done(sent)) => answer_sent(&gw, *sent, &base).await,
        Some(Piece::NotSent(answer)) => answer,
        Some(Piece::Line(first)) => streamed(gw, &first, rx, base),
        None => api::app_error(&AppError::other("The gateway's job stopped before it answered")),
    }
}

/// What the spending task hands the handler: a line of a streamed answer, or its outcome.
enum Piece {
    Line(Value),
    Done(Box<Result<JobRecord, RunError>>),
    /// The request never reached the runner (no turn at the provider): the member's answer,
    /// only ever the first and only piece.
    NotSent(Response),
}

/// A text answer as it streams: one JSON object a line (`application/x-ndjson`): `started`
/// (the gateway's job id), `answer` and `reasoning` pieces verbatim, then `job` (the finished
/// job, as `GET /conjure/v1/jobs/{id}` shows it) or `error` (`outcome_unknown` when the
/// stream was cut upstream: the request may have been charged and is never sent again). A
/// stream that ends without either was cut between the gateway and the member.
fn streamed(
    gw: Gateway,
    first: &Value,
    rx: tokio::sync::mpsc::UnboundedReceiver<Piece>,
    base: String,
) -> Response {
    let line = |v: &Value| Bytes::from(format!("{v}\n"));
    let head = futures_util::stream::once(std::future::ready(Ok::<_, std::io::Error>(line(first))));
    let rest = futures_util::stream::unfold(Some((gw, rx, base)), move |state| async move {
        let (gw, mut rx, base) = state?;
        match rx.recv().await? {
            Piece::Line(v) => Some((Ok(line(&v)), Some((gw, rx, base)))),
            Piece::NotSent(_) => None,
            Piece::Done(sent) => {
                let last = match *sent {
                    Ok(job) => json!({"job": job_view(&job, &base)}),
                    Err(RunError::Failed { job, .. }) => match gw.store.get(&job).await {
                        Ok(record) => json!({"job": job_view(&record, &base)}),
                        Err(e) => json!({"error": {"code": "store", "message": e.to_string()}}),
                    },
                    Err(RunError::Unknown { job, error: cause, quoted }) => json!({"error": {
                        "code": "outcome_unknown",
                        "message": format!("The answer was cut ({cause}); it may have been charged up to {quoted} credits and was not sent again"),
                        "hint": format!("do not send it again blindly: GET /conjure/v1/jobs/{job} shows what is known"),
                        "job": job.as_str(), "exposure_credits": quoted}}),
                    Err(other) => {
                        json!({"error": {"code": "upstream_failed", "message": other.to_string()}})
                    }
                };
                Some((Ok(line(&last)), None))
            }
        }
    });
    let mut response = Body::from_stream(head.chain(rest)).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
    response
}

/// The answer to a spend whose job is over (or was never sent): the job, or why not.
async fn answer_sent(gw: &Gateway, sent: Result<JobRecord, RunError>, base: &str) -> Response {
    match sent {
        Ok(job) => (StatusCode::CREATED, Json(job_view(&job, base))).into_response(),
        Err(RunError::Failed { job, .. }) => match gw.store.get(&job).await {
            Ok(record) => (StatusCode::CREATED, Json(job_view(&record, base))).into_response(),
            Err(e) => api::app_error(&AppError::from(e)),
        },
        Err(RunError::Refused(refusal)) => {
            if let policy::SpendRefusal::TokenUsed { job } = &refusal {
                let message = format!("This quote already sent job {job}; nothing was sent again");
                return (
                    StatusCode::CONFLICT,
                    Json(json!({
                        "detail": message,
                        "error": {"code": "approval_used", "message": message,
                            "hint": format!("GET /conjure/v1/jobs/{job} shows it; to send the request again, quote it again")},
                        "job": job.as_str(),
                    })),
                )
                    .into_response();
            }
            api::refused(&refusal)
        }
        Err(RunError::Unknown { job, error: cause, quoted }) => {
            let message = format!(
                "The provider's answer to this request was lost ({cause}); it may have been charged up to {quoted} credits and was not sent again"
            );
            (
                StatusCode::BAD_GATEWAY,
                Json(json!({
                    "detail": message,
                    "error": {"code": "outcome_unknown", "message": message, "retryable": false,
                        "hint": format!("do not send it again blindly: GET /conjure/v1/jobs/{job} shows what is known")},
                    "job": job.as_str(),
                    "exposure_credits": quoted,
                })),
            )
                .into_response()
        }
        Err(RunError::Rejected { error: cause, .. }) => api::upstream_refused(&cause),
        Err(other) => api::app_error(&AppError::from(other)),
    }
}

/// The provider-neutral status a client of the own API reads for `state`. `unknown` is kept
/// as it is: a client treats it as still running (bounded by its own deadline), never as done.
fn remote_status(state: JobState) -> RemoteStatus {
    match state {
        JobState::Quoted | JobState::Submitting | JobState::Submitted => RemoteStatus::Queued,
        JobState::Processing => RemoteStatus::Processing,
        JobState::Completed => RemoteStatus::Completed,
        JobState::Partial => RemoteStatus::Partial,
        JobState::Failed | JobState::Expired => RemoteStatus::Failed,
        JobState::Rejected => RemoteStatus::Rejected,
        JobState::Unknown => RemoteStatus::Other("unknown".to_owned()),
    }
}

fn output_url(base: &str, job: &JobId, n: usize) -> String {
    format!("{base}{PREFIX}/jobs/{job}/outputs/{n}")
}

/// A job as the own API shows it: its record's main fields, its files (as URLs of this
/// gateway, never the provider's) and the provider's last answer in conjure's neutral shape
/// (`snapshot`), with the gateway's job id as its request id.
pub fn job_view(job: &JobRecord, base: &str) -> Value {
    let last: Option<Snapshot> =
        job.last_snapshot.clone().and_then(|v| serde_json::from_value(v).ok());
    let mut snapshot = last.unwrap_or_else(|| Snapshot::new(None, RemoteStatus::Queued));
    snapshot.request_id = Some(job.id.to_string());
    snapshot.status = remote_status(job.state);
    snapshot.credits_spent = job.credits_spent;
    let done = matches!(job.state, JobState::Completed | JobState::Partial);
    for (n, asset) in snapshot.assets.iter_mut().enumerate() {
        asset.url = output_url(base, &job.id, n);
        asset.fallback_url = None;
    }
    if !done {
        snapshot.assets.clear();
    }
    let outputs: Vec<Value> = snapshot
        .assets
        .iter()
        .enumerate()
        .map(|(n, a)| {
            json!({"index": n, "url": a.url, "mime": a.mime, "width": a.width,
                "height": a.height, "duration_seconds": a.duration_seconds})
        })
        .collect();
    let exposure = policy::is_exposure(job.state).then_some(job.quoted_credits);
    json!({
        "id": job.id.as_str(),
        "state": job.state.as_str(),
        "provider": job.provider.as_str(),
        "kind": job.kind,
        "model": job.model,
        "prompt": job.prompt,
        "quoted_credits": job.quoted_credits,
        "quoted_usd": job.quoted_usd,
        "credits_spent": job.credits_spent,
        "exposure_credits": exposure,
        "note": job.error,
        "created_at": conjure_app::timefmt::rfc3339_millis(job.created_at),
        "updated_at": conjure_app::timefmt::rfc3339_millis(job.updated_at),
        "outputs": outputs,
        "snapshot": snapshot,
    })
}

/// `member`'s job `id`, polled once upstream while it runs; once finished, its files are
/// stored (this instance is then the one that finished it).
async fn fresh_job(gw: &Gateway, member: &MemberId, id: &str) -> Result<JobRecord, Response> {
    let job = match gw.store.member_job(member, id).await {
        Ok(Some(job)) => job,
        Ok(None) => return Err(not_found(id)),
        Err(e) => return Err(api::store_error(&e)),
    };
    if job.state.is_terminal() || job.request_id.is_none() {
        return Ok(job);
    }
    let job = api::refresh(gw, job).await;
    if matches!(job.state, JobState::Completed | JobState::Partial)
        && let Ok(connected) = gw.app.connect(job.provider)
        && let Err(e) = gw.storage.store_all(&connected, member, &job).await
    {
        // The files are fetched again by the first request for them.
        tracing::warn!(job = %job.id, error = %e, "could not store a finished job's files");
    }
    Ok(job)
}

async fn job(
    State(gw): State<Gateway>,
    member: Option<Extension<MemberId>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let Some(Extension(member)) = member else { return member_key_required() };
    match fresh_job(&gw, &member, &id).await {
        Ok(job) => Json(job_view(&job, &base_url(&headers))).into_response(),
        Err(r) => r,
    }
}

/// `GET /conjure/v1/jobs?limit=&token=`.
#[derive(Debug, Deserialize)]
pub struct JobsQuery {
    pub limit: Option<i64>,
    /// Only the job this quote token sent (a client whose answer was lost finds it so).
    pub token: Option<String>,
}

async fn jobs(
    State(gw): State<Gateway>,
    member: Option<Extension<MemberId>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let Some(Extension(member)) = member else { return member_key_required() };
    let q: JobsQuery = match query(uri.query()) {
        Ok(q) => q,
        Err(r) => return *r,
    };
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let ids: Result<Vec<String>, _> = sqlx::query_scalar(
        "SELECT id FROM jobs WHERE member_id = $1 \
           AND ($2::TEXT IS NULL OR id IN (SELECT job_id FROM approvals WHERE token = $2)) \
         ORDER BY created_at DESC, seq DESC LIMIT $3",
    )
    .bind(member.as_str())
    .bind(q.token.as_deref().map(str::trim))
    .bind(limit)
    .fetch_all(gw.store.pool())
    .await;
    let ids = match ids {
        Ok(ids) => ids,
        Err(e) => return api::store_error(&PgStoreError::from(e)),
    };
    let base = base_url(&headers);
    let mut list = Vec::new();
    for id in ids {
        let Some(id) = JobId::parse(&id) else { continue };
        match gw.store.get(&id).await {
            Ok(job) => list.push(job_view(&job, &base)),
            Err(e) => return api::app_error(&AppError::from(e)),
        }
    }
    Json(json!({"jobs": list})).into_response()
}

async fn outputs(
    State(gw): State<Gateway>,
    member: Option<Extension<MemberId>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let Some(Extension(member)) = member else { return member_key_required() };
    match fresh_job(&gw, &member, &id).await {
        Ok(job) => {
            let view = job_view(&job, &base_url(&headers));
            Json(json!({"job": job.id.as_str(), "state": job.state.as_str(), "outputs": view["outputs"]}))
                .into_response()
        }
        Err(r) => r,
    }
}

async fn output(
    State(gw): State<Gateway>,
    member: Option<Extension<MemberId>>,
    Path((id, n)): Path<(String, String)>,
) -> Response {
    let Some(Extension(member)) = member else { return member_key_required() };
    let Ok(n) = n.parse::<usize>() else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &format!("`{n}` is not a file number"),
            Some("use the index GET /conjure/v1/jobs/{id}/outputs lists (0, 1, ...)"),
        );
    };
    let job = match fresh_job(&gw, &member, &id).await {
        Ok(job) => job,
        Err(r) => return r,
    };
    let connected = gw.app.connect(job.provider).ok();
    let stored = match gw.storage.file(connected.as_ref(), &member, &job, n).await {
        Ok(s) => s,
        Err(e) => return storage_error(&e),
    };
    let file = match tokio::fs::File::open(&stored.path).await {
        Ok(f) => f,
        Err(source) => {
            let e = crate::storage::StorageError::Io {
                path: stored.path.display().to_string(),
                source,
            };
            return storage_error(&e);
        }
    };
    let length = file.metadata().await.map(|m| m.len()).ok();
    let stream = futures_util::stream::unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt as _;
        let mut buf = vec![0_u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(read) => {
                buf.truncate(read);
                Some((Ok::<_, std::io::Error>(buf), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    });
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&stored.mime) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    if let Some(len) = length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    response
}

async fn spent(State(gw): State<Gateway>, member: Option<Extension<MemberId>>) -> Response {
    let Some(Extension(member)) = member else { return member_key_required() };
    let now = timefmt_now();
    let sandbox = gw.app.config.sandbox;
    let usage = match admin::usage(&gw.store, Some(&member), sandbox, now).await {
        Ok(mut list) if !list.is_empty() => list.remove(0),
        Ok(_) => return api::store_error(&PgStoreError::UnknownMember(member.to_string())),
        Err(e) => return api::store_error(&e),
    };
    let profile = match admin::member(&gw.store, &member).await {
        Ok(Some(m)) => m,
        Ok(None) => return api::store_error(&PgStoreError::UnknownMember(member.to_string())),
        Err(e) => return api::store_error(&e),
    };
    let window = match admin::window_spent(&gw.store, &member, sandbox, now).await {
        Ok(s) => s,
        Err(e) => return api::store_error(&e),
    };
    let remaining: HashMap<&str, Option<conjure_core::Credits>> = conjure_providers::registry::ALL
        .into_iter()
        .map(|p| {
            let price = gw.app.config.price(p);
            (p.as_str(), policy::remaining_credits(&profile.budgets, &window, p, price))
        })
        .collect();
    Json(json!({
        "member": usage.member,
        "per_request": usage.per_request,
        "windows": usage.windows,
        "jobs": usage.jobs,
        "exposure": {"jobs": usage.exposure_jobs, "credits": usage.exposure_credits},
        "remaining_credits": remaining,
        "meaning": "remaining_credits is what your gateway budgets leave you, per provider (null: no budget limits you)",
    }))
    .into_response()
}

/// `GET /conjure/v1/events?since=MS`.
#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    /// Unix milliseconds: changes after this moment (default: from now on).
    pub since: Option<i64>,
}

/// How often the events stream looks for changes. Job changes are written by whichever
/// instance made them, so the stream reads the database rather than this instance's memory.
const EVENTS_EVERY: Duration = Duration::from_millis(300);

struct Watch {
    gw: Gateway,
    member: MemberId,
    base: String,
    since: i64,
    /// Only events numbered after this one (a reconnecting client's `Last-Event-ID`).
    after: i64,
    /// The job events already sent, by their sequence number.
    sent: std::collections::BTreeSet<i64>,
    queue: std::collections::VecDeque<SseEvent>,
}

/// How far back (in sequence numbers) the stream reads again: an event numbered before one
/// already read may commit after it, and is still sent, once.
const LATE_EVENTS: i64 = 1_000;

impl Watch {
    async fn look(&mut self) -> Result<(), PgStoreError> {
        let floor =
            self.sent.last().map_or(self.after, |last| (last - LATE_EVENTS).max(self.after));
        let rows = sqlx::query(
            "SELECT e.seq, e.job_id, e.to_state, e.at FROM job_events e \
             JOIN jobs j ON j.id = e.job_id \
             WHERE j.member_id = $1 AND e.seq > $2 AND e.at >= $3 ORDER BY e.seq",
        )
        .bind(self.member.as_str())
        .bind(floor)
        .bind(self.since)
        .fetch_all(self.gw.store.pool())
        .await?;
        for r in rows {
            let seq: i64 = r.try_get(0)?;
            if !self.sent.insert(seq) {
                continue;
            }
            let id: String = r.try_get(1)?;
            let state: String = r.try_get(2)?;
            let at: i64 = r.try_get(3)?;
            let Some(job_id) = JobId::parse(&id) else { continue };
            let Ok(job) = self.gw.store.get(&job_id).await else { continue };
            let name = state
                .parse::<JobState>()
                .ok()
                .and_then(EventType::for_state)
                .map_or("job.updated", EventType::as_str);
            let data = json!({"type": name, "timestamp": conjure_app::timefmt::rfc3339_millis(at),
                "state": state, "data": job_view(&job, &self.base)});
            self.queue.push_back(
                SseEvent::default().event(name).id(seq.to_string()).data(data.to_string()),
            );
        }
        while self.sent.len() > 4 * LATE_EVENTS as usize {
            self.sent.pop_first();
        }
        Ok(())
    }
}

async fn events(
    State(gw): State<Gateway>,
    member: Option<Extension<MemberId>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let Some(Extension(member)) = member else { return member_key_required() };
    let q: EventsQuery = match query(uri.query()) {
        Ok(q) => q,
        Err(r) => return *r,
    };
    // A reconnecting EventSource names the last event it read: it gets every later one.
    let resumed = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let watch = Watch {
        gw,
        member,
        base: base_url(&headers),
        since: match (resumed, q.since) {
            (Some(_), None) => 0,
            (_, Some(since)) => since,
            (None, None) => timefmt_now(),
        },
        after: resumed.unwrap_or(0),
        sent: std::collections::BTreeSet::new(),
        queue: std::collections::VecDeque::new(),
    };
    let stream = futures_util::stream::unfold(watch, |mut w| async move {
        loop {
            if let Some(event) = w.queue.pop_front() {
                return Some((Ok::<_, std::convert::Infallible>(event), w));
            }
            if let Err(e) = w.look().await {
                let event = SseEvent::default()
                    .event("error")
                    .data(json!({"message": e.to_string(), "hint": e.hint()}).to_string());
                tokio::time::sleep(EVENTS_EVERY).await;
                return Some((Ok(event), w));
            }
            if w.queue.is_empty() {
                tokio::time::sleep(EVENTS_EVERY).await;
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_is_never_shown_as_finished() {
        assert!(!remote_status(JobState::Unknown).is_terminal());
        assert!(!remote_status(JobState::Submitting).is_terminal());
        assert_eq!(remote_status(JobState::Expired), RemoteStatus::Failed);
    }

    #[test]
    fn local_paths_and_provider_webhooks_are_refused() {
        let image = |refs: Vec<&str>| {
            Request::Image(conjure_app::ImageRequest {
                refs: refs.into_iter().map(str::to_owned).collect(),
                ..conjure_app::ImageRequest::new("x")
            })
        };
        assert!(check_remote(&image(vec!["https://example.com/a.png"])).is_ok());
        assert!(check_remote(&image(vec!["data:image/png;base64,AAAA"])).is_ok());
        let e = check_remote(&image(vec!["/etc/passwd"])).unwrap_err();
        assert!(e.message.contains("/etc/passwd") && e.hint.is_some(), "{e:?}");
        let mut hooked = conjure_app::ImageRequest::new("x");
        hooked.hooks.webhook = Some("https://example.com/hook".into());
        assert!(check_remote(&Request::Image(hooked)).is_err());
    }
}
