//! conjure-providers: the thin translators between conjure's domain and provider HTTP APIs.
//!
//! - [`registry`]: the one enum over providers: pure request building by provider, capabilities,
//!   credentials, and [`registry::connect`] to a provider that implements `conjure_core::Provider`.
//! - [`katana`]: Katana's request vocabulary (builder, aliases, inverse parser), its answer
//!   parsers, and the client that sends them.
//! - [`imaginepro`]: ImaginePro's request builder, button vocabulary and answer parsers (pure),
//!   and the client that sends them.
//! - [`http`]: client construction, URL redaction, and the one classification of failed calls
//!   into `conjure_core::ProviderError`.
//! - [`redact`]: masks configured secrets in everything a server sends back.
//! - [`inline`]: local input files, read and checked against their quoted hash when sent.
//! - [`credentials`], [`secret`]: where keys are found, and a string that prints as `****`.
//!
//! Not here: deciding whether a call may be sent again, polling cadence, quotes or the journal;
//! those live in `conjure-core` and `conjure-journal`.

pub mod credentials;
pub mod error;
pub mod http;
pub mod imaginepro;
pub mod inline;
pub mod katana;
pub mod redact;
pub mod registry;
pub mod secret;

pub use credentials::{
    CredentialSource, ImagineProKey, KatanaCredentials, load_imaginepro_key,
    load_katana_credentials, write_credentials_file,
};
pub use error::Error;
pub use http::{DisplaySafeUrl, HttpOptions};
pub use imaginepro::ImaginePro;
pub use katana::{Katana, build_request, parse_balance, parse_envelope};
pub use redact::Redactor;
pub use registry::{Capabilities, Connected, Credentials, ProviderSettings};
pub use secret::Secret;
