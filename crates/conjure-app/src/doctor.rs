//! `conjure doctor`: is this machine ready, and is anything waiting for a person?
//!
//! People hit the same handful of problems: ffmpeg missing or built without an encoder, a
//! credentials file others can read (which conjure refuses), a journal damaged by a disk or a
//! hand edit, jobs left `unknown` or never collected, a full disk. [`App::doctor`] looks at each
//! and answers a [`DoctorView`]: one [`CheckView`] per check, each `ok`, `warn` or `fail`, with
//! what to do next. The front end prints it and exits non-zero when something fails.
//!
//! Levels: `fail` is something that breaks conjure's promises or its data (a damaged journal,
//! unusable credentials in a file, a data folder it cannot write); `warn` is something a part of
//! conjure needs and some people never use (ffmpeg for `edit` and `media`, a provider nobody set
//! up), or something waiting for a decision (an `unknown` job); `ok` is fine.
//!
//! It never reads a credential's value out: credentials are looked up the way a paid command
//! does ([`crate::Config::credentials`], which answers presence and source only) and files are
//! looked at through their metadata. It opens the journal like any command (settling orphans,
//! never creating one that does not exist) and otherwise only reads.

use std::path::{Path, PathBuf};

use conjure_core::{Credits, JobFilter, JobState, JobStore as _, ProviderId};
use conjure_journal::Journal;
use conjure_media::{Capabilities, Tool};
use serde::Serialize;

use crate::error::AppError;
use crate::session::{App, Connector};
use crate::views::{JobView, SettingSource};

/// How one check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "fail",
        }
    }
}

/// One check: what was looked at, how it came out, and what to do about it.
#[derive(Clone, Debug, Serialize)]
pub struct CheckView {
    /// `ffmpeg`, `ffprobe`, `fonts`, `credentials.katana`, `journal`, `pending`, `data_dir`,
    /// `config_dir`, `disk`.
    pub check: String,
    pub status: Level,
    /// What was found, in one sentence.
    pub message: String,
    /// What to do next (absent when nothing needs doing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Supporting lines: versions, missing features, findings, jobs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

impl CheckView {
    fn new(check: impl Into<String>, status: Level, message: impl Into<String>) -> Self {
        CheckView {
            check: check.into(),
            status,
            message: message.into(),
            hint: None,
            details: Vec::new(),
        }
    }

    #[must_use]
    fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    #[must_use]
    fn details(mut self, details: Vec<String>) -> Self {
        self.details = details;
        self
    }
}

/// What `conjure doctor` found (`--json` prints this).
#[derive(Clone, Debug, Serialize)]
pub struct DoctorView {
    /// The worst of the checks: `ok`, `warn` or `fail`.
    pub status: Level,
    pub checks: Vec<CheckView>,
    /// Jobs waiting for something (`conjure jobs --pending`), each with its hint.
    pub pending: Vec<JobView>,
    /// Credits that `unknown` jobs may have cost.
    pub unknown_exposure_credits: Credits,
}

/// Below this much free space in the output folder, a warning (a video can be hundreds of MB).
const LOW_DISK_BYTES: u64 = 1 << 30;

/// What conjure-media uses, and what for: `(name, is_filter, purpose)`.
const MEDIA_FEATURES: [(&str, bool, &str); 7] = [
    ("libx264", false, "H.264 output (`edit`, `media`)"),
    ("aac", false, "AAC audio in MP4 output"),
    ("libvpx-vp9", false, "WebM output"),
    ("libopus", false, "Opus audio in WebM output"),
    ("ass", true, "captions (`texts`, `media text`, drawn with libass)"),
    ("subtitles", true, "burned-in subtitles (libass)"),
    ("xfade", true, "transitions between clips"),
];

impl<C: Connector> App<C> {
    /// Runs every check.
    pub async fn doctor(&self) -> DoctorView {
        let mut checks = Vec::new();
        let media = tokio::task::spawn_blocking(media_checks).await.unwrap_or_else(|e| {
            vec![CheckView::new("ffmpeg", Level::Warn, format!("the ffmpeg check stopped: {e}"))]
        });
        checks.extend(media);
        for provider in [ProviderId::Katana, ProviderId::ImaginePro] {
            checks.push(self.credentials_check(provider));
        }
        let (journal, pending, exposure) = self.journal_checks().await;
        checks.extend(journal);
        checks.push(dir_check("data_dir", &self.config.data_dir, Level::Fail));
        checks.push(dir_check("config_dir", &self.config.config_dir, Level::Warn));
        checks.push(disk_check(&self.config.out_dir));
        DoctorView {
            status: checks.iter().map(|c| c.status).max().unwrap_or(Level::Ok),
            checks,
            pending,
            unknown_exposure_credits: exposure,
        }
    }

