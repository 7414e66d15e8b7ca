//! The file itself: WAL mode, migrations applied once, and databases from a newer conjure.

use conjure_core::JobStore;
use conjure_journal::{Journal, JournalError, SCHEMA_VERSION};

use crate::support::{create, journal, raw};

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
    let job = create(&f.journal, "survives reopening");
    assert_eq!(user_version(&raw(&f.path)), SCHEMA_VERSION);
    drop(f.journal);

    for _ in 0..3 {
        let again = Journal::open(&f.path).unwrap();
        assert_eq!(again.get(&job.id).unwrap().id, job.id);
    }
    let conn = raw(&f.path);
    assert_eq!(user_version(&conn), SCHEMA_VERSION);
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN \
             ('jobs', 'job_events', 'outputs')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 3);
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
