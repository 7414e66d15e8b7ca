//! The provider registry: the one place that knows which providers exist and what each can do.
//!
//! Everything provider-specific that the rest of conjure needs goes through here, by
//! [`ProviderId`]: the pure [`build_request`] and its inverse [`parse_payload`] (no credentials
//! needed, so quotes and dry runs work anywhere), [`capabilities`] (inline inputs, a balance
//! endpoint, default base URL and price, credential variables, headers to show), credential
//! lookup, and [`connect`], which returns a [`Connected`] provider that implements the core's
//! `Provider` for whichever provider a job belongs to. Adding a provider means a module beside
//! `katana`, its catalogue data, its sandbox half, and one arm in each match below.

use std::path::Path;

use conjure_core::provider::Downloaded;
use conjure_core::spec::{InputKind, MediaInput};
use conjure_core::{
    CreditPrice, Credits, JobSpec, MediaKind, Provider, ProviderError, ProviderId, Snapshot,
    WireRequest, env,
};
use serde_json::Value;

use crate::credentials::{self, CredentialSource, ImagineProKey, KatanaCredentials};
use crate::error::Error;
use crate::http::HttpOptions;
use crate::imaginepro::{self, ImaginePro};
use crate::katana::{self, Katana, PayloadError};
use crate::secret::Secret;

/// Where a provider is and what its credit is worth in dollars.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderSettings {
    pub base_url: String,
    /// `None` when no dollar price is known: dollar amounts are then not shown, and dollar
    /// limits refuse rather than pass.
    pub usd_per_credit: Option<CreditPrice>,
}

/// What a provider is and can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    pub id: ProviderId,
    /// conjure can send requests to it.
    pub implemented: bool,
    /// Local input files may be sent inline (`data:` URLs); otherwise they must be URLs.
    pub inline_inputs: bool,
    /// It has a balance endpoint.
    pub balance: bool,
    /// It reports what each job was charged, and refunds failed jobs. Without it, a job's
    /// credits are its price table's, and whether a failed job cost anything is unknown.
    pub reports_charges: bool,
    /// The most requests the provider allows in flight per account, when it sets a limit; a
    /// batch then packs items into fewer requests, and conjure processes on one machine take
    /// turns (configurable per provider, `max_in_flight`).
    pub max_in_flight: Option<u32>,
    /// The environment variable that overrides `max_in_flight`.
    pub max_in_flight_env: Option<&'static str>,
    pub default_base_url: &'static str,
    /// The price conjure assumes when none is configured.
    pub default_usd_per_credit: Option<CreditPrice>,
    pub base_url_env: &'static str,
    pub usd_per_credit_env: &'static str,
    /// The environment variables credentials are read from.
    pub credential_env: &'static [&'static str],
    /// Request headers that carry credentials, shown masked by `quote` and `--dry-run`.
    pub auth_headers: &'static [&'static str],
}

const KATANA: Capabilities = Capabilities {
    id: ProviderId::Katana,
    implemented: true,
    inline_inputs: true,
    balance: true,
    reports_charges: true,
    // "At most one request in flight at a time, across text, image and video" (spec §17.3).
    max_in_flight: Some(1),
    max_in_flight_env: Some(env::CONJURE_KATANA_MAX_IN_FLIGHT),
    default_base_url: katana::DEFAULT_BASE_URL,
    default_usd_per_credit: Some(CreditPrice::KATANA_REFERENCE),
    base_url_env: env::CONJURE_KATANA_BASE_URL,
    usd_per_credit_env: env::CONJURE_KATANA_USD_PER_CREDIT,
    credential_env: &[env::KATANA_API_KEY, env::KATANA_API_SECRET],
    auth_headers: &["X-API-Key", "X-API-Secret"],
};

