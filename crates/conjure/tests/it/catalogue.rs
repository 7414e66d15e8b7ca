//! The catalogue that keeps up: `models --refresh/--diff` against a fake Katana serving a
//! changed catalogue, quotes from the refreshed catalogue (new models, price-change notes), the
//! `llms.txt` staleness check (by hand and the daily one before paid requests, counted at the
//! fake), and `attest` with the nonce echoed or not.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use conjure_core::catalogue::Pricing;
use conjure_core::catalogue::live::BUNDLED_LLMS_SHA256;
use conjure_core::{Catalogue, Credits};
use conjure_test::{TEST_KEY, TEST_SECRET, TestContext};
use serde_json::{Map, Value, json};

const PNG_DATA: &str = "data:image/png;base64,iVBORw0KGgo=";

/// The query and the Authorization header of one attestation request.
type Attestation = (Map<String, Value>, Option<String>);

#[derive(Clone, Default)]
struct Fake {
    llms: Arc<Mutex<String>>,
    llms_gets: Arc<AtomicUsize>,
    llms_fail: Arc<AtomicBool>,
    /// The Authorization header of each `/v1/models` request.
    models_auth: Arc<Mutex<Vec<Option<String>>>>,
    /// Echo the nonce in attestations.
    echo: Arc<AtomicBool>,
    /// `(query, authorization)` of each attestation request.
    attestations: Arc<Mutex<Vec<Attestation>>>,
    posts: Arc<AtomicUsize>,
}

/// A catalogue entry as Katana's `/v1/models` names its fields.
fn entry(m: &conjure_core::Model) -> Value {
    let mut e = json!({"public_model_name": m.id, "display_name": m.id, "type": m.kind.as_str()});
    match &m.pricing {
        Pricing::PerItem { credits } => e["credits"] = json!(credits),
        Pricing::PerDuration { credits } => {
            e["video_lengths_and_costs"] = credits
                .iter()
                .map(|(d, c)| (d.to_string(), json!(c)))
                .collect::<Map<_, _>>()
                .into();
        }
        Pricing::PerMillionTokens { input, output, .. } => {
            e["credits"] = json!({"input": input, "output": output});
        }
    }
    if !m.aspects.is_empty() {
        e["supported_aspects"] = json!(m.aspects);
        e["maximum_reference_images"] = json!(m.max_refs);
    }
    if let Some(ctx) = m.context_tokens {
        e["context_length"] = json!(ctx);
    }
    e
}

/// The bundled catalogue, changed: `glm-5-2` (E2EE text) and `anima-base` (image) added,
/// `gemma-3-27b-private` removed, `grok-4-3` input at 300.0, `gpt-image-2` at 16.
fn changed_entries() -> Vec<Value> {
    let mut out = Vec::new();
    for m in Catalogue::bundled().models() {
        if m.id == "gemma-3-27b-private" {
            continue;
        }
        let mut e = entry(m);
        if m.id == "grok-4-3" {
            e["credits"]["input"] = json!(300.0);
        }
        if m.id == "gpt-image-2" {
            e["credits"] = json!(16);
        }
        out.push(e);
    }
    out.push(json!({"public_model_name": "glm-5-2", "display_name": "GLM 5.2", "type": "text",
        "credits": {"input": 120.0, "output": 480.0}, "max_context_length": 202_752,
        "privacy_mode": "E2EE Private"}));
    out.push(
        json!({"public_model_name": "anima-base", "display_name": "Anima Base", "type": "image",
        "credits": 3.5, "creator": "imgnAI", "supported_aspects": ["1:1", "16:9"],
        "maximum_reference_images": 0}),
    );
    out
}

async fn models(State(f): State<Fake>, headers: HeaderMap) -> axum::Json<Value> {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let list = auth.is_some();
    f.models_auth.lock().unwrap().push(auth);
    let entries = changed_entries();
    if list {
        // As Katana: any Authorization header gets the OpenAI-style list.
        return axum::Json(json!({"object": "list", "data": entries}));
    }
    let section =
        |kind: &str| entries.iter().filter(|e| e["type"] == kind).cloned().collect::<Vec<_>>();
    axum::Json(json!({"images": section("image"), "videos": section("video"),
                      "text": section("text"), "text_pricing": {}}))
}

async fn llms(State(f): State<Fake>) -> (StatusCode, String) {
    f.llms_gets.fetch_add(1, Ordering::SeqCst);
    if f.llms_fail.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "down".to_owned());
    }
    (StatusCode::OK, f.llms.lock().unwrap().clone())
}

