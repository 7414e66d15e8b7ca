//! The echo-credentials fault: error bodies and failed items repeat the credentials the request
//! carried, and nothing else does.

use conjure_core::money::Credits;
use conjure_sandbox::{ApiKey, FAIL_MARKER, Faults, Sandbox, SandboxConfig};
use serde_json::{Value, json};

use crate::{client, image_item};

/// Distinctive raw values, so a hit cannot be a coincidence.
const KEY: &str = "echo-key-7f3a";
const SECRET: &str = "echo-secret-9c1e:with:colons";
const POOR_KEY: &str = "poor-key-51d0";
const POOR_SECRET: &str = "poor-secret-2b88";

async fn leaky(faults: Faults) -> Sandbox {
    let config = SandboxConfig {
        keys: vec![
            ApiKey::new(KEY, SECRET, Credits::whole(1_000)),
            ApiKey::new(POOR_KEY, POOR_SECRET, Credits::whole(1)),
        ],
        faults,
        ..SandboxConfig::default()
    };
    conjure_sandbox::start(config).await.unwrap()
}

fn one_image() -> Value {
    json!({ "requests": [image_item("gpt-image-2", "1:1", "png")] })
}

/// Sends `request` with `headers` and returns the status, the headers and the JSON body.
async fn send(
    request: reqwest::RequestBuilder,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let request = headers.iter().fold(request, |r, (name, value)| r.header(*name, *value));
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.json().await.unwrap())
}

/// Asserts the body is `{"detail": …}` and the detail names every value.
fn assert_detail_echoes(body: &Value, values: &[&str]) {
    let detail = body["detail"].as_str().unwrap_or_else(|| panic!("no detail in {body}"));
    for value in values {
        assert!(detail.contains(value), "{detail:?} should contain {value:?}");
    }
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
}

fn pair<'a>(key: &'a str, secret: &'a str) -> [(&'static str, &'a str); 2] {
    [("X-API-Key", key), ("X-API-Secret", secret)]
}

#[tokio::test]
async fn every_error_body_echoes_the_credentials() {
    let sb =
        leaky(Faults { echo_credentials: true, rate_limit_polls: 1, ..Faults::default() }).await;
    let base = sb.base_url();
    let submit_url = format!("{base}/v1/generation-requests?wait=false");
    let c = client();

    // 401 invalid: a complete pair that matches no key.
    let (status, _, body) =
        send(c.post(&submit_url).json(&one_image()), &pair(KEY, "wrong-secret-e41")).await;
    assert_eq!(status, 401);
    assert!(body["detail"].as_str().unwrap().starts_with("Invalid API credentials"), "{body}");
    assert_detail_echoes(&body, &[KEY, "wrong-secret-e41"]);

    // 401 missing: a key without a secret, and a Bearer value on a media endpoint.
    let (status, _, body) =
        send(c.get(format!("{base}/v1/generation-requests/req_x")), &[("X-API-Key", KEY)]).await;
    assert_eq!(status, 401);
    assert_detail_echoes(&body, &[KEY]);
    let bearer = format!("Bearer {KEY}:{SECRET}");
    let (status, _, body) =
        send(c.post(&submit_url).json(&one_image()), &[("Authorization", &bearer)]).await;
    assert_eq!(status, 401);
    assert!(body["detail"].as_str().unwrap().starts_with("Missing API credentials"), "{body}");
    assert_detail_echoes(&body, &[&bearer]);

    // 401 on the balance endpoint, Bearer form.
    let wrong_bearer = format!("Bearer {KEY}:not-the-secret-77");
    let (status, _, body) =
        send(c.get(format!("{base}/v1/me/balance")), &[("Authorization", &wrong_bearer)]).await;
    assert_eq!(status, 401);
    assert_detail_echoes(&body, &[&wrong_bearer]);

    // 400 unknown model and 422 malformed body, with valid credentials.
    let bad_model = json!({ "requests": [image_item("seedance-2", "1:1", "png")] });
    let (status, _, body) = send(c.post(&submit_url).json(&bad_model), &pair(KEY, SECRET)).await;
    assert_eq!(status, 400);
    assert!(body["detail"].as_str().unwrap().starts_with("no such model: seedance-2"), "{body}");
    assert_detail_echoes(&body, &[KEY, SECRET]);
    let (status, _, body) = send(c.post(&submit_url).json(&json!({})), &pair(KEY, SECRET)).await;
    assert_eq!(status, 422);
    assert_detail_echoes(&body, &[KEY, SECRET]);

    // 402: the poor key cannot pay for 14 credits.
    let (status, _, body) =
        send(c.post(&submit_url).json(&one_image()), &pair(POOR_KEY, POOR_SECRET)).await;
    assert_eq!(status, 402);
    assert!(body["detail"].as_str().unwrap().starts_with("Insufficient credits"), "{body}");
    assert_detail_echoes(&body, &[POOR_KEY, POOR_SECRET]);

    // 404 unknown job, with an Authorization header carried alongside the pair.
    let extra = "Bearer stray-token-0d9";
    let headers = [("X-API-Key", KEY), ("X-API-Secret", SECRET), ("Authorization", extra)];
    let (status, _, body) =
        send(c.get(format!("{base}/v1/generation-requests/req_nope")), &headers).await;
    assert_eq!(status, 404);
    assert!(body["detail"].as_str().unwrap().starts_with("Not found"), "{body}");
    assert_detail_echoes(&body, &[KEY, SECRET, extra]);

    // 429 on the first poll of an accepted job keeps its Retry-After.
    let (status, _, submitted) =
        send(c.post(&submit_url).json(&one_image()), &pair(KEY, SECRET)).await;
    assert_eq!(status, 200);
    assert!(!submitted.to_string().contains(SECRET), "a 200 answer must not echo: {submitted}");
    let id = submitted["request_id"].as_str().unwrap();
    let (status, headers, body) =
        send(c.get(format!("{base}/v1/generation-requests/{id}")), &pair(KEY, SECRET)).await;
    assert_eq!(status, 429);
    assert_eq!(headers["retry-after"], "1");
    assert_detail_echoes(&body, &[KEY, SECRET]);

    // The injected 500 after the charge.
    sb.set_faults(Faults { echo_credentials: true, submit_500: true, ..Faults::default() });
    let (status, _, body) = send(c.post(&submit_url).json(&one_image()), &pair(KEY, SECRET)).await;
    assert_eq!(status, 500);
    assert_detail_echoes(&body, &[KEY, SECRET]);

    // The fault changes no money and no counters.
    let counters = sb.stats();
    assert_eq!((counters.submit_posts_received, counters.submissions_accepted), (7, 2));
    assert_eq!(sb.balance(KEY), Some(Credits::whole(1_000 - 2 * 14)));
    assert_eq!(sb.balance(POOR_KEY), Some(Credits::whole(1)));
}

