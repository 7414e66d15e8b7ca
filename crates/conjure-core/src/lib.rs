//! conjure's domain: catalogues, requests, quotes, money, the job state machine, the provider
//! and journal contracts, and the runner that drives a paid job through them.
//!
//! This crate does no IO of its own: HTTP lives in `conjure-providers`, SQLite in
//! `conjure-journal`, ffmpeg in `conjure-media`. Everything that decides whether money is
//! spent (quotes, approval tokens, the "never re-send a paid POST" rule) is here, in one place.

pub mod catalogue;
pub mod job;
pub mod money;
pub mod policy;
pub mod provider;
pub mod quote;
pub mod runner;
pub mod spec;
pub mod store;

pub use catalogue::{Catalogue, MediaKind, Model, ProviderId};
pub use job::JobState;
pub use money::{CreditPrice, Credits, Usd};
pub use provider::{Provider, ProviderError, Snapshot, WireRequest};
pub use quote::Quote;
pub use spec::{Item, JobSpec, MediaInput};
pub use store::{JobRecord, JobStore, NewJob, OutputRecord, StoreError};
