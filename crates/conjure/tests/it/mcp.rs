//! `conjure mcp` driven by the official Rust MCP client (rmcp) over stdio: the real binary,
//! spawned with the test's isolated environment, wired to the sandbox. Counts the POSTs the
//! sandbox received around every paid tool call, and scans every message for secrets.

use std::process::Stdio;

use conjure_test::{TEST_KEY, TEST_SECRET, TestContext};
use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt as _};
use serde_json::{Value, json};

use crate::{ctx, sandbox};

/// A client connected to `conjure mcp`, keeping every message it received.
struct Mcp {
    client: RunningService<RoleClient, ()>,
    stderr: Option<tokio::process::ChildStderr>,
    seen: Vec<String>,
}

/// A tool call's answer: whether it is an error, and its JSON.
struct Answer {
    error: bool,
    json: Value,
}

impl Mcp {
    async fn start(t: &TestContext) -> Mcp {
        Mcp::start_with(t.command(&["mcp"])).await
    }

    async fn start_with(cmd: std::process::Command) -> Mcp {
        let cmd = tokio::process::Command::from(cmd);
        let (transport, stderr) =
            TokioChildProcess::builder(cmd).stderr(Stdio::piped()).spawn().expect("spawn");
        let client = ().serve(transport).await.expect("initialize");
        let info = client.peer_info().expect("server info");
        assert_eq!(info.server_info.as_ref().map(|i| i.name.as_str()), Some("conjure"));
        Mcp { client, stderr, seen: vec![serde_json::to_string(&*info).unwrap()] }
    }

