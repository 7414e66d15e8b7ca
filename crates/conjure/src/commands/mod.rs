//! One module per subcommand, plus the context they share.
//!
//! [`Ctx`] carries the resolved settings and the printer, and opens what a command needs on
//! demand (the journal, a provider with credentials), so that commands which need neither,
//! such as `models` or a `quote`, work without credentials or a writable home.

pub mod auth;
pub mod balance;
pub mod demo;
pub mod edit;
pub mod fetch;
pub mod image;
pub mod jobs;
pub mod media;
pub mod models;
pub mod pay;
pub mod quote;
pub mod report;
pub mod retry;
pub mod sandbox;
pub mod status;
pub mod submit;
pub mod video;
pub mod wait;

use conjure_core::runner::{Event, Runner};
use conjure_journal::Journal;
use conjure_providers::katana::Katana;

use crate::cli::Command;
use crate::error::{CliError, Exit};
use crate::output::Output;
use crate::settings::Settings;

/// What every command gets.
pub struct Ctx {
    pub settings: Settings,
    pub out: Output,
}

impl Ctx {
    /// Opens the journal (creating it on first use).
    pub fn journal(&self) -> Result<Journal, CliError> {
        let path = self.settings.journal_path();
        Journal::open(&path).map_err(|e| {
            CliError::new(Exit::Other, format!("Cannot open the journal `{}`: {e}", path.display()))
                .hint("set CONJURE_HOME to a writable directory")
        })
    }

    /// The Katana client with credentials; exit 7 when there are none.
    pub fn katana(&self) -> Result<Katana, CliError> {
        let env = &self.settings.env;
        let (creds, _source) = conjure_providers::credentials::load_katana_credentials(
            |k| env.get(k).cloned(),
            self.settings.home.as_deref(),
            &self.settings.config_dir,
        )
        .map_err(|e| {
            let hint = e.hint();
            let mut err = CliError::new(Exit::Credentials, e.to_string());
            err.hint = hint;
            err
        })?;
        Katana::new(
            &self.settings.katana_base_url,
            creds,
            conjure_providers::http::HttpOptions::default(),
        )
        .map_err(|e| {
            let hint = e.hint();
            let mut err = CliError::usage(e.to_string());
            err.hint = hint;
            err
        })
    }
}

/// What a command needs to drive jobs: the provider, the journal and the progress printer.
pub struct Session {
    pub katana: Katana,
    pub journal: Journal,
    policy: conjure_core::policy::PollPolicy,
    observer: Box<dyn Fn(Event<'_>) + Send + Sync>,
}

impl Session {
    pub fn runner(&self) -> Runner<'_, Katana, Journal> {
        Runner {
            provider: &self.katana,
            store: &self.journal,
            policy: self.policy.clone(),
            observer: &*self.observer,
        }
    }
}

impl Ctx {
    /// A session over `journal` with credentials; exit 7 when there are none.
    pub fn session(&self, journal: Journal) -> Result<Session, CliError> {
        Ok(Session {
            katana: self.katana()?,
            journal,
            policy: self.settings.poll.clone(),
            observer: Box::new(report::observer(self.out)),
        })
    }
}

/// Runs one parsed command.
pub async fn dispatch(ctx: &Ctx, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Image(args) => image::run(ctx, args).await,
        Command::Video(args) => video::run(ctx, args).await,
        Command::Submit(args) => submit::run(ctx, args).await,
        Command::Quote(args) => quote::run(ctx, args).await,
        Command::Status(args) => status::run(ctx, args).await,
        Command::Wait(args) => wait::run(ctx, args).await,
        Command::Fetch(args) => fetch::run(ctx, args).await,
        Command::Jobs(args) => jobs::run(ctx, &args),
        Command::Retry(args) => retry::run(ctx, args).await,
        Command::Models(args) => models::run(ctx, &args),
        Command::Balance(args) => balance::run(ctx, args).await,
        Command::Auth(args) => auth::run(ctx, &args),
        Command::Sandbox(args) => sandbox::run(ctx, args).await,
        Command::Demo(args) => demo::run(ctx, args).await,
        Command::Edit(args) => edit::run(ctx, &args),
        Command::Media(args) => media::run(ctx, args),
    }
}
