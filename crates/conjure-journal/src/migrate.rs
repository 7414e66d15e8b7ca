//! Schema migrations: numbered SQL files compiled into the binary, applied in order.
//!
//! The schema version is SQLite's `PRAGMA user_version`: version `n` means the first `n` files
//! of [`MIGRATIONS`] have been applied. A shipped file is never edited (a database that already
//! ran it would never see the change); the schema moves on only by adding a file. A database
//! whose version is above what this binary knows was written by a newer conjure and is refused
//! rather than guessed at. This module does not downgrade and does not back up.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::JournalError;

/// One migration: its file name (for errors) and its SQL.
pub(crate) struct Migration {
    pub(crate) name: &'static str,
    pub(crate) sql: &'static str,
    /// `(table, column)`: the file adds this column and is skipped where it already exists.
    /// Only for repairing history (0004, whose column an edited 0003 once added), never as a
    /// way to change a shipped file.
    pub(crate) unless_column: Option<(&'static str, &'static str)>,
}

/// Every migration, in the order they apply. Append only.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        name: "0001_initial.sql",
        sql: include_str!("../migrations/0001_initial.sql"),
        unless_column: None,
    },
    Migration {
        name: "0002_reserve.sql",
        sql: include_str!("../migrations/0002_reserve.sql"),
        unless_column: None,
    },
    Migration {
        name: "0003_sandbox.sql",
        sql: include_str!("../migrations/0003_sandbox.sql"),
        unless_column: None,
    },
    Migration {
        name: "0004_deliver_to.sql",
        sql: include_str!("../migrations/0004_deliver_to.sql"),
        unless_column: Some(("jobs", "deliver_to")),
    },
    Migration {
        name: "0005_parent_index.sql",
        sql: include_str!("../migrations/0005_parent_index.sql"),
        unless_column: None,
    },
    Migration {
        name: "0006_batches.sql",
        sql: include_str!("../migrations/0006_batches.sql"),
        unless_column: None,
    },
];

fn has_column(conn: &Connection, table: &str, column: &str) -> rusqlite::Result<bool> {
    let mut stmt = conn.prepare("SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2")?;
    stmt.exists([table, column])
}

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// Brings the database at `path` up to [`SCHEMA_VERSION`].
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), JournalError> {
    let newer =
        |found| JournalError::NewerSchema { path: path.to_owned(), found, known: SCHEMA_VERSION };
    let current = user_version(conn)?;
    if current == SCHEMA_VERSION {
        return Ok(());
    }
    if current > SCHEMA_VERSION {
        return Err(newer(current));
    }
    // Another conjure may be migrating the same file right now: take the write lock first
    // and read the version again under it, so that no migration runs twice.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current = user_version(&tx)?;
    if current > SCHEMA_VERSION {
        return Err(newer(current));
    }
    let start = usize::try_from(current).unwrap_or(0);
    for (done, migration) in MIGRATIONS.iter().enumerate().skip(start) {
        let present = match migration.unless_column {
            Some((table, column)) => has_column(&tx, table, column)?,
            None => false,
        };
        if !present {
            tx.execute_batch(migration.sql)
                .map_err(|source| JournalError::Migration { name: migration.name, source })?;
        }
        tx.pragma_update(None, "user_version", done as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            let expected = format!("{:04}_", i + 1);
            assert!(m.name.starts_with(&expected), "{} should start with {expected}", m.name);
            assert_eq!(Path::new(m.name).extension().and_then(|e| e.to_str()), Some("sql"));
        }
    }

    /// Journals made while 0003 also added `deliver_to` (an edit after it shipped), and those
    /// made by the 0003 that first shipped, both reach the current schema.
    #[test]
    fn both_histories_of_0003_reach_the_current_schema() {
        let edited_0003 = format!(
            "{}\nALTER TABLE jobs ADD COLUMN deliver_to TEXT;",
            include_str!("../migrations/0003_sandbox.sql")
        );
        for third in [include_str!("../migrations/0003_sandbox.sql"), edited_0003.as_str()] {
            let mut conn = Connection::open_in_memory().unwrap();
            for m in &MIGRATIONS[..2] {
                conn.execute_batch(m.sql).unwrap();
            }
            conn.execute_batch(third).unwrap();
            conn.pragma_update(None, "user_version", 3).unwrap();
            migrate(&mut conn, Path::new(":memory:")).unwrap();
            assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION);
            assert!(has_column(&conn, "jobs", "deliver_to").unwrap());
            assert!(has_column(&conn, "jobs", "sandbox").unwrap());
        }
    }

    #[test]
    fn migrating_twice_is_a_no_op() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, Path::new(":memory:")).unwrap();
        assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION);
        migrate(&mut conn, Path::new(":memory:")).unwrap();
        assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn a_failed_migration_leaves_nothing_behind() {
        let mut conn = Connection::open_in_memory().unwrap();
        // A table with the name the first migration creates makes it fail half way.
        conn.execute_batch("CREATE TABLE job_events (x INTEGER)").unwrap();
        let err = migrate(&mut conn, Path::new(":memory:")).unwrap_err();
        assert!(matches!(err, JournalError::Migration { name: "0001_initial.sql", .. }), "{err}");
        assert_eq!(user_version(&conn).unwrap(), 0);
        let jobs: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_schema WHERE name = 'jobs'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(jobs, 0, "the `jobs` table was created outside the transaction");
    }
}
