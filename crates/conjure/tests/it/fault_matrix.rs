//! The fault matrix (README, "Reliability"): one test per row, each against the sandbox's fault
//! injection and, where the fault applies to both, for Katana and ImaginePro alike.
//!
//! Every row asserts the same four things: how many paid POSTs the server received and accepted
//! (never more than one per approval), the journal state of the job (`conjure status --json`),
//! the exit code, and that the documented recovery completes the job: `conjure wait` or
//! `conjure fetch` for free, or `conjure retry` with a new approval and exactly one more POST.
//! The kill -9 rows run the real binary, wait (bounded) for the moment at the sandbox's
//! counters, kill it, and check that no partial file sits under a final name. The rows of the
//! 500 after acceptance, rate-limited polls and the never-ending stale job are also in
//! `faults.rs`; the money rules under faults with several processes are in `money.rs`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use conjure_test::{Faults, Stats, TestContext};
use serde_json::Value;

use crate::sandbox_with;

/// The two providers the sandbox speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Katana,
    ImaginePro,
}

const BOTH: [Side; 2] = [Side::Katana, Side::ImaginePro];

impl Side {
    /// A paid image request approved with `--yes`.
    fn image(self) -> Vec<&'static str> {
        match self {
            Side::Katana => vec!["--json", "image", "a lighthouse", "--model", "gen", "--yes"],
            Side::ImaginePro => vec![
                "--json",
                "image",
                "a lighthouse",
                "--provider",
                "imaginepro",
                "--yes",
                "--max-cost",
                "10cr",
            ],
        }
    }

    /// Paid POSTs that reached the server, whatever became of them.
    fn received(self, s: &Stats) -> u64 {
        match self {
            Side::Katana => s.submit_posts_received,
            Side::ImaginePro => s.imaginepro_posts_received,
        }
    }

    /// Paid POSTs the server accepted and charged.
    fn accepted(self, s: &Stats) -> u64 {
        match self {
            Side::Katana => s.submissions_accepted,
            Side::ImaginePro => s.imaginepro_accepted,
        }
    }

    /// Polls of any job.
    fn polls(self, s: &Stats) -> u64 {
        match self {
            Side::Katana => s.polls,
            Side::ImaginePro => s.imaginepro_fetches,
        }
    }

    /// A paid image request whose asset is larger than [`FILE_SIZE_LIMIT`], sent without
    /// waiting for it.
    fn large_image_no_wait(self) -> Vec<&'static str> {
        let mut args = match self {
            Side::Katana => {
                vec!["--json", "image", "a lighthouse", "--model", "pink-image", "--uhd", "--yes"]
            }
            Side::ImaginePro => self.image(),
        };
        args.push("--no-wait");
        args
    }

    fn base_url_env(self) -> &'static str {
        match self {
            Side::Katana => "CONJURE_KATANA_BASE_URL",
            Side::ImaginePro => "CONJURE_IMAGINEPRO_BASE_URL",
        }
    }
}

/// `(received, accepted)` paid POSTs of `side`.
fn posts(t: &TestContext, side: Side) -> (u64, u64) {
    let s = t.stats();
    (side.received(&s), side.accepted(&s))
}

/// The only job in the journal (the newest when there are several).
fn newest_job(t: &TestContext) -> String {
    let jobs = t.run(&["--json", "jobs"]).json();
    jobs["jobs"][0]["job_id"].as_str().unwrap_or_else(|| panic!("no job: {jobs}")).to_owned()
}

fn status(t: &TestContext, job: &str) -> Value {
    let r = t.run(&["--json", "status", job]);
    assert_eq!(r.code, 0, "{r:?}");
    r.json()
}

/// The job id a failed or finished paid command reported.
fn job_of(run: &conjure_test::Run) -> String {
    run.json()["job_id"].as_str().unwrap_or_else(|| panic!("no job id: {run:?}")).to_owned()
}

