//! A fresh, empty database per test in the PostgreSQL server the environment names (with the
//! `postgres` feature; the gateway's tests and the binary's `serve` tests use it).
//!
//! The server is not started here: `scripts/test` and `scripts/with-postgres` start a
//! throwaway cluster and export its URL. Without one these tests fail, saying how to run them;
//! they never skip, so a green run always means Postgres was tested. Databases are not dropped
//! afterwards: the cluster they live in is thrown away whole.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{Connection, PgConnection};

/// The URL of a PostgreSQL server (a superuser's) the tests may create databases in.
pub const DATABASE_URL_ENV: &str = "CONJURE_TEST_DATABASE_URL";

/// The server's URL, or a failed test saying how to get one.
pub fn server_url() -> String {
    match std::env::var(DATABASE_URL_ENV) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "{DATABASE_URL_ENV} is not set, and these tests need a PostgreSQL server. Run them \
             through `scripts/test`, or `scripts/with-postgres cargo test -p conjure-gateway`: \
             both start a throwaway cluster and set it."
        ),
    }
}

/// A database made for one test.
#[derive(Debug)]
pub struct TestDb {
    pub name: String,
    /// The server's URL with this database in its path.
    pub url: String,
}

impl TestDb {
    /// The URL with `password` in it (the test cluster trusts every local connection, so any
    /// password is accepted and ignored).
    pub fn url_with_password(&self, password: &str) -> String {
        let mut url = url::Url::parse(&self.url).expect("a URL");
        url.set_password(Some(password)).expect("a URL that takes a password");
        url.to_string()
    }
}

/// Creates an empty database for one test.
pub async fn fresh_database() -> TestDb {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let server = server_url();
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let name = format!(
        "conjure_t_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let mut admin = PgConnection::connect(&server)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test server ({DATABASE_URL_ENV}): {e}"));
    let create = format!("CREATE DATABASE \"{name}\"");
    sqlx::query(&create).execute(&mut admin).await.expect("CREATE DATABASE");
    admin.close().await.expect("close");
    let mut url = url::Url::parse(&server).expect("the test server's URL");
    url.set_path(&format!("/{name}"));
    TestDb { name, url: url.to_string() }
}
