//! Official clients as tests of the sandbox, each used unchanged: OpenAI's Python package against
//! `/v1/chat/completions` and `/v1/models`; ImaginePro's Python SDK (PyPI `imaginepro` 0.1.0)
//! against `/api/v1` (`imaginepro-api.md` §14.3). ImaginePro's JS/TS SDK is not published on
//! npm (`imaginepro` answers 404), so there is no official JS client to install here; the
//! sandbox answers the paths and shapes it uses (the same as the Python SDK's, plus the
//! universal, gemini and video endpoints), which `tests/it/imaginepro.rs` checks.
//!
//! The Python clients live in a virtualenv that `scripts/test` prepares
//! (`conjure_need_py_clients` in `scripts/lib-deps.sh`) at `$CARGO_TARGET_DIR/py-clients`
//! (default `target/py-clients`). A missing install fails the test with that instruction rather
//! than skipping it: a skipped client test would pass silently on a machine that never ran it.
//! No client reaches beyond 127.0.0.1 at test time.

use std::path::{Path, PathBuf};
use std::time::Duration;

use conjure_core::catalogue::{Catalogue, MediaKind, ProviderId};
use conjure_core::money::Credits;
use conjure_core::text::{self, DEFAULT_MAX_TOKENS, Message, Role, TextItem, TextMode};
use conjure_sandbox::{
    DEMO_KEY, DEMO_SECRET, Faults, IMAGINEPRO_DEMO_BALANCE, IMAGINEPRO_DEMO_KEY,
};
use serde_json::{Value, json};

use crate::{demo_balance, sandbox};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map_or_else(|| workspace().join("target"), |dir| workspace().join(dir))
}

/// The venv's Python; panics with the way to create it when it is missing.
fn venv_python() -> PathBuf {
    let python = target_dir().join("py-clients").join("bin").join("python");
    assert!(
        python.exists(),
        "the Python API clients are not installed at {}: run scripts/test (it creates the venv \
         with the pinned packages of crates/conjure-sandbox/tests/clients/requirements.txt)",
        python.display()
    );
    python
}

#[tokio::test]
async fn openai_python_client_works_unchanged() {
    let python = venv_python();
    let sb = sandbox(Faults::default()).await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/openai_client.py");
    let run = tokio::process::Command::new(&python)
        .arg(&script)
        .env("SANDBOX_BASE_URL", format!("{}/v1", sb.base_url()))
        // The credentials go through the environment, never argv.
        .env("SANDBOX_API_KEY", format!("{DEMO_KEY}:{DEMO_SECRET}"))
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("OPENAI_LOG")
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("ALL_PROXY")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the client script finishes")
        .expect("the venv's python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{}\nstdout:\n{stdout}\nstderr:\n{stderr}", output.status);
    let summary: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(summary["client_version"], "1.109.1");

    // What the client saw is what conjure's own arithmetic says.
    let grok = Catalogue::bundled()
        .resolve(ProviderId::Katana, Some(MediaKind::Text), "grok-4-3")
        .unwrap();
    let prompt = "Say hello to the official client — «merci» 👋";
    let sent = TextItem {
        model: "grok-4-3".into(),
        messages: vec![Message::text(Role::User, prompt)],
        max_tokens: None,
        temperature: None,
        top_p: None,
        files: vec![],
        mode: TextMode::Whole,
        continues: None,
    };
    let usage = &summary["whole"]["usage"];
    assert_eq!(usage["prompt_tokens"], sent.input_tokens());
    let content = summary["whole"]["content"].as_str().unwrap();
    assert_eq!(usage["completion_tokens"], text::estimate_tokens(content));
    let reserved = text::reserve(grok, sent.input_tokens(), DEFAULT_MAX_TOKENS);
    let charged = text::charge(grok, sent.input_tokens(), text::estimate_tokens(content));
    assert_eq!(usage["imgnai"]["credits_reserved"], json!(reserved));
    assert_eq!(usage["imgnai"]["credits_charged"], json!(charged));
    assert_eq!(summary["stream"]["usage"], *usage);
    assert!(summary["stream"]["chunks"].as_u64().unwrap() > 5);
    assert_eq!(
        summary["models"].as_u64().unwrap(),
        Catalogue::bundled().iter(Some(ProviderId::Katana), None).count() as u64
    );
    assert_eq!(summary["errors"]["unknown_model"][0], 400);
    assert_eq!(summary["errors"]["wrong_key"][0], 401);

    // Three paid calls (whole, stream, vision), each sent once; the two refused ones paid nothing.
    let stats = sb.stats();
    assert_eq!(
        (stats.chat_posts_received, stats.chat_paid, stats.chat_paid_whole, stats.chat_paid_stream),
        (5, 3, 2, 1)
    );
    let vision = Credits::from_f64(
        summary["vision"]["usage"]["imgnai"]["credits_charged"].as_f64().unwrap(),
    );
    assert_eq!(sb.balance(DEMO_KEY), Some(demo_balance() - charged - charged - vision));
}

