//! The HTTP routes and their handlers.
//!
//! | Route | Auth | Answer |
//! |---|---|---|
//! | `POST /v1/generation-requests` | key + secret headers | envelope, `rejected`, 400/401/402/422 |
//! | `GET /v1/generation-requests/{id}` | key + secret headers | envelope (media or async text), 404, injected 429 |
//! | `POST /v1/chat/completions` | Bearer `key:secret` | `chat.completion`, SSE chunks, or with `?wait=false` the envelope; 400/401/402/422, injected 500 ([`crate::text`]) |
//! | `GET /v1/text/attestation` | Bearer `key:secret` | placeholder attestation, 400/401/422 ([`crate::attest`]) |
//! | `GET /v1/models` | none | sectioned, or an OpenAI list when `Authorization` is present |
//! | `GET /v1/me/balance` | headers or Bearer `key:secret` | `{"credits":"…"}` |
//! | `GET /llms.txt` | none | plain-text catalogue summary ([`crate::llms`]) |
//! | `GET /assets/{request_id}/{file}` | none (signed URLs in reality) | placeholder bytes |
//! | `GET /_sandbox/stats` | none | [`crate::Stats`] |
//! | `POST /api/v1/{midjourney,nova}/imagine`, `…/{midjourney,nova}/button`, `/api/v1/flux/{imagine,upscale}`, `/api/v1/universal/{imagine,zimage}`, `/api/v1/gemini/imagine`, `/api/v1/video/mj/{generate,extend}`, `/api/v1/tools/remove-bg` | Bearer ImaginePro key | `{success, messageId, createdAt}`; 400/401 `{message, error, statusCode}`, injected 500 ([`crate::imaginepro`]) |
//! | `GET /api/v1/midjourney/message/{id}`, `/api/v1/message/fetch/{id}`, `/api/v1/video/mj/fetch/{id}` | Bearer ImaginePro key | the message object, 404, injected 429 |
//! | `POST /api/v1/tools/prompt-extend` | Bearer ImaginePro key | `{"prompt": …}` at once, free |
//! | `GET /assets/imaginepro/{messageId}/{index}.{png,mp4}` | none | placeholder bytes |
//!
//! A middleware adds the injected latency and logs method, path and status at debug level;
//! headers and bodies are never logged. Another ([`crate::echo`]) puts the request's credentials
//! into non-2xx bodies under the echo-credentials fault. Asset downloads read the asset-404
//! and asset-slow-ms faults when they are asked for, not when the job was accepted; polls read
//! `hold` the same way. The faults of a paid POST after acceptance are [`after_accept`], shared
//! with the ImaginePro half. `?wait=true` is accepted and
//! ignored: the sandbox always answers at once with `processing`.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Request, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use conjure_core::catalogue::MediaKind;
use conjure_core::money::Credits;
use conjure_core::spec::ImageFormat;
use futures_util::StreamExt as _;
use serde_json::json;
use time::OffsetDateTime;

use crate::auth::{AuthForms, presented};
use crate::conn::ConnHandle;
use crate::echo;
use crate::envelope::{self, AssetPart};
use crate::faults::Faults;
use crate::media::image::{self, Placeholder};
use crate::media::video::VideoJob;
use crate::state::{AppState, Counters, Job, JobItem, Phase, PollOutcome, Work, credits_string};
use crate::submit::{self, BodyError, PlannedItem};

/// Inline `data:` inputs make bodies large; the real service takes multi-megabyte images.
const BODY_LIMIT: usize = 64 * 1024 * 1024;
/// A prompt containing this marker always fails, whatever the failure rate: a deterministic
/// way for tests to get a `partial_failure`.
pub const FAIL_MARKER: &str = "sandbox:fail";

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/generation-requests", post(submit))
        .route("/v1/generation-requests/{id}", get(poll))
        .route("/v1/chat/completions", post(crate::text::chat))
        .route("/v1/text/attestation", get(crate::attest::attestation))
        .route("/llms.txt", get(crate::llms::llms_txt))
        .route("/v1/models", get(models))
        .route("/v1/me/balance", get(balance))
        .route("/assets/{request_id}/{file}", get(asset))
        .route("/assets/imaginepro/{message_id}/{file}", get(crate::imaginepro::asset))
        .nest(crate::imaginepro::PREFIX, crate::imaginepro::router())
        .route("/_sandbox/stats", get(stats))
        .fallback(|| async { detail(StatusCode::NOT_FOUND, "Not Found") })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(Arc::clone(&state), echo::layer))
        .layer(middleware::from_fn_with_state(Arc::clone(&state), observe))
        .with_state(state)
}

