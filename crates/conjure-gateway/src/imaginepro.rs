//! ImaginePro's wire for members (`/api/v1/...`, spec `imaginepro-api.md`), so that the official
//! SDKs and the skill's helper work unchanged with a member's key as their API key.
//!
//! Both path families are served (`/midjourney/imagine|button` + `/midjourney/message/{id}`,
//! and `/nova/imagine|button` + `/message/fetch/{id}`), over the member's own jobs, with what
//! the CLI sends to ImaginePro: Midjourney imagine and its buttons, Flux imagine and upscale,
//! Nano Banana (`/universal/imagine`), Lumi Girl (`/universal/zimage`), MJ video
//! (`/video/mj/generate`, polled at `/video/mj/fetch/{id}` too) and background removal; and the
//! free `/tools/prompt-extend`. Each body is read into the CLI's own request types and sent
//! down the paid path of [`crate::api::submit`] (`api::clear`, `api::send`):
//! a member's pre-approval or a 402 with the quote and its approval link, the reservation
//! against the member's and the project's budgets, one POST by the core's runner.
//!
//! Answers are ImaginePro's: the submit envelope `{success, messageId, createdAt}` (the
//! provider's message id, so a button press names it as usual), the message object on fetch
//! (rendered from the job's record, so a job whose submit answer was lost reads `UNKNOWN`,
//! with its exposure under `conjure`), and errors as `{message, error, statusCode}` (both SDKs
//! show `error`), with conjure's `hint` and, for a 402, the quote and approval link beside
//! them. A member reads and presses buttons on their own messages only: any other id is 404.
//!
//! Not passed on: `webhookOverride` (refused: webhooks go through the gateway's own, signed,
//! `/v1/webhooks`), and the fields conjure never sends upstream (`timeout`, `disableCdn`, the
//! Python SDK's `negativePrompt`, `cfgScale`, ...), which are ignored as ImaginePro ignores
//! fields it does not use. MJ video `extend` is not served (the CLI does not send it).

use axum::Extension;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use conjure_app::{AppError, ImageRequest, Request, ToolName, ToolRequest, VideoRequest};
use conjure_core::imaginepro::{LUMI_GIRL, MJ_VIDEO, NANO_BANANA};
use conjure_core::provider::Snapshot;
use conjure_core::runner::RunError;
use conjure_core::spec::{ButtonItem, Hooks, InputKind, Item};
use conjure_core::{JobRecord, JobSpec, JobState, ProviderId};
use serde_json::{Map, Value, json};

use crate::api::{self, Gateway};
use crate::katana::credits_str;
use crate::member::MemberId;

/// The prefix of every ImaginePro path.
pub const PREFIX: &str = "/api/v1";

/// The ImaginePro routes (put behind the key check by [`crate::server::router`]).
pub fn routes() -> Router<Gateway> {
    let mut router = Router::new();
    for path in [
        "/midjourney/imagine",
        "/nova/imagine",
        "/midjourney/button",
        "/nova/button",
        "/flux/imagine",
        "/flux/upscale",
        "/universal/imagine",
        "/universal/zimage",
        "/video/mj/generate",
        "/tools/remove-bg",
    ] {
        router = router.route(&format!("{PREFIX}{path}"), post(submit));
    }
    for path in ["/midjourney/message/{id}", "/message/fetch/{id}", "/video/mj/fetch/{id}"] {
        router = router.route(&format!("{PREFIX}{path}"), get(fetch));
    }
    router.route(&format!("{PREFIX}/tools/prompt-extend"), post(prompt_extend))
}

/// An error in ImaginePro's shape (§11), with conjure's code and hint.
fn ip_error(status: StatusCode, code: &str, message: &str, hint: Option<&str>) -> Response {
    let body = json!({
        "message": message,
        "error": status.canonical_reason().unwrap_or("Error"),
        "statusCode": status.as_u16(),
        "code": code,
        "hint": hint,
    });
    (status, Json(body)).into_response()
}