/// The files under the output folder that carry a final name (not hidden temp files).
fn final_files(t: &TestContext) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(t.out_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

/// The size of the first delivered output of `view`, as its provenance sidecar records it.
fn delivered_bytes(view: &Value) -> u64 {
    let path = view["outputs"][0]["path"].as_str().unwrap();
    let sidecar: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{path}.json")).unwrap()).unwrap();
    sidecar["bytes"].as_u64().unwrap()
}

/// Every delivered output of `view` exists whole: its size and hash are the ones its
/// provenance sidecar recorded when it was moved into place.
fn assert_delivered(view: &Value) {
    let outputs = view["outputs"].as_array().unwrap_or_else(|| panic!("no outputs: {view}"));
    assert!(!outputs.is_empty(), "{view}");
    for o in outputs {
        let path = o["path"].as_str().unwrap();
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let sidecar: Value =
            serde_json::from_str(&std::fs::read_to_string(format!("{path}.json")).unwrap())
                .unwrap();
        assert_eq!(Some(bytes.len() as u64), sidecar["bytes"].as_u64(), "{path}");
        assert_eq!(sidecar["sha256"], o["sha256"], "{path}");
    }
    assert!(view.get("undelivered").is_none(), "{view}");
}

/// The documented recovery for a request whose outcome is unknown or failed: `conjure retry`,
/// which quotes without sending, then sends exactly one more POST with the new approval.
/// Returns the new job, completed.
fn retry_with_new_approval(t: &TestContext, side: Side, job: &str) -> Value {
    let before = posts(t, side);
    let quoted = t.run(&["--json", "retry", job]);
    assert_eq!(quoted.code, 3, "{side:?}: a retry needs a new approval: {quoted:?}");
    assert_eq!(posts(t, side), before, "{side:?}: a quote sends nothing");
    let token = quoted.json()["quote"]["token"].as_str().unwrap().to_owned();
    let sent = t.run(&["--json", "retry", job, "--approve", &token]);
    assert_eq!(sent.code, 0, "{side:?}: {sent:?}");
    assert_eq!(posts(t, side), (before.0 + 1, before.1 + 1), "{side:?}: exactly one more POST");
    let v = sent.json();
    assert_ne!(v["job_id"], job, "{side:?}: a retry is a new job");
    assert_eq!(v["retry_of"], job, "{side:?}: {v}");
    assert_eq!(v["status"], "completed", "{side:?}: {v}");
    assert_delivered(&v);
    v
}

/// Waits (bounded) until `ready` holds; panics with `what` if it never does.
fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    for _ in 0..3_000 {
        if ready() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("never happened: {what}");
}

fn spawn(mut cmd: Command) -> Child {
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    cmd.spawn().unwrap()
}

fn kill_9(mut child: Child) {
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), None, "killed by a signal, not exited: {status:?}");
}

/// A loopback port nobody listens on.
fn refused_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

// --- Submit: the paid POST. ---

/// One submit row on `side`: the command under `faults` exits `exit`, the server received and
/// accepted `posts`, the journal says `state`; then the fault lifts and only `retry`, with a new
/// approval, sends the request again, once. `extra` checks more, given the job's id.
fn submit_row(
    side: Side,
    t: &TestContext,
    exit: i32,
    expected: (u64, u64),
    state: &str,
    extra: impl FnOnce(&TestContext, &str),
) {
    let run = t.run(&side.image());
    assert_eq!(run.code, exit, "{side:?}: {run:?}");
    let job = job_of(&run);
    assert_eq!(posts(t, side), expected, "{side:?}");
    let st = status(t, &job);
    assert_eq!(st["status"], state, "{side:?}: {st}");
    extra(t, &job);
    t.sandbox().set_faults(Faults::default());
    retry_with_new_approval(t, side, &job);
}

#[test]
fn connection_refused_sends_nothing_and_a_retry_sends_once() {
    for side in BOTH {
        let t = sandbox_with(Faults::default());
        let mut cmd = t.command(&side.image());
        cmd.env(side.base_url_env(), refused_url());
        let run = t.run_cmd(cmd);
        // Nothing reached the provider, so it neither failed nor rejected anything: exit 1.
        assert_eq!(run.code, 1, "{side:?}: {run:?}");
        assert!(run.json()["error"]["hint"].as_str().unwrap().contains(side.base_url_env()));
        let job = job_of(&run);
        assert_eq!(posts(&t, side), (0, 0), "{side:?}");
        let st = status(&t, &job);
        assert_eq!(st["status"], "failed", "{side:?}: nothing left, nothing charged: {st}");
        assert!(st["request_id"].is_null(), "{st}");
        assert!(final_files(&t).is_empty());
        retry_with_new_approval(&t, side, &job);
    }
}

