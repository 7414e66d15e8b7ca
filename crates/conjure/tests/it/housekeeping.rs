//! Housekeeping users have hit: results that expired at the provider before they were saved
//! become `expired` (kept in the journal, with the reason in its audit trail), and what a
//! killed render left behind is removed by the next run.

use std::process::Command;

use conjure_test::Faults;

use crate::{ctx, sandbox_with};

const IMAGE: &[&str] = &["--json", "image", "a lighthouse", "--model", "gen", "--yes"];

#[test]
fn a_finished_job_whose_links_expired_unsaved_becomes_expired() {
    // The asset host answers 404: the job completes at the provider but is never saved.
    let t = sandbox_with(Faults { asset_404: true, ..Faults::default() });
    let run = t.run(IMAGE);
    assert_eq!(run.code, 1, "{run:?}");
    let job = run.json()["job_id"].as_str().unwrap().to_owned();
    let pending = t.run(&["--json", "jobs", "--pending"]).json();
    assert_eq!(pending["jobs"][0]["status"], "completed");
    assert_eq!(pending["jobs"][0]["undelivered"], true);

    // Its links' expiry passes (as recorded from the provider's answer).
    let conn = rusqlite::Connection::open(t.journal_path()).unwrap();
    conn.execute(
        "UPDATE jobs SET last_snapshot_json = json_set(last_snapshot_json, \
             '$.assets[0].expires_at', '2001-01-01T00:00:00Z') WHERE id = ?1",
        [&job],
    )
    .unwrap();
    drop(conn);

    let listed = t.run(&["--json", "jobs"]).json();
    let entry = &listed["jobs"][0];
    assert_eq!(entry["status"], "expired", "{listed}");
    assert!(entry["hint"].as_str().unwrap().contains("files are gone"), "{entry}");
    let human = t.run(&["jobs"]);
    assert!(
        human.stdout.contains("expired") && human.stdout.contains("files are gone"),
        "{human:?}"
    );
    let status = t.run(&["--json", "status", &job]);
    assert_eq!(status.code, 0, "{status:?}");
    let status = status.json();
    assert_eq!(status["status"], "expired");
    assert!(
        status["error"].as_str().unwrap().contains("expired at 2001-01-01T00:00:00Z"),
        "{status}"
    );
    assert!(status["request_id"].as_str().is_some(), "the record is kept whole");
    // No longer outstanding, nothing to fetch or wait for.
    let pending = t.run(&["--json", "jobs", "--pending"]).json();
    assert_eq!(pending["jobs"].as_array().unwrap().len(), 0, "{pending}");
    for verb in ["fetch", "wait"] {
        let run = t.run(&["--json", verb, &job]);
        assert_eq!(run.code, 2, "{verb}: {run:?}");
        assert!(run.json()["error"]["message"].as_str().unwrap().contains("expired"), "{run:?}");
    }

    // One audit row, from `completed`, with the reason; the journal stays sound.
    let conn = rusqlite::Connection::open(t.journal_path()).unwrap();
    let (from, to, note): (String, String, String) = conn
        .query_row(
            "SELECT from_state, to_state, note FROM job_events WHERE job_id = ?1 \
             ORDER BY seq DESC LIMIT 1",
            [&job],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((from.as_str(), to.as_str()), ("completed", "expired"));
    assert!(note.contains("before the files were saved"), "{note}");
    let expired: i64 = conn
        .query_row("SELECT count(*) FROM job_events WHERE to_state = 'expired'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(expired, 1, "settled once");
    drop(conn);
    let doctor = t.run(&["--json", "doctor"]).json();
    let journal = doctor["checks"].as_array().unwrap().iter().find(|c| c["check"] == "journal");
    assert_eq!(journal.unwrap()["status"], "ok", "{doctor}");
    assert_eq!(t.stats().submit_posts_received, 1);
}

/// Every entry of `dir` whose name starts with `prefix` or contains `part`.
fn leftovers(dir: &std::path::Path, prefix: &str) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix) || n.contains(".partial"))
        .collect();
    found.sort();
    found
}

#[cfg(target_os = "linux")]
#[test]
fn what_a_killed_render_left_is_removed_by_the_next_run() {
    let mut t = ctx();
    let tmp = t.path("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    t.env("TMPDIR", tmp.to_str().unwrap());
    // Long enough that the render is surely still running when it is killed.
    crate::media::long_video(&t);
    std::fs::write(
        t.out_dir().join("long.yaml"),
        "output: {path: big.mp4, preset: veryslow}\nclips:\n  - src: long.mp4\n  - color: '#202020'\n    duration: 1\ntexts:\n  - {text: hold on, position: center}\n",
    )
    .unwrap();
    let mut child = t.command(&["edit", "long.yaml"]).spawn().unwrap();
    let pid = child.id();
    // Wait (a bounded poll, not a timing assertion) for the working folder and an ffmpeg.
    let mut ffmpegs = Vec::new();
    for _ in 0..600 {
        ffmpegs = crate::media::children_of(pid);
        if !ffmpegs.is_empty() && !leftovers(&tmp, "conjure-").is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!ffmpegs.is_empty(), "ffmpeg never started");
    let kill = |pid: u32| Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
    assert!(kill(pid).success());
    child.wait().unwrap();
    // The orphaned encoders too, so nothing writes while the next run looks.
    for p in &ffmpegs {
        kill(*p);
    }
    let left = leftovers(&tmp, "conjure-");
    assert_eq!(left.len(), 1, "the killed render's working folder stays: {left:?}");
    // And a stale result of a killed run beside the output (a dead process's id in its name).
    let dead = {
        let mut c = Command::new("true").spawn().unwrap();
        let id = c.id();
        c.wait().unwrap();
        id
    };
    let stale = t.out_dir().join(format!(".big.mp4.{dead}.partial"));
    std::fs::write(&stale, b"half a video").unwrap();
    std::fs::write(t.out_dir().join("notes.partial"), b"the user's own file").unwrap();

    std::fs::write(
        t.out_dir().join("short.yaml"),
        "output: {path: short.mp4, preset: ultrafast}\nclips:\n  - color: '#202020'\n    duration: 1\n",
    )
    .unwrap();
    let run = t.run(&["edit", "short.yaml"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(leftovers(&tmp, "conjure-"), Vec::<String>::new());
    assert_eq!(leftovers(&t.out_dir(), ".big"), vec!["notes.partial".to_owned()]);
    assert!(t.out_dir().join("short.mp4").exists());
}
