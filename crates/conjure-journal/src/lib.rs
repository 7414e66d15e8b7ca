//! The job journal: a SQLite file recording every paid job from intent to delivered files.
//!
//! conjure records what it is about to pay for before paying, so that a crash, a lost
//! connection or a second process can never turn into a silent double charge or a forgotten
//! result. [`Journal`] implements the core's [`conjure_core::JobStore`] contract: a job is
//! reserved in state `quoted` (the *intent*: request, wire request, quote, fingerprint) in the
//! same transaction that checks its approval token, duplicates and budget; it moves only through
//! [`conjure_core::JobState::transition`] with one audit-trail row per move, learns its provider
//! *request id*, and collects *outputs* (files on disk). Beyond the contract it resolves what a
//! user types into a job id, and sums credits per provider. [`Journal::check`] tells whether the
//! file and conjure's rules over it are sound (`conjure doctor`).
//!
//! The schema lives in `migrations/*.sql`, tracked by `PRAGMA user_version`. This crate does no
//! HTTP and makes no money decisions: `conjure_core::policy` decides from the facts it reads.

pub mod check;
mod error;
mod journal;
mod migrate;
mod record;

pub use check::{Finding, Health};
pub use error::JournalError;
pub use journal::Journal;
pub use migrate::SCHEMA_VERSION;