async fn attestation(
    State(f): State<Fake>,
    Query(q): Query<Map<String, Value>>,
    headers: HeaderMap,
) -> axum::Json<Value> {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
    f.attestations.lock().unwrap().push((q.clone(), auth));
    let nonce = q.get("nonce").and_then(Value::as_str).unwrap_or_default().to_ascii_uppercase();
    if f.echo.load(Ordering::SeqCst) {
        axum::Json(json!({"model": q["model"], "quote": format!("BASE64QUOTE{nonce}END"),
                          "tee": "TDX", "key_echo": TEST_KEY}))
    } else {
        axum::Json(json!({"model": q["model"], "quote": "BASE64QUOTE-cached", "tee": "TDX"}))
    }
}

async fn submit(State(f): State<Fake>, body: String) -> axum::Json<Value> {
    f.posts.fetch_add(1, Ordering::SeqCst);
    let _ = body;
    axum::Json(json!({"request_id": "req_cat_1", "status": "processing", "poll_after_seconds": 1,
                      "requests": [], "responses": []}))
}

async fn poll(Path(id): Path<String>) -> axum::Json<Value> {
    axum::Json(json!({"request_id": id, "status": "completed", "responses": [
        {"id": "item-0", "status": "completed", "metadata": {"credits_spent": 3},
         "output_assets": [{"kind": "image", "mime_type": "image/png", "original_data_url": PNG_DATA,
                            "url": PNG_DATA, "width": 64, "height": 64,
                            "expires_at": "2099-01-01T00:00:00Z"}]}]}))
}

struct Server {
    fake: Fake,
    base: String,
    _runtime: tokio::runtime::Runtime,
}

fn start() -> Server {
    let fake = Fake::default();
    "# Katana\n\nModels: version one\n".clone_into(&mut fake.llms.lock().unwrap());
    fake.echo.store(true, Ordering::SeqCst);
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let app = Router::new()
        .route("/v1/models", get(models))
        .route("/llms.txt", get(llms))
        .route("/v1/text/attestation", get(attestation))
        .route("/v1/generation-requests", post(submit))
        .route("/v1/generation-requests/{id}", get(poll))
        .with_state(fake.clone());
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server { fake, base, _runtime: runtime }
}

/// A context pointed at `server`, with credentials.
fn ctx(server: &Server) -> TestContext {
    let mut t = crate::ctx();
    t.env("CONJURE_KATANA_BASE_URL", &server.base);
    t.env("KATANA_API_KEY", TEST_KEY);
    t.env("KATANA_API_SECRET", TEST_SECRET);
    t
}

