//! Each injected fault, as a client sees it on the wire.

use std::time::{Duration, Instant};

use conjure_core::money::Credits;
use conjure_sandbox::{DEMO_KEY, Faults};
use serde_json::{Value, json};

use crate::{client, demo_balance, image_item, poll, poll_to_end, sandbox, submit, submit_ok};

fn one_image() -> Value {
    json!({ "requests": [image_item("gpt-image-2", "1:1", "png")] })
}

#[tokio::test]
async fn rate_limited_polls_carry_retry_after() {
    let sb = sandbox(Faults {
        rate_limit_polls: 2,
        retry_after_secs: 7,
        processing_steps: 0,
        ..Faults::default()
    })
    .await;
    let id = submit_ok(&sb, &one_image()).await["request_id"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let limited = poll(&sb, &id).await;
        assert_eq!(limited.status(), 429);
        assert_eq!(limited.headers()["retry-after"], "7");
    }
    assert_eq!(poll_to_end(&sb, &id, 1).await["status"], "completed");
    assert_eq!(sb.stats().polls, 3);
}

#[tokio::test]
async fn submit_500_after_accept_charges_once() {
    let sb = sandbox(Faults { submit_500: true, ..Faults::default() }).await;
    let response = submit(&sb, &one_image()).await;
    assert_eq!(response.status(), 500);
    let stats = sb.stats();
    assert_eq!((stats.submit_posts_received, stats.submissions_accepted), (1, 1));
    assert_eq!(sb.balance(DEMO_KEY), Some(demo_balance() - Credits::whole(14)));
}

#[tokio::test]
async fn dropped_connection_is_a_transport_error_after_the_charge() {
    let sb = sandbox(Faults { drop_after_accept: true, ..Faults::default() }).await;
    let result = client()
        .post(format!("{}/v1/generation-requests?wait=false", sb.base_url()))
        .header("X-API-Key", DEMO_KEY)
        .header("X-API-Secret", conjure_sandbox::DEMO_SECRET)
        .json(&one_image())
        .send()
        .await;
    let err = result.expect_err("the client must not see an HTTP response");
    assert!(err.status().is_none(), "{err:?}");
    let stats = sb.stats();
    assert_eq!((stats.submit_posts_received, stats.submissions_accepted), (1, 1));
    assert_eq!(sb.balance(DEMO_KEY), Some(demo_balance() - Credits::whole(14)));
    // The server keeps serving other connections.
    let models = client().get(format!("{}/v1/models", sb.base_url())).send().await.unwrap();
    assert_eq!(models.status(), 200);
}

#[tokio::test]
async fn stale_jobs_never_complete() {
    let sb = sandbox(Faults { stale: true, processing_steps: 0, ..Faults::default() }).await;
    let id = submit_ok(&sb, &one_image()).await["request_id"].as_str().unwrap().to_owned();
    for _ in 0..5 {
        let body: Value = poll(&sb, &id).await.json().await.unwrap();
        assert_eq!(body["status"], "processing");
        assert_eq!(body["responses"][0]["output_assets"], json!([]));
    }
    let asset = client().get(format!("{}/assets/{id}/0.png", sb.base_url())).send().await.unwrap();
    assert_eq!(asset.status(), 404);
}

#[tokio::test]
async fn processing_steps_and_null_poll_after() {
    let sb =
        sandbox(Faults { processing_steps: 3, poll_after_secs: None, ..Faults::default() }).await;
    let submitted = submit_ok(&sb, &one_image()).await;
    assert!(submitted["poll_after_seconds"].is_null());
    let id = submitted["request_id"].as_str().unwrap();
    for _ in 0..3 {
        let body: Value = poll(&sb, id).await.json().await.unwrap();
        assert_eq!(body["status"], "processing");
        assert!(body["poll_after_seconds"].is_null());
    }
    assert_eq!(poll_to_end(&sb, id, 1).await["status"], "completed");
}

#[tokio::test]
async fn latency_delays_answers() {
    let sb = sandbox(Faults { latency_ms: 150, ..Faults::default() }).await;
    let started = Instant::now();
    let response = client().get(format!("{}/v1/models", sb.base_url())).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn faults_can_change_while_running() {
    let sb = sandbox(Faults::default()).await;
    sb.set_faults("submit-500,steps=0".parse().unwrap());
    assert_eq!(submit(&sb, &one_image()).await.status(), 500);
    sb.set_faults(Faults::default());
    assert_eq!(submit(&sb, &one_image()).await.status(), 200);
    assert_eq!(sb.stats().submissions_accepted, 2);
}