    /// A provider's credentials: found where, and (for a file) private to the user.
    fn credentials_check(&self, provider: ProviderId) -> CheckView {
        let name = format!("credentials.{provider}");
        let found = self.config.credentials(provider);
        let auth = format!("`conjure auth {provider}` saves them in a file only you can read");
        if !found.present {
            let problem = found.problem.unwrap_or_else(|| "not found".to_owned());
            // Present but unusable (a file others can read, a half-set environment) is a fault;
            // never set up is a choice.
            let looked = conjure_providers::registry::load_credentials(
                provider,
                |k| self.config.env.get(k).cloned(),
                self.config.home.as_deref(),
                &self.config.config_dir,
            );
            let set_up = !matches!(
                looked,
                Err(conjure_providers::error::Error::NotFound { .. }
                    | conjure_providers::error::Error::UnsupportedProvider { .. })
            );
            return if set_up {
                CheckView::new(
                    name,
                    Level::Fail,
                    format!("{provider} credentials are unusable: {problem}"),
                )
                .hint(format!("fix what the message names, or run {auth}"))
            } else {
                CheckView::new(name, Level::Warn, format!("{provider} is not set up"))
                    .hint(format!("only needed to use {provider}: {auth}"))
            };
        }
        let mut check = match &found.source {
            Some(SettingSource::File { path }) => match private(Path::new(path)) {
                Ok(mode) => CheckView::new(
                    name,
                    Level::Ok,
                    format!("{provider} credentials from the file `{path}` (mode {mode:04o})"),
                ),
                Err(mode) => CheckView::new(
                    name,
                    Level::Fail,
                    format!("{provider} credentials are in `{path}`, which others can read (mode {mode:04o})"),
                )
                .hint(format!("`chmod 600 {path}`")),
            },
            Some(SettingSource::Env { var }) => CheckView::new(
                name,
                Level::Ok,
                format!("{provider} credentials from the environment (`{var}`)"),
            ),
            Some(source) => {
                CheckView::new(name, Level::Ok, format!("{provider} credentials from {source}"))
            }
            None => CheckView::new(name, Level::Ok, format!("{provider} credentials found")),
        };
        // A file shadowed by the environment is still a secret on disk.
        let shown = match &found.source {
            Some(SettingSource::File { path }) => Some(PathBuf::from(path)),
            _ => None,
        };
        for file in self.credential_files(provider) {
            if Some(&file) == shown.as_ref() {
                continue;
            }
            if let Err(mode) = private(&file) {
                check.status = Level::Fail;
                check.details.push(format!(
                    "`{}` (not in use) can be read by others (mode {mode:04o})",
                    file.display()
                ));
                check.hint = Some(format!("`chmod 600 {}`", file.display()));
            }
        }
        check
    }

    /// The credential files that can hold `provider`'s keys.
    fn credential_files(&self, provider: ProviderId) -> Vec<PathBuf> {
        let mut files =
            vec![conjure_providers::credentials::conjure_credentials_file(&self.config.config_dir)];
        if provider == ProviderId::Katana {
            match self.config.env.get(conjure_core::env::KATANA_SECRETS_FILE) {
                Some(named) if !named.trim().is_empty() => {
                    files.push(PathBuf::from(named.trim()));
                }
                _ => files.extend(
                    self.config
                        .home
                        .as_deref()
                        .map(conjure_providers::credentials::default_secrets_file),
                ),
            }
        }
        files
    }

