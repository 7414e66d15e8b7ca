//! `--events`: JSON Lines on stderr, one object per event, for programs driving conjure. Every
//! stderr line must parse; stdout is the same as without the flag.

use std::process::Command;

use serde_json::Value;

use crate::{ctx, sandbox};

/// Every stderr line as JSON, failing on any line that is not an event.
fn events(stderr: &str) -> Vec<Value> {
    stderr
        .lines()
        .map(|line| {
            let e: Value = serde_json::from_str(line)
                .unwrap_or_else(|err| panic!("not a JSON line ({err}): {line:?}\n{stderr}"));
            assert!(e["event"].is_string(), "{line}");
            assert!(e.as_object().unwrap().contains_key("job_id"), "{line}");
            let ts = e["ts"].as_str().unwrap_or_else(|| panic!("no ts: {line}"));
            // RFC 3339 UTC with milliseconds: 2026-11-21T16:00:00.250Z
            assert_eq!(ts.len(), 24, "{ts}");
            assert!(ts.ends_with('Z') && ts.as_bytes()[19] == b'.', "{ts}");
            e
        })
        .collect()
}

fn names(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["event"].as_str().unwrap()).collect()
}

fn position(names: &[&str], name: &str) -> usize {
    names.iter().position(|n| *n == name).unwrap_or_else(|| panic!("no {name}: {names:?}"))
}