#[test]
fn reset_before_the_submit_was_accepted_is_unknown_and_only_retry_resends() {
    for side in BOTH {
        // The client cannot tell a reset before acceptance from one after: maybe charged.
        let t = sandbox_with(Faults { reset_before_accept: true, ..Faults::default() });
        submit_row(side, &t, 5, (1, 0), "unknown", |t, job| {
            // Waiting on it sends nothing; there is no request id to poll.
            t.run(&["wait", job]);
            assert_eq!(posts(t, side), (1, 0), "{side:?}");
        });
    }
}

#[test]
fn reset_after_the_job_was_accepted_is_unknown_and_only_retry_resends() {
    for side in BOTH {
        let t = sandbox_with(Faults { drop_after_accept: true, ..Faults::default() });
        submit_row(side, &t, 5, (1, 1), "unknown", |t, _| {
            // The same command again is a duplicate, refused before anything is sent.
            let again = t.run(&side.image());
            assert_eq!(again.code, 2, "{side:?}: {again:?}");
            assert_eq!(posts(t, side), (1, 1), "{side:?}");
        });
    }
}

#[test]
fn timeout_after_acceptance_is_unknown_not_failed() {
    for side in BOTH {
        let mut t = sandbox_with(Faults { submit_delay_ms: 600_000, ..Faults::default() });
        t.env("CONJURE_HTTP_TIMEOUT", "1");
        let run = t.run(&side.image());
        assert_eq!(run.code, 5, "{side:?}: {run:?}");
        let v = run.json();
        assert_eq!(v["error"]["kind"], "outcome_unknown", "{v}");
        let job = job_of(&run);
        assert_eq!(posts(&t, side), (1, 1), "{side:?}");
        assert_eq!(status(&t, &job)["status"], "unknown", "{side:?}");
        t.sandbox().set_faults(Faults::default());
        retry_with_new_approval(&t, side, &job);
    }
}

#[test]
fn a_500_on_submit_is_unknown_and_only_retry_resends() {
    for side in BOTH {
        let t = sandbox_with(Faults { submit_500: true, ..Faults::default() });
        submit_row(side, &t, 5, (1, 1), "unknown", |_, _| {});
    }
}

#[test]
fn a_429_on_submit_exits_4_and_nothing_is_resent() {
    for side in BOTH {
        // Refused, nothing charged; a single command does not wait and resend.
        let t = sandbox_with(Faults { submit_429: true, retry_after_secs: 0, ..Faults::default() });
        submit_row(side, &t, 4, (1, 0), "failed", |_, _| {});
    }
}

#[test]
fn a_malformed_answer_to_an_accepted_submit_is_unknown() {
    for side in BOTH {
        let t = sandbox_with(Faults { malformed_json: true, ..Faults::default() });
        submit_row(side, &t, 5, (1, 1), "unknown", |_, _| {});
    }
}

// --- The job at the provider: polls. ---

#[test]
fn stale_processing_stops_at_the_hard_stop_and_wait_completes_it_later() {
    for side in BOTH {
        let t = sandbox_with(Faults { hold: true, ..Faults::default() });
        let run = t.run(&side.image());
        assert_eq!(run.code, 8, "{side:?}: {run:?}");
        assert_eq!(run.json()["error"]["kind"], "still_pending");
        let job = job_of(&run);
        let st = status(&t, &job);
        assert!(st["request_id"].is_string(), "{st}");
        assert!(matches!(st["status"].as_str(), Some("submitted" | "processing")), "{st}");
        let still = t.run(&["--json", "wait", &job]);
        assert_eq!(still.code, 8, "{side:?}: {still:?}");
        // The provider gets unstuck: waiting collects it, nothing is sent again.
        t.sandbox().set_faults(Faults::default());
        let waited = t.run(&["--json", "wait", &job]);
        assert_eq!(waited.code, 0, "{side:?}: {waited:?}");
        assert_eq!(waited.json()["status"], "completed");
        assert_delivered(&waited.json());
        assert_eq!(posts(&t, side), (1, 1), "{side:?}");
    }
}

