//! Submissions the service refuses: 400, `rejected`, 402, 422. None of them charges.

use conjure_core::money::Credits;
use conjure_sandbox::{ApiKey, DEMO_KEY, DEMO_SECRET, Faults, SandboxConfig};
use serde_json::{Value, json};

use crate::{demo_balance, image_item, sandbox, submit};

async fn answer(sb: &conjure_sandbox::Sandbox, body: &Value) -> (u16, Value) {
    let response = submit(sb, body).await;
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn unknown_model_is_400() {
    let sb = sandbox(Faults::default()).await;
    let (status, body) =
        answer(&sb, &json!({ "requests": [image_item("seedance-2", "1:1", "png")] })).await;
    assert_eq!((status, body), (400, json!({ "detail": "no such model: seedance-2" })));
    let (status, _) =
        answer(&sb, &json!({ "requests": [image_item("gen", "1:1", "png")], "output": {} })).await;
    assert_eq!(status, 400);
    assert_eq!(sb.stats().submissions_accepted, 0);
}

#[tokio::test]
async fn invalid_items_reject_the_whole_submission() {
    let sb = sandbox(Faults::default()).await;
    let cases = [
        (image_item("gen", "7:3", "png"), "aspect"),
        (
            json!({ "type": "image", "model": "flux-2-pro", "prompt": "x", "image_urls": ["/home/me/cat.png"] }),
            "Invalid base64 data",
        ),
        (
            json!({ "type": "image", "model": "flux-2-pro", "prompt": "x", "image_url": "http://example.com/a.png" }),
            "Invalid base64 data",
        ),
        (
            json!({ "type": "video", "model": "ltx-2-3", "prompt": "x", "duration_seconds": 7 }),
            "duration",
        ),
        (
            json!({ "type": "video", "model": "ltx-2-3", "prompt": "x", "duration_seconds": 5, "video_image_data": {} }),
            "empty",
        ),
        (
            json!({ "type": "image", "model": "gen", "prompt": "x", "image_urls": ["https://example.com/a.png"] }),
            "input images",
        ),
    ];
    for (item, expected) in cases {
        let body = json!({ "requests": [image_item("gen", "1:1", "png"), item] });
        let (status, body) = answer(&sb, &body).await;
        assert_eq!(status, 200);
        assert_eq!(body["status"], "rejected", "{body}");
        let error = &body["responses"][1]["error"];
        assert!(
            error["message"].as_str().unwrap().contains(expected),
            "{error} should mention {expected}"
        );
        assert_eq!(error["retryable"], false);
        assert_eq!(body["responses"][0]["status"], "rejected");
        assert_eq!(body["responses"][0]["error"]["code"], "batch_rejected");
        // A rejected submission is not a job.
        let poll = crate::poll(&sb, body["request_id"].as_str().unwrap()).await;
        assert_eq!(poll.status(), 404);
    }
    assert_eq!(sb.balance(DEMO_KEY), Some(demo_balance()));
    assert_eq!(sb.stats().submissions_accepted, 0);
}

#[tokio::test]
async fn malformed_bodies_are_422() {
    let sb = sandbox(Faults::default()).await;
    for body in [
        json!({}),
        json!({ "requests": [] }),
        json!({ "requests": [{ "model": "gen", "prompt": "x" }] }),
    ] {
        let (status, body) = answer(&sb, &body).await;
        assert_eq!(status, 422);
        assert!(body["detail"].is_string());
    }
}

#[tokio::test]
async fn insufficient_balance_is_402_and_charges_nothing() {
    let config = SandboxConfig {
        keys: vec![ApiKey::new(DEMO_KEY, DEMO_SECRET, Credits::whole(20))],
        ..SandboxConfig::default()
    };
    let sb = conjure_sandbox::start(config).await.unwrap();
    // 14 + 14 > 20: the whole submission is refused, not the second item alone.
    let body = json!({ "requests": [image_item("gpt-image-2", "1:1", "png"), image_item("gpt-image-2", "1:1", "png")] });
    let (status, answer_body) = answer(&sb, &body).await;
    assert_eq!((status, answer_body), (402, json!({ "detail": "Insufficient credits" })));
    assert_eq!(sb.balance(DEMO_KEY), Some(Credits::whole(20)));
    assert_eq!(sb.stats().submissions_accepted, 0);
    let (status, _) =
        answer(&sb, &json!({ "requests": [image_item("gpt-image-2", "1:1", "png")] })).await;
    assert_eq!(status, 200);
    assert_eq!(sb.balance(DEMO_KEY), Some(Credits::whole(6)));
}
