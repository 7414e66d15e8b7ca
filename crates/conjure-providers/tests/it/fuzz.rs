//! Fuzzing of everything conjure-providers reads from outside, on stable Rust: property tests
//! with proptest.
//!
//! Targets (each a `#[test]`, so they run in the normal suite with a modest case count):
//! - `katana_answers`: submit/poll envelopes, the balance, chat completions, `usage` and error
//!   bodies; arbitrary JSON and mutated real answers. Never a panic; a parsed envelope keeps the
//!   outcome rules (`completed` has output, a failure has a reason).
//! - `katana_models`: `/v1/models` answers (read by `conjure_core::catalogue::live`), both
//!   shapes, mutated, and arbitrary JSON.
//! - `imaginepro_answers`: submit answers, message objects (image and video), error bodies;
//!   the same rules (`DONE` has a URL, a failure has a reason, progress at most 100).
//! - `raw_bodies`: bytes and strings read without JSON: error bodies, `Retry-After`, URLs to
//!   redact, `data:` URLs.
//! - `sse_split`: streamed chat answers cut into network reads at arbitrary byte boundaries
//!   (inside multi-byte characters too) assemble the same text as read whole, and as was sent.
//! - `sse_bytes`: arbitrary bytes, arbitrarily split: the decoder yields the same payloads
//!   however the bytes are cut, and the stream reader never panics.
//! - `credentials_text`: secrets files, arbitrary and structured: never a panic, and what was
//!   parsed, written back by conjure's writer, parses to the same entries.
//!
//! `PROPTEST_CASES` sets the cases per target; `PROPTEST_RNG_SEED` the seed (fixed by default,
//! so the suite is reproducible). With `CONJURE_FUZZ_REPORT` set, each target prints its
//! executions and wall time to stderr (`scripts/bench-fuzz`).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Mutex;
use std::time::Instant;

use conjure_core::Catalogue;
use conjure_core::catalogue::live::read_live;
use conjure_core::provider::RemoteStatus;
use conjure_core::text::Delta;
use conjure_providers::credentials::{parse_env_file, render_env_file};
use conjure_providers::imaginepro::response as imaginepro;
use conjure_providers::katana::chat::{self, ChatStream, SseDecoder};
use conjure_providers::{KatanaCredentials, http, katana};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};

/// Runs one fuzz target: `default_cases` unless `PROPTEST_CASES` says otherwise.
fn check<S: Strategy>(
    name: &str,
    default_cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: Debug,
{
    let mut config = Config { failure_persistence: None, ..Config::default() };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = default_cases;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = RngSeed::Fixed(0x00C0_FFEE);
    }
    let cases = config.cases;
    let start = Instant::now();
    let mut runner = TestRunner::new(config);
    if let Err(e) = runner.run(&strategy, test) {
        panic!("fuzz target `{name}` failed: {e}");
    }
    if std::env::var_os("CONJURE_FUZZ_REPORT").is_some() {
        eprintln!(
            "fuzz-report target={name} executions={cases} seconds={:.3} result=no-panic",
            start.elapsed().as_secs_f64()
        );
    }
}

/// Words the answers use, so that arbitrary JSON often reaches past the first check.
const KEYS: &[&str] = &[
    "request_id",
    "status",
    "poll_after_seconds",
    "requests",
    "responses",
    "id",
    "output_assets",
    "original_data_url",
    "url",
    "mime_type",
    "kind",
    "width",
    "height",
    "metadata",
    "credits_spent",
    "model",
    "error",
    "message",
    "code",
    "content",
    "usage",
    "imgnai",
    "credits_charged",
    "credits",
    "choices",
    "delta",
    "success",
    "messageId",
    "progress",
    "images",
    "uri",
    "videoUrl",
    "results",
    "index",
    "buttons",
    "data",
    "public_model_name",
    "video_lengths_and_costs",
    "text_pricing",
];
const WORDS: &[&str] = &[
    "completed",
    "partial_failure",
    "failed",
    "rejected",
    "processing",
    "queued",
    "DONE",
    "FAIL",
    "PROCESSING",
    "item-0",
    "item-1",
    "item-18446744073709551615",
    "image/png",
    "https://x/a.png",
    "data:image/png;base64,iVBORw0KGgo=",
    "38.5",
    "1e400",
    "-0.1",
    "9223372036854775807",
    "",
    " ",
    "list",
    "text",
    "image",
    "video",
];

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => (0.0..100.0f64).prop_map(|x| json!(x)),
        2 => (0u32..50).prop_map(|x| json!(x)),
        1 => prop::sample::select(vec![0.0, -0.0, -1.0, 0.05, 1e15, 1e18, 1e300, -1e300, f64::MAX])
            .prop_map(|x| json!(x)),
        1 => any::<f64>().prop_map(|x| json!(x)),
        1 => any::<i64>().prop_map(|x| json!(x)),
        1 => any::<u64>().prop_map(|x| json!(x)),
    ]
}

