//! What the application needs to know about its environment, resolved once by the front end.
//!
//! The CLI builds a [`Config`] from flags, environment and config file (its `settings.rs`); an
//! MCP server or a batch runner builds the same value its own way. Nothing below reads the
//! process environment: credentials are looked up in [`Config::env`], the environment captured
//! at start.

use std::collections::BTreeMap;
use std::path::PathBuf;

use conjure_core::imaginepro::PriceTable;
use conjure_core::policy::{self, Budget, Limit, PollPolicy};
use conjure_core::{CreditPrice, ProviderId};
use conjure_providers::registry::{self, ProviderSettings};
use conjure_providers::{CredentialSource, HttpOptions};

use crate::views::{CredentialsView, SettingSource};

/// The resolved configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where the journal and the owner leases live.
    pub data_dir: PathBuf,
    /// Where the config file and conjure's own credentials live.
    pub config_dir: PathBuf,
    pub home: Option<PathBuf>,
    /// Per-provider settings; a provider missing here uses its registry defaults.
    pub providers: BTreeMap<ProviderId, ProviderSettings>,
    /// The most one request may cost.
    pub max_cost: Option<Limit>,
    /// The most `--yes` approves without anyone seeing the quote (unless the command gives
    /// its own `--max-cost`).
    pub yes_max_cost: Limit,
    /// Every budget: daily and monthly, for all providers together or for one.
    pub budgets: Vec<Budget>,
    /// Requests in flight at once per provider, where configured; else the provider's own
    /// limit ([`registry::Capabilities::max_in_flight`]).
    pub max_in_flight: BTreeMap<ProviderId, u32>,
    /// Credits for operations ImaginePro publishes no price for (`[imaginepro.prices]`), by
    /// operation name; they never override a published price.
    pub imaginepro_prices: PriceTable,
    /// The cadence before it is made per provider ([`PollPolicy::for_provider`]).
    pub poll: PollPolicy,
    /// Where outputs go unless a command says otherwise.
    pub out_dir: PathBuf,
    /// The text model used when a request names none.
    pub text_model: String,
    pub http: HttpOptions,
    /// The environment captured at start, for credential lookup.
    pub env: BTreeMap<String, String>,
    /// Providers are the offline sandbox (`conjure demo`): jobs go to the sandbox ledger
    /// ([`conjure_core::policy::SpendRules::sandbox`]).
    pub sandbox: bool,
    /// Check, at most once a day before a paid request, whether the provider's catalogue
    /// changed since the one in use ([`crate::catalogue`]).
    pub catalogue_check: bool,
    /// A team gateway (`conjure serve`) to send paid requests through instead of the
    /// providers (`--gateway`, `CONJURE_GATEWAY`, or `gateway.url` in the config file).
    pub gateway: Option<String>,
}

impl Config {
    /// Defaults for everything under `data_dir` and `config_dir`.
    pub fn new(data_dir: PathBuf, config_dir: PathBuf) -> Config {
        Config {
            data_dir,
            config_dir,
            home: None,
            providers: BTreeMap::new(),
            max_cost: None,
            yes_max_cost: policy::DEFAULT_YES_MAX_COST,
            budgets: Vec::new(),
            max_in_flight: BTreeMap::new(),
            imaginepro_prices: PriceTable::new(),
            poll: PollPolicy::default(),
            out_dir: PathBuf::from("."),
            text_model: crate::request::DEFAULT_TEXT_MODEL.to_owned(),
            http: HttpOptions::default(),
            env: BTreeMap::new(),
            sandbox: false,
            catalogue_check: true,
            gateway: None,
        }
    }

    pub fn journal_path(&self) -> PathBuf {
        self.data_dir.join("journal.sqlite3")
    }

    /// `provider`'s settings: configured, else its defaults.
    pub fn provider(&self, provider: ProviderId) -> ProviderSettings {
        self.providers.get(&provider).cloned().unwrap_or_else(|| {
            let caps = registry::capabilities(provider);
            ProviderSettings {
                base_url: caps.default_base_url.to_owned(),
                usd_per_credit: caps.default_usd_per_credit,
            }
        })
    }

    /// How many of `provider`'s requests conjure processes on this machine keep in flight at
    /// once; `None` is no limit.
    pub fn max_in_flight(&self, provider: ProviderId) -> Option<u32> {
        self.max_in_flight
            .get(&provider)
            .copied()
            .or(registry::capabilities(provider).max_in_flight)
    }

    /// Dollars per credit of `provider`, when known.
    pub fn price(&self, provider: ProviderId) -> Option<CreditPrice> {
        self.provider(provider).usd_per_credit
    }

    /// Whether `provider`'s credentials can be found, and where; reads them to check them but
    /// returns no value.
    pub fn credentials(&self, provider: ProviderId) -> CredentialsView {
        if registry::credential_fields(provider).is_empty() {
            return CredentialsView {
                provider,
                present: false,
                source: None,
                problem: Some(format!("conjure cannot use {provider} credentials yet")),
            };
        }
        let found = registry::load_credentials(
            provider,
            |k| self.env.get(k).cloned(),
            self.home.as_deref(),
            &self.config_dir,
        );
        match found {
            Ok((_, source)) => CredentialsView {
                provider,
                present: true,
                source: Some(match source {
                    CredentialSource::Environment => SettingSource::Env {
                        var: registry::capabilities(provider).credential_env.join(", "),
                    },
                    CredentialSource::SecretsFile(path) | CredentialSource::ConjureFile(path) => {
                        SettingSource::File { path: path.display().to_string() }
                    }
                }),
                problem: None,
            },
            Err(e) => CredentialsView {
                provider,
                present: false,
                source: None,
                problem: Some(e.to_string()),
            },
        }
    }
}
