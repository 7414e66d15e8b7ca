//! Katana's text wire through the gateway (`POST /v1/chat/completions`): whole, streamed and
//! async answers for a member's key, on real Postgres with the sandbox upstream. Every test
//! counts the chat POSTs the sandbox received: one per accepted request, none for a refusal.

use std::net::SocketAddr;

use conjure_app::{App, Config};
use conjure_core::ProviderId;
use conjure_core::money::CreditPrice;
use conjure_gateway::member::MemberId;
use conjure_gateway::{Gateway, PgStore, admin, keys, server};
use conjure_providers::registry::ProviderSettings;
use conjure_test::pg::{TestDb, fresh_database};
use conjure_test::{Faults, Sandbox, SandboxConfig, TEST_KEY, TEST_SECRET};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// The ImaginePro key the gateway holds (members never see it).
pub const IP_KEY: &str = "ip_SENTINEL_gateway_key_5d1e";

/// A gateway with both providers at one sandbox.
pub struct Wire {
    pub db: TestDb,
    pub sandbox: Sandbox,
    pub store: PgStore,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Wire {
    pub async fn start(faults: Faults) -> Wire {
        Wire::start_at(faults, None).await
    }

    /// [`Wire::start`] with Katana at `katana` instead of the sandbox.
    pub async fn start_at(faults: Faults, katana: Option<String>) -> Wire {
        let db = fresh_database().await;
        let dir = tempfile::tempdir().expect("temp dir");
        let sandbox = conjure_sandbox::start(SandboxConfig {
            addr: "127.0.0.1:0".parse().expect("addr"),
            keys: vec![conjure_sandbox::ApiKey::new(
                TEST_KEY,
                TEST_SECRET,
                conjure_core::Credits::whole(100_000),
            )],
            imaginepro_keys: vec![conjure_sandbox::ImagineProKey::new(
                IP_KEY,
                conjure_core::Credits::whole(100_000),
            )],
            faults,
            media_dir: Some(dir.path().join("media")),
        })
        .await
        .expect("sandbox");
        let mut config = Config::new(dir.path().join("data"), dir.path().join("config"));
        for (provider, price) in [
            (ProviderId::Katana, Some(CreditPrice::KATANA_REFERENCE)),
            (ProviderId::ImaginePro, None),
        ] {
            let base_url = match (provider, &katana) {
                (ProviderId::Katana, Some(url)) => url.clone(),
                _ => sandbox.base_url(),
            };
            let settings = ProviderSettings { base_url, usd_per_credit: price };
            config.providers.insert(provider, settings);
        }
        config.env.insert("KATANA_API_KEY".into(), TEST_KEY.into());
        config.env.insert("KATANA_API_SECRET".into(), TEST_SECRET.into());
        config.env.insert("IMAGINEPRO_API_KEY".into(), IP_KEY.into());
        config.catalogue_check = false;
        let store = PgStore::connect_with(&db.url, 2).await.expect("connect");
        let pool = PgStore::connect_with(&db.url, 8).await.expect("connect");
        let gateway = Gateway::new(pool, App::new(config), "gw-wire");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(server::serve(listener, gateway, std::future::pending()));
        Wire { db, sandbox, store, addr, _dir: dir }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Adds a member with `per_request` pre-approved and a daily budget; returns its key.
    pub async fn member(
        &self,
        name: &str,
        per_request: Option<&str>,
        daily: Option<&str>,
    ) -> String {
        let limit = |s: &str| conjure_core::policy::Limit::parse(s).expect("limit");
        let budgets = daily
            .map(|d| conjure_core::policy::Budget {
                provider: None,
                window: conjure_core::policy::BudgetWindow::Day,
                limit: limit(d),
            })
            .into_iter()
            .collect();
        let now = conjure_app::timefmt::now_ms();
        let new = admin::NewMember {
            name: name.to_owned(),
            budgets,
            providers: None,
            per_request: per_request.map(limit),
        };
        admin::add_member(&self.store, &new, now).await.expect("member");
        let key = keys::create(&self.store, Some(&MemberId(name.to_owned())), now).await;
        key.expect("key").expose().to_owned()
    }

    pub fn chat_posts(&self) -> u64 {
        self.sandbox.stats().chat_posts_received
    }

    /// A POST with a member's key; the status and the body as JSON (or as a string).
    pub async fn post(&self, path: &str, key: &str, body: &Value) -> (u16, Value) {
        let r = reqwest::Client::new()
            .post(self.url(path))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .expect("send");
        let status = r.status().as_u16();
        let text = r.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    pub async fn get(&self, path: &str, key: &str) -> (u16, Value) {
        let r = reqwest::Client::new().get(self.url(path)).bearer_auth(key).send().await;
        let r = r.expect("send");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

fn ask(prompt: &str) -> Value {
    json!({"model": "q-naifu-a3b", "max_tokens": 200,
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": prompt}]})
}

fn streamed(prompt: &str) -> Value {
    let mut body = ask(prompt);
    body["stream"] = true.into();
    body["stream_options"] = json!({"include_usage": true});
    body
}

/// The `data:` payloads of an SSE body.
fn payloads(body: &str) -> Vec<String> {
    body.split_terminator("\n\n")
        .map(|f| f.strip_prefix("data: ").unwrap_or_else(|| panic!("not a data frame: {f:?}")))
        .map(str::to_owned)
        .collect()
}

/// The `delta.content` pieces of a stream, in order.
fn pieces(payloads: &[String]) -> Vec<String> {
    payloads
        .iter()
        .filter_map(|p| serde_json::from_str::<Value>(p).ok())
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str().map(str::to_owned))
        .filter(|s| !s.is_empty())
        .collect()
}

/// The `delta.reasoning_content` pieces of a stream, in order.
fn reasoning(payloads: &[String]) -> Vec<String> {
    payloads
        .iter()
        .filter_map(|p| serde_json::from_str::<Value>(p).ok())
        .filter_map(|c| c["choices"][0]["delta"]["reasoning_content"].as_str().map(str::to_owned))
        .collect()
}

async fn stream_from(url: String, auth: &str, body: &Value) -> (u16, String) {
    let r = reqwest::Client::new().post(url).bearer_auth(auth).json(body).send().await;
    let r = r.expect("send");
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_streamed_and_async_answers_are_sent_once_and_only_their_member_reads_them() {
    let w = Wire::start(Faults::default()).await;
    let alice = w.member("alice", Some("50cr"), Some("1000cr")).await;
    let bob = w.member("bob", Some("50cr"), None).await;

    // Whole: one chat.completion, its charge settled from usage.imgnai.
    let (status, whole) = w.post("/v1/chat/completions", &alice, &ask("a haiku")).await;
    assert_eq!(status, 200, "{whole}");
    assert_eq!(whole["object"], "chat.completion");
    let content = whole["choices"][0]["message"]["content"].as_str().expect("content");
    assert!(content.contains("a haiku"), "{whole}");
    let charged = whole["usage"]["imgnai"]["credits_charged"].as_f64().expect("charged");
    assert!(charged > 0.0 && charged < 10.0, "{whole}");
    assert_eq!(whole["conjure"]["state"], "completed");
    assert_eq!(w.chat_posts(), 1);

    // Streamed: the same pieces as the upstream's own stream, in order, byte for byte.
    let (status, body) =
        stream_from(w.url("/v1/chat/completions"), &alice, &streamed("a limerick")).await;
    assert_eq!(status, 200, "{body}");
    let ours = payloads(&body);
    assert_eq!(ours.last().map(String::as_str), Some("[DONE]"), "{body}");
    assert_eq!(w.chat_posts(), 2);
    let direct = format!("{TEST_KEY}:{TEST_SECRET}");
    let upstream = format!("{}/v1/chat/completions", w.sandbox.base_url());
    let (_, theirs) = stream_from(upstream, &direct, &streamed("a limerick")).await;
    let theirs = payloads(&theirs);
    assert!(pieces(&theirs).len() > 2, "a stream of several pieces: {theirs:?}");
    assert_eq!(pieces(&ours), pieces(&theirs));
    assert_eq!(reasoning(&ours), reasoning(&theirs));
    assert!(!reasoning(&ours).is_empty(), "q-naifu-a3b reasons in the sandbox: {body}");
    let first: Value = serde_json::from_str(&ours[0]).expect("JSON");
    assert_eq!(first["choices"][0]["delta"]["role"], "assistant", "{first}");
    let usage: Value = serde_json::from_str(&ours[ours.len() - 2]).expect("JSON");
    assert!(usage["usage"]["imgnai"]["credits_charged"].as_f64().is_some(), "{usage}");
    let stream_job = usage["conjure"]["job"].as_str().expect("job").to_owned();
    assert_eq!(usage["conjure"]["state"], "completed", "{usage}");
    assert_eq!(w.chat_posts(), 3, "the direct call is the third");

    // Async: Katana's envelope, polled to the text asset.
    let (status, sent) = w.post("/v1/chat/completions?wait=false", &alice, &ask("a sonnet")).await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(w.chat_posts(), 4);
    let id = sent["request_id"].as_str().expect("request id").to_owned();
    let mut last = Value::Null;
    for _ in 0..30 {
        let (status, polled) = w.get(&format!("/v1/generation-requests/{id}"), &alice).await;
        assert_eq!(status, 200, "{polled}");
        last = polled;
        if last["status"] == "completed" {
            break;
        }
    }
    assert_eq!(last["status"], "completed", "{last}");
    let asset = &last["responses"][0]["output_assets"][0];
    assert!(asset["content"].as_str().is_some_and(|c| c.contains("a sonnet")), "{last}");
    assert!(asset["metadata"]["usage"]["imgnai"]["credits_charged"].is_number(), "{last}");
    assert_eq!(w.chat_posts(), 4, "polls are not POSTs");

    // Bob finds none of Alice's chat jobs.
    let whole_job = whole["conjure"]["job"].as_str().unwrap();
    for id in [whole_job, stream_job.as_str(), id.as_str(), whole["id"].as_str().unwrap()] {
        let (status, body) = w.get(&format!("/v1/generation-requests/{id}"), &bob).await;
        assert_eq!(status, 404, "{id}: {body}");
        assert!(!body.to_string().contains("haiku"), "{body}");
    }

    // No key of a member or of the gateway is in the database in clear.
    let rows = crate::members::all_rows(&w.db.url).await;
    for secret in [alice.as_str(), bob.as_str(), TEST_KEY, TEST_SECRET, IP_KEY] {
        assert!(!rows.contains(secret), "a key is in the database");
    }

    // Her balance counts what was charged, not the reserves.
    let (_, balance) = w.get("/v1/me/balance", &alice).await;
    let left: f64 = balance["credits"].as_str().unwrap().parse().unwrap();
    assert!(left > 1000.0 - 10.0, "{balance}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn above_the_limit_a_402_sends_nothing_and_the_approved_request_goes_once() {
    let w = Wire::start(Faults::default()).await;
    // The reserve is at least 10 credits: above a 5-credit pre-approval.
    let carol = w.member("carol", Some("5cr"), Some("100cr")).await;
    let body = streamed("approve me");
    let (status, answer) = w.post("/v1/chat/completions", &carol, &body).await;
    assert_eq!(status, 402, "{answer}");
    assert_eq!(w.chat_posts(), 0);
    let url = answer["approval_url"].as_str().expect("approval url").to_owned();
    assert!(answer["detail"].as_str().unwrap().contains(&url), "{answer}");
    assert_eq!(answer["quote"]["credits"], "10.0", "{answer}");
    let path = url.split_once(&w.addr.to_string()).unwrap().1.to_owned();
    let (status, approved) = w.post(&path, &carol, &json!({})).await;
    assert_eq!(status, 200, "{approved}");
    let (status, sse) = stream_from(w.url("/v1/chat/completions"), &carol, &body).await;
    assert_eq!(status, 200, "{sse}");
    assert!(sse.ends_with("data: [DONE]\n\n"), "{sse}");
    assert_eq!(w.chat_posts(), 1);
    // The approval was used: the same request asks again.
    let (status, again) = w.post("/v1/chat/completions", &carol, &body).await;
    assert!(status == 402 || status == 409, "{status} {again}");
    assert_eq!(w.chat_posts(), 1);
    // Fields the gateway cannot pass on are refused, not dropped.
    let mut tools = ask("x");
    tools["tools"] = json!([]);
    let (status, refused) = w.post("/v1/chat/completions", &carol, &tools).await;
    assert_eq!(status, 400, "{refused}");
    assert!(refused["error"]["hint"].as_str().unwrap().contains("leave `tools` out"), "{refused}");
    assert_eq!(w.chat_posts(), 1);
}

/// Eight members' requests at once against a budget that fits three reserves. Every accepted
/// request's answer is lost (the sandbox answers 500 after taking the reserve), so each stays
/// at its full exposure: exactly three go upstream and the budget holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_concurrent_chats_against_a_budget_for_three_send_three() {
    let w = Wire::start(Faults { text_500: true, ..Faults::default() }).await;
    let dave = w.member("dave", Some("20cr"), Some("30cr")).await;
    let w = std::sync::Arc::new(w);
    let attempts = (0..8).map(|i| {
        let w = std::sync::Arc::clone(&w);
        let key = dave.clone();
        tokio::spawn(async move {
            let mut body = ask(&format!("question {i}"));
            body["max_tokens"] = 20.into();
            w.post("/v1/chat/completions", &key, &body).await
        })
    });
    let results: Vec<(u16, Value)> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.expect("no panic"))
        .collect();
    let unknown: Vec<_> = results.iter().filter(|(s, _)| *s == 502).collect();
    let over: Vec<_> = results
        .iter()
        .filter(|(s, b)| *s == 403 && b["error"]["code"] == "budget_exceeded")
        .collect();
    assert_eq!((unknown.len(), over.len()), (3, 5), "{results:?}");
    for (_, b) in &unknown {
        assert_eq!(b["conjure"]["state"], "unknown", "{b}");
        assert_eq!(b["conjure"]["exposure_credits"], "10.0", "{b}");
    }
    assert_eq!(w.chat_posts(), 3);
    let (_, balance) = w.get("/v1/me/balance", &dave).await;
    assert_eq!(balance["credits"], "0.0", "{balance}");
    assert_eq!(balance["conjure"]["exposure"]["jobs"], 3, "{balance}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_upstream_gives_what_arrived_then_unknown_and_is_never_sent_again() {
    let w = Wire::start(Faults { stream_cut_after: Some(2), ..Faults::default() }).await;
    let erin = w.member("erin", Some("50cr"), Some("100cr")).await;
    let mut ask = streamed("cut me off");
    // A model that does not reason: the cut counts answer chunks.
    ask["model"] = "claude-opus-4-8".into();
    let (status, body) = stream_from(w.url("/v1/chat/completions"), &erin, &ask).await;
    assert_eq!(status, 200, "{body}");
    let frames = payloads(&body);
    assert_eq!(pieces(&frames).len(), 2, "{body}");
    assert!(!body.contains("[DONE]"), "{body}");
    let end: Value = serde_json::from_str(frames.last().unwrap()).expect("JSON");
    assert_eq!(end["error"]["code"], "outcome_unknown", "{end}");
    assert_eq!(end["error"]["conjure"]["state"], "unknown", "{end}");
    assert_eq!(end["error"]["conjure"]["exposure_credits"], "10.0", "{end}");
    assert_eq!(end["error"]["conjure"]["answer_so_far"], pieces(&frames).concat(), "{end}");
    let job = end["error"]["conjure"]["job"].as_str().unwrap();
    let (status, polled) = w.get(&format!("/v1/generation-requests/{job}"), &erin).await;
    assert_eq!(status, 200, "{polled}");
    assert_eq!(polled["conjure"]["state"], "unknown", "{polled}");
    assert_eq!(polled["conjure"]["exposure_credits"], "10.0", "{polled}");
    assert_eq!(w.chat_posts(), 1);
    let (_, balance) = w.get("/v1/me/balance", &erin).await;
    assert_eq!(balance["credits"], "90.0", "{balance}");
}

/// A Katana stand-in whose stream sends its first words, then waits for `release` before the
/// rest: a gateway that buffered the answer would hand the member nothing until the end.
async fn holding_upstream(release: std::sync::Arc<tokio::sync::Notify>) -> String {
    use axum::body::{Body, Bytes};
    use futures_util::StreamExt as _;
    let chunk = |delta: Value, finish: Value| {
        let c = json!({"id": "chatcmpl-held", "object": "chat.completion.chunk", "created": 1,
            "model": "claude-opus-4-8", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        Bytes::from(format!("data: {c}\n\n"))
    };
    let usage = json!({"id": "chatcmpl-held", "object": "chat.completion.chunk", "created": 1,
        "model": "claude-opus-4-8", "choices": [], "usage": {"prompt_tokens": 9,
        "completion_tokens": 3, "total_tokens": 12, "imgnai": {"credits_reserved": 10.0,
        "credits_charged": 0.1, "credits_refunded": 9.9, "privacy_mode": "Anonymized",
        "billing_source": "api_key"}}});
    let first = vec![
        chunk(json!({"role": "assistant", "content": ""}), Value::Null),
        chunk(json!({"content": "Held "}), Value::Null),
    ];
    let rest = vec![
        chunk(json!({"content": "back?"}), Value::Null),
        chunk(json!({}), json!("stop")),
        Bytes::from(format!("data: {usage}\n\n")),
        Bytes::from_static(b"data: [DONE]\n\n"),
    ];
    let handler = move || {
        let release = std::sync::Arc::clone(&release);
        let (first, rest) = (first.clone(), rest.clone());
        async move {
            let body = futures_util::stream::iter(first.into_iter().map(Ok::<_, std::io::Error>))
                .chain(futures_util::stream::once(async move {
                    release.notified().await;
                    Ok(Bytes::new())
                }))
                .chain(futures_util::stream::iter(rest.into_iter().map(Ok)));
            axum::response::Response::builder()
                .header("content-type", "text/event-stream")
                .body(Body::from_stream(body))
                .expect("response")
        }
    };
    let app = axum::Router::new().route("/v1/chat/completions", axum::routing::post(handler));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// The member reads the first words while upstream still holds the rest back: the stream is
/// relayed as it arrives. A gateway that buffered would never hand them over, and the hang
/// guard fails the test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_reaches_the_member_while_upstream_is_still_writing_it() {
    use futures_util::StreamExt as _;
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let upstream = holding_upstream(std::sync::Arc::clone(&release)).await;
    let w = Wire::start_at(Faults::default(), Some(upstream)).await;
    let gil = w.member("gil", Some("50cr"), Some("100cr")).await;
    let mut ask = streamed("are you there?");
    ask["model"] = "claude-opus-4-8".into();
    let first_words = async {
        let response = reqwest::Client::new()
            .post(w.url("/v1/chat/completions"))
            .bearer_auth(&gil)
            .json(&ask)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 200);
        let mut body = response.bytes_stream();
        let mut seen = Vec::new();
        while !String::from_utf8_lossy(&seen).contains("Held ") {
            let piece = body.next().await.expect("more of the stream").expect("bytes");
            seen.extend_from_slice(&piece);
        }
        (body, seen)
    };
    // A hang guard, not a speed assertion: well inside the gateway's own upstream timeout.
    let (mut body, mut seen) =
        tokio::time::timeout(std::time::Duration::from_secs(20), first_words)
            .await
            .expect("the first words arrive before upstream finished the answer");
    assert!(!String::from_utf8_lossy(&seen).contains("back?"));
    release.notify_one();
    while let Some(piece) = body.next().await {
        seen.extend_from_slice(&piece.expect("bytes"));
    }
    let text = String::from_utf8(seen).expect("UTF-8");
    assert_eq!(pieces(&payloads(&text)), vec!["Held ".to_owned(), "back?".to_owned()], "{text}");
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    let usage: Value = serde_json::from_str(&payloads(&text)[payloads(&text).len() - 2]).unwrap();
    assert_eq!(usage["usage"]["imgnai"]["credits_charged"], 0.1, "{usage}");
    assert_eq!(usage["conjure"]["credits_spent"], "0.1", "{usage}");
}

/// A careless upstream repeats the gateway's own credentials in its error bodies: they reach
/// neither the member's answer nor the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_an_upstream_echoes_never_reach_the_member() {
    let faults =
        Faults { echo_credentials: true, text_500: true, submit_429: true, ..Faults::default() };
    let w = Wire::start(faults).await;
    let hal = w.member("hal", Some("50cr"), Some("100cr")).await;
    let (status, chat) = w.post("/v1/chat/completions", &hal, &ask("echo")).await;
    assert_eq!(status, 502, "{chat}");
    let (status, image) = w.post("/api/v1/nova/imagine", &hal, &json!({"prompt": "echo"})).await;
    assert_eq!(status, 429, "{image}");
    assert_eq!(image["error"], "Too Many Requests", "{image}");
    let rows = crate::members::all_rows(&w.db.url).await;
    for secret in [TEST_KEY, TEST_SECRET, IP_KEY] {
        assert!(!chat.to_string().contains(secret), "{chat}");
        assert!(!image.to_string().contains(secret), "{image}");
        assert!(!rows.contains(secret), "a provider credential is in the database");
    }
    assert_eq!(w.chat_posts(), 1);
    assert_eq!(w.sandbox.stats().imaginepro_posts_received, 1);
}

/// A member who hangs up mid-stream stops nothing: the answer is still read to its end and the
/// job settled with its real charge, and nothing is sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_hanging_up_mid_stream_leaves_the_job_recorded_and_settled() {
    use futures_util::StreamExt as _;
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let upstream = holding_upstream(std::sync::Arc::clone(&release)).await;
    let w = Wire::start_at(Faults::default(), Some(upstream)).await;
    let ivy = w.member("ivy", Some("50cr"), Some("100cr")).await;
    let mut ask = streamed("hang up on me");
    ask["model"] = "claude-opus-4-8".into();
    let first_words = async {
        let response = reqwest::Client::new()
            .post(w.url("/v1/chat/completions"))
            .bearer_auth(&ivy)
            .json(&ask)
            .send()
            .await
            .expect("send");
        let mut body = response.bytes_stream();
        let mut seen = Vec::new();
        while !String::from_utf8_lossy(&seen).contains("Held ") {
            seen.extend_from_slice(&body.next().await.expect("more").expect("bytes"));
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(20), first_words)
        .await
        .expect("hang guard");
    // The member's connection is gone; upstream finishes the answer.
    release.notify_one();
    let mut last = Value::Null;
    for _ in 0..200 {
        // The provider's id is recorded once the answer (or a checkpoint of it) is.
        let (status, polled) = w.get("/v1/generation-requests/chatcmpl-held", &ivy).await;
        assert!(status == 200 || status == 404, "{polled}");
        last = polled;
        if last["conjure"]["state"] == "completed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(last["conjure"]["state"], "completed", "{last}");
    assert_eq!(last["conjure"]["credits_spent"], "0.1", "{last}");
    assert_eq!(last["responses"][0]["output_assets"][0]["content"], "Held back?", "{last}");
    let (_, balance) = w.get("/v1/me/balance", &ivy).await;
    assert_eq!(balance["credits"], "99.9", "{balance}");
}

/// A Katana stand-in that answers a streamed request with one whole `chat.completion`.
async fn whole_upstream() -> String {
    let handler = || async {
        axum::Json(json!({"id": "chatcmpl-whole", "object": "chat.completion", "created": 1,
            "model": "claude-opus-4-8", "choices": [{"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": "All at once — «ok» 👋"}}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 6, "total_tokens": 15,
                "imgnai": {"credits_reserved": 10.0, "credits_charged": 0.2, "credits_refunded": 9.8}}}))
    };
    let app = axum::Router::new().route("/v1/chat/completions", axum::routing::post(handler));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// An upstream that answers a streamed request whole still gives the member the answer, as
/// one chunk, then the usage and the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_upstream_answer_to_a_stream_still_reaches_the_member() {
    let w = Wire::start_at(Faults::default(), Some(whole_upstream().await)).await;
    let jo = w.member("jo", Some("50cr"), Some("100cr")).await;
    let mut ask = streamed("all at once");
    ask["model"] = "claude-opus-4-8".into();
    let (status, body) = stream_from(w.url("/v1/chat/completions"), &jo, &ask).await;
    assert_eq!(status, 200, "{body}");
    let frames = payloads(&body);
    assert_eq!(pieces(&frames), vec!["All at once — «ok» 👋".to_owned()], "{body}");
    assert_eq!(frames.last().map(String::as_str), Some("[DONE]"), "{body}");
    let usage: Value = serde_json::from_str(&frames[frames.len() - 2]).expect("JSON");
    assert_eq!(usage["conjure"]["credits_spent"], "0.2", "{usage}");
}