/// Any JSON value, its keys and strings often the answers' own.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => number(),
        3 => prop::sample::select(WORDS).prop_map(|s| json!(s)),
        1 => any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map(
                prop_oneof![
                    5 => prop::sample::select(KEYS).prop_map(str::to_owned),
                    1 => any::<String>(),
                ],
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Replaces (or, with `None`, removes) the value at a random place in `doc` chosen by `pick`.
fn swap_in(doc: &mut Value, mut pick: u64, new: Option<Value>) {
    let mut at = doc;
    loop {
        let n = match &*at {
            Value::Array(a) => a.len(),
            Value::Object(o) => o.len(),
            _ => 0,
        };
        if n == 0 {
            if let Some(new) = new {
                *at = new;
            }
            return;
        }
        let i = ((pick / 4) % n as u64) as usize;
        // Act on the i-th child one time in four, else go down into it.
        if pick.is_multiple_of(4) {
            match (at, new) {
                (Value::Array(a), Some(v)) => a[i] = v,
                (Value::Array(a), None) => {
                    a.remove(i);
                }
                (Value::Object(o), Some(v)) => {
                    *o.values_mut().nth(i).expect("i < len") = v;
                }
                (Value::Object(o), None) => {
                    let key = o.keys().nth(i).expect("i < len").clone();
                    o.remove(&key);
                }
                _ => unreachable!("n > 0 only for containers"),
            }
            return;
        }
        pick = pick / 4 / n as u64;
        at = match at {
            Value::Array(a) => &mut a[i],
            Value::Object(o) => o.values_mut().nth(i).expect("i < len"),
            _ => unreachable!("n > 0 only for containers"),
        };
    }
}

/// One of `samples`, with up to four random replacements or removals; or arbitrary JSON.
fn answers(samples: Vec<Value>) -> impl Strategy<Value = Value> {
    let mutated = (
        prop::sample::select(samples),
        vec((any::<u64>(), prop::option::weighted(0.8, any_json())), 0..4),
    )
        .prop_map(|(mut doc, swaps)| {
            for (pick, new) in swaps {
                swap_in(&mut doc, pick, new);
            }
            doc
        });
    prop_oneof![3 => mutated, 1 => any_json()]
}

fn katana_samples() -> Vec<Value> {
    vec![
        json!({
            "request_id": "req_123", "status": "completed", "poll_after_seconds": null,
            "requests": [{"id": "item-0", "type": "image", "model": "gpt-image-2", "width": 512, "height": 512}],
            "responses": [{
                "id": "item-0", "status": "completed",
                "metadata": {"credits_spent": 38.5, "model": "gpt-image-2"},
                "output_assets": [{
                    "kind": "image", "mime_type": "image/png",
                    "original_data_url": "https://k.imgnai.com/full.png?sig=1",
                    "url": "https://k.imgnai.com/small.jpg?sig=2",
                    "width": 1024, "height": 1536, "expires_at": "2026-08-04T10:00:00Z"
                }]
            }]
        }),
        json!({
            "request_id": "r", "status": "partial_failure",
            "requests": [{"id": "item-0", "model": "gen"}, {"id": "item-1", "model": "gen"}],
            "responses": [
                {"id": "item-1", "status": "failed", "metadata": {"credits_spent": 0},
                 "error": {"code": "content_blocked", "message": "blocked", "retryable": false}},
                {"id": "item-0", "status": "completed", "metadata": {"credits_spent": "14.0"},
                 "output_assets": [{"kind": "image", "mime_type": "image/png", "original_data_url": "https://a/0.png"}]}
            ]
        }),
        json!({"request_id": 42, "status": "processing", "poll_after_seconds": "2", "requests": [], "responses": null}),
        json!({
            "request_id": "t1", "status": "completed",
            "responses": [{"id": "item-0", "status": "completed", "output_assets": [{
                "kind": "text", "content": "Grüße — 🦊", "reasoning_content": "hmm", "finish_reason": "stop",
                "metadata": {"usage": {"prompt_tokens": 4, "completion_tokens": 2,
                    "imgnai": {"credits_reserved": 10.0, "credits_charged": 0.1, "credits_refunded": 9.9}}}
            }]}]
        }),
        json!({"status": "failed", "error": {"code": "internal", "detail": "upstream"}}),
        json!({"credits": "20814.0"}),
        json!({"credits": 12.5}),
        json!({
            "id": "chatcmpl-1", "object": "chat.completion", "model": "grok-4-3",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello — «hi»", "reasoning_content": "think"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 3, "imgnai": {"credits_reserved": 10.0, "credits_charged": 0.1, "credits_refunded": 9.9, "privacy_mode": "Anonymized"}}
        }),
        json!({"error": {"message": "Invalid API key", "type": "auth"}}),
    ]
}

/// A submit or poll envelope built field by field: several items, each with its own status,
/// assets, error and charge.
fn katana_envelope() -> impl Strategy<Value = Value> {
    let status = || {
        prop_oneof![
            4 => prop::sample::select(vec!["completed", "partial_failure", "failed", "rejected", "processing", "queued", " Completed "])
                .prop_map(|s| json!(s)),
            1 => any_json(),
        ]
    };
    let credits = prop_oneof![
        2 => number(),
        1 => prop::sample::select(vec!["14.0", "0.1", "1e400", "-3", "9223372036854775807", "x"]).prop_map(|s| json!(s)),
    ];
    let asset = (
        prop::option::of(prop::sample::select(vec![
            "https://a/0.png",
            "",
            " ",
            "data:image/png;base64,AA==",
        ])),
        prop::option::of(prop::sample::select(vec!["https://a/0.jpg", "https://a/0.png"])),
        prop::option::of(number()),
        prop::option::of(chat_text()),
    )
        .prop_map(|(original, url, width, content)| {
            let mut a = json!({"kind": "image", "mime_type": "image/png"});
            if let Some(o) = original {
                a["original_data_url"] = json!(o);
            }
            if let Some(u) = url {
                a["url"] = json!(u);
            }
            if let Some(w) = width {
                a["width"] = w;
            }
            if let Some(c) = content {
                a["content"] = json!(c);
            }
            a
        });
    let response = (
        prop::option::of(prop::sample::select(vec![
            "item-0",
            "item-1",
            "item-7",
            "x",
            "item-99999999999999999999",
        ])),
        status(),
        vec(asset, 0..3),
        prop::option::of(any_json()),
        prop::option::of(credits),
    )
        .prop_map(|(id, status, assets, error, credits)| {
            let mut r = json!({"status": status, "output_assets": assets});
            if let Some(id) = id {
                r["id"] = json!(id);
            }
            if let Some(e) = error {
                r["error"] = e;
            }
            if let Some(c) = credits {
                r["metadata"] = json!({"credits_spent": c, "model": "gen"});
            }
            r
        });
    (status(), vec(response, 0..4), prop::option::of(number())).prop_map(
        |(status, responses, poll)| {
            json!({"request_id": "req", "status": status, "poll_after_seconds": poll,
                   "requests": [{"id": "item-0", "model": "gen"}, {"id": "item-1"}],
                   "responses": responses})
        },
    )
}

#[test]
fn katana_answers() {
    let strategy = prop_oneof![1 => katana_envelope(), 2 => answers(katana_samples())];
    check("katana_answers", 1024, strategy, |v| {
        if let Ok(s) = katana::parse_envelope(&v) {
            match s.status {
                RemoteStatus::Completed | RemoteStatus::Partial => {
                    prop_assert!(!s.assets.is_empty() || s.text.is_some(), "{s:?}");
                }
                RemoteStatus::Failed | RemoteStatus::Rejected => {
                    prop_assert!(!s.errors.is_empty(), "{s:?}");
                }
                _ => {}
            }
            prop_assert!(s.request_id.as_deref().is_none_or(|r| !r.is_empty()));
        }
        let _ = katana::parse_balance(&v);
        let _ = chat::parse_completion(&v);
        let _ = chat::usage_of(&v);
        if let Some(u) = v.get("usage") {
            let _ = chat::usage_of(u);
        }
        let _ = http::message_from_value(&v);
        Ok(())
    });
}

fn model_samples() -> Vec<Value> {
    vec![
        json!({
            "images": [
                {"public_model_name": "gpt-image-2", "display_name": "GPT Image 2", "credits": 16,
                 "supported_aspects": ["1:1", "16:9"], "maximum_reference_images": 8},
                {"public_model_name": "anima-base", "credits": "3.5", "supported_aspects": ["1:1"]},
                {"display_name": "nameless", "credits": 1}
            ],
            "videos": [{"public_model_name": "seedance-2-0", "credits": 200,
                        "video_lengths_and_costs": {"5": 200, "10": 375, "15": 560}}],
            "text": [
                {"public_model_name": "grok-4-3", "context_length": 1_000_000},
                {"public_model_name": "glm-5-2", "max_context_length": 202_752, "privacy_mode": "E2EE Private"}
            ],
            "text_pricing": {
                "grok-4-3": {"input_per_million": 300.0, "output_per_million": 528.9,
                             "cache_read_per_million": 42.4, "cache_write_per_million": null},
                "glm-5-2": {"input_per_million": 120.0, "output_per_million": 480.0}
            }
        }),
        json!({"object": "list", "data": [
            {"id": "gpt-image-2", "type": "image", "credits": 16},
            {"id": "seedance-2-0", "type": "video", "video_lengths_and_costs": {"5": 200}},
            {"id": "grok-4-3", "type": "text", "credits": {"input": 300.0, "output": 528.9}}
        ]}),
    ]
}

#[test]
fn katana_models() {
    let bundled = Catalogue::bundled();
    check("katana_models", 512, answers(model_samples()), |v| {
        if let Ok(live) = read_live(&v, bundled) {
            prop_assert!(!live.catalogue.models().is_empty());
        }
        Ok(())
    });
}

fn imaginepro_samples() -> Vec<Value> {
    vec![
        json!({"success": true, "messageId": "m-1", "createdAt": "2026-01-01T00:00:00Z"}),
        json!({"success": false, "error": "bad prompt"}),
        json!({"messageId": "m", "status": "DONE", "progress": 100,
               "images": ["https://c/1.png", "https://c/2.png"], "uri": "https://c/u.png",
               "originalUrl": "https://discord/o.png", "buttons": ["U1", "🔄"],
               "originatingMessageId": "p-1"}),
        json!({"messageId": "v", "status": "DONE", "videoUrl": "https://c/v.mp4",
               "results": [{"index": 1, "url": "https://c/1.webm"}, {"index": 0, "url": "https://c/0.mp4"}]}),
        json!({"messageId": "m", "status": "PROCESSING", "progress": "42%"}),
        json!({"status": "FAIL", "error": "banned word"}),
        json!({"message": ["prompt must be a string", "too long"], "error": "Bad Request", "statusCode": 400}),
    ]
}

#[test]
fn imaginepro_answers() {
    check(
        "imaginepro_answers",
        1024,
        (answers(imaginepro_samples()), any::<u16>(), any::<bool>()),
        |(v, status, video)| {
            let _ = imaginepro::parse_submit(&v);
            if let Ok(s) = imaginepro::parse_message(&v, video) {
                match s.status {
                    RemoteStatus::Completed => prop_assert!(!s.assets.is_empty(), "{s:?}"),
                    RemoteStatus::Failed => prop_assert!(!s.errors.is_empty(), "{s:?}"),
                    _ => {}
                }
                prop_assert!(s.progress.is_none_or(|p| p <= 100));
            }
            let _ = imaginepro::originating_message(&v);
            let _ = imaginepro::classify_error(status, &v.to_string());
            Ok(())
        },
    );
}

#[test]
fn raw_bodies() {
    let text = prop_oneof![
        any::<String>(),
        prop::sample::select(vec![
            "data:image/png;base64,iVBORw0KGgo=",
            "DATA:;BASE64,aGk",
            "data:text/plain,hi%20there",
            "https://user:pass@host/p?sig=abc&token=x#f",
            "  120 ",
            "{\"error\": {\"message\": \"x\"}}",
        ])
        .prop_map(str::to_owned),
    ];
    check(
        "raw_bodies",
        1024,
        (text, vec(any::<u8>(), 0..64), any::<u16>(), 0usize..400),
        |(s, bytes, status, max)| {
            let _ = http::error_message(&bytes);
            let _ = http::error_message(s.as_bytes());
            let _ = http::parse_retry_after(&s);
            let _ = http::redact_url(&s);
            let _ = katana::decode_data_url(&s);
            let _ = imaginepro::classify_error(status, &s);
            let cut = http::truncate(&s, max);
            prop_assert!(cut.chars().count() <= max + 1);
            Ok(())
        },
    );
}

/// A piece of a streamed answer, as the sender meant it.
#[derive(Debug, Clone)]
enum Piece {
    Answer(String),
    Reasoning(String),
    /// A comment, `event:`, `id:` or `retry:` line: nothing to read.
    Noise(String),
}

/// Text with multi-byte characters in it (2, 3 and 4 bytes in UTF-8).
fn chat_text() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => vec(prop::sample::select(vec!["a", " ", "é", "—", "🦊", "日本", "\n", "\"", "\\", "e\u{301}", "data: x"]), 0..6)
            .prop_map(|v| v.concat()),
        1 => any::<String>(),
    ]
}

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        4 => chat_text().prop_map(Piece::Answer),
        1 => chat_text().prop_map(Piece::Reasoning),
        1 => prop::sample::select(vec![": keep-alive", "event: message", "id: 7", "retry: 100", ":"])
            .prop_map(|s| Piece::Noise(s.to_owned())),
    ]
}