    async fn call(&mut self, tool: &str, args: Value) -> Answer {
        let Value::Object(args) = args else { panic!("arguments are an object") };
        let r = self
            .client
            .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args))
            .await
            .unwrap_or_else(|e| panic!("{tool}: {e}"));
        self.seen.push(serde_json::to_string(&r).unwrap());
        let text = r.content[0].as_text().expect("text content").text.clone();
        let json: Value = serde_json::from_str(&text).expect("the content is JSON");
        assert_eq!(r.structured_content.as_ref(), Some(&json), "structured = text");
        Answer { error: r.is_error == Some(true), json }
    }

    async fn ok(&mut self, tool: &str, args: Value) -> Value {
        let a = self.call(tool, args).await;
        assert!(!a.error, "{tool} failed: {}", a.json);
        a.json
    }

    /// A tool error's `{kind, message, hint}`.
    async fn err(&mut self, tool: &str, args: Value) -> Value {
        let a = self.call(tool, args).await;
        assert!(a.error, "{tool} should fail: {}", a.json);
        assert_eq!(a.json["status"], "error", "{}", a.json);
        a.json["error"].clone()
    }

    /// Closes the session, and checks that no message or log line carried a secret.
    async fn finish(mut self) {
        use tokio::io::AsyncReadExt as _;
        self.client.cancel().await.expect("close");
        let mut log = String::new();
        if let Some(mut e) = self.stderr.take() {
            e.read_to_string(&mut log).await.ok();
        }
        self.seen.push(log);
        for m in &self.seen {
            for secret in [TEST_KEY, TEST_SECRET, conjure_sandbox::IMAGINEPRO_DEMO_KEY] {
                assert!(!m.contains(secret), "a secret in a message: {m}");
            }
        }
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

fn posts(t: &TestContext) -> u64 {
    t.stats().submit_posts_received
}

#[test]
fn tools_are_listed_with_object_schemas_and_models_and_quotes_send_nothing() {
    let t = sandbox();
    block_on(async {
        let mut mcp = Mcp::start(&t).await;
        let tools = mcp.client.list_all_tools().await.unwrap();
        mcp.seen.push(serde_json::to_string(&tools).unwrap());
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        for want in [
            "list_models",
            "quote",
            "generate",
            "job_status",
            "wait_job",
            "list_jobs",
            "fetch_job",
            "balance",
            "spend",
            "doctor",
            "enhance_prompt",
            "edit_media",
            "media",
        ] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        for tool in &tools {
            assert_eq!(tool.input_schema["type"], "object", "{}", tool.name);
            assert!(tool.description.as_ref().is_some_and(|d| d.len() > 20), "{}", tool.name);
        }
        let generate = tools.iter().find(|t| t.name == "generate").unwrap();
        assert!(generate.input_schema["properties"]["approval_token"].is_object());
        assert_eq!(generate.input_schema["required"], json!(["type"]));

        let spend = mcp.ok("spend", json!({"by": "model", "since": "7d"})).await;
        assert_eq!(spend["by"], "model");
        assert_eq!(spend["rows"], json!([]));
        let bad = mcp.err("spend", json!({"since": "soon"})).await;
        assert_eq!(bad["kind"], "invalid_input");

        let models = mcp.ok("list_models", json!({"kind": "image", "filter": "gen"})).await;
        let list = models["models"].as_array().unwrap();
        assert!(!list.is_empty());
        assert!(list.iter().all(|x| x["kind"] == "image"), "{models}");
        let ip = mcp.ok("list_models", json!({"provider": "imaginepro"})).await;
        assert!(ip["operations"].as_array().is_some_and(|o| !o.is_empty()), "{ip}");

        let quote = mcp.ok("quote", json!({"type": "image", "prompt": "a fox"})).await;
        assert_eq!(quote["status"], "quote");
        assert!(quote["quote"]["credits"].is_number(), "{quote}");
        assert!(quote["approval_token"].as_str().unwrap().starts_with("cq_"));
        assert_eq!(quote["request"]["method"], "POST");
        assert_eq!(quote["request"]["body"]["requests"][0]["prompt"], "a fox", "{quote}");

        let answer = mcp.ok("generate", json!({"type": "image", "prompt": "a fox"})).await;
        assert_eq!(answer["status"], "confirmation_required", "{answer}");
        assert!(answer["next"].as_str().unwrap().contains("approval_token"));
        assert_eq!(posts(&t), 0, "nothing is sent without a token");
        mcp.finish().await;
    });
}

#[test]
fn generate_with_the_token_sends_once_then_jobs_tools_and_an_edit() {
    let t = sandbox();
    block_on(async {
        let mut mcp = Mcp::start(&t).await;
        let request = json!({"type": "image", "prompt": "a fox", "aspect": "16:9"});
        let quote = mcp.ok("quote", request.clone()).await;
        let token = quote["approval_token"].as_str().unwrap().to_owned();

        let mut paid = request.clone();
        paid["approval_token"] = json!(token);
        let job = mcp.ok("generate", paid.clone()).await;
        assert_eq!(posts(&t), 1, "exactly one POST");
        assert_eq!(job["status"], "completed", "{job}");
        let id = job["job_id"].as_str().unwrap().to_owned();
        assert!(job["request_id"].is_string(), "{job}");
        assert!(job["credits"].is_number(), "{job}");
        let path = job["outputs"][0]["path"].as_str().unwrap().to_owned();
        assert!(std::path::Path::new(&path).is_file(), "{path}");
        assert!(job["outputs"][0]["width"].is_number(), "{job}");

        // The same token again: refused, nothing sent.
        let err = mcp.err("generate", paid).await;
        assert_eq!(err["kind"], "invalid_input", "{err}");
        assert_eq!(posts(&t), 1);
        // The token of another request: the new quote comes back, nothing sent.
        let other = json!({"type": "image", "prompt": "an owl", "approval_token": token});
        let answer = mcp.ok("generate", other).await;
        assert_eq!(answer["status"], "confirmation_required", "{answer}");
        assert!(
            answer["next"].as_str().unwrap().contains("not issued for this request"),
            "{answer}"
        );
        assert_eq!(posts(&t), 1);

        let st = mcp.ok("job_status", json!({"job": id})).await;
        assert_eq!(st["job_id"], id.as_str());
        assert_eq!(st["status"], "completed");
        let waited = mcp.ok("wait_job", json!({"job": id, "wait_seconds": 30})).await;
        assert_eq!(waited["outputs"][0]["path"], path.as_str(), "{waited}");
        let fetched = mcp.ok("fetch_job", json!({"job": id})).await;
        assert_eq!(fetched["outputs"][0]["path"], path.as_str(), "{fetched}");
        let jobs = mcp.ok("list_jobs", json!({"limit": 5})).await;
        assert_eq!(jobs["jobs"][0]["job_id"], id.as_str(), "{jobs}");
        assert_eq!(posts(&t), 1, "collecting is free");

        // A real ffmpeg render of the generated image; an existing output needs `overwrite`.
        let out = t.out_dir().join("edit.mp4");
        let edit = json!({
            "timeline": {"output": {"preset": "ultrafast"}, "clips": [{"src": path, "duration": 1}]},
            "output": out,
        });
        let rendered = mcp.ok("edit_media", edit.clone()).await;
        assert_eq!(rendered["edit"]["duration"], 1.0, "{rendered}");
        assert!(rendered["edit"]["width"].is_number(), "{rendered}");
        assert!(out.is_file());
        let err = mcp.err("edit_media", edit.clone()).await;
        assert_eq!(err["kind"], "invalid_input", "{err}");
        assert!(err["hint"].is_string(), "{err}");
        let mut again = edit;
        again["overwrite"] = json!(true);
        // `no_smart` is the CLI's `--no-smart` (a picture-only edit has nothing to copy anyway).
        again["no_smart"] = json!(true);
        let full = mcp.ok("edit_media", again).await;
        assert!(full["edit"]["smart"].is_null(), "{full}");

        // One `media` step on the generated image.
        let small = t.out_dir().join("small.png");
        let step = json!({"op": "resize", "input": path, "output": small, "width": 32});
        let resized = mcp.ok("media", step.clone()).await;
        assert_eq!(resized["op"], "resize", "{resized}");
        assert_eq!(resized["result"]["width"], 32, "{resized}");
        assert!(small.is_file());
        let err = mcp.err("media", step.clone()).await;
        assert_eq!(err["kind"], "invalid_input", "{err}");
        let mut again = step;
        again["overwrite"] = json!(true);
        mcp.ok("media", again).await;
        let err = mcp
            .err("media", json!({"op": "resize", "input": path, "output": "x.png", "wide": 3}))
            .await;
        assert_eq!(err["kind"], "invalid_input", "{err}");
        assert!(err["message"].as_str().unwrap().contains("width"), "{err}");
        assert_eq!(posts(&t), 1);
        mcp.finish().await;
    });
}

#[test]
fn a_short_wait_answers_still_pending_and_the_job_outlives_the_server() {
    let t = sandbox();
    block_on(async {
        let mut mcp = Mcp::start(&t).await;
        let request = json!({"type": "video", "prompt": "waves"});
        let quote = mcp.ok("quote", request.clone()).await;
        let mut paid = request;
        paid["approval_token"] = quote["approval_token"].clone();
        paid["wait_seconds"] = json!(0);
        let pending = mcp.ok("generate", paid).await;
        assert_eq!(pending["status"], "still_pending", "{pending}");
        let id = pending["job_id"].as_str().unwrap().to_owned();
        assert!(pending["hint"].as_str().unwrap().contains("wait_job"));
        assert_eq!(posts(&t), 1);
        mcp.finish().await;
        // The job outlives the server: the journal has it, and another server collects it.
        let status = t.run(&["--json", "status", &id, "--offline"]).json();
        assert_eq!(status["job_id"], id.as_str(), "{status}");
        let mut mcp = Mcp::start(&t).await;
        let waited = mcp.ok("wait_job", json!({"job": id})).await;
        assert_eq!(waited["status"], "completed", "{waited}");
        assert!(waited["outputs"][0]["duration_seconds"].is_number(), "{waited}");
        assert_eq!(posts(&t), 1);
        mcp.finish().await;
    });
}

#[test]
fn errors_are_tool_errors_with_the_cli_kinds() {
    let t = sandbox();
    block_on(async {
        let mut mcp = Mcp::start(&t).await;
        let err =
            mcp.err("quote", json!({"type": "image", "prompt": "x", "model": "no-such"})).await;
        assert_eq!(err["kind"], "invalid_input", "{err}");
        assert!(err["hint"].is_string(), "{err}");
        let err =
            mcp.err("generate", json!({"type": "image", "prompt": "x", "count": "two"})).await;
        assert_eq!(err["kind"], "invalid_input", "{err}");
        let err = mcp.err("quote", json!({"type": "image", "prompt": "x", "colour": "red"})).await;
        assert_eq!(err["kind"], "invalid_input", "{err}");
        let err = mcp.err("quote", json!({"prompt": "x"})).await;
        assert_eq!(err["kind"], "invalid_input", "{err}");
        let err = mcp.err("job_status", json!({"job": "nope"})).await;
        assert_eq!(err["kind"], "invalid_input", "{err}");
        let err = mcp
            .err("generate", json!({"type": "image", "prompt": "x", "wait_seconds": "soon"}))
            .await;
        assert_eq!(err["kind"], "invalid_input", "{err}");
        assert_eq!(posts(&t), 0);
        mcp.finish().await;
    });
    // No credentials anywhere: a credentials error, before anyone is asked to pay.
    let t = ctx();
    block_on(async {
        let mut mcp = Mcp::start(&t).await;
        let err = mcp.err("generate", json!({"type": "image", "prompt": "x"})).await;
        assert_eq!(err["kind"], "credentials", "{err}");
        assert!(err["hint"].is_string(), "{err}");
        let err = mcp.err("balance", json!({})).await;
        assert_eq!(err["kind"], "credentials", "{err}");
        mcp.finish().await;
    });
}

#[test]
fn imaginepro_generate_then_a_button_press() {
    let t = sandbox();
    block_on(async {
        let mut mcp = Mcp::start(&t).await;
        let grid = json!({"type": "image", "provider": "imaginepro", "prompt": "a castle"});
        let quote = mcp.ok("quote", grid.clone()).await;
        let mut paid = grid;
        paid["approval_token"] = quote["approval_token"].clone();
        let parent = mcp.ok("generate", paid).await;
        assert_eq!(parent["status"], "completed", "{parent}");
        assert!(parent["buttons"].as_array().unwrap().iter().any(|b| b == "U1"), "{parent}");
        let id = parent["job_id"].as_str().unwrap().to_owned();
        assert_eq!(t.stats().imaginepro_posts_received, 1);

        let press = json!({"type": "button", "job": id, "button": "U1"});
        let answer = mcp.ok("generate", press.clone()).await;
        assert_eq!(answer["status"], "confirmation_required", "{answer}");
        assert_eq!(t.stats().imaginepro_posts_received, 1);
        let mut paid = press;
        paid["approval_token"] = answer["approval_token"].clone();
        let child = mcp.ok("generate", paid).await;
        assert_eq!(child["parent"], id.as_str(), "{child}");
        assert_eq!(child["button"], "U1", "{child}");
        assert_eq!(t.stats().imaginepro_posts_received, 2);
        let err = mcp.err("generate", json!({"type": "button", "job": id, "button": "U9"})).await;
        assert_eq!(err["kind"], "invalid_input", "{err}");

        let enhanced = mcp.ok("enhance_prompt", json!({"prompt": "a castle"})).await;
        assert!(enhanced["enhanced"].as_str().is_some_and(|s| !s.is_empty()), "{enhanced}");
        mcp.finish().await;
    });
}

/// Without any MCP client library: every line the server writes to stdout is a JSON-RPC
/// message, even when a tool fails and with logging turned up (logs go to stderr).
#[test]
fn stdout_carries_only_mcp_messages() {
    let t = sandbox();
    let lines = [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
            "name": "generate", "arguments": {"type": "image", "prompt": "x", "model": "no-such"}}}),
        json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {
            "name": "list_jobs", "arguments": {}}}),
    ];
    let input = lines.iter().map(Value::to_string).collect::<Vec<_>>().join("\n") + "\n";
    let mut cmd = t.command(&["-vv", "mcp"]);
    cmd.env("CONJURE_LOG", "debug");
    let run = t.run_cmd_with_stdin(cmd, &input);
    let mut ids = Vec::new();
    for line in run.stdout.lines() {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not JSON on stdout ({e}): {line}\nstderr: {}", run.stderr));
        assert_eq!(v["jsonrpc"], "2.0", "{line}");
        ids.push(v["id"].clone());
    }
    // Calls are answered concurrently, in any order.
    ids.sort_by_key(Value::as_u64);
    assert_eq!(ids, [json!(1), json!(2), json!(3), json!(4)], "{}", run.stdout);
    assert!(!run.stderr.is_empty(), "the debug log is on stderr");
    for secret in [TEST_KEY, TEST_SECRET, conjure_sandbox::IMAGINEPRO_DEMO_KEY] {
        assert!(!run.stdout.contains(secret) && !run.stderr.contains(secret));
    }
}

