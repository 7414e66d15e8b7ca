//! Official clients as tests of the sandbox: OpenAI's Python package, unchanged, against
//! `/v1/chat/completions` and `/v1/models`.
//!
//! The client lives in a virtualenv that `scripts/test` prepares (`conjure_need_py_clients` in
//! `scripts/lib-deps.sh`) at `$CARGO_TARGET_DIR/py-clients` (default `target/py-clients`). A
//! missing venv fails the test with that instruction rather than skipping it: a skipped client
//! test would pass silently on a machine that never ran it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use conjure_core::catalogue::{Catalogue, MediaKind, ProviderId};
use conjure_core::money::Credits;
use conjure_core::text::{self, DEFAULT_MAX_TOKENS, Message, Role, TextItem, TextMode};
use conjure_sandbox::{DEMO_KEY, DEMO_SECRET, Faults};
use serde_json::{Value, json};

use crate::{demo_balance, sandbox};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv's Python; panics with the way to create it when it is missing.
fn venv_python() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map_or_else(|| workspace().join("target"), |dir| workspace().join(dir));
    let python = target.join("py-clients").join("bin").join("python");
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