/// The body of a streamed chat answer: the pieces, the usage chunk, the end marker.
fn stream_body(pieces: &[Piece], crlf: bool, tight: bool) -> Vec<u8> {
    let eol = if crlf { "\r\n" } else { "\n" };
    let data = if tight { "data:" } else { "data: " };
    let mut s = String::new();
    for p in pieces {
        let delta = match p {
            Piece::Answer(t) => json!({"content": t}),
            Piece::Reasoning(t) => json!({"reasoning_content": t}),
            Piece::Noise(line) => {
                s.push_str(&format!("{line}{eol}"));
                continue;
            }
        };
        let chunk = json!({"id": "c1", "object": "chat.completion.chunk", "model": "grok-4-3",
                           "choices": [{"index": 0, "delta": delta, "finish_reason": null}]});
        s.push_str(&format!("{data}{chunk}{eol}{eol}"));
    }
    let usage = json!({"id": "c1", "choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 2,
        "imgnai": {"credits_reserved": 10.0, "credits_charged": 0.1, "credits_refunded": 9.9}}});
    s.push_str(&format!("{data}{usage}{eol}{eol}{data}[DONE]{eol}{eol}"));
    s.into_bytes()
}

/// Cuts `bytes` at `cuts` (positions taken modulo the length).
fn split<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    at.sort_unstable();
    at.dedup();
    let mut out = Vec::new();
    let mut from = 0;
    for c in at {
        out.push(&bytes[from..c]);
        from = c;
    }
    out.push(&bytes[from..]);
    out
}

