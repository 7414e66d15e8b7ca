//! conjure-app: the application layer every front end shares (the CLI today; an MCP server, a
//! batch runner and a team gateway next).
//!
//! Front ends fill in plain [`request`] types; [`App::prepare`] turns one into a priced
//! [`conjure_core::Order`]; [`App::pay`] takes it down the one paid path (a money pre-check,
//! [`conjure_core::approve`], the store's atomic `reserve`, the runner's single POST, polling,
//! delivery to disk) and answers `NeedsApproval`, `Submitted` or `Done`. [`jobs`] waits for,
//! fetches, shows and lists jobs, each through the provider the job belongs to. [`catalogue`] is
//! the catalogue in use (bundled, or refreshed from the provider) and its staleness check;
//! [`attest`] fetches an E2EE model's attestation. [`doctor`] checks the machine, the
//! credentials and the journal (`conjure doctor`). [`gateway`] sends through a team gateway
//! (`conjure serve`) instead of a provider, down the same paid path. [`views`] are the
//! typed, documented JSON shapes of every result. Files on disk (downloads, sidecars, the
//! fallback record of an answer the journal could not take) are written here, never in the core.
//!
//! Not here: flags, prompts and printing (the binary), HTTP (`conjure-providers`), SQLite
//! (`conjure-journal`), money decisions (`conjure_core::policy`).

pub mod attest;
pub mod batch;
pub mod catalogue;
pub mod config;
pub mod deliver;
pub mod destination;
pub mod doctor;
pub mod error;
pub mod expiry;
pub mod fallback;
pub mod gateway;
pub mod inflight;
pub mod inputs;
pub mod jobs;
pub mod lineage;
pub mod owner;
pub mod paid;
pub mod request;
pub mod session;
pub mod spend;
pub mod timefmt;
pub mod views;

pub use config::Config;
pub use destination::Destination;
pub use error::{AppError, ErrorKind};
pub use paid::{Done, Paid, PayOptions, Progress};
pub use request::{
    ButtonRequest, ImageRequest, PayloadRequest, Request, TextRequest, ToolName, ToolRequest,
    VideoRequest,
};
pub use session::{App, Connector, Registry, Session};
