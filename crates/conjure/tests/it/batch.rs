//! `conjure batch` against the sandbox: one quote and one approval for a whole file, Katana lines
//! packed into shared requests and other providers' lines sent one call each, resumption that
//! never sends a line twice (after a finished run, and after kill -9 at random moments), and
//! budgets that hold with a batch and seven other processes spending at once. Every test counts
//! the POSTs the sandbox received.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use conjure_test::{Faults, Run, TestContext};
use serde_json::Value;

use crate::{sandbox, sandbox_with};

fn write(t: &TestContext, name: &str, lines: &[String]) -> String {
    let path = t.path(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path.display().to_string()
}

/// The JSON Lines of a `--json` run, parsed.
fn events(run: &Run) -> Vec<Value> {
    run.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}\n{}", run.stderr)))
        .collect()
}

fn summary(run: &Run) -> Value {
    let ev = events(run);
    let last = ev.last().unwrap_or_else(|| panic!("no output\n{}", run.stderr)).clone();
    assert_eq!(last["event"], "summary", "{}\n{}", run.stdout, run.stderr);
    last["summary"].clone()
}

fn mixed() -> Vec<String> {
    let mut lines: Vec<String> = (0..5)
        .map(|i| format!(r#"{{"kind":"image","model":"gpt-image-2","prompt":"product shot {i}"}}"#))
        .collect();
    lines.push(r#"{"provider":"imaginepro","model":"flux","prompt":"a green frog"}"#.to_owned());
    lines.push(
        r#"{"provider":"imaginepro","model":"flux","prompt":"a grey heron","count":2}"#.to_owned(),
    );
    lines
}

#[test]
fn one_quote_one_approval_katana_packed_and_a_rerun_sends_nothing() {
    let mut t = sandbox();
    t.env("CONJURE_IMAGINEPRO_USD_PER_CREDIT", "0.01");
    let file = write(&t, "shots.jsonl", &mixed());
    // No approval: the quote, a token, exit 3, nothing sent.
    let quoted = t.run(&["--json", "batch", &file]);
    assert_eq!(quoted.code, 3, "{quoted:?}");
    let q = &events(&quoted)[0];
    assert_eq!(q["status"], "confirmation_required");
    let q = &q["quote"];
    assert_eq!(q["calls"], 3, "five Katana lines share one envelope: {q}");
    assert_eq!(q["lines"].as_array().unwrap().len(), 7);
    let token = q["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("cb_"));
    assert_eq!(t.stats().submit_posts_received + t.stats().imaginepro_posts_received, 0);
    // A wrong token is refused, nothing sent.
    let wrong =
        t.run(&["--json", "batch", &file, "--approve", "cb_0000000000000000000000000000000a"]);
    assert_eq!(wrong.code, 2, "{wrong:?}");
    // The token sends exactly those calls: one Katana POST, two ImaginePro POSTs.
    let run = t.run(&[
        "--json",
        "batch",
        &file,
        "--approve",
        &token,
        "--out",
        &t.out_dir().display().to_string(),
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let s = summary(&run);
    assert_eq!(
        (s["done"].as_u64(), s["failed"].as_u64(), s["unknown"].as_u64()),
        (Some(7), Some(0), Some(0)),
        "{s}"
    );
    assert_eq!(t.stats().submit_posts_received, 1);
    assert_eq!(t.stats().imaginepro_posts_received, 2);
    // Every line has its own files: 1 each, 2 for the count of 2.
    let files: Vec<usize> = s["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["files"].as_array().unwrap().len())
        .collect();
    assert_eq!(files, [1, 1, 1, 1, 1, 1, 2]);
    // The same token again, or the same file with --yes: everything is done, nothing is sent.
    let again = t.run(&["--json", "batch", &file, "--yes"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(summary(&again)["done"], 7);
    let batch_id = s["batch_id"].as_str().unwrap();
    let resumed = t.run(&["--json", "batch", "--resume", &batch_id[..6], "--yes"]);
    assert_eq!(resumed.code, 0, "{resumed:?}");
    assert_eq!(t.stats().submit_posts_received, 1);
    assert_eq!(t.stats().imaginepro_posts_received, 2);
    // The ledger has it: Katana's charge as reported, ImaginePro's at its price.
    let spend = t.run(&["--json", "spend"]);
    assert_eq!(spend.code, 0, "{spend:?}");
    let rows = spend.json()["rows"].clone();
    assert_eq!(rows[0]["provider"], "katana");
    assert_eq!(rows[0]["jobs"], 1);
    assert_eq!(rows[1]["provider"], "imaginepro");
    assert_eq!(rows[1]["jobs"], 2);
    assert_eq!(rows[1]["charged"]["credits"], serde_json::json!(18.0), "{rows}");
}

#[test]
fn bad_lines_are_all_named_and_nothing_is_sent() {
    let t = sandbox();
    let file = write(
        &t,
        "bad.jsonl",
        &[
            r#"{"prompt":"fine"}"#.to_owned(),
            "not json".to_owned(),
            r#"{"prompt":"x","colour":"red"}"#.to_owned(),
            r#"{"prompt":"fine"}"#.to_owned(),
            r#"{"prompt":"y","model":"no-such-model"}"#.to_owned(),
        ],
    );
    let run = t.run(&["batch", &file, "--yes"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("line 2") && run.stderr.contains("line 3"), "{}", run.stderr);
    let fixed = write(
        &t,
        "dup.jsonl",
        &[r#"{"prompt":"fine"}"#.to_owned(), r#"{"prompt":"fine"}"#.to_owned()],
    );
    let run = t.run(&["batch", &fixed, "--yes"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("line 2 repeats line 1"), "{}", run.stderr);
    assert_eq!(t.stats().submit_posts_received, 0);
}

/// The short version of the crash benchmark: a batch killed with SIGKILL at random moments,
/// resumed each time; at the end every line was accepted exactly once by the server.
#[test]
fn a_batch_killed_at_random_moments_resumes_and_sends_every_line_once() {
    let mut t = sandbox_with(Faults { latency_ms: 40, ..Faults::default() });
    t.env("CONJURE_IMAGINEPRO_USD_PER_CREDIT", "0.01");
    let n = 24;
    let mut lines: Vec<String> = (0..n)
        .map(|i| format!(r#"{{"provider":"imaginepro","model":"flux","prompt":"crash shot {i}"}}"#))
        .collect();
    lines.extend(
        (0..6).map(|i| format!(r#"{{"model":"gpt-image-2","prompt":"katana crash shot {i}"}}"#)),
    );
    let file = write(&t, "crash.jsonl", &lines);
    let out = t.out_dir().display().to_string();
    let args = [
        "--json",
        "batch",
        file.as_str(),
        "--yes",
        "--max-cost",
        "5.00",
        "--concurrency",
        "4",
        "--out",
        out.as_str(),
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..4 {
        let mut child: Child = {
            let mut cmd = t.command(&args);
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
            cmd.spawn().unwrap()
        };
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let wait = Duration::from_millis(150 + seed % 900);
        let start = Instant::now();
        while start.elapsed() < wait {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        let _ = round;
    }
    // Resume until every line is done or unknown (a kill between the POST and the journal's
    // record of the answer leaves the line unknown: never sent again, reported).
    let mut last = None;
    for _ in 0..5 {
        let run = t.run(&args);
        let s = summary(&run);
        let settled = s["done"].as_u64().unwrap() + s["unknown"].as_u64().unwrap() == n + 6;
        last = Some((run, s));
        if settled {
            break;
        }
    }
    let (run, s) = last.unwrap();
    let (done, unknown) = (s["done"].as_u64().unwrap(), s["unknown"].as_u64().unwrap());
    assert_eq!(done + unknown, n + 6, "{run:?}");
    assert_eq!(run.code, if unknown > 0 { 5 } else { 0 }, "{run:?}");
    // Never more than once at the server: at most one ImaginePro job per line, and every done
    // line was accepted; Katana envelopes together hold each Katana line once.
    let accepted = t.stats().imaginepro_accepted;
    assert!(accepted <= n, "{accepted} jobs accepted for {n} lines");
    let done_imaginepro = s["lines"].as_array().unwrap()[..n as usize]
        .iter()
        .filter(|l| l["state"] == "done")
        .count() as u64;
    assert!(accepted >= done_imaginepro);
    let katana_items: u64 = {
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
        let conn = rusqlite::Connection::open_with_flags(t.journal_path(), flags).unwrap();
        conn.query_row(
            "SELECT coalesce(sum(json_array_length(spec_json, '$.items')), 0) FROM jobs \
             WHERE provider = 'katana' AND state NOT IN ('failed', 'rejected')",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(katana_items, 6, "each Katana line sent once");
    // A second rerun sends nothing at all.
    let before = (t.stats().submit_posts_received, t.stats().imaginepro_posts_received);
    let again = t.run(&args);
    assert_eq!(summary(&again)["done"].as_u64(), Some(done), "{again:?}");
    assert_eq!((t.stats().submit_posts_received, t.stats().imaginepro_posts_received), before);
    // No partial file under a final name: every file is a whole PNG.
    for f in std::fs::read_dir(t.out_dir()).unwrap() {
        let p = f.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")) {
            let bytes = std::fs::read(&p).unwrap();
            assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 60, "{name}");
        }
    }
}

/// A batch and seven other processes spend at once under one daily budget: the total never
/// passes it.
#[test]
fn a_budget_holds_for_a_batch_and_seven_processes_at_once() {
    let mut t = sandbox_with(Faults { latency_ms: 100, ..Faults::default() });
    // 6 credits per Flux image; 60 credits fit ten of the 17 requests below.
    t.env("CONJURE_IMAGINEPRO_DAILY_BUDGET", "60cr");
    t.env("CONJURE_IMAGINEPRO_USD_PER_CREDIT", "0.01");
    let lines: Vec<String> = (0..10)
        .map(|i| {
            format!(r#"{{"provider":"imaginepro","model":"flux","prompt":"budget batch {i}"}}"#)
        })
        .collect();
    let file = write(&t, "budget.jsonl", &lines);
    let spawn = |args: &[&str]| -> Child {
        let mut cmd = t.command(args);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.spawn().unwrap()
    };
    let mut children = vec![spawn(&["--json", "batch", &file, "--yes", "--concurrency", "4"])];
    for i in 0..7 {
        let prompt = format!("budget single {i}");
        children.push(spawn(&[
            "--json",
            "image",
            &prompt,
            "--provider",
            "imaginepro",
            "--model",
            "flux",
            "--yes",
        ]));
    }
    let codes: Vec<i32> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap().status.code().unwrap_or(-1))
        .collect();
    assert_eq!(t.stats().imaginepro_accepted, 10, "{codes:?}");
    assert_eq!(t.stats().imaginepro_posts_received, 10, "{codes:?}");
    assert!(codes.iter().all(|c| *c == 0 || *c == 6), "{codes:?}");
    let spend = t.run(&["--json", "spend"]);
    let budgets = spend.json()["budgets"].clone();
    assert_eq!(budgets[0]["setting"], "imaginepro.daily_budget");
    assert_eq!(budgets[0]["left"][0], "0 imaginepro credits", "{budgets}");
}

/// Katana allows one request in flight per account: two conjure processes on one machine take
/// turns (the slot lock in the data directory), so their jobs never overlap at the provider.
#[test]
fn two_processes_take_turns_for_katana() {
    let t = sandbox_with(Faults { processing_steps: 3, latency_ms: 30, ..Faults::default() });
    let spawn = |prompt: &str| -> Child {
        let mut cmd = t.command(&["--events", "image", prompt, "--model", "gpt-image-2", "--yes"]);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.spawn().unwrap()
    };
    let (a, b) = (spawn("turn fox"), spawn("turn owl"));
    let runs: Vec<std::process::Output> =
        [a, b].into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    for r in &runs {
        assert_eq!(r.status.code(), Some(0), "{}", String::from_utf8_lossy(&r.stderr));
    }
    assert_eq!(t.stats().submissions_accepted, 2);
    // From the journal's audit trail: each job's time from being sent to finishing.
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    let conn = rusqlite::Connection::open_with_flags(t.journal_path(), flags).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT job_id, min(CASE WHEN to_state = 'submitting' THEN at END), \
                    max(CASE WHEN to_state = 'completed' THEN at END) \
             FROM job_events GROUP BY job_id ORDER BY 2",
        )
        .unwrap();
    let spans: Vec<(String, i64, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(spans.len(), 2, "{spans:?}");
    assert!(spans[1].1 >= spans[0].2, "the second was sent before the first finished: {spans:?}");
}

/// A 429 on a batch call's submit: the provider accepted nothing, so the batch waits out
/// Retry-After, narrows its concurrency and sends that call again (at most five times); the lines
/// are then "not sent", and the next run sends each of them once.
#[test]
fn a_429_on_a_batch_submit_resends_only_that_call_and_narrows_the_lanes() {
    let mut t = sandbox_with(Faults { submit_429: true, retry_after_secs: 1, ..Faults::default() });
    t.env("CONJURE_IMAGINEPRO_USD_PER_CREDIT", "0.01");
    let mut lines: Vec<String> = (0..3)
        .map(|i| format!(r#"{{"provider":"imaginepro","model":"flux","prompt":"limited {i}"}}"#))
        .collect();
    lines.push(r#"{"model":"gpt-image-2","prompt":"limited katana"}"#.to_owned());
    let file = write(&t, "limited.jsonl", &lines);
    let run = t.run(&["--json", "batch", &file, "--yes", "--concurrency", "3"]);
    assert_eq!(run.code, 8, "{run:?}");
    let ev = events(&run);
    let narrowed: Vec<u64> = ev
        .iter()
        .filter(|e| e["event"] == "rate_limited")
        .map(|e| e["concurrency"].as_u64().unwrap())
        .collect();
    assert_eq!(narrowed.len(), 4 * 5, "five resends per call: {narrowed:?}");
    assert_eq!(narrowed.iter().min(), Some(&1));
    let s = summary(&run);
    assert_eq!(
        (s["not_sent"].as_u64(), s["rate_limited_resends"].as_u64()),
        (Some(4), Some(20)),
        "{s}"
    );
    // Six attempts per call reached the server; none was accepted or charged.
    assert_eq!(t.stats().imaginepro_posts_received, 18);
    assert_eq!(t.stats().submit_posts_received, 6);
    assert_eq!(t.stats().imaginepro_accepted + t.stats().submissions_accepted, 0);
    // The rate limit lifts: the same file sends each line once.
    t.sandbox().set_faults(Faults::default());
    let run = t.run(&["--json", "batch", &file, "--yes"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(summary(&run)["done"], 4);
    assert_eq!(t.stats().imaginepro_accepted, 3);
    assert_eq!(t.stats().submissions_accepted, 1);
    assert_eq!(t.stats().imaginepro_posts_received, 21);
    assert_eq!(t.stats().submit_posts_received, 7);
}

/// Two runs of one batch at once, even with --again: each line is sent by one of them only (the
/// journal refuses a line another job of the batch carries, in the transaction that reserves).
#[test]
fn two_runs_of_one_batch_at_once_send_each_line_once() {
    let mut t = sandbox_with(Faults { latency_ms: 60, ..Faults::default() });
    t.env("CONJURE_IMAGINEPRO_USD_PER_CREDIT", "0.01");
    let lines: Vec<String> = (0..12)
        .map(|i| format!(r#"{{"provider":"imaginepro","model":"flux","prompt":"twice {i}"}}"#))
        .collect();
    let file = write(&t, "twice.jsonl", &lines);
    let spawn = || -> Child {
        let mut cmd =
            t.command(&["--json", "batch", &file, "--yes", "--again", "--concurrency", "4"]);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.spawn().unwrap()
    };
    let (a, b) = (spawn(), spawn());
    for c in [a, b] {
        let out = c.wait_with_output().unwrap();
        // 0, or 8 for the run whose lines the other one was still finishing.
        let code = out.status.code();
        assert!(matches!(code, Some(0 | 8)), "{code:?}: {}", String::from_utf8_lossy(&out.stdout));
    }
    assert_eq!(t.stats().imaginepro_posts_received, 12);
    assert_eq!(t.stats().imaginepro_accepted, 12);
    let again = t.run(&["--json", "batch", &file, "--yes", "--again"]);
    assert_eq!(summary(&again)["done"], 12, "{again:?}");
    assert_eq!(t.stats().imaginepro_posts_received, 12);
}
