//! Integration tests for `conjure-gateway`: the Postgres job store against a real server,
//! driven through the core's `JobStore` contract (the shared suite), its migrations, many
//! connections reserving at once, and what reaches its errors.
//!
//! Every test makes a database of its own in the server `CONJURE_TEST_DATABASE_URL` names
//! (`conjure_test::pg`), so they are independent and run in parallel. `scripts/test` (or
//! `scripts/with-postgres cargo test -p conjure-gateway`) starts a throwaway server and sets it.

mod balance;
mod chat;
mod concurrency;
mod contract;
mod imaginepro_wire;
mod leases;
mod members;
mod metrics;
mod migrate;
mod own_api;
mod projects;
mod quote_expiry;
mod ratelimit;
mod sdks;
mod secrets;
mod server;
mod turns;
mod webhooks;