/// One of the gateway's own answers (Katana-shaped: `detail`, `error {code, message, hint}`)
/// reshaped for an ImaginePro client, keeping the quote, the approval link and `conjure`.
/// Successes and answers already in ImaginePro's shape pass as they are.
pub async fn reshape(answer: Response) -> Response {
    let status = answer.status();
    if status.is_success() {
        return answer;
    }
    let (parts, body) = answer.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return ip_error(status, "gateway_error", "The gateway's answer could not be read", None);
    };
    let mut body = match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(body)) if body.contains_key("detail") => body,
        _ => return Response::from_parts(parts, axum::body::Body::from(bytes)),
    };
    let detail = body.remove("detail");
    let inner = body.remove("error").unwrap_or(Value::Null);
    let message = detail
        .as_ref()
        .and_then(Value::as_str)
        .or_else(|| inner.get("message").and_then(Value::as_str))
        .unwrap_or("The gateway refused the request")
        .to_owned();
    let mut out = Map::new();
    out.insert("message".into(), message.into());
    out.insert("error".into(), status.canonical_reason().unwrap_or("Error").into());
    out.insert("statusCode".into(), status.as_u16().into());
    out.insert("code".into(), inner.get("code").cloned().unwrap_or(Value::Null));
    out.insert("hint".into(), inner.get("hint").cloned().unwrap_or(Value::Null));
    for (k, v) in body {
        out.insert(k, v);
    }
    (status, Json(Value::Object(out))).into_response()
}