#[test]
fn a_failed_job_exits_4_is_refunded_and_retry_sends_once() {
    for side in BOTH {
        let t = sandbox_with(Faults { fail_rate: 1.0, ..Faults::default() });
        let before = t.stats();
        let run = t.run(&side.image());
        assert_eq!(run.code, 4, "{side:?}: {run:?}");
        assert_eq!(run.json()["error"]["kind"], "provider_failed");
        let job = job_of(&run);
        assert_eq!(posts(&t, side), (1, 1), "{side:?}");
        assert_eq!(status(&t, &job)["status"], "failed", "{side:?}");
        let after = t.stats();
        let balances = |s: &Stats| (s.balances.clone(), s.imaginepro_balances.clone());
        assert_eq!(balances(&after), balances(&before), "{side:?}: the failure was refunded");
        t.sandbox().set_faults(Faults::default());
        retry_with_new_approval(&t, side, &job);
    }
}

#[test]
fn a_partial_failure_delivers_what_exists_and_fetch_gets_it_again() {
    // ImaginePro jobs fail or succeed whole; only Katana has items that fail on their own.
    let t = crate::sandbox();
    let run = crate::faults::submit_partial(&t);
    assert_eq!(run.code, 0, "{run:?}");
    let job = job_of(&run);
    assert_eq!(posts(&t, Side::Katana), (1, 1));
    let st = status(&t, &job);
    assert_eq!(st["status"], "partial", "{st}");
    assert_eq!(st["outputs"].as_array().unwrap().len(), 1, "{st}");
    assert_delivered(&st);
    let fetched = t.run(&["--json", "fetch", &job]);
    assert_eq!(fetched.code, 0, "{fetched:?}");
    assert_eq!(fetched.json()["outputs"][0]["sha256"], st["outputs"][0]["sha256"]);
    assert_eq!(posts(&t, Side::Katana), (1, 1));
}

// --- Delivery: the downloads. ---

#[test]
fn an_expired_asset_url_keeps_the_result_and_fetch_completes_it() {
    for side in BOTH {
        let t = sandbox_with(Faults { asset_404: true, ..Faults::default() });
        let run = t.run(&side.image());
        assert_eq!(run.code, 1, "{side:?}: {run:?}");
        let job = job_of(&run);
        assert!(run.json()["error"]["hint"].as_str().unwrap().contains("conjure fetch"));
        let st = status(&t, &job);
        assert_eq!(st["status"], "completed", "{side:?}: {st}");
        assert_eq!(st["undelivered"], true, "{side:?}: {st}");
        assert!(final_files(&t).is_empty(), "{side:?}: {:?}", final_files(&t));
        t.sandbox().set_faults(Faults::default());
        let fetched = t.run(&["--json", "fetch", &job]);
        assert_eq!(fetched.code, 0, "{side:?}: {fetched:?}");
        assert_delivered(&fetched.json());
        assert_delivered(&status(&t, &job));
        assert_eq!(posts(&t, side), (1, 1), "{side:?}");
    }
}

/// `cmd` run under a real file-size limit of `bytes` (`RLIMIT_FSIZE`, set by util-linux
/// `prlimit`), with `SIGXFSZ` ignored so that a write past the limit fails with `EFBIG` the way a
/// full disk fails one, instead of killing the process.
fn with_file_size_limit(cmd: &Command, bytes: u64) -> Command {
    let mut limited = Command::new("sh");
    limited
        .arg("-c")
        .arg(r#"trap '' XFSZ; exec prlimit --fsize="$0" -- "$@""#)
        .arg(bytes.to_string())
        .arg(cmd.get_program())
        .args(cmd.get_args());
    limited.env_clear();
    for (k, v) in cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))) {
        limited.env(k, v);
    }
    if let Some(dir) = cmd.get_current_dir() {
        limited.current_dir(dir);
    }
    limited.stdin(Stdio::null());
    limited
}

/// Bytes the file-size limit allows: above the journal of one job and what `wait` writes to it,
/// below the size of the asset downloaded (about 180 KB for ImaginePro, 250 KB for Katana's UHD
/// image).
const FILE_SIZE_LIMIT: u64 = 128 * 1024;

