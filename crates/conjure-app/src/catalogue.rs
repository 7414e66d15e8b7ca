//! The catalogue in use, and keeping it current: the refresh from Katana's `/v1/models`, its
//! cache, the diff against the bundled catalogue, and the staleness check against `llms.txt`.
//!
//! Why: prices and models drift, and the Katana skill's rule (spec 17.8) is that a catalogue is
//! refreshed on request and prices never change silently. So:
//! - [`App::refresh_catalogue`] reads the live answer into a catalogue built on the bundled one
//!   (`conjure_core::catalogue::live`) and caches the *raw* answer in `<data dir>/`[`CACHE_FILE`]
//!   with the time and the base URL it came from; the merge is redone on every load, so a newer
//!   conjure's bundled facts still apply to an older cache.
//! - [`App::catalogue`] is the catalogue quotes, validation and listings use: the refreshed one
//!   when it came from the configured Katana base URL, else the bundled one. A quote priced from
//!   it names every price that differs from the bundled catalogue ([`App::price_notes`]).
//! - The staleness check hashes `<base>/llms.txt` (the text the catalogue is generated from)
//!   and compares it with the hash the catalogue in use was built from: the skill's stored
//!   checksum for the bundled catalogue, or the one recorded by the last refresh. Each check is
//!   recorded in `<data dir>/`[`CHECK_FILE`]. [`App::check_catalogue`] is `conjure catalogue
//!   check`; [`App::catalogue_notice`] is the automatic one before a paid request, at most once
//!   per [`CHECK_INTERVAL_MS`], with a short timeout, never failing anything.
//!
//! Not here: reading the answer (`conjure_core::catalogue::live`), HTTP
//! (`conjure_providers::katana::catalogue`), printing (the front ends).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use conjure_core::catalogue::live::{
    self, BUNDLED_LLMS_SHA256, BUNDLED_SYNCED, CatalogueDiff, LiveShape,
};
use conjure_core::{Catalogue, MediaKind, ProviderId, Quote};
use conjure_providers::http::redact_url;
use conjure_providers::katana::catalogue::{KatanaPublic, LLMS_PATH};
use conjure_providers::{HttpOptions, KatanaCredentials};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::error::{AppError, ErrorKind};
use crate::session::App;
use crate::timefmt::{now_ms, rfc3339_ms};

/// The refreshed catalogue's cache, in the data directory.
pub const CACHE_FILE: &str = "catalogue.json";
/// The record of the last staleness check, in the data directory.
pub const CHECK_FILE: &str = "catalogue-check.json";
/// The automatic check runs at most this often (the skill's 24 hours).
pub const CHECK_INTERVAL_MS: i64 = 24 * 60 * 60 * 1000;
/// How long the automatic check may take before it is given up (an offline machine must not
/// be slowed down).
pub const AUTO_CHECK_TIMEOUT: Duration = Duration::from_secs(3);

const CACHE_VERSION: u32 = 1;

/// [`CACHE_FILE`]: the raw `/v1/models` answer, when and where it was fetched.
#[derive(Debug, Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    provider: ProviderId,
    base_url: String,
    fetched_at: String,
    fetched_at_ms: i64,
    /// The sha256 of `llms.txt` at the refresh; `None` when it could not be read then.
    #[serde(default)]
    llms_sha256: Option<String>,
    /// The answer as received (after redaction).
    models: Value,
}

/// [`CHECK_FILE`]: the last staleness check (or attempt).
#[derive(Debug, Serialize, Deserialize)]
struct CheckFile {
    base_url: String,
    checked_at: String,
    checked_at_ms: i64,
    /// The `llms.txt` hash seen; `None` when the check failed.
    #[serde(default)]
    sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// The hash this server's `llms.txt` had when it was first checked, and when: what a
    /// server other than production (which the built-in catalogue was made from) is compared with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    first_seen: Option<(String, String)>,
}

/// A catalogue refreshed from Katana, as read from its cache.
#[derive(Clone, Debug)]
pub struct Refreshed {
    pub catalogue: Catalogue,
    pub base_url: String,
    pub fetched_at_ms: i64,
    pub llms_sha256: Option<String>,
    pub shape: LiveShape,
    /// Entries of the answer conjure could not use, with the reason.
    pub skipped: Vec<String>,
    /// Kinds the answer listed no model of, kept as bundled.
    pub kept: Vec<MediaKind>,
    pub path: PathBuf,
}

impl Refreshed {
    pub fn fetched_at(&self) -> String {
        rfc3339_ms(self.fetched_at_ms)
    }
}