fn text(body: &Map<String, Value>, key: &str) -> Option<String> {
    body.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn required(body: &Map<String, Value>, key: &str, example: &str) -> Result<String, AppError> {
    text(body, key).ok_or_else(|| {
        AppError::invalid(format!("The body has no `{key}`")).hint(format!("send {example}"))
    })
}

/// What a member's body becomes: the CLI's request, or a button press on one of its messages.
enum Asked {
    Request(Request),
    Button { message: String, button: String, mask: Option<String>, prompt: Option<String> },
}

/// The body at `path` read into the CLI's request types.
fn read(path: &str, body: &Map<String, Value>) -> Result<(Asked, Hooks), AppError> {
    if body.contains_key("webhookOverride") {
        return Err(AppError::invalid("The gateway does not pass `webhookOverride` on")
            .hint("register a webhook with the gateway (POST /v1/webhooks): its deliveries are signed and retried"));
    }
    let hooks = Hooks { webhook: None, tag: text(body, "ref") };
    let image = |model: &str, prompt: String| {
        let mut r = ImageRequest::new(prompt);
        r.provider = ProviderId::ImaginePro;
        r.model = Some(model.to_owned());
        r.hooks = hooks.clone();
        r
    };
    let asked = match path {
        "/midjourney/imagine" | "/nova/imagine" => {
            let prompt = required(body, "prompt", "{\"prompt\": \"a lighthouse --ar 16:9\"}")?;
            Asked::Request(Request::Image(image("midjourney", prompt)))
        }
        "/flux/imagine" => {
            let prompt = required(body, "prompt", "{\"prompt\": \"a fox\", \"n\": 1}")?;
            let mut r = image("flux", prompt);
            if let Some(n) = body.get("n") {
                r.count = n.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or_else(|| {
                    AppError::invalid("`n` is not a whole number").hint("send 1 to 4")
                })?;
            }
            if let Some(a) = text(body, "aspect_ratio") {
                r.aspect = a;
            }
            Asked::Request(Request::Image(r))
        }
        "/universal/imagine" => {
            let model = text(body, "model").unwrap_or_else(|| NANO_BANANA.to_owned());
            if !matches!(model.as_str(), "nano-banana" | "nano-banana-2") {
                return Err(AppError::invalid(format!("The gateway does not send `{model}`"))
                    .hint("use \"model\": \"nano-banana-2\" (what conjure sends as nano-banana)"));
            }
            let parts = body.get("contents").and_then(Value::as_array).ok_or_else(|| {
                AppError::invalid("The body has no `contents`")
                    .hint("send {\"contents\": [{\"type\": \"text\", \"text\": \"...\"}, {\"type\": \"image\", \"url\": \"https://...\"}]}")
            })?;
            let mut prompt = Vec::new();
            let mut refs = Vec::new();
            for p in parts {
                match (p.get("type").and_then(Value::as_str), p.get("text"), p.get("url")) {
                    (Some("text"), Some(Value::String(t)), _) => prompt.push(t.clone()),
                    (Some("image"), _, Some(Value::String(u))) => refs.push(u.clone()),
                    _ => {
                        return Err(AppError::invalid("A `contents` part is neither text nor an image URL")
                            .hint("parts are {\"type\": \"text\", \"text\": ...} or {\"type\": \"image\", \"url\": ...}"));
                    }
                }
            }
            let mut r = image(NANO_BANANA, prompt.join("\n"));
            r.refs = refs;
            Asked::Request(Request::Image(r))
        }
        "/universal/zimage" => {
            let prompt = required(body, "prompt", "{\"prompt\": \"a portrait --ar 2:3\"}")?;
            let mut r = image(LUMI_GIRL, prompt);
            let side = |k: &str| body.get(k).and_then(Value::as_u64);
            if let (Some(w), Some(h)) = (side("width"), side("height")) {
                r.aspect = format!("{w}:{h}");
            }
            Asked::Request(Request::Image(r))
        }
        "/video/mj/generate" => {
            let mut r = VideoRequest::new(
                text(body, "prompt").unwrap_or_else(|| "smooth motion transition".to_owned()),
            );
            r.provider = ProviderId::ImaginePro;
            r.model = Some(MJ_VIDEO.to_owned());
            r.first_frame = Some(required(body, "startFrameUrl", "both frame URLs")?);
            r.last_frame = Some(required(body, "endFrameUrl", "both frame URLs")?);
            r.hooks = hooks.clone();
            Asked::Request(Request::Video(r))
        }
        "/flux/upscale" | "/tools/remove-bg" => {
            let image = required(body, "image", "{\"image\": \"https://...\"}")?;
            let (tool, scale) = if path == "/flux/upscale" {
                let scale = match body.get("scale") {
                    None | Some(Value::Null) => None,
                    Some(v) => {
                        Some(v.as_u64().and_then(|s| u8::try_from(s).ok()).ok_or_else(|| {
                            AppError::invalid("`scale` is not a whole number")
                                .hint("send 2, 3 or 4")
                        })?)
                    }
                };
                (ToolName::Upscale, scale)
            } else {
                (ToolName::RemoveBg, None)
            };
            let r = ToolRequest {
                provider: ProviderId::ImaginePro,
                tool,
                image,
                scale,
                hooks: hooks.clone(),
            };
            Asked::Request(Request::Tool(r))
        }
        "/midjourney/button" | "/nova/button" => Asked::Button {
            message: required(body, "messageId", "{\"messageId\": \"...\", \"button\": \"U1\"}")?,
            button: required(body, "button", "{\"messageId\": \"...\", \"button\": \"U1\"}")?,
            mask: text(body, "mask"),
            prompt: text(body, "prompt"),
        },
        other => {
            return Err(AppError::invalid(format!("No ImaginePro endpoint `{other}`"))
                .hint("see the gateway's README for the ImaginePro endpoints it serves"));
        }
    };
    Ok((asked, hooks))
}

/// An input URL a member gave: what ImaginePro fetches itself, so https:// only (a path
/// would name a file on the gateway's disk; a `data:` URL ImaginePro does not take).
fn check_url(value: &str, what: &str) -> Result<(), AppError> {
    if value.trim().to_ascii_lowercase().starts_with("https://") {
        api::remote(value, InputKind::Image, what).map(|_| ())
    } else {
        Err(AppError::invalid(format!("`{what}` must be an https:// URL"))
            .hint("ImaginePro fetches its inputs itself: give a URL it can reach"))
    }
}

fn urls_of(request: &Request) -> Vec<(&str, &'static str)> {
    match request {
        Request::Image(r) => r.refs.iter().map(|u| (u.as_str(), "contents")).collect(),
        Request::Video(r) => [(&r.first_frame, "startFrameUrl"), (&r.last_frame, "endFrameUrl")]
            .into_iter()
            .filter_map(|(u, w)| u.as_deref().map(|u| (u, w)))
            .collect(),
        Request::Tool(r) => vec![(r.image.as_str(), "image")],
        _ => Vec::new(),
    }
}

/// The spec of a button press on one of the member's own finished messages (the CLI's
/// `App::button_order`, with the parent found among the member's jobs).
async fn button_spec(
    gw: &Gateway,
    member: &MemberId,
    message: &str,
    button: &str,
    mask: Option<String>,
    prompt: Option<String>,
    hooks: Hooks,
) -> Result<(JobSpec, conjure_core::JobId), Response> {
    let parent = match gw.store.member_job(member, message).await {
        Ok(Some(job)) if job.provider == ProviderId::ImaginePro => job,
        Ok(_) => return Err(not_found(message)),
        Err(e) => return Err(api::store_error(&e)),
    };
    let bad =
        |m: String, h: String| ip_error(StatusCode::BAD_REQUEST, "invalid_request", &m, Some(&h));
    if parent.state != JobState::Completed {
        return Err(bad(
            format!(
                "Message `{message}` is `{}`: only a finished message has buttons",
                parent.state.as_str()
            ),
            format!("fetch it (GET {PREFIX}/message/fetch/{message}) until it is DONE"),
        ));
    }
    let offered = conjure_app::lineage::offered(&parent);
    let Some(wire) = conjure_providers::imaginepro::button_wire(button) else {
        return Err(bad(
            format!("Unknown button `{button}`"),
            format!("it offers: {}", offered.join(", ")),
        ));
    };
    if !offered.contains(&wire) {
        return Err(bad(
            format!("Message `{message}` does not offer `{wire}`"),
            format!("it offers: {}", offered.join(", ")),
        ));
    }
    if let Some(m) = &mask {
        check_url(m, "mask")
            .map_err(|e| bad(e.message.clone(), e.hint.clone().unwrap_or_default()))?;
    }
    let item = ButtonItem {
        parent: parent.id.to_string(),
        parent_message: message.to_owned(),
        button: wire,
        mask: mask.map(|url| conjure_core::MediaInput::Url { url }),
        prompt,
    };
    let spec = JobSpec { provider: ProviderId::ImaginePro, items: vec![Item::Button(item)], hooks };
    Ok((spec, parent.id))
}

fn not_found(id: &str) -> Response {
    ip_error(
        StatusCode::NOT_FOUND,
        "not_found",
        &format!("No message `{id}`"),
        Some("use the messageId your own request was answered with"),
    )
}

/// `POST /api/v1/...`: a paid ImaginePro request for the member.
pub async fn submit(
    State(gw): State<Gateway>,
    member: Option<Extension<MemberId>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(Extension(member)) = member else { return api::members_only() };
    let path = uri.path().strip_prefix(PREFIX).unwrap_or(uri.path()).to_owned();
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&body) else {
        let e = AppError::invalid("The body is not a JSON object")
            .hint("send ImaginePro's JSON body, e.g. {\"prompt\": \"...\"}");
        return api::invalid(&e);
    };
    let (asked, hooks) = match read(&path, &fields) {
        Ok(a) => a,
        Err(e) => return api::invalid(&e),
    };
    let (spec, parent) = match asked {
        Asked::Request(request) => {
            for (url, what) in urls_of(&request) {
                if let Err(e) = check_url(url, what) {
                    return api::invalid(&e);
                }
            }
            match request.spec_in(gw.app.catalogue()) {
                Ok(spec) => (spec, None),
                Err(e) => return api::invalid(&e),
            }
        }
        Asked::Button { message, button, mask, prompt } => {
            match button_spec(&gw, &member, &message, &button, mask, prompt, hooks).await {
                Ok((spec, parent)) => (spec, Some(parent)),
                Err(answer) => return answer,
            }
        }
    };
    // The approval binds the endpoint as well as the body.
    let bound = json!({"imaginepro": path, "body": Value::Object(fields)});
    let cleared = match api::clear(&gw, &member, &headers, &bound, spec, parent).await {
        Ok(c) => c,
        Err(answer) => return answer,
    };
    let sent = match api::send(&gw, cleared, None).await {
        Ok(sent) => sent,
        Err(answer) => return answer,
    };
    match sent {
        Ok(job) => Json(accepted(&job)).into_response(),
        Err(RunError::Failed { job, .. }) => {
            use conjure_core::JobStore as _;
            match gw.store.get(&job).await {
                Ok(record) => (StatusCode::OK, Json(accepted(&record))).into_response(),
                Err(e) => api::invalid(&AppError::from(e)),
            }
        }
        Err(e) => api::run_error(e),
    }
}

