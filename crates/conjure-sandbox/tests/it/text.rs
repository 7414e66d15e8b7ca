//! `POST /v1/chat/completions`: body shapes (whole, streamed, async), the billing arithmetic
//! against the client's own functions, credentials and every refusal.

use std::collections::BTreeSet;

use conjure_core::catalogue::{Catalogue, MediaKind, Model, ProviderId};
use conjure_core::money::Credits;
use conjure_core::spec::MediaInput;
use conjure_core::text::{
    self, DEFAULT_MAX_TOKENS, IMAGE_TOKENS, Message, Part, Role, TextItem, TextMode,
    estimate_tokens,
};
use conjure_sandbox::{ApiKey, DEMO_KEY, DEMO_SECRET, Faults, REASON_MARKER, SandboxConfig};
use serde_json::{Value, json};

use crate::{
    chat, chat_ok, chat_with, client, demo_balance, poll, poll_to_end, sandbox, sse_payloads,
    streamed_content,
};

fn model(id: &str) -> &'static Model {
    Catalogue::bundled().resolve(ProviderId::Katana, Some(MediaKind::Text), id).unwrap()
}

fn item(model: &str, messages: Vec<Message>, max_tokens: Option<u32>) -> TextItem {
    TextItem {
        model: model.into(),
        messages,
        max_tokens,
        temperature: None,
        top_p: None,
        files: vec![],
        mode: TextMode::Whole,
        continues: None,
    }
}

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

fn credits(v: &Value) -> Credits {
    Credits::from_f64(v.as_f64().unwrap())
}

/// The usage a call must report, computed with the client's functions.
fn expected_usage(m: &Model, prompt_tokens: u64, completion_tokens: u64, max: u32) -> Value {
    let reserved = text::reserve(m, prompt_tokens, max);
    let charged = text::charge(m, prompt_tokens, completion_tokens);
    json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "imgnai": {
            "credits_reserved": reserved,
            "credits_charged": charged,
            "credits_refunded": reserved - charged,
            "privacy_mode": m.privacy.unwrap().label(),
            "billing_source": "api_key",
        },
    })
}

#[tokio::test]
async fn whole_answer_shape_usage_and_balance() {
    let sb = sandbox(Faults::default()).await;
    let body = json!({
        "model": "grok-4-3",
        "messages": [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "Why is the sky blue?"},
        ],
        "temperature": 0.2, "top_p": 0.9, "top_k": 40, "presence_penalty": 0.1,
    });
    let answer = chat_ok(&sb, &body).await;
    assert_eq!(
        keys(&answer),
        BTreeSet::from(["id", "object", "created", "model", "choices", "usage", "request_id"])
    );
    let id = answer["id"].as_str().unwrap();
    assert!(id.starts_with("chatcmpl-"), "{id}");
    assert_eq!(answer["request_id"], id);
    assert_eq!(answer["object"], "chat.completion");
    assert_eq!(answer["model"], "grok-4-3");
    assert!(answer["created"].as_i64().unwrap() > 1_700_000_000);
    let choice = &answer["choices"][0];
    assert_eq!(answer["choices"].as_array().unwrap().len(), 1);
    assert_eq!(
        (choice["index"].as_u64(), choice["finish_reason"].as_str()),
        (Some(0), Some("stop"))
    );
    assert_eq!(keys(&choice["message"]), BTreeSet::from(["role", "content"]));
    assert_eq!(choice["message"]["role"], "assistant");
    let content = choice["message"]["content"].as_str().unwrap();
    assert!(content.starts_with(
        "[conjure sandbox] placeholder answer from grok-4-3 — not a real model. \
         You asked: «Why is the sky blue?»."
    ));
    assert!(content.contains('🧪'));

    let sent = item(
        "grok-4-3",
        vec![
            Message::text(Role::System, "Answer briefly."),
            Message::text(Role::User, "Why is the sky blue?"),
        ],
        None,
    );
    let usage = expected_usage(
        model("grok-4-3"),
        sent.input_tokens(),
        estimate_tokens(content),
        DEFAULT_MAX_TOKENS,
    );
    assert_eq!(answer["usage"], usage);
    // A tiny call on grok: the 10-credit reserve, the 0.1 minimum charge, 9.9 back.
    assert_eq!(usage["imgnai"]["credits_reserved"], 10.0);
    assert_eq!(usage["imgnai"]["credits_charged"], 0.1);
    assert_eq!(usage["imgnai"]["credits_refunded"], 9.9);
    assert_eq!(sb.balance(DEMO_KEY), Some(demo_balance() - Credits::from_tenths(1)));

    // Unique ids; the same conversation gets the same words.
    let again = chat_ok(&sb, &body).await;
    assert_ne!(again["id"], answer["id"]);
    assert_eq!(again["choices"][0]["message"]["content"], content);
    let stats = sb.stats();
    assert_eq!((stats.chat_posts_received, stats.chat_paid, stats.chat_paid_whole), (2, 2, 2));
    assert_eq!((stats.chat_paid_stream, stats.chat_paid_async), (0, 0));
}

