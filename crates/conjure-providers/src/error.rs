//! The crate's own error: everything that can go wrong *before* a provider call.
//!
//! Loading or writing credentials, parsing a base URL and building the HTTP client fail with
//! [`Error`]; each variant has a [`Error::hint`] telling the user what to do. Failures of a
//! provider call itself are `conjure_core::ProviderError`, classified in [`crate::http`].
//!
//! No variant ever holds a credential value: malformed lines are reported by number, never by
//! content, and URLs are stored already redacted.

use std::fmt::Write as _;
use std::path::PathBuf;

use conjure_core::ProviderId;

/// Setup errors: credentials, base URLs, client construction.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Exactly one of the two credential environment variables is set.
    #[error("`{present}` is set but `{missing}` is not")]
    PartialEnv { present: &'static str, missing: &'static str },

    /// The file could not be read, or its permissions could not be checked.
    #[error("Could not read the credentials file `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// `KATANA_SECRETS_FILE` names a file that does not exist.
    #[error("`KATANA_SECRETS_FILE` names `{}`, which does not exist", path.display())]
    SecretsFileMissing { path: PathBuf },

    /// Group or others can read (or write) the file.
    #[error("The credentials file `{}` is accessible by other users (mode {mode:o})", path.display())]
    InsecurePermissions { path: PathBuf, mode: u32 },

    /// A line is neither a comment, blank, nor `KEY=VALUE`. The line itself is not shown: it
    /// may contain a secret.
    #[error("Line {line} of `{}` is not a `KEY=VALUE` line", path.display())]
    Malformed { path: PathBuf, line: usize },

    /// The file lacks one of the two keys.
    #[error("The credentials file `{}` has no `{missing}` line", path.display())]
    IncompleteFile { path: PathBuf, missing: &'static str },

    /// No credentials anywhere.
    #[error("No {} credentials found; looked in: {}", name(*provider), places_text(places))]
    NotFound { provider: ProviderId, places: Vec<String> },

    /// A credential value cannot be used (empty, contains a newline, ...).
    #[error("The {} {what} is not usable: {reason}", name(*provider))]
    InvalidCredential { provider: ProviderId, what: &'static str, reason: &'static str },

    /// Writing the credentials file failed.
    #[error("Could not write the credentials file `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The provider base URL is not acceptable.
    #[error("The base URL `{url}` is not usable: {reason}")]
    BaseUrl { url: String, reason: &'static str },

    /// A provider conjure knows the name of (its catalogue, its config section) but does not
    /// send requests to in this build.
    #[error("conjure cannot send requests to {provider} yet")]
    UnsupportedProvider { provider: ProviderId },

    /// reqwest could not build a client (TLS backend initialisation).
    #[error("Could not set up the HTTP client")]
    Client {
        #[source]
        source: reqwest::Error,
    },
}

/// The provider's name as people write it, for messages.
fn name(provider: ProviderId) -> &'static str {
    match provider {
        ProviderId::Katana => "Katana",
        ProviderId::ImaginePro => "ImaginePro",
    }
}

fn places_text(places: &[String]) -> String {
    let mut out = String::new();
    for (i, p) in places.iter().enumerate() {
        if i > 0 {
            out.push_str("; ");
        }
        let _ = write!(out, "({}) {p}", i + 1);
    }
    out
}

impl Error {
    /// What the user can do about it, for the CLI's `hint:` line.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::PartialEnv { missing, .. } => {
                Some(format!("set `{missing}` too, or unset both to use a credentials file"))
            }
            Error::Read { path, .. } => {
                Some(format!("check that `{}` exists and is readable", path.display()))
            }
            Error::SecretsFileMissing { .. } => Some(
                "point `KATANA_SECRETS_FILE` at an existing file, or unset it and run `conjure auth katana`"
                    .to_owned(),
            ),
            Error::InsecurePermissions { path, .. } => {
                Some(format!("chmod 600 {}", path.display()))
            }
            Error::Malformed { .. } => Some(
                "each line must be `NAME=value` (`KATANA_API_KEY`, `KATANA_API_SECRET`, `IMAGINEPRO_API_KEY`); `#` starts a comment"
                    .to_owned(),
            ),
            Error::IncompleteFile { missing, .. } => Some(format!("add a `{missing}=...` line")),
            Error::NotFound { provider: ProviderId::Katana, .. } => Some(
                "run `conjure auth katana`, or set `KATANA_API_KEY` and `KATANA_API_SECRET`"
                    .to_owned(),
            ),
            Error::NotFound { provider: ProviderId::ImaginePro, .. } => {
                Some("run `conjure auth imaginepro`, or set `IMAGINEPRO_API_KEY`".to_owned())
            }
            Error::InvalidCredential { provider: ProviderId::Katana, .. } => {
                Some("copy the key and secret again from app.imgnai.com/katana-api".to_owned())
            }
            Error::InvalidCredential { provider: ProviderId::ImaginePro, .. } => {
                Some("copy the API key (`sk-...`) again from your ImaginePro dashboard".to_owned())
            }
            Error::Write { path, .. } => {
                let dir = path.parent().map_or_else(String::new, |p| p.display().to_string());
                Some(format!("check that `{dir}` is writable"))
            }
            Error::BaseUrl { .. } => Some(
                "use an `https://` URL (plain `http://` is only kept for loopback hosts)".to_owned(),
            ),
            Error::UnsupportedProvider { .. } => Some(crate::registry::sendable_hint()),
            Error::Client { .. } => None,
        }
    }
}
