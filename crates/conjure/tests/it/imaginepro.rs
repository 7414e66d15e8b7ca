//! ImaginePro end to end: a request-recording fake asserts the exact paths, headers and bodies
//! of every command (image with each model, video, button, upscale, remove-bg, enhance), the
//! quotes (fast vs relax, Flux × n, Lumi's size), lineage in the journal, that only offered
//! buttons are pressed, each error class, and that every paid command POSTs exactly once.
//! The sandbox tests at the end run the same commands against the real sandbox server.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use conjure_test::TestContext;

const KEY: &str = "sk-test-imaginepro-0123456789";

#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    uri: String,
    headers: HeaderMap,
    body: Value,
}

/// How the fake answers submits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Submit {
    #[default]
    Accept,
    Status(u16),
    /// Closes the connection without an answer.
    Drop,
}

#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<Seen>>>,
    submit: Submit,
    /// Jobs the fake knows: message id -> (path it was submitted on, body).
    jobs: Arc<Mutex<Vec<(String, String, Value)>>>,
    /// Polls answer PROCESSING this many times per job before DONE.
    processing_polls: usize,
    /// Jobs end FAIL with this error.
    fail: Option<&'static str>,
    base: Arc<Mutex<String>>,
}

impl Recorder {
    fn record(&self, method: Method, uri: &Uri, headers: HeaderMap, body: Value) {
        self.seen.lock().unwrap().push(Seen { method, uri: uri.to_string(), headers, body });
    }
}

fn error_body(status: u16, message: &str, error: &str) -> Response {
    let code = StatusCode::from_u16(status).unwrap();
    (code, axum::Json(json!({"message": message, "error": error, "statusCode": status})))
        .into_response()
}

async fn submit(
    State(r): State<Recorder>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    r.record(method, &uri, headers, body.clone());
    match r.submit {
        Submit::Accept => {}
        Submit::Status(400) => return error_body(400, "Prompt is required.", "Bad Request"),
        Submit::Status(401) => return error_body(401, "Unauthorized", "Unauthorized"),
        Submit::Status(s) => {
            return error_body(s, "Internal server error", "Internal Server Error");
        }
        Submit::Drop => {
            // The body breaks off: the client sees the connection close mid-answer.
            let broken = futures_util::stream::iter([
                Ok(Bytes::from_static(b"{\"success\": tr")),
                Err(std::io::Error::other("connection dropped")),
            ]);
            return Response::new(axum::body::Body::from_stream(broken));
        }
    }
    let path = uri.path().trim_start_matches("/api/v1").to_owned();
    if path == "/tools/prompt-extend" {
        let p = body["prompt"].as_str().unwrap_or_default();
        return axum::Json(json!({"prompt": format!("{p}, golden hour, highly detailed")}))
            .into_response();
    }
    let mut jobs = r.jobs.lock().unwrap();
    let id = format!("msg-{}", jobs.len() + 1);
    jobs.push((id.clone(), path, body));
    axum::Json(json!({"success": true, "messageId": id, "createdAt": "2026-12-01T00:00:00Z"}))
        .into_response()
}

const GRID_BUTTONS: [&str; 9] = ["U1", "U2", "U3", "U4", "🔄", "V1", "V2", "V3", "V4"];
const UPSCALED_BUTTONS: [&str; 4] = ["Vary (Strong)", "Vary (Subtle)", "Zoom Out 2x", "⬅️"];