/// Runs `program script` against `sb` with `envs`; the JSON of its last stdout line (the SDKs
/// print their own log lines before it).
async fn run_client(program: &Path, script: &str, envs: &[(&str, String)]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients").join(script);
    let mut command = tokio::process::Command::new(program);
    command
        .arg(&script)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("ALL_PROXY")
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("IMAGINEPRO_API_KEY")
        .kill_on_drop(true);
    // The key goes through the environment, never argv.
    for (name, value) in envs {
        command.env(name, value);
    }
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("the client script finishes")
        .expect("the client's interpreter runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{}\nstdout:\n{stdout}\nstderr:\n{stderr}", output.status);
    let last = stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {last}\nstdout:\n{stdout}"))
}

/// The sandbox for an ImaginePro SDK: every job answers one `PROCESSING` poll, then `DONE`, so
/// the SDKs' polling loops run (with a short `fetchInterval` of their own) and finish fast.
async fn imaginepro_sandbox() -> conjure_sandbox::Sandbox {
    sandbox(Faults { processing_steps: 1, ..Faults::default() }).await
}

fn imaginepro_spent(sb: &conjure_sandbox::Sandbox) -> Credits {
    Credits::whole(IMAGINEPRO_DEMO_BALANCE) - sb.imaginepro_balance(IMAGINEPRO_DEMO_KEY).unwrap()
}

/// What both SDKs raise for the refused calls: the body's `error` field (§11).
fn assert_sdk_errors(errors: &Value) {
    assert_eq!(errors["bad_key"], "Unauthorized");
    assert_eq!(errors["bad_key_fetch"], "Unauthorized");
    assert_eq!(errors["unknown_id"], "Not Found");
    assert_eq!(errors["not_offered"], "Bad Request");
}

#[tokio::test]
async fn imaginepro_python_sdk_works_unchanged() {
    let python = venv_python();
    let sb = imaginepro_sandbox().await;
    let summary = run_client(
        &python,
        "imaginepro_python.py",
        &[
            ("SANDBOX_BASE_URL", sb.base_url()),
            ("SANDBOX_API_KEY", IMAGINEPRO_DEMO_KEY.to_owned()),
            ("SANDBOX_FETCH_INTERVAL", "0.05".to_owned()),
        ],
    )
    .await;
    assert_eq!(summary["sdk_version"], "0.1.0");
    assert_eq!(summary["first_status"], "PROCESSING");
    assert_sdk_errors(&summary["errors"]);
    // Imagine (10), upscale and variant (5 each), reroll, inpainting and zoom (unpublished).
    let unpublished = conjure_sandbox::IMAGINEPRO_UNPUBLISHED_PRICE;
    assert_eq!(imaginepro_spent(&sb), Credits::whole(10 + 5 + 5 + 3 * unpublished));
    let stats = sb.stats();
    assert_eq!(stats.imaginepro_accepted, 6);
    assert_eq!(stats.imaginepro_accepted_by_path["/nova/imagine"], 1);
    assert_eq!(stats.imaginepro_accepted_by_path["/nova/button"], 5);
    // Two refused POSTs (bad key, a button not offered) besides the six accepted.
    assert_eq!(stats.imaginepro_posts_received, 8);
}
