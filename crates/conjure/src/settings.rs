//! Flags + environment + config file, resolved once into one validated [`Settings`].
//!
//! Precedence: command-line flag, then environment variable, then the config file
//! (`$CONJURE_CONFIG`, else `<config dir>/config.toml`), then the built-in default. Commands
//! receive only this resolved value; nothing below `main` reads the environment again except
//! credential loading, which gets the captured environment from here.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use conjure_core::policy::PollPolicy;
use conjure_core::{CreditPrice, Credits, Usd};
use serde::Deserialize;

use crate::error::CliError;

/// A spending limit, in dollars or credits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    Usd(Usd),
    Credits(Credits),
}

impl Limit {
    /// `0.50`, `$0.50` (dollars) or `120cr`, `120 credits` (credits).
    pub fn parse(s: &str) -> Result<Limit, CliError> {
        let t = s.trim().to_ascii_lowercase();
        let bad = || {
            CliError::usage(format!("`{s}` is not a cost limit"))
                .hint("give dollars (`0.50` or `$0.50`) or credits (`120cr`)")
        };
        for suffix in ["credits", "credit", "cr", "c"] {
            if let Some(n) = t.strip_suffix(suffix) {
                return n.trim().parse::<Credits>().map(Limit::Credits).map_err(|_| bad());
            }
        }
        t.parse::<Usd>().map(Limit::Usd).map_err(|_| bad())
    }

    pub fn describe(self) -> String {
        match self {
            Limit::Usd(u) => u.to_string(),
            Limit::Credits(c) => format!("{c} credits"),
        }
    }
}

