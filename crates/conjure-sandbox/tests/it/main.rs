//! Integration tests: a real sandbox on `127.0.0.1:0`, driven over HTTP with reqwest.
//!
//! Each test starts its own sandbox, so counters and balances are per test. Helpers here build
//! requests with the demo credentials and poll a job to its end.

#![expect(clippy::unwrap_used, reason = "helpers outside #[test] fns panic on unexpected answers")]

mod auth;
mod clients;
mod echo;
mod faults;
mod flow;
mod imaginepro;
mod imaginepro_client;
mod models;
mod text;
mod text_extras;
mod text_faults;
mod validation;

use conjure_core::money::Credits;
use conjure_sandbox::{DEMO_KEY, DEMO_SECRET, Faults, Sandbox, SandboxConfig};
use serde_json::Value;

pub fn client() -> reqwest::Client {
    reqwest::Client::new()
}

pub async fn sandbox(faults: Faults) -> Sandbox {
    conjure_sandbox::start(SandboxConfig { faults, ..SandboxConfig::default() }).await.unwrap()
}

pub fn demo_balance() -> Credits {
    Credits::whole(conjure_sandbox::DEMO_BALANCE)
}

/// `POST /v1/generation-requests?wait=false` with the demo key pair.
pub async fn submit(sb: &Sandbox, body: &Value) -> reqwest::Response {
    client()
        .post(format!("{}/v1/generation-requests?wait=false", sb.base_url()))
        .header("X-API-Key", DEMO_KEY)
        .header("X-API-Secret", DEMO_SECRET)
        .json(body)
        .send()
        .await
        .unwrap()
}

pub async fn submit_ok(sb: &Sandbox, body: &Value) -> Value {
    let response = submit(sb, body).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

pub async fn poll(sb: &Sandbox, id: &str) -> reqwest::Response {
    client()
        .get(format!("{}/v1/generation-requests/{id}", sb.base_url()))
        .header("X-API-Key", DEMO_KEY)
        .header("X-API-Secret", DEMO_SECRET)
        .send()
        .await
        .unwrap()
}

/// Polls until the status is no longer `processing` (at most `limit` polls).
pub async fn poll_to_end(sb: &Sandbox, id: &str, limit: usize) -> Value {
    for _ in 0..limit {
        let response = poll(sb, id).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        if body["status"] != "processing" {
            return body;
        }
    }
    panic!("job {id} still processing after {limit} polls");
}

pub async fn download(url: &str) -> (String, Vec<u8>) {
    let response = client().get(url).send().await.unwrap();
    assert_eq!(response.status(), 200, "GET {url}");
    let mime = response.headers()["content-type"].to_str().unwrap().to_owned();
    (mime, response.bytes().await.unwrap().to_vec())
}

/// `POST /v1/chat/completions` (with `query`, e.g. `?wait=false`) with the demo Bearer token.
pub async fn chat_with(sb: &Sandbox, query: &str, body: &Value) -> reqwest::Response {
    client()
        .post(format!("{}/v1/chat/completions{query}", sb.base_url()))
        .bearer_auth(format!("{DEMO_KEY}:{DEMO_SECRET}"))
        .json(body)
        .send()
        .await
        .unwrap()
}

pub async fn chat(sb: &Sandbox, body: &Value) -> reqwest::Response {
    chat_with(sb, "", body).await
}

/// A chat call that must succeed with a JSON body.
pub async fn chat_ok(sb: &Sandbox, body: &Value) -> Value {
    let response = chat(sb, body).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// The `data:` payloads of a whole SSE body, checking the framing on the way.
pub fn sse_payloads(body: &[u8]) -> Vec<String> {
    let text = std::str::from_utf8(body).unwrap();
    assert!(text.ends_with("\n\n"), "every frame ends with a blank line");
    text.split_terminator("\n\n")
        .map(|frame| frame.strip_prefix("data: ").unwrap_or_else(|| panic!("{frame}")).to_owned())
        .collect()
}

/// The answer put together from the `delta.content` of stream chunks.
pub fn streamed_content(payloads: &[String]) -> String {
    payloads
        .iter()
        .filter_map(|p| serde_json::from_str::<Value>(p).ok())
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str().map(str::to_owned))
        .collect()
}

pub fn image_item(model: &str, aspect: &str, format: &str) -> Value {
    serde_json::json!({
        "type": "image", "model": model, "prompt": "a lighthouse at dusk, oil painting",
        "aspect_ratio": aspect, "output_format": format,
    })
}
