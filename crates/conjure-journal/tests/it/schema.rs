//! The file itself: WAL mode, migrations applied once, and databases from a newer conjure.

use conjure_core::JobStore as _;
use conjure_journal::{Journal, JournalError, SCHEMA_VERSION};

use crate::support::{create, journal, raw};

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(f)
}

fn user_version(conn: &rusqlite::Connection) -> i64 {
    conn.pragma_query_value(None, "user_version", |r| r.get(0)).expect("a user_version")
}

#[test]
fn the_file_is_in_wal_mode() {
    let f = journal();
    // journal_mode=WAL is stored in the file, so a fresh connection reports it.
    let mode: String = raw(&f.path).pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn reopening_applies_no_migration_twice() {
    let f = journal();
    let job = block_on(create(&f.journal, "survives reopening"));
    assert_eq!(user_version(&raw(&f.path)), SCHEMA_VERSION);
    drop(f.journal);

    for _ in 0..3 {
        let again = Journal::open(&f.path).unwrap();
        assert_eq!(block_on(again.get(&job.id)).unwrap().id, job.id);
    }
    let conn = raw(&f.path);
    assert_eq!(user_version(&conn), SCHEMA_VERSION);
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN \
             ('jobs', 'job_events', 'outputs', 'approvals')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 4);
}

#[test]
fn a_first_version_journal_is_upgraded_with_prices_and_deliveries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    {
        let conn = raw(&path);
        conn.execute_batch(include_str!("../../migrations/0001_initial.sql")).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        for (id, usd, delivered) in
            [("j_0000000001", Some(72_800), true), ("j_0000000002", None, false)]
        {
            let quote = match usd {
                Some(_) => r#"{"usd_per_credit":0.0052}"#,
                None => "{}",
            };
            conn.execute(
                "INSERT INTO jobs (id, provider, kind, model, prompt, state, fingerprint, spec_json,                  wire_json, quote_json, quoted_credits_tenths, quoted_usd_micros, created_at, updated_at)                  VALUES (?1, 'katana', 'image', 'gen', 'p', 'completed', 'f', '{}', '{}', ?2, 140, ?3, 5, 7)",
                rusqlite::params![id, quote, usd],
            )
            .unwrap();
            if delivered {
                conn.execute(
                    "INSERT INTO outputs (job_id, idx, path, url, mime, sha256, bytes)                      VALUES (?1, 0, '/o.png', 'https://x', 'image/png', 'aa', 1)",
                    [id],
                )
                .unwrap();
            }
        }
    }
    drop(Journal::open(&path).unwrap());
    let conn = raw(&path);
    assert_eq!(user_version(&conn), SCHEMA_VERSION);
    let rows: Vec<(String, Option<i64>, Option<i64>)> = conn
        .prepare("SELECT id, usd_per_credit_micros, delivered_at FROM jobs ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        vec![
            ("j_0000000001".to_owned(), Some(5_200), Some(7)),
            ("j_0000000002".to_owned(), None, None)
        ]
    );
}

#[test]
fn a_journal_from_a_newer_conjure_is_refused() {
    let f = journal();
    drop(f.journal);
    raw(&f.path).pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();

    let err = Journal::open(&f.path).unwrap_err();
    assert!(
        matches!(err, JournalError::NewerSchema { found, known, .. }
            if found == SCHEMA_VERSION + 1 && known == SCHEMA_VERSION),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.starts_with("This journal was written by a newer conjure"), "{message}");
    assert!(message.contains(&format!("`{}`", f.path.display())), "{message}");
    // Refusing must not touch the file.
    assert_eq!(user_version(&raw(&f.path)), SCHEMA_VERSION + 1);
}

#[test]
fn a_file_that_is_not_a_database_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    std::fs::write(&path, b"this is not sqlite, just some text long enough to have a header")
        .unwrap();
    let err = Journal::open(&path).unwrap_err();
    assert!(err.to_string().contains("journal.db"), "{err}");
}
