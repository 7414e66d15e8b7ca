//! The providers' official Python clients pointed at the gateway with a member's key, used
//! unchanged: OpenAI's package on `/v1/chat/completions` and `/v1/models`, ImaginePro's SDK
//! (PyPI `imaginepro` 0.1.0) on `/api/v1`. The sandbox behind the gateway counts the paid POSTs:
//! one per accepted call, none for the refused ones.
//!
//! The clients live in the virtualenv `scripts/test` prepares (`conjure_need_py_clients` in
//! `scripts/lib-deps.sh`) at `$CARGO_TARGET_DIR/py-clients` (default `target/py-clients`). A missing install fails the
//! test with that instruction rather than skipping it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use conjure_test::Faults;
use serde_json::Value;

use crate::chat::Wire;

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
         with the pinned packages of crates/conjure-sandbox/tests/clients/requirements.txt), or \
         `bash -c '. scripts/lib-deps.sh; conjure_need_py_clients'`",
        python.display()
    );
    python
}

/// Runs `script` with `envs` (keys go through the environment, never argv); the JSON of its
/// last stdout line.
async fn run_client(script: &str, envs: &[(&str, String)]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients").join(script);
    let mut command = tokio::process::Command::new(venv_python());
    command
        .arg(&script)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("ALL_PROXY")
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("IMAGINEPRO_API_KEY")
        .kill_on_drop(true);
    for (name, value) in envs {
        command.env(name, value);
    }
    let output = tokio::time::timeout(Duration::from_secs(180), command.output())
        .await
        .expect("the client script finishes")
        .expect("the venv's python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{}\nstdout:\n{stdout}\nstderr:\n{stderr}", output.status);
    let last = stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {last}\nstdout:\n{stdout}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_python_client_works_unchanged_with_a_member_key() {
    let w = Wire::start(Faults::default()).await;
    let key = w.member("agent", Some("50cr"), Some("1000cr")).await;
    let limited = w.member("intern", None, Some("1000cr")).await;
    let summary = run_client(
        "openai_gateway.py",
        &[
            ("GATEWAY_BASE_URL", w.url("/v1")),
            ("GATEWAY_API_KEY", key),
            ("GATEWAY_LIMITED_KEY", limited),
        ],
    )
    .await;
    assert_eq!(summary["client_version"], "1.109.1");
    assert!(summary["chunks"].as_u64().unwrap() > 3, "{summary}");
    assert!(summary["whole_job"].is_string(), "{summary}");
    assert_eq!(summary["errors"]["over_limit"], serde_json::json!([402, true]), "{summary}");
    assert_eq!(summary["errors"]["wrong_key"], serde_json::json!([401]), "{summary}");
    // The whole answer, the stream and the vision call, each sent once; the refused calls sent
    // nothing.
    let stats = w.sandbox.stats();
    assert_eq!(
        (stats.chat_posts_received, stats.chat_paid_whole, stats.chat_paid_stream),
        (3, 2, 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_imaginepro_python_sdk_works_unchanged_with_a_member_key() {
    let w = Wire::start(Faults { processing_steps: 1, ..Faults::default() }).await;
    let key = w.member("designer", Some("50cr"), Some("1000cr")).await;
    let other = w.member("other", Some("50cr"), Some("1000cr")).await;
    let summary = run_client(
        "imaginepro_gateway.py",
        &[
            ("GATEWAY_BASE_URL", w.url("")),
            ("GATEWAY_API_KEY", key),
            ("GATEWAY_OTHER_KEY", other),
            ("GATEWAY_FETCH_INTERVAL", "0.05".to_owned()),
        ],
    )
    .await;
    assert_eq!(summary["sdk_version"], "0.1.0");
    assert_eq!(summary["first_status"], "PROCESSING");
    let errors = &summary["errors"];
    assert_eq!(errors["bad_key"], "Unauthorized", "{summary}");
    assert_eq!(errors["other_member_fetch"], "Not Found", "{summary}");
    assert_eq!(errors["other_member_button"], "Not Found", "{summary}");
    assert_eq!(errors["not_offered"], "Bad Request", "{summary}");
    assert_eq!(errors["unpriced_reroll"], "Forbidden", "{summary}");
    // Imagine, upscale and variant, each sent once; the refused calls sent nothing.
    let stats = w.sandbox.stats();
    assert_eq!(stats.imaginepro_posts_received, 3);
    assert_eq!(stats.imaginepro_accepted_by_path["/nova/imagine"], 1);
    assert_eq!(stats.imaginepro_accepted_by_path["/nova/button"], 2);
}