#[test]
fn disk_full_while_downloading_keeps_the_result_and_fetch_completes_it() {
    for side in BOTH {
        let t = sandbox_with(Faults::default());
        // Sent without the limit: what it guards is the download, which `wait` does.
        let sent = t.run(&side.large_image_no_wait());
        assert_eq!(sent.code, 0, "{side:?}: {sent:?}");
        let job = job_of(&sent);
        let cmd = t.command(&["--json", "wait", &job]);
        let run = t.run_cmd(with_file_size_limit(&cmd, FILE_SIZE_LIMIT));
        assert_eq!(run.code, 1, "{side:?}: {run:?}");
        let v = run.json();
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains("Downloading an output"), "{side:?}: {v}");
        assert!(message.contains("File too large"), "{side:?}: a real EFBIG: {v}");
        assert!(v["error"]["hint"].as_str().unwrap().contains("conjure fetch"), "{v}");
        let st = status(&t, &job);
        assert_eq!(st["status"], "completed", "{side:?}: {st}");
        assert_eq!(st["undelivered"], true, "{side:?}: {st}");
        assert!(final_files(&t).is_empty(), "{side:?}: {:?}", final_files(&t));
        assert!(
            !t.all_files().iter().any(|p| p.to_string_lossy().ends_with(".part")),
            "{side:?}: the temp file is removed"
        );
        // Room again: fetch completes it for free.
        let fetched = t.run(&["--json", "fetch", &job]);
        assert_eq!(fetched.code, 0, "{side:?}: {fetched:?}");
        let fetched = fetched.json();
        assert_delivered(&fetched);
        let size = delivered_bytes(&fetched);
        assert!(size > FILE_SIZE_LIMIT, "{side:?}: the asset ({size} bytes) is over the limit");
        assert_eq!(posts(&t, side), (1, 1), "{side:?}");
    }
}

// --- kill -9 at each moment. ---

#[test]
fn kill_9_during_submit_leaves_an_unknown_job_and_only_retry_resends() {
    for side in BOTH {
        let t = sandbox_with(Faults { submit_delay_ms: 600_000, ..Faults::default() });
        let child = spawn(t.command(&side.image()));
        wait_until("the submit is accepted", || posts(&t, side).1 == 1);
        kill_9(child);
        assert!(final_files(&t).is_empty(), "{side:?}: {:?}", final_files(&t));
        // The next command finds the owner gone: the job may have cost money.
        let job = newest_job(&t);
        let st = status(&t, &job);
        assert_eq!(st["status"], "unknown", "{side:?}: {st}");
        let pending = t.run(&["--json", "jobs", "--pending"]).json();
        assert_eq!(pending["jobs"][0]["job_id"], job.as_str(), "{pending}");
        assert_eq!(posts(&t, side), (1, 1), "{side:?}");
        t.sandbox().set_faults(Faults::default());
        retry_with_new_approval(&t, side, &job);
    }
}

#[test]
fn kill_9_during_polling_leaves_a_resumable_job_and_wait_completes_it() {
    for side in BOTH {
        let t = sandbox_with(Faults { hold: true, ..Faults::default() });
        let child = spawn(t.command(&side.image()));
        wait_until("the job is polled", || side.polls(&t.stats()) >= 1);
        kill_9(child);
        assert!(final_files(&t).is_empty(), "{side:?}: {:?}", final_files(&t));
        let job = newest_job(&t);
        let st = status(&t, &job);
        assert!(st["request_id"].is_string(), "{side:?}: {st}");
        assert!(matches!(st["status"].as_str(), Some("submitted" | "processing")), "{st}");
        t.sandbox().set_faults(Faults::default());
        let waited = t.run(&["--json", "wait", &job]);
        assert_eq!(waited.code, 0, "{side:?}: {waited:?}");
        assert_delivered(&waited.json());
        assert_eq!(posts(&t, side), (1, 1), "{side:?}");
    }
}

#[test]
fn kill_9_during_download_leaves_no_file_under_a_final_name_and_fetch_completes_it() {
    for side in BOTH {
        let t = sandbox_with(Faults { asset_slow_ms: 200, ..Faults::default() });
        let child = spawn(t.command(&side.image()));
        wait_until("a download is under way", || t.stats().downloads >= 1);
        kill_9(child);
        assert!(final_files(&t).is_empty(), "{side:?}: {:?}", final_files(&t));
        let job = newest_job(&t);
        let st = status(&t, &job);
        assert_eq!(st["status"], "completed", "{side:?}: {st}");
        assert_eq!(st["undelivered"], true, "{side:?}: {st}");
        t.sandbox().set_faults(Faults::default());
        let fetched = t.run(&["--json", "fetch", &job]);
        assert_eq!(fetched.code, 0, "{side:?}: {fetched:?}");
        let fetched = fetched.json();
        assert_delivered(&fetched);
        let path = fetched["outputs"][0]["path"].as_str().unwrap();
        assert!(Path::new(path).starts_with(t.out_dir().canonicalize().unwrap()), "{path}");
        assert!(
            !t.all_files().iter().any(|p| p.to_string_lossy().ends_with(".part")),
            "{side:?}: the interrupted temp file was replaced by the whole one"
        );
        assert_eq!(posts(&t, side), (1, 1), "{side:?}");
    }
}

