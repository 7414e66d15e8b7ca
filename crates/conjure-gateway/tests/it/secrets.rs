//! A database password never reaches an error message, its causes, or a store's `Debug`.

use std::error::Error as _;

use conjure_core::StoreError;
use conjure_gateway::{PgStore, PgStoreError};

use conjure_test::pg::fresh_database;

const PASSWORD: &str = "pw_SENTINEL_5b1e9d";

/// Every line a user could be shown for `err`: the message, each cause, the debug form.
fn everything_printed(err: &PgStoreError) -> String {
    let mut text = format!("{err}\n{err:?}\n{}\n", err.hint().unwrap_or_default());
    let mut cause = err.source();
    while let Some(c) = cause {
        text.push_str(&format!("{c}\n{c:?}\n"));
        cause = c.source();
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_connection_names_the_database_without_its_password() {
    // Port 1 on loopback: nothing listens, so the connection is refused at once.
    let url = format!("postgres://conjure:{PASSWORD}@127.0.0.1:1/jobs");
    let err = PgStore::connect(&url).await.expect_err("refused");
    assert!(matches!(err, PgStoreError::Connect { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "Could not connect to the database `postgres://conjure:****@127.0.0.1:1/jobs`"
    );
    let printed = everything_printed(&err);
    assert!(!printed.contains(PASSWORD), "{printed}");
    // The cause is the refusal itself, not a pool's timeout.
    assert!(
        !matches!(&err, PgStoreError::Connect { source: sqlx::Error::PoolTimedOut, .. }),
        "{printed}"
    );
    // Through the core's error too (what the runner and the CLI see).
    let store_err = StoreError::from(err);
    assert!(!format!("{store_err} {store_err:?}").contains(PASSWORD));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unparsable_url_is_redacted_too() {
    for url in [
        format!("postgres://conjure:{PASSWORD}@db:notaport/jobs"),
        format!("postgres://db/jobs?password={PASSWORD}&sslmode=bogus"),
    ] {
        let err = PgStore::connect(&url).await.expect_err("refused");
        assert!(matches!(err, PgStoreError::Connect { .. }), "{err:?}");
        let printed = everything_printed(&err);
        assert!(!printed.contains(PASSWORD), "{printed}");
        assert!(printed.contains("****"), "{printed}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connected_store_shows_no_password() {
    let db = fresh_database().await;
    let store = PgStore::connect(&db.url_with_password(PASSWORD)).await.expect("connect");
    store.ping().await.expect("ping");
    let shown = format!("{store:?} {}", store.target());
    assert!(!shown.contains(PASSWORD), "{shown}");
    assert!(shown.contains(":****@"), "{shown}");
    assert!(shown.contains(&db.name), "{shown}");
}
