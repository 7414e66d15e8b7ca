//! The text faults as a client sees them on the wire, and what each does to the balance.

use conjure_core::money::Credits;
use conjure_sandbox::{DEMO_KEY, Faults};
use serde_json::{Value, json};

use crate::{
    chat, chat_ok, chat_with, demo_balance, poll, sandbox, sse_payloads, streamed_content,
};

fn streamed(prompt: &str) -> Value {
    json!({"model": "grok-4-3", "prompt": prompt, "stream": true,
           "stream_options": {"include_usage": true}})
}

fn reserve_of(whole: &Value) -> Credits {
    Credits::from_f64(whole["usage"]["imgnai"]["credits_reserved"].as_f64().unwrap())
}

fn charge_of(whole: &Value) -> Credits {
    Credits::from_f64(whole["usage"]["imgnai"]["credits_charged"].as_f64().unwrap())
}

/// Reads a body piece by piece until it ends or fails: the pieces, and whether it failed.
async fn read_pieces(mut response: reqwest::Response) -> (Vec<Vec<u8>>, bool) {
    let mut pieces = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(piece)) => pieces.push(piece.to_vec()),
            Ok(None) => return (pieces, false),
            Err(_) => return (pieces, true),
        }
    }
}

#[tokio::test]
async fn a_cut_stream_is_a_transport_error_and_keeps_the_reserve() {
    let sb = sandbox(Faults { stream_cut_after: Some(3), ..Faults::default() }).await;
    let whole = chat_ok(&sb, &json!({"model": "grok-4-3", "prompt": "Tell me about cuts."})).await;
    let after_whole = sb.balance(DEMO_KEY).unwrap();
    let response = chat(&sb, &streamed("Tell me about cuts.")).await;
    assert_eq!(response.status(), 200);
    let (pieces, failed) = read_pieces(response).await;
    assert!(failed, "the client must see an error, not a clean end");
    let body = pieces.concat();
    let payloads = sse_payloads(&body);
    assert!(!payloads.iter().any(|p| p == "[DONE]" || p.contains("\"usage\"")));
    assert!(!payloads.iter().any(|p| p.contains("finish_reason\":\"")));
    let content = streamed_content(&payloads);
    let full = whole["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(full.starts_with(&content) && !content.is_empty() && content.len() < full.len());
    let content_chunks =
        payloads.iter().filter(|p| p.contains("\"content\":\"") && !p.contains("\"role\"")).count();
    assert_eq!(content_chunks, 3);
    // The whole reserve is kept.
    assert_eq!(sb.balance(DEMO_KEY), Some(after_whole - reserve_of(&whole)));
    let stats = sb.stats();
    assert_eq!((stats.chat_paid, stats.chat_paid_stream), (2, 1));
    // Whole answers are not affected, and the server keeps serving.
    chat_ok(&sb, &json!({"model": "grok-4-3", "prompt": "still there?"})).await;
}

#[tokio::test]
async fn a_malformed_frame_in_the_middle_and_the_rest_normal() {
    let sb = sandbox(Faults { stream_malformed: true, ..Faults::default() }).await;
    let whole = chat_ok(&sb, &json!({"model": "grok-4-3", "prompt": "Malformed?"})).await;
    let response = chat(&sb, &streamed("Malformed?")).await;
    let payloads = sse_payloads(&response.bytes().await.unwrap());
    let bad: Vec<usize> = payloads
        .iter()
        .enumerate()
        .filter(|(_, p)| *p != "[DONE]" && serde_json::from_str::<Value>(p).is_err())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(bad.len(), 1, "{payloads:?}");
    assert!(bad[0] > 1 && bad[0] < payloads.len() - 2, "in the middle: {}", bad[0]);
    assert_eq!(
        streamed_content(&payloads),
        whole["choices"][0]["message"]["content"].as_str().unwrap()
    );
    assert_eq!(payloads.last().unwrap(), "[DONE]");
    let usage: Value = serde_json::from_str(&payloads[payloads.len() - 2]).unwrap();
    assert_eq!(usage["usage"], whole["usage"]);
    let charged = charge_of(&whole);
    assert_eq!(sb.balance(DEMO_KEY), Some(demo_balance() - charged - charged));
}

#[tokio::test]
async fn text_500_keeps_the_reserve_in_every_mode() {
    let sb = sandbox(Faults { text_500: true, ..Faults::default() }).await;
    let body = json!({"model": "grok-4-3", "prompt": "boom"});
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    for (query, body) in [("", &body), ("", &streamed), ("?wait=false", &body)] {
        let response = chat_with(&sb, query, body).await;
        assert_eq!(response.status(), 500);
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!({"detail": "Internal Server Error"})
        );
    }
    // Three 10-credit reserves, none refunded.
    assert_eq!(sb.balance(DEMO_KEY), Some(demo_balance() - Credits::whole(30)));
    let stats = sb.stats();
    assert_eq!(
        (stats.chat_paid, stats.chat_paid_whole, stats.chat_paid_stream, stats.chat_paid_async),
        (3, 1, 1, 1)
    );
    // No job was created for the async one.
    assert_eq!(stats.polls, 0);
    sb.set_faults(Faults::default());
    chat_ok(&sb, &body).await;
}

#[tokio::test]
async fn split_utf8_writes_end_inside_characters() {
    let sb = sandbox(Faults { split_utf8: true, ..Faults::default() }).await;
    let whole = chat_ok(&sb, &json!({"model": "grok-4-3", "prompt": "Ünïcödé — «ok» 🎉"})).await;
    let response = chat(&sb, &streamed("Ünïcödé — «ok» 🎉")).await;
    let (pieces, failed) = read_pieces(response).await;
    assert!(!failed);
    // Over HTTP/1.1 every write is its own chunk, so no piece read here spans two writes: the
    // writes that end inside a character show up as pieces that are not UTF-8 on their own.
    let broken = pieces.iter().filter(|p| std::str::from_utf8(p).is_err()).count();
    assert!(broken >= 5, "{broken} of {} pieces split a character", pieces.len());
    let payloads = sse_payloads(&pieces.concat());
    assert_eq!(
        streamed_content(&payloads),
        whole["choices"][0]["message"]["content"].as_str().unwrap()
    );
    let usage: Value = serde_json::from_str(&payloads[payloads.len() - 2]).unwrap();
    assert_eq!(usage["usage"], whole["usage"]);
    assert_eq!(payloads.last().unwrap(), "[DONE]");
}

#[tokio::test]
async fn faults_leave_whole_and_async_answers_alone_except_500() {
    let sb = sandbox(Faults {
        stream_cut_after: Some(0),
        stream_malformed: true,
        split_utf8: true,
        processing_steps: 0,
        ..Faults::default()
    })
    .await;
    let body = json!({"model": "grok-4-3", "prompt": "calm"});
    let whole = chat_ok(&sb, &body).await;
    let submitted: Value = chat_with(&sb, "?wait=false", &body).await.json().await.unwrap();
    let done: Value =
        poll(&sb, submitted["request_id"].as_str().unwrap()).await.json().await.unwrap();
    assert_eq!(
        done["responses"][0]["output_assets"][0]["content"],
        whole["choices"][0]["message"]["content"]
    );
    let charged = charge_of(&whole);
    assert_eq!(sb.balance(DEMO_KEY), Some(demo_balance() - charged - charged));
    // Cut after 0 content chunks: only the role chunk arrives.
    let (pieces, failed) = read_pieces(chat(&sb, &streamed("calm")).await).await;
    assert!(failed);
    let payloads = sse_payloads(&pieces.concat());
    assert_eq!(streamed_content(&payloads), "");
}
