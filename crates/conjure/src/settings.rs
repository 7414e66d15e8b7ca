//! Flags + environment + config file, resolved once into one validated [`Settings`].
//!
//! Precedence: command-line flag, then environment variable, then the config file
//! (`$CONJURE_CONFIG`, else `<config dir>/config.toml`), then the built-in default. The result
//! is the application's [`Config`] plus what only the CLI needs (whether a person can be asked).
//! Nothing below `main` reads the environment again: credential lookup gets the environment
//! captured here. Variable names are the documented constants of `conjure_core::env`.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use conjure_app::Config;
use conjure_core::env;
use conjure_core::policy::{Limit, PollPolicy};
use conjure_core::{CreditPrice, ProviderId};
use conjure_providers::registry::{self, ProviderSettings};
use serde::Deserialize;

use crate::error::CliError;

/// `--max-cost` and the config's limits: dollars (`0.50`, `$0.50`) or credits (`120cr`).
pub fn parse_limit(s: &str, what: &str) -> Result<Limit, CliError> {
    Limit::parse(s).ok_or_else(|| {
        CliError::usage(format!("`{s}` is not a valid {what}"))
            .hint("give dollars (`0.50` or `$0.50`) or credits (`120cr`)")
    })
}

/// The config file: `[limits]`, `[output]`, and one section per provider (`[katana]`, ...).
/// Unknown sections and keys are errors, so a typo never silently drops a limit.
#[derive(Debug, Default)]
struct ConfigFile {
    providers: BTreeMap<ProviderId, ProviderConfig>,
    limits: LimitsConfig,
    output: OutputConfig,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderConfig {
    base_url: Option<String>,
    usd_per_credit: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsConfig {
    max_cost: Option<String>,
    yes_max_cost: Option<String>,
    daily_budget: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutputConfig {
    dir: Option<PathBuf>,
}

/// Everything a command needs to know about its environment.
#[derive(Debug, Clone)]
pub struct Settings {
    pub config: Config,
    /// Stdin and stderr are both terminals: a person can be asked.
    pub interactive: bool,
}

impl Settings {
    /// Resolves settings from the process environment.
    pub fn resolve() -> Result<Settings, CliError> {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
        Settings::from_env(env, interactive)
    }

    pub fn from_env(
        env: BTreeMap<String, String>,
        interactive: bool,
    ) -> Result<Settings, CliError> {
        let get = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
        let home = get("HOME").map(PathBuf::from);
        let xdg = |var: &str, fallback: &str| -> PathBuf {
            get(var).map_or_else(
                || home.clone().unwrap_or_else(|| PathBuf::from(".")).join(fallback),
                PathBuf::from,
            )
        };
        let data_dir = get(env::CONJURE_HOME)
            .map_or_else(|| xdg("XDG_DATA_HOME", ".local/share").join("conjure"), PathBuf::from);
        let config_dir = get(env::CONJURE_CONFIG_DIR)
            .map_or_else(|| xdg("XDG_CONFIG_HOME", ".config").join("conjure"), PathBuf::from);
        let config_path =
            get(env::CONJURE_CONFIG).map_or_else(|| config_dir.join("config.toml"), PathBuf::from);
        let file = read_config(&config_path)?;

        let mut config = Config::new(data_dir, config_dir);
        config.home.clone_from(&home);
        for id in registry::ALL {
            let caps = registry::capabilities(id);
            let section = file.providers.get(&id).cloned().unwrap_or_default();
            let base_url = get(caps.base_url_env)
                .or_else(|| section.base_url.clone())
                .unwrap_or_else(|| caps.default_base_url.to_owned());
            let usd_per_credit =
                match get(caps.usd_per_credit_env).or_else(|| section.usd_per_credit.clone()) {
                    Some(p) => Some(p.parse::<CreditPrice>().map_err(|e| {
                        CliError::usage(format!("The {id} price per credit is invalid: {e}"))
                            .hint("set it as dollars per credit, e.g. `0.0052`")
                    })?),
                    None => caps.default_usd_per_credit,
                };
            config.providers.insert(id, ProviderSettings { base_url, usd_per_credit });
        }
        config.max_cost = get(env::CONJURE_MAX_COST)
            .or(file.limits.max_cost)
            .map(|s| parse_limit(&s, "cost limit"))
            .transpose()?;
        if let Some(cap) = get(env::CONJURE_YES_MAX_COST).or(file.limits.yes_max_cost) {
            config.yes_max_cost = parse_limit(&cap, "limit for --yes")?;
        }
        config.budget = get(env::CONJURE_DAILY_BUDGET)
            .or(file.limits.daily_budget)
            .map(|s| parse_limit(&s, "daily budget"))
            .transpose()?;
        let mut poll = PollPolicy::default();
        if let Some(scale) = get(env::CONJURE_POLL_SCALE) {
            poll.scale =
                scale.parse::<f64>().ok().filter(|s| s.is_finite() && *s > 0.0).ok_or_else(
                    || {
                        CliError::usage(format!(
                            "{} `{scale}` is not a positive number",
                            env::CONJURE_POLL_SCALE
                        ))
                    },
                )?;
        }
        config.poll = poll;
        config.out_dir = get(env::CONJURE_OUT_DIR)
            .map(PathBuf::from)
            .or(file.output.dir)
            .unwrap_or_else(|| PathBuf::from("."));
        config.env = env;
        Ok(Settings { config, interactive })
    }
}

fn read_config(path: &Path) -> Result<ConfigFile, CliError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ConfigFile::default()),
        Err(e) => {
            return Err(CliError::new(
                crate::error::Exit::Other,
                format!("Cannot read the config file `{}`: {e}", path.display()),
            ));
        }
    };
    let invalid = |message: String| {
        CliError::usage(format!("The config file `{}` is invalid: {message}", path.display()))
            .hint("see the Configuration section of the README for the keys it takes")
    };
    let table: toml::Table = toml::from_str(&text).map_err(|e| invalid(e.message().to_owned()))?;
    let mut file = ConfigFile::default();
    for (name, value) in table {
        let section = |what: &str| -> Result<toml::Value, CliError> {
            match value.clone() {
                v @ toml::Value::Table(_) => Ok(v),
                _ => Err(invalid(format!("`{name}` must be a [{what}] section"))),
            }
        };
        let typed = |e: toml::de::Error| invalid(format!("[{name}]: {}", e.message()));
        match name.as_str() {
            "limits" => file.limits = section("limits")?.try_into().map_err(typed)?,
            "output" => file.output = section("output")?.try_into().map_err(typed)?,
            other => {
                let Some(provider) = registry::ALL.into_iter().find(|p| p.as_str() == other) else {
                    let known: Vec<&str> = registry::ALL.iter().map(|p| p.as_str()).collect();
                    return Err(invalid(format!(
                        "unknown section `[{other}]`; sections are [limits], [output] and one per provider ([{}])",
                        known.join("], [")
                    )));
                };
                let config: ProviderConfig = section(other)?.try_into().map_err(typed)?;
                file.providers.insert(provider, config);
            }
        }
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use conjure_core::{Credits, Usd};

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn defaults_follow_xdg() {
        let s = Settings::from_env(env(&[("HOME", "/h")]), false).unwrap().config;
        assert_eq!(s.data_dir, PathBuf::from("/h/.local/share/conjure"));
        assert_eq!(s.config_dir, PathBuf::from("/h/.config/conjure"));
        assert_eq!(s.provider(ProviderId::Katana).base_url, "https://kat.imgnai.com");
        assert_eq!(s.price(ProviderId::Katana), Some(CreditPrice::KATANA_REFERENCE));
        assert_eq!(s.price(ProviderId::ImaginePro), None);
    }

    #[test]
    fn env_overrides_config_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.toml"),
            "[katana]\nusd_per_credit = \"0.0047\"\nbase_url = \"https://file\"\n[imaginepro]\nusd_per_credit = \"0.01\"\n[limits]\nmax_cost = \"2.50\"\nyes_max_cost = \"40cr\"\ndaily_budget = \"500cr\"\n",
        )
        .unwrap();
        let d = dir.path().to_str().unwrap();
        let s = Settings::from_env(
            env(&[("CONJURE_CONFIG_DIR", d), ("CONJURE_KATANA_BASE_URL", "http://127.0.0.1:9")]),
            false,
        )
        .unwrap()
        .config;
        assert_eq!(s.provider(ProviderId::Katana).base_url, "http://127.0.0.1:9");
        assert_eq!(s.price(ProviderId::Katana).unwrap().micros_per_credit(), 4_700);
        assert_eq!(s.price(ProviderId::ImaginePro).unwrap().micros_per_credit(), 10_000);
        assert_eq!(s.max_cost, Some(Limit::Usd(Usd::from_micros(2_500_000))));
        assert_eq!(s.budget, Some(Limit::Credits(Credits::whole(500))));
        assert_eq!(s.yes_max_cost, Limit::Credits(Credits::whole(40)));
    }

    #[test]
    fn config_typos_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.toml"), "[limits]\nmax_cots = \"1\"\n").unwrap();
        let d = dir.path().to_str().unwrap();
        let err = Settings::from_env(env(&[("CONJURE_CONFIG_DIR", d)]), false).unwrap_err();
        assert!(err.message.contains("invalid"), "{}", err.message);
        let err = Settings::from_env(env(&[("CONJURE_DAILY_BUDGET", "lots")]), false).unwrap_err();
        assert!(err.message.contains("daily budget"), "{}", err.message);
    }
}
