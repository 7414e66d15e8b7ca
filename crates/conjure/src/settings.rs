//! Flags + environment + config file, resolved once into one validated [`Settings`].
//!
//! Precedence: command-line flag, then environment variable, then the config file
//! (`$CONJURE_CONFIG`, else `<config dir>/config.toml`), then the built-in default. The result
//! is the application's [`Config`] plus what only the CLI needs (whether a person can be asked).
//! Nothing below `main` reads the environment again: credential lookup gets the environment
//! captured here. Variable names are the documented constants of `conjure_core::env`.
//!
//! Each resolved value keeps where it came from ([`SettingView`]) for `conjure config`;
//! [`CONFIG_TEMPLATE`] is the commented file `conjure config init` writes, and a test checks
//! that every key it documents is one this module reads.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::ValueEnum as _;
use conjure_app::Config;
use conjure_app::views::{SettingSource, SettingView};
use conjure_core::env;
use conjure_core::policy::{self, Budget, BudgetWindow, Limit, PollPolicy};
use conjure_core::{CreditPrice, Credits, ProviderId};
use conjure_providers::registry::{self, ProviderSettings};
use serde::Deserialize;

use crate::cli::{ColorWhen, GlobalArgs};
use crate::error::CliError;

/// `--max-cost` and the config's limits: dollars (`0.50`, `$0.50`) or credits (`120cr`).
pub fn parse_limit(s: &str, what: &str) -> Result<Limit, CliError> {
    Limit::parse(s).ok_or_else(|| {
        CliError::usage(format!("`{s}` is not a valid {what}"))
            .hint("give dollars (`0.50` or `$0.50`) or credits (`120cr`)")
    })
}

/// The file `conjure config init` writes: every setting the config file takes, commented out
/// at its default, with what it means and the variable that overrides it.
pub const CONFIG_TEMPLATE: &str = r#"# conjure configuration (TOML), written by `conjure config init`.
# Every setting is commented out, at its built-in default: uncomment a line to change it.
# Precedence: a command-line flag, then an environment variable, then this file, then the default.
# `conjure config` shows each setting's value and where it came from.
# Unknown sections and keys are an error, so a typo never silently drops a limit.
# Credentials never go here: use `conjure auth katana`, or KATANA_API_KEY and KATANA_API_SECRET,
# or a KEY=VALUE file named by KATANA_SECRETS_FILE.

[katana]
# The Katana server; http:// is allowed only for loopback (the sandbox).
# Environment: CONJURE_KATANA_BASE_URL.
# base_url = "https://kat.imgnai.com"
# Dollars per credit, for estimates and dollar limits: 0.0052 is the reference plan, the dev
# deployment quotes 0.0047. Environment: CONJURE_KATANA_USD_PER_CREDIT.
# usd_per_credit = "0.0052"
# What Katana requests may cost together in the last 24 hours and the last 30 days: dollars or
# Katana credits ("2000cr"). No budget by default. Environment: CONJURE_KATANA_DAILY_BUDGET,
# CONJURE_KATANA_MONTHLY_BUDGET.
# daily_budget = "5.00"
# monthly_budget = "50.00"
# Katana's rule is one request in flight per account: conjure processes on this machine wait for
# each other's request to finish (a lock in the data directory). Raise it only if your account
# allows more. Environment: CONJURE_KATANA_MAX_IN_FLIGHT.
# max_in_flight = 1

[imaginepro]
# The ImaginePro server; http:// is allowed only for loopback (the sandbox).
# Environment: CONJURE_IMAGINEPRO_BASE_URL.
# base_url = "https://api.imaginepro.ai"
# Dollars per credit. ImaginePro publishes none and there is no default: without one, dollar
# amounts are not shown and dollar limits refuse. Environment: CONJURE_IMAGINEPRO_USD_PER_CREDIT.
# usd_per_credit = "0.01"
# What ImaginePro requests may cost together in the last 24 hours and the last 30 days: dollars
# (needs usd_per_credit) or ImaginePro credits ("300cr"). No budget by default. Environment:
# CONJURE_IMAGINEPRO_DAILY_BUDGET, CONJURE_IMAGINEPRO_MONTHLY_BUDGET.
# daily_budget = "300cr"
# monthly_budget = "3000cr"
# Credits for operations ImaginePro publishes no price for (`conjure models --provider
# imaginepro` lists them as "not published"), by operation name. Without one such a request is
# refused while a cost limit is set. A published price is never overridden.
# [imaginepro.prices]
# mj_button_other = 5