/// The submit envelope (§4): the provider's message id, or the job's own id when the
/// provider gave none (a job that failed at once).
fn accepted(job: &JobRecord) -> Value {
    json!({
        "success": true,
        "messageId": job.request_id.clone().unwrap_or_else(|| job.id.to_string()),
        "createdAt": conjure_app::timefmt::rfc3339_millis(job.created_at),
        "conjure": conjure_of(job),
    })
}

fn conjure_of(job: &JobRecord) -> Value {
    let exposure =
        conjure_core::policy::is_exposure(job.state).then(|| credits_str(job.quoted_credits));
    json!({
        "job": job.id.as_str(),
        "state": job.state.as_str(),
        "quoted_credits": credits_str(job.quoted_credits),
        "credits_spent": job.credits_spent.map(credits_str),
        "exposure_credits": exposure,
        "note": job.error,
    })
}

/// The status an ImaginePro client reads for a job. `UNKNOWN` is not ImaginePro's: a client
/// keeps polling it (bounded by its own timeout), and it is the truth.
fn status(job: &JobRecord, snap: Option<&Snapshot>) -> &'static str {
    use conjure_core::provider::RemoteStatus;
    match job.state {
        JobState::Completed | JobState::Partial => "DONE",
        JobState::Failed | JobState::Rejected | JobState::Expired => "FAIL",
        JobState::Unknown => "UNKNOWN",
        _ if snap.is_some_and(|s| s.status == RemoteStatus::Queued) => "QUEUED",
        _ => "PROCESSING",
    }
}

