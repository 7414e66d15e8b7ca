//! The sandbox's ImaginePro half: ImaginePro's REST API (`imaginepro-api.md`) under `/api/v1`,
//! on the same server and port as Katana, so one `conjure sandbox serve` answers both.
//!
//! Both path families (`/midjourney/*` and `/nova/*` + `/message/fetch/*`) and every endpoint
//! with a known path and body share one job store ([`store`]); every job can be fetched on all
//! three message paths (the skill's helper polls `/midjourney/message/{id}` for every model,
//! the JS SDK polls video at `/video/mj/fetch/{id}`). Bodies are checked in [`plan`], webhooks
//! sent by [`webhook`]. Every error is JSON in the documented shape `{message, error,
//! statusCode}` (§11), because both SDKs decode error bodies as JSON and show `error`.
//!
//! Decisions where the contract is silent (§15), each documented where it is made:
//! - Auth is `Authorization: Bearer <key>` against the configured ImaginePro keys (not the
//!   Katana pairs); a missing or unknown key, and a balance that does not cover the price, are
//!   401 like the real API (the 401 ambiguity is the point).
//! - Prices are the table's (`conjure_core::catalogue::imaginepro`); unpublished ones are
//!   [`plan::UNPUBLISHED_PRICE`] credits. A `FAIL` refunds the job's whole charge.
//! - A button press must name a message of the same key that is `DONE` and offers that button;
//!   otherwise 400. Button lists per message kind are in [`plan`].
//! - The faults are the Katana half's: `steps`, `fail-rate`/`seed` (and the `sandbox:fail`
//!   prompt marker), `rate-limit-polls`/`retry-after` on fetches, `submit-500` and
//!   `drop-after-accept` after a paid submit was accepted and charged, `stale`, `overcharge`,
//!   `echo-credentials` (also in a `FAIL`'s `error`), `asset-404` and `latency-ms`, and the
//!   fault matrix's `reset-before-accept`, `submit-delay-ms`, `malformed-json`, `submit-429`,
//!   `asset-slow-ms` and `hold`.
//! - Results are labelled placeholder PNGs (and MP4s for MJ video, `ffmpeg` needed) served from
//!   `/assets/imaginepro/{messageId}/{index}.{png,mp4}`; input image URLs are never fetched.
//!   Flux's `output_format` is checked but the placeholder is always PNG.
//!
//! Not served: the endpoints §5.12 lists without a path (Describe, Blend, Account Info, ...).

pub(crate) mod plan;
pub(crate) mod store;
mod webhook;

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use conjure_core::spec::ImageFormat;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::conn::ConnHandle;
use crate::echo;
use crate::media::image::{self, Placeholder};
use crate::media::video::VideoJob;
use crate::server::{self, FAIL_MARKER};
use crate::state::{AppState, Counters};
use plan::{BadRequest, Output, Parent, Plan};
use store::{Delivery, Fetched, IpCounters, IpJob, Status, Tick};

/// The API prefix every path is relative to (§1).
pub(crate) const PREFIX: &str = "/api/v1";
/// How often a job with a loopback webhook steps on its own.
const TICK: Duration = Duration::from_millis(100);

/// The routes under [`PREFIX`].
pub(crate) fn router() -> Router<Arc<AppState>> {
    let paid = || post(submit);
    Router::new()
        .route("/midjourney/imagine", paid())
        .route("/nova/imagine", paid())
        .route("/midjourney/button", paid())
        .route("/nova/button", paid())
        .route("/flux/imagine", paid())
        .route("/flux/upscale", paid())
        .route("/universal/imagine", paid())
        .route("/universal/zimage", paid())
        .route("/gemini/imagine", paid())
        .route("/video/mj/generate", paid())
        .route("/video/mj/extend", paid())
        .route("/tools/remove-bg", paid())
        .route("/tools/prompt-extend", post(prompt_extend))
        .route("/midjourney/message/{id}", get(fetch))
        .route("/message/fetch/{id}", get(fetch))
        .route("/video/mj/fetch/{id}", get(fetch))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "No such ImaginePro endpoint.") })
        // axum's own 405 has an empty body, which both SDKs would fail to decode (§11).
        .method_not_allowed_fallback(|| async {
            error(StatusCode::METHOD_NOT_ALLOWED, "Wrong HTTP method for this endpoint.")
        })
}