[limits]
# The most one request may cost: dollars ("1.00" or "$1.00") or credits ("200cr").
# No limit by default. Environment: CONJURE_MAX_COST; per command: --max-cost.
# max_cost = "1.00"
# The most --yes approves without anyone seeing the quote; above it --yes is refused (a
# command's own --max-cost replaces it). Default "2.00". Environment: CONJURE_YES_MAX_COST.
# yes_max_cost = "2.00"
# The most the last 24 hours' requests may cost together: dollars, or credits of the provider
# charged ("2000cr"). No budget by default. Environment: CONJURE_DAILY_BUDGET.
# daily_budget = "10.00"
# The same over the last 30 days. Environment: CONJURE_MONTHLY_BUDGET.
# Every budget that applies to a request must hold: these, and its provider's own.
# monthly_budget = "100.00"

[output]
# The folder outputs are written to. Environment: CONJURE_OUT_DIR; per command: --out-dir
# (or -o for a file).
# dir = "."

[text]
# The model `conjure text` asks when --model is not given: a key or alias from
# `conjure models --kind text`. Environment: CONJURE_TEXT_MODEL.
# model = "grok-4-3"

[gateway]
# A team gateway (`conjure serve`) that `conjure image` and `conjure video` quote and spend
# through, with your member key (CONJURE_GATEWAY_KEY, or the line CONJURE_GATEWAY_KEY=... in
# <config dir>/credentials/katana.env). Environment: CONJURE_GATEWAY; per command: --gateway.
# url = "https://conjure.example.com"

[catalogue]
# Before a paid request, at most once a day, check whether Katana's llms.txt changed since the
# catalogue in use was made, and warn if so (never blocks; 3 s at most; skipped by the demo).
# Environment: CONJURE_CATALOGUE_CHECK (0 turns it off).
# check = true
"#;

