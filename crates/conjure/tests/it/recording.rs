//! A request-recording fake of Katana: asserts the exact paths, headers and bodies conjure
//! sends for image, video (frames, references, audio) and submit, and that each is sent once.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::routing::{get, post};
use serde_json::{Value, json};

use conjure_test::{TEST_KEY, TEST_SECRET, TestContext};

#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    uri: String,
    headers: HeaderMap,
    body: Value,
}

#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<Seen>>>,
    last_body: Arc<Mutex<Value>>,
    /// Answer submits with a content-policy rejection that carries no request id.
    reject: bool,
    /// When the assets expire (RFC 3339); far in the future unless set.
    expires_at: Option<String>,
}

const PNG_DATA: &str = "data:image/png;base64,iVBORw0KGgo=";

async fn submit(
    State(r): State<Recorder>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> axum::Json<Value> {
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    r.seen.lock().unwrap().push(Seen { method, uri: uri.to_string(), headers, body: body.clone() });
    *r.last_body.lock().unwrap() = body;
    if r.reject {
        return axum::Json(json!({"status":"rejected","responses":[{"status":"rejected",
            "error":{"code":"content_policy","message":"refused by policy","retryable":false}}]}));
    }
    axum::Json(
        json!({"request_id":"req_rec_1","status":"processing","poll_after_seconds":1,"requests":[],"responses":[]}),
    )
}

async fn poll(
    State(r): State<Recorder>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> axum::Json<Value> {
    r.seen.lock().unwrap().push(Seen { method, uri: uri.to_string(), headers, body: Value::Null });
    let body = r.last_body.lock().unwrap().clone();
    let expires = r.expires_at.clone().unwrap_or_else(|| "2099-01-01T00:00:00Z".to_owned());
    let responses: Vec<Value> = body["requests"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| {
                    json!({"id": item["id"], "status":"completed",
                           "metadata":{"credits_spent": 1.5, "model": item["model"]},
                           "output_assets":[{"kind":"image","mime_type":"image/png","original_data_url":PNG_DATA,
                                              "url":PNG_DATA,"width":64,"height":64,"expires_at":expires}]})
                })
                .collect()
        })
        .unwrap_or_default();
    axum::Json(json!({"request_id": id, "status":"completed", "responses": responses}))
}

struct Fake {
    recorder: Recorder,
    base: String,
    _runtime: tokio::runtime::Runtime,
}

fn start() -> Fake {
    start_with(Recorder::default())
}

fn start_with(recorder: Recorder) -> Fake {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let app = Router::new()
        .route("/v1/generation-requests", post(submit))
        .route("/v1/generation-requests/{id}", get(poll))
        .with_state(recorder.clone());
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
    Fake { recorder, base, _runtime: runtime }
}

fn run(fake: &Fake, args: &[&str]) -> (conjure_test::Run, Vec<Seen>) {
    let mut t: TestContext = crate::ctx();
    t.env("CONJURE_KATANA_BASE_URL", &fake.base);
    t.env("KATANA_API_KEY", TEST_KEY);
    t.env("KATANA_API_SECRET", TEST_SECRET);
    for (name, bytes) in
        [("frame.png", conjure_test::png_bytes()), ("voice.wav", conjure_test::wav_bytes())]
    {
        std::fs::write(t.out_dir().join(name), bytes).unwrap();
    }
    let r = t.run(args);
    let seen = fake.recorder.seen.lock().unwrap().clone();
    (r, seen)
}

fn posts(seen: &[Seen]) -> Vec<&Seen> {
    seen.iter().filter(|s| s.method == Method::POST).collect()
}

fn assert_auth_headers(s: &Seen) {
    assert_eq!(s.headers["x-api-key"], TEST_KEY);
    assert_eq!(s.headers["x-api-secret"], TEST_SECRET);
    assert!(s.headers.get("authorization").is_none());
}