    /// The journal (file and rules) and the jobs waiting for someone.
    async fn journal_checks(&self) -> (Vec<CheckView>, Vec<JobView>, Credits) {
        let path = self.config.journal_path();
        let shown = path.display().to_string();
        if !path.exists() {
            let check = CheckView::new(
                "journal",
                Level::Ok,
                format!("no journal yet at `{shown}`; the first paid request creates it"),
            );
            let pending = CheckView::new("pending", Level::Ok, "no jobs yet");
            return (vec![check, pending], Vec::new(), Credits::ZERO);
        }
        let journal = match Journal::open(&path) {
            Ok(j) => j,
            Err(e) => {
                let e = AppError::from(e);
                let check = CheckView::new(
                    "journal",
                    Level::Fail,
                    format!("the journal `{shown}` cannot be opened: {}", e.message),
                )
                .hint(e.hint.unwrap_or_else(|| restore_hint(&shown)));
                return (vec![check, unlisted()], Vec::new(), Credits::ZERO);
            }
        };
        let checked = {
            let journal = journal.clone();
            tokio::task::spawn_blocking(move || journal.check()).await
        };
        let journal_check = match checked {
            Ok(Ok(health)) if health.is_sound() => CheckView::new(
                "journal",
                Level::Ok,
                format!("`{shown}`: {} job(s), the file and conjure's rules are sound", health.jobs),
            ),
            Ok(Ok(health)) if !health.integrity.is_empty() => CheckView::new(
                "journal",
                Level::Fail,
                format!("`{shown}` is damaged: SQLite's integrity check failed"),
            )
            .hint(restore_hint(&shown))
            .details(health.integrity),
            Ok(Ok(health)) => CheckView::new(
                "journal",
                Level::Fail,
                format!(
                    "`{shown}` breaks conjure's rules in {} place(s) (a hand edit, a copied file, or a bug)",
                    health.findings.len()
                ),
            )
            .hint("keep a copy of the file and report it; `conjure status JOB` shows each job named")
            .details(
                health
                    .findings
                    .iter()
                    .map(|f| format!("{} [{}]: {}", f.job_id, f.rule, f.detail))
                    .collect(),
            ),
            Ok(Err(e)) => {
                let e = AppError::from(e);
                CheckView::new("journal", Level::Fail, format!("`{shown}` cannot be checked: {}", e.message))
                    .hint(restore_hint(&shown))
            }
            Err(e) => CheckView::new("journal", Level::Fail, format!("the journal check stopped: {e}")),
        };
        drop(journal);
        if journal_check.status == Level::Fail {
            return (vec![journal_check, unlisted()], Vec::new(), Credits::ZERO);
        }
        let pending = match self.pending_check().await {
            Ok(p) => p,
            Err(e) => (
                CheckView::new(
                    "pending",
                    Level::Fail,
                    format!("pending jobs cannot be listed: {}", e.message),
                )
                .hint(e.hint.unwrap_or_else(|| restore_hint(&shown))),
                Vec::new(),
                Credits::ZERO,
            ),
        };
        (vec![journal_check, pending.0], pending.1, pending.2)
    }