/// An error in the documented shape (§11).
pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    let reason = status.canonical_reason().unwrap_or("Error");
    (status, Json(json!({ "message": message, "error": reason, "statusCode": status.as_u16() })))
        .into_response()
}

#[expect(clippy::needless_pass_by_value, reason = "used as a map_err target")]
fn bad_request(e: BadRequest) -> Response {
    error(StatusCode::BAD_REQUEST, &e.0)
}

/// The key of a valid `Authorization: Bearer <key>`, or the 401.
#[expect(clippy::result_large_err, reason = "the error is the answer itself")]
fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<String, Response> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "Missing API key: send Authorization: Bearer <key>.",
        ));
    };
    let key = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).map(str::trim);
    match key {
        Some(key) if state.imaginepro.knows(key) => Ok(key.to_owned()),
        _ => Err(error(StatusCode::UNAUTHORIZED, "Invalid API key.")),
    }
}

#[expect(clippy::result_large_err, reason = "the error is the answer itself")]
fn object(body: &[u8]) -> Result<Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(error(StatusCode::BAD_REQUEST, "The body must be a JSON object.")),
    }
}

/// A random version-4 UUID, the shape of ImaginePro's message ids.
fn uuid() -> String {
    let mut b = [0_u8; 16];
    if getrandom::fill(&mut b).is_err() {
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
        b.copy_from_slice(&nanos.to_le_bytes());
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// The plan of a body at `path`, looking up the parent of a button press or video extension.
fn plan_for(
    state: &AppState,
    key: &str,
    path: &str,
    body: &Map<String, Value>,
) -> Result<(Plan, Option<String>), BadRequest> {
    let fresh = |plan: Result<Plan, BadRequest>| plan.map(|p| (p, None));
    match path {
        "/midjourney/imagine" | "/nova/imagine" => fresh(plan::mj_imagine(body)),
        "/flux/imagine" => fresh(plan::flux_imagine(body)),
        "/flux/upscale" => fresh(plan::flux_upscale(body)),
        "/universal/imagine" => fresh(plan::universal_imagine(body)),
        "/universal/zimage" => fresh(plan::zimage(body)),
        "/gemini/imagine" => fresh(plan::gemini_imagine(body)),
        "/video/mj/generate" => fresh(plan::video_generate(body)),
        "/tools/remove-bg" => fresh(plan::remove_bg(body)),
        "/midjourney/button" | "/nova/button" => {
            let (id, _) = plan::button_fields(body)?;
            let parent = finished_parent(state, key, id)?;
            let size = match parent.plan.output {
                Output::Images { size, .. } | Output::Video { size, .. } => size,
            };
            let p = Parent { prompt: &parent.plan.prompt, size, buttons: parent.buttons() };
            Ok((plan::button(body, &p)?, Some(parent.id.clone())))
        }
        _ => {
            let (id, _) = plan::extend_fields(body)?;
            let parent = finished_parent(state, key, id)?;
            if !parent.is_video() {
                return Err(BadRequest(format!("messageId `{id}` is not an MJ video message.")));
            }
            Ok((plan::video_extend(body, &parent.plan.prompt)?, Some(parent.id)))
        }
    }
}

fn finished_parent(state: &AppState, key: &str, id: &str) -> Result<IpJob, BadRequest> {
    let parent = state
        .imaginepro
        .get(id, key)
        .ok_or_else(|| BadRequest(format!("messageId `{id}` does not name a message.")))?;
    if parent.status == Status::Done {
        Ok(parent)
    } else {
        Err(BadRequest(format!(
            "messageId `{id}` is not DONE (it is {:?}); only a finished message has buttons.",
            parent.status
        )))
    }
}

/// Every paid `POST`: check, charge, accept, then answer (or misbehave, under the faults).
async fn submit(
    State(state): State<Arc<AppState>>,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ip = &state.imaginepro;
    IpCounters::bump(&ip.counters.posts_received);
    let faults = state.faults();
    if faults.reset_before_accept {
        conn.kill();
        return error(StatusCode::INTERNAL_SERVER_ERROR, "connection reset");
    }
    let key = match authenticate(&state, &headers) {
        Ok(key) => key,
        Err(response) => return response,
    };
    if faults.submit_429 {
        return server::too_many_requests(
            error(StatusCode::TOO_MANY_REQUESTS, "Too many requests."),
            faults.retry_after_secs,
        );
    }
    let body = match object(&body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    // Nested routes see the path without the prefix; strip it anyway in case they do not.
    let path = uri.path().strip_prefix(PREFIX).unwrap_or(uri.path()).to_owned();
    let (plan, originating) = match plan_for(&state, &key, &path, &body) {
        Ok(planned) => planned,
        Err(e) => return bad_request(e),
    };
    let (price, _) = plan.price();
    let charged = price + faults.overcharge;
    if let Err(balance) = ip.charge(&key, charged) {
        return error(
            StatusCode::UNAUTHORIZED,
            &format!(
                "Insufficient credits: this job costs {charged} credits and the balance is \
                 {balance}."
            ),
        );
    }
    let now = OffsetDateTime::now_utc();
    let ordinal = Counters::bump(&state.counters.items);
    let webhook = match plan.base.webhook.as_deref() {
        Some(url) if webhook::loopback(url).is_some() => Some(url.to_owned()),
        Some(_) => {
            // Never call out of the machine; the skip is counted instead.
            IpCounters::bump(&ip.counters.webhooks_skipped);
            None
        }
        None => None,
    };
    let job = IpJob {
        id: uuid(),
        owner: key,
        fails: faults.item_fails(ordinal) || plan.prompt.contains(FAIL_MARKER),
        plan,
        originating,
        created_at: now,
        updated_at: now,
        charged,
        faults: faults.clone(),
        rate_limited: 0,
        steps: 0,
        status: Status::Queued,
        progress: 0,
        webhook,
    };
    let id = job.id.clone();
    let drive = job.webhook.is_some();
    tracing::debug!(message_id = %id, credits = %charged, %path, "sandbox accepted an ImaginePro job");
    ip.insert(job, &path);
    if drive {
        spawn_driver(Arc::clone(&state), id.clone());
    }
    if let Some(misbehaved) = server::after_accept(&faults, &conn, || {
        error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
    })
    .await
    {
        return misbehaved;
    }
    Json(json!({ "success": true, "messageId": id, "createdAt": store::iso(now) })).into_response()
}

/// Steps a job with a webhook until it finishes, then calls the webhook.
fn spawn_driver(state: Arc<AppState>, id: String) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(TICK).await;
            match state.imaginepro.tick(&id, OffsetDateTime::now_utc()) {
                Tick::Pending => {}
                Tick::Finished(delivery) => {
                    if let Some(delivery) = delivery {
                        deliver(&state, delivery).await;
                    }
                    break;
                }
                Tick::Stop => break,
            }
        }
    });
}