async fn fetch(
    State(r): State<Recorder>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    r.record(method, &uri, headers, Value::Null);
    let video_path = uri.path().contains("/video/mj/fetch/");
    let jobs = r.jobs.lock().unwrap().clone();
    let Some((_, path, body)) = jobs.iter().find(|(m, _, _)| *m == id) else {
        return error_body(404, "Message not found", "Not Found");
    };
    let polls = r
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.method == Method::GET && s.uri.ends_with(&format!("/{id}")))
        .count();
    if polls <= r.processing_polls {
        return axum::Json(json!({"messageId": id, "status": "PROCESSING", "progress": 40 * polls,
                                 "prompt": body["prompt"]}))
        .into_response();
    }
    if let Some(error) = r.fail {
        return axum::Json(
            json!({"messageId": id, "status": "FAIL", "progress": 100, "error": error}),
        )
        .into_response();
    }
    let base = r.base.lock().unwrap().clone();
    let png = |n: usize| format!("{base}/cdn/{id}-{n}.png");
    let mut message = json!({"messageId": id, "status": "DONE", "progress": 100,
                             "prompt": body["prompt"], "ref": body["ref"]});
    match path.as_str() {
        "/nova/imagine" => {
            message["images"] = json!((1..=4).map(png).collect::<Vec<_>>());
            message["uri"] = json!(png(1));
            message["buttons"] = json!(GRID_BUTTONS);
        }
        "/nova/button" => {
            let pressed = body["button"].as_str().unwrap_or_default();
            message["originatingMessageId"] = body["messageId"].clone();
            if pressed.starts_with('U') {
                message["uri"] = json!(png(1));
                message["images"] = json!([png(1)]);
                message["buttons"] = json!(UPSCALED_BUTTONS);
            } else {
                message["images"] = json!((1..=4).map(png).collect::<Vec<_>>());
                message["buttons"] = json!(GRID_BUTTONS);
            }
        }
        "/flux/imagine" => {
            let n = body["n"].as_u64().unwrap_or(1) as usize;
            message["images"] = json!((1..=n).map(png).collect::<Vec<_>>());
        }
        "/video/mj/generate" if video_path => {
            message["videoUrl"] = json!(format!("{base}/cdn/{id}.mp4"));
        }
        _ => {
            message["uri"] = json!(png(1));
        }
    }
    axum::Json(message).into_response()
}

async fn cdn(Path(name): Path<String>) -> Response {
    let (mime, bytes) = if std::path::Path::new(&name).extension().is_some_and(|e| e == "mp4") {
        ("video/mp4", b"\x00\x00\x00\x18ftypmp42".to_vec())
    } else {
        ("image/png", conjure_test::png_bytes())
    };
    ([("content-type", mime)], bytes).into_response()
}

struct Fake {
    recorder: Recorder,
    base: String,
    _runtime: tokio::runtime::Runtime,
}

fn start_with(recorder: Recorder) -> Fake {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let app = Router::new()
        .route("/api/v1/message/fetch/{id}", get(fetch))
        .route("/api/v1/video/mj/fetch/{id}", get(fetch))
        .route("/cdn/{name}", get(cdn))
        .fallback(post(submit))
        .with_state(recorder.clone());
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    recorder.base.lock().unwrap().clone_from(&base);
    runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
    Fake { recorder, base, _runtime: runtime }
}

fn start() -> Fake {
    start_with(Recorder::default())
}

impl Fake {
    fn ctx(&self) -> TestContext {
        let mut t = crate::ctx();
        t.env("CONJURE_IMAGINEPRO_BASE_URL", &self.base);
        t.env("IMAGINEPRO_API_KEY", KEY);
        t
    }

    fn seen(&self) -> Vec<Seen> {
        self.recorder.seen.lock().unwrap().clone()
    }

    fn posts(&self) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.method == Method::POST).collect()
    }
}

fn assert_headers(s: &Seen) {
    assert_eq!(s.headers["authorization"], format!("Bearer {KEY}"), "{}", s.uri);
    assert_eq!(s.headers["content-type"], "application/json", "{}", s.uri);
}

/// Runs `args` (with `--json --yes`, capped in credits: without a dollar price per credit the
/// standing dollar cap of `--yes` cannot be checked) and returns the JSON result; asserts success.
fn paid(t: &TestContext, args: &[&str]) -> Value {
    let mut full = vec!["--json"];
    full.extend_from_slice(args);
    full.extend(["--yes", "--max-cost", "100cr"]);
    let r = t.run(&full);
    assert_eq!(r.code, 0, "{args:?}\nstdout: {}\nstderr: {}", r.stdout, r.stderr);
    r.json()
}

