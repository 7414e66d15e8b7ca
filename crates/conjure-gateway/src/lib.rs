//! The team gateway (`conjure serve`, issue 14): many people and agents spending through one
//! set of provider accounts, with every money rule of the CLI, on Postgres.
//!
//! So far it holds the foundation: [`store::PgStore`], the core's [`conjure_core::JobStore`] on
//! Postgres (its own migrations; reservations that queue on a ledger row so that any number of
//! connections and instances cannot overspend), passing the same contract suite as the SQLite
//! journal; [`redact::redact_url`], which keeps database passwords out of messages; and
//! [`server`], the HTTP server `conjure serve` runs, with `/healthz` so far.

pub mod member;
pub mod metrics;
pub mod redact;
pub mod server;
pub mod store;
pub mod webhooks;

pub use store::{PgStore, PgStoreError};
