//! Each injected fault, as a client sees it on the wire.

use std::time::{Duration, Instant};

use conjure_core::money::Credits;
use conjure_sandbox::{DEMO_KEY, Faults};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

use crate::{
    client, demo_balance, download, image_item, poll, poll_to_end, sandbox, submit, submit_ok,
};

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

#[tokio::test]
async fn overcharge_is_charged_and_reported() {
    let sb = sandbox("overcharge=2.5".parse().unwrap()).await;
    assert_eq!(sb.faults().overcharge, Credits::from_tenths(25));
    let submitted = submit_ok(&sb, &one_image()).await;
    // gpt-image-2 is quoted at 14 credits.
    assert_eq!(submitted["responses"][0]["metadata"]["credits_spent"], 16.5);
    let charged = demo_balance() - Credits::from_tenths(165);
    assert_eq!(sb.balance(DEMO_KEY), Some(charged));
    let id = submitted["request_id"].as_str().unwrap();
    let processing: Value = poll(&sb, id).await.json().await.unwrap();
    assert_eq!(processing["status"], "processing");
    assert_eq!(processing["responses"][0]["metadata"]["credits_spent"], 16.5);
    let done = poll_to_end(&sb, id, 1).await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["responses"][0]["metadata"]["credits_spent"], 16.5);
    assert_eq!(sb.balance(DEMO_KEY), Some(charged));
    assert_eq!(sb.stats().balances[DEMO_KEY], "9983.5");
}

#[tokio::test]
async fn overcharged_failed_items_refund_what_was_charged() {
    let sb =
        sandbox(Faults { overcharge: Credits::whole(3), processing_steps: 0, ..Faults::default() })
            .await;
    let mut failing = image_item("gen", "1:1", "png");
    failing["prompt"] = json!(format!("a broken item {}", conjure_sandbox::FAIL_MARKER));
    let body = json!({ "requests": [image_item("flux-2-pro", "1:1", "png"), failing] });
    let submitted = submit_ok(&sb, &body).await;
    // flux-2-pro is 8 and gen 3; each item costs 3 more.
    assert_eq!(submitted["responses"][0]["metadata"]["credits_spent"], 11.0);
    assert_eq!(submitted["responses"][1]["metadata"]["credits_spent"], 6.0);
    assert_eq!(sb.balance(DEMO_KEY), Some(demo_balance() - Credits::whole(11 + 6)));
    // The refund is what the item was charged, not what the faults say now.
    sb.set_faults(Faults { processing_steps: 0, ..Faults::default() });
    let done = poll_to_end(&sb, submitted["request_id"].as_str().unwrap(), 1).await;
    assert_eq!(done["status"], "partial_failure");
    assert_eq!(done["responses"][0]["metadata"]["credits_spent"], 11.0);
    assert_eq!(done["responses"][1]["metadata"]["credits_spent"], 0.0);
    assert_eq!(sb.balance(DEMO_KEY), Some(demo_balance() - Credits::whole(11)));
}

#[tokio::test]
async fn overcharge_can_make_a_submission_unaffordable() {
    let config = conjure_sandbox::SandboxConfig {
        keys: vec![conjure_sandbox::ApiKey::new(
            DEMO_KEY,
            conjure_sandbox::DEMO_SECRET,
            Credits::whole(20),
        )],
        faults: Faults { overcharge: Credits::whole(7), ..Faults::default() },
        ..conjure_sandbox::SandboxConfig::default()
    };
    let sb = conjure_sandbox::start(config).await.unwrap();
    // Quoted at 14, which the balance covers; charged 21, which it does not.
    let response = submit(&sb, &one_image()).await;
    assert_eq!(response.status(), 402);
    assert_eq!(sb.balance(DEMO_KEY), Some(Credits::whole(20)));
    assert_eq!(sb.stats().submissions_accepted, 0);
}