/// The message object (§6) for a member's job.
fn message(job: &JobRecord, parent_message: Option<&str>) -> Value {
    let snap: Option<Snapshot> =
        job.last_snapshot.as_ref().and_then(|v| serde_json::from_value(v.clone()).ok());
    let status = status(job, snap.as_ref());
    let assets = snap.as_ref().map(|s| s.assets.as_slice()).unwrap_or_default();
    let images: Vec<&str> =
        assets.iter().filter(|a| a.kind != "video").map(|a| a.url.as_str()).collect();
    let videos: Vec<&str> =
        assets.iter().filter(|a| a.kind == "video").map(|a| a.url.as_str()).collect();
    let progress =
        if status == "DONE" { 100 } else { snap.as_ref().and_then(|s| s.progress).unwrap_or(0) };
    let mut m = Map::new();
    m.insert(
        "messageId".into(),
        job.request_id.clone().unwrap_or_else(|| job.id.to_string()).into(),
    );
    m.insert("prompt".into(), job.prompt.clone().into());
    m.insert("status".into(), status.into());
    m.insert("progress".into(), progress.into());
    m.insert("createdAt".into(), conjure_app::timefmt::rfc3339_millis(job.created_at).into());
    m.insert("updatedAt".into(), conjure_app::timefmt::rfc3339_millis(job.updated_at).into());
    if let Some(first) = images.first() {
        m.insert("uri".into(), (*first).into());
        m.insert("images".into(), images.clone().into());
    }
    if let Some(first) = videos.first() {
        m.insert("videoUrl".into(), (*first).into());
        let results: Vec<Value> =
            videos.iter().enumerate().map(|(i, u)| json!({"url": u, "index": i})).collect();
        m.insert("results".into(), results.into());
    }
    if let Some(s) = &snap
        && !s.buttons.is_empty()
    {
        m.insert("buttons".into(), s.buttons.clone().into());
    }
    if let Some(p) = parent_message {
        m.insert("originatingMessageId".into(), p.into());
    }
    if let Some(tag) = &job.spec.hooks.tag {
        m.insert("ref".into(), tag.clone().into());
    }
    if status == "FAIL" || status == "UNKNOWN" {
        let why = job
            .error
            .clone()
            .or_else(|| snap.as_ref().map(|s| conjure_core::runner::summarize(&s.errors)));
        m.insert("error".into(), why.into());
    }
    m.insert("conjure".into(), conjure_of(job));
    Value::Object(m)
}

