//! Every environment variable conjure reads, as documented constants in one place.
//!
//! The README's "Environment" table lists the same names; a test in the binary checks that it
//! does. Reading the environment is the binary's job (it captures it once at start); libraries
//! take the captured values as parameters and use these names to look them up.

/// Where the journal and other state live (default: `$XDG_DATA_HOME/conjure`).
pub const CONJURE_HOME: &str = "CONJURE_HOME";
/// Where the config file and conjure's own credentials live (default: `$XDG_CONFIG_HOME/conjure`).
pub const CONJURE_CONFIG_DIR: &str = "CONJURE_CONFIG_DIR";
/// The config file (default: `<config dir>/config.toml`).
pub const CONJURE_CONFIG: &str = "CONJURE_CONFIG";
/// The most one request may cost: dollars (`0.50`) or credits (`120cr`).
pub const CONJURE_MAX_COST: &str = "CONJURE_MAX_COST";
/// The most `--yes` approves unseen, unless the command gives `--max-cost` (default `$2`).
pub const CONJURE_YES_MAX_COST: &str = "CONJURE_YES_MAX_COST";
/// The text model `conjure text` uses when `--model` is not given (default `grok-4-3`).
pub const CONJURE_TEXT_MODEL: &str = "CONJURE_TEXT_MODEL";
/// The most all requests of the last 24 hours may cost together: dollars or credits.
pub const CONJURE_DAILY_BUDGET: &str = "CONJURE_DAILY_BUDGET";
/// The most all requests of the last 30 days may cost together: dollars or credits.
pub const CONJURE_MONTHLY_BUDGET: &str = "CONJURE_MONTHLY_BUDGET";
/// The most Katana requests of the last 24 hours may cost together.
pub const CONJURE_KATANA_DAILY_BUDGET: &str = "CONJURE_KATANA_DAILY_BUDGET";
/// The most Katana requests of the last 30 days may cost together.
pub const CONJURE_KATANA_MONTHLY_BUDGET: &str = "CONJURE_KATANA_MONTHLY_BUDGET";
/// The most ImaginePro requests of the last 24 hours may cost together.
pub const CONJURE_IMAGINEPRO_DAILY_BUDGET: &str = "CONJURE_IMAGINEPRO_DAILY_BUDGET";
/// The most ImaginePro requests of the last 30 days may cost together.
pub const CONJURE_IMAGINEPRO_MONTHLY_BUDGET: &str = "CONJURE_IMAGINEPRO_MONTHLY_BUDGET";
/// How many Katana requests conjure processes on this machine keep in flight at once (default 1,
/// the provider's rule).
pub const CONJURE_KATANA_MAX_IN_FLIGHT: &str = "CONJURE_KATANA_MAX_IN_FLIGHT";
/// Where outputs are written (default: the current directory).
pub const CONJURE_OUT_DIR: &str = "CONJURE_OUT_DIR";
/// The Postgres database `conjure serve` keeps its jobs in (`postgres://user:password@host/db`),
/// instead of `--database`: an environment variable keeps the password out of the process list.
pub const CONJURE_DATABASE_URL: &str = "CONJURE_DATABASE_URL";
/// A team gateway (`conjure serve`) to send paid requests through, instead of `--gateway`.
pub const CONJURE_GATEWAY: &str = "CONJURE_GATEWAY";
/// The member key (`cjm_...`) for the gateway; never a flag, so it stays out of the process list.
pub const CONJURE_GATEWAY_KEY: &str = "CONJURE_GATEWAY_KEY";
/// Multiplies every polling wait and deadline (tests set it far below 1).
pub const CONJURE_POLL_SCALE: &str = "CONJURE_POLL_SCALE";
/// Seconds an API call (submit, poll, balance) may take in all, and the longest silence of any
/// download (default: 120 for calls, 60 for silences). A paid submit that runs out of it is
/// `unknown`, never resent.
pub const CONJURE_HTTP_TIMEOUT: &str = "CONJURE_HTTP_TIMEOUT";
/// `info` or `debug` logging on stderr (as `-v` / `-vv`).
pub const CONJURE_LOG: &str = "CONJURE_LOG";
/// An ffmpeg binary to use instead of the one on `PATH`.
pub const CONJURE_FFMPEG: &str = "CONJURE_FFMPEG";
/// An ffprobe binary to use instead of the one on `PATH`.
pub const CONJURE_FFPROBE: &str = "CONJURE_FFPROBE";