const IMAGINEPRO: Capabilities = Capabilities {
    id: ProviderId::ImaginePro,
    implemented: true,
    inline_inputs: false,
    // No documented endpoint reports ImaginePro credits (spec §5.13).
    balance: false,
    // Its messages carry no charge, and whether a FAIL is refunded is not documented (§15.6).
    reports_charges: false,
    max_in_flight: None,
    max_in_flight_env: None,
    default_base_url: imaginepro::DEFAULT_BASE_URL,
    // ImaginePro publishes no dollar price per credit.
    default_usd_per_credit: None,
    base_url_env: env::CONJURE_IMAGINEPRO_BASE_URL,
    usd_per_credit_env: env::CONJURE_IMAGINEPRO_USD_PER_CREDIT,
    credential_env: &[env::IMAGINEPRO_API_KEY],
    auth_headers: &["Authorization"],
};

/// Every provider conjure knows.
pub const ALL: [ProviderId; 2] = [ProviderId::Katana, ProviderId::ImaginePro];

pub fn capabilities(id: ProviderId) -> &'static Capabilities {
    match id {
        ProviderId::Katana => &KATANA,
        ProviderId::ImaginePro => &IMAGINEPRO,
    }
}

/// `--provider a` (or `a`, `b`): the providers conjure can send requests to, for hints.
pub fn sendable_hint() -> String {
    let names: Vec<String> = ALL
        .into_iter()
        .filter(|p| capabilities(*p).implemented)
        .map(|p| format!("`--provider {p}`"))
        .collect();
    format!("use {}", names.join(" or "))
}

/// The headers that carry credentials on `wire` (shown masked by `quote` and `--dry-run`):
/// Katana's text endpoint takes the Bearer form, its media endpoints the header pair.
pub fn auth_headers(provider: ProviderId, wire: &WireRequest) -> &'static [&'static str] {
    match provider {
        ProviderId::Katana if wire.path.starts_with(katana::chat::CHAT_PATH) => &["Authorization"],
        _ => capabilities(provider).auth_headers,
    }
}

/// The full URL `wire` goes to at `base_url` (ImaginePro's paths are under `/api/v1`).
pub fn request_url(provider: ProviderId, base_url: &str, wire: &WireRequest) -> String {
    let prefix = match provider {
        ProviderId::Katana => "",
        ProviderId::ImaginePro => crate::imaginepro::client::API_PREFIX,
    };
    format!("{}{prefix}{}", base_url.trim_end_matches('/'), wire.path)
}

/// The exact request `spec` becomes for its provider. Pure; needs no credentials.
pub fn build_request(spec: &JobSpec) -> Result<WireRequest, ProviderError> {
    match spec.provider {
        ProviderId::Katana => katana::build_request(spec),
        ProviderId::ImaginePro => crate::imaginepro::build_request(spec),
    }
}

/// A raw provider payload (`conjure submit`) read into a [`JobSpec`]. `resolve` turns each input
/// string into a [`MediaInput`].
pub fn parse_payload<E: From<PayloadError>>(
    provider: ProviderId,
    payload: &Value,
    resolve: &mut dyn FnMut(&str, &str, InputKind) -> Result<MediaInput, E>,
) -> Result<JobSpec, E> {
    match provider {
        ProviderId::Katana => katana::parse_request(payload, resolve),
        ProviderId::ImaginePro => Err(PayloadError {
            path: "$".to_owned(),
            message: format!(
                "conjure does not read raw {provider} payloads yet; describe the job with `conjure image` or `conjure video` instead"
            ),
            hint: None,
        }
        .into()),
    }
}

/// A provider's credentials.
#[derive(Clone, Debug)]
pub enum Credentials {
    Katana(KatanaCredentials),
    ImaginePro(ImagineProKey),
}

impl Credentials {
    /// The value that names the provider account these credentials spend from (its API key),
    /// for a caller that must tell accounts apart (the gateway's turns): hash it; never keep,
    /// log or send it anywhere else.
    pub fn account_key(&self) -> &Secret {
        match self {
            Credentials::Katana(c) => &c.key,
            Credentials::ImaginePro(k) => k.secret(),
        }
    }
}