/// `GET /api/v1/message/fetch/{id}` (and its twins): the member's own message, polled once
/// upstream while it runs.
pub async fn fetch(
    State(gw): State<Gateway>,
    member: Option<Extension<MemberId>>,
    Path(id): Path<String>,
) -> Response {
    let Some(Extension(member)) = member else { return api::members_only() };
    let job = match gw.store.member_job(&member, &id).await {
        Ok(Some(job)) if job.provider == ProviderId::ImaginePro => job,
        Ok(_) => return not_found(&id),
        Err(e) => return api::store_error(&e),
    };
    let job = api::refresh(&gw, job).await;
    let parent_message = job.spec.items.iter().find_map(|i| match i {
        Item::Button(b) => Some(b.parent_message.clone()),
        _ => None,
    });
    Json(message(&job, parent_message.as_deref())).into_response()
}

/// `POST /api/v1/tools/prompt-extend`: free and synchronous (§5.11), sent with the gateway's
/// key; nothing is reserved.
pub async fn prompt_extend(
    State(gw): State<Gateway>,
    member: Option<Extension<MemberId>>,
    body: Bytes,
) -> Response {
    if member.is_none() {
        return api::members_only();
    }
    let prompt = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("prompt").and_then(Value::as_str).map(str::to_owned))
        .filter(|p| !p.trim().is_empty());
    let Some(prompt) = prompt else {
        return ip_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The body has no `prompt`",
            Some("send {\"prompt\": \"a lighthouse\"}"),
        );
    };
    let connected = match gw.app.connect(ProviderId::ImaginePro) {
        Ok(c) => c,
        Err(e) => {
            return ip_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "gateway_credentials",
                &e.message,
                Some(
                    "the gateway has no ImaginePro key; its admin sets IMAGINEPRO_API_KEY where it runs",
                ),
            );
        }
    };
    match connected.enhance(&prompt).await {
        Ok(extended) => Json(json!({"prompt": extended})).into_response(),
        Err(e) => ip_error(
            StatusCode::BAD_GATEWAY,
            "upstream_failed",
            &e.to_string(),
            Some("it is free: send it again"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn bodies_become_the_clis_requests() {
        let (a, hooks) = read(
            "/nova/imagine",
            &body(json!({"prompt": "a cat", "ref": "r1", "negativePrompt": "x"})),
        )
        .unwrap();
        assert_eq!(hooks.tag.as_deref(), Some("r1"));
        let Asked::Request(Request::Image(r)) = a else { panic!() };
        assert_eq!((r.model.as_deref(), r.prompt.as_str()), (Some("midjourney"), "a cat"));
        let (a, _) = read("/flux/imagine", &body(json!({"prompt": "a fox", "n": 3}))).unwrap();
        let Asked::Request(Request::Image(r)) = a else { panic!() };
        assert_eq!(r.count, 3);
        let (a, _) = read(
            "/universal/imagine",
            &body(json!({"model": "nano-banana-2", "contents": [
            {"type": "text", "text": "a fox"}, {"type": "image", "url": "https://x/a.png"}]})),
        )
        .unwrap();
        let Asked::Request(Request::Image(r)) = a else { panic!() };
        assert_eq!(r.refs, vec!["https://x/a.png".to_owned()]);
        let (a, _) =
            read("/flux/upscale", &body(json!({"image": "https://x/a.png", "scale": 3}))).unwrap();
        assert!(matches!(a, Asked::Request(Request::Tool(ToolRequest { scale: Some(3), .. }))));
        let (a, _) =
            read("/midjourney/button", &body(json!({"messageId": "m", "button": "U1"}))).unwrap();
        assert!(matches!(a, Asked::Button { .. }));
    }

    #[test]
    fn what_the_gateway_cannot_do_is_refused_with_a_hint() {
        for (path, b) in [
            ("/nova/imagine", json!({"prompt": "x", "webhookOverride": "https://e/"})),
            ("/nova/imagine", json!({})),
            ("/universal/imagine", json!({"model": "gemini-3-pro-image-preview", "contents": []})),
            ("/nova/button", json!({"button": "U1"})),
            ("/flux/upscale", json!({"image": "https://x", "scale": "big"})),
        ] {
            let e = read(path, &body(b)).err().expect("refused");
            assert!(e.hint.is_some(), "{path}");
        }
        assert!(check_url("/etc/passwd", "image").is_err());
        assert!(check_url("data:image/png;base64,AAAA", "image").is_err());
        assert!(check_url("https://x/a.png", "image").is_ok());
    }
}