/// The body with every `responses[].error.message` removed.
fn without_item_messages(mut body: Value) -> Value {
    for response in body["responses"].as_array_mut().unwrap() {
        if let Some(error) = response.get_mut("error").and_then(Value::as_object_mut) {
            error.remove("message");
        }
    }
    body
}

#[tokio::test]
async fn failed_items_echo_the_poll_credentials() {
    let sb = leaky(Faults {
        echo_credentials: true,
        fail_rate: 1.0,
        processing_steps: 0,
        ..Faults::default()
    })
    .await;
    let base = sb.base_url();
    let c = client();
    let submit_url = format!("{base}/v1/generation-requests?wait=false");
    let (status, _, submitted) =
        send(c.post(&submit_url).json(&one_image()), &pair(KEY, SECRET)).await;
    assert_eq!(status, 200);
    let id = submitted["request_id"].as_str().unwrap();
    let (status, _, done) =
        send(c.get(format!("{base}/v1/generation-requests/{id}")), &pair(KEY, SECRET)).await;
    assert_eq!(status, 200);
    assert_eq!(done["status"], "failed");
    let message = done["responses"][0]["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("The upstream provider failed"), "{message}");
    assert!(message.contains(KEY) && message.contains(SECRET), "{message}");
    let rest = without_item_messages(done).to_string();
    assert!(!rest.contains(KEY) && !rest.contains(SECRET), "echoed outside the message: {rest}");

    // The prompt marker: only the failed item of a partial failure echoes.
    sb.set_faults(Faults { echo_credentials: true, processing_steps: 0, ..Faults::default() });
    let mut failing = image_item("gen", "1:1", "png");
    failing["prompt"] = json!(format!("a broken item {FAIL_MARKER}"));
    let body = json!({ "requests": [image_item("gen", "1:1", "png"), failing] });
    let (_, _, submitted) = send(c.post(&submit_url).json(&body), &pair(KEY, SECRET)).await;
    let id = submitted["request_id"].as_str().unwrap();
    let (_, _, done) =
        send(c.get(format!("{base}/v1/generation-requests/{id}")), &pair(KEY, SECRET)).await;
    assert_eq!(done["status"], "partial_failure");
    assert_eq!(done["responses"][0]["status"], "completed");
    let message = done["responses"][1]["error"]["message"].as_str().unwrap();
    assert!(message.contains(KEY) && message.contains(SECRET), "{message}");
    let rest = without_item_messages(done).to_string();
    assert!(!rest.contains(KEY) && !rest.contains(SECRET), "echoed outside the message: {rest}");
}

#[tokio::test]
async fn credentials_are_not_echoed_by_default() {
    let sb = leaky(Faults { fail_rate: 1.0, processing_steps: 0, ..Faults::default() }).await;
    let base = sb.base_url();
    let c = client();
    let submit_url = format!("{base}/v1/generation-requests?wait=false");
    let (status, _, body) =
        send(c.post(&submit_url).json(&one_image()), &pair(KEY, "wrong-secret-e41")).await;
    assert_eq!((status, body), (401, json!({ "detail": "Invalid API credentials" })));
    let (status, _, body) =
        send(c.post(&submit_url).json(&one_image()), &pair(POOR_KEY, POOR_SECRET)).await;
    assert_eq!((status, body), (402, json!({ "detail": "Insufficient credits" })));
    let (status, _, body) =
        send(c.get(format!("{base}/v1/generation-requests/req_nope")), &pair(KEY, SECRET)).await;
    assert_eq!((status, body), (404, json!({ "detail": "Not found" })));
    let (_, _, submitted) = send(c.post(&submit_url).json(&one_image()), &pair(KEY, SECRET)).await;
    let id = submitted["request_id"].as_str().unwrap();
    let (_, _, done) =
        send(c.get(format!("{base}/v1/generation-requests/{id}")), &pair(KEY, SECRET)).await;
    assert_eq!(done["status"], "failed");
    let text = done.to_string();
    assert!(!text.contains(KEY) && !text.contains(SECRET), "{text}");
}
