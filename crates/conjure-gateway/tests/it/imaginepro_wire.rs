//! ImaginePro's wire through the gateway (`/api/v1/...`, both path families) for a member's
//! key, on real Postgres with the sandbox as ImaginePro. Every test counts the POSTs the
//! sandbox's ImaginePro half received: one per accepted request, none for a refusal.

use conjure_test::Faults;
use serde_json::{Value, json};

use crate::chat::Wire;

fn posts(w: &Wire) -> u64 {
    w.sandbox.stats().imaginepro_posts_received
}

/// Fetches `id` on `path` until it is DONE or FAIL.
async fn until_done(w: &Wire, key: &str, path: &str, id: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..30 {
        let (status, m) = w.get(&format!("/api/v1{path}{id}"), key).await;
        assert_eq!(status, 200, "{m}");
        assert!(m["progress"].is_number(), "{m}");
        last = m;
        if last["status"] == "DONE" || last["status"] == "FAIL" {
            break;
        }
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imagine_fetch_and_buttons_on_both_path_families_send_one_post_each() {
    let w = Wire::start(Faults { processing_steps: 1, ..Faults::default() }).await;
    let alice = w.member("alice", Some("50cr"), Some("1000cr")).await;
    let bob = w.member("bob", Some("50cr"), None).await;

    let (status, sent) = w
        .post("/api/v1/nova/imagine", &alice, &json!({"prompt": "a lighthouse", "ref": "r-1"}))
        .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["success"], true, "{sent}");
    let id = sent["messageId"].as_str().expect("messageId").to_owned();
    assert!(sent["createdAt"].is_string(), "{sent}");
    assert_eq!(posts(&w), 1);

    // Polled on the other family's path; the sandbox's message fields come through.
    let done = until_done(&w, &alice, "/midjourney/message/", &id).await;
    assert_eq!(done["status"], "DONE", "{done}");
    assert_eq!(done["progress"], 100);
    assert_eq!(done["ref"], "r-1");
    assert!(done["uri"].as_str().is_some_and(|u| u.starts_with("http://127.0.0.1")), "{done}");
    assert!(done["buttons"].as_array().is_some_and(|b| b.iter().any(|b| b == "U1")), "{done}");
    assert_eq!(done["conjure"]["state"], "completed", "{done}");
    assert_eq!(done["conjure"]["quoted_credits"], "10.0", "{done}");
    assert_eq!(posts(&w), 1, "fetches are not POSTs");

    // Bob neither reads it nor presses its buttons; nothing is sent for him.
    for path in ["/message/fetch/", "/midjourney/message/", "/video/mj/fetch/"] {
        let (status, body) = w.get(&format!("/api/v1{path}{id}"), &bob).await;
        assert_eq!(status, 404, "{body}");
        assert_eq!(body["error"], "Not Found", "{body}");
    }
    let press = json!({"messageId": id, "button": "U1"});
    let (status, body) = w.post("/api/v1/nova/button", &bob, &press).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(posts(&w), 1);

    // Alice presses U1 on the midjourney family; a button it does not offer sends nothing.
    let (status, child) = w.post("/api/v1/midjourney/button", &alice, &press).await;
    assert_eq!(status, 200, "{child}");
    assert_eq!(posts(&w), 2);
    let child_id = child["messageId"].as_str().unwrap().to_owned();
    let done = until_done(&w, &alice, "/message/fetch/", &child_id).await;
    assert_eq!(done["status"], "DONE", "{done}");
    assert_eq!(done["originatingMessageId"], id.as_str(), "{done}");
    let (status, body) = w
        .post("/api/v1/nova/button", &alice, &json!({"messageId": id, "button": "Make Square"}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["hint"].as_str().is_some_and(|h| h.contains("U1")), "{body}");
    assert_eq!(posts(&w), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flux_upscale_remove_bg_and_prompt_extend_each_go_once_and_local_paths_go_nowhere() {
    let w = Wire::start(Faults { processing_steps: 1, ..Faults::default() }).await;
    let carol = w.member("carol", Some("50cr"), Some("1000cr")).await;
    let calls = [
        ("/flux/imagine", json!({"prompt": "a fox", "n": 2})),
        ("/flux/upscale", json!({"image": "https://example.com/a.png", "scale": 2})),
        ("/tools/remove-bg", json!({"image": "https://example.com/a.png"})),
        (
            "/universal/imagine",
            json!({"model": "nano-banana-2", "contents": [
            {"type": "text", "text": "a fox"}, {"type": "image", "url": "https://example.com/a.png"}]}),
        ),
    ];
    for (i, (path, body)) in calls.iter().enumerate() {
        let (status, sent) = w.post(&format!("/api/v1{path}"), &carol, body).await;
        assert_eq!(status, 200, "{path}: {sent}");
        assert_eq!(posts(&w), i as u64 + 1, "{path}");
        let id = sent["messageId"].as_str().unwrap().to_owned();
        let done = until_done(&w, &carol, "/message/fetch/", &id).await;
        assert_eq!(done["status"], "DONE", "{path}: {done}");
    }
    let by_path = w.sandbox.stats().imaginepro_accepted_by_path;
    for (path, _) in &calls {
        assert_eq!(by_path.get(*path), Some(&1), "{path}");
    }
    // Paths on the gateway's disk, data: URLs and webhook overrides: refused, nothing sent.
    for (path, body) in [
        ("/flux/upscale", json!({"image": "/etc/hostname"})),
        ("/tools/remove-bg", json!({"image": "data:image/png;base64,AAAA"})),
        ("/nova/imagine", json!({"prompt": "x", "webhookOverride": "http://127.0.0.1:1/"})),
    ] {
        let (status, body) = w.post(&format!("/api/v1{path}"), &carol, &body).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"], "Bad Request", "{body}");
        assert!(body["hint"].is_string(), "{body}");
    }
    assert_eq!(posts(&w), 4);
    // The free prompt expansion is no paid POST.
    let (status, extended) =
        w.post("/api/v1/tools/prompt-extend", &carol, &json!({"prompt": "a fox"})).await;
    assert_eq!(status, 200, "{extended}");
    assert!(extended["prompt"].as_str().is_some_and(|p| p.contains("fox")), "{extended}");
    assert_eq!(w.sandbox.stats().imaginepro_accepted, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn above_the_limit_a_402_in_imagineros_shape_then_approval_sends_once() {
    let w = Wire::start(Faults::default()).await;
    let dave = w.member("dave", Some("5cr"), Some("100cr")).await;
    let body = json!({"prompt": "approve this"});
    let (status, answer) = w.post("/api/v1/nova/imagine", &dave, &body).await;
    assert_eq!(status, 402, "{answer}");
    assert_eq!(answer["error"], "Payment Required", "{answer}");
    assert_eq!(answer["statusCode"], 402);
    assert_eq!(answer["quote"]["credits"], "10.0", "{answer}");
    let url = answer["approval_url"].as_str().expect("approval url").to_owned();
    assert!(answer["message"].as_str().unwrap().contains(&url), "{answer}");
    assert_eq!(posts(&w), 0);
    // The approval is for this endpoint and body: the same body elsewhere asks again.
    let path = url.split_once(&w.addr.to_string()).unwrap().1.to_owned();
    let (status, _) = w.post(&path, &dave, &json!({})).await;
    assert_eq!(status, 200);
    let (status, other) = w.post("/api/v1/midjourney/imagine", &dave, &body).await;
    assert_eq!(status, 402, "{other}");
    let (status, sent) = w.post("/api/v1/nova/imagine", &dave, &body).await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(posts(&w), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_concurrent_imagines_against_a_budget_for_three_send_three() {
    let w = Wire::start(Faults { hold: true, ..Faults::default() }).await;
    let erin = w.member("erin", Some("20cr"), Some("30cr")).await;
    let w = std::sync::Arc::new(w);
    let attempts = (0..6).map(|i| {
        let w = std::sync::Arc::clone(&w);
        let key = erin.clone();
        tokio::spawn(async move {
            w.post("/api/v1/nova/imagine", &key, &json!({"prompt": format!("tower {i}")})).await
        })
    });
    let results: Vec<(u16, Value)> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.expect("no panic"))
        .collect();
    let ok = results.iter().filter(|(s, _)| *s == 200).count();
    let over = results
        .iter()
        .filter(|(s, b)| *s == 403 && b["code"] == "budget_exceeded" && b["error"] == "Forbidden")
        .count();
    assert_eq!((ok, over), (3, 3), "{results:?}");
    assert_eq!(posts(&w), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_is_unknown_with_its_exposure_and_is_never_sent_again() {
    let w = Wire::start(Faults { submit_500: true, ..Faults::default() }).await;
    let fay = w.member("fay", Some("50cr"), Some("100cr")).await;
    let (status, body) = w.post("/api/v1/nova/imagine", &fay, &json!({"prompt": "lost"})).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["code"], "outcome_unknown", "{body}");
    assert_eq!(body["conjure"]["exposure_credits"], "10.0", "{body}");
    let job = body["conjure"]["job"].as_str().unwrap().to_owned();
    let (status, m) = w.get(&format!("/api/v1/message/fetch/{job}"), &fay).await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["status"], "UNKNOWN", "{m}");
    assert_eq!(m["conjure"]["exposure_credits"], "10.0", "{m}");
    assert_eq!(posts(&w), 1);
    let (_, balance) = w.get("/v1/me/balance", &fay).await;
    assert_eq!(balance["conjure"]["exposure"], json!({"jobs": 1, "credits": "10.0"}), "{balance}");
}