#[test]
fn every_command_on_the_wire_once() {
    let fake = start();
    let t = fake.ctx();
    let cases: Vec<(Vec<&str>, &str, Value)> = vec![
        (
            vec![
                "image",
                "a fox",
                "--provider",
                "imaginepro",
                "--mode",
                "relax",
                "--aspect",
                "16:9",
                "--tag",
                "order-7",
                "--webhook",
                "https://example.com/hook",
            ],
            "/api/v1/nova/imagine",
            json!({"prompt": "a fox --relax --ar 16:9", "ref": "order-7",
                   "webhookOverride": "https://example.com/hook"}),
        ),
        (
            vec!["image", "a fox", "--provider", "imaginepro", "--model", "flux", "--count", "3"],
            "/api/v1/flux/imagine",
            json!({"prompt": "a fox", "n": 3}),
        ),
        (
            vec![
                "image",
                "a fox",
                "--provider",
                "imaginepro",
                "--model",
                "nano-banana",
                "--ref",
                "https://example.com/a.png",
                "--ref",
                "https://example.com/b.png",
            ],
            "/api/v1/universal/imagine",
            json!({"model": "nano-banana-2", "contents": [
                {"type": "text", "text": "a fox"},
                {"type": "image", "url": "https://example.com/a.png"},
                {"type": "image", "url": "https://example.com/b.png"}]}),
        ),
        (
            vec![
                "image",
                "a fox",
                "--provider",
                "imaginepro",
                "--model",
                "lumi-girl",
                "--aspect",
                "3:4",
            ],
            "/api/v1/universal/zimage",
            json!({"prompt": "a fox", "steps": 4, "width": 768, "height": 1024}),
        ),
        (
            vec![
                "video",
                "waves",
                "--provider",
                "imaginepro",
                "--first-frame",
                "https://example.com/1.png",
                "--last-frame",
                "https://example.com/2.png",
            ],
            "/api/v1/video/mj/generate",
            json!({"prompt": "waves", "startFrameUrl": "https://example.com/1.png",
                   "endFrameUrl": "https://example.com/2.png", "timeout": 900}),
        ),
        (
            vec!["upscale", "https://example.com/a.png", "--scale", "3"],
            "/api/v1/flux/upscale",
            json!({"image": "https://example.com/a.png", "scale": 3}),
        ),
        (
            vec!["remove-bg", "https://example.com/a.png"],
            "/api/v1/tools/remove-bg",
            json!({"image": "https://example.com/a.png"}),
        ),
    ];
    for (n, (args, path, body)) in cases.iter().enumerate() {
        let v = paid(&t, args);
        let posts = fake.posts();
        assert_eq!(posts.len(), n + 1, "{args:?}: exactly one POST per command");
        let last = posts.last().unwrap();
        assert_eq!(last.uri, *path, "{args:?}");
        assert_eq!(last.body, *body, "{args:?}");
        assert_headers(last);
        assert_eq!(v["provider"], "imaginepro", "{v}");
        assert_eq!(v["status"], "completed", "{v}");
        assert!(!v["outputs"].as_array().unwrap().is_empty(), "{v}");
    }
    // Video is polled where the JS SDK polls it; everything else at the message fetch.
    let gets: Vec<String> =
        fake.seen().into_iter().filter(|s| s.method == Method::GET).map(|s| s.uri).collect();
    assert!(gets.iter().any(|u| u == "/api/v1/video/mj/fetch/msg-5"), "{gets:?}");
    assert!(gets.iter().any(|u| u == "/api/v1/message/fetch/msg-1"), "{gets:?}");
    for s in fake.seen().iter().filter(|s| s.uri.starts_with("/api/")) {
        assert_headers(s);
    }
    // The CDN got no credentials.
    assert!(fake.seen().iter().all(|s| !s.uri.starts_with("/cdn/")), "downloads are not recorded");
}