#[test]
fn a_media_job_is_quoted_submitted_completed_delivered_and_costed() {
    let t = sandbox();
    let r = t.run(&["image", "a fox", "--model", "gpt-image-2", "--yes", "--events"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let all = events(&r.stderr);
    let seq = names(&all);
    assert_eq!(seq[0], "quoted", "{seq:?}");
    let quoted = &all[0];
    assert!(quoted["credits"].is_number(), "{quoted}");
    assert!(quoted["token"].is_string(), "{quoted}");
    assert!(quoted["job_id"].is_null(), "{quoted}");
    let (sub, done, cost) =
        (position(&seq, "submitted"), position(&seq, "completed"), position(&seq, "cost"));
    assert!(sub < done && done < cost, "{seq:?}");
    assert_eq!(cost, seq.len() - 1, "{seq:?}");
    let request_id = all[sub]["request_id"].as_str().unwrap();
    assert!(!request_id.is_empty());
    let job = all[sub]["job_id"].as_str().unwrap();
    for e in &all[1..] {
        assert_eq!(e["job_id"], job, "{e}");
    }
    for e in &all[sub + 1..done] {
        assert_eq!(e["event"], "progress", "{seq:?}");
        assert!(e["status"].is_string() && e["elapsed_seconds"].is_number(), "{e}");
    }
    assert_eq!(all[done]["status"], "completed");
    let files: Vec<&Value> = all[done + 1..cost].iter().collect();
    assert!(!files.is_empty(), "{seq:?}");
    // stdout is unchanged: the paths, one a line, the ones the file events name.
    let printed: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(printed.len(), files.len(), "{}", r.stdout);
    for (f, path) in files.iter().zip(&printed) {
        assert_eq!(f["event"], "file");
        assert_eq!(f["path"], *path);
        assert_eq!(f["bytes"].as_u64(), Some(std::fs::metadata(path).unwrap().len()));
        assert_eq!(f["sha256"].as_str().map(str::len), Some(64), "{f}");
        assert!(f["mime"].as_str().unwrap().starts_with("image/"), "{f}");
    }
    assert!(all[cost]["credits"].is_number() && all[cost]["quoted_credits"].is_number());
    // With --json too: stdout is the one object, stderr the same kind of stream.
    let r = t.run(&["--json", "image", "a cat", "--model", "gpt-image-2", "--yes", "--events"]);
    assert_eq!(r.json()["status"], "completed", "{}", r.stdout);
    assert_eq!(names(&events(&r.stderr)).last(), Some(&"cost"));
    assert_eq!(t.stats().submit_posts_received, 2);
}

#[test]
fn json_alone_keeps_events_off_stderr() {
    let t = sandbox();
    let r = t.run(&["--json", "image", "a fox", "--model", "gpt-image-2", "--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains(r#""event""#), "{}", r.stderr);
}

#[test]
fn a_text_stream_answers_on_stdout_and_reports_on_stderr() {
    let t = sandbox();
    let r = t.run(&["text", "hello there", "--yes", "--events"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let all = events(&r.stderr);
    let seq = names(&all);
    assert_eq!(seq, ["quoted", "submitted", "progress", "completed", "cost"], "{}", r.stderr);
    assert!(all[1]["request_id"].as_str().is_some_and(|r| !r.is_empty()), "{}", r.stderr);
    let job = all[1]["job_id"].as_str().unwrap();
    let status = t.run(&["--json", "status", job, "--offline"]).json();
    let answer = status["answer"].as_str().unwrap();
    assert!(!answer.is_empty());
    assert_eq!(r.stdout, answer, "the answer, verbatim");
}

/// A 64x36 one-second clip with sound, made by ffmpeg.
fn clip(dir: &std::path::Path) {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=s=64x36:r=10:d=1")
        .args(["-f", "lavfi", "-i", "sine=f=440:d=1", "-shortest", "-c:v", "libx264"])
        .args(["-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"])
        .arg(dir.join("src.mp4"))
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn an_edit_and_a_media_step_report_progress_completion_and_the_file() {
    let t = ctx();
    clip(&t.out_dir());
    std::fs::write(
        t.out_dir().join("edit.yaml"),
        "output: {path: edit.mp4, preset: ultrafast}\nclips:\n  - src: src.mp4\n  - src: src.mp4\n",
    )
    .unwrap();
    let r = t.run(&["edit", "edit.yaml", "--events"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let all = events(&r.stderr);
    let seq = names(&all);
    assert_eq!(seq[0], "progress", "{seq:?}");
    assert_eq!(all[0]["status"], "started");
    assert_eq!(&seq[seq.len() - 2..], ["completed", "file"], "{seq:?}");
    let out = t.out_dir().join("edit.mp4");
    let path = out.display().to_string();
    assert!(all.iter().all(|e| e["job_id"] == path.as_str()), "{}", r.stderr);
    let file = all.last().unwrap();
    assert_eq!(file["path"], path.as_str());
    assert_eq!(file["mime"], "video/mp4");
    assert_eq!(file["bytes"].as_u64(), Some(std::fs::metadata(&out).unwrap().len()));
    assert_eq!((file["width"].as_u64(), file["height"].as_u64()), (Some(64), Some(36)));
    assert!((file["duration_seconds"].as_f64().unwrap() - 2.0).abs() < 0.2, "{file}");
    assert_eq!(r.stdout.trim(), path, "stdout is unchanged");

    let r = t.run(&["media", "reverse", "src.mp4", "-o", "rev.mp4", "--events"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let all = events(&r.stderr);
    let seq = names(&all);
    assert_eq!(seq[0], "progress", "{seq:?}");
    assert_eq!(&seq[seq.len() - 2..], ["completed", "file"], "{seq:?}");
    let rev = t.out_dir().join("rev.mp4").display().to_string();
    assert_eq!(all.last().unwrap()["path"], rev.as_str());
}

#[test]
fn a_refused_budget_is_one_error_event_and_exit_6() {
    let mut t = sandbox();
    t.env("CONJURE_DAILY_BUDGET", "1cr");
    // Before any job exists the error has no job id; the budget is checked before consent.
    let r = t.run(&["image", "a fox", "--model", "gpt-image-2", "--yes", "--events"]);
    assert_eq!(r.code, 6, "{}", r.stderr);
    let all = events(&r.stderr);
    assert_eq!(names(&all), ["quoted", "error"], "{}", r.stderr);
    let e = &all[1];
    assert_eq!(e["kind"], "over_budget");
    assert_eq!(e["exit_code"], 6);
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
    assert!(e["hint"].is_string(), "{e}");
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert_eq!(t.stats().submit_posts_received, 0);
    // Unapproved, without a terminal: the quote on stdout, exit 3, the token in the events.
    let t = sandbox();
    let r = t.run(&["image", "a fox", "--model", "gpt-image-2", "--events"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let all = events(&r.stderr);
    assert_eq!(names(&all), ["quoted", "error"], "{}", r.stderr);
    assert_eq!(all[1]["kind"], "confirmation_required");
    let token = all[0]["token"].as_str().unwrap();
    assert!(all[1]["hint"].as_str().unwrap().contains(token), "{}", r.stderr);
}

#[test]
fn no_human_text_leaks_onto_stderr() {
    let t = sandbox();
    // Warnings (a deprecated flag), notes, the summary, logs at -vv and a usage error: all
    // JSON lines.
    let r = t.run(&[
        "-vv",
        "image",
        "a fox",
        "--model",
        "gpt-image-2",
        "--yes",
        "--out",
        "old",
        "--events",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let all = events(&r.stderr);
    let seq = names(&all);
    assert!(seq.contains(&"warning"), "{seq:?}");
    assert!(seq.contains(&"log"), "{seq:?}");
    let job = all[position(&seq, "submitted")]["job_id"].as_str().unwrap().to_owned();
    let dry = t.run(&["image", "a fox", "--model", "gpt-image-2", "--dry-run", "--events"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert_eq!(names(&events(&dry.stderr)), ["quoted"], "{}", dry.stderr);
    for args in [
        vec!["wait", job.as_str(), "--events"],
        vec!["fetch", job.as_str(), "--force", "--events"],
        vec!["wait", "nope", "--events"],
        vec!["media", "reverse", "missing.mp4", "-o", "x.mp4", "--events"],
    ] {
        let r = t.run(&args);
        let all = events(&r.stderr);
        if r.code == 0 {
            assert_eq!(names(&all).last(), Some(&"cost"), "{args:?}: {}", r.stderr);
        } else {
            // A media step says it started before its input is read.
            assert_eq!(names(&all).last(), Some(&"error"), "{args:?}: {}", r.stderr);
            assert_eq!(all.iter().filter(|e| e["event"] == "error").count(), 1);
            assert_eq!(all.last().unwrap()["exit_code"], r.code);
        }
    }
}
