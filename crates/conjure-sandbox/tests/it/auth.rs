//! Credentials: both forms on the balance endpoint and every documented 401 body.

use conjure_core::money::Credits;
use conjure_sandbox::{ApiKey, DEMO_KEY, DEMO_SECRET, SandboxConfig};
use serde_json::{Value, json};

use crate::{client, image_item};

async fn body(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn missing() -> Value {
    json!({ "detail": "Missing API credentials" })
}

fn invalid() -> Value {
    json!({ "detail": "Invalid API credentials" })
}

#[tokio::test]
async fn balance_takes_bearer_and_the_header_pair() {
    let config = SandboxConfig {
        keys: vec![
            ApiKey::new(DEMO_KEY, DEMO_SECRET, Credits::from_tenths(12_345)),
            ApiKey::new("colon-key", "sec:ret:with:colons", Credits::whole(200)),
        ],
        ..SandboxConfig::default()
    };
    let sb = conjure_sandbox::start(config).await.unwrap();
    let url = format!("{}/v1/me/balance", sb.base_url());
    let bearer =
        client().get(&url).bearer_auth(format!("{DEMO_KEY}:{DEMO_SECRET}")).send().await.unwrap();
    assert_eq!(body(bearer).await, (200, json!({ "credits": "1234.5" })));
    let pair = client()
        .get(&url)
        .header("X-API-Key", DEMO_KEY)
        .header("X-API-Secret", DEMO_SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(body(pair).await, (200, json!({ "credits": "1234.5" })));
    let colons =
        client().get(&url).bearer_auth("colon-key:sec:ret:with:colons").send().await.unwrap();
    assert_eq!(body(colons).await, (200, json!({ "credits": "200.0" })));
}

#[tokio::test]
async fn documented_401_bodies() {
    let sb = crate::sandbox(conjure_sandbox::Faults::default()).await;
    let url = format!("{}/v1/me/balance", sb.base_url());
    let c = client();
    assert_eq!(body(c.get(&url).send().await.unwrap()).await, (401, missing()));
    assert_eq!(
        body(c.get(&url).bearer_auth("no-colon-here").send().await.unwrap()).await,
        (401, missing())
    );
    assert_eq!(
        body(c.get(&url).header("X-API-Key", DEMO_KEY).send().await.unwrap()).await,
        (401, missing())
    );
    let wrong_bearer = c.get(&url).bearer_auth(format!("{DEMO_KEY}:wrong")).send().await.unwrap();
    assert_eq!(body(wrong_bearer).await, (401, invalid()));
    let wrong_pair =
        c.get(&url).header("X-API-Key", "nobody").header("X-API-Secret", "x").send().await.unwrap();
    assert_eq!(body(wrong_pair).await, (401, invalid()));
}

#[tokio::test]
async fn media_endpoints_take_only_the_header_pair() {
    let sb = crate::sandbox(conjure_sandbox::Faults::default()).await;
    let submit_url = format!("{}/v1/generation-requests", sb.base_url());
    let item = json!({ "requests": [image_item("gen", "1:1", "png")] });
    let c = client();
    let bearer = c
        .post(&submit_url)
        .bearer_auth(format!("{DEMO_KEY}:{DEMO_SECRET}"))
        .json(&item)
        .send()
        .await
        .unwrap();
    assert_eq!(body(bearer).await, (401, missing()));
    let wrong = c
        .post(&submit_url)
        .header("X-API-Key", DEMO_KEY)
        .header("X-API-Secret", "nope")
        .json(&item)
        .send()
        .await
        .unwrap();
    assert_eq!(body(wrong).await, (401, invalid()));
    let poll = c.get(format!("{submit_url}/req_x")).send().await.unwrap();
    assert_eq!(body(poll).await, (401, missing()));
    assert_eq!(sb.stats().submissions_accepted, 0);
    assert_eq!(sb.stats().submit_posts_received, 2);
    assert_eq!(sb.balance(DEMO_KEY), Some(crate::demo_balance()));
}

#[tokio::test]
async fn jobs_belong_to_their_key() {
    let config = SandboxConfig {
        keys: vec![
            ApiKey::new(DEMO_KEY, DEMO_SECRET, Credits::whole(100)),
            ApiKey::new("other", "other-secret", Credits::whole(100)),
        ],
        ..SandboxConfig::default()
    };
    let sb = conjure_sandbox::start(config).await.unwrap();
    let submitted =
        crate::submit_ok(&sb, &json!({ "requests": [image_item("gen", "1:1", "png")] })).await;
    let id = submitted["request_id"].as_str().unwrap();
    let foreign = client()
        .get(format!("{}/v1/generation-requests/{id}", sb.base_url()))
        .header("X-API-Key", "other")
        .header("X-API-Secret", "other-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 404);
    assert_eq!(sb.balance("other"), Some(Credits::whole(100)));
    assert_eq!(sb.balance(DEMO_KEY), Some(Credits::whole(97)));
}
