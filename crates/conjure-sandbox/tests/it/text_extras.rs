//! Around the text endpoint: catalogue drift, `llms.txt` revisions and the attestation
//! placeholder.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use conjure_core::catalogue::{Catalogue, MediaKind, Pricing, ProviderId};
use conjure_core::money::Credits;
use conjure_core::text;
use conjure_sandbox::{DEMO_KEY, DEMO_SECRET, DRIFT_ADDED, DRIFT_REMOVED, Faults};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{chat, chat_ok, client, demo_balance, image_item, sandbox, submit_ok};

async fn models(sb: &conjure_sandbox::Sandbox, bearer: bool) -> Value {
    let request = client().get(format!("{}/v1/models", sb.base_url()));
    let request = if bearer { request.bearer_auth("anything") } else { request };
    request.send().await.unwrap().json().await.unwrap()
}

fn find<'a>(list: &'a Value, id: &str) -> Option<&'a Value> {
    list.as_array().unwrap().iter().find(|m| m["public_model_name"] == id)
}

#[tokio::test]
async fn catalogue_drift_is_served_accepted_and_billed() {
    let sb = sandbox(Faults { catalogue_drift: true, ..Faults::default() }).await;
    let sectioned = models(&sb, false).await;
    let glm = find(&sectioned["text"], DRIFT_ADDED).unwrap();
    assert_eq!(glm["credits"], json!({"input": 100.0, "output": 300.0}));
    assert_eq!(glm["context_length"], 202_752);
    assert_eq!(glm["max_output_tokens"], 65_536);
    assert_eq!(sectioned["text_pricing"][DRIFT_ADDED]["input_per_million"], 100.0);
    assert!(find(&sectioned["text"], DRIFT_REMOVED).is_none());
    assert!(sectioned["text_pricing"].get(DRIFT_REMOVED).is_none());
    assert_eq!(
        find(&sectioned["text"], "grok-4-3").unwrap()["credits"],
        json!({"input": 300.0, "output": 528.9})
    );
    assert_eq!(find(&sectioned["images"], "gpt-image-2").unwrap()["credits"], 16.0);
    let list = models(&sb, true).await;
    assert!(find(&list["data"], DRIFT_ADDED).is_some());
    assert!(find(&list["data"], DRIFT_REMOVED).is_none());
    assert_eq!(find(&list["data"], "gpt-image-2").unwrap()["credits"], 16.0);
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        Catalogue::bundled().iter(Some(ProviderId::Katana), None).count()
    );

    // The drifted catalogue is also what the sandbox accepts and charges.
    let answer = chat_ok(&sb, &json!({"model": DRIFT_ADDED, "prompt": "Hello, new model."})).await;
    assert_eq!(answer["model"], DRIFT_ADDED);
    let removed = chat(&sb, &json!({"model": DRIFT_REMOVED, "prompt": "hi"})).await;
    assert_eq!(removed.status(), 400);
    // Grok at 300 input: a long prompt shows the new price.
    let long = "price check ".repeat(20_000);
    let answer =
        chat_ok(&sb, &json!({"model": "grok-4-3", "prompt": long, "max_tokens": 10})).await;
    let mut drifted = Catalogue::bundled()
        .resolve(ProviderId::Katana, Some(MediaKind::Text), "grok-4-3")
        .unwrap()
        .clone();
    if let Pricing::PerMillionTokens { input, .. } = &mut drifted.pricing {
        *input = Credits::whole(300);
    }
    let prompt = answer["usage"]["prompt_tokens"].as_u64().unwrap();
    let completion = answer["usage"]["completion_tokens"].as_u64().unwrap();
    let charged = text::charge(&drifted, prompt, completion);
    assert_eq!(answer["usage"]["imgnai"]["credits_charged"], json!(charged));
    let bundled_grok = Catalogue::bundled()
        .resolve(ProviderId::Katana, Some(MediaKind::Text), "grok-4-3")
        .unwrap();
    assert!(charged > text::charge(bundled_grok, prompt, completion));
    let before = sb.balance(DEMO_KEY).unwrap();
    let image =
        submit_ok(&sb, &json!({"requests": [image_item("gpt-image-2", "1:1", "png")]})).await;
    assert_eq!(image["responses"][0]["metadata"]["credits_spent"], 16.0);
    assert_eq!(sb.balance(DEMO_KEY), Some(before - Credits::whole(16)));

    // Lifting the fault restores the bundled catalogue.
    sb.set_faults(Faults::default());
    assert!(find(&models(&sb, false).await["text"], DRIFT_ADDED).is_none());
    let gone = chat(&sb, &json!({"model": DRIFT_ADDED, "prompt": "hi"})).await;
    assert_eq!(gone.status(), 400);
    assert_eq!(
        gone.json::<Value>().await.unwrap(),
        json!({"detail": format!("no such model: {DRIFT_ADDED}")})
    );
    chat_ok(&sb, &json!({"model": DRIFT_REMOVED, "prompt": "hi"})).await;
}

async fn llms(sb: &conjure_sandbox::Sandbox) -> (String, String) {
    let response = client().get(format!("{}/llms.txt", sb.base_url())).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let mime = response.headers()["content-type"].to_str().unwrap().to_owned();
    (mime, response.text().await.unwrap())
}

