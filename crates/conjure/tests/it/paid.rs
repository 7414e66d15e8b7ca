//! The quote -> approve -> send -> deliver path, counted at the server.

use conjure_core::Credits;
use conjure_test::TEST_KEY;

use crate::sandbox;

fn image_args(extra: &[&'static str]) -> Vec<&'static str> {
    let mut a = vec!["--json", "image", "a red fox in snow", "--model", "gpt-image-2"];
    a.extend_from_slice(extra);
    a
}

#[test]
fn without_approval_nothing_is_sent_and_exit_is_3() {
    let t = sandbox();
    let run = t.run(&image_args(&[]));
    assert_eq!(run.code, 3, "{run:?}");
    let v = run.json();
    assert_eq!(v["status"], "confirmation_required");
    assert_eq!(v["quote"]["credits"], 14.0);
    assert_eq!(v["quote"]["usd"], 0.0728);
    assert!(v["quote"]["token"].as_str().unwrap().starts_with("cq_"));
    assert_eq!(v["request"]["body"]["requests"][0]["model"], "gpt-image-2");
    assert_eq!(t.stats().submit_posts_received, 0);
}

#[test]
fn approve_token_sends_exactly_the_quoted_request_once() {
    let t = sandbox();
    let quote = t.run(&image_args(&[])).json();
    let token = quote["quote"]["token"].as_str().unwrap().to_owned();
    let mut args = image_args(&["--approve"]);
    args.push(Box::leak(token.into_boxed_str()));
    let run = t.run(&args);
    assert_eq!(run.code, 0, "{run:?}");
    let v = run.json();
    assert_eq!(v["status"], "completed");
    assert_eq!(v["credits"], 14.0);
    assert_eq!(v["provider"], "katana");
    let out = &v["outputs"][0];
    assert_eq!(out["mime"], "image/png");
    assert_eq!(out["width"], 768);
    assert_eq!(out["height"], 768);
    let path = std::path::Path::new(out["path"].as_str().unwrap());
    assert!(path.exists());
    let sidecar: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{}.json", path.display())).unwrap())
            .unwrap();
    assert_eq!(sidecar["prompt"], "a red fox in snow");
    assert_eq!(sidecar["sha256"], out["sha256"]);
    assert_eq!(sidecar["request_id"], v["request_id"]);
    assert_eq!(t.stats().submit_posts_received, 1);
    assert_eq!(t.stats().submissions_accepted, 1);
    assert_eq!(t.sandbox().balance(TEST_KEY), Some(Credits::whole(10_000 - 14)));
    let jobs = t.run(&["--json", "jobs"]).json();
    assert_eq!(jobs["totals"][0]["charged_credits"], 14.0);
    assert_eq!(jobs["totals"][0]["charged_usd"], 0.0728);
    // No temp files left behind.
    assert!(t.all_files().iter().all(|p| !p.to_string_lossy().ends_with(".part")));
}

#[test]
fn a_changed_request_is_refused_with_the_old_token() {
    let t = sandbox();
    let quote = t.run(&image_args(&[])).json();
    let token = quote["quote"]["token"].as_str().unwrap();
    let run = t.run(&[
        "--json",
        "image",
        "a red fox in rain",
        "--model",
        "gpt-image-2",
        "--approve",
        token,
    ]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.json()["error"]["message"].as_str().unwrap().contains("does not match"));
    assert_eq!(t.stats().submit_posts_received, 0);
}

#[test]
fn count_sends_one_request_with_n_items() {
    let t = sandbox();
    let run = t.run(&image_args(&["--count", "3", "--yes"]));
    assert_eq!(run.code, 0, "{run:?}");
    let v = run.json();
    assert_eq!(v["credits"], 42.0);
    assert_eq!(v["outputs"].as_array().unwrap().len(), 3);
    assert_eq!(t.stats().submit_posts_received, 1);
}

#[test]
fn the_same_request_within_24h_is_refused_unless_again() {
    let t = sandbox();
    assert_eq!(t.run(&image_args(&["--yes"])).code, 0);
    let again = t.run(&image_args(&["--yes"]));
    assert_eq!(again.code, 2, "{again:?}");
    let msg = again.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(msg.contains("same request was sent"), "{msg}");
    assert_eq!(t.stats().submit_posts_received, 1);
    assert_eq!(t.run(&image_args(&["--yes", "--again"])).code, 0);
    assert_eq!(t.stats().submit_posts_received, 2);
}

#[test]
fn max_cost_refuses_before_sending() {
    let t = sandbox();
    let run = t.run(&image_args(&["--yes", "--max-cost", "0.05"]));
    assert_eq!(run.code, 6, "{run:?}");
    let run = t.run(&image_args(&["--yes", "--max-cost", "10cr"]));
    assert_eq!(run.code, 6, "{run:?}");
    assert_eq!(t.stats().submit_posts_received, 0);
    assert_eq!(t.run(&image_args(&["--yes", "--max-cost", "$0.08"])).code, 0);
    assert_eq!(t.stats().submit_posts_received, 1);
}

#[test]
fn daily_budget_counts_what_was_sent() {
    let mut t = sandbox();
    t.env("CONJURE_DAILY_BUDGET", "0.10");
    assert_eq!(t.run(&image_args(&["--yes"])).code, 0);
    let run = t.run(&["--json", "image", "another fox", "--model", "gpt-image-2", "--yes"]);
    assert_eq!(run.code, 6, "{run:?}");
    assert_eq!(t.stats().submit_posts_received, 1);
}

#[test]
fn dry_run_and_quote_need_no_credentials_and_send_nothing() {
    let t = crate::ctx();
    let run = t.run(&["--json", "quote", "video", "waves", "--model", "kling", "--duration", "10"]);
    assert_eq!(run.code, 0, "{run:?}");
    let v = run.json();
    assert_eq!(v["status"], "quote");
    assert_eq!(v["quote"]["credits"], 550.0);
    assert_eq!(v["request"]["body"]["requests"][0]["duration_seconds"], 10);
    assert_eq!(v["request"]["headers"]["X-API-Secret"], "****");
    let run = t.run(&["--json", "image", "x", "--dry-run"]);
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn video_end_to_end_with_a_first_frame() {
    let t = sandbox();
    let frame = t.path("frame.png");
    std::fs::write(&frame, conjure_test::png_bytes()).unwrap();
    let run = t.run(&[
        "--json",
        "video",
        "waves",
        "--model",
        "kling",
        "--duration",
        "5",
        "--first-frame",
        frame.to_str().unwrap(),
        "--yes",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let v = run.json();
    assert_eq!(v["model"], "kling-3-0-kling30");
    assert_eq!(v["credits"], 280.0);
    let out = &v["outputs"][0];
    assert_eq!(out["mime"], "video/mp4");
    assert_eq!(out["duration_seconds"], 5.0);
    assert_eq!(t.stats().submit_posts_received, 1);
}

#[test]
fn submit_payload_is_validated_quoted_and_sent_once() {
    let t = sandbox();
    let payload = t.path("payload.json");
    std::fs::write(
        &payload,
        r#"{"requests":[{"type":"image","model":"flux","prompt":"a","aspect_ratio":"16:9"},
                        {"type":"image","model":"pinkimage","prompt":"b","output_format":"jpg"}]}"#,
    )
    .unwrap();
    let p = payload.to_str().unwrap();
    let quote = t.run(&["--json", "submit", p]);
    assert_eq!(quote.code, 3);
    assert_eq!(quote.json()["quote"]["credits"], 9.0);
    let token = quote.json()["quote"]["token"].as_str().unwrap().to_owned();
    let run = t.run(&["--json", "submit", p, "--approve", &token]);
    assert_eq!(run.code, 0, "{run:?}");
    let v = run.json();
    assert_eq!(v["outputs"].as_array().unwrap().len(), 2);
    assert_eq!(v["outputs"][1]["mime"], "image/jpeg");
    assert_eq!(t.stats().submit_posts_received, 1);
}

#[test]
fn no_wait_then_wait_resumes_and_delivers() {
    let t = sandbox();
    let run = t.run(&image_args(&["--yes", "--no-wait"]));
    assert_eq!(run.code, 0, "{run:?}");
    let v = run.json();
    assert_eq!(v["status"], "submitted");
    let job = v["job_id"].as_str().unwrap().to_owned();
    let pending = t.run(&["--json", "jobs", "--pending"]).json();
    assert_eq!(pending["jobs"][0]["job_id"], job.as_str());
    let waited = t.run(&["--json", "wait", &job]);
    assert_eq!(waited.code, 0, "{waited:?}");
    assert_eq!(waited.json()["status"], "completed");
    assert_eq!(t.run(&["--json", "jobs", "--pending"]).json()["jobs"].as_array().unwrap().len(), 0);
    // Fetch downloads again, for free.
    let fetched = t.run(&["--json", "fetch", &job]);
    assert_eq!(fetched.code, 0, "{fetched:?}");
    assert_eq!(fetched.json()["outputs"][0]["sha256"], waited.json()["outputs"][0]["sha256"]);
    assert_eq!(t.stats().submit_posts_received, 1);
    let status = t.run(&["--json", "status", &job]).json();
    assert_eq!(status["status"], "completed");
    assert_eq!(status["credits"], 14.0);
}

#[test]
fn balance_reads_the_account() {
    let t = sandbox();
    let v = t.run(&["--json", "balance"]).json();
    assert_eq!(v["credits"], 10_000.0);
}

#[test]
fn demo_runs_offline_and_ends_with_an_edit() {
    let mut t = crate::ctx();
    // A person with a tight real budget: the demo's placeholder credits never touch it.
    t.env("CONJURE_DAILY_BUDGET", "1cr");
    let run = t.run(&["--json", "demo", "--out-dir", "demo"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("Next:") && run.stderr.contains("conjure jobs"), "{}", run.stderr);
    let v = run.json();
    assert!(std::path::Path::new(v["out"].as_str().unwrap()).is_absolute());
    // The jobs are in the person's own journal, in the sandbox ledger.
    let jobs = t.run(&["--json", "jobs"]).json();
    let listed = jobs["jobs"].as_array().unwrap();
    assert_eq!(listed.len(), 5, "an image, a video, a text, a grid and U1: {jobs}");
    // Newest first: U1, pressed on the grid before it.
    assert_eq!(
        (listed[0]["provider"].as_str(), listed[0]["button"].as_str()),
        (Some("imaginepro"), Some("U1"))
    );
    assert_eq!(listed[0]["parent"], listed[1]["job_id"], "{jobs}");
    assert_eq!(listed[1]["outputs"].as_array().unwrap().len(), 4, "a grid of four: {jobs}");
    assert_eq!(listed[2]["kind"], "text", "{jobs}");
    assert!(listed[2]["answer"].as_str().unwrap().starts_with("[conjure sandbox]"));
    let tree = t.run(&["jobs", "--tree"]);
    assert!(tree.stdout.contains("└─ U1 → "), "{}", tree.stdout);
    assert!(listed.iter().all(|j| j["sandbox"] == true), "{jobs}");
    assert_eq!(jobs["totals"].as_array().unwrap().len(), 0, "no real money: {jobs}");
    let human = t.run(&["jobs"]);
    assert!(human.stdout.contains("sandbox"), "{}", human.stdout);
    // Collecting one again would need the demo's server: a clear refusal, not a real request.
    let id = listed[0]["job_id"].as_str().unwrap();
    let fetch = t.run(&["--json", "fetch", id]);
    assert_eq!(fetch.code, 2, "{fetch:?}");
    assert!(fetch.stdout.contains("offline sandbox"), "{}", fetch.stdout);
    assert_eq!(v["jobs"].as_array().unwrap().len(), 5);
    assert!(run.stderr.contains("Lineage: "), "{}", run.stderr);
    assert_eq!(v["jobs"][0]["outputs"][0]["mime"], "image/png");
    assert_eq!(v["jobs"][1]["outputs"][0]["mime"], "video/mp4");
    assert_eq!(v["jobs"][2]["kind"], "text");
    assert_eq!(v["jobs"][2]["credits_charged"], 0.1);
    let edit = std::path::PathBuf::from(v["edit"].as_str().unwrap());
    let probe = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0"])
        .arg(&edit)
        .output()
        .unwrap();
    let duration: f64 = String::from_utf8_lossy(&probe.stdout).trim().parse().unwrap();
    assert!((duration - 4.5).abs() < 0.1, "{duration}");
}

#[test]
fn ctrl_c_while_waiting_leaves_the_job_resumable() {
    let t = crate::sandbox_with(conjure_test::Faults {
        stale: true,
        ..conjure_test::Faults::default()
    });
    let mut cmd = t.command(&["--json", "image", "a slow fox", "--yes"]);
    cmd.env("CONJURE_POLL_SCALE", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    // Interrupt only once the job is being polled (the Ctrl-C handler is in place by then).
    for _ in 0..600 {
        if t.stats().polls >= 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(t.stats().submissions_accepted, 1);
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(8), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["error"]["hint"].as_str().unwrap().contains("conjure wait"));
    let pending = t.run(&["--json", "jobs", "--pending"]).json();
    assert_eq!(pending["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(t.stats().submit_posts_received, 1);
}

#[test]
fn on_a_terminal_the_quote_is_shown_and_only_yes_sends() {
    let t = sandbox();
    let declined =
        t.run_cmd_with_stdin(t.tty_command(&["image", "tty fox", "--model", "gen"]), "n\n");
    assert_eq!(declined.code, 3, "{declined:?}");
    // On a terminal everything arrives on one stream.
    assert!(declined.stdout.contains("Quote: katana · gen"), "{declined:?}");
    assert!(declined.stdout.contains("prompt: \"tty fox\""));
    assert!(declined.stdout.contains("Send this request? [y/N]"));
    assert!(declined.stdout.contains("nothing was sent"));
    assert_eq!(t.stats().submit_posts_received, 0);

    let accepted =
        t.run_cmd_with_stdin(t.tty_command(&["image", "tty fox", "--model", "gen"]), "y\n");
    assert_eq!(accepted.code, 0, "{accepted:?}");
    assert!(accepted.stdout.contains("Summary: katana · gen"), "{accepted:?}");
    assert_eq!(t.stats().submit_posts_received, 1);
}