/// What `conjure models --refresh` did.
#[derive(Clone, Debug, Serialize)]
pub struct RefreshView {
    pub provider: ProviderId,
    pub base_url: String,
    pub fetched_at: String,
    /// `sectioned` (fetched without credentials) or `list` (with).
    pub shape: LiveShape,
    pub authenticated: bool,
    /// Models in the refreshed catalogue, in all and by kind.
    pub models: usize,
    pub by_kind: BTreeMap<MediaKind, usize>,
    /// Against the bundled catalogue (`conjure models --diff` lists them).
    pub added: usize,
    pub removed: usize,
    pub repriced: usize,
    /// Entries left out, each with the reason.
    pub skipped: Vec<String>,
    /// Kinds the answer listed no model of: kept from the built-in catalogue.
    pub kept_from_built_in: Vec<MediaKind>,
    /// The `llms.txt` hash the refreshed catalogue is now checked against.
    pub llms_sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llms_problem: Option<String>,
    /// The cache file.
    pub path: String,
}

/// `conjure models --diff`: the refreshed catalogue against the bundled one.
#[derive(Clone, Debug, Serialize)]
pub struct DiffView {
    pub provider: ProviderId,
    pub base_url: String,
    pub refreshed_at: String,
    pub built_in_synced: &'static str,
    #[serde(flatten)]
    pub diff: CatalogueDiff,
    /// Present with `--refresh --diff`: what the refresh did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh: Option<RefreshView>,
}

/// The last check before this one.
#[derive(Clone, Debug, Serialize)]
pub struct LastCheck {
    pub checked_at: String,
    pub sha256: Option<String>,
}

/// `conjure catalogue check`: whether `llms.txt` changed since the catalogue in use was made.
#[derive(Clone, Debug, Serialize)]
pub struct CheckView {
    pub provider: ProviderId,
    /// The `llms.txt` fetched.
    pub url: String,
    pub sha256: String,
    /// `built_in` (production, against the hash the built-in catalogue was made from), `refreshed`
    /// (the hash at the last refresh) or `first_seen` (another server, against its first check).
    pub catalogue: &'static str,
    pub stored_sha256: String,
    /// When the catalogue in use was made: the bundled snapshot's sync date, or the refresh time.
    pub stored_at: String,
    /// `llms.txt` differs from what the catalogue in use was made from: it may be stale.
    pub changed: bool,
    pub checked_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_check: Option<LastCheck>,
    /// What to do about a change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advice: Option<String>,
}

impl CheckView {
    /// The change in one line, for a warning.
    pub fn summary(&self) -> String {
        let since = match self.catalogue {
            "refreshed" => format!("the catalogue was refreshed ({})", self.stored_at),
            "first_seen" => format!("this server was first checked ({})", self.stored_at),
            _ => format!("the built-in catalogue was synced ({})", self.stored_at),
        };
        if self.changed {
            format!("Katana's llms.txt changed since {since}: the catalogue may be stale")
        } else {
            format!("Katana's llms.txt is unchanged since {since}")
        }
    }
}

/// What a check compares `llms.txt` with: the hash at the last refresh; else, for production,
/// the hash the built-in catalogue was made from; else (the sandbox, a dev deployment: servers
/// the built-in catalogue says nothing about) the hash the server had when it was first checked,
/// which is `current` on the first check.
fn baseline(
    production: bool,
    refreshed: Option<(String, String)>,
    first_seen: Option<(String, String)>,
    current: (&str, i64),
) -> (&'static str, String, String) {
    match (refreshed, production, first_seen) {
        (Some((sha, at)), _, _) => ("refreshed", sha, at),
        (None, true, _) => ("built_in", BUNDLED_LLMS_SHA256.to_owned(), BUNDLED_SYNCED.to_owned()),
        (None, false, Some((sha, at))) => ("first_seen", sha, at),
        (None, false, None) => ("first_seen", current.0.to_owned(), rfc3339_ms(current.1)),
    }
}

const ADVICE: &str = "run `conjure models --refresh` to fetch the current catalogue, then `conjure models --diff` to see what changed";

/// A base URL as shown: redacted, without the trailing `/` normalisation adds.
fn shown(base: &str) -> String {
    redact_url(base).trim_end_matches('/').to_owned()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Writes `bytes` to `path` through a temporary file in the same folder, renamed into place.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8], replace: bool) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut temp = tempfile::Builder::new().prefix(".conjure-").tempfile_in(dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    if replace {
        temp.persist(path).map_err(|e| e.error)?;
    } else {
        temp.persist_noclobber(path).map_err(|e| e.error)?;
    }
    Ok(())
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    let text = std::fs::read(path).ok()?;
    serde_json::from_slice(&text).ok()
}