#[test]
fn demo_agent_walks_through_the_protocol_offline() {
    let t = crate::ctx();
    let run = t.run(&["--json", "demo", "--agent", "--out-dir", "agent"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v = run.json();
    let job = &v["agent"]["job"];
    assert_eq!(job["status"], "completed", "{v}");
    assert!(job["request_id"].is_string(), "{v}");
    let edit = std::path::PathBuf::from(v["agent"]["edit"]["edit"]["output"].as_str().unwrap());
    assert!(
        edit.starts_with(t.out_dir().join("agent").canonicalize().unwrap()),
        "{}",
        edit.display()
    );
    assert!(edit.exists());
    // Every message both ways is shown; the unapproved generate sent nothing.
    for shown in [
        "\"method\":\"initialize\"",
        "\"name\":\"quote\"",
        "\"name\":\"edit_media\"",
        "(paid requests the sandbox received: 0)",
        "(paid requests the sandbox received: 1)",
    ] {
        assert!(run.stderr.contains(shown), "{shown}: {}", run.stderr);
    }
    // The job is in the person's journal, in the sandbox ledger.
    let jobs = t.run(&["--json", "jobs"]).json();
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 1, "{jobs}");
    assert_eq!(jobs["jobs"][0]["sandbox"], true);
    assert_eq!(jobs["totals"], serde_json::json!([]));
}

#[test]
fn through_a_team_gateway_quote_generate_and_collect_with_the_gateways_token() {
    use crate::serve_members::{database, member_key, serve_with};
    let db = database();
    let gw = sandbox();
    let key = member_key(&gw, &db, "carol");
    let served = serve_with(&gw, &db, &[]);
    // The agent's machine: no provider credentials, the gateway and a member key.
    let laptop = ctx();
    let mut cmd = laptop.command(&["mcp"]);
    cmd.env("CONJURE_GATEWAY", &served.base).env("CONJURE_GATEWAY_KEY", &key);
    block_on(async {
        let mut mcp = Mcp::start_with(cmd).await;
        let args =
            json!({"type": "image", "prompt": "a lighthouse for the team", "model": "gpt-image-2"});
        // The gateway's quote and token; nothing sent.
        let quote = mcp.ok("quote", args.clone()).await;
        let token = quote["approval_token"].as_str().expect("a token").to_owned();
        assert!(token.starts_with("cq_"), "the gateway's token: {quote}");
        assert_eq!(posts(&gw), 0);
        // A token the gateway did not issue for this request is no consent.
        let mut wrong = args.clone();
        wrong["approval_token"] = json!("cq_not-issued");
        let asked = mcp.ok("generate", wrong).await;
        assert_eq!(asked["status"], "confirmation_required", "{asked}");
        assert_eq!(posts(&gw), 0);
        // With the token: one POST upstream, the file on the agent's machine.
        let mut paid = args.clone();
        paid["approval_token"] = json!(token);
        let done = mcp.ok("generate", paid.clone()).await;
        assert_eq!(done["status"], "completed", "{done}");
        let path = done["outputs"][0]["path"].as_str().expect("a file").to_owned();
        assert!(std::fs::read(&path).unwrap().starts_with(b"\x89PNG"), "{path}");
        assert_eq!(posts(&gw), 1);
        // The token again: not sent a second time.
        let again = mcp.call("generate", paid).await;
        assert!(again.error || again.json["status"] == "confirmation_required", "{}", again.json);
        assert_eq!(posts(&gw), 1);
        // The job tools follow the job through the gateway.
        let id = done["job_id"].as_str().expect("a job id").to_owned();
        let status = mcp.ok("job_status", json!({"job": id})).await;
        assert_eq!(status["status"], "completed", "{status}");
        let fetched = mcp.ok("fetch_job", json!({"job": id})).await;
        assert_eq!(fetched["status"], "completed", "{fetched}");
        // A Midjourney button press does not go through a gateway yet: refused, nothing sent.
        let err = mcp.err("generate", json!({"type": "button", "job": id, "button": "U1"})).await;
        assert_eq!(err["kind"], "invalid_input", "{err}");
        assert!(err["message"].as_str().unwrap().contains("team gateway"), "{err}");
        assert_eq!(posts(&gw), 1);
        assert!(!mcp.seen.iter().any(|m| m.contains(&key)), "the member key in a message");
        mcp.finish().await;
    });
    assert!(!served.stop().contains(&key), "the key in the gateway's output");
}
