//! conjure-providers: the thin translators between conjure's domain and provider HTTP APIs.
//!
//! - [`secret`]: a string that prints as `****`.
//! - [`credentials`]: where Katana keys are found, and writing conjure's own credentials file.
//! - [`http`]: client construction, URL redaction, and the one classification of failed calls
//!   into `conjure_core::ProviderError`.
//! - [`katana`]: pure request builders and response parsers for Katana, plus the
//!   `conjure_core::Provider` implementation that sends them.
//!
//! Not here: deciding whether a call may be sent again, polling cadence, quotes or the journal;
//! those live in `conjure-core` and `conjure-journal`.

pub mod credentials;
pub mod error;
pub mod http;
pub mod katana;
pub mod secret;

pub use credentials::{
    CredentialSource, KatanaCredentials, load_katana_credentials, write_credentials_file,
};
pub use error::Error;
pub use http::{DisplaySafeUrl, HttpOptions};
pub use katana::{Katana, build_request, parse_balance, parse_envelope};
pub use secret::Secret;
