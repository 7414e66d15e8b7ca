//! conjure's domain: catalogues, requests, quotes, approval, money, the job state machine, the
//! provider and journal contracts, the one money policy, and the runner that drives a paid job
//! through them.
//!
//! This crate does no IO of its own: HTTP lives in `conjure-providers`, SQLite in
//! `conjure-journal`, ffmpeg in `conjure-media`, files on disk in `conjure-app`. Everything that
//! decides whether money is spent (quotes, the [`approval::Approved`] gate, limits, duplicates,
//! budgets, the "never re-send a paid POST" rule) is here, in [`approval`] and [`policy`].

pub mod approval;
pub mod batch;
pub mod catalogue;
pub mod env;
pub mod imaginepro;
pub mod job;
pub mod money;
pub mod policy;
pub mod provider;
pub mod quote;
pub mod runner;
pub mod spec;
pub mod store;
pub mod stored;
pub mod text;

pub use approval::{Approved, Consent, NeedsApproval, Order, approve};
pub use catalogue::{Catalogue, MediaKind, Model, ProviderId};
pub use job::{JobId, JobState};
pub use money::{CreditPrice, Credits, Usd};
pub use policy::{Limit, SpendRefusal, SpendRules, Spent};
pub use provider::{Provider, ProviderError, Snapshot, WireRequest};
pub use quote::Quote;
pub use spec::{FileRef, Item, JobSpec, MediaInput};
pub use store::{JobFilter, JobRecord, JobStore, OutputRecord, ReserveError, StoreError};
