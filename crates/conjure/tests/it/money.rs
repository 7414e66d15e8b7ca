//! The money holes, each tried the way it was found: several processes at once, kill -9 in
//! the middle of a send, a journal that fails after the POST, a provider that overcharges,
//! echoes secrets or loses assets. Every test counts what the sandbox received.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use conjure_core::Credits;
use conjure_test::{Faults, Run, TEST_KEY, TEST_SECRET, TestContext};

use crate::{sandbox, sandbox_with};

fn image(prompt: &str, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = ["--json", "image", prompt, "--model", "gpt-image-2"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    a.extend(extra.iter().map(|s| (*s).to_owned()));
    a
}

fn spawn(t: &TestContext, args: &[String]) -> Child {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cmd = t.command(&args);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.spawn().expect("conjure starts")
}

fn finish(child: Child) -> Run {
    let out = child.wait_with_output().expect("conjure ends");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Waits (bounded) until `cond` holds; the bound only stops a broken test from hanging.
fn until(mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(60), "condition never held");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The state of the newest job, read from the journal file as another process would.
fn newest_state(t: &TestContext) -> Option<String> {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    let conn = rusqlite::Connection::open_with_flags(t.journal_path(), flags).ok()?;
    conn.query_row("SELECT state FROM jobs ORDER BY created_at DESC, rowid DESC LIMIT 1", [], |r| {
        r.get(0)
    })
    .ok()
}

fn kill9(child: &Child) {
    let ok = Command::new("kill").args(["-9", &child.id().to_string()]).status().unwrap().success();
    assert!(ok);
}

#[test]
fn eight_processes_at_once_with_a_budget_for_three() {
    // 14 credits ($0.0728) each; $0.22 fits three. Latency keeps all eight in flight together.
    let mut t = sandbox_with(Faults { latency_ms: 300, ..Faults::default() });
    t.env("CONJURE_DAILY_BUDGET", "0.22");
    let children: Vec<Child> =
        (0..8).map(|i| spawn(&t, &image(&format!("racing fox {i}"), &["--yes"]))).collect();
    let runs: Vec<Run> = children.into_iter().map(finish).collect();
    let codes: Vec<i32> = runs.iter().map(|r| r.code).collect();
    assert_eq!(codes.iter().filter(|c| **c == 0).count(), 3, "{runs:#?}");
    assert_eq!(codes.iter().filter(|c| **c == 6).count(), 5, "{runs:#?}");
    for r in runs.iter().filter(|r| r.code == 6) {
        assert_eq!(r.json()["error"]["kind"], "over_budget");
    }
    assert_eq!(t.stats().submit_posts_received, 3);
    assert_eq!(t.stats().submissions_accepted, 3);
}

#[test]
fn two_processes_sending_the_same_request_send_it_once() {
    let t = sandbox_with(Faults { latency_ms: 300, ..Faults::default() });
    let a = spawn(&t, &image("clicked twice", &["--yes"]));
    let b = spawn(&t, &image("clicked twice", &["--yes"]));
    let mut codes = vec![finish(a), finish(b)];
    codes.sort_by_key(|r| r.code);
    assert_eq!((codes[0].code, codes[1].code), (0, 2), "{codes:#?}");
    assert!(codes[1].json()["error"]["message"].as_str().unwrap().contains("same request"));
    assert_eq!(t.stats().submit_posts_received, 1);
}

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn run(t: &TestContext, a: &[String]) -> Run {
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    t.run(&a)
}

#[test]
fn an_approval_token_sends_once() {
    let t = sandbox();
    let token =
        run(&t, &image("one token", &[])).json()["quote"]["token"].as_str().unwrap().to_owned();
    assert_eq!(run(&t, &image("one token", &["--approve", &token])).code, 0);
    for extra in [&["--approve", &token][..], &["--approve", &token, "--again"][..]] {
        let again = run(&t, &image("one token", extra));
        assert_eq!(again.code, 2, "{again:?}");
        let msg = again.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(msg.contains("same request") || msg.contains("already used"), "{msg}");
    }
    let used = run(&t, &image("one token", &["--approve", &token, "--again"]));
    assert!(used.json()["error"]["message"].as_str().unwrap().contains("already used"), "{used:?}");
    assert_eq!(t.stats().submit_posts_received, 1);
    // A fresh quote approves the same request again, with --again.
    let fresh = run(&t, &image("one token", &["--again"])).json()["quote"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(fresh, token);
    assert_eq!(run(&t, &image("one token", &["--approve", &fresh, "--again"])).code, 0);
    assert_eq!(t.stats().submit_posts_received, 2);
}

#[test]
fn retry_is_a_new_paid_request_under_the_duplicate_rule() {
    let t = sandbox_with(Faults { submit_500: true, ..Faults::default() });
    let first = run(&t, &image("maybe charged", &["--yes"]));
    assert_eq!(first.code, 5, "{first:?}");
    let job = first.json()["job_id"].as_str().unwrap().to_owned();
    t.sandbox().set_faults(Faults::default());
    // The original request's quote (an unused token) does not approve its retry.
    let original = run(&t, &image("maybe charged", &["--again"])).json()["quote"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let refused = run(&t, &args(&["--json", "retry", &job, "--approve", &original]));
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.json()["error"]["message"].as_str().unwrap().contains("does not match"));
    // Four retries with --yes: one is sent; the others are refused naming it.
    let retries: Vec<Run> =
        (0..4).map(|_| run(&t, &args(&["--json", "retry", &job, "--yes"]))).collect();
    assert_eq!(retries[0].code, 0, "{:?}", retries[0]);
    let sent = retries[0].json()["job_id"].as_str().unwrap().to_owned();
    for r in &retries[1..] {
        assert_eq!(r.code, 2, "{r:?}");
        assert!(r.json()["error"]["message"].as_str().unwrap().contains(&sent), "{r:?}");
        assert_eq!(r.json()["job_id"], sent.as_str());
    }
    assert_eq!(t.stats().submit_posts_received, 2);
    assert_eq!(run(&t, &args(&["--json", "retry", &job, "--yes", "--again"])).code, 0);
    assert_eq!(t.stats().submit_posts_received, 3);
}

#[test]
fn a_send_killed_mid_post_is_unknown_at_once_and_counts_in_the_budget() {
    let mut t = sandbox_with(Faults { latency_ms: 3_000, ..Faults::default() });
    // Two images fit ($0.1456); a third does not.
    t.env("CONJURE_DAILY_BUDGET", "0.15");
    let child = spawn(&t, &image("killed mid-send", &["--yes"]));
    // The POST is out (the sandbox holds its answer for 3 s): the job is `submitting`.
    until(|| newest_state(&t).as_deref() == Some("submitting"));
    // While its process lives, the job is that process's: listed, counted, not waited on or
    // sent again by anyone else.
    let pending = run(&t, &args(&["--json", "jobs", "--pending"])).json();
    assert_eq!(pending["jobs"][0]["status"], "submitting", "{pending}");
    assert!(pending["jobs"][0]["hint"].as_str().unwrap().contains("another conjure process"));
    assert_eq!(pending["unknown_exposure_credits"], 14.0);
    let id = pending["jobs"][0]["job_id"].as_str().unwrap().to_owned();
    for cmd in ["wait", "retry"] {
        let r = run(&t, &args(&["--json", cmd, &id, "--yes"][..if cmd == "wait" { 3 } else { 4 }]));
        assert_eq!(r.code, 2, "{cmd}: {r:?}");
        assert!(r.json()["error"]["message"].as_str().unwrap().contains("another conjure process"));
    }
    kill9(&child);
    let _ = finish(child);
    t.sandbox().set_faults(Faults::default());
    let before = t.stats().submit_posts_received;

    let pending = run(&t, &args(&["--json", "jobs", "--pending"])).json();
    let job = &pending["jobs"][0];
    assert_eq!(job["status"], "unknown", "{pending}");
    assert!(job["hint"].as_str().unwrap().contains("may have been charged"), "{pending}");
    assert_eq!(pending["unknown_exposure_credits"], 14.0);
    let id = job["job_id"].as_str().unwrap().to_owned();
    // `wait` tells the truth: the outcome is unknown (exit 5), not "still sending".
    let waited = run(&t, &args(&["--json", "wait", &id]));
    assert_eq!(waited.code, 5, "{waited:?}");
    // The orphan counts: one more request fits, the next does not.
    assert_eq!(run(&t, &image("after the orphan", &["--yes"])).code, 0);
    let over = run(&t, &image("one too many", &["--yes"]));
    assert_eq!(over.code, 6, "{over:?}");
    assert_eq!(t.stats().submit_posts_received, before + 1);
}

#[test]
fn a_journal_failure_after_the_post_keeps_the_request_id() {
    let t = sandbox_with(Faults { latency_ms: 1_000, ..Faults::default() });
    let child = spawn(&t, &image("journal locked", &["--yes"]));
    // The POST is out (answered after 1 s): the job is `submitting`.
    until(|| newest_state(&t).as_deref() == Some("submitting"));
    // Another process takes the journal's write lock and holds it past the busy timeout.
    let conn = rusqlite::Connection::open(t.journal_path()).unwrap();
    conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    let run_ = finish(child);
    conn.execute_batch("ROLLBACK").unwrap();
    drop(conn);
    assert_eq!(run_.code, 5, "{run_:?}");
    let v = run_.json();
    assert_eq!(v["error"]["kind"], "outcome_unknown");
    let request_id = v["request_id"].as_str().expect("the request id is in the answer").to_owned();
    assert!(run_.stderr.contains(&request_id), "{}", run_.stderr);
    let fallback = std::fs::read_to_string(t.path("data").join("unrecorded.jsonl")).unwrap();
    assert!(fallback.contains(&request_id));
    // Once the journal works, the job is simply collected.
    let job = v["job_id"].as_str().unwrap().to_owned();
    t.sandbox().set_faults(Faults::default());
    let waited = run(&t, &args(&["--json", "wait", &job]));
    assert_eq!(waited.code, 0, "{waited:?}");
    assert_eq!(waited.json()["request_id"], request_id.as_str());
    assert_eq!(t.stats().submit_posts_received, 1);
}

#[test]
fn charges_above_the_quote_are_warned_about_and_count_in_the_budget() {
    let mut t = sandbox_with(Faults { overcharge: Credits::whole(10), ..Faults::default() });
    t.env("CONJURE_DAILY_BUDGET", "20cr");
    let cheap = |p: &str| args(&["--json", "image", p, "--model", "gen", "--yes"]);
    let first = run(&t, &cheap("over one"));
    assert_eq!(first.code, 0, "{first:?}");
    let v = first.json();
    assert_eq!((v["credits"].as_f64(), v["quoted_credits"].as_f64()), (Some(13.0), Some(3.0)));
    assert!(v["warnings"][0].as_str().unwrap().contains("10 more than the quote"), "{v}");
    assert!(first.stderr.contains("warning: the provider charged 13 credits"), "{}", first.stderr);
    // 13 + 3 quoted fits 20; after that, 26 charged does not leave room for 3 more.
    assert_eq!(run(&t, &cheap("over two")).code, 0);
    let third = run(&t, &cheap("over three"));
    assert_eq!(third.code, 6, "{third:?}");
    assert_eq!(t.stats().submit_posts_received, 2);
}

#[test]
fn results_never_saved_are_outstanding_until_fetched() {
    let t = sandbox_with(Faults { asset_404: true, ..Faults::default() });
    let r = run(&t, &image("lost asset", &["--yes"]));
    assert_eq!(r.code, 1, "{r:?}");
    let job = r.json()["job_id"].as_str().unwrap().to_owned();
    assert!(r.json()["error"]["hint"].as_str().unwrap().contains("conjure fetch"));
    let pending = run(&t, &args(&["--json", "jobs", "--pending"])).json();
    assert_eq!(pending["jobs"][0]["job_id"], job.as_str());
    assert_eq!(pending["jobs"][0]["undelivered"], true);
    assert!(pending["jobs"][0]["hint"].as_str().unwrap().contains(&format!("conjure fetch {job}")));
    let human = run(&t, &args(&["jobs", "--pending"]));
    assert!(human.stdout.contains("undelivered"), "{human:?}");
    t.sandbox().set_faults(Faults::default());
    let fetched = run(&t, &args(&["--json", "fetch", &job]));
    assert_eq!(fetched.code, 0, "{fetched:?}");
    let pending = run(&t, &args(&["--json", "jobs", "--pending"])).json();
    assert_eq!(pending["jobs"].as_array().unwrap().len(), 0);
    assert_eq!(t.stats().submit_posts_received, 1);
}

#[test]
fn inputs_are_checked_by_content_before_the_quote() {
    let t = sandbox();
    let cases: [(&str, &[u8]); 3] = [
        ("notes.png", b"a text file, named like a picture"),
        ("empty.png", b""),
        ("broken.png", b"\x89PNG\r\n\x1a\nthe rest is not a png"),
    ];
    for (name, bytes) in cases {
        std::fs::write(t.out_dir().join(name), bytes).unwrap();
        let r = run(
            &t,
            &args(&["--json", "video", "x", "--model", "kling", "--first-frame", name, "--yes"]),
        );
        assert_eq!(r.code, 2, "{name}: {r:?}");
        let quote = run(
            &t,
            &args(&["--json", "quote", "video", "x", "--model", "kling", "--first-frame", name]),
        );
        assert_eq!(quote.code, 2, "{name}: no quote either: {quote:?}");
    }
    assert_eq!(t.stats().submit_posts_received, 0);
}

#[test]
fn a_retry_sends_the_bytes_that_were_quoted_or_nothing() {
    let t = sandbox_with(Faults { fail_rate: 1.0, ..Faults::default() });
    std::fs::write(t.out_dir().join("frame.png"), conjure_test::png_bytes()).unwrap();
    let video =
        args(&["--json", "video", "x", "--model", "kling", "--first-frame", "frame.png", "--yes"]);
    let failed = run(&t, &video);
    assert_eq!(failed.code, 4, "{failed:?}");
    let job = failed.json()["job_id"].as_str().unwrap().to_owned();
    t.sandbox().set_faults(Faults::default());
    // The file changed since: the retry refuses before anything is recorded or sent.
    std::fs::write(t.out_dir().join("frame.png"), conjure_test::other_png_bytes()).unwrap();
    let retry = run(&t, &args(&["--json", "retry", &job, "--yes"]));
    assert_eq!(retry.code, 2, "{retry:?}");
    assert!(retry.json()["error"]["message"].as_str().unwrap().contains("changed"), "{retry:?}");
    assert_eq!(t.stats().submit_posts_received, 1);
    // Put back, the retry sends exactly the quoted bytes.
    std::fs::write(t.out_dir().join("frame.png"), conjure_test::png_bytes()).unwrap();
    let sent = run(&t, &args(&["--json", "retry", &job, "--yes"]));
    assert_eq!(sent.code, 0, "{sent:?}");
    assert_eq!(t.stats().submit_posts_received, 2);
}

#[test]
fn secrets_echoed_by_the_provider_are_masked_everywhere() {
    let mut t = sandbox_with(Faults { echo_credentials: true, ..Faults::default() });
    t.env("CONJURE_LOG", "debug");
    let mut runs = Vec::new();
    // A refused key (401), a failed submit (500), failed items, rate-limited polls.
    let mut wrong = t.command(&["-vv", "--json", "image", "wrong secret", "--yes"]);
    wrong.env("KATANA_API_SECRET", "ts_SENTINEL_WRONG_SECRET");
    runs.push(t.run_cmd(wrong));
    t.sandbox().set_faults(Faults {
        echo_credentials: true,
        submit_500: true,
        ..Faults::default()
    });
    runs.push(run(&t, &args(&["-vv", "--json", "image", "five hundred", "--yes"])));
    t.sandbox().set_faults(Faults { echo_credentials: true, fail_rate: 1.0, ..Faults::default() });
    runs.push(run(&t, &args(&["-vv", "--json", "image", "failing item", "--yes"])));
    runs.push(run(&t, &args(&["-vv", "image", "failing item, human", "--yes"])));
    t.sandbox().set_faults(Faults {
        echo_credentials: true,
        rate_limit_polls: 2,
        ..Faults::default()
    });
    runs.push(run(&t, &args(&["-vv", "--json", "image", "rate limited", "--yes"])));
    runs.push(run(&t, &args(&["--json", "jobs"])));
    assert_eq!(runs[0].code, 7, "{:?}", runs[0]);
    assert_eq!(runs[1].code, 5, "{:?}", runs[1]);
    assert_eq!(runs[2].code, 4, "{:?}", runs[2]);
    for r in &runs {
        for needle in [TEST_KEY, TEST_SECRET, "SENTINEL"] {
            assert!(!r.stdout.contains(needle), "stdout leaks {needle}: {r:?}");
            assert!(!r.stderr.contains(needle), "stderr leaks {needle}: {r:?}");
        }
    }
    // The echoes did happen, and were masked.
    assert!(
        runs.iter().any(|r| r.stdout.contains("****") && r.stdout.contains("error")),
        "{runs:#?}"
    );
    for path in t.all_files() {
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap_or_default()).into_owned();
        for needle in [TEST_KEY, TEST_SECRET, "SENTINEL"] {
            assert!(!text.contains(needle), "{} leaks {needle}", path.display());
        }
    }
}
