//! `Journal::check`: a journal conjure wrote is sound; each broken rule, made by editing a copy
//! of one behind conjure's back, is found and named.

use conjure_core::{JobState, JobStore};
use conjure_journal::Journal;

use crate::support::{create, journal, raw};

/// A journal with one delivered job, one running and one just reserved.
async fn healthy() -> (crate::support::Fixture, Vec<String>) {
    let f = journal();
    let done = create(&f.journal, "done").await;
    f.journal.set_request_id(&done.id, "req_done").await.expect("the journal takes it");
    f.journal.transition(&done.id, JobState::Completed, None).await.expect("the journal takes it");
    let output = conjure_core::OutputRecord {
        index: 0,
        path: "/out/done.png".into(),
        url: "https://cdn.example.com/done.png".into(),
        mime: "image/png".into(),
        width: Some(64),
        height: Some(64),
        duration_seconds: None,
        sha256: "ab".repeat(32),
        bytes: 10,
        expires_at: None,
    };
    f.journal.record_delivery(&done.id, &[output]).await.expect("the journal takes it");
    let running = create(&f.journal, "running").await;
    f.journal.set_request_id(&running.id, "req_running").await.expect("the journal takes it");
    f.journal
        .transition(&running.id, JobState::Processing, None)
        .await
        .expect("the journal takes it");
    f.journal
        .transition(&running.id, JobState::Processing, None)
        .await
        .expect("the journal takes it");
    let quoted = create(&f.journal, "quoted").await;
    let ids = [done.id, running.id, quoted.id].map(|i| i.to_string()).to_vec();
    (f, ids)
}

#[tokio::test]
async fn a_journal_conjure_wrote_is_sound() {
    let (f, _) = healthy().await;
    let health = f.journal.check().unwrap();
    assert!(health.is_sound(), "{health:?}");
    assert_eq!(health.jobs, 3);
}

#[tokio::test]
async fn each_broken_rule_is_found_and_named() {
    let (f, ids) = healthy().await;
    let (done, running, quoted) = (&ids[0], &ids[1], &ids[2]);
    drop(f.journal);
    let conn = raw(&f.path);
    // An unknown state, a lost request id, a negative charge, a trail that ends elsewhere.
    conn.execute("UPDATE jobs SET state = 'bogus' WHERE id = ?1", [quoted]).unwrap();
    conn.execute("UPDATE jobs SET request_id = NULL WHERE id = ?1", [done]).unwrap();
    conn.execute("UPDATE jobs SET credits_spent_tenths = -5 WHERE id = ?1", [running]).unwrap();
    conn.execute("UPDATE jobs SET state = 'completed' WHERE id = ?1", [running]).unwrap();
    drop(conn);
    let journal = Journal::open(&f.path).unwrap();
    let health = journal.check().unwrap();
    assert!(!health.is_sound());
    assert!(health.integrity.is_empty(), "{health:?}");
    let found =
        |rule: &str, id: &str| health.findings.iter().any(|x| x.rule == rule && x.job_id == id);
    assert!(found("state", quoted), "{health:#?}");
    assert!(found("request_id", done), "{health:#?}");
    assert!(found("outputs", done), "{health:#?}");
    assert!(found("money", running), "{health:#?}");
    assert!(found("audit", running), "{health:#?}");
    assert!(found("audit", quoted), "{health:#?}");
}

#[tokio::test]
async fn an_illegal_move_in_the_trail_is_found() {
    let (f, ids) = healthy().await;
    drop(f.journal);
    let conn = raw(&f.path);
    // `quoted -> completed` never happens: a job is sent before it finishes.
    conn.execute(
        "UPDATE job_events SET from_state = 'quoted', to_state = 'completed' \
         WHERE job_id = ?1 AND to_state = 'completed'",
        [&ids[0]],
    )
    .unwrap();
    drop(conn);
    let health = Journal::open(&f.path).unwrap().check().unwrap();
    let illegal: Vec<_> =
        health.findings.iter().filter(|x| x.detail.contains("which no job may")).collect();
    assert_eq!(illegal.len(), 1, "{health:#?}");
    assert_eq!(illegal[0].job_id, ids[0]);
}

#[tokio::test]
async fn a_damaged_file_fails_sqlites_own_check() {
    let (f, _) = healthy().await;
    drop(f.journal);
    // Checkpoint the log into the file, then damage an index page of the copy on disk.
    let conn = raw(&f.path);
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE;").unwrap();
    let root: i64 = conn
        .query_row("SELECT rootpage FROM sqlite_master WHERE name = 'jobs_created'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let page: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
    drop(conn);
    let mut bytes = std::fs::read(&f.path).unwrap();
    let start = ((root - 1) * page) as usize;
    // Keep the page header (a b-tree leaf), scramble the cells.
    for b in &mut bytes[start + 100..start + page as usize] {
        *b = 0x5a;
    }
    std::fs::write(&f.path, bytes).unwrap();
    let health = Journal::open(&f.path).unwrap().check().unwrap();
    assert!(!health.integrity.is_empty(), "{health:#?}");
    assert!(!health.is_sound());
}
