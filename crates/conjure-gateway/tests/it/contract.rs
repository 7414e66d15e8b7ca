//! The shared `JobStore` contract suite, run against the Postgres store: each case gets a
//! database of its own; `other` is a second `PgStore` (its own pool) on it, as another gateway
//! instance would have.

use conjure_gateway::PgStore;

use conjure_test::pg::fresh_database;

conjure_test::store_contract_suite!({
    let db = fresh_database().await;
    let store = PgStore::connect_with(&db.url, 4).await.expect("connect");
    let other = PgStore::connect_with(&db.url, 4).await.expect("a second handle");
    (db, store, other)
});