#[test]
fn a_midjourney_grid_then_u1_records_the_lineage() {
    let fake = start_with(Recorder { processing_polls: 1, ..Recorder::default() });
    let t = fake.ctx();
    let grid = paid(&t, &["image", "a lighthouse", "--provider", "imaginepro"]);
    let parent = grid["job_id"].as_str().unwrap().to_owned();
    assert_eq!(grid["outputs"].as_array().unwrap().len(), 4, "a grid of four: {grid}");
    assert_eq!(grid["buttons"][4], "reroll", "{grid}");
    let child = paid(&t, &["button", &parent, "U1"]);
    let child_id = child["job_id"].as_str().unwrap().to_owned();
    assert_eq!(child["parent"], parent.as_str(), "{child}");
    assert_eq!(child["button"], "U1");
    let post = fake.posts().last().unwrap().clone();
    assert_eq!(post.uri, "/api/v1/nova/button");
    assert_eq!(post.body, json!({"messageId": "msg-1", "button": "U1"}));
    // Reroll goes as its emoji (unpriced: approved by its token); `upscale JOB --index` is U.
    let q = t.run(&["--json", "button", &parent, "reroll"]).json();
    let token = q["quote"]["token"].as_str().unwrap().to_owned();
    let r = t.run(&["--json", "button", &parent, "reroll", "--approve", &token]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(fake.posts().last().unwrap().body["button"], "🔄");
    paid(&t, &["upscale", &parent, "--index", "2"]);
    assert_eq!(fake.posts().last().unwrap().body, json!({"messageId": "msg-1", "button": "U2"}));
    // The parent's status shows its children and buttons; the child's shows its parent.
    let st = t.run(&["--json", "status", &parent, "--offline"]).json();
    let children = st["lineage"]["children"].as_array().unwrap();
    assert_eq!(children.len(), 3, "{st}");
    assert_eq!(children[0]["job_id"], child_id.as_str());
    assert_eq!(children[0]["button"], "U1");
    let u1 =
        st["lineage"]["buttons"].as_array().unwrap().iter().find(|b| b["name"] == "U1").unwrap();
    assert_eq!(u1["pressed_by"], json!([child_id]), "{st}");
    let st = t.run(&["--json", "status", &child_id, "--offline"]).json();
    assert_eq!(st["lineage"]["parent"]["job_id"], parent.as_str(), "{st}");
    let human = t.run(&["status", &child_id, "--offline"]);
    assert!(human.stdout.contains(&format!("made from:  {parent}")), "{}", human.stdout);
    // The tree: one root with three children.
    let tree = t.run(&["--json", "jobs", "--tree"]).json();
    assert_eq!(tree["jobs"].as_array().unwrap().len(), 1, "{tree}");
    assert_eq!(tree["jobs"][0]["children"].as_array().unwrap().len(), 3, "{tree}");
    let drawn = t.run(&["jobs", "--tree"]);
    assert!(drawn.stdout.contains("├─ U1 → "), "{}", drawn.stdout);
    assert!(drawn.stdout.contains("└─ U2 → "), "{}", drawn.stdout);
    // The grid reported its progress while it ran.
    let r = t.run(&[
        "--events",
        "image",
        "a second lighthouse",
        "--provider",
        "imaginepro",
        "--yes",
        "--max-cost",
        "10cr",
    ]);
    assert!(r.stderr.contains(r#""event":"progress""#), "{}", r.stderr);
}

#[test]
fn only_offered_buttons_and_finished_midjourney_parents() {
    let fake = start();
    let t = fake.ctx();
    let grid = paid(&t, &["image", "a lighthouse", "--provider", "imaginepro"]);
    let parent = grid["job_id"].as_str().unwrap().to_owned();
    let child = paid(&t, &["button", &parent, "u1"]);
    let child_id = child["job_id"].as_str().unwrap().to_owned();
    let before = fake.posts().len();
    // A grid offers no zoom; an upscale offers no U.
    let r = t.run(&["button", &parent, "zoom-out-2x", "--yes"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("does not offer `zoom-out-2x`"), "{}", r.stderr);
    assert!(r.stderr.contains("U1, U2, U3, U4, reroll, V1"), "{}", r.stderr);
    let r = t.run(&["button", &child_id, "U2", "--yes"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = t.run(&["button", &parent, "sparkle", "--yes"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("Unknown button"), "{}", r.stderr);
    // A mask goes with vary-region only.
    let r = t.run(&["button", &parent, "V1", "--mask", "https://example.com/m.png", "--yes"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    // What the upscale offers is pressable (and unpriced: refused under a cost limit).
    let r = t.run(&["--json", "button", &child_id, "zoom-out-2x", "--max-cost", "50cr", "--yes"]);
    assert_eq!(r.code, 6, "{}", r.stderr);
    assert!(r.stderr.contains("publishes no price"), "{}", r.stderr);
    assert_eq!(fake.posts().len(), before, "nothing refused was sent");
    // Without a limit it is quoted as not published and sent once approved by its token.
    let q = t.run(&["--json", "button", &child_id, "zoom-out-2x"]);
    assert_eq!(q.code, 3, "{}", q.stderr);
    let q = q.json();
    assert!(q.to_string().contains("not published"), "{q}");
    let token = q["quote"]["token"].as_str().unwrap().to_owned();
    let r = t.run(&["--json", "button", &child_id, "zoom-out-2x", "--approve", &token]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(fake.posts().last().unwrap().body["button"], "Zoom Out 2x");
    assert_eq!(fake.posts().len(), before + 1);
}

#[test]
fn quotes_follow_the_mode_the_count_and_lumi_size() {
    let fake = start();
    let t = fake.ctx();
    let credits = |args: &[&str]| {
        let mut full = vec!["--json"];
        full.extend_from_slice(args);
        full.push("--dry-run");
        let r = t.run(&full);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        r.json()
    };
    let fast = credits(&["image", "a fox", "--provider", "imaginepro"]);
    assert_eq!(fast["quote"]["credits"], 10.0, "{fast}");
    let relax = credits(&["image", "a fox", "--provider", "imaginepro", "--mode", "relax"]);
    assert_eq!(relax["quote"]["credits"], 5.0, "{relax}");
    // Typed in the prompt, relax is relax whatever --mode says.
    let typed = credits(&["image", "a fox --relax", "--provider", "imaginepro", "--mode", "fast"]);
    assert_eq!(typed["quote"]["credits"], 5.0, "{typed}");
    assert_eq!(typed["request"]["body"]["prompt"], "a fox --relax");
    let flux = credits(&["image", "a fox", "--provider", "imaginepro", "-m", "flux", "-n", "4"]);
    assert_eq!(flux["quote"]["credits"], 24.0, "{flux}");
    // Lumi Girl's size from a `--ar` in the prompt, sent unchanged.
    let lumi =
        credits(&["image", "a fox --ar 16:9", "--provider", "imaginepro", "-m", "lumi-girl"]);
    assert_eq!(lumi["request"]["body"]["width"], 1024);
    assert_eq!(lumi["request"]["body"]["height"], 576);
    assert_eq!(lumi["request"]["body"]["prompt"], "a fox --ar 16:9");
    assert_eq!(lumi["request"]["url"], format!("{}/api/v1/universal/zimage", fake.base));
    // Without a dollar price, credits only, and the quote says why.
    assert!(fast["quote"]["usd"].is_null(), "{fast}");
    assert!(fast.to_string().contains("usd_per_credit"), "{fast}");
    let r = t.run(&[
        "--json",
        "image",
        "a fox",
        "--provider",
        "imaginepro",
        "--max-cost",
        "0.50",
        "--yes",
    ]);
    assert_eq!(r.code, 6, "a dollar limit without a dollar price refuses: {}", r.stderr);
    assert!(fake.posts().is_empty(), "quotes and refusals send nothing");
}

#[test]
fn bad_input_is_refused_before_anything_is_sent() {
    let fake = start();
    let t = fake.ctx();
    std::fs::write(t.out_dir().join("cat.png"), conjure_test::png_bytes()).unwrap();
    let cases: &[&[&str]] = &[
        &[
            "image",
            "a fox",
            "--provider",
            "imaginepro",
            "--model",
            "nano-banana",
            "--ref",
            "cat.png",
        ],
        &["upscale", "cat.png", "--scale", "2"],
        &["remove-bg", "cat.png"],
        &[
            "video",
            "waves",
            "--provider",
            "imaginepro",
            "--first-frame",
            "https://example.com/1.png",
        ],
        &["image", "a fox", "--provider", "imaginepro", "--model", "midjourney", "--count", "2"],
        &["image", "a fox", "--provider", "imaginepro", "--model", "flux", "--count", "5"],
        &["image", "a fox", "--provider", "imaginepro", "--model", "dalle"],
        &["image", "a fox", "--provider", "imaginepro", "--model", "flux", "--mode", "relax"],
        &["image", "a fox --ar 1:1", "--provider", "imaginepro", "--aspect", "16:9"],
        &["image", "a fox", "--webhook", "https://example.com/hook"],
        &["image", "a fox", "--provider", "imaginepro", "--webhook", "example.com/hook"],
        &["upscale", "https://example.com/a.png", "--index", "1"],
    ];
    for args in cases {
        let mut full = args.to_vec();
        full.push("--yes");
        let r = t.run(&full);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("hint:"),
            "{args:?}: every refusal says what to do: {}",
            r.stderr
        );
    }
    let r = t.run(&["upscale", "cat.png", "--scale", "2", "--yes"]);
    assert!(r.stderr.contains("URLs, not uploads"), "{}", r.stderr);
    // A Midjourney name without the provider says which provider it needs.
    for args in
        [["image", "a fox", "--model", "midjourney"], ["models", "midjourney", "--kind", "image"]]
    {
        let r = t.run(&args);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(r.stderr.contains("ImaginePro's"), "{}", r.stderr);
    }
    let ops = t.run(&["--json", "models", "--provider", "imaginepro", "flux"]).json();
    let names: Vec<&str> = ops["operations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["operation"].as_str())
        .collect();
    assert_eq!(names, ["flux_imagine", "flux_upscale"]);
    assert!(fake.posts().is_empty());
}

#[test]
fn each_error_class() {
    let run = |submit: Submit| {
        let fake = start_with(Recorder { submit, ..Recorder::default() });
        let r = fake.ctx().run(&[
            "--json",
            "image",
            "a fox",
            "--provider",
            "imaginepro",
            "--yes",
            "--max-cost",
            "10cr",
        ]);
        (r, fake.posts().len())
    };
    let (r, posts) = run(Submit::Status(400));
    assert_eq!((r.code, posts), (2, 1), "{}", r.stderr);
    assert!(r.stderr.contains("Prompt is required."), "{}", r.stderr);
    let (r, posts) = run(Submit::Status(401));
    assert_eq!((r.code, posts), (7, 1), "{}", r.stderr);
    assert!(r.stderr.contains("credits"), "a 401 may mean too few credits: {}", r.stderr);
    for fault in [Submit::Status(500), Submit::Drop] {
        let (r, posts) = run(fault);
        assert_eq!(r.code, 5, "{fault:?}: {}", r.stderr);
        assert_eq!(posts, 1, "{fault:?}: never sent again");
        assert_eq!(r.json()["error"]["kind"], "outcome_unknown");
    }
    // A job that fails: exit 4, and whether it was charged is not known.
    let fake = start_with(Recorder { fail: Some("content policy"), ..Recorder::default() });
    let r = fake.ctx().run(&[
        "image",
        "a fox",
        "--provider",
        "imaginepro",
        "--yes",
        "--max-cost",
        "10cr",
    ]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(r.stderr.contains("content policy"), "{}", r.stderr);
    assert!(r.stderr.contains("charged: unknown"), "{}", r.stderr);
    // A message ImaginePro does not know.
    let fake = start();
    let t = fake.ctx();
    paid(&t, &["image", "a fox", "--provider", "imaginepro", "--no-wait"]);
    fake.recorder.jobs.lock().unwrap().clear();
    let r = t.run(&["wait", "msg-1"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("ImaginePro does not know the job `msg-1`"), "{}", r.stderr);
}

#[test]
fn enhance_is_free_and_image_enhance_quotes_the_enhanced_prompt() {
    let fake = start();
    let t = fake.ctx();
    let r = t.run(&["enhance", "a fox"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.trim(), "a fox, golden hour, highly detailed");
    let v = t.run(&["--json", "enhance", "a fox"]).json();
    assert_eq!(v["enhanced"], "a fox, golden hour, highly detailed");
    assert_eq!(fake.posts()[0].uri, "/api/v1/tools/prompt-extend");
    assert_eq!(fake.posts()[0].body, json!({"prompt": "a fox"}));
    let q = t.run(&[
        "--json",
        "image",
        "a fox",
        "--provider",
        "imaginepro",
        "--enhance",
        "--mode",
        "relax",
    ]);
    assert_eq!(q.code, 3, "{}", q.stderr);
    let q = q.json();
    assert_eq!(
        q["request"]["body"]["prompt"], "a fox, golden hour, highly detailed --relax",
        "{q}"
    );
    assert_eq!(q["quote"]["credits"], 5.0);
    // Nothing but the enhancements was sent, and the journal has no job for them.
    assert!(fake.posts().iter().all(|p| p.uri == "/api/v1/tools/prompt-extend"));
    assert_eq!(t.run(&["--json", "jobs"]).json()["jobs"], json!([]));
    let r = t.run(&["enhance", "a fox", "--provider", "katana"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn the_key_never_shows() {
    let fake = start_with(Recorder { submit: Submit::Status(401), ..Recorder::default() });
    let t = fake.ctx();
    for args in [
        vec!["--json", "image", "a fox", "--provider", "imaginepro", "--yes", "--max-cost", "10cr"],
        vec!["image", "a fox", "--provider", "imaginepro", "--dry-run"],
        vec!["-vv", "image", "a fox", "--provider", "imaginepro", "--approve", "x"],
        vec!["--json", "jobs"],
        vec!["config"],
    ] {
        let r = t.run(&args);
        assert!(!r.stdout.contains(KEY) && !r.stderr.contains(KEY), "{args:?}");
    }
    let journal = std::fs::read(t.journal_path()).unwrap();
    assert!(!String::from_utf8_lossy(&journal).contains(KEY));
}

#[test]
fn auth_stores_the_key_for_later_commands() {
    let fake = start();
    let mut t = crate::ctx();
    t.env("CONJURE_IMAGINEPRO_BASE_URL", &fake.base);
    let r = t.run_with_stdin(&["auth", "imaginepro"], &format!("IMAGINEPRO_API_KEY={KEY}\n"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stdout.contains(KEY) && !r.stderr.contains(KEY));
    paid(&t, &["image", "a fox", "--provider", "imaginepro"]);
    assert_headers(&fake.posts()[0]);
}

// --- Against the sandbox: the real server, its credits and its counters. ---

#[test]
fn sandbox_grid_then_u1_and_balance() {
    let t = crate::sandbox();
    let key = conjure_sandbox::IMAGINEPRO_DEMO_KEY;
    let before = t.sandbox().imaginepro_balance(key).unwrap();
    let grid = paid(&t, &["image", "a lighthouse", "--provider", "imaginepro", "--tag", "demo-1"]);
    assert_eq!(grid["outputs"].as_array().unwrap().len(), 4, "{grid}");
    assert_eq!(grid["tag"], "demo-1");
    let parent = grid["job_id"].as_str().unwrap().to_owned();
    let child = paid(&t, &["button", &parent, "U1"]);
    assert_eq!(child["parent"], parent.as_str());
    let after = t.sandbox().imaginepro_balance(key).unwrap();
    assert_eq!(before - after, conjure_core::Credits::whole(15), "10 for the grid, 5 for U1");
    assert_eq!(t.stats().imaginepro_posts_received, 2, "{:?}", t.stats());
}

#[test]
fn sandbox_faults_never_send_a_submission_twice() {
    for faults in [
        conjure_test::Faults { submit_500: true, ..Default::default() },
        conjure_test::Faults { drop_after_accept: true, ..Default::default() },
        conjure_test::Faults { fail_rate: 1.0, ..Default::default() },
        conjure_test::Faults { rate_limit_polls: 2, retry_after_secs: 0, ..Default::default() },
    ] {
        let t = crate::sandbox_with(faults.clone());
        let r = t.run(&[
            "--json",
            "image",
            "a fox",
            "--provider",
            "imaginepro",
            "--yes",
            "--max-cost",
            "10cr",
        ]);
        let expected = if faults.submit_500 || faults.drop_after_accept {
            5
        } else if faults.fail_rate > 0.0 {
            4
        } else {
            0
        };
        assert_eq!(r.code, expected, "{faults:?}: {}", r.stderr);
        assert_eq!(
            t.stats().imaginepro_posts_received,
            1,
            "{faults:?}: one submission per approval"
        );
        // Asking again about the job sends nothing new either.
        let job =
            t.run(&["--json", "jobs"]).json()["jobs"][0]["job_id"].as_str().unwrap().to_owned();
        t.run(&["status", &job]);
        t.run(&["wait", &job]);
        assert_eq!(t.stats().imaginepro_posts_received, 1, "{faults:?}");
    }
}

#[test]
fn sandbox_webhook_reaches_a_loopback_receiver_once() {
    use axum::routing::post as route_post;
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let sink = received.clone();
    let app = Router::new().route(
        "/hook",
        route_post(move |axum::Json(v): axum::Json<Value>| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(v);
                StatusCode::OK
            }
        }),
    );
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
    let t = crate::sandbox();
    let v = paid(
        &t,
        &["image", "a fox", "--provider", "imaginepro", "--webhook", &hook, "--tag", "order-9"],
    );
    let message = v["request_id"].as_str().unwrap().to_owned();
    for _ in 0..200 {
        if !received.lock().unwrap().is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["messageId"], message.as_str());
    assert_eq!(got[0]["status"], "DONE");
    assert_eq!(got[0]["ref"], "order-9");
    assert_eq!(t.stats().imaginepro_webhooks_delivered, 1);
}

/// Starts `args` (with `--json`) without waiting for it.
fn spawn(t: &TestContext, args: &[&str]) -> std::process::Child {
    let mut full = vec!["--json"];
    full.extend_from_slice(args);
    let mut cmd = t.command(&full);
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    cmd.spawn().unwrap()
}

fn codes(children: Vec<std::process::Child>) -> Vec<i32> {
    let mut codes: Vec<i32> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap().status.code().unwrap_or(-1))
        .collect();
    codes.sort_unstable();
    codes
}

#[test]
fn sandbox_several_processes_one_token_one_press_and_a_credit_budget() {
    // Latency keeps the processes in flight together.
    let mut t = crate::sandbox_with(conjure_test::Faults { latency_ms: 300, ..Default::default() });
    let grid = paid(&t, &["image", "a lighthouse", "--provider", "imaginepro"]);
    let parent = grid["job_id"].as_str().unwrap().to_owned();
    // One approved press, approved by four processes at once: sent once.
    let q = t.run(&["--json", "button", &parent, "V2"]).json();
    let token = q["quote"]["token"].as_str().unwrap().to_owned();
    let press = ["button", parent.as_str(), "V2", "--approve", token.as_str()];
    let children = (0..4).map(|_| spawn(&t, &press)).collect();
    assert_eq!(codes(children), [0, 2, 2, 2], "one sends, three are refused");
    assert_eq!(t.stats().imaginepro_posts_received, 2, "the grid and one press");
    // A daily budget of 40 credits holds across processes.
    t.env("CONJURE_DAILY_BUDGET", "40cr");
    let children = (0..4)
        .map(|i| {
            let prompt = format!("racing lighthouse {i}");
            spawn(
                &t,
                &["image", &prompt, "--provider", "imaginepro", "--yes", "--max-cost", "10cr"],
            )
        })
        .collect();
    // 15 credits are spent already (grid 10, V2 5): 25 left, two more grids.
    assert_eq!(codes(children), [0, 0, 6, 6]);
    assert_eq!(t.stats().imaginepro_posts_received, 4);
}
