//! Integration tests for `conjure-journal`: a real SQLite file in a temp directory, driven
//! through the public API and the core's `JobStore` contract.

mod concurrency;
mod queries;
mod roundtrip;
mod schema;
mod secrets;
mod support;
mod transitions;