async fn observe(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let latency = state.faults().latency_ms;
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let response = next.run(request).await;
    tracing::debug!(%method, %path, status = response.status().as_u16(), "sandbox request");
    response
}

pub(crate) fn detail(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "detail": message }))).into_response()
}

/// The two documented 401 answers.
#[derive(Clone, Copy, Debug)]
pub(crate) enum AuthFailure {
    Missing,
    Invalid,
}

impl IntoResponse for AuthFailure {
    fn into_response(self) -> Response {
        let message = match self {
            AuthFailure::Missing => "Missing API credentials",
            AuthFailure::Invalid => "Invalid API credentials",
        };
        detail(StatusCode::UNAUTHORIZED, message)
    }
}

/// Checks credentials and returns the key.
pub(crate) fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    forms: AuthForms,
) -> Result<String, AuthFailure> {
    let creds = presented(headers, forms).ok_or(AuthFailure::Missing)?;
    if state.authenticate(&creds.key, &creds.secret) {
        Ok(creds.key)
    } else {
        Err(AuthFailure::Invalid)
    }
}

/// 24 random hex digits, for ids.
pub(crate) fn random_token() -> String {
    let mut bytes = [0_u8; 12];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: fall back to the clock, which is unique enough for a sandbox.
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
        bytes.copy_from_slice(&nanos.to_le_bytes()[..12]);
    }
    hex::encode(bytes)
}

pub(crate) fn request_id() -> String {
    format!("req_{}", random_token())
}

async fn submit(
    State(state): State<Arc<AppState>>,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    Counters::bump(&state.counters.submit_posts_received);
    let faults = state.faults();
    if faults.reset_before_accept {
        conn.kill();
        return detail(StatusCode::INTERNAL_SERVER_ERROR, "connection reset");
    }
    let key = match authenticate(&state, &headers, AuthForms::HeaderPair) {
        Ok(key) => key,
        Err(failure) => return failure.into_response(),
    };
    if faults.submit_429 {
        return too_many_requests(
            detail(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded"),
            faults.retry_after_secs,
        );
    }
    let items = match submit::plan(&body, state.catalogue()) {
        Ok(items) => items,
        Err(BodyError::BadRequest(message)) => return detail(StatusCode::BAD_REQUEST, &message),
        Err(BodyError::Unprocessable(message)) => {
            return detail(StatusCode::UNPROCESSABLE_ENTITY, &message);
        }
    };
    let now = OffsetDateTime::now_utc();
    if items.iter().any(|i| i.invalid.is_some()) {
        return Json(envelope::rejected(&request_id(), &items, now)).into_response();
    }
    // The overcharge fault: the provider takes more than the catalogue quote for every item.
    let price = |plan: &PlannedItem| plan.credits + faults.overcharge;
    let total: Credits = items.iter().map(price).sum();
    if !state.charge(&key, total) {
        return detail(StatusCode::PAYMENT_REQUIRED, "Insufficient credits");
    }
    let items: Vec<JobItem> = items
        .into_iter()
        .map(|plan| {
            let ordinal = Counters::bump(&state.counters.items);
            let fails = faults.item_fails(ordinal) || plan.prompt.contains(FAIL_MARKER);
            JobItem { charged: price(&plan), plan, fails }
        })
        .collect();
    let job = Job {
        id: request_id(),
        owner: key,
        created_at: now,
        updated_at: now,
        work: Work::Media(items),
        faults: faults.clone(),
        rate_limited: 0,
        polls: 0,
        phase: Phase::Processing,
    };
    // Nothing has failed yet at acceptance, so there is no item message to echo into.
    let body = envelope::render(&job, &state.base_url, faults.poll_after_secs, None);
    tracing::debug!(request_id = %job.id, credits = %total, "sandbox accepted a submission");
    state.insert_job(job);
    Counters::bump(&state.counters.submissions_accepted);
    if let Some(misbehaved) = after_accept(&faults, &conn, || {
        detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
    })
    .await
    {
        return misbehaved;
    }
    Json(body).into_response()
}

/// The faults of a paid POST that was accepted and charged, in both halves: the answer waits
/// (`submit-delay-ms`), then the connection is dropped, a 500 (`internal_error`) or a body that
/// is not JSON is sent instead of the real answer. `None`: answer as usual.
pub(crate) async fn after_accept(
    faults: &Faults,
    conn: &ConnHandle,
    internal_error: impl FnOnce() -> Response,
) -> Option<Response> {
    if faults.submit_delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.submit_delay_ms)).await;
    }
    if faults.drop_after_accept {
        conn.kill();
        return Some(internal_error());
    }
    if faults.submit_500 {
        return Some(internal_error());
    }
    if faults.malformed_json {
        let headers = [(CONTENT_TYPE, HeaderValue::from_static("application/json"))];
        return Some((StatusCode::OK, headers, "{\"id\": \"req_").into_response());
    }
    None
}