#[tokio::test]
async fn a_large_reserve_is_taken_and_the_rest_refunded() {
    let sb = sandbox(Faults::default()).await;
    let body = json!({"model": "claude-opus-4-8", "prompt": "Write a haiku."});
    let answer = chat_ok(&sb, &body).await;
    let opus = model("claude-opus-4-8");
    let prompt = item("claude-opus-4-8", vec![Message::text(Role::User, "Write a haiku.")], None)
        .input_tokens();
    assert_eq!(answer["usage"]["prompt_tokens"], prompt);
    let reserved = credits(&answer["usage"]["imgnai"]["credits_reserved"]);
    assert_eq!(reserved, text::reserve(opus, prompt, DEFAULT_MAX_TOKENS));
    assert!(reserved > Credits::whole(80), "{reserved}");
    let charged = credits(&answer["usage"]["imgnai"]["credits_charged"]);
    assert_eq!(credits(&answer["usage"]["imgnai"]["credits_refunded"]), reserved - charged);
    assert_eq!(sb.balance(DEMO_KEY), Some(demo_balance() - charged));
}

#[tokio::test]
async fn a_balance_below_the_reserve_is_402_and_nothing_moves() {
    let config = SandboxConfig {
        keys: vec![ApiKey::new(DEMO_KEY, DEMO_SECRET, Credits::from_tenths(99))],
        ..SandboxConfig::default()
    };
    let sb = conjure_sandbox::start(config).await.unwrap();
    // 9.9 credits do not cover the 10-credit minimum reserve, though the call would cost 0.1.
    let response = chat(&sb, &json!({"model": "grok-4-3", "prompt": "hi"})).await;
    assert_eq!(response.status(), 402);
    let body: Value = response.json().await.unwrap();
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.starts_with("Insufficient credits: "), "{detail}");
    assert!(detail.contains("10.0") && detail.contains("9.9"), "{detail}");
    assert_eq!(sb.balance(DEMO_KEY), Some(Credits::from_tenths(99)));
    let stats = sb.stats();
    assert_eq!((stats.chat_posts_received, stats.chat_paid), (1, 0));
    // Exactly the reserve is enough.
    let config = SandboxConfig {
        keys: vec![ApiKey::new(DEMO_KEY, DEMO_SECRET, Credits::whole(10))],
        ..SandboxConfig::default()
    };
    let sb = conjure_sandbox::start(config).await.unwrap();
    chat_ok(&sb, &json!({"model": "grok-4-3", "prompt": "hi"})).await;
    assert_eq!(sb.balance(DEMO_KEY), Some(Credits::from_tenths(99)));
}

#[tokio::test]
async fn max_tokens_truncates_with_finish_reason_length() {
    let sb = sandbox(Faults::default()).await;
    let full =
        chat_ok(&sb, &json!({"model": "deepseek-v4-flash", "prompt": "Count to ten."})).await;
    let full_text = full["choices"][0]["message"]["content"].as_str().unwrap();
    for (field, max) in [("max_tokens", 12_u32), ("max_completion_tokens", 7)] {
        let body = json!({"model": "deepseek-v4-flash", "prompt": "Count to ten.", field: max});
        let cut = chat_ok(&sb, &body).await;
        let text = cut["choices"][0]["message"]["content"].as_str().unwrap();
        assert_eq!(cut["choices"][0]["finish_reason"], "length");
        assert!(full_text.starts_with(text) && text.len() < full_text.len());
        assert!(estimate_tokens(text) <= u64::from(max));
        let prompt = cut["usage"]["prompt_tokens"].as_u64().unwrap();
        assert_eq!(
            cut["usage"],
            expected_usage(model("deepseek-v4-flash"), prompt, estimate_tokens(text), max)
        );
    }
}

