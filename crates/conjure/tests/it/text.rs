//! `conjure text` against a recording fake of Katana's chat endpoint: the exact request and its
//! headers, streamed answers assembled byte-exact however the bytes are split, usage and
//! credits, cut and malformed streams, the async form, continued conversations, and every bad
//! input refused before anything is sent. Each paid path counts the POSTs the fake received.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use conjure_test::{TEST_KEY, TEST_SECRET, TestContext};

/// The answer the fake streams: multi-byte characters on purpose.
const ANSWER: &str = "Grüße aus der Sandbox — «ok» 🦊\nzweite Zeile";
const REASONING: &str = "thinking…";

/// How the fake answers a chat POST.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Behaviour {
    /// A clean stream (or a whole answer when not asked to stream).
    #[default]
    Normal,
    /// Abort the connection after this many content chunks, before the usage.
    CutAfter(usize),
    /// One chunk of the stream is not JSON.
    Malformed,
    /// A 500 after the (pretend) reserve.
    ServerError,
    /// Send this many content chunks, then nothing more, never ending.
    StallAfter(usize),
}

#[derive(Clone, Default)]
struct Fake {
    posts: Arc<Mutex<Vec<(String, HeaderMap, Value)>>>,
    polls: Arc<Mutex<u32>>,
    behaviour: Behaviour,
    /// Bytes per write of the stream; small values split characters across writes.
    step: usize,
}

fn usage() -> Value {
    json!({"prompt_tokens": 21, "completion_tokens": 17, "total_tokens": 38,
           "imgnai": {"credits_reserved": 10.0, "credits_charged": 0.1, "credits_refunded": 9.9,
                      "privacy_mode": "Anonymized", "billing_source": "api_key"}})
}

fn chunk(delta: &Value, finish: &Value) -> String {
    let c = json!({"id": "chatcmpl-fake1", "object": "chat.completion.chunk", "created": 1,
                   "model": "grok-4-3", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    format!("data: {c}\n\n")
}

/// The stream's events, and how many of them carry answer text before the usage.
fn events(behaviour: Behaviour) -> Vec<String> {
    let mut e = vec![chunk(&json!({"role": "assistant", "content": ""}), &Value::Null)];
    e.push(chunk(&json!({"reasoning_content": REASONING}), &Value::Null));
    let mut content = 0;
    for piece in ANSWER.split_inclusive(' ') {
        if behaviour == Behaviour::CutAfter(content) || behaviour == Behaviour::StallAfter(content)
        {
            return e;
        }
        e.push(chunk(&json!({"content": piece}), &Value::Null));
        content += 1;
        if behaviour == Behaviour::Malformed && content == 2 {
            e.push("data: {\"choices\": [{\"delta\": \n\n".to_owned());
        }
    }
    e.push(chunk(&json!({}), &json!("stop")));
    e.push(format!(
        "data: {}\n\n",
        json!({"id": "chatcmpl-fake1", "object": "chat.completion.chunk", "choices": [], "usage": usage()})
    ));
    e.push("data: [DONE]\n\n".to_owned());
    e
}

async fn chat(State(f): State<Fake>, uri: Uri, headers: HeaderMap, body: String) -> Response {
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    f.posts.lock().unwrap().push((uri.to_string(), headers, body.clone()));
    if f.behaviour == Behaviour::ServerError {
        return (StatusCode::INTERNAL_SERVER_ERROR, "{\"detail\":\"upstream broke\"}")
            .into_response();
    }
    if uri.query().is_some_and(|q| q.contains("wait=false")) {
        return axum::Json(json!({"request_id": "req_text_1", "status": "processing",
                                 "poll_after_seconds": 1, "requests": [], "responses": []}))
        .into_response();
    }
    if body["stream"] != json!(true) {
        return axum::Json(json!({
            "id": "chatcmpl-whole1", "object": "chat.completion", "created": 1, "model": "grok-4-3",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER,
                         "reasoning_content": REASONING}, "finish_reason": "stop"}],
            "usage": usage()
        }))
        .into_response();
    }
    let bytes = events(f.behaviour).concat().into_bytes();
    let step = f.step.max(1);
    let mut pieces: Vec<Result<Bytes, std::io::Error>> =
        bytes.chunks(step).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    if matches!(f.behaviour, Behaviour::CutAfter(_)) {
        pieces.push(Err(std::io::Error::other("cut")));
    }
    let head = futures_util::stream::iter(pieces);
    let body = if matches!(f.behaviour, Behaviour::StallAfter(_)) {
        Body::from_stream(futures_util::StreamExt::chain(head, futures_util::stream::pending()))
    } else {
        Body::from_stream(head)
    };
    Response::builder().header("content-type", "text/event-stream").body(body).unwrap()
}

