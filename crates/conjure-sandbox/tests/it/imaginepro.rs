//! The ImaginePro half over HTTP (`imaginepro-api.md`): both path families over one store,
//! every endpoint of §5, the message lifecycle, buttons, errors in the documented shape,
//! credits per the price table, `ref`, webhooks to a loopback receiver, and the faults.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use conjure_core::money::Credits;
use conjure_sandbox::{
    Faults, IMAGINEPRO_DEMO_BALANCE, IMAGINEPRO_DEMO_KEY, ImagineProKey, Sandbox, SandboxConfig,
};
use serde_json::{Value, json};

use crate::{client, download, sandbox};

const PREFIX: &str = "/api/v1";

fn url(sb: &Sandbox, path: &str) -> String {
    format!("{}{PREFIX}{path}", sb.base_url())
}

/// `POST /api/v1{path}` with the demo key and the SDKs' headers.
async fn post_as(sb: &Sandbox, key: Option<&str>, path: &str, body: &Value) -> reqwest::Response {
    let mut request = client().post(url(sb, path)).json(body);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request.send().await.unwrap()
}

async fn post(sb: &Sandbox, path: &str, body: &Value) -> reqwest::Response {
    post_as(sb, Some(IMAGINEPRO_DEMO_KEY), path, body).await
}