/// `0` (or `false`, `off`, `no`) turns off the daily check, before a paid request, of whether
/// the provider's catalogue changed since the one in use (`catalogue.check` in the config file).
pub const CONJURE_CATALOGUE_CHECK: &str = "CONJURE_CATALOGUE_CHECK";

/// The Katana API base URL (default: `https://kat.imgnai.com`; the sandbox prints its own).
pub const CONJURE_KATANA_BASE_URL: &str = "CONJURE_KATANA_BASE_URL";
/// Dollars per Katana credit (default: `0.0052`).
pub const CONJURE_KATANA_USD_PER_CREDIT: &str = "CONJURE_KATANA_USD_PER_CREDIT";
/// The ImaginePro API base URL.
pub const CONJURE_IMAGINEPRO_BASE_URL: &str = "CONJURE_IMAGINEPRO_BASE_URL";
/// Dollars per ImaginePro credit (no default: ImaginePro publishes none).
pub const CONJURE_IMAGINEPRO_USD_PER_CREDIT: &str = "CONJURE_IMAGINEPRO_USD_PER_CREDIT";

/// The Katana API key.
pub const KATANA_API_KEY: &str = "KATANA_API_KEY";
/// The Katana API secret.
pub const KATANA_API_SECRET: &str = "KATANA_API_SECRET";
/// A `KEY=VALUE` file with the Katana key and secret (default: `~/.openclaw/secrets/katana.env`).
pub const KATANA_SECRETS_FILE: &str = "KATANA_SECRETS_FILE";
/// The ImaginePro API key (`sk-...`), sent as `Authorization: Bearer`.
pub const IMAGINEPRO_API_KEY: &str = "IMAGINEPRO_API_KEY";

/// Disables colour on stderr when set (any value).
pub const NO_COLOR: &str = "NO_COLOR";

/// Every name above, for documentation checks.
pub const ALL: &[&str] = &[
    CONJURE_HOME,
    CONJURE_CONFIG_DIR,
    CONJURE_CONFIG,
    CONJURE_MAX_COST,
    CONJURE_YES_MAX_COST,
    CONJURE_DAILY_BUDGET,
    CONJURE_MONTHLY_BUDGET,
    CONJURE_KATANA_DAILY_BUDGET,
    CONJURE_KATANA_MONTHLY_BUDGET,
    CONJURE_IMAGINEPRO_DAILY_BUDGET,
    CONJURE_IMAGINEPRO_MONTHLY_BUDGET,
    CONJURE_KATANA_MAX_IN_FLIGHT,
    CONJURE_OUT_DIR,
    CONJURE_TEXT_MODEL,
    CONJURE_DATABASE_URL,
    CONJURE_GATEWAY,
    CONJURE_GATEWAY_KEY,
    CONJURE_POLL_SCALE,
    CONJURE_HTTP_TIMEOUT,
    CONJURE_LOG,
    CONJURE_FFMPEG,
    CONJURE_FFPROBE,
    CONJURE_CATALOGUE_CHECK,
    CONJURE_KATANA_BASE_URL,
    CONJURE_KATANA_USD_PER_CREDIT,
    CONJURE_IMAGINEPRO_BASE_URL,
    CONJURE_IMAGINEPRO_USD_PER_CREDIT,
    KATANA_API_KEY,
    KATANA_API_SECRET,
    KATANA_SECRETS_FILE,
    IMAGINEPRO_API_KEY,
    NO_COLOR,
];