/// One value `conjure auth PROVIDER` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CredentialField {
    /// What a person is asked for, e.g. `API key`.
    pub label: &'static str,
    /// Its environment variable, also accepted as `NAME=value` on stdin.
    pub env: &'static str,
}

/// What `conjure auth PROVIDER` asks for, in order; empty when conjure cannot store them yet.
pub fn credential_fields(provider: ProviderId) -> &'static [CredentialField] {
    match provider {
        ProviderId::Katana => &[
            CredentialField { label: "API key", env: env::KATANA_API_KEY },
            CredentialField { label: "API secret", env: env::KATANA_API_SECRET },
        ],
        ProviderId::ImaginePro => {
            &[CredentialField { label: "API key", env: env::IMAGINEPRO_API_KEY }]
        }
    }
}

/// Checks `values` (in [`credential_fields`] order) and writes them to conjure's own
/// credentials file for `provider` (mode 0600). Returns the file.
pub fn save_credentials(
    provider: ProviderId,
    config_dir: &Path,
    values: &[String],
) -> Result<std::path::PathBuf, Error> {
    match (provider, values) {
        (ProviderId::Katana, [key, secret]) => {
            let creds = KatanaCredentials::new(key, secret)?;
            let path = credentials::conjure_credentials_file(config_dir);
            credentials::write_credentials_file(&path, &creds)?;
            Ok(path)
        }
        (ProviderId::Katana, _) => Err(Error::InvalidCredential {
            provider,
            what: "API key and secret",
            reason: "expected exactly two values",
        }),
        (ProviderId::ImaginePro, [key]) => {
            let key = ImagineProKey::new(key)?;
            let path = credentials::conjure_credentials_file(config_dir);
            credentials::write_imaginepro_key(&path, &key)?;
            Ok(path)
        }
        (ProviderId::ImaginePro, _) => Err(Error::InvalidCredential {
            provider,
            what: "API key",
            reason: "expected exactly one value",
        }),
    }
}

/// Finds `provider`'s credentials in its documented places. `env` looks up an environment
/// variable; `home` is the user's home; `config_dir` is conjure's configuration directory.
pub fn load_credentials(
    provider: ProviderId,
    env: impl Fn(&str) -> Option<String>,
    home: Option<&Path>,
    config_dir: &Path,
) -> Result<(Credentials, CredentialSource), Error> {
    match provider {
        ProviderId::Katana => credentials::load_katana_credentials(env, home, config_dir)
            .map(|(c, s)| (Credentials::Katana(c), s)),
        ProviderId::ImaginePro => credentials::load_imaginepro_key(env, config_dir)
            .map(|(c, s)| (Credentials::ImaginePro(c), s)),
    }
}

/// A provider ready to send, of whichever kind.
#[derive(Debug)]
pub enum Connected {
    Katana(Katana),
    ImaginePro(ImaginePro),
}

/// Connects to `provider` at `settings` with `credentials`. Makes no request.
pub fn connect(
    provider: ProviderId,
    settings: &ProviderSettings,
    credentials: Credentials,
    http: HttpOptions,
) -> Result<Connected, Error> {
    match (provider, credentials) {
        (ProviderId::Katana, Credentials::Katana(c)) => {
            Ok(Connected::Katana(Katana::new(&settings.base_url, c, http)?))
        }
        (ProviderId::ImaginePro, Credentials::ImaginePro(key)) => {
            Ok(Connected::ImaginePro(ImaginePro::new(&settings.base_url, key, http)?))
        }
        // Another provider's credentials: a caller's mistake, reported without their values.
        (provider, _) => Err(Error::InvalidCredential {
            provider,
            what: "credential",
            reason: "it belongs to another provider",
        }),
    }
}