#[test]
fn kill_9_between_the_files_of_a_named_set_then_fetch_writes_the_names_asked_for() {
    // The first file is in place under the asked-for name, the journal knows nothing of it yet:
    // it is the job's own, so `fetch` writes the whole set where it was asked to go.
    for side in BOTH {
        // Slow enough that the second file is still arriving when the kill comes, fast enough
        // that the first one arrives (a few seconds for some 200 KB).
        let t = sandbox_with(Faults { asset_slow_ms: 20, ..Faults::default() });
        let mut args = side.image();
        args.extend(["-o", "set-{n}.png"]);
        if side == Side::Katana {
            args.extend(["--count", "2"]);
        }
        let child = spawn(t.command(&args));
        wait_until("the second file's download is under way", || t.stats().downloads >= 2);
        kill_9(child);
        let placed = final_files(&t);
        assert!(placed.iter().all(|n| n.starts_with("set-1.png")), "{side:?}: {placed:?}");
        let job = newest_job(&t);
        assert_eq!(status(&t, &job)["undelivered"], true, "{side:?}");
        t.sandbox().set_faults(Faults::default());
        let fetched = t.run(&["--json", "fetch", &job]);
        assert_eq!(fetched.code, 0, "{side:?}: {fetched:?}");
        let fetched = fetched.json();
        assert_delivered(&fetched);
        let names: Vec<String> = fetched["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                let path = Path::new(o["path"].as_str().unwrap());
                path.file_name().unwrap().to_string_lossy().into_owned()
            })
            .collect();
        let asked: Vec<String> = (1..=names.len()).map(|n| format!("set-{n}.png")).collect();
        assert_eq!(names, asked, "{side:?}");
        assert!(
            final_files(&t).iter().all(|n| n.starts_with("set-")),
            "{side:?}: nothing under conjure's own names: {:?}",
            final_files(&t)
        );
        assert_eq!(posts(&t, side), (1, 1), "{side:?}");
    }
}

// --- Text. ---

#[test]
fn a_text_stream_cut_midway_keeps_what_arrived_and_retry_sends_once() {
    let t = sandbox_with(Faults { stream_cut_after: Some(2), ..Faults::default() });
    let run = t.run(&["--json", "text", "how do lighthouses work?", "--yes"]);
    assert_eq!(run.code, 5, "{run:?}");
    let v = run.json();
    assert_eq!(v["error"]["kind"], "outcome_unknown");
    let partial = v["answer"].as_str().unwrap().to_owned();
    assert!(!partial.is_empty(), "{v}");
    let job = job_of(&run);
    assert_eq!((t.stats().chat_posts_received, t.stats().chat_paid), (1, 1));
    let st = status(&t, &job);
    assert_eq!(st["status"], "unknown", "{st}");
    assert_eq!(st["answer"], partial.as_str(), "{st}");
    assert_eq!(st["partial"], true, "{st}");
    t.sandbox().set_faults(Faults::default());
    let quoted = t.run(&["--json", "retry", &job]);
    assert_eq!(quoted.code, 3, "{quoted:?}");
    assert_eq!(t.stats().chat_posts_received, 1);
    let token = quoted.json()["quote"]["token"].as_str().unwrap().to_owned();
    let sent = t.run(&["--json", "retry", &job, "--approve", &token]);
    assert_eq!(sent.code, 0, "{sent:?}");
    let answer = sent.json()["answer"].as_str().unwrap().to_owned();
    assert!(answer.starts_with(&partial) && answer.len() > partial.len(), "{answer:?}");
    assert_eq!((t.stats().chat_posts_received, t.stats().chat_paid), (2, 2));
}