async fn poll(State(f): State<Fake>, Path(id): Path<String>) -> axum::Json<Value> {
    let mut polls = f.polls.lock().unwrap();
    *polls += 1;
    if *polls < 2 {
        return axum::Json(
            json!({"request_id": id, "status": "processing", "poll_after_seconds": 1}),
        );
    }
    axum::Json(json!({"request_id": id, "status": "completed", "responses": [{
        "status": "completed", "metadata": {"credits_spent": 0.1, "model": "grok-4-3"},
        "output_assets": [{"kind": "text", "mime_type": "text/plain", "content": ANSWER,
                           "reasoning_content": REASONING, "metadata": {"usage": usage()}}]}]}))
}

struct Server {
    fake: Fake,
    t: TestContext,
    _runtime: tokio::runtime::Runtime,
}

fn serve(behaviour: Behaviour, step: usize) -> Server {
    let fake = Fake { behaviour, step, ..Fake::default() };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let app = Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/generation-requests/{id}", get(poll))
        .with_state(fake.clone());
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut t = crate::ctx();
    t.env("CONJURE_KATANA_BASE_URL", &base);
    t.env("KATANA_API_KEY", TEST_KEY);
    t.env("KATANA_API_SECRET", TEST_SECRET);
    std::fs::write(t.out_dir().join("cat.png"), conjure_test::png_bytes()).unwrap();
    Server { fake, t, _runtime: runtime }
}

impl Server {
    fn posts(&self) -> Vec<(String, HeaderMap, Value)> {
        self.fake.posts.lock().unwrap().clone()
    }
}

fn assert_no_secret(r: &conjure_test::Run) {
    for s in [&r.stdout, &r.stderr] {
        assert!(!s.contains(TEST_KEY) && !s.contains(TEST_SECRET), "a secret leaked:\n{s}");
    }
}