#[tokio::test]
async fn llms_txt_changes_with_its_revision() {
    let sb = sandbox(Faults::default()).await;
    let (mime, original) = llms(&sb).await;
    assert!(mime.starts_with("text/plain"), "{mime}");
    assert!(original.starts_with("# conjure sandbox: catalogue summary\n"), "{original}");
    assert!(original.contains("not the Katana service"));
    assert!(original.contains("- image models: 51\n"));
    assert!(!original.contains("revision"));
    let digest = |t: &str| hex::encode(Sha256::digest(t.as_bytes()));
    assert_eq!(digest(&llms(&sb).await.1), digest(&original));
    sb.set_faults("llms-revision=2".parse().unwrap());
    let revised = llms(&sb).await.1;
    assert_ne!(digest(&revised), digest(&original));
    assert!(revised.contains("\nrevision 2\n"));
    assert_eq!(llms(&sb).await.1, revised);
    sb.set_faults("llms-revision=3".parse().unwrap());
    assert_ne!(llms(&sb).await.1, revised);
    sb.set_faults(Faults::default());
    assert_eq!(llms(&sb).await.1, original);
}

async fn attest(sb: &conjure_sandbox::Sandbox, query: &str, auth: bool) -> (u16, Value) {
    let request = client().get(format!("{}/v1/text/attestation?{query}", sb.base_url()));
    let request =
        if auth { request.bearer_auth(format!("{DEMO_KEY}:{DEMO_SECRET}")) } else { request };
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn attestation_placeholder_binds_the_nonce() {
    let sb = sandbox(Faults::default()).await;
    let nonce = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
    let (status, body) = attest(&sb, &format!("model=kimi-k2-6-private&nonce={nonce}"), true).await;
    assert_eq!(status, 200, "{body}");
    let nonce = nonce.to_ascii_lowercase();
    assert_eq!(body["sandbox"], true);
    assert_eq!(body["model"], "kimi-k2-6-private");
    assert_eq!(body["nonce"], nonce.as_str());
    assert!(body["tee"].as_str().unwrap().contains("placeholder"));
    assert!(body["gpu"].as_str().unwrap().contains("placeholder"));
    let nonce_bytes = hex::decode(&nonce).unwrap();
    let digest =
        Sha256::new().chain_update(&nonce_bytes).chain_update(b"kimi-k2-6-private").finalize();
    assert_eq!(body["report_data"], format!("{}{nonce}", hex::encode(digest)));
    let quote = STANDARD.decode(body["quote"].as_str().unwrap()).unwrap();
    assert!(quote.windows(32).any(|w| w == nonce_bytes.as_slice()));
    assert!(quote.starts_with(b"CONJURE-SANDBOX-PLACEHOLDER"));
    let issued = body["issued_at"].as_str().unwrap();
    time::OffsetDateTime::parse(issued, &time::format_description::well_known::Rfc3339).unwrap();

    let good = "ab".repeat(32);
    for (query, status, needle) in [
        (format!("model=grok-4-3&nonce={good}"), 400, "`grok-4-3` is not an E2EE Private model"),
        (
            format!("model=q-naifu-a3b&nonce={good}"),
            400,
            "`q-naifu-a3b` is not an E2EE Private model",
        ),
        (format!("model=nope&nonce={good}"), 400, "`nope` is not an E2EE Private model"),
        ("model=kimi-k2-6-private&nonce=abcd".to_owned(), 422, "64 hex digits"),
        (format!("model=kimi-k2-6-private&nonce={}", "zz".repeat(32)), 422, "64 hex digits"),
        (format!("model=kimi-k2-6-private&nonce={good}00"), 422, "64 hex digits"),
        ("model=kimi-k2-6-private".to_owned(), 422, "`nonce` is required"),
        (format!("nonce={good}"), 422, "`model` is required"),
    ] {
        let (got, body) = attest(&sb, &query, true).await;
        assert_eq!(got, status, "{query}");
        assert!(body["detail"].as_str().unwrap().contains(needle), "{body} for {query}");
    }
    let (status, body) = attest(&sb, &format!("model=kimi-k2-6-private&nonce={good}"), false).await;
    assert_eq!((status, body), (401, json!({"detail": "Missing API credentials"})));
    // Attestation is free.
    assert_eq!(sb.balance(DEMO_KEY), Some(demo_balance()));
}

#[tokio::test]
async fn chat_errors_echo_credentials_under_the_fault() {
    let sb = sandbox(Faults { echo_credentials: true, ..Faults::default() }).await;
    let response = chat(&sb, &json!({"model": "nope", "prompt": "hi"})).await;
    assert_eq!(response.status(), 400);
    let detail = response.json::<Value>().await.unwrap()["detail"].as_str().unwrap().to_owned();
    assert!(detail.starts_with("no such model: nope"), "{detail}");
    assert!(detail.contains(DEMO_SECRET), "{detail}");
    // A successful stream is left alone.
    let ok = chat(&sb, &json!({"model": "grok-4-3", "prompt": "hi", "stream": true})).await;
    assert!(!ok.text().await.unwrap().contains(DEMO_SECRET));
}
