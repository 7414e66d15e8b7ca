//! Fixtures: a journal in a temp directory, and jobs reserved in it.

use std::path::PathBuf;

use conjure_core::policy::SpendRules;
use conjure_core::{JobRecord, JobStore};
use conjure_journal::Journal;
use conjure_test::store_contract::{NOW, OWNER, order, yes};
use tempfile::TempDir;

pub struct Fixture {
    /// Keeps the directory alive for the test's duration.
    pub _dir: TempDir,
    pub path: PathBuf,
    pub journal: Journal,
}

pub fn journal() -> Fixture {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("state").join("journal.db");
    let journal = Journal::open(&path).expect("the journal opens");
    Fixture { _dir: dir, path, journal }
}

/// Reserves a new job for `prompt` and returns it.
pub async fn create(journal: &Journal, prompt: &str) -> JobRecord {
    journal
        .reserve(
            &yes(order(prompt)),
            OWNER,
            &SpendRules { again: true, ..SpendRules::default() },
            NOW,
        )
        .await
        .expect("the job is recorded")
}

/// A plain SQLite connection to the journal file, bypassing `Journal`.
pub fn raw(path: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).expect("the file opens")
}