/// A paid POST that must be accepted: its `messageId`.
async fn submit(sb: &Sandbox, path: &str, body: &Value) -> String {
    let response = post(sb, path, body).await;
    assert_eq!(response.status(), 200, "POST {path}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["success"], true);
    assert!(body["createdAt"].as_str().unwrap().contains('T'), "{body}");
    let id = body["messageId"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 36, "a uuid: {id}");
    id
}

/// `GET` with `Content-Type: application/json` and no body, as both SDKs send it.
async fn get_as(sb: &Sandbox, key: Option<&str>, path: &str) -> reqwest::Response {
    let mut request = client().get(url(sb, path)).header("Content-Type", "application/json");
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request.send().await.unwrap()
}

async fn fetch_on(sb: &Sandbox, family: &str, id: &str) -> Value {
    let response = get_as(sb, Some(IMAGINEPRO_DEMO_KEY), &format!("{family}{id}")).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

const MJ_FETCH: &str = "/midjourney/message/";
const NOVA_FETCH: &str = "/message/fetch/";
const VIDEO_FETCH: &str = "/video/mj/fetch/";

/// Fetches on `family` until DONE or FAIL (at most `limit` fetches).
async fn fetch_to_end(sb: &Sandbox, family: &str, id: &str, limit: usize) -> Value {
    for _ in 0..limit {
        let message = fetch_on(sb, family, id).await;
        if message["status"] == "DONE" || message["status"] == "FAIL" {
            return message;
        }
    }
    panic!("message {id} not finished after {limit} fetches");
}

fn balance(sb: &Sandbox) -> Credits {
    sb.imaginepro_balance(IMAGINEPRO_DEMO_KEY).unwrap()
}

fn spent(sb: &Sandbox) -> Credits {
    Credits::whole(IMAGINEPRO_DEMO_BALANCE) - balance(sb)
}

/// A non-2xx answer in the documented shape; its `message`.
async fn documented_error(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status(), status);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["statusCode"], status, "{body}");
    let reason = reqwest::StatusCode::from_u16(status).unwrap().canonical_reason().unwrap();
    assert_eq!(body["error"], reason, "{body}");
    body["message"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn both_path_families_share_one_store() {
    let sb = sandbox(Faults::default()).await;
    let a = submit(&sb, "/midjourney/imagine", &json!({ "prompt": "a red fox" })).await;
    let b = submit(&sb, "/nova/imagine", &json!({ "prompt": "a blue fox" })).await;
    let a_done = fetch_to_end(&sb, NOVA_FETCH, &a, 5).await;
    let b_done = fetch_to_end(&sb, MJ_FETCH, &b, 5).await;
    assert_eq!(
        (a_done["prompt"].as_str(), b_done["prompt"].as_str()),
        (Some("a red fox"), Some("a blue fox"))
    );
    // Every job is served on all three fetch paths, and the answers agree.
    for family in [MJ_FETCH, NOVA_FETCH, VIDEO_FETCH] {
        assert_eq!(fetch_on(&sb, family, &a).await, a_done);
    }
    // A button pressed on one family works on a message made on the other.
    let child = submit(&sb, "/nova/button", &json!({ "messageId": a, "button": "U2" })).await;
    let child = fetch_to_end(&sb, MJ_FETCH, &child, 5).await;
    assert_eq!(child["originatingMessageId"], a);
    let stats = sb.stats();
    assert_eq!(stats.imaginepro_accepted, 3);
    assert_eq!(stats.imaginepro_accepted_by_path["/midjourney/imagine"], 1);
    assert_eq!(stats.imaginepro_accepted_by_path["/nova/imagine"], 1);
    assert_eq!(stats.imaginepro_accepted_by_path["/nova/button"], 1);
}

#[tokio::test]
async fn lifecycle_queued_processing_done_with_rising_progress() {
    let sb = sandbox(Faults { processing_steps: 3, ..Faults::default() }).await;
    let id = submit(&sb, "/nova/imagine", &json!({ "prompt": "a lighthouse --ar 16:9" })).await;
    let mut seen = Vec::new();
    let done = loop {
        let m = fetch_on(&sb, NOVA_FETCH, &id).await;
        assert!(m["progress"].is_u64(), "numeric progress: {m}");
        assert_eq!(m["messageId"], id);
        assert!(m["createdAt"].is_string() && m["updatedAt"].is_string());
        if m["status"] == "DONE" {
            break m;
        }
        assert!(m.get("uri").is_none() && m.get("images").is_none(), "{m}");
        seen.push((m["status"].as_str().unwrap().to_owned(), m["progress"].as_u64().unwrap()));
        assert!(seen.len() < 10);
    };
    assert_eq!(seen[0], ("QUEUED".to_owned(), 0));
    assert!(seen[1..].iter().all(|(s, _)| s == "PROCESSING"), "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0].1 < w[1].1), "rising: {seen:?}");
    assert_eq!(done["progress"], 100);
    let images = done["images"].as_array().unwrap();
    assert_eq!(images.len(), 4, "a Midjourney grid");
    assert_eq!(done["uri"], images[0]);
    let buttons: Vec<&str> =
        done["buttons"].as_array().unwrap().iter().map(|b| b.as_str().unwrap()).collect();
    assert_eq!(buttons, ["U1", "U2", "U3", "U4", "🔄", "V1", "V2", "V3", "V4"]);
    // The pictures are real PNGs of the --ar shape.
    let (mime, bytes) = download(images[3].as_str().unwrap()).await;
    assert_eq!(mime, "image/png");
    let picture = image::load_from_memory(&bytes).unwrap();
    assert!(picture.width() > picture.height(), "16:9");
    // A finished message stays finished.
    assert_eq!(fetch_on(&sb, MJ_FETCH, &id).await, done);
}

#[tokio::test]
async fn fail_carries_error_and_refunds() {
    let sb = sandbox(Faults::default()).await;
    let id = submit(&sb, "/midjourney/imagine", &json!({ "prompt": "sandbox:fail please" })).await;
    assert_eq!(spent(&sb), Credits::whole(10));
    let failed = fetch_to_end(&sb, MJ_FETCH, &id, 5).await;
    assert_eq!(failed["status"], "FAIL");
    assert!(!failed["error"].as_str().unwrap().is_empty());
    assert!(failed.get("images").is_none() && failed.get("uri").is_none());
    assert!(failed["progress"].is_u64());
    assert_eq!(spent(&sb), Credits::ZERO);
    // A failed message offers no buttons.
    let press = post(&sb, "/midjourney/button", &json!({ "messageId": id, "button": "U1" })).await;
    documented_error(press, 400).await;
}

#[tokio::test]
async fn buttons_make_children_and_are_checked() {
    let sb = sandbox(Faults::default()).await;
    let grid = submit(&sb, "/nova/imagine", &json!({ "prompt": "a castle" })).await;
    // Pressing before the message is done is refused.
    let early = post(&sb, "/nova/button", &json!({ "messageId": grid, "button": "U1" })).await;
    assert!(documented_error(early, 400).await.contains("not DONE"));
    fetch_to_end(&sb, NOVA_FETCH, &grid, 5).await;
    let before = spent(&sb);

    let upscaled = submit(&sb, "/nova/button", &json!({ "messageId": grid, "button": "U3" })).await;
    let upscaled = fetch_to_end(&sb, NOVA_FETCH, &upscaled, 5).await;
    assert_eq!(upscaled["originatingMessageId"], grid);
    assert_eq!(upscaled["images"].as_array().unwrap().len(), 1);
    assert_eq!(upscaled["prompt"], "a castle");
    let offered: Vec<&str> =
        upscaled["buttons"].as_array().unwrap().iter().map(|b| b.as_str().unwrap()).collect();
    assert!(offered.contains(&"Vary (Region)") && offered.contains(&"⬅️"), "{offered:?}");
    assert!(!offered.contains(&"U1"));

    let variant =
        submit(&sb, "/midjourney/button", &json!({ "messageId": grid, "button": "V1" })).await;
    let variant = fetch_to_end(&sb, MJ_FETCH, &variant, 5).await;
    assert_eq!(variant["images"].as_array().unwrap().len(), 4);
    let reroll = submit(&sb, "/nova/button", &json!({ "messageId": grid, "button": "🔄" })).await;
    assert_eq!(fetch_to_end(&sb, NOVA_FETCH, &reroll, 5).await["originatingMessageId"], grid);
    // A pan (emoji with a variation selector) on the upscaled child.
    let pan =
        submit(&sb, "/nova/button", &json!({ "messageId": upscaled["messageId"], "button": "⬅️" }))
            .await;
    assert_eq!(
        fetch_to_end(&sb, NOVA_FETCH, &pan, 5).await["originatingMessageId"],
        upscaled["messageId"]
    );
    // U = 5, V = 5, unpublished (reroll, pan) = the sandbox's stand-in price each.
    let other = Credits::whole(conjure_sandbox::IMAGINEPRO_UNPUBLISHED_PRICE);
    assert_eq!(spent(&sb) - before, Credits::whole(10) + other + other);

    // A button the message does not offer: 400 in the documented shape, nothing charged.
    let before = spent(&sb);
    let offered_not =
        post(&sb, "/nova/button", &json!({ "messageId": grid, "button": "Make Square" })).await;
    assert!(documented_error(offered_not, 400).await.contains("not offered"));
    let bogus =
        post(&sb, "/nova/button", &json!({ "messageId": upscaled["messageId"], "button": "U1" }))
            .await;
    documented_error(bogus, 400).await;
    // The reroll emoji without its exact code points is another string.
    let near =
        post(&sb, "/nova/button", &json!({ "messageId": grid, "button": "🔄\u{fe0f}" })).await;
    documented_error(near, 400).await;
    let unknown = post(
        &sb,
        "/nova/button",
        &json!({ "messageId": "00000000-0000-4000-8000-000000000000", "button": "U1" }),
    )
    .await;
    documented_error(unknown, 400).await;
    let missing = post(&sb, "/nova/button", &json!({ "messageId": grid })).await;
    assert!(documented_error(missing, 400).await.contains("button"));
    // Inpainting needs its mask.
    let region = post(
        &sb,
        "/nova/button",
        &json!({ "messageId": upscaled["messageId"], "button": "Vary (Region)" }),
    )
    .await;
    assert!(documented_error(region, 400).await.contains("mask"));
    assert_eq!(spent(&sb), before);
}

#[tokio::test]
async fn every_endpoint_answers_and_charges_the_table() {
    let sb = sandbox(Faults::default()).await;
    let image = "https://example.com/in.png";
    // (path, body, credits, images)
    let cases: Vec<(&str, Value, i64, usize)> = vec![
        ("/midjourney/imagine", json!({ "prompt": "p" }), 10, 4),
        ("/nova/imagine", json!({ "prompt": "p --relax" }), 5, 4),
        ("/flux/imagine", json!({ "prompt": "p", "n": 3 }), 18, 3),
        (
            "/flux/imagine",
            json!({ "prompt": "p", "width": 512, "height": 768, "aspect_ratio": "2:3", "output_format": "png", "output_quality": "100", "model": "flux-1.1-pro" }),
            6,
            1,
        ),
        ("/flux/upscale", json!({ "image": image, "scale": 4 }), 2, 1),
        (
            "/universal/imagine",
            json!({ "model": "nano-banana-2", "contents": [{ "type": "text", "text": "Image creation: p" }, { "type": "image", "url": image }] }),
            6,
            1,
        ),
        (
            "/universal/zimage",
            json!({ "prompt": "p --ar 3:4", "steps": 4, "width": 768, "height": 1024 }),
            6,
            1,
        ),
        (
            "/gemini/imagine",
            json!({ "contents": [{ "type": "text", "text": "p" }] }),
            conjure_sandbox::IMAGINEPRO_UNPUBLISHED_PRICE,
            1,
        ),
        ("/tools/remove-bg", json!({ "image": image }), 5, 1),
    ];
    for (path, body, credits, images) in cases {
        let before = spent(&sb);
        let id = submit(&sb, path, &body).await;
        assert_eq!(spent(&sb) - before, Credits::whole(credits), "{path} {body}");
        let done = fetch_to_end(&sb, MJ_FETCH, &id, 5).await;
        assert_eq!(done["status"], "DONE", "{path}");
        assert_eq!(done["images"].as_array().unwrap().len(), images, "{path}");
        assert_eq!(done["uri"], done["images"][0]);
        assert!(done["buttons"].is_array());
        let (mime, _) = download(done["uri"].as_str().unwrap()).await;
        assert_eq!(mime, "image/png");
    }
    let zimage = sb.stats().imaginepro_accepted_by_path;
    assert_eq!(zimage["/flux/imagine"], 2);
}

#[tokio::test]
async fn mj_video_generate_extend_fetch() {
    let sb = sandbox(Faults::default()).await;
    let frames = json!({ "prompt": "smooth motion transition", "startFrameUrl": "https://example.com/a.png", "endFrameUrl": "https://example.com/b.png", "timeout": 900 });
    let id = submit(&sb, "/video/mj/generate", &frames).await;
    assert_eq!(spent(&sb), Credits::whole(10));
    let done = fetch_to_end(&sb, VIDEO_FETCH, &id, 5).await;
    assert_eq!(done["status"], "DONE");
    let results = done["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    assert_eq!(results[2]["index"], 2);
    assert_eq!(done["videoUrl"], results[0]["url"]);
    assert_eq!(done["videoUrl"].as_str().unwrap().rsplit_once('.').unwrap().1, "mp4");
    let (mime, bytes) = download(done["videoUrl"].as_str().unwrap()).await;
    assert_eq!(mime, "video/mp4");
    assert_eq!(&bytes[4..8], b"ftyp");
    // The same job on the message paths.
    assert_eq!(fetch_on(&sb, NOVA_FETCH, &id).await, done);
    // Both frames are required.
    let one = post(
        &sb,
        "/video/mj/generate",
        &json!({ "prompt": "p", "startFrameUrl": "https://example.com/a.png" }),
    )
    .await;
    assert!(documented_error(one, 400).await.contains("endFrameUrl"));

    let extended = submit(
        &sb,
        "/video/mj/extend",
        &json!({ "messageId": id, "index": 1, "animateMode": "auto" }),
    )
    .await;
    let extended = fetch_to_end(&sb, VIDEO_FETCH, &extended, 5).await;
    assert_eq!(extended["originatingMessageId"], id);
    assert_eq!(extended["results"].as_array().unwrap().len(), 4);
    assert_eq!(spent(&sb), Credits::whole(10 + conjure_sandbox::IMAGINEPRO_UNPUBLISHED_PRICE));
    // Only a video can be extended, and only an index it has.
    let image = submit(&sb, "/nova/imagine", &json!({ "prompt": "p" })).await;
    fetch_to_end(&sb, NOVA_FETCH, &image, 5).await;
    let wrong = post(&sb, "/video/mj/extend", &json!({ "messageId": image, "index": 0 })).await;
    documented_error(wrong, 400).await;
    let index = post(&sb, "/video/mj/extend", &json!({ "messageId": id, "index": 9 })).await;
    documented_error(index, 400).await;
}

#[tokio::test]
async fn prompt_extend_is_synchronous_deterministic_and_free() {
    let sb = sandbox(Faults::default()).await;
    let cat = json!({ "prompt": "a cat" });
    let first: Value = post(&sb, "/tools/prompt-extend", &cat).await.json().await.unwrap();
    let second: Value = post(&sb, "/tools/prompt-extend", &cat).await.json().await.unwrap();
    assert_eq!(first, second);
    let expanded = first["prompt"].as_str().unwrap();
    assert!(expanded.starts_with("a cat") && expanded.len() > "a cat".len());
    assert!(first.get("messageId").is_none());
    assert_eq!(spent(&sb), Credits::ZERO);
    assert_eq!(sb.stats().imaginepro_prompt_extends, 2);
    let empty = post(&sb, "/tools/prompt-extend", &json!({})).await;
    documented_error(empty, 400).await;
    let anonymous = post_as(&sb, None, "/tools/prompt-extend", &json!({ "prompt": "a cat" })).await;
    documented_error(anonymous, 401).await;
}

#[tokio::test]
async fn auth_errors_are_401_in_the_documented_shape() {
    let sb = sandbox(Faults::default()).await;
    let body = json!({ "prompt": "p" });
    documented_error(post_as(&sb, None, "/nova/imagine", &body).await, 401).await;
    documented_error(post_as(&sb, Some("sk-wrong"), "/nova/imagine", &body).await, 401).await;
    // Katana's demo credentials are not ImaginePro's.
    let katana = format!("{}:{}", conjure_sandbox::DEMO_KEY, conjure_sandbox::DEMO_SECRET);
    documented_error(post_as(&sb, Some(&katana), "/nova/imagine", &body).await, 401).await;
    let id = submit(&sb, "/nova/imagine", &body).await;
    documented_error(get_as(&sb, None, &format!("{NOVA_FETCH}{id}")).await, 401).await;
    documented_error(get_as(&sb, Some("sk-wrong"), &format!("{MJ_FETCH}{id}")).await, 401).await;
    let stats = sb.stats();
    assert_eq!((stats.imaginepro_posts_received, stats.imaginepro_accepted), (4, 1));
}

#[tokio::test]
async fn too_few_credits_is_401_and_charges_nothing() {
    let poor = "sk-poor";
    let sb = conjure_sandbox::start(SandboxConfig {
        imaginepro_keys: vec![ImagineProKey::new(poor, Credits::whole(12))],
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let accepted = post_as(&sb, Some(poor), "/midjourney/imagine", &json!({ "prompt": "p" })).await;
    assert_eq!(accepted.status(), 200);
    let refused = post_as(&sb, Some(poor), "/midjourney/imagine", &json!({ "prompt": "p" })).await;
    assert!(documented_error(refused, 401).await.contains("credits"));
    assert_eq!(sb.imaginepro_balance(poor), Some(Credits::whole(2)));
    // Relax costs 5: still too much; flux upscale costs 2: just enough.
    let relax = post_as(&sb, Some(poor), "/nova/imagine", &json!({ "prompt": "p --relax" })).await;
    documented_error(relax, 401).await;
    let upscale =
        post_as(&sb, Some(poor), "/flux/upscale", &json!({ "image": "https://example.com/x.png" }))
            .await;
    assert_eq!(upscale.status(), 200);
    assert_eq!(sb.imaginepro_balance(poor), Some(Credits::ZERO));
    assert_eq!(sb.stats().imaginepro_accepted, 2);
}

#[tokio::test]
async fn unknown_ids_and_other_keys_jobs_are_404() {
    let other = "sk-other";
    let sb = conjure_sandbox::start(SandboxConfig {
        imaginepro_keys: vec![
            ImagineProKey::new(IMAGINEPRO_DEMO_KEY, Credits::whole(100)),
            ImagineProKey::new(other, Credits::whole(100)),
        ],
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    for family in [MJ_FETCH, NOVA_FETCH, VIDEO_FETCH] {
        let response = get_as(&sb, Some(IMAGINEPRO_DEMO_KEY), &format!("{family}no-such-id")).await;
        assert!(documented_error(response, 404).await.contains("no-such-id"));
    }
    let id = submit(&sb, "/nova/imagine", &json!({ "prompt": "mine" })).await;
    let theirs = get_as(&sb, Some(other), &format!("{NOVA_FETCH}{id}")).await;
    documented_error(theirs, 404).await;
    let unknown_path = post(&sb, "/describe", &json!({})).await;
    documented_error(unknown_path, 404).await;
    // The wrong method is JSON too, never an empty body.
    documented_error(get_as(&sb, Some(IMAGINEPRO_DEMO_KEY), "/nova/imagine").await, 405).await;
    let post_fetch = post(&sb, &format!("{NOVA_FETCH}{id}"), &json!({})).await;
    documented_error(post_fetch, 405).await;
}

#[tokio::test]
async fn bad_bodies_are_400_and_unknown_fields_are_ignored() {
    let sb = sandbox(Faults::default()).await;
    let cases = [
        ("/nova/imagine", json!({}), "prompt"),
        ("/nova/imagine", json!({ "prompt": 3 }), "prompt"),
        ("/flux/imagine", json!({ "prompt": "p", "n": 5 }), "n"),
        ("/flux/imagine", json!({ "prompt": "p", "width": 1001 }), "width"),
        ("/flux/upscale", json!({ "image": "https://example.com/x.png", "scale": 8 }), "scale"),
        ("/flux/upscale", json!({ "image": "not a url" }), "image"),
        ("/universal/imagine", json!({ "contents": [] }), "contents"),
        (
            "/universal/imagine",
            json!({ "contents": [{ "type": "text", "text": "p" }], "model": "dall-e" }),
            "model",
        ),
        ("/universal/zimage", json!({ "prompt": "p", "width": 2048 }), "width"),
        ("/tools/remove-bg", json!({}), "image"),
        ("/nova/imagine", json!({ "prompt": "p", "disableCdn": "yes" }), "disableCdn"),
    ];
    for (path, body, field) in cases {
        let message = documented_error(post(&sb, path, &body).await, 400).await;
        assert!(message.contains(field), "{path} {body}: {message}");
    }
    let not_json = client()
        .post(url(&sb, "/nova/imagine"))
        .bearer_auth(IMAGINEPRO_DEMO_KEY)
        .header("Content-Type", "application/json")
        .body("prompt=p")
        .send()
        .await
        .unwrap();
    documented_error(not_json, 400).await;
    assert_eq!(spent(&sb), Credits::ZERO);
    assert_eq!(sb.stats().imaginepro_accepted, 0);

    // What the Python SDK's ImagineParams may send, and fields nobody documents.
    let id = submit(
        &sb,
        "/nova/imagine",
        &json!({ "prompt": "p", "negativePrompt": "blur", "width": 512, "height": 512, "steps": 30,
                 "seed": 7, "cfgScale": 7.5, "style": "raw", "model": "v6", "timeout": 600,
                 "disableCdn": true, "somethingNew": { "nested": [1, 2] } }),
    )
    .await;
    assert_eq!(fetch_to_end(&sb, NOVA_FETCH, &id, 5).await["status"], "DONE");
}

#[tokio::test]
async fn ref_is_echoed_on_every_path() {
    let sb = sandbox(Faults::default()).await;
    let id = submit(&sb, "/flux/imagine", &json!({ "prompt": "p", "ref": "order-42 ✓" })).await;
    assert_eq!(fetch_on(&sb, MJ_FETCH, &id).await["ref"], "order-42 ✓", "while processing");
    let done = fetch_to_end(&sb, NOVA_FETCH, &id, 5).await;
    assert_eq!(done["ref"], "order-42 ✓");
    let plain = submit(&sb, "/flux/imagine", &json!({ "prompt": "p" })).await;
    assert!(fetch_to_end(&sb, NOVA_FETCH, &plain, 5).await.get("ref").is_none());
}

/// A loopback webhook receiver: an axum server recording each POST's body.
async fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&calls);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let recorded = Arc::clone(&recorded);
            async move {
                recorded.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook?job=1"), calls)
}

/// Waits (bounded) until `calls` holds `n` entries.
async fn wait_for_calls(calls: &Arc<Mutex<Vec<Value>>>, n: usize) {
    for _ in 0..200 {
        if calls.lock().unwrap().len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("expected {n} webhook calls, got {}", calls.lock().unwrap().len());
}

#[tokio::test]
async fn webhook_is_posted_once_with_the_final_message() {
    let sb = sandbox(Faults { processing_steps: 2, ..Faults::default() }).await;
    let (hook, calls) = receiver().await;
    // Nobody polls this job: the sandbox finishes it on its own and calls the hook.
    let id = submit(
        &sb,
        "/nova/imagine",
        &json!({ "prompt": "p", "ref": "r-1", "webhookOverride": hook }),
    )
    .await;
    wait_for_calls(&calls, 1).await;
    // Polling after the fact sees the same final message, and does not call again.
    let done = fetch_to_end(&sb, NOVA_FETCH, &id, 5).await;
    fetch_on(&sb, MJ_FETCH, &id).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0], done);
    assert_eq!(calls[0]["ref"], "r-1");
    assert_eq!(calls[0]["status"], "DONE");
    let stats = sb.stats();
    assert_eq!((stats.imaginepro_webhooks_delivered, stats.imaginepro_webhooks_failed), (1, 0));
}

#[tokio::test]
async fn webhook_of_a_polled_job_and_a_failure_and_no_remote_calls() {
    let sb = sandbox(Faults::default()).await;
    let (hook, calls) = receiver().await;
    // A client that polls fast finishes the job itself; the hook is still called once.
    let id = submit(
        &sb,
        "/midjourney/imagine",
        &json!({ "prompt": "sandbox:fail", "ref": "f", "webhookOverride": hook }),
    )
    .await;
    let failed = fetch_to_end(&sb, MJ_FETCH, &id, 5).await;
    assert_eq!(failed["status"], "FAIL");
    wait_for_calls(&calls, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = calls.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["status"], "FAIL");
    assert_eq!(seen[0]["ref"], "f");
    assert!(seen[0]["error"].is_string());
    // A webhook off the machine is never called, only counted.
    let remote = submit(
        &sb,
        "/nova/imagine",
        &json!({ "prompt": "p", "webhookOverride": "https://example.com/hook" }),
    )
    .await;
    fetch_to_end(&sb, NOVA_FETCH, &remote, 5).await;
    assert_eq!(sb.stats().imaginepro_webhooks_skipped, 1);
}

#[tokio::test]
async fn fault_fail_rate_fails_and_refunds() {
    let sb = sandbox(Faults { fail_rate: 1.0, ..Faults::default() }).await;
    let id = submit(&sb, "/flux/imagine", &json!({ "prompt": "p", "n": 2 })).await;
    assert_eq!(spent(&sb), Credits::whole(12));
    assert_eq!(fetch_to_end(&sb, NOVA_FETCH, &id, 5).await["status"], "FAIL");
    assert_eq!(spent(&sb), Credits::ZERO);
}

#[tokio::test]
async fn fault_rate_limited_fetches_carry_retry_after() {
    let sb =
        sandbox(Faults { rate_limit_polls: 2, retry_after_secs: 7, ..Faults::default() }).await;
    let id = submit(&sb, "/nova/imagine", &json!({ "prompt": "p" })).await;
    for _ in 0..2 {
        let limited = get_as(&sb, Some(IMAGINEPRO_DEMO_KEY), &format!("{NOVA_FETCH}{id}")).await;
        assert_eq!(limited.headers()["retry-after"], "7");
        documented_error(limited, 429).await;
    }
    assert_eq!(fetch_to_end(&sb, NOVA_FETCH, &id, 5).await["status"], "DONE");
}

#[tokio::test]
async fn fault_submit_500_after_the_charge() {
    let sb = sandbox(Faults { submit_500: true, ..Faults::default() }).await;
    let response = post(&sb, "/nova/imagine", &json!({ "prompt": "p" })).await;
    documented_error(response, 500).await;
    assert_eq!(spent(&sb), Credits::whole(10));
    assert_eq!(sb.stats().imaginepro_accepted, 1);
    // Free calls are unaffected.
    assert_eq!(post(&sb, "/tools/prompt-extend", &json!({ "prompt": "p" })).await.status(), 200);
}

#[tokio::test]
async fn fault_drop_after_accept_is_a_transport_error_after_the_charge() {
    let sb = sandbox(Faults { drop_after_accept: true, ..Faults::default() }).await;
    let result = client()
        .post(url(&sb, "/midjourney/imagine"))
        .bearer_auth(IMAGINEPRO_DEMO_KEY)
        .json(&json!({ "prompt": "p" }))
        .send()
        .await;
    let err = result.expect_err("no HTTP answer");
    assert!(err.status().is_none(), "{err:?}");
    assert_eq!(spent(&sb), Credits::whole(10));
    assert_eq!(sb.stats().imaginepro_accepted, 1);
}

#[tokio::test]
async fn fault_stale_jobs_never_finish() {
    let sb = sandbox(Faults { stale: true, ..Faults::default() }).await;
    let id = submit(&sb, "/nova/imagine", &json!({ "prompt": "p" })).await;
    for _ in 0..5 {
        let m = fetch_on(&sb, NOVA_FETCH, &id).await;
        assert_eq!(m["status"], "PROCESSING", "{m}");
        assert!(m["progress"].as_u64().unwrap() < 100);
        assert!(m.get("uri").is_none() && m.get("images").is_none());
    }
}

#[tokio::test]
async fn fault_overcharge_takes_more_than_the_table() {
    let sb = sandbox(Faults { overcharge: Credits::whole(3), ..Faults::default() }).await;
    submit(&sb, "/flux/upscale", &json!({ "image": "https://example.com/x.png" })).await;
    assert_eq!(spent(&sb), Credits::whole(5));
}

#[tokio::test]
async fn fault_asset_404_and_latency() {
    let sb = sandbox(Faults { asset_404: true, latency_ms: 50, ..Faults::default() }).await;
    let started = std::time::Instant::now();
    let id = submit(&sb, "/nova/imagine", &json!({ "prompt": "p" })).await;
    assert!(started.elapsed() >= Duration::from_millis(50));
    let done = fetch_to_end(&sb, NOVA_FETCH, &id, 5).await;
    let asset = client().get(done["uri"].as_str().unwrap()).send().await.unwrap();
    documented_error(asset, 404).await;
    sb.set_faults(Faults::default());
    download(done["uri"].as_str().unwrap()).await;
}

#[tokio::test]
async fn fault_echo_credentials_repeats_the_bearer_in_errors() {
    let sb = sandbox(Faults { echo_credentials: true, ..Faults::default() }).await;
    let refused = post_as(&sb, Some("sk-leaked"), "/nova/imagine", &json!({ "prompt": "p" })).await;
    assert_eq!(refused.status(), 401);
    assert!(refused.text().await.unwrap().contains("sk-leaked"));
    let id = submit(&sb, "/nova/imagine", &json!({ "prompt": "sandbox:fail" })).await;
    let failed = fetch_to_end(&sb, NOVA_FETCH, &id, 5).await;
    assert!(failed["error"].as_str().unwrap().contains(IMAGINEPRO_DEMO_KEY), "{failed}");
}