/// Decodes `reads` one after another: the payloads, and the answer the sink was handed.
fn read(reads: &[&[u8]]) -> (Vec<String>, String, ChatStream) {
    let seen = Mutex::new(String::new());
    let sink = |d: Delta<'_>| {
        if let Delta::Answer(a) = d {
            seen.lock().expect("not poisoned").push_str(a);
        }
    };
    let mut decoder = SseDecoder::default();
    let mut stream = ChatStream::default();
    let mut payloads = Vec::new();
    for r in reads {
        for data in decoder.feed(r) {
            stream.event(&data, &sink);
            payloads.push(data);
        }
    }
    for data in decoder.finish() {
        stream.event(&data, &sink);
        payloads.push(data);
    }
    (payloads, seen.into_inner().expect("not poisoned"), stream)
}

#[test]
fn sse_split() {
    check(
        "sse_split",
        512,
        (vec(piece(), 0..8), any::<bool>(), any::<bool>(), vec(any::<usize>(), 0..24)),
        |(pieces, crlf, tight, cuts)| {
            let body = stream_body(&pieces, crlf, tight);
            let (whole_payloads, whole_seen, whole) = read(&[&body]);
            let (payloads, seen, stream) = read(&split(&body, &cuts));
            prop_assert_eq!(&payloads, &whole_payloads);
            let sent: String = pieces
                .iter()
                .filter_map(|p| if let Piece::Answer(t) = p { Some(t.as_str()) } else { None })
                .collect();
            let thought: String = pieces
                .iter()
                .filter_map(|p| if let Piece::Reasoning(t) = p { Some(t.as_str()) } else { None })
                .collect();
            prop_assert_eq!(&seen, &sent);
            prop_assert_eq!(&whole_seen, &sent);
            let snap = stream.finish(None).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let text = snap.text.expect("a text answer");
            prop_assert_eq!(&text.answer, &sent);
            prop_assert_eq!(&text.reasoning, &thought);
            prop_assert!(text.warnings.is_empty(), "{:?}", text.warnings);
            let whole = whole.finish(None).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(whole.text.expect("a text answer").answer, sent);
            Ok(())
        },
    );
}