/// The cache at `path` read into a catalogue; `None` when there is none, it is for another
/// base URL, or it cannot be read (with a warning: the bundled catalogue is then used).
fn load(path: &Path, base_url: &str) -> Option<Refreshed> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(
                "cannot read the refreshed catalogue `{}` ({e}); using the built-in one",
                path.display()
            );
            return None;
        }
    };
    let cache: CacheFile = match serde_json::from_slice(&text) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(
                "the refreshed catalogue `{}` is damaged ({e}); using the built-in one; `conjure models --refresh` rewrites it",
                path.display()
            );
            return None;
        }
    };
    if cache.version != CACHE_VERSION
        || cache.provider != ProviderId::Katana
        || cache.base_url != base_url
    {
        return None;
    }
    match live::read_live(&cache.models, Catalogue::bundled()) {
        Ok(l) => Some(Refreshed {
            catalogue: l.catalogue,
            base_url: cache.base_url,
            fetched_at_ms: cache.fetched_at_ms,
            llms_sha256: cache.llms_sha256,
            shape: l.shape,
            skipped: l.skipped,
            kept: l.kept,
            path: path.to_owned(),
        }),
        Err(e) => {
            tracing::warn!(
                "the refreshed catalogue `{}` cannot be used ({e}); using the built-in one",
                path.display()
            );
            None
        }
    }
}

/// How many models of each kind.
fn by_kind(c: &Catalogue) -> BTreeMap<MediaKind, usize> {
    let mut out = BTreeMap::new();
    for m in c.iter(Some(ProviderId::Katana), None) {
        *out.entry(m.kind).or_insert(0) += 1;
    }
    out
}

/// The diff of a refreshed catalogue against the bundled one, as shown.
pub fn diff_view(refreshed: &Refreshed) -> DiffView {
    DiffView {
        provider: ProviderId::Katana,
        base_url: shown(&refreshed.base_url),
        refreshed_at: refreshed.fetched_at(),
        built_in_synced: BUNDLED_SYNCED,
        diff: live::diff(Catalogue::bundled(), &refreshed.catalogue),
        refresh: None,
    }
}

impl<C> App<C> {
    /// The configured Katana base URL in its normalised form (as caches record it).
    fn katana_base(&self) -> Option<String> {
        let raw = self.config.provider(ProviderId::Katana).base_url;
        conjure_providers::katana::normalize_base_url(&raw).ok().map(|u| u.to_string())
    }

    /// The refreshed catalogue, when its cache came from the configured Katana base URL. Read
    /// once per `App`; a refresh in the same process is returned by [`App::refresh_catalogue`].
    pub fn refreshed(&self) -> Option<&Refreshed> {
        self.refreshed
            .get_or_init(|| {
                let base = self.katana_base()?;
                load(&self.config.data_dir.join(CACHE_FILE), &base)
            })
            .as_ref()
    }

    /// The catalogue quotes, validation and listings use: the refreshed one when it came from
    /// the configured Katana base URL, else the bundled one.
    pub fn catalogue(&self) -> &Catalogue {
        match self.refreshed() {
            Some(r) => &r.catalogue,
            None => Catalogue::bundled(),
        }
    }

    /// Notes for a quote priced from the refreshed catalogue: every model whose price differs
    /// from the bundled catalogue, or that the bundled catalogue lacks. None otherwise.
    pub fn price_notes(&self, quote: &Quote) -> Vec<String> {
        match self.refreshed() {
            Some(r) if quote.provider == ProviderId::Katana => live::price_notes(
                quote.provider,
                quote.items.iter().map(|l| l.model.as_str()),
                Catalogue::bundled(),
                &r.catalogue,
                &r.fetched_at(),
            ),
            _ => Vec::new(),
        }
    }

    /// `conjure models --diff` of the cached refresh; a usage error when there is none.
    pub fn catalogue_diff(&self) -> Result<DiffView, AppError> {
        self.refreshed().map(diff_view).ok_or_else(|| {
            let base = self.katana_base().unwrap_or_default();
            AppError::invalid(format!(
                "There is no refreshed catalogue for `{}` to compare",
                shown(&base)
            ))
            .hint("run `conjure models --refresh` first, or `conjure models --refresh --diff` to do both")
        })
    }