/// `response` as a 429 announcing `Retry-After: seconds`.
pub(crate) fn too_many_requests(mut response: Response, seconds: u32) -> Response {
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// How much of an asset body goes out at a time under the `asset-slow-ms` fault.
const SLOW_CHUNK: usize = 512;

/// An asset's bytes as a response body: whole, or under `asset-slow-ms` in small chunks that
/// many milliseconds apart.
pub(crate) fn asset_body(bytes: Vec<u8>, slow_ms: u64) -> Body {
    if slow_ms == 0 {
        return Body::from(bytes);
    }
    let chunks: Vec<Bytes> = bytes.chunks(SLOW_CHUNK).map(Bytes::copy_from_slice).collect();
    let stream = futures_util::stream::iter(chunks).then(move |chunk| async move {
        tokio::time::sleep(Duration::from_millis(slow_ms)).await;
        Ok::<_, std::convert::Infallible>(chunk)
    });
    Body::from_stream(stream)
}

async fn poll(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    Counters::bump(&state.counters.polls);
    let key = match authenticate(&state, &headers, AuthForms::HeaderPair) {
        Ok(key) => key,
        Err(failure) => return failure.into_response(),
    };
    let faults = state.faults();
    let echo = if faults.echo_credentials { echo::carried(&headers) } else { None };
    match state.advance(&id, &key, OffsetDateTime::now_utc(), faults.hold) {
        PollOutcome::NotFound => detail(StatusCode::NOT_FOUND, "Not found"),
        PollOutcome::RateLimited { retry_after } => too_many_requests(
            detail(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded"),
            retry_after,
        ),
        PollOutcome::Envelope(job) => {
            Json(envelope::render(&job, &state.base_url, faults.poll_after_secs, echo.as_deref()))
                .into_response()
        }
    }
}

async fn models(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let body = if headers.contains_key(AUTHORIZATION) {
        crate::models::openai_list(state.catalogue())
    } else {
        crate::models::sectioned(state.catalogue())
    };
    Json(body).into_response()
}

async fn balance(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let key = match authenticate(&state, &headers, AuthForms::PairOrBearer) {
        Ok(key) => key,
        Err(failure) => return failure.into_response(),
    };
    let credits = state.balance(&key).unwrap_or_default();
    Json(json!({ "credits": credits_string(credits) })).into_response()
}

async fn stats(State(state): State<Arc<AppState>>) -> Response {
    Json(state.stats()).into_response()
}

fn placeholder_note(plan: &PlannedItem, (w, h): (u32, u32)) -> String {
    match plan.kind {
        MediaKind::Video => {
            let audio = if plan.model.audio_output { ", with audio" } else { "" };
            format!("video {} s, {w}x{h}{audio}", plan.duration.unwrap_or_default())
        }
        _ => format!("image {w}x{h} {}", image::extension(plan.format)),
    }
}

/// Renders and encodes a picture off the async threads.
async fn picture(
    plan: &PlannedItem,
    size: (u32, u32),
    format: ImageFormat,
) -> Result<Vec<u8>, String> {
    let model = plan.model.id.clone();
    let prompt = plan.prompt.clone();
    let note = placeholder_note(plan, envelope::output_size(plan));
    tokio::task::spawn_blocking(move || {
        let p = Placeholder {
            model: &model,
            prompt: &prompt,
            note: Some(&note),
            width: size.0,
            height: size.1,
        };
        image::encode(&image::render(&p), format).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| format!("The placeholder renderer stopped: {e}"))?
}

async fn asset(
    State(state): State<Arc<AppState>>,
    Path((request_id, file)): Path<(String, String)>,
) -> Response {
    let not_found = || detail(StatusCode::NOT_FOUND, "Not found");
    // Read now, not at acceptance: the same URL works again once the fault is lifted.
    let faults = state.faults();
    if faults.asset_404 {
        return not_found();
    }
    let Some(job) = state.completed_job(&request_id) else { return not_found() };
    let Some((index, part)) = envelope::parse_asset(&file) else { return not_found() };
    let Work::Media(items) = &job.work else { return not_found() };
    let Some(item) = items.get(index).filter(|i| !i.fails) else { return not_found() };
    let plan = &item.plan;
    let size = envelope::output_size(plan);
    let result = match part {
        AssetPart::Main if file != envelope::main_file(index, plan) => return not_found(),
        AssetPart::FinalFrame if plan.kind != MediaKind::Video => return not_found(),
        AssetPart::Main if plan.kind == MediaKind::Video => {
            video(&state, &job.id, index, plan, size).await
        }
        AssetPart::Main => {
            picture(plan, size, plan.format).await.map(|b| (b, image::mime(plan.format)))
        }
        AssetPart::Thumbnail => picture(plan, envelope::thumbnail_size(plan), ImageFormat::Png)
            .await
            .map(|b| (b, "image/png")),
        AssetPart::FinalFrame => {
            picture(plan, size, ImageFormat::Png).await.map(|b| (b, "image/png"))
        }
    };
    match result {
        Ok((bytes, mime)) => {
            Counters::bump(&state.counters.downloads);
            let headers = [
                (CONTENT_TYPE, HeaderValue::from_static(mime)),
                (CACHE_CONTROL, HeaderValue::from_static("private, max-age=259200")),
            ];
            (headers, asset_body(bytes, faults.asset_slow_ms)).into_response()
        }
        Err(message) => detail(StatusCode::INTERNAL_SERVER_ERROR, &message),
    }
}

async fn video(
    state: &AppState,
    request_id: &str,
    index: usize,
    plan: &PlannedItem,
    (width, height): (u32, u32),
) -> Result<(Vec<u8>, &'static str), String> {
    let note = placeholder_note(plan, (width, height));
    let label_text = format!(
        "{}\nmodel: {}\n{note}\nprompt: {}",
        image::TITLE,
        plan.model.id,
        plan.prompt.chars().take(60).collect::<String>()
    );
    let label_png = image::video_label_png(
        plan.model.id.clone(),
        plan.prompt.clone(),
        note.clone(),
        width,
        height,
    )
    .await?;
    let job = VideoJob {
        width,
        height,
        seconds: plan.duration.unwrap_or(1).max(1),
        audio: plan.model.audio_output,
        label_text: &label_text,
        label_png: &label_png,
    };
    let path = state.media.video(&format!("{request_id}-{index}.mp4"), &job).await?;
    let bytes =
        tokio::fs::read(&path).await.map_err(|e| format!("Cannot read the encoded video: {e}"))?;
    Ok((bytes, "video/mp4"))
}