/// The config file. Unknown keys are an error, so a typo never silently drops a limit.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    katana: KatanaConfig,
    #[serde(default)]
    limits: LimitsConfig,
    #[serde(default)]
    output: OutputConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct KatanaConfig {
    base_url: Option<String>,
    usd_per_credit: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsConfig {
    max_cost: Option<String>,
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
    /// Where the journal lives (`CONJURE_HOME`).
    pub data_dir: PathBuf,
    /// Where the config file and conjure's own credentials live.
    pub config_dir: PathBuf,
    pub home: Option<PathBuf>,
    pub katana_base_url: String,
    pub katana_price: CreditPrice,
    pub max_cost: Option<Limit>,
    pub daily_budget: Option<Usd>,
    pub poll: PollPolicy,
    pub out_dir: PathBuf,
    /// Stdin and stderr are both terminals: a person can be asked.
    pub interactive: bool,
    /// The environment captured at start, for credential loading.
    pub env: BTreeMap<String, String>,
}

pub const KATANA_PRODUCTION_URL: &str = "https://kat.imgnai.com";

impl Settings {
    pub fn journal_path(&self) -> PathBuf {
        self.data_dir.join("journal.sqlite3")
    }

    /// Resolves settings from the process environment.
    pub fn resolve() -> anyhow::Result<Settings> {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
        Settings::from_env(env, interactive)
    }

    pub fn from_env(env: BTreeMap<String, String>, interactive: bool) -> anyhow::Result<Settings> {
        let get = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
        let home = get("HOME").map(PathBuf::from);
        let xdg = |var: &str, fallback: &str| -> PathBuf {
            get(var).map_or_else(
                || home.clone().unwrap_or_else(|| PathBuf::from(".")).join(fallback),
                PathBuf::from,
            )
        };
        let data_dir = get("CONJURE_HOME")
            .map_or_else(|| xdg("XDG_DATA_HOME", ".local/share").join("conjure"), PathBuf::from);
        let config_dir = get("CONJURE_CONFIG_DIR")
            .map_or_else(|| xdg("XDG_CONFIG_HOME", ".config").join("conjure"), PathBuf::from);
        let config_path =
            get("CONJURE_CONFIG").map_or_else(|| config_dir.join("config.toml"), PathBuf::from);
        let file = read_config(&config_path)?;

        let katana_base_url = get("CONJURE_KATANA_BASE_URL")
            .or(file.katana.base_url)
            .unwrap_or_else(|| KATANA_PRODUCTION_URL.to_owned());
        let price_text = get("CONJURE_KATANA_USD_PER_CREDIT").or(file.katana.usd_per_credit);
        let katana_price = match price_text {
            Some(p) => p.parse::<CreditPrice>().map_err(|e| {
                CliError::usage(format!("The Katana price per credit is invalid: {e}"))
                    .hint("set it as dollars per credit, e.g. `0.0052`")
            })?,
            None => CreditPrice::KATANA_REFERENCE,
        };
        let max_cost = get("CONJURE_MAX_COST")
            .or(file.limits.max_cost)
            .map(|s| Limit::parse(&s))
            .transpose()?;
        let daily_budget = get("CONJURE_DAILY_BUDGET")
            .or(file.limits.daily_budget)
            .map(|s| {
                s.parse::<Usd>().map_err(|e| {
                    CliError::usage(format!("The daily budget is invalid: {e}"))
                        .hint("give it in dollars, e.g. `5.00`")
                })
            })
            .transpose()?;
        let mut poll = PollPolicy::default();
        if let Some(scale) = get("CONJURE_POLL_SCALE") {
            poll.scale =
                scale.parse::<f64>().ok().filter(|s| s.is_finite() && *s > 0.0).ok_or_else(
                    || {
                        CliError::usage(format!(
                            "CONJURE_POLL_SCALE `{scale}` is not a positive number"
                        ))
                    },
                )?;
        }
        let out_dir = get("CONJURE_OUT_DIR")
            .map(PathBuf::from)
            .or(file.output.dir)
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(Settings {
            data_dir,
            config_dir,
            home,
            katana_base_url,
            katana_price,
            max_cost,
            daily_budget,
            poll,
            out_dir,
            interactive,
            env,
        })
    }
}

fn read_config(path: &Path) -> anyhow::Result<ConfigFile> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ConfigFile::default()),
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot read the config file `{}`", path.display()));
        }
    };
    toml::from_str(&text).map_err(|e| {
        CliError::usage(format!("The config file `{}` is invalid: {}", path.display(), e.message()))
            .hint("see the Configuration section of the README for the keys it takes")
            .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn defaults_follow_xdg() {
        let s = Settings::from_env(env(&[("HOME", "/h")]), false).unwrap();
        assert_eq!(s.data_dir, PathBuf::from("/h/.local/share/conjure"));
        assert_eq!(s.config_dir, PathBuf::from("/h/.config/conjure"));
        assert_eq!(s.katana_base_url, KATANA_PRODUCTION_URL);
        assert_eq!(s.katana_price, CreditPrice::KATANA_REFERENCE);
    }

    #[test]
    fn env_overrides_config_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.toml"),
            "[katana]\nusd_per_credit = \"0.0047\"\nbase_url = \"https://file\"\n[limits]\nmax_cost = \"2.50\"\n",
        )
        .unwrap();
        let d = dir.path().to_str().unwrap();
        let s = Settings::from_env(
            env(&[("CONJURE_CONFIG_DIR", d), ("CONJURE_KATANA_BASE_URL", "http://127.0.0.1:9")]),
            false,
        )
        .unwrap();
        assert_eq!(s.katana_base_url, "http://127.0.0.1:9");
        assert_eq!(s.katana_price.micros_per_credit(), 4_700);
        assert_eq!(s.max_cost, Some(Limit::Usd(Usd::from_micros(2_500_000))));
    }

    #[test]
    fn config_typos_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.toml"), "[limits]\nmax_cots = \"1\"\n").unwrap();
        let d = dir.path().to_str().unwrap();
        let err = Settings::from_env(env(&[("CONJURE_CONFIG_DIR", d)]), false).unwrap_err();
        assert!(err.to_string().contains("invalid"), "{err}");
    }

    #[test]
    fn limits_parse() {
        assert_eq!(Limit::parse("$0.50").unwrap(), Limit::Usd(Usd::from_micros(500_000)));
        assert_eq!(Limit::parse("120cr").unwrap(), Limit::Credits(Credits::whole(120)));
        assert_eq!(Limit::parse("7.5 credits").unwrap(), Limit::Credits(Credits::from_tenths(75)));
        assert!(Limit::parse("lots").is_err());
    }
}