#[test]
fn the_request_on_the_wire_and_the_json_result() {
    let s = serve(Behaviour::Normal, 64);
    let r = s.t.run(&[
        "--json",
        "text",
        "what is in the picture?",
        "--model",
        "gpt",
        "--system",
        "be brief",
        "--max-tokens",
        "300",
        "--temperature",
        "0.5",
        "--top-p",
        "0.9",
        "--image",
        "cat.png",
        "--file",
        "https://example.com/doc.pdf",
        "--yes",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_no_secret(&r);
    let posts = s.posts();
    assert_eq!(posts.len(), 1, "one paid POST");
    let (uri, headers, body) = &posts[0];
    assert_eq!(uri, "/v1/chat/completions");
    assert_eq!(headers["authorization"], format!("Bearer {TEST_KEY}:{TEST_SECRET}"));
    assert!(headers.get("x-api-key").is_none() && headers.get("x-api-secret").is_none());
    let png = base64_of(&conjure_test::png_bytes());
    assert_eq!(
        *body,
        json!({
            "model": "gpt-5-5",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [
                    {"type": "text", "text": "what is in the picture?"},
                    {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{png}")}}
                ]}
            ],
            "max_tokens": 300,
            "temperature": 0.5,
            "top_p": 0.9,
            "files": [{"url": "https://example.com/doc.pdf"}],
            "stream": true,
            "stream_options": {"include_usage": true}
        })
    );
    let v = r.json();
    assert_eq!(v["answer"], ANSWER);
    assert_eq!(v["reasoning"], REASONING);
    assert_eq!(v["model"], "gpt-5-5");
    assert_eq!(v["request_id"], "chatcmpl-fake1");
    assert_eq!(v["usage"], json!({"prompt_tokens": 21, "completion_tokens": 17}));
    assert_eq!(v["credits_reserved"], 10.0);
    assert_eq!(v["credits_charged"], 0.1);
    assert_eq!(v["credits_refunded"], 9.9);
    assert_eq!(v["privacy"], "Anonymized");
    assert_eq!(v["status"], "completed");
    assert!(v["usd"].is_number(), "{v}");
    assert!(v["elapsed_seconds"].is_number());
    assert!(v["job_id"].as_str().unwrap().starts_with("j_"));
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn a_streamed_answer_is_printed_verbatim_however_the_bytes_are_split() {
    for step in [1, 3, 7, 4096] {
        let s = serve(Behaviour::Normal, step);
        let r = s.t.run(&["text", "hello", "--yes"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(r.stdout, ANSWER, "split every {step} bytes");
        assert!(r.stderr.contains(REASONING), "reasoning goes to stderr: {}", r.stderr);
        assert!(r.stderr.contains("Summary: katana · grok-4-3 · request chatcmpl-fake1"));
        assert!(r.stderr.contains("21 in / 17 out tokens"), "{}", r.stderr);
        assert!(r.stderr.contains("reserved 10 / charged 0.1 / refunded 9.9"), "{}", r.stderr);
        assert!(r.stderr.contains("Anonymized"), "{}", r.stderr);
        assert_eq!(s.posts().len(), 1);
    }
}

#[test]
fn a_cut_stream_prints_and_keeps_the_partial_answer_and_is_unknown() {
    let s = serve(Behaviour::CutAfter(3), 5);
    let r = s.t.run(&["text", "hello", "--yes"]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    // What was in flight when the connection broke may be lost; what arrived is printed.
    let partial = r.stdout.clone();
    assert!(!partial.is_empty() && ANSWER.starts_with(&partial), "{partial:?}");
    assert!(partial.len() < ANSWER.len());
    assert!(r.stderr.contains("unknown"), "{}", r.stderr);
    assert_eq!(s.posts().len(), 1, "never sent again");
    // The journal kept it.
    let jobs = s.t.run(&["--json", "jobs"]).json();
    let job = jobs["jobs"][0].clone();
    assert_eq!(job["status"], "unknown");
    assert_eq!(job["answer"], partial.as_str());
    assert_eq!(job["partial"], true);
    assert_eq!(job["request_id"], "chatcmpl-fake1");
    let id = job["job_id"].as_str().unwrap().to_owned();
    let st = s.t.run(&["--json", "status", &id]).json();
    assert_eq!(st["answer"], partial.as_str());
    // JSON mode carries what arrived in the error.
    let s = serve(Behaviour::CutAfter(2), 5);
    let r = s.t.run(&["--json", "text", "hello", "--yes"]);
    assert_eq!(r.code, 5);
    let v = r.json();
    assert_eq!(v["error"]["kind"], "outcome_unknown");
    let answer = v["answer"].as_str().unwrap();
    assert!(ANSWER.starts_with(answer) && answer.len() < ANSWER.len(), "{v}");
    // A cut conversation does not continue.
    let r = s.t.run(&["text", "--continue", "and then?", "--yes"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("no whole answer"), "{}", r.stderr);
    assert_eq!(s.posts().len(), 1);
}

#[test]
fn ctrl_c_while_an_answer_streams_keeps_what_arrived_and_is_unknown() {
    use std::io::Read as _;
    let s = serve(Behaviour::StallAfter(2), 64);
    let mut cmd = s.t.command(&["text", "hello", "--yes"]);
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    // Both words the fake sends before it stalls are on stdout: the stream is being read; then Ctrl-C.
    let expected = ANSWER.split_inclusive(' ').take(2).collect::<String>();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = vec![0_u8; expected.len()];
    stdout.read_exact(&mut first).unwrap();
    let ok = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let mut rest = Vec::new();
    stdout.read_to_end(&mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    let printed = String::from_utf8([&first[..], &rest].concat()).unwrap();
    assert_eq!(printed, expected);
    assert!(stderr.contains("interrupted"), "{stderr}");
    let job = s.t.run(&["--json", "jobs"]).json()["jobs"][0].clone();
    assert_eq!(job["status"], "unknown");
    assert_eq!(job["answer"], expected.as_str());
    assert_eq!(s.posts().len(), 1);
}

#[test]
fn kill_9_while_an_answer_streams_keeps_what_arrived() {
    use std::io::Read as _;
    let s = serve(Behaviour::StallAfter(2), 64);
    let expected = ANSWER.split_inclusive(' ').take(2).collect::<String>();
    let mut cmd = s.t.command(&["text", "hello", "--yes"]);
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = vec![0_u8; expected.len()];
    stdout.read_exact(&mut first).unwrap();
    // The words are journalled while the answer still streams; wait until they are (bounded).
    let mut journalled = false;
    for _ in 0..200 {
        let jobs = s.t.run(&["--json", "jobs"]).json();
        if jobs["jobs"][0]["answer"] == expected.as_str() {
            journalled = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(journalled, "the streamed words reached the journal before the end of the answer");
    // The next command finds the process gone: the job is unknown, with what had arrived.
    let job = s.t.run(&["--json", "jobs"]).json()["jobs"][0].clone();
    assert_eq!(job["status"], "unknown", "{job}");
    assert_eq!(job["answer"], expected.as_str());
    assert_eq!(job["request_id"], "chatcmpl-fake1");
    assert_eq!(s.posts().len(), 1, "never sent again");
}

#[test]
fn a_malformed_chunk_is_skipped_with_a_warning() {
    let s = serve(Behaviour::Malformed, 16);
    let r = s.t.run(&["--json", "text", "hello", "--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json();
    assert_eq!(v["answer"], ANSWER);
    let warnings = v["warnings"].to_string();
    assert!(warnings.contains("could not be read"), "{v}");
    assert_eq!(s.posts().len(), 1);
}

#[test]
fn a_server_error_after_the_reserve_is_unknown_and_not_resent() {
    let s = serve(Behaviour::ServerError, 64);
    let r = s.t.run(&["text", "hello", "--yes"]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert_eq!(s.posts().len(), 1);
    let r = s.t.run(&["text", "hello", "--yes"]);
    assert_ne!(r.code, 0, "the same request is a duplicate: {}", r.stderr);
    assert_eq!(s.posts().len(), 1, "nothing sent again by itself");
}

#[test]
fn whole_and_async_answers() {
    let s = serve(Behaviour::Normal, 64);
    let r = s.t.run(&["text", "hello", "--no-stream", "--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, ANSWER);
    let (uri, _, body) = &s.posts()[0];
    assert_eq!(uri, "/v1/chat/completions");
    assert!(body.get("stream").is_none(), "{body}");

    let r = s.t.run(&["--json", "text", "hello again", "--async", "--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json();
    assert_eq!(v["answer"], ANSWER);
    assert_eq!(v["request_id"], "req_text_1");
    assert_eq!(v["credits_charged"], 0.1);
    assert_eq!(s.posts()[1].0, "/v1/chat/completions?wait=false");
    assert_eq!(s.posts().len(), 2);
    assert!(*s.fake.polls.lock().unwrap() >= 2);

    // --no-wait with --async: the job id now, the answer from `wait` later.
    let r = s.t.run(&["--json", "text", "later", "--async", "--no-wait", "--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let id = r.json()["job_id"].as_str().unwrap().to_owned();
    let r = s.t.run(&["wait", &id]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, ANSWER);
}

#[test]
fn continue_sends_the_earlier_turns() {
    let s = serve(Behaviour::Normal, 64);
    let first = s.t.run(&["--json", "text", "first question", "--system", "be brief", "--yes"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let first_id = first.json()["job_id"].as_str().unwrap().to_owned();
    let r = s.t.run(&["text", "--continue", "second question", "--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let expected = json!([
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": ANSWER},
        {"role": "user", "content": "second question"}
    ]);
    assert_eq!(s.posts()[1].2["messages"], expected);
    let r = s.t.run(&["text", "--continue", "--yes"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("needs the next question"), "{}", r.stderr);
    // A named job, and the model it used unless another is asked for.
    let r = s.t.run(&[
        "text",
        &format!("--continue={first_id}"),
        "third",
        "--model",
        "claude",
        "--yes",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let body = &s.posts()[2].2;
    assert_eq!(body["model"], "claude-opus-4-8");
    assert_eq!(body["messages"].as_array().unwrap().len(), 4);
    assert_eq!(body["messages"][3]["content"], "third");
    assert_eq!(s.posts().len(), 3);
}

#[test]
fn a_messages_file_and_stdin() {
    let s = serve(Behaviour::Normal, 64);
    let messages = json!([{"role": "user", "content": "from a file"},
                          {"role": "assistant", "content": "Once upon"}]);
    std::fs::write(s.t.out_dir().join("m.json"), messages.to_string()).unwrap();
    let r = s.t.run(&["text", "--messages", "m.json", "--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(s.posts()[0].2["messages"], messages, "an assistant prefill is sent as given");
    let r = s.t.run_with_stdin(&["text", "-", "--yes"], "from stdin\n");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(s.posts()[1].2["messages"][0]["content"], "from stdin\n");
}

#[test]
fn bad_input_is_refused_before_anything_is_sent() {
    let s = serve(Behaviour::Normal, 64);
    std::fs::write(s.t.out_dir().join("bad.json"), "[{\"role\": ").unwrap();
    std::fs::write(s.t.out_dir().join("robot.json"), "[{\"role\": \"robot\", \"content\": \"x\"}]")
        .unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["text", "--yes"], "conversation is empty"),
        (&["text", "   ", "--yes"], "conversation is empty"),
        (&["text", "hi", "--model", "grokk", "--yes"], "did you mean `grok-4-3`"),
        (&["text", "hi", "--model", "gen", "--yes"], "image model"),
        (&["text", "hi", "--max-tokens", "999999", "--model", "claude", "--yes"], "at most 128000"),
        (
            &["text", "hi", "--image", "cat.png", "--model", "deepseek-v4-pro", "--yes"],
            "not a vision model",
        ),
        (&["text", "hi", "--file", "https://x/a.pdf", "--yes"], "file inputs"),
        (&["text", "hi", "--file", "http://x/a.pdf", "--model", "gpt", "--yes"], "https://"),
        (&["text", "--messages", "missing.json", "--yes"], "Cannot read the messages file"),
        (&["text", "--messages", "bad.json", "--yes"], "is not JSON"),
        (&["text", "--messages", "robot.json", "--yes"], "unknown role `robot`"),
        (&["text", "hi", "--temperature", "3", "--yes"], "between 0 and 2"),
        (&["text", "--image", "cat.png", "--model", "gpt", "--yes"], "needs a question"),
        (&["text", "--continue", "--yes"], "no text conversation"),
        (&["text", "hi", "--no-wait", "--yes"], "--async"),
    ];
    for (args, message) in cases {
        let r = s.t.run(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(message), "{args:?}: {}", r.stderr);
    }
    assert_eq!(s.posts().len(), 0, "nothing was sent");
}

#[test]
fn the_quote_shows_reserve_expected_and_worst_case_and_binds_the_messages() {
    let s = serve(Behaviour::Normal, 64);
    let q = s.t.run(&["--json", "text", "hello", "--model", "claude"]);
    assert_eq!(q.code, 3, "{}", q.stderr);
    let v = q.json();
    assert_eq!(v["status"], "confirmation_required");
    let text = &v["quote"]["text"];
    assert_eq!(text["reserve"], 80.1);
    assert_eq!(text["max_tokens"], 16000);
    assert_eq!(text["worst_case"], 80.1);
    assert_eq!(v["quote"]["credits"], 80.1, "limits hold against the worst case");
    assert!(text["expected"].as_f64().unwrap() < 80.1);
    assert_eq!(v["request"]["headers"]["Authorization"], "****");
    let token = v["quote"]["token"].as_str().unwrap().to_owned();
    // Another question with the same token is refused: it binds the whole message list.
    let r = s.t.run(&["text", "hello!", "--model", "claude", "--approve", &token]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(s.posts().len(), 0);
    // --max-cost holds against the reserve.
    let r =
        s.t.run(&["text", "hello", "--model", "claude", "--max-cost", "50cr", "--approve", &token]);
    assert_eq!(r.code, 6, "{}", r.stderr);
    let r = s.t.run(&["text", "hello", "--model", "claude", "--approve", &token]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(s.posts().len(), 1);
}

// --- Against the sandbox: the real server, its balance and its counters. ---

fn balance(t: &TestContext) -> f64 {
    let v = t.run(&["--json", "balance"]).json();
    v["credits"].as_f64().unwrap_or_else(|| v["credits"].as_str().unwrap().parse().unwrap())
}

#[test]
fn sandbox_quote_approve_and_the_balance_moves_by_the_charge_only() {
    let t = crate::sandbox();
    let before = balance(&t);
    let q = t.run(&["--json", "text", "how do lighthouses work?", "--model", "claude"]);
    assert_eq!(q.code, 3, "{}", q.stderr);
    let token = q.json()["quote"]["token"].as_str().unwrap().to_owned();
    assert_eq!(t.stats().chat_posts_received, 0, "a quote sends nothing");
    let r = t.run(&[
        "--json",
        "text",
        "how do lighthouses work?",
        "--model",
        "claude",
        "--approve",
        &token,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json();
    assert!(v["answer"].as_str().unwrap().starts_with("[conjure sandbox]"), "{v}");
    let reserved = v["credits_reserved"].as_f64().unwrap();
    let charged = v["credits_charged"].as_f64().unwrap();
    let refunded = v["credits_refunded"].as_f64().unwrap();
    assert_eq!(v["credits_reserved"], 80.1, "the sandbox reserves what conjure quoted");
    assert!((reserved - charged - refunded).abs() < 1e-9, "{v}");
    assert!((before - balance(&t) - charged).abs() < 1e-9, "only the charge is gone");
    assert_eq!(t.stats().chat_paid, 1);
    // The same token twice sends nothing more.
    let again =
        t.run(&["text", "how do lighthouses work?", "--model", "claude", "--approve", &token]);
    assert_ne!(again.code, 0);
    assert_eq!(t.stats().chat_posts_received, 1);
}

#[test]
fn sandbox_streams_split_inside_characters_arrive_whole() {
    let t = crate::sandbox_with(conjure_test::Faults { split_utf8: true, ..Default::default() });
    let streamed = t.run(&["text", "Grüße — «ok»?", "--yes"]);
    assert_eq!(streamed.code, 0, "{}", streamed.stderr);
    let whole = t.run(&["--json", "text", "Grüße — «ok»?", "--no-stream", "--yes"]);
    assert_eq!(whole.code, 0, "{}", whole.stderr);
    assert_eq!(streamed.stdout, whole.json()["answer"].as_str().unwrap());
    assert!(streamed.stdout.contains('—') && streamed.stdout.contains('«'));
    assert_eq!(t.stats().chat_paid, 2);
}

#[test]
fn sandbox_cut_streams_keep_the_reserve_in_the_budget_across_processes() {
    // Every stream is cut before its usage: each job is `unknown` with its 10-credit reserve at
    // risk. Six processes at once against a 25-credit day: exactly two may be sent.
    let mut t = crate::sandbox_with(conjure_test::Faults {
        stream_cut_after: Some(1),
        latency_ms: 200,
        ..Default::default()
    });
    t.env("CONJURE_DAILY_BUDGET", "25cr");
    let children: Vec<_> = (0..6)
        .map(|i| {
            let mut cmd = t.command(&["--json", "text", &format!("question {i}"), "--yes"]);
            cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    let codes: Vec<i32> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap().status.code().unwrap())
        .collect();
    assert_eq!(codes.iter().filter(|c| **c == 5).count(), 2, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == 6).count(), 4, "{codes:?}");
    assert_eq!(t.stats().chat_posts_received, 2);
    // Later, still two: the unknown reserves stay at risk.
    let r = t.run(&["text", "one more", "--yes"]);
    assert_eq!(r.code, 6, "{}", r.stderr);
    assert_eq!(t.stats().chat_posts_received, 2);
}

#[test]
fn sandbox_secrets_echoed_in_a_text_error_never_show() {
    let t = crate::sandbox_with(conjure_test::Faults {
        text_500: true,
        echo_credentials: true,
        ..Default::default()
    });
    let r = t.run(&["--json", "text", "hello", "--yes"]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert_no_secret(&r);
    let jobs = t.run(&["--json", "jobs"]);
    assert_no_secret(&jobs);
    for f in t.all_files() {
        if let Ok(text) = std::fs::read(&f) {
            let text = String::from_utf8_lossy(&text);
            assert!(!text.contains(TEST_SECRET), "{} holds the secret", f.display());
        }
    }
    assert_eq!(t.stats().chat_paid, 1);
}

#[test]
fn sandbox_drifted_catalogue_refresh_then_quote_a_new_model_and_a_new_price() {
    let t =
        crate::sandbox_with(conjure_test::Faults { catalogue_drift: true, ..Default::default() });
    assert_eq!(t.run(&["text", "hi", "--model", "glm-5-2", "--dry-run"]).code, 2);
    let r = t.run(&["models", "--refresh"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let q = t.run(&["--json", "text", "hi", "--model", "glm-5-2", "--dry-run"]);
    assert_eq!(q.code, 0, "{}", q.stderr);
    assert_eq!(q.json()["quote"]["text"]["input_rate"], 100.0);
    let q = t.run(&["--json", "text", "hi", "--model", "grok", "--dry-run"]).json();
    let notes = q["quote"]["notes"].to_string();
    assert!(notes.contains("264.5") && notes.contains("300"), "{notes}");
    let r = t.run(&["--json", "text", "hi", "--model", "glm-5-2", "--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["model"], "glm-5-2");
}

#[test]
fn sandbox_attestation_of_an_e2ee_model() {
    let t = crate::sandbox();
    let r = t.run(&["--json", "attest", "glm-5-1-private"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["nonce_present"], true);
    let r = t.run(&["attest", "grok"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(t.stats().chat_posts_received, 0);
}