    /// Jobs running, unknown, being sent, or finished and never saved.
    async fn pending_check(&self) -> Result<(CheckView, Vec<JobView>, Credits), AppError> {
        let session = self.session().await?;
        let jobs = session.journal.list(JobFilter::Pending, usize::MAX).await?;
        let exposure: Credits = session.journal.totals().await?.iter().map(|t| t.exposure).sum();
        let views: Vec<JobView> = jobs.iter().map(JobView::of).collect();
        let count = |pred: &dyn Fn(&conjure_core::JobRecord) -> bool| {
            jobs.iter().filter(|j| pred(j)).count()
        };
        let unknown = count(&|j| j.state == JobState::Unknown);
        let running = count(&|j| j.state.is_pollable());
        let sending = count(&|j| matches!(j.state, JobState::Quoted | JobState::Submitting));
        let undelivered = count(&|j| j.is_undelivered());
        let details = views
            .iter()
            .map(|v| {
                let hint = v.hint.as_deref().map(|h| format!(": {h}")).unwrap_or_default();
                let status = if v.undelivered { "undelivered" } else { v.status.as_str() };
                format!("{} {status}{hint}", v.job_id)
            })
            .collect();
        let check = if jobs.is_empty() {
            CheckView::new("pending", Level::Ok, "no jobs are waiting")
        } else {
            let mut parts = Vec::new();
            for (n, what) in [
                (running, "running at the provider"),
                (unknown, "with an unknown outcome"),
                (undelivered, "finished but never saved"),
                (sending, "being sent by another conjure process"),
            ] {
                if n > 0 {
                    parts.push(format!("{n} {what}"));
                }
            }
            let level = if unknown + undelivered > 0 { Level::Warn } else { Level::Ok };
            let mut check = CheckView::new(
                "pending",
                level,
                format!("{} job(s) waiting: {}", jobs.len(), parts.join(", ")),
            );
            check.hint = Some(if unknown > 0 {
                format!(
                    "jobs with an unknown outcome may have cost up to {exposure} credits: check the provider's dashboard; `conjure retry JOB` sends one again after a new approval"
                )
            } else if undelivered > 0 {
                "`conjure fetch JOB` saves a finished job's files".to_owned()
            } else {
                "`conjure wait JOB` collects a running job".to_owned()
            });
            check.details(details)
        };
        Ok((check, views, exposure))
    }
}

/// The `pending` check when the journal cannot be read.
fn unlisted() -> CheckView {
    CheckView::new(
        "pending",
        Level::Warn,
        "jobs waiting for you cannot be listed from a damaged journal",
    )
    .hint("repair the journal first (see the `journal` check)")
}

/// `ffmpeg version 5.1.9-0+deb12u1 Copyright (c) ...` without the copyright.
fn version_only(line: &str) -> &str {
    line.split(" Copyright").next().unwrap_or(line).trim()
}

fn restore_hint(path: &str) -> String {
    format!(
        "move `{path}` aside (keep it: it records what was paid for) and restore a backup; `sqlite3 {path} .recover` may save its rows"
    )
}

/// `Ok(mode)` when only the owner can read or write `path` (or it does not exist: mode 0),
/// `Err(mode)` otherwise.
fn private(path: &Path) -> Result<u32, u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let Ok(meta) = std::fs::metadata(path) else { return Ok(0) };
        let mode = meta.permissions().mode() & 0o777;
        // Group and others: read, write or execute.
        let shared = mode & 0o077;
        if shared == 0 { Ok(mode) } else { Err(mode) }
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(0)
    }
}

/// ffmpeg, ffprobe and the fonts captions use.
fn media_checks() -> Vec<CheckView> {
    let install = "install ffmpeg: `apt-get install ffmpeg fonts-dejavu-core` (Debian/Ubuntu), `brew install ffmpeg` (macOS); only `conjure edit` and `conjure media` need it";
    let mut checks = Vec::new();
    let ffmpeg = conjure_media::find_tool(Tool::Ffmpeg);
    let ffprobe = conjure_media::find_tool(Tool::Ffprobe);
    match &ffmpeg {
        Ok(path) => {
            let ff = conjure_media::Ffmpeg::with_paths(path.clone(), PathBuf::new());
            checks.push(ffmpeg_check(path, ff.capabilities()));
        }
        Err(e) => checks.push(
            CheckView::new("ffmpeg", Level::Warn, e.to_string()).hint(e.hint().unwrap_or(install)),
        ),
    }
    match &ffprobe {
        Ok(path) => {
            let version = first_line(path, &["-version"]);
            checks.push(CheckView::new(
                "ffprobe",
                Level::Ok,
                format!(
                    "`{}`: {}",
                    path.display(),
                    version.as_deref().map_or("version unknown", version_only)
                ),
            ));
        }
        Err(e) => checks.push(
            CheckView::new("ffprobe", Level::Warn, e.to_string()).hint(e.hint().unwrap_or(install)),
        ),
    }
    checks.push(fonts_check());
    checks
}