fn no_secrets(r: &conjure_test::Run) {
    for s in [TEST_KEY, TEST_SECRET] {
        assert!(!r.stdout.contains(s) && !r.stderr.contains(s), "a secret leaked: {r:?}");
    }
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn refresh_caches_the_live_catalogue_with_or_without_credentials() {
    let server = start();
    let t = ctx(&server);
    let r = t.run(&["--json", "models", "--refresh"]);
    assert_eq!(r.code, 0, "{r:?}");
    no_secrets(&r);
    let v = r.json();
    assert_eq!(v["shape"], "list");
    assert_eq!(v["authenticated"], true);
    assert_eq!(
        (v["added"].as_u64(), v["removed"].as_u64(), v["repriced"].as_u64()),
        (Some(2), Some(1), Some(2))
    );
    assert_eq!(v["models"], 122);
    assert_eq!(v["by_kind"]["text"], 45);
    assert_eq!(v["base_url"], server.base);
    // The raw answer is cached with the time and the base URL it came from.
    let path = t.path("data").join("catalogue.json");
    assert_eq!(v["path"], path.display().to_string());
    let cache: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(cache["base_url"], format!("{}/", server.base));
    assert!(cache["fetched_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(cache["models"]["object"], "list");
    let auth = server.fake.models_auth.lock().unwrap().clone();
    assert!(auth[0].as_deref().is_some_and(|a| a.starts_with("Bearer ")));
    // No temp files left beside it.
    let leftovers: Vec<_> = std::fs::read_dir(t.path("data"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".conjure-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Without credentials: no Authorization, so the sectioned shape; the same catalogue.
    let server = start();
    let mut t = crate::ctx();
    t.env("CONJURE_KATANA_BASE_URL", &server.base);
    let r = t.run(&["models", "--refresh"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("122 models (52 image, 25 video, 45 text)"), "{}", r.stdout);
    assert!(r.stdout.contains("2 added, 1 removed, 2 re-priced"), "{}", r.stdout);
    assert_eq!(server.fake.models_auth.lock().unwrap().clone(), [None]);
    let r = t.run(&["--json", "models", "--kind", "text"]);
    assert!(ids(&r.json()["models"]).contains(&"glm-5-2".to_owned()));
    assert!(r.json()["refreshed_at"].is_string());
}

#[test]
fn diff_lists_added_removed_and_repriced_models() {
    let server = start();
    let t = ctx(&server);
    let r = t.run(&["models", "--diff"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("hint: run `conjure models --refresh` first"), "{}", r.stderr);

    let r = t.run(&["--json", "models", "--refresh", "--diff"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v = r.json();
    assert_eq!(ids(&v["added"]), ["anima-base", "glm-5-2"]);
    assert_eq!(ids(&v["removed"]), ["gemma-3-27b-private"]);
    assert_eq!(v["added"][1]["kind"], "text");
    assert_eq!(
        v["added"][1]["pricing"],
        json!({"unit": "per_million_tokens", "input": 120.0, "output": 480.0})
    );
    let repriced: Vec<(String, String)> = v["repriced"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_str().unwrap().to_owned(), r["change"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        repriced,
        [
            ("gpt-image-2".to_owned(), "14.0 -> 16.0 credits per image".to_owned()),
            ("grok-4-3".to_owned(), "input 264.5 -> 300.0 credits per million tokens".to_owned()),
        ]
    );
    assert_eq!(v["repriced"][1]["before"]["input"], 264.5);
    assert_eq!(v["repriced"][1]["after"]["input"], 300.0);
    assert_eq!(v["built_in_synced"], "2026-06-08");
    assert_eq!(v["refresh"]["models"], 122);

    // From the cache, for people.
    let r = t.run(&["models", "--diff"]);
    assert_eq!(r.code, 0, "{r:?}");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].starts_with("CHANGE"), "{}", r.stdout);
    assert!(r.stdout.contains("added      text   glm-5-2"), "{}", r.stdout);
    assert!(r.stdout.contains("removed    text   gemma-3-27b-private"), "{}", r.stdout);
    assert!(
        r.stdout.contains("re-priced  text   grok-4-3                       input 264.5 -> 300.0 credits per million tokens"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains("against the built-in catalogue (synced 2026-06-08)"),
        "{}",
        r.stderr
    );
}

#[test]
fn quotes_use_the_refreshed_catalogue_and_name_price_changes() {
    let server = start();
    let t = ctx(&server);
    // Before the refresh the new model is unknown and the old price applies.
    let r = t.run(&["--json", "image", "a fox", "--model", "anima-base", "--dry-run"]);
    assert_eq!(r.code, 2, "{r:?}");
    let r = t.run(&["--json", "image", "a fox", "--model", "gpt-image-2", "--dry-run"]);
    assert_eq!(r.json()["quote"]["credits"], 14.0);
    assert!(r.json()["quote"].get("notes").is_none(), "{}", r.stdout);

    assert_eq!(t.run(&["models", "--refresh"]).code, 0);
    let r = t.run(&["--json", "image", "a fox", "--model", "anima-base", "--dry-run"]);
    assert_eq!(r.code, 0, "{r:?}");
    let q = &r.json()["quote"];
    assert_eq!(q["credits"], 3.5);
    assert_eq!(r.json()["request"]["body"]["requests"][0]["model"], "anima-base");
    assert!(
        q["notes"][0]
            .as_str()
            .unwrap()
            .starts_with("`anima-base` is not in the built-in catalogue"),
        "{q}"
    );

    let r = t.run(&["--json", "image", "a fox", "--model", "gpt-image", "--dry-run"]);
    let q = &r.json()["quote"];
    assert_eq!(q["credits"], 16.0);
    let note = q["notes"][0].as_str().unwrap();
    assert!(
        note.starts_with("the price of `gpt-image-2` changed since the built-in catalogue: 14.0 -> 16.0 credits per image (catalogue refreshed 20"),
        "{note}"
    );
    // People see it before approving.
    let r = t.run(&["image", "a fox", "--model", "gpt-image-2"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stderr.contains("note: the price of `gpt-image-2` changed"), "{}", r.stderr);

    // A removed model is refused, with the refreshed catalogue's suggestions.
    let r = t.run(&["models", "gemma-3-27b-private"]);
    assert_eq!(r.code, 2, "{r:?}");
    let r = t.run(&["--json", "models", "glm-5-2"]);
    assert_eq!(r.json()["models"][0]["privacy"], "e2ee");

    // The cache belongs to its base URL: elsewhere, the built-in catalogue applies.
    let mut elsewhere = crate::ctx();
    std::fs::create_dir_all(elsewhere.path("data")).unwrap();
    std::fs::copy(t.path("data/catalogue.json"), elsewhere.path("data/catalogue.json")).unwrap();
    elsewhere.env("CONJURE_KATANA_BASE_URL", "http://127.0.0.1:9");
    let r = elsewhere.run(&["--json", "image", "a fox", "--model", "gpt-image-2", "--dry-run"]);
    assert_eq!(r.json()["quote"]["credits"], 14.0);
}

fn check(t: &TestContext) -> Value {
    let r = t.run(&["--json", "catalogue", "check"]);
    assert_eq!(r.code, 0, "{r:?}");
    no_secrets(&r);
    r.json()
}

#[test]
fn the_staleness_check_compares_llms_txt_with_the_catalogue_in_use() {
    let server = start();
    let t = ctx(&server);
    // First: this server is not production, which the built-in catalogue was made from, so its
    // first llms.txt is the baseline (production's is compared with the built-in checksum: a
    // unit test of `baseline`).
    let v = check(&t);
    assert_eq!(v["catalogue"], "first_seen");
    assert_eq!(v["changed"], false);
    assert_eq!(v["url"], format!("{}/llms.txt", server.base));
    let first = v["sha256"].as_str().unwrap().to_owned();
    assert_eq!(first.len(), 64);
    assert_eq!(v["stored_sha256"], first);
    assert_ne!(first, BUNDLED_LLMS_SHA256);
    let record: Value = serde_json::from_str(
        &std::fs::read_to_string(t.path("data").join("catalogue-check.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(record["sha256"], first);
    assert!(record["checked_at"].is_string());
    // It changes: against what it was first.
    "# Katana\n\nModels: version one and a half\n"
        .clone_into(&mut server.fake.llms.lock().unwrap());
    let v = check(&t);
    assert_eq!((v["catalogue"].as_str(), v["changed"].as_bool()), (Some("first_seen"), Some(true)));
    assert_eq!(v["stored_sha256"], first);
    assert!(v["advice"].as_str().unwrap().contains("conjure models --refresh"));
    let first = v["sha256"].as_str().unwrap().to_owned();

    // A refresh makes the current llms.txt the one the catalogue was made from.
    assert_eq!(t.run(&["models", "--refresh"]).code, 0);
    let v = check(&t);
    assert_eq!((v["catalogue"].as_str(), v["changed"].as_bool()), (Some("refreshed"), Some(false)));
    assert_eq!(v["stored_sha256"], first);
    assert!(v.get("advice").is_none());
    let r = t.run(&["catalogue", "check"]);
    assert!(
        r.stdout.starts_with("Katana's llms.txt is unchanged since the catalogue was refreshed"),
        "{}",
        r.stdout
    );

    // The provider changes llms.txt: the catalogue may be stale; still exit 0.
    "# Katana\n\nModels: version two\n".clone_into(&mut server.fake.llms.lock().unwrap());
    let v = check(&t);
    assert_eq!(v["changed"], true);
    assert_ne!(v["sha256"], first);
    assert_eq!(v["last_check"]["sha256"], first);
    let r = t.run(&["catalogue", "check"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("the catalogue may be stale"), "{}", r.stdout);
    assert!(r.stderr.contains("next: run `conjure models --refresh`"), "{}", r.stderr);
    assert_eq!(server.fake.llms_gets.load(Ordering::SeqCst), 7);

    // The check needs no credentials.
    let mut anonymous = crate::ctx();
    anonymous.env("CONJURE_KATANA_BASE_URL", &server.base);
    assert_eq!(anonymous.run(&["catalogue", "check"]).code, 0);

    // No answer: an error with an exit code, the attempt still recorded.
    server.fake.llms_fail.store(true, Ordering::SeqCst);
    let r = t.run(&["catalogue", "check"]);
    assert_eq!(r.code, 4, "{r:?}");
    assert!(r.stderr.contains("Cannot read"), "{}", r.stderr);
    let mut offline = crate::ctx();
    offline.env("CONJURE_KATANA_BASE_URL", "http://127.0.0.1:9");
    let r = offline.run(&["--json", "catalogue", "check"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(r.json()["error"]["kind"], "error");
    assert!(offline.path("data").join("catalogue-check.json").exists());
}

/// Sets the last check back by `hours`.
fn age_last_check(t: &TestContext, hours: i64) {
    let path = t.path("data").join("catalogue-check.json");
    let mut record: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let at = record["checked_at_ms"].as_i64().unwrap() - hours * 3_600_000;
    record["checked_at_ms"] = json!(at);
    std::fs::write(&path, record.to_string()).unwrap();
}

#[test]
fn paid_requests_check_the_catalogue_at_most_once_a_day() {
    let server = start();
    let mut t = ctx(&server);
    t.env("CONJURE_CATALOGUE_CHECK", "1");
    let gets = || server.fake.llms_gets.load(Ordering::SeqCst);

    // A dry run sends nothing, so it checks nothing.
    assert_eq!(t.run(&["image", "a fox", "--dry-run"]).code, 0);
    assert_eq!(gets(), 0);

    // The first check of a server records what it serves: nothing to warn about.
    let r = t.run(&["image", "a fox", "--yes"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(gets(), 1);
    assert!(!r.stderr.contains("warning:"), "{}", r.stderr);
    // It changes; a day later the next paid request says so, once, and still goes.
    age_last_check(&t, 25);
    "# Katana\n\nModels: version two\n".clone_into(&mut server.fake.llms.lock().unwrap());
    let r = t.run(&["image", "a fox", "--again", "--yes"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(gets(), 2);
    let warnings: Vec<&str> = r.stderr.lines().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(warnings.len(), 1, "{}", r.stderr);
    assert!(
        warnings[0].starts_with(
            "warning: Katana's llms.txt changed since this server was first checked ("
        ),
        "{}",
        warnings[0]
    );
    assert!(warnings[0].contains("run `conjure models --refresh`"), "{}", warnings[0]);

    // Within 24 hours: no second check, no warning; the request goes as before.
    let r = t.run(&["image", "a fox", "--again", "--yes"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(gets(), 2);
    assert!(!r.stderr.contains("llms.txt"), "{}", r.stderr);

    // An unreachable llms.txt never fails or delays the request, and counts as the day's check.
    server.fake.llms_fail.store(true, Ordering::SeqCst);
    age_last_check(&t, 25);
    let r = t.run(&["image", "a fox", "--again", "--yes"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!r.stderr.contains("warning:"), "{}", r.stderr);
    assert_eq!(t.run(&["image", "a fox", "--again", "--yes"]).code, 0);
    assert_eq!(gets(), 3);
    assert_eq!(server.fake.posts.load(Ordering::SeqCst), 5);

    // Turned off by the variable...
    let server = start();
    let mut off = ctx(&server);
    off.env("CONJURE_CATALOGUE_CHECK", "0");
    assert_eq!(off.run(&["image", "a fox", "--yes"]).code, 0);
    assert_eq!(server.fake.llms_gets.load(Ordering::SeqCst), 0);
    // ...and by the config file.
    let mut by_file = ctx(&server);
    std::fs::write(by_file.path("config").join("config.toml"), "[catalogue]\ncheck = false\n")
        .unwrap();
    by_file.env("CONJURE_CATALOGUE_CHECK", "");
    assert_eq!(by_file.run(&["image", "a fox", "--yes"]).code, 0);
    assert_eq!(server.fake.llms_gets.load(Ordering::SeqCst), 0);
}

#[test]
fn attest_saves_the_answer_and_checks_the_nonce() {
    let server = start();
    let t = ctx(&server);
    let r = t.run(&["--json", "attest", "glm-5-1-private"]);
    assert_eq!(r.code, 0, "{r:?}");
    no_secrets(&r);
    let v = r.json();
    assert_eq!(v["nonce_present"], true);
    assert_eq!(v["status"], 200);
    assert_eq!(v["body"], "object");
    assert_eq!(v["fields"], json!(["key_echo", "model", "quote", "tee"]));
    let nonce = v["nonce"].as_str().unwrap().to_owned();
    assert_eq!(nonce.len(), 64);
    assert!(nonce.chars().all(|c| c.is_ascii_hexdigit()));
    // The request: the model, the nonce, the Bearer credential.
    let seen = server.fake.attestations.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0["model"], "glm-5-1-private");
    assert_eq!(seen[0].0["nonce"], nonce);
    assert!(seen[0].1.as_deref().is_some_and(|a| a.starts_with("Bearer ")));
    // The raw answer, saved under the data directory (with the echoed key masked).
    let saved = std::path::PathBuf::from(v["saved_to"].as_str().unwrap());
    assert!(saved.starts_with(t.path("data").join("attestations")), "{}", saved.display());
    let body = std::fs::read_to_string(&saved).unwrap();
    assert!(body.contains(&nonce.to_ascii_uppercase()), "{body}");
    assert!(!body.contains(TEST_KEY), "{body}");
    assert_eq!(v["bytes"], body.len());

    // -o: never over an existing file without --force.
    let r = t.run(&["attest", "glm-5-1-private", "-o", "proof.json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("present in the answer"), "{}", r.stdout);
    assert!(t.out_dir().join("proof.json").exists());
    let r = t.run(&["attest", "glm-5-1-private", "-o", "proof.json"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    assert_eq!(server.fake.attestations.lock().unwrap().len(), 2);
    assert_eq!(t.run(&["attest", "glm-5-1-private", "-o", "proof.json", "--force"]).code, 0);

    // A proof without the nonce is saved and reported, and is not fresh.
    server.fake.echo.store(false, Ordering::SeqCst);
    let r = t.run(&["--json", "attest", "kimi-k2-6-private", "-o", "stale.json"]);
    assert_eq!(r.code, 4, "{r:?}");
    assert_eq!(r.json()["nonce_present"], false);
    assert!(r.stderr.contains("is not fresh"), "{}", r.stderr);
    assert!(t.out_dir().join("stale.json").exists());
    let r = t.run(&["attest", "kimi-k2-6-private", "-o", "stale2.json"]);
    assert_eq!(r.code, 4, "{r:?}");
    assert!(r.stdout.contains("NOT in the answer"), "{}", r.stdout);
    assert!(
        r.stderr.contains("error: The attestation of `kimi-k2-6-private` is not fresh"),
        "{}",
        r.stderr
    );

    // Only E2EE models; nothing is sent for others.
    let before = server.fake.attestations.lock().unwrap().len();
    let r = t.run(&["attest", "grok"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("`grok-4-3` has the Anonymized privacy tier"), "{}", r.stderr);
    assert!(
        r.stderr.contains("hint: attestable (E2EE Private) models: deepseek-v3-2-private,"),
        "{}",
        r.stderr
    );
    assert_eq!(t.run(&["attest", "gpt-image-2"]).code, 2);
    assert_eq!(server.fake.attestations.lock().unwrap().len(), before);

    // A model only the refreshed catalogue knows can be attested once it is refreshed.
    server.fake.echo.store(true, Ordering::SeqCst);
    assert_eq!(t.run(&["attest", "glm-5-2"]).code, 2);
    assert_eq!(t.run(&["models", "--refresh"]).code, 0);
    assert_eq!(t.run(&["attest", "glm-5-2"]).code, 0);

    // Credentials are required.
    let mut anonymous = crate::ctx();
    anonymous.env("CONJURE_KATANA_BASE_URL", &server.base);
    assert_eq!(anonymous.run(&["attest", "glm-5-1-private"]).code, 7);
}

#[test]
fn the_refreshed_catalogue_prices_text_models_in_quotes() {
    // No text command yet: the note is the same function a text quote uses (`App::order`).
    let live = Catalogue::from_live(
        &json!({"object": "list", "data": changed_entries()}),
        Catalogue::bundled(),
    )
    .unwrap();
    let notes = conjure_core::catalogue::live::price_notes(
        conjure_core::ProviderId::Katana,
        ["grok-4-3"],
        Catalogue::bundled(),
        &live,
        "2026-12-01T00:00:00Z",
    );
    assert_eq!(
        notes,
        [
            "the price of `grok-4-3` changed since the built-in catalogue: input 264.5 -> 300.0 credits per million tokens (catalogue refreshed 2026-12-01T00:00:00Z)"
        ]
    );
    let glm = live
        .resolve(conjure_core::ProviderId::Katana, Some(conjure_core::MediaKind::Text), "glm-5-2")
        .unwrap();
    assert_eq!(glm.min_credits(), Credits::whole(120));
}