#[tokio::test]
async fn asset_404_while_jobs_complete_until_lifted() {
    let faults = Faults { asset_404: true, processing_steps: 0, ..Faults::default() };
    let sb = sandbox(faults).await;
    let id = submit_ok(&sb, &one_image()).await["request_id"].as_str().unwrap().to_owned();
    let done = poll_to_end(&sb, &id, 1).await;
    assert_eq!(done["status"], "completed");
    let asset = &done["responses"][0]["output_assets"][0];
    let expires =
        time::OffsetDateTime::parse(asset["expires_at"].as_str().unwrap(), &Rfc3339).unwrap();
    assert!(expires > time::OffsetDateTime::now_utc(), "{expires}");
    let urls = [
        asset["original_data_url"].as_str().unwrap(),
        asset["thumbnail_image_url"].as_str().unwrap(),
    ];
    for url in urls {
        assert!(url.starts_with(&format!("{}/assets/{id}/", sb.base_url())), "{url}");
        let response = client().get(url).send().await.unwrap();
        assert_eq!(response.status(), 404, "GET {url}");
        assert!(
            response.headers()["content-type"].to_str().unwrap().starts_with("application/json")
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({ "detail": "Not found" }));
    }
    assert_eq!(sb.stats().downloads, 0);
    // The fault is read at download time: the same URLs work once it is lifted.
    sb.set_faults(Faults { processing_steps: 0, ..Faults::default() });
    for url in urls {
        download(url).await;
    }
    assert_eq!(sb.stats().downloads, 2);
}

#[tokio::test]
async fn reset_before_accept_cuts_the_connection_and_charges_nothing() {
    let sb = sandbox(Faults { reset_before_accept: true, ..Faults::default() }).await;
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
    assert_eq!((stats.submit_posts_received, stats.submissions_accepted), (1, 0));
    assert_eq!(sb.balance(DEMO_KEY), Some(demo_balance()));
}

#[tokio::test]
async fn submit_429_refuses_with_retry_after_and_charges_nothing() {
    let sb = sandbox(Faults { submit_429: true, retry_after_secs: 9, ..Faults::default() }).await;
    let response = submit(&sb, &one_image()).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "9");
    let stats = sb.stats();
    assert_eq!((stats.submit_posts_received, stats.submissions_accepted), (1, 0));
    assert_eq!(sb.balance(DEMO_KEY), Some(demo_balance()));
}

#[tokio::test]
async fn malformed_json_answers_an_accepted_submit() {
    let sb = sandbox(Faults { malformed_json: true, ..Faults::default() }).await;
    let response = submit(&sb, &one_image()).await;
    assert_eq!(response.status(), 200);
    let body = response.bytes().await.unwrap();
    assert!(serde_json::from_slice::<Value>(&body).is_err(), "{body:?}");
    let stats = sb.stats();
    assert_eq!((stats.submit_posts_received, stats.submissions_accepted), (1, 1));
    assert_eq!(sb.balance(DEMO_KEY), Some(demo_balance() - Credits::whole(14)));
}

#[tokio::test]
async fn submit_delay_accepts_first_and_answers_late() {
    let sb = sandbox(Faults { submit_delay_ms: 600_000, ..Faults::default() }).await;
    let result = client()
        .post(format!("{}/v1/generation-requests?wait=false", sb.base_url()))
        .header("X-API-Key", DEMO_KEY)
        .header("X-API-Secret", conjure_sandbox::DEMO_SECRET)
        .timeout(Duration::from_millis(500))
        .json(&one_image())
        .send()
        .await;
    assert!(result.expect_err("no answer before the client gives up").is_timeout());
    assert_eq!(sb.stats().submissions_accepted, 1, "accepted before the wait");
}

#[tokio::test]
async fn hold_keeps_jobs_processing_until_lifted() {
    let sb = sandbox(Faults { hold: true, processing_steps: 0, ..Faults::default() }).await;
    let id = submit_ok(&sb, &one_image()).await["request_id"].as_str().unwrap().to_owned();
    for _ in 0..5 {
        let body: Value = poll(&sb, &id).await.json().await.unwrap();
        assert_eq!(body["status"], "processing");
    }
    sb.set_faults(Faults { processing_steps: 0, ..Faults::default() });
    assert_eq!(poll_to_end(&sb, &id, 1).await["status"], "completed");
}

#[tokio::test]
async fn asset_slow_ms_streams_the_same_bytes_in_pieces() {
    let sb = sandbox(Faults { processing_steps: 0, ..Faults::default() }).await;
    let id = submit_ok(&sb, &one_image()).await["request_id"].as_str().unwrap().to_owned();
    let done = poll_to_end(&sb, &id, 1).await;
    let url = done["responses"][0]["output_assets"][0]["original_data_url"].as_str().unwrap();
    let (_, whole) = download(url).await;
    sb.set_faults(Faults { asset_slow_ms: 1, ..Faults::default() });
    let mut response = client().get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let mut slow = Vec::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        slow.extend_from_slice(&chunk);
    }
    assert_eq!(slow, whole);
}