    fn credentials(&self) -> Result<Option<KatanaCredentials>, AppError> {
        let env = &self.config.env;
        match conjure_providers::load_katana_credentials(
            |k| env.get(k).cloned(),
            self.config.home.as_deref(),
            &self.config.config_dir,
        ) {
            Ok((c, _)) => Ok(Some(c)),
            Err(conjure_providers::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn public_client(
        &self,
        creds: Option<&KatanaCredentials>,
        options: HttpOptions,
    ) -> Result<KatanaPublic, AppError> {
        let settings = self.config.provider(ProviderId::Katana);
        Ok(KatanaPublic::new(&settings.base_url, creds, options)?)
    }

    /// Fetches `/v1/models` (with the Bearer credential when there is one), reads it, and
    /// caches it; records the current `llms.txt` hash as the one the catalogue was made from.
    pub async fn refresh_catalogue(&self) -> Result<(RefreshView, Refreshed), AppError> {
        let creds = self.credentials()?;
        let client = self.public_client(creds.as_ref(), self.config.http.clone())?;
        let base = client.base_url().to_string();
        let answer = client.models().await.map_err(|e| {
            let mut err = AppError::provider(&e).for_provider(ProviderId::Katana);
            err.message = format!("Cannot fetch the Katana catalogue: {}", err.message);
            err
        })?;
        let read = live::read_live(&answer, Catalogue::bundled()).map_err(|e| {
            AppError::new(ErrorKind::ProviderFailed, e.to_string()).hint_opt(e.hint())
        })?;
        let (llms_sha256, llms_problem) = match client.llms_txt().await {
            Ok(bytes) => (Some(sha256_hex(&bytes)), None),
            Err(e) => (None, Some(format!("`{LLMS_PATH}` could not be read: {e}"))),
        };
        let now = now_ms();
        let cache = CacheFile {
            version: CACHE_VERSION,
            provider: ProviderId::Katana,
            base_url: base.clone(),
            fetched_at: rfc3339_ms(now),
            fetched_at_ms: now,
            llms_sha256: llms_sha256.clone(),
            models: answer,
        };
        let path = self.config.data_dir.join(CACHE_FILE);
        let bytes = serde_json::to_vec_pretty(&cache)
            .map_err(|e| AppError::other(format!("Cannot encode the catalogue cache: {e}")))?;
        write_atomically(&path, &bytes, true).map_err(|e| {
            AppError::other(format!("Cannot write the catalogue cache `{}`: {e}", path.display()))
                .hint("set CONJURE_HOME to a writable local directory")
        })?;
        if let Some(sha) = &llms_sha256 {
            // The refresh read llms.txt just now: that counts as today's check.
            self.record_check(&base, now, Some(sha.clone()), None);
        }
        let refreshed = Refreshed {
            catalogue: read.catalogue,
            base_url: base.clone(),
            fetched_at_ms: now,
            llms_sha256: llms_sha256.clone(),
            shape: read.shape,
            skipped: read.skipped,
            kept: read.kept,
            path: path.clone(),
        };
        let diff = live::diff(Catalogue::bundled(), &refreshed.catalogue);
        let view = RefreshView {
            provider: ProviderId::Katana,
            base_url: shown(&base),
            fetched_at: refreshed.fetched_at(),
            shape: refreshed.shape,
            authenticated: client.authenticated(),
            models: refreshed.catalogue.iter(Some(ProviderId::Katana), None).count(),
            by_kind: by_kind(&refreshed.catalogue),
            added: diff.added.len(),
            removed: diff.removed.len(),
            repriced: diff.repriced.len(),
            skipped: refreshed.skipped.clone(),
            kept_from_built_in: refreshed.kept.clone(),
            llms_sha256,
            llms_problem,
            path: std::path::absolute(&path).unwrap_or(path).display().to_string(),
        };
        Ok((view, refreshed))
    }

    /// Records a check (or a failed attempt). Best effort: a check that cannot be recorded is
    /// simply made again next time.
    fn record_check(&self, base: &str, at_ms: i64, sha256: Option<String>, error: Option<String>) {
        let path = self.config.data_dir.join(CHECK_FILE);
        let first_seen = read_json::<CheckFile>(&path)
            .filter(|c| c.base_url == base)
            .and_then(|c| c.first_seen)
            .or_else(|| sha256.clone().map(|sha| (sha, rfc3339_ms(at_ms))));
        let record = CheckFile {
            first_seen,
            base_url: base.to_owned(),
            checked_at: rfc3339_ms(at_ms),
            checked_at_ms: at_ms,
            sha256,
            error,
        };
        if let Ok(bytes) = serde_json::to_vec_pretty(&record)
            && let Err(e) = write_atomically(&path, &bytes, true)
        {
            tracing::debug!("cannot record the catalogue check in `{}`: {e}", path.display());
        }
    }

    /// Hashes `llms.txt` and compares it with the hash the catalogue in use was made from;
    /// records the check, and a failed attempt too.
    async fn run_check(&self, options: HttpOptions) -> Result<CheckView, AppError> {
        let client = self.public_client(None, options)?;
        let base = client.base_url().to_string();
        let last: Option<CheckFile> = read_json(&self.config.data_dir.join(CHECK_FILE))
            .filter(|c: &CheckFile| c.base_url == base);
        let now = now_ms();
        let url = format!("{}{LLMS_PATH}", shown(&base));
        let bytes = match client.llms_txt().await {
            Ok(b) => b,
            Err(e) => {
                self.record_check(&base, now, None, Some(e.to_string()));
                let mut err = AppError::provider(&e);
                err.message = format!("Cannot read `{url}`: {}", err.message);
                return Err(err.hint(format!(
                    "check the network and the Katana base URL (`conjure config`); the catalogue in use is unchanged{}",
                    if matches!(e, conjure_core::ProviderError::NotFound { .. }) {
                        ", and this server publishes no llms.txt"
                    } else {
                        ""
                    }
                )));
            }
        };
        let sha256 = sha256_hex(&bytes);
        self.record_check(&base, now, Some(sha256.clone()), None);
        // A refresh that could not read llms.txt left nothing to compare: the bundled hash is.
        let production = conjure_providers::katana::normalize_base_url(
            conjure_providers::katana::DEFAULT_BASE_URL,
        )
        .is_ok_and(|u| u.to_string() == base);
        let refreshed =
            self.refreshed().and_then(|r| r.llms_sha256.clone().map(|sha| (sha, r.fetched_at())));
        let first_seen = last.as_ref().and_then(|l| l.first_seen.clone());
        let (catalogue, stored_sha256, stored_at) =
            baseline(production, refreshed, first_seen, (&sha256, now));
        let changed = sha256 != stored_sha256;
        Ok(CheckView {
            provider: ProviderId::Katana,
            url,
            sha256,
            catalogue,
            stored_sha256,
            stored_at,
            changed,
            checked_at: rfc3339_ms(now),
            last_check: last.map(|l| LastCheck { checked_at: l.checked_at, sha256: l.sha256 }),
            advice: changed.then(|| ADVICE.to_owned()),
        })
    }

    /// `conjure catalogue check`: fetch `llms.txt` now and say whether the catalogue in use may
    /// be stale. A network failure is an error (the attempt is still recorded).
    pub async fn check_catalogue(&self) -> Result<CheckView, AppError> {
        self.run_check(self.config.http.clone()).await
    }

    /// The automatic check before a paid request to `provider`: at most once per
    /// [`CHECK_INTERVAL_MS`] (failed attempts count, so an offline machine is not slowed on
    /// every call), with a [`AUTO_CHECK_TIMEOUT`]; off with the setting or in the sandbox.
    /// Returns the one-line warning to show when the catalogue may be stale; never fails.
    pub async fn catalogue_notice(&self, provider: ProviderId) -> Option<String> {
        if !self.config.catalogue_check || self.config.sandbox || provider != ProviderId::Katana {
            return None;
        }
        let base = self.katana_base()?;
        let last: Option<CheckFile> = read_json(&self.config.data_dir.join(CHECK_FILE));
        if let Some(last) = last
            && last.base_url == base
            && (0..CHECK_INTERVAL_MS).contains(&(now_ms() - last.checked_at_ms))
        {
            return None;
        }
        let options = HttpOptions {
            connect_timeout: AUTO_CHECK_TIMEOUT,
            read_timeout: AUTO_CHECK_TIMEOUT,
            request_timeout: AUTO_CHECK_TIMEOUT,
        };
        match self.run_check(options).await {
            Ok(view) if view.changed => Some(format!("{}; {ADVICE}", view.summary())),
            Ok(_) => None,
            Err(e) => {
                tracing::debug!("the daily catalogue check failed: {}", e.message);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_baseline_of_a_check() {
        let pair = |a: &str, b: &str| Some((a.to_owned(), b.to_owned()));
        let now = ("cafe", 0);
        assert_eq!(baseline(true, None, None, now).0, "built_in");
        assert_eq!(baseline(true, None, None, now).1, BUNDLED_LLMS_SHA256);
        assert_eq!(baseline(true, pair("r", "t"), None, now).0, "refreshed");
        assert_eq!(baseline(false, pair("r", "t"), pair("f", "t"), now).1, "r");
        assert_eq!(
            baseline(false, None, pair("f", "t"), now),
            ("first_seen", "f".into(), "t".into())
        );
        assert_eq!(baseline(false, None, None, now).1, "cafe");
    }
}