/// The config file: `[limits]`, `[output]`, `[catalogue]`, and one section per provider
/// (`[katana]`, ...). Unknown sections and keys are errors, so a typo never silently drops a
/// limit.
#[derive(Debug, Default)]
struct ConfigFile {
    providers: BTreeMap<ProviderId, ProviderConfig>,
    limits: LimitsConfig,
    output: OutputConfig,
    text: TextConfig,
    catalogue: CatalogueConfig,
    gateway: GatewayConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct GatewayConfig {
    url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TextConfig {
    model: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderConfig {
    base_url: Option<String>,
    usd_per_credit: Option<String>,
    daily_budget: Option<String>,
    monthly_budget: Option<String>,
    max_in_flight: Option<u32>,
    /// `[imaginepro.prices]`: credits by operation name.
    #[serde(default)]
    prices: BTreeMap<String, toml::Value>,
}

/// `[imaginepro.prices]`: every key an operation of ImaginePro's table, every value credits.
fn parse_prices(
    provider: ProviderId,
    raw: &BTreeMap<String, toml::Value>,
) -> Result<conjure_core::imaginepro::PriceTable, CliError> {
    use conjure_core::catalogue::imaginepro::operations;
    let mut out = conjure_core::imaginepro::PriceTable::new();
    if raw.is_empty() {
        return Ok(out);
    }
    if provider != ProviderId::ImaginePro {
        return Err(CliError::usage(format!("[{provider}.prices] is not a setting")).hint(
            "only ImaginePro has operations without a published price: [imaginepro.prices]",
        ));
    }
    for (op, value) in raw {
        if !operations().iter().any(|o| &o.operation == op) {
            let mut known: Vec<&str> = operations().iter().map(|o| o.operation.as_str()).collect();
            known.dedup();
            return Err(CliError::usage(format!("[imaginepro.prices]: unknown operation `{op}`"))
                .hint(format!("operations are: {}", known.join(", "))));
        }
        let text = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            _ => String::new(),
        };
        let credits = text
            .trim()
            .parse::<conjure_core::Credits>()
            .ok()
            .filter(|c| *c >= conjure_core::Credits::ZERO)
            .ok_or_else(|| {
                CliError::usage(format!("[imaginepro.prices] `{op}` is not a number of credits"))
                    .hint("give credits, e.g. `mj_button_other = 5`")
            })?;
        out.insert(op.clone(), credits);
    }
    Ok(out)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsConfig {
    max_cost: Option<String>,
    yes_max_cost: Option<String>,
    daily_budget: Option<String>,
    monthly_budget: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutputConfig {
    dir: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueConfig {
    check: Option<bool>,
}

/// An on/off setting from the environment: `1`/`true`/`on`/`yes` or `0`/`false`/`off`/`no`.
fn parse_switch(value: &str, var: &str) -> Result<bool, CliError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => Ok(true),
        "0" | "false" | "off" | "no" => Ok(false),
        _ => Err(CliError::usage(format!("{var} `{value}` is not on or off"))
            .hint(format!("set {var}=0 to turn it off, or {var}=1 to turn it on"))),
    }
}

/// Everything a command needs to know about its environment.
#[derive(Debug, Clone)]
pub struct Settings {
    pub config: Config,
    /// Stdin and stderr are both terminals: a person can be asked.
    pub interactive: bool,
    /// Every setting's value and where it came from, for `conjure config`.
    pub origins: Vec<SettingView>,
}

/// Where the config file, the config directory and the data directory are, and why.
#[derive(Debug, Clone)]
pub struct Paths {
    pub home: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub config_dir: PathBuf,
    pub config_file: PathBuf,
    pub origins: Vec<SettingView>,
}

fn env_source(var: &str) -> SettingSource {
    SettingSource::Env { var: var.to_owned() }
}

fn origin(key: &str, value: Option<String>, source: SettingSource) -> SettingView {
    SettingView { key: key.to_owned(), value, source }
}

impl Paths {
    /// The directories and the config file, from the environment alone.
    pub fn from_env(env: &BTreeMap<String, String>) -> Paths {
        let get = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
        let home = get("HOME").map(PathBuf::from);
        // The variable that decided a directory, and the directory.
        let dir = |own: &str, xdg: &str, fallback: &str, leaf: &str| -> (PathBuf, SettingSource) {
            if let Some(v) = get(own) {
                return (PathBuf::from(v), env_source(own));
            }
            if let Some(v) = get(xdg) {
                return (PathBuf::from(v).join(leaf), env_source(xdg));
            }
            let base = home.clone().unwrap_or_else(|| PathBuf::from("."));
            (base.join(fallback).join(leaf), SettingSource::Default)
        };
        let (data_dir, data_src) =
            dir(env::CONJURE_HOME, "XDG_DATA_HOME", ".local/share", "conjure");
        let (config_dir, config_src) =
            dir(env::CONJURE_CONFIG_DIR, "XDG_CONFIG_HOME", ".config", "conjure");
        let (config_file, file_src) = match get(env::CONJURE_CONFIG) {
            Some(p) => (PathBuf::from(p), env_source(env::CONJURE_CONFIG)),
            None => (config_dir.join("config.toml"), config_src.clone()),
        };
        let shown = |p: &Path| Some(p.display().to_string());
        let origins = vec![
            origin("config_file", shown(&config_file), file_src),
            origin("config_dir", shown(&config_dir), config_src),
            origin("data_dir", shown(&data_dir), data_src),
        ];
        Paths { home, data_dir, config_dir, config_file, origins }
    }
}

impl Settings {
    /// Resolves settings from the process environment and the global flags.
    pub fn resolve(global: &GlobalArgs) -> Result<Settings, CliError> {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
        let mut settings = Settings::from_env(env, interactive)?;
        if let Some(url) = global.gateway.as_ref().filter(|u| !u.trim().is_empty()) {
            settings.config.gateway = Some(url.trim().to_owned());
            settings.origins.retain(|o| o.key != "gateway.url");
            settings.origins.push(origin(
                "gateway.url",
                Some(url.trim().to_owned()),
                SettingSource::Flag { flag: "--gateway".into() },
            ));
        }
        settings.origins.extend(flag_origins(global, &settings.config.env));
        Ok(settings)
    }

    pub fn from_env(
        env: BTreeMap<String, String>,
        interactive: bool,
    ) -> Result<Settings, CliError> {
        let get = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
        let paths = Paths::from_env(&env);
        let file = read_config(&paths.config_file)?;
        let file_source = || SettingSource::File { path: paths.config_file.display().to_string() };
        let mut origins = paths.origins.clone();
        // A value from the environment, else the config file, with where it came from.
        let mut pick = |key: &str, var: &str, from_file: Option<String>| -> Option<String> {
            let (value, source) = match (get(var), from_file) {
                (Some(v), _) => (Some(v), env_source(var)),
                (None, Some(v)) => (Some(v), file_source()),
                (None, None) => (None, SettingSource::Default),
            };
            origins.push(origin(key, value.clone(), source));
            value
        };

        let mut config = Config::new(paths.data_dir.clone(), paths.config_dir.clone());
        config.home.clone_from(&paths.home);
        let mut defaults: Vec<(String, String)> = Vec::new();
        for id in registry::ALL {
            let caps = registry::capabilities(id);
            let section = file.providers.get(&id).cloned().unwrap_or_default();
            let base_url = pick(&format!("{id}.base_url"), caps.base_url_env, section.base_url)
                .unwrap_or_else(|| {
                    defaults.push((format!("{id}.base_url"), caps.default_base_url.to_owned()));
                    caps.default_base_url.to_owned()
                });
            let price_key = format!("{id}.usd_per_credit");
            let usd_per_credit = if let Some(p) =
                pick(&price_key, caps.usd_per_credit_env, section.usd_per_credit)
            {
                Some(p.parse::<CreditPrice>().map_err(|e| {
                    CliError::usage(format!("The {id} price per credit is invalid: {e}"))
                        .hint("set it as dollars per credit, e.g. `0.0052`")
                })?)
            } else {
                if let Some(p) = caps.default_usd_per_credit {
                    defaults.push((price_key, p.to_string().trim_start_matches('$').to_owned()));
                }
                caps.default_usd_per_credit
            };
            config.providers.insert(id, ProviderSettings { base_url, usd_per_credit });
            let prices = parse_prices(id, &section.prices)?;
            if id == ProviderId::ImaginePro {
                config.imaginepro_prices = prices;
            }
        }
        config.max_cost = pick("limits.max_cost", env::CONJURE_MAX_COST, file.limits.max_cost)
            .map(|s| parse_limit(&s, "cost limit"))
            .transpose()?;
        let yes_max_cost =
            pick("limits.yes_max_cost", env::CONJURE_YES_MAX_COST, file.limits.yes_max_cost);
        match yes_max_cost {
            Some(cap) => config.yes_max_cost = parse_limit(&cap, "limit for --yes")?,
            None => defaults.push((
                "limits.yes_max_cost".to_owned(),
                match policy::DEFAULT_YES_MAX_COST {
                    Limit::Usd(u) => format!("{:.2}", u.micros() as f64 / 1e6),
                    Limit::Credits(c) => format!("{c}cr"),
                },
            )),
        }
        for (window, from_file) in [
            (BudgetWindow::Day, file.limits.daily_budget.clone()),
            (BudgetWindow::Month, file.limits.monthly_budget.clone()),
        ] {
            let key = Budget { provider: None, window, limit: Limit::Credits(Credits::ZERO) };
            if let Some(s) = pick(&key.setting(), &key.env_var(), from_file) {
                let limit = parse_limit(&s, &format!("{} budget", window.as_str()))?;
                config.budgets.push(Budget { limit, ..key });
            }
        }
        for id in registry::ALL {
            let section = file.providers.get(&id).cloned().unwrap_or_default();
            let caps = registry::capabilities(id);
            let key = format!("{id}.max_in_flight");
            match (caps.max_in_flight_env, section.max_in_flight) {
                (Some(var), from_file) => {
                    if let Some(n) = pick(&key, var, from_file.map(|n| n.to_string())) {
                        let n = n.trim().parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                            CliError::usage(format!("{key} `{n}` is not a whole number of at least 1"))
                                .hint("it counts requests in flight at once, e.g. `max_in_flight = 1`")
                        })?;
                        config.max_in_flight.insert(id, n);
                    } else if let Some(n) = caps.max_in_flight {
                        defaults.push((key, n.to_string()));
                    }
                }
                (None, Some(_)) => {
                    return Err(CliError::usage(format!("{key} is not a setting")).hint(format!(
                        "{id} sets no limit on requests in flight; only providers that do take max_in_flight"
                    )));
                }
                (None, None) => {}
            }
            for (window, from_file) in [
                (BudgetWindow::Day, section.daily_budget),
                (BudgetWindow::Month, section.monthly_budget),
            ] {
                let key =
                    Budget { provider: Some(id), window, limit: Limit::Credits(Credits::ZERO) };
                if let Some(s) = pick(&key.setting(), &key.env_var(), from_file) {
                    let what = format!("{id} {} budget", window.as_str());
                    config.budgets.push(Budget { limit: parse_limit(&s, &what)?, ..key });
                }
            }
        }
        config.gateway = pick("gateway.url", env::CONJURE_GATEWAY, file.gateway.url);
        let out_dir = pick(
            "output.dir",
            env::CONJURE_OUT_DIR,
            file.output.dir.map(|d| d.display().to_string()),
        );
        if out_dir.is_none() {
            defaults.push(("output.dir".to_owned(), ".".to_owned()));
        }
        config.out_dir = out_dir.map_or_else(|| PathBuf::from("."), PathBuf::from);
        match pick("text.model", env::CONJURE_TEXT_MODEL, file.text.model) {
            Some(model) => config.text_model = model,
            None => defaults.push(("text.model".to_owned(), config.text_model.clone())),
        }
        let mut poll = PollPolicy::default();
        if let Some(scale) = pick("poll_scale", env::CONJURE_POLL_SCALE, None) {
            poll.scale =
                scale.parse::<f64>().ok().filter(|s| s.is_finite() && *s > 0.0).ok_or_else(
                    || {
                        CliError::usage(format!(
                            "{} `{scale}` is not a positive number",
                            env::CONJURE_POLL_SCALE
                        ))
                    },
                )?;
        } else {
            defaults.push(("poll_scale".to_owned(), "1".to_owned()));
        }
        config.poll = poll;
        if let Some(v) = get(env::CONJURE_HTTP_TIMEOUT) {
            let timeout = v
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s > 0.0)
                .and_then(|s| std::time::Duration::try_from_secs_f64(s).ok())
                .ok_or_else(|| {
                    CliError::usage(format!(
                        "{} `{v}` is not a positive number of seconds",
                        env::CONJURE_HTTP_TIMEOUT
                    ))
                })?;
            config.http.request_timeout = timeout;
            config.http.read_timeout = config.http.read_timeout.min(timeout);
        }
        let check = pick(
            "catalogue.check",
            env::CONJURE_CATALOGUE_CHECK,
            file.catalogue.check.map(|b| b.to_string()),
        );
        match check {
            Some(v) => config.catalogue_check = parse_switch(&v, env::CONJURE_CATALOGUE_CHECK)?,
            None => defaults.push(("catalogue.check".to_owned(), "true".to_owned())),
        }
        for (key, var) in [("ffmpeg", env::CONJURE_FFMPEG), ("ffprobe", env::CONJURE_FFPROBE)] {
            if pick(key, var, None).is_none() {
                defaults.push((key.to_owned(), format!("{key} on PATH")));
            }
        }
        // Built-in defaults are shown as values, not as "unset".
        for o in &mut origins {
            if o.value.is_none()
                && let Some((_, v)) = defaults.iter().find(|(k, _)| *k == o.key)
            {
                o.value = Some(v.clone());
            }
        }
        config.env = env;
        Ok(Settings { config, interactive, origins })
    }
}

