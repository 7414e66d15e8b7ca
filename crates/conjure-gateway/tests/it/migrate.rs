//! Migrations on a real server: applied once however many instances start at once, in one
//! transaction, and refused on a database another conjure (or something else) migrated.

use conjure_gateway::store::SCHEMA_VERSION;
use conjure_gateway::{PgStore, PgStoreError};
use sqlx::{Connection, PgConnection};

use conjure_test::pg::fresh_database;

async fn connection(url: &str) -> PgConnection {
    PgConnection::connect(url).await.expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_together_migrate_once() {
    let db = fresh_database().await;
    let starts = (0..6).map(|_| PgStore::connect_with(&db.url, 1));
    for started in futures_util::future::join_all(starts).await {
        started.expect("every instance starts");
    }
    let mut conn = connection(&db.url).await;
    let versions: Vec<(i64, String)> =
        sqlx::query_as("SELECT version, name FROM conjure_migrations ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .expect("versions");
    assert_eq!(versions.len() as i64, SCHEMA_VERSION);
    assert_eq!(versions[0], (1, "0001_initial.sql".to_owned()));
    let ledgers: i64 =
        sqlx::query_scalar("SELECT count(*) FROM ledgers").fetch_one(&mut conn).await.unwrap();
    assert_eq!(ledgers, 2, "the seed rows were inserted once");
    // And again, on a database that is up to date: nothing to do.
    PgStore::connect(&db.url).await.expect("a later start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_schema_is_refused() {
    let db = fresh_database().await;
    PgStore::connect(&db.url).await.expect("migrated");
    let mut conn = connection(&db.url).await;
    sqlx::query("INSERT INTO conjure_migrations (version, name) VALUES (9999, '9999_future.sql')")
        .execute(&mut conn)
        .await
        .unwrap();
    let err = PgStore::connect(&db.url).await.expect_err("refused");
    assert!(matches!(err, PgStoreError::NewerSchema { found: 9999, .. }), "{err:?}");
    assert!(err.hint().expect("a hint").contains("database of its own"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_history_is_refused() {
    let db = fresh_database().await;
    PgStore::connect(&db.url).await.expect("migrated");
    let mut conn = connection(&db.url).await;
    sqlx::query("UPDATE conjure_migrations SET name = '0001_theirs.sql' WHERE version = 1")
        .execute(&mut conn)
        .await
        .unwrap();
    let err = PgStore::connect(&db.url).await.expect_err("refused");
    assert!(
        matches!(err, PgStoreError::ForeignHistory { version: 1, ref recorded, .. } if recorded == "0001_theirs.sql"),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_migration_leaves_nothing_behind() {
    let db = fresh_database().await;
    let mut conn = connection(&db.url).await;
    // A table with a name the first migration creates makes it fail half way.
    sqlx::query("CREATE TABLE job_events (x INTEGER)").execute(&mut conn).await.unwrap();
    let err = PgStore::connect(&db.url).await.expect_err("the migration fails");
    assert!(matches!(err, PgStoreError::Migration { name: "0001_initial.sql", .. }), "{err:?}");
    let left: (Option<String>, Option<String>) =
        sqlx::query_as("SELECT to_regclass('jobs')::TEXT, to_regclass('conjure_migrations')::TEXT")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(left, (None, None), "tables were created outside the transaction");
}