#[test]
fn image_request_on_the_wire() {
    let fake = start();
    let (r, seen) = run(
        &fake,
        &[
            "--json",
            "image",
            "a fox",
            "--model",
            "flux",
            "--aspect",
            "16:9",
            "--format",
            "webp",
            "--ref",
            "https://example.com/r.png",
            "--negative",
            "blur",
            "--count",
            "2",
            "--yes",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let posts = posts(&seen);
    assert_eq!(posts.len(), 1);
    let p = posts[0];
    assert_eq!(p.uri, "/v1/generation-requests?wait=false");
    assert_auth_headers(p);
    assert_eq!(p.headers["content-type"], "application/json");
    let item = json!({"type":"image","model":"flux-2-pro","prompt":"a fox","aspect_ratio":"16:9",
        "output_format":"webp","image_urls":["https://example.com/r.png"],"negative_prompt":"blur"});
    let mut first = item.clone();
    first["id"] = json!("item-0");
    let mut second = item;
    second["id"] = json!("item-1");
    assert_eq!(p.body, json!({"requests":[first, second]}));
    // Polls use the same auth pair and the request id.
    let polls: Vec<_> = seen.iter().filter(|s| s.method == Method::GET).collect();
    assert!(polls.iter().all(|s| s.uri == "/v1/generation-requests/req_rec_1"));
    assert_auth_headers(polls[0]);
    // Credits come from the provider's report, summed over items.
    assert_eq!(r.json()["credits"], 3.0);
}

#[test]
fn video_request_with_frames_references_and_audio() {
    let fake = start();
    let (r, seen) = run(
        &fake,
        &[
            "--json",
            "video",
            "waves",
            "--model",
            "ltx",
            "--duration",
            "10",
            "--aspect",
            "9:16",
            "--first-frame",
            "frame.png",
            "--audio",
            "voice.wav",
            "--yes",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let p = posts(&seen)[0].clone();
    let item = &p.body["requests"][0];
    assert_eq!(item["type"], "video");
    assert_eq!(item["model"], "ltx-2-3");
    assert_eq!(item["duration_seconds"], 10);
    assert_eq!(item["aspect_ratio"], "9:16");
    let data = &item["video_image_data"];
    assert!(data["first_frame_image_url"].as_str().unwrap().starts_with("data:image/png;base64,"));
    assert!(data["audio_input_urls"][0].as_str().unwrap().starts_with("data:audio/wav;base64,"));
    assert!(data.get("last_frame_image_url").is_none());

    let fake = start();
    let (r, seen) = run(
        &fake,
        &[
            "--json",
            "video",
            "waves",
            "--model",
            "kling",
            "--first-frame",
            "https://example.com/f.png",
            "--last-frame",
            "https://example.com/l.png",
            "--ref",
            "https://example.com/r1.png",
            "--yes",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let body = &posts(&seen)[0].body;
    assert_eq!(
        body["requests"][0]["video_image_data"],
        json!({"first_frame_image_url":"https://example.com/f.png","last_frame_image_url":"https://example.com/l.png",
               "reference_image_urls":["https://example.com/r1.png"]})
    );

    let fake = start();
    let (r, seen) = run(&fake, &["--json", "video", "plain", "--model", "veo", "--yes"]);
    assert_eq!(r.code, 0, "{r:?}");
    // Never an empty video_image_data.
    assert!(posts(&seen)[0].body["requests"][0].get("video_image_data").is_none());
}

#[test]
fn submit_sends_the_normalised_envelope() {
    let fake = start();
    let mut t: TestContext = crate::ctx();
    t.env("CONJURE_KATANA_BASE_URL", &fake.base);
    t.env("KATANA_API_KEY", TEST_KEY);
    t.env("KATANA_API_SECRET", TEST_SECRET);
    let payload = t.path("p.json");
    std::fs::write(&payload, r#"{"requests":[{"type":"image","model":"gpt2image","prompt":"p","input_images":["https://example.com/a.png"],"output_format":"jpg"}]}"#).unwrap();
    let r = t.run(&["--json", "submit", payload.to_str().unwrap(), "--yes"]);
    assert_eq!(r.code, 0, "{r:?}");
    let seen = fake.recorder.seen.lock().unwrap().clone();
    let posts = posts(&seen);
    assert_eq!(posts.len(), 1);
    assert_eq!(
        posts[0].body,
        json!({"requests":[{"type":"image","id":"item-0","model":"gpt-image-2","prompt":"p","aspect_ratio":"1:1",
                            "output_format":"jpeg","image_urls":["https://example.com/a.png"]}]})
    );
}

#[test]
fn a_rejection_without_a_request_id_is_a_refusal_not_an_unknown() {
    let fake = start_with(Recorder { reject: true, ..Recorder::default() });
    let (r, seen) = run(&fake, &["--json", "image", "a fox", "--model", "gen", "--yes"]);
    assert_eq!(r.code, 4, "{r:?}");
    let v = r.json();
    assert_eq!(v["error"]["kind"], "provider_failed");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("content_policy: refused by policy"),
        "{v}"
    );
    assert_eq!(posts(&seen).len(), 1);
    // Nothing to poll.
    assert_eq!(seen.len(), 1);
}

#[test]
fn links_that_expire_soon_are_warned_about() {
    let soon = time::OffsetDateTime::now_utc() + time::Duration::minutes(30);
    let soon = soon.format(&time::format_description::well_known::Rfc3339).unwrap();
    let fake = start_with(Recorder { expires_at: Some(soon), ..Recorder::default() });
    let (r, _) = run(&fake, &["image", "a fox", "--model", "gen", "--yes"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("warning: the provider's copies expire at"), "{}", r.stderr);

    let later = start();
    let (r, _) = run(&later, &["image", "a fox", "--model", "gen", "--yes"]);
    assert!(!r.stderr.contains("warning:"), "{}", r.stderr);
    assert!(r.stderr.contains("Provider links expire 2099-01-01"), "{}", r.stderr);
}