/// The settings only flags (or their variables) decide: logging and colour.
fn flag_origins(global: &GlobalArgs, env: &BTreeMap<String, String>) -> Vec<SettingView> {
    let log = match (global.verbose, env.get(env::CONJURE_LOG).filter(|v| !v.is_empty())) {
        (1, _) => origin("log", Some("info".into()), SettingSource::Flag { flag: "-v".into() }),
        (2.., _) => origin("log", Some("debug".into()), SettingSource::Flag { flag: "-vv".into() }),
        (0, Some(v)) => origin("log", Some(v.clone()), env_source(env::CONJURE_LOG)),
        (0, None) => origin("log", Some("warn".into()), SettingSource::Default),
    };
    let color = match (global.color, env.get(env::NO_COLOR).filter(|v| !v.is_empty())) {
        (ColorWhen::Auto, Some(_)) => {
            origin("color", Some("never".into()), env_source(env::NO_COLOR))
        }
        (ColorWhen::Auto, None) => origin("color", Some("auto".into()), SettingSource::Default),
        (when, _) => origin(
            "color",
            when.to_possible_value().map(|v| v.get_name().to_owned()),
            SettingSource::Flag { flag: "--color".into() },
        ),
    };
    vec![log, color]
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
            "text" => file.text = section("text")?.try_into().map_err(typed)?,
            "catalogue" => file.catalogue = section("catalogue")?.try_into().map_err(typed)?,
            "gateway" => file.gateway = section("gateway")?.try_into().map_err(typed)?,
            other => {
                let Some(provider) = registry::ALL.into_iter().find(|p| p.as_str() == other) else {
                    let known: Vec<&str> = registry::ALL.iter().map(|p| p.as_str()).collect();
                    return Err(invalid(format!(
                        "unknown section `[{other}]`; sections are [limits], [output], [text], [catalogue], [gateway] and one per provider ([{}])",
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
        assert_eq!(
            s.budgets,
            [Budget {
                provider: None,
                window: BudgetWindow::Day,
                limit: Limit::Credits(Credits::whole(500))
            }]
        );
        assert_eq!(s.yes_max_cost, Limit::Credits(Credits::whole(40)));
    }

    #[test]
    fn budgets_per_provider_and_window_and_the_katana_in_flight_limit() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        let with = |text: &str, extra: &[(&str, &str)]| {
            std::fs::write(dir.path().join("config.toml"), text).unwrap();
            let mut e = env(&[("CONJURE_CONFIG_DIR", d)]);
            e.extend(env(extra));
            Settings::from_env(e, false)
        };
        let s = with(
            "[limits]\nmonthly_budget = \"40.00\"\n[katana]\ndaily_budget = \"900cr\"\nmax_in_flight = 2\n[imaginepro]\nmonthly_budget = \"300cr\"\n",
            &[("CONJURE_KATANA_MONTHLY_BUDGET", "20.00")],
        )
        .unwrap()
        .config;
        let shown: Vec<(String, String)> =
            s.budgets.iter().map(|b| (b.setting(), b.limit.to_string())).collect();
        assert_eq!(
            shown,
            [
                ("limits.monthly_budget".to_owned(), "$40.0000".to_owned()),
                ("katana.daily_budget".to_owned(), "900 credits".to_owned()),
                ("katana.monthly_budget".to_owned(), "$20.0000".to_owned()),
                ("imaginepro.monthly_budget".to_owned(), "300 credits".to_owned()),
            ]
        );
        assert_eq!(s.max_in_flight(ProviderId::Katana), Some(2));
        assert_eq!(s.max_in_flight(ProviderId::ImaginePro), None);
        // Every budget's variable is a documented one.
        for b in &s.budgets {
            assert!(conjure_core::env::ALL.contains(&b.env_var().as_str()), "{}", b.env_var());
        }
        let plain = with("", &[]).unwrap().config;
        assert!(plain.budgets.is_empty());
        assert_eq!(plain.max_in_flight(ProviderId::Katana), Some(1), "Katana's own rule");
        assert!(with("[katana]\nmax_in_flight = 0\n", &[]).is_err());
        assert!(with("[imaginepro]\nmax_in_flight = 3\n", &[]).is_err());
        let e = with("[katana]\ndaily_budget = \"lots\"\n", &[]).unwrap_err();
        assert!(e.to_string().contains("katana daily budget"), "{e}");
    }

    #[test]
    fn http_timeout_sets_the_call_deadline_and_caps_the_silence() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        let with = |v: &str| {
            Settings::from_env(
                env(&[("CONJURE_CONFIG_DIR", d), ("CONJURE_HTTP_TIMEOUT", v)]),
                false,
            )
        };
        let http = with("1.5").unwrap().config.http;
        assert_eq!(http.request_timeout, std::time::Duration::from_millis(1_500));
        assert_eq!(http.read_timeout, std::time::Duration::from_millis(1_500));
        let http = with("300").unwrap().config.http;
        assert_eq!(http.request_timeout, std::time::Duration::from_secs(300));
        assert_eq!(http.read_timeout, conjure_providers::HttpOptions::default().read_timeout);
        for bad in ["0", "-1", "soon", "inf"] {
            assert_eq!(with(bad).unwrap_err().exit, crate::error::Exit::Usage, "{bad}");
        }
    }

    #[test]
    fn imaginepro_prices_fill_unpublished_operations() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        let with = |text: &str| {
            std::fs::write(dir.path().join("config.toml"), text).unwrap();
            Settings::from_env(env(&[("CONJURE_CONFIG_DIR", d)]), false)
        };
        let s = with("[imaginepro.prices]\nmj_button_other = 5\nuniversal_imagine = \"6.5\"\n")
            .unwrap()
            .config;
        assert_eq!(s.imaginepro_prices.get("mj_button_other"), Some(&Credits::whole(5)));
        assert_eq!(s.imaginepro_prices.get("universal_imagine"), Some(&Credits::from_tenths(65)));
        let e = with("[imaginepro.prices]\nmj_button_typo = 5\n").unwrap_err();
        assert!(e.to_string().contains("mj_button_typo"), "{e}");
        assert!(with("[imaginepro.prices]\nmj_button_other = \"lots\"\n").is_err());
        assert!(with("[katana.prices]\nx = 5\n").is_err());
    }

    #[test]
    fn the_config_template_documents_every_key_and_parses_uncommented() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, CONFIG_TEMPLATE).unwrap();
        let d = dir.path().to_str().unwrap();
        let s = Settings::from_env(env(&[("CONJURE_CONFIG_DIR", d)]), false).unwrap();
        for o in s.origins.iter().filter(|o| o.key.contains('.')) {
            let (section, key) = o.key.split_once('.').unwrap();
            assert!(CONFIG_TEMPLATE.contains(&format!("[{section}]")), "{section}");
            assert!(CONFIG_TEMPLATE.contains(&format!("# {key} = ")), "{}", o.key);
        }
        let uncommented: String = CONFIG_TEMPLATE
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(rest) if rest.contains(" = \"") || rest.ends_with(" = true") => rest,
                _ => l,
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(&path, uncommented).unwrap();
        let s = Settings::from_env(env(&[("CONJURE_CONFIG_DIR", d)]), false).unwrap();
        let file = SettingSource::File { path: path.display().to_string() };
        let from_file = s.origins.iter().filter(|o| o.source == file).count();
        assert_eq!(from_file, 16, "{:?}", s.origins);
    }

    #[test]
    fn origins_name_the_variable_or_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.toml"), "[limits]\nmax_cost = \"2.50\"\n").unwrap();
        let d = dir.path().to_str().unwrap();
        let s = Settings::from_env(
            env(&[("HOME", "/h"), ("CONJURE_CONFIG_DIR", d), ("CONJURE_DAILY_BUDGET", "5")]),
            false,
        )
        .unwrap();
        let of = |k: &str| s.origins.iter().find(|o| o.key == k).unwrap().clone();
        assert_eq!(of("limits.daily_budget").source, env_source("CONJURE_DAILY_BUDGET"));
        assert!(matches!(of("limits.max_cost").source, SettingSource::File { .. }));
        assert_eq!(of("katana.base_url").source, SettingSource::Default);
        assert_eq!(of("katana.base_url").value.as_deref(), Some("https://kat.imgnai.com"));
        assert_eq!(of("data_dir").value.as_deref(), Some("/h/.local/share/conjure"));
        assert_eq!(of("imaginepro.usd_per_credit").value, None);
    }

    #[test]
    fn the_catalogue_check_is_a_switch() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        let check = |pairs: &[(&str, &str)]| {
            let mut all = vec![("CONJURE_CONFIG_DIR", d)];
            all.extend_from_slice(pairs);
            Settings::from_env(env(&all), false).map(|s| s.config.catalogue_check)
        };
        assert!(check(&[]).unwrap());
        assert!(!check(&[("CONJURE_CATALOGUE_CHECK", "0")]).unwrap());
        std::fs::write(dir.path().join("config.toml"), "[catalogue]\ncheck = false\n").unwrap();
        assert!(!check(&[]).unwrap());
        assert!(check(&[("CONJURE_CATALOGUE_CHECK", "on")]).unwrap());
        let err = check(&[("CONJURE_CATALOGUE_CHECK", "maybe")]).unwrap_err();
        assert!(err.message.contains("CONJURE_CATALOGUE_CHECK"), "{}", err.message);
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
