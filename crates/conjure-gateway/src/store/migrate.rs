//! Schema migrations: numbered SQL files compiled into the binary, applied in order.
//!
//! Applied migrations are rows of `conjure_migrations` (version, file name, when). Version `n`
//! means the first `n` files of [`MIGRATIONS`] have run. All pending files run in one
//! transaction with their rows, so a failure leaves the database as it was. Several gateway
//! instances may start against a new database at once: each takes a transaction-scoped
//! advisory lock ([`MIGRATION_LOCK`]) before reading the version, so one migrates and the
//! others, once it commits, find nothing left to do. A shipped file is never edited; a
//! database that records a newer version, or another file under one of our numbers, was
//! migrated by something else and is refused rather than guessed at. No downgrades.

use sqlx::{Connection, PgConnection};

use super::error::PgStoreError;

/// One migration: its file name (recorded, and in errors) and its SQL.
pub(crate) struct Migration {
    pub(crate) name: &'static str,
    pub(crate) sql: &'static str,
}

/// Every migration, in the order they apply. Append only.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration { name: "0001_initial.sql", sql: include_str!("../../migrations/0001_initial.sql") },
    Migration { name: "0002_members.sql", sql: include_str!("../../migrations/0002_members.sql") },
    Migration {
        name: "0003_webhooks.sql",
        sql: include_str!("../../migrations/0003_webhooks.sql"),
    },
    Migration { name: "0004_leases.sql", sql: include_str!("../../migrations/0004_leases.sql") },
    Migration {
        name: "0005_project_members.sql",
        sql: include_str!("../../migrations/0005_project_members.sql"),
    },
    Migration {
        name: "0006_quote_expiry.sql",
        sql: include_str!("../../migrations/0006_quote_expiry.sql"),
    },
    Migration {
        name: "0007_rate_limits.sql",
        sql: include_str!("../../migrations/0007_rate_limits.sql"),
    },
];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The advisory lock key migrations hold: the bytes of "cnjrmig1" as a big-endian integer, a
/// constant no other conjure lock uses.
pub(crate) const MIGRATION_LOCK: i64 = i64::from_be_bytes(*b"cnjrmig1");

/// Brings the database `conn` is connected to up to [`SCHEMA_VERSION`].
pub(crate) async fn migrate(conn: &mut PgConnection) -> Result<(), PgStoreError> {
    let mut tx = conn.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(MIGRATION_LOCK).execute(&mut *tx).await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS conjure_migrations ( \
             version     BIGINT      NOT NULL PRIMARY KEY, \
             name        TEXT        NOT NULL, \
             applied_at  TIMESTAMPTZ NOT NULL DEFAULT now())",
    )
    .execute(&mut *tx)
    .await?;
    let applied: Vec<(i64, String)> =
        sqlx::query_as("SELECT version, name FROM conjure_migrations ORDER BY version")
            .fetch_all(&mut *tx)
            .await?;
    let found = applied.last().map_or(0, |(v, _)| *v);
    if found > SCHEMA_VERSION {
        return Err(PgStoreError::NewerSchema { found, known: SCHEMA_VERSION });
    }
    for (version, recorded) in &applied {
        let known = usize::try_from(*version - 1).ok().and_then(|i| MIGRATIONS.get(i));
        match known {
            Some(m) if m.name == recorded => {}
            _ => {
                return Err(PgStoreError::ForeignHistory {
                    version: *version,
                    recorded: recorded.clone(),
                    known: known.map_or("(none)", |m| m.name),
                });
            }
        }
    }
    for (i, migration) in MIGRATIONS.iter().enumerate().skip(applied.len()) {
        // The simple query protocol: a file holds several statements.
        sqlx::raw_sql(migration.sql)
            .execute(&mut *tx)
            .await
            .map_err(|source| PgStoreError::Migration { name: migration.name, source })?;
        sqlx::query("INSERT INTO conjure_migrations (version, name) VALUES ($1, $2)")
            .bind(i as i64 + 1)
            .bind(migration.name)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
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
            let ext = std::path::Path::new(m.name).extension().and_then(|e| e.to_str());
            assert_eq!(ext, Some("sql"), "{}", m.name);
        }
    }
}