/// Bytes that look like a stream often enough to reach past the line splitting.
fn stream_bytes() -> impl Strategy<Value = Vec<u8>> {
    let part = prop_oneof![
        vec(any::<u8>(), 0..16),
        prop::sample::select(vec![
            "data: ",
            "data:",
            "\n",
            "\r\n",
            "\r",
            "[DONE]",
            "{\"choices\":[{\"delta\":{\"content\":\"hé🦊\"}}]}",
            "{\"usage\":{\"imgnai\":{\"credits_charged\":1e400}}}",
            "{\"error\":{\"message\":\"boom\"}}",
            "{\"id\":\"other\",\"choices\":[{\"index\":1,\"delta\":{\"content\":\"x\"}}]}",
            ": c",
            "\u{feff}",
            "\u{1F98A}",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
    ];
    vec(part, 0..24).prop_map(|v| v.concat())
}

#[test]
fn sse_bytes() {
    check(
        "sse_bytes",
        512,
        (stream_bytes(), vec(any::<usize>(), 0..24), any::<bool>()),
        |(bytes, cuts, cut)| {
            let (whole_payloads, whole_seen, whole) = read(&[&bytes]);
            let (payloads, seen, stream) = read(&split(&bytes, &cuts));
            prop_assert_eq!(payloads, whole_payloads);
            prop_assert_eq!(&seen, &whole_seen);
            let _ = stream.partial();
            let cut = cut.then(|| conjure_core::ProviderError::Transport {
                sent: true,
                message: "error decoding response body: unexpected EOF".into(),
            });
            let _ = stream.finish(cut);
            let _ = whole.finish(None);
            Ok(())
        },
    );
}

const VARS: &[&str] =
    &["KATANA_API_KEY", "KATANA_API_SECRET", "IMAGINEPRO_API_KEY", "OTHER_TOKEN", "export", "é"];

/// One line of a secrets file, as a person might write it.
fn env_line() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        4 => prop::sample::select(VARS).prop_map(str::to_owned),
        1 => any::<String>(),
    ];
    let value = prop_oneof![
        prop::sample::select(vec![
            "kk-123",
            "ss:with:colons",
            "\"quoted\"",
            "'single'",
            "\"",
            "",
            "a=b",
            " spaced "
        ])
        .prop_map(str::to_owned),
        any::<String>(),
    ];
    prop_oneof![
        4 => (key, value, 0u8..8).prop_map(|(k, v, style)| match style {
            0 => format!("{k}={v}"),
            1 => format!("export {k}={v}"),
            2 => format!("  {k} = \"{v}\"  "),
            3 => format!("{k}='{v}'"),
            4 => format!("export\t{k}={v}"),
            5 => format!("{k}=\"{v}"),
            6 => format!("#{k}={v}"),
            _ => format!("export  {k} ={v}"),
        }),
        1 => prop::sample::select(vec!["", "# comment", "   ", "\u{feff}", "=", "novalue"]).prop_map(str::to_owned),
    ]
}

fn env_file() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (vec(env_line(), 0..8), any::<bool>(), any::<bool>()).prop_map(|(lines, crlf, bom)| {
            let eol = if crlf { "\r\n" } else { "\n" };
            let bom = if bom { "\u{feff}" } else { "" };
            format!("{bom}{}", lines.join(eol))
        }),
        1 => any::<String>(),
    ]
}

#[test]
fn credentials_text() {
    check("credentials_text", 1024, env_file(), |text| {
        let Ok(values) = parse_env_file(&text) else { return Ok(()) };
        let values: BTreeMap<String, String> = values.into_iter().collect();
        let written = render_env_file(&values);
        let again = parse_env_file(&written).map_err(|line| {
            TestCaseError::fail(format!(
                "conjure's own file is malformed at line {line}:\n{written}"
            ))
        })?;
        let again: BTreeMap<String, String> = again.into_iter().collect();
        prop_assert_eq!(&again, &values, "written as:\n{}", written);
        if let (Some(k), Some(s)) = (values.get("KATANA_API_KEY"), values.get("KATANA_API_SECRET"))
        {
            let _ = KatanaCredentials::new(k, s);
        }
        Ok(())
    });
}
