//! Integration tests for `conjure-journal`: a real SQLite file in a temp directory, driven
//! through the core's `JobStore` contract (the shared suite) and the journal's own API.

mod check;
mod concurrency;
mod contract;
mod schema;
mod secrets;
mod support;