#[tokio::test]
async fn reasoning_on_the_marker_and_on_q_naifu() {
    let sb = sandbox(Faults::default()).await;
    let prompt = format!("Plan a trip. {REASON_MARKER}");
    let answer = chat_ok(&sb, &json!({"model": "grok-4-3", "prompt": prompt})).await;
    let message = &answer["choices"][0]["message"];
    let reasoning = message["reasoning_content"].as_str().unwrap();
    assert!(reasoning.starts_with("[conjure sandbox] placeholder reasoning — "), "{reasoning}");
    let content = message["content"].as_str().unwrap();
    assert_eq!(
        answer["usage"]["completion_tokens"],
        estimate_tokens(content) + estimate_tokens(reasoning)
    );
    let naifu = chat_ok(&sb, &json!({"model": "q-naifu-a3b", "prompt": "hello"})).await;
    assert!(naifu["choices"][0]["message"]["reasoning_content"].is_string());
    assert_eq!(naifu["usage"]["imgnai"]["privacy_mode"], "Private");
    let plain = chat_ok(&sb, &json!({"model": "grok-4-3", "prompt": "Plan a trip."})).await;
    assert!(plain["choices"][0]["message"].get("reasoning_content").is_none());
}

#[tokio::test]
async fn earlier_turns_prefill_images_and_files_are_visible() {
    let sb = sandbox(Faults::default()).await;
    let image = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
    let body = json!({
        "model": "gpt-5-5",
        "messages": [
            {"role": "user", "content": "Describe the picture."},
            {"role": "assistant", "content": "Which picture?"},
            {"role": "user", "content": [
                {"type": "text", "text": "This one."},
                {"type": "image_url", "image_url": {"url": image, "detail": "low"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/b.jpg"}},
            ]},
        ],
        "files": [{"url": "https://example.com/notes.pdf"}],
    });
    let answer = chat_ok(&sb, &body).await;
    let content = answer["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(content.contains("«This one.»"), "{content}");
    assert!(
        content.contains("It saw 3 messages with 1 assistant turn before this one"),
        "{content}"
    );
    assert!(content.contains("It received 2 images (70 bytes inline)"), "{content}");
    assert!(content.contains("It received 1 file"), "{content}");
    let sent = item(
        "gpt-5-5",
        vec![
            Message::text(Role::User, "Describe the picture."),
            Message::text(Role::Assistant, "Which picture?"),
            Message {
                role: Role::User,
                content: vec![
                    Part::Text { text: "This one.".into() },
                    Part::Image { input: MediaInput::Url { url: image.into() } },
                    Part::Image {
                        input: MediaInput::Url { url: "https://example.com/b.jpg".into() },
                    },
                ],
                plain: false,
            },
        ],
        None,
    );
    assert_eq!(answer["usage"]["prompt_tokens"], sent.input_tokens());
    assert!(sent.input_tokens() > 2 * IMAGE_TOKENS);
    // An assistant turn at the end is a prefill.
    let prefill = json!({"model": "q-naifu-a3b", "messages": [
        {"role": "user", "content": "Tell a story."},
        {"role": "assistant", "content": "Once upon a time"},
    ]});
    let answer = chat_ok(&sb, &prefill).await;
    let content = answer["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(content.contains("It continues your assistant prefill."), "{content}");
    assert!(!content.contains("assistant turn"), "{content}");
}

#[tokio::test]
async fn streamed_frames_byte_level() {
    let sb = sandbox(Faults::default()).await;
    let prompt = format!("Stream me a reply 🚀 {REASON_MARKER}");
    let whole = chat_ok(&sb, &json!({"model": "grok-4-3", "prompt": prompt})).await;
    let body = json!({"model": "grok-4-3", "prompt": prompt, "stream": true,
        "stream_options": {"include_usage": true}});
    let response = chat(&sb, &body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let id_header = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    let bytes = response.bytes().await.unwrap();
    let payloads = sse_payloads(&bytes);
    assert!(bytes.starts_with(b"data: {"));
    assert!(bytes.ends_with(b"\n\ndata: [DONE]\n\n"));
    assert_eq!(payloads.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> =
        payloads[..payloads.len() - 1].iter().map(|p| serde_json::from_str(p).unwrap()).collect();
    let first = &chunks[0];
    assert_eq!(first["choices"][0]["delta"], json!({"role": "assistant", "content": ""}));
    assert!(first["choices"][0]["finish_reason"].is_null());
    for c in &chunks {
        assert_eq!(c["id"], first["id"]);
        assert_eq!(c["created"], first["created"]);
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["model"], "grok-4-3");
    }
    assert_eq!(first["id"], id_header.as_str());
    // Reasoning pieces come before content pieces, each piece a few words.
    let kinds: Vec<&str> = chunks[1..]
        .iter()
        .filter_map(|c| {
            let delta = &c["choices"][0]["delta"];
            if delta.get("reasoning_content").is_some() {
                Some("r")
            } else if delta.get("content").is_some() {
                Some("c")
            } else {
                None
            }
        })
        .collect();
    let first_content = kinds.iter().position(|k| *k == "c").unwrap();
    assert!(first_content > 0 && kinds[first_content..].iter().all(|k| *k == "c"));
    assert!(kinds.len() > 10);
    let reasoning: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["reasoning_content"].as_str())
        .collect();
    assert_eq!(reasoning, whole["choices"][0]["message"]["reasoning_content"].as_str().unwrap());
    assert_eq!(
        streamed_content(&payloads),
        whole["choices"][0]["message"]["content"].as_str().unwrap()
    );
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["delta"], json!({}));
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"], whole["usage"]);
    let charged = credits(&whole["usage"]["imgnai"]["credits_charged"]);
    assert_eq!(sb.balance(DEMO_KEY), Some(demo_balance() - charged - charged));
    let stats = sb.stats();
    assert_eq!((stats.chat_paid, stats.chat_paid_whole, stats.chat_paid_stream), (2, 1, 1));

    // Without include_usage: no usage chunk, the reserve is still settled.
    let quiet = chat(&sb, &json!({"model": "grok-4-3", "prompt": "hi", "stream": true})).await;
    let payloads = sse_payloads(&quiet.bytes().await.unwrap());
    assert!(!payloads.iter().any(|p| p.contains("\"usage\"")));
    assert_eq!(payloads.last().unwrap(), "[DONE]");
}

#[tokio::test]
async fn async_text_is_polled_like_media() {
    let sb = sandbox(Faults { processing_steps: 2, ..Faults::default() }).await;
    let body = json!({"model": "q-naifu-a3b", "prompt": "Summarise the plot of Hamlet."});
    let whole = chat_ok(&sb, &body).await;
    let after_whole = sb.balance(DEMO_KEY).unwrap();
    let response = chat_with(&sb, "?wait=false", &body).await;
    assert_eq!(response.status(), 200);
    let submitted: Value = response.json().await.unwrap();
    assert_eq!(submitted["status"], "processing");
    assert_eq!(submitted["poll_after_seconds"], 1);
    let id = submitted["request_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("req_"), "{id}");
    assert_eq!(
        submitted["requests"][0],
        json!({"type": "text", "model": "q-naifu-a3b", "prompt": "Summarise the plot of Hamlet.",
               "max_tokens": DEFAULT_MAX_TOKENS})
    );
    let reserved = credits(&whole["usage"]["imgnai"]["credits_reserved"]);
    let charged = credits(&whole["usage"]["imgnai"]["credits_charged"]);
    assert_eq!(submitted["responses"][0]["metadata"]["credits_spent"], json!(reserved));
    // The reserve is held while the job runs.
    assert_eq!(sb.balance(DEMO_KEY), Some(after_whole - reserved));
    let processing: Value = poll(&sb, &id).await.json().await.unwrap();
    assert_eq!(processing["status"], "processing");
    assert_eq!(processing["responses"][0]["output_assets"], json!([]));
    let done = poll_to_end(&sb, &id, 3).await;
    assert_eq!(done["status"], "completed");
    let response = &done["responses"][0];
    assert_eq!(response["status"], "completed");
    assert_eq!(response["metadata"], json!({"credits_spent": charged, "model": "q-naifu-a3b"}));
    let asset = &response["output_assets"][0];
    assert_eq!(response["output_assets"].as_array().unwrap().len(), 1);
    assert_eq!(
        (asset["kind"].as_str(), asset["mime_type"].as_str()),
        (Some("text"), Some("text/plain"))
    );
    assert_eq!(asset["content"], whole["choices"][0]["message"]["content"]);
    assert_eq!(asset["reasoning_content"], whole["choices"][0]["message"]["reasoning_content"]);
    assert_eq!(asset["finish_reason"], "stop");
    assert_eq!(asset["metadata"]["usage"], whole["usage"]);
    assert_eq!(sb.balance(DEMO_KEY), Some(after_whole - charged));
    // Polling again refunds nothing more.
    poll_to_end(&sb, &id, 1).await;
    assert_eq!(sb.balance(DEMO_KEY), Some(after_whole - charged));
    let stats = sb.stats();
    assert_eq!((stats.chat_paid, stats.chat_paid_async, stats.chat_paid_whole), (2, 1, 1));
    // An async call cannot stream.
    let streamed = json!({"model": "grok-4-3", "prompt": "x", "stream": true});
    assert_eq!(chat_with(&sb, "?wait=false", &streamed).await.status(), 400);
}

#[tokio::test]
async fn chat_credentials() {
    let sb = sandbox(Faults::default()).await;
    let url = format!("{}/v1/chat/completions", sb.base_url());
    let body = json!({"model": "grok-4-3", "prompt": "hi"});
    let missing = json!({"detail": "Missing API credentials"});
    let invalid = json!({"detail": "Invalid API credentials"});
    let c = client();
    let cases = [
        (c.post(&url).json(&body), 401, &missing),
        (c.post(&url).json(&body).bearer_auth("no-colon"), 401, &missing),
        (c.post(&url).json(&body).bearer_auth(format!("{DEMO_KEY}:")), 401, &missing),
        // The media header pair is not the text endpoint's form.
        (
            c.post(&url)
                .json(&body)
                .header("X-API-Key", DEMO_KEY)
                .header("X-API-Secret", DEMO_SECRET),
            401,
            &missing,
        ),
        (c.post(&url).json(&body).bearer_auth(format!("{DEMO_KEY}:wrong")), 401, &invalid),
        (c.post(&url).json(&body).bearer_auth(format!("other:{DEMO_SECRET}")), 401, &invalid),
    ];
    for (request, status, expected) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status);
        assert_eq!(&response.json::<Value>().await.unwrap(), expected);
    }
    // A secret with colons: split on the first one only.
    let config = SandboxConfig {
        keys: vec![ApiKey::new("k", "s:with:colons", Credits::whole(50))],
        ..SandboxConfig::default()
    };
    let colons = conjure_sandbox::start(config).await.unwrap();
    let response = client()
        .post(format!("{}/v1/chat/completions", colons.base_url()))
        .bearer_auth("k:s:with:colons")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let stats = sb.stats();
    assert_eq!((stats.chat_posts_received, stats.chat_paid), (6, 0));
    assert_eq!(sb.balance(DEMO_KEY), Some(demo_balance()));
}

#[tokio::test]
async fn refusals_charge_nothing() {
    let sb = sandbox(Faults::default()).await;
    let hi = json!([{"role": "user", "content": "hi"}]);
    let image = |url: &str| {
        json!([{"role": "user", "content": [
            {"type": "text", "text": "look"},
            {"type": "image_url", "image_url": {"url": url}},
        ]}])
    };
    let cases: Vec<(Value, u16, &str)> = vec![
        (json!({"model": "grok-4-9", "messages": hi}), 400, "no such model: grok-4-9"),
        (json!({"model": "grok", "messages": hi}), 400, "no such model: grok"),
        (
            json!({"model": "gpt-image-2", "messages": hi}),
            400,
            "is an image model, not a text model",
        ),
        (json!({"model": "seedance-2-0", "messages": hi}), 400, "is a video model"),
        (json!({"model": "grok-4-3", "messages": []}), 400, "The conversation is empty"),
        (json!({"model": "grok-4-3"}), 400, "The conversation is empty"),
        (json!({"model": "grok-4-3", "prompt": "   "}), 400, "The conversation is empty"),
        (
            json!({"model": "grok-4-3", "messages": [{"role": "user", "content": ""}]}),
            400,
            "The conversation is empty",
        ),
        (
            json!({"model": "qwen3-7-max", "messages": image("https://example.com/a.png")}),
            400,
            "`qwen3-7-max` does not accept images",
        ),
        (
            json!({"model": "grok-4-3", "messages": image("data:image/png;base64,@@@")}),
            400,
            "Invalid base64 data",
        ),
        (
            json!({"model": "grok-4-3", "messages": image("/home/me/cat.png")}),
            400,
            "Invalid base64 data",
        ),
        (
            json!({"model": "grok-4-3", "messages": hi, "files": [{"url": "https://example.com/a.pdf"}]}),
            400,
            "`grok-4-3` does not accept files",
        ),
        (
            json!({"model": "kimi-k2-6", "messages": hi, "max_tokens": 16_385}),
            400,
            "`max_tokens` 16385 is above the limit of `kimi-k2-6` (16384 tokens)",
        ),
        (
            json!({"model": "kimi-k2-6", "messages": hi, "max_completion_tokens": 100_000}),
            400,
            "above the limit",
        ),
        (json!({"model": "grok-4-3", "messages": hi, "max_tokens": 0}), 400, "at least 1"),
        (
            json!({"model": "gemma-3-27b-private", "prompt": "word ".repeat(250_000)}),
            400,
            "more than the context of `gemma-3-27b-private`",
        ),
        (json!({"messages": hi}), 422, "Field `model` is required"),
        (json!({"model": 5, "messages": hi}), 422, "Field `model` must be a string"),
        (json!({"model": "grok-4-3", "messages": "hi"}), 422, "must be a list"),
        (json!({"model": "grok-4-3", "messages": [{"content": "hi"}]}), 422, "`role` is required"),
        (
            json!({"model": "grok-4-3", "messages": [{"role": "robot", "content": "hi"}]}),
            422,
            "unknown role",
        ),
        (json!({"model": "grok-4-3", "messages": hi, "max_tokens": "ten"}), 422, "whole number"),
        (json!({"model": "grok-4-3", "messages": hi, "temperature": "hot"}), 422, "`temperature`"),
        (json!({"model": "grok-4-3", "messages": hi, "stream": "yes"}), 422, "`stream`"),
        (
            json!({"model": "grok-4-3", "messages": [{"role": "user", "content": [{"text": "x"}]}]}),
            422,
            "`type`",
        ),
    ];
    let count = cases.len();
    for (body, status, needle) in cases {
        let response = chat(&sb, &body).await;
        assert_eq!(response.status().as_u16(), status, "{body}");
        let detail: Value = response.json().await.unwrap();
        let detail = detail["detail"].as_str().unwrap();
        assert!(detail.contains(needle), "{detail} for {body}");
    }
    let not_json = client()
        .post(format!("{}/v1/chat/completions", sb.base_url()))
        .bearer_auth(format!("{DEMO_KEY}:{DEMO_SECRET}"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 422);
    let stats = sb.stats();
    assert_eq!((stats.chat_posts_received, stats.chat_paid), (count as u64 + 1, 0));
    assert_eq!(sb.balance(DEMO_KEY), Some(demo_balance()));
}

#[tokio::test]
async fn files_and_other_parts_are_accepted_where_the_model_reads_them() {
    let sb = sandbox(Faults::default()).await;
    let body = json!({
        "model": "gemini-3-5-flash",
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "Transcribe."},
            {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
        ]}],
        "files": [{"url": "https://example.com/a.pdf"}, {"url": "https://example.com/b.pdf"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
        "tools": [], "min_p": 0.05, "repeat_penalty": 1.1,
    });
    let answer = chat_ok(&sb, &body).await;
    let content = answer["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(content.contains("It received 2 files"), "{content}");
    let raw = json!({"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}});
    let sent = item(
        "gemini-3-5-flash",
        vec![Message {
            role: Role::User,
            content: vec![Part::Text { text: "Transcribe.".into() }, Part::Raw { value: raw }],
            plain: false,
        }],
        None,
    );
    assert_eq!(answer["usage"]["prompt_tokens"], sent.input_tokens());
}
