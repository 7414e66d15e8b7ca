//! Every injected fault, counted at the server: each paid request reaches it exactly once.

use conjure_test::Faults;

use crate::sandbox_with;

const IMAGE: &[&str] = &["--json", "image", "a lighthouse", "--model", "gen", "--yes"];

#[test]
fn a_500_after_acceptance_is_unknown_not_failed_and_never_resent() {
    let t = sandbox_with(Faults { submit_500: true, ..Faults::default() });
    let run = t.run(IMAGE);
    assert_eq!(run.code, 5, "{run:?}");
    let v = run.json();
    assert_eq!(v["error"]["kind"], "outcome_unknown");
    assert!(v["error"]["message"].as_str().unwrap().contains("may have been charged"));
    let job = v["job_id"].as_str().unwrap().to_owned();
    assert_eq!(t.stats().submit_posts_received, 1);
    assert_eq!(t.stats().submissions_accepted, 1);

    let status = t.run(&["--json", "status", &job]).json();
    assert_eq!(status["status"], "unknown");
    // Running the same command again does not send it again.
    let again = t.run(IMAGE);
    assert_eq!(again.code, 2, "{again:?}");
    assert_eq!(t.stats().submit_posts_received, 1);
    // It is listed as pending until a person decides.
    let pending = t.run(&["--json", "jobs", "--pending"]).json();
    assert_eq!(pending["jobs"][0]["status"], "unknown");
    // What it may have cost is reported, separately from what was reported as charged.
    assert_eq!(pending["unknown_exposure_credits"], 3.0);
    assert_eq!(pending["totals"][0]["charged_credits"], 0.0);
    let human = t.run(&["jobs"]);
    assert!(human.stderr.contains("may have been charged up to 3 credits"), "{}", human.stderr);
}

#[test]
fn a_dropped_connection_after_acceptance_is_unknown() {
    let t = sandbox_with(Faults { drop_after_accept: true, ..Faults::default() });
    let run = t.run(IMAGE);
    assert_eq!(run.code, 5, "{run:?}");
    assert_eq!(t.stats().submit_posts_received, 1);
    assert_eq!(t.stats().submissions_accepted, 1);
}

#[test]
fn retry_is_the_only_resend_and_needs_a_new_approval() {
    let t = sandbox_with(Faults { submit_500: true, ..Faults::default() });
    let job = t.run(IMAGE).json()["job_id"].as_str().unwrap().to_owned();
    t.sandbox().set_faults(Faults::default());
    let quoted = t.run(&["--json", "retry", &job]);
    assert_eq!(quoted.code, 3, "{quoted:?}");
    assert_eq!(t.stats().submit_posts_received, 1);
    let token = quoted.json()["quote"]["token"].as_str().unwrap().to_owned();
    let sent = t.run(&["--json", "retry", &job, "--approve", &token]);
    assert_eq!(sent.code, 0, "{sent:?}");
    assert_eq!(t.stats().submit_posts_received, 2);
    let new_job = sent.json()["job_id"].as_str().unwrap().to_owned();
    assert_ne!(new_job, job);
}

#[test]
fn rate_limited_polls_are_waited_out_without_resending() {
    let t = sandbox_with(Faults { rate_limit_polls: 2, retry_after_secs: 1, ..Faults::default() });
    let run = t.run(IMAGE);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(t.stats().submit_posts_received, 1);
    assert!(t.stats().polls >= 3);
}

#[test]
fn failed_items_exit_4_and_are_refunded() {
    let t = sandbox_with(Faults { fail_rate: 1.0, ..Faults::default() });
    let run = t.run(IMAGE);
    assert_eq!(run.code, 4, "{run:?}");
    assert_eq!(run.json()["error"]["kind"], "provider_failed");
    assert_eq!(t.stats().submit_posts_received, 1);
    assert_eq!(
        t.sandbox().balance(conjure_test::TEST_KEY),
        Some(conjure_core::Credits::whole(10_000))
    );
}

#[test]
fn stale_processing_stops_at_the_hard_stop_and_stays_resumable() {
    let t = sandbox_with(Faults { stale: true, ..Faults::default() });
    let run = t.run(IMAGE);
    assert_eq!(run.code, 8, "{run:?}");
    let v = run.json();
    assert_eq!(v["error"]["kind"], "still_pending");
    let job = v["job_id"].as_str().unwrap().to_owned();
    assert!(v["error"]["hint"].as_str().unwrap().contains(&format!("conjure wait {job}")));
    let waited = t.run(&["--json", "wait", &job]);
    assert_eq!(waited.code, 8, "{waited:?}");
    assert_eq!(t.stats().submit_posts_received, 1);
}

#[test]
fn slow_server_still_one_post() {
    let t = sandbox_with(Faults { latency_ms: 50, processing_steps: 3, ..Faults::default() });
    let run = t.run(IMAGE);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(t.stats().submit_posts_received, 1);
}

#[test]
fn a_partial_failure_delivers_what_exists_and_says_what_failed() {
    let t = crate::sandbox();
    let run = submit_partial(&t);
    assert_eq!(run.code, 0, "{run:?}");
    let v = run.json();
    assert_eq!(v["status"], "partial");
    assert_eq!(v["outputs"].as_array().unwrap().len(), 1);
    assert_eq!(v["credits"], 3.0);
    let sidecar: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{}.json", v["outputs"][0]["path"].as_str().unwrap()))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(sidecar["credits"], 3.0);
    assert_eq!(sidecar["usd"], 0.0156);
    assert!(run.stderr.contains("some items failed"), "{}", run.stderr);
    assert_eq!(t.stats().submit_posts_received, 1);
    // The failed item is refunded: only one image is charged.
    assert_eq!(
        t.sandbox().balance(conjure_test::TEST_KEY),
        Some(conjure_core::Credits::whole(10_000 - 3))
    );
}

/// Submits a Katana envelope of two images, the second marked to fail at the sandbox, with --yes.
pub(crate) fn submit_partial(t: &conjure_test::TestContext) -> conjure_test::Run {
    let payload = t.path("partial.json");
    let marker = conjure_sandbox::FAIL_MARKER;
    std::fs::write(
        &payload,
        format!(r#"{{"requests":[{{"type":"image","model":"gen","prompt":"fine"}},{{"type":"image","model":"gen","prompt":"{marker}"}}]}}"#),
    )
    .unwrap();
    t.run(&["--json", "submit", payload.to_str().unwrap(), "--yes"])
}