async fn deliver(state: &AppState, delivery: Delivery) {
    let body = store::message(&delivery.job, &state.base_url, None).to_string();
    let counters = &state.imaginepro.counters;
    match webhook::post(&delivery.url, body.as_bytes()).await {
        Ok(status) => {
            tracing::debug!(status, "sandbox webhook delivered");
            IpCounters::bump(&counters.webhooks_delivered);
        }
        Err(reason) => {
            tracing::debug!("sandbox webhook failed: {reason}");
            IpCounters::bump(&counters.webhooks_failed);
        }
    }
}

/// `GET` of a message on any of the three paths.
async fn fetch(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    IpCounters::bump(&state.imaginepro.counters.fetches);
    let key = match authenticate(&state, &headers) {
        Ok(key) => key,
        Err(response) => return response,
    };
    let faults = state.faults();
    let echo = if faults.echo_credentials { echo::carried(&headers) } else { None };
    if faults.hold {
        // Read at every fetch: the job is shown as it is, without a step.
        return match state.imaginepro.get(&id, &key) {
            Some(job) => {
                Json(store::message(&job, &state.base_url, echo.as_deref())).into_response()
            }
            None => error(StatusCode::NOT_FOUND, &format!("Message `{id}` not found.")),
        };
    }
    match state.imaginepro.fetch(&id, &key, OffsetDateTime::now_utc()) {
        Fetched::NotFound => error(StatusCode::NOT_FOUND, &format!("Message `{id}` not found.")),
        Fetched::RateLimited { retry_after } => server::too_many_requests(
            error(StatusCode::TOO_MANY_REQUESTS, "Too many requests."),
            retry_after,
        ),
        Fetched::Message { job, delivery } => {
            if let Some(delivery) = delivery {
                let state = Arc::clone(&state);
                tokio::spawn(async move { deliver(&state, delivery).await });
            }
            Json(store::message(&job, &state.base_url, echo.as_deref())).into_response()
        }
    }
}