impl Connected {
    /// The account's credit balance, where the provider has an endpoint for it.
    pub async fn balance(&self) -> Result<Credits, ProviderError> {
        match self {
            Connected::Katana(k) => k.balance().await,
            Connected::ImaginePro(_) => Err(ProviderError::Unsupported {
                message: "ImaginePro has no balance endpoint; see your credits in its dashboard"
                    .to_owned(),
            }),
        }
    }

    /// An expanded version of `prompt`, where the provider offers it (free).
    pub async fn enhance(&self, prompt: &str) -> Result<String, ProviderError> {
        match self {
            Connected::Katana(_) => Err(ProviderError::Unsupported {
                message: "prompt enhancement is ImaginePro's; use `--provider imaginepro`"
                    .to_owned(),
            }),
            Connected::ImaginePro(p) => p.enhance(prompt).await,
        }
    }
}

impl Provider for Connected {
    fn id(&self) -> ProviderId {
        match self {
            Connected::Katana(k) => k.id(),
            Connected::ImaginePro(p) => p.id(),
        }
    }

    async fn submit(&self, request: &WireRequest) -> Result<Snapshot, ProviderError> {
        match self {
            Connected::Katana(k) => k.submit(request).await,
            Connected::ImaginePro(p) => p.submit(request).await,
        }
    }

    async fn submit_streaming(
        &self,
        request: &WireRequest,
        sink: &(dyn Fn(conjure_core::text::Delta<'_>) + Send + Sync),
    ) -> Result<Snapshot, ProviderError> {
        match self {
            Connected::Katana(k) => k.submit_streaming(request, sink).await,
            Connected::ImaginePro(p) => p.submit_streaming(request, sink).await,
        }
    }

    async fn poll(&self, request_id: &str, kind: MediaKind) -> Result<Snapshot, ProviderError> {
        match self {
            Connected::Katana(k) => k.poll(request_id, kind).await,
            Connected::ImaginePro(p) => p.poll(request_id, kind).await,
        }
    }

    async fn download(&self, url: &str, dest: &Path) -> Result<Downloaded, ProviderError> {
        match self {
            Connected::Katana(k) => k.download(url, dest).await,
            Connected::ImaginePro(p) => p.download(url, dest).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provider_has_capabilities_and_both_are_implemented() {
        for id in ALL {
            assert_eq!(capabilities(id).id, id);
            assert!(capabilities(id).implemented, "{id}");
            assert!(!credential_fields(id).is_empty(), "{id}");
        }
        let ip = capabilities(ProviderId::ImaginePro);
        assert_eq!(ip.default_usd_per_credit, None);
        assert!(!ip.balance);
        assert_eq!(ip.credential_env, [env::IMAGINEPRO_API_KEY]);
        assert_eq!(ip.default_base_url, "https://api.imaginepro.ai");
        assert_eq!(sendable_hint(), "use `--provider katana` or `--provider imaginepro`");
        let spec = JobSpec::new(ProviderId::ImaginePro, vec![]);
        let e = build_request(&spec).unwrap_err();
        assert!(e.to_string().contains("imaginepro"), "{e}");
    }

    #[test]
    fn imaginepro_credentials_save_load_and_connect() {
        let dir = tempfile::tempdir().unwrap();
        let path = save_credentials(ProviderId::ImaginePro, dir.path(), &["sk-abc123".to_owned()])
            .unwrap();
        assert!(
            save_credentials(ProviderId::ImaginePro, dir.path(), &["a".into(), "b".into()])
                .is_err()
        );
        let (creds, source) =
            load_credentials(ProviderId::ImaginePro, |_| None, None, dir.path()).unwrap();
        assert_eq!(source, CredentialSource::ConjureFile(path));
        let settings =
            ProviderSettings { base_url: "http://127.0.0.1:1".to_owned(), usd_per_credit: None };
        let connected =
            connect(ProviderId::ImaginePro, &settings, creds, HttpOptions::default()).unwrap();
        assert_eq!(connected.id(), ProviderId::ImaginePro);
        assert!(!format!("{connected:?}").contains("sk-abc123"));
    }
}