fn ffmpeg_check(path: &Path, caps: &Capabilities) -> CheckView {
    let missing: Vec<String> = MEDIA_FEATURES
        .iter()
        .filter(|(name, filter, _)| {
            !(if *filter { &caps.filters } else { &caps.encoders }).contains(*name)
        })
        .map(|(name, filter, purpose)| {
            format!(
                "{} `{name}` is missing: no {purpose}",
                if *filter { "filter" } else { "encoder" }
            )
        })
        .collect();
    let version =
        if caps.version.is_empty() { "version unknown" } else { version_only(&caps.version) };
    let message = format!("`{}`: {version}", path.display());
    if missing.is_empty() {
        CheckView::new(
            "ffmpeg",
            Level::Ok,
            format!("{message}; every encoder and filter conjure uses is there"),
        )
    } else {
        CheckView::new("ffmpeg", Level::Warn, format!("{message}; {} feature(s) conjure uses are missing", missing.len()))
            .hint("install a fuller ffmpeg build (Debian/Ubuntu's `ffmpeg` package has them all), or set CONJURE_FFMPEG to one")
            .details(missing)
    }
}

/// The first line a tool prints for `args`.
fn first_line(program: &Path, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).lines().next().map(str::to_owned)
}

/// The default caption font, and fontconfig (which finds fallback fonts for other scripts).
fn fonts_check() -> CheckView {
    let font = Path::new(conjure_media::filter::DEFAULT_FONT);
    let fc_list = std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join("fc-list")).find(|f| f.is_file()));
    let mut details = Vec::new();
    details.push(match &fc_list {
        Some(p) => format!("fontconfig: `{}` (characters no font has are reported)", p.display()),
        None => "fontconfig's `fc-list` is not installed: characters no font has are not reported"
            .to_owned(),
    });
    if font.is_file() {
        CheckView::new("fonts", Level::Ok, format!("caption font `{}`", font.display()))
            .details(details)
    } else {
        CheckView::new(
            "fonts",
            Level::Warn,
            format!("the default caption font `{}` is missing; captions fall back to whatever fontconfig finds", font.display()),
        )
        .hint("install it: `apt-get install fonts-dejavu-core`, or give each caption a `font` file")
        .details(details)
    }
}

/// Whether conjure can write in `dir` (or create it: the nearest existing parent is tried).
fn dir_check(name: &str, dir: &Path, level: Level) -> CheckView {
    let shown = dir.display();
    let existing = dir.ancestors().find(|d| d.exists()).unwrap_or(dir);
    match tempfile::tempfile_in(existing) {
        Ok(_) if existing == dir => {
            CheckView::new(name, Level::Ok, format!("`{shown}` is writable"))
        }
        Ok(_) => CheckView::new(
            name,
            Level::Ok,
            format!("`{shown}` does not exist yet; it can be created"),
        ),
        Err(e) => {
            CheckView::new(name, level, format!("cannot write in `{}`: {e}", existing.display()))
                .hint(if name == "data_dir" {
                    "set CONJURE_HOME to a writable local directory"
                } else {
                    "set CONJURE_CONFIG_DIR to a writable directory"
                })
        }
    }
}

/// Free space where outputs go.
fn disk_check(out_dir: &Path) -> CheckView {
    let dir = std::path::absolute(out_dir).unwrap_or_else(|_| out_dir.to_path_buf());
    let existing = dir.ancestors().find(|d| d.exists()).unwrap_or(dir.as_path());
    match rustix::fs::statvfs(existing) {
        Ok(s) => {
            let free = s.f_bavail.saturating_mul(s.f_frsize);
            let gib = free as f64 / f64::from(1 << 30);
            let message = format!("{gib:.1} GiB free where outputs go (`{}`)", dir.display());
            if free < LOW_DISK_BYTES {
                CheckView::new("disk", Level::Warn, message)
                    .hint("free some space, or send outputs elsewhere (`--out-dir`, `output.dir` in the config)")
            } else {
                CheckView::new("disk", Level::Ok, message)
            }
        }
        Err(e) => CheckView::new(
            "disk",
            Level::Warn,
            format!("cannot tell the free space of `{}`: {e}", existing.display()),
        ),
    }
}