/// `POST /tools/prompt-extend`: synchronous and free.
async fn prompt_extend(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(response) = authenticate(&state, &headers) {
        return response;
    }
    let body = match object(&body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    match plan::prompt_extend(&body) {
        Ok(prompt) => {
            IpCounters::bump(&state.imaginepro.counters.prompt_extends);
            Json(json!({ "prompt": plan::expand(&prompt) })).into_response()
        }
        Err(e) => bad_request(e),
    }
}

/// `GET /assets/imaginepro/{messageId}/{index}.{png,mp4}` (outside [`PREFIX`], like Katana's
/// assets; no auth, as CDN links have none).
pub(crate) async fn asset(
    State(state): State<Arc<AppState>>,
    Path((id, file)): Path<(String, String)>,
) -> Response {
    let not_found = || error(StatusCode::NOT_FOUND, "Not found.");
    let faults = state.faults();
    if faults.asset_404 {
        return not_found();
    }
    let Some(job) = state.imaginepro.done(&id) else { return not_found() };
    let Some((index, ext)) = file.split_once('.') else { return not_found() };
    let Ok(index) = index.parse::<u32>() else { return not_found() };
    let (count, size) = match job.plan.output {
        Output::Images { count, size, .. } | Output::Video { count, size } => (count, size),
    };
    let wanted = if job.is_video() { "mp4" } else { "png" };
    if index >= count || ext != wanted {
        return not_found();
    }
    let result = if job.is_video() {
        video(&state, &job, index, size).await
    } else {
        picture(&job, index, size).await.map(|bytes| (bytes, "image/png"))
    };
    match result {
        Ok((bytes, mime)) => {
            Counters::bump(&state.counters.downloads);
            let headers = [
                (CONTENT_TYPE, HeaderValue::from_static(mime)),
                (CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400")),
            ];
            (headers, server::asset_body(bytes, faults.asset_slow_ms)).into_response()
        }
        Err(message) => error(StatusCode::INTERNAL_SERVER_ERROR, &message),
    }
}

fn note(job: &IpJob, index: u32, (w, h): (u32, u32)) -> String {
    let what = if job.is_video() { "video" } else { "image" };
    let button = job.plan.button.as_deref().map(|b| format!(", button {b}")).unwrap_or_default();
    format!("imaginepro {} {what} {} {w}x{h}{button}", job.plan.operation, index + 1)
}

/// Rendering cost grows with the area; the label is what matters, so pictures stop at 1024.
fn rendered((w, h): (u32, u32)) -> (u32, u32) {
    let long = w.max(h);
    if long <= 1024 { (w, h) } else { image::size_for((w, h), 1024) }
}

async fn picture(job: &IpJob, index: u32, size: (u32, u32)) -> Result<Vec<u8>, String> {
    let label = job.plan.label.clone();
    let prompt = job.plan.prompt.clone();
    let note = note(job, index, size);
    let (width, height) = rendered(size);
    tokio::task::spawn_blocking(move || {
        let p = Placeholder { model: &label, prompt: &prompt, note: Some(&note), width, height };
        image::encode(&image::render(&p), ImageFormat::Png).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| format!("The placeholder renderer stopped: {e}"))?
}

async fn video(
    state: &AppState,
    job: &IpJob,
    index: u32,
    (width, height): (u32, u32),
) -> Result<(Vec<u8>, &'static str), String> {
    let note = note(job, index, (width, height));
    let label_text = format!(
        "{}\nmodel: {}\n{note}\nprompt: {}",
        image::TITLE,
        job.plan.label,
        job.plan.prompt.chars().take(60).collect::<String>()
    );
    let label_png = image::video_label_png(
        job.plan.label.clone(),
        job.plan.prompt.clone(),
        note.clone(),
        width,
        height,
    )
    .await?;
    let spec = VideoJob {
        width,
        height,
        seconds: 2,
        audio: false,
        label_text: &label_text,
        label_png: &label_png,
    };
    let path = state.media.video(&format!("imaginepro-{}-{index}.mp4", job.id), &spec).await?;
    let bytes =
        tokio::fs::read(&path).await.map_err(|e| format!("Cannot read the encoded video: {e}"))?;
    Ok((bytes, "video/mp4"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_version_4_uuids() {
        let id = uuid();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_ne!(id, uuid());
    }
}
