//! The application and its sessions: the journal, this process's owner lease, and connected
//! providers, opened on demand.
//!
//! [`App`] holds the resolved [`Config`] and a [`Connector`]. [`App::session`] opens the journal
//! and, before any command reads it, replays answers the journal could not take earlier (the
//! [`crate::fallback`] record) and settles jobs whose process is gone
//! ([`Session::settle_orphans`]): a job left `submitting` by a dead process may have been charged
//! and becomes `unknown` at once; one left `quoted` was never sent and becomes `failed` (nothing
//! charged). [`App::connect`] opens the provider a job or request belongs to, with that
//! provider's own credentials: the [`Registry`] connector in real use, another in tests.

use std::sync::OnceLock;

use conjure_core::{JobState, JobStore as _, Provider, ProviderId};
use conjure_journal::Journal;
use conjure_providers::registry::{self, Connected};

use crate::config::Config;
use crate::error::AppError;
use crate::owner::{self, Owner};

/// Opens providers. [`Registry`] is the real one: every provider conjure knows, with the
/// credentials and settings of the configuration.
pub trait Connector: Send + Sync {
    type Provider: Provider;

    fn connect(&self, config: &Config, provider: ProviderId) -> Result<Self::Provider, AppError>;
}

/// The providers of `conjure_providers::registry`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Registry;

impl Connector for Registry {
    type Provider = Connected;

    fn connect(&self, config: &Config, provider: ProviderId) -> Result<Connected, AppError> {
        let env = &config.env;
        let (credentials, _source) = registry::load_credentials(
            provider,
            |k| env.get(k).cloned(),
            config.home.as_deref(),
            &config.config_dir,
        )?;
        let settings = config.provider(provider);
        Ok(registry::connect(provider, &settings, credentials, config.http.clone())?)
    }
}

/// The application: configuration, a connector, and the operations of [`crate::paid`] and
/// [`crate::jobs`].
#[derive(Clone, Debug)]
pub struct App<C = Registry> {
    pub config: Config,
    connector: C,
    /// The refreshed catalogue, read from its cache on first use ([`App::catalogue`]).
    pub(crate) refreshed: OnceLock<Option<crate::catalogue::Refreshed>>,
}

/// An open journal, and this process's lease once it reserves anything.
#[derive(Debug)]
pub struct Session {
    pub journal: Journal,
    data_dir: std::path::PathBuf,
    owner: OnceLock<Owner>,
}

impl App {
    pub fn new(config: Config) -> App {
        App { config, connector: Registry, refreshed: OnceLock::new() }
    }
}

impl<C: Connector> App<C> {
    /// An application whose providers come from `connector`.
    pub fn with_connector(config: Config, connector: C) -> App<C> {
        App { config, connector, refreshed: OnceLock::new() }
    }

    /// Opens the journal (creating it on first use) and settles orphaned jobs.
    pub async fn session(&self) -> Result<Session, AppError> {
        let path = self.config.journal_path();
        let journal = Journal::open(&path).map_err(|e| {
            let mut err = AppError::from(e);
            err.message = format!("Cannot open the journal `{}`: {}", path.display(), err.message);
            err
        })?;
        let data_dir = self.config.data_dir.clone();
        crate::fallback::replay(&journal, &data_dir).await?;
        let session = Session { journal, data_dir, owner: OnceLock::new() };
        session.settle_orphans().await?;
        Ok(session)
    }

    /// `provider` with its credentials; a credentials error (exit 7) when there are none.
    pub fn connect(&self, provider: ProviderId) -> Result<C::Provider, AppError> {
        self.connector.connect(&self.config, provider)
    }
}

impl Session {
    /// This process's owner lease, taken on first use.
    pub fn owner(&self) -> Result<&str, AppError> {
        if let Some(o) = self.owner.get() {
            return Ok(o.id());
        }
        let lease = Owner::acquire(&self.data_dir).map_err(|e| {
            AppError::other(format!(
                "Cannot take a lease in `{}`: {e}",
                self.data_dir.join("owners").display()
            ))
            .hint("set CONJURE_HOME to a writable local directory")
        })?;
        Ok(self.owner.get_or_init(|| lease).id())
    }

    /// Whether a job owned by `owner` may still be in the hands of a live process.
    pub fn owner_alive(&self, owner: Option<&str>) -> bool {
        match owner {
            Some(o) if self.owner.get().is_some_and(|mine| mine.id() == o) => true,
            Some(o) => owner::is_alive(&self.data_dir, o),
            None => false,
        }
    }

    /// Moves jobs whose owning process is gone out of `quoted` and `submitting`.
    pub async fn settle_orphans(&self) -> Result<(), AppError> {
        for job in self.journal.in_flight().await? {
            if self.owner_alive(job.owner.as_deref()) {
                continue;
            }
            let (to, note) = match job.state {
                JobState::Quoted => (
                    JobState::Failed,
                    "the conjure process that reserved this job stopped before sending it; nothing was sent or charged",
                ),
                JobState::Submitting => (
                    JobState::Unknown,
                    "the conjure process sending this job stopped before it read the answer; it may have been charged",
                ),
                _ => continue,
            };
            // Another process may settle it at the same moment; the loser's move is illegal.
            match self.journal.transition(&job.id, to, Some(note)).await {
                Ok(_) | Err(conjure_core::StoreError::Illegal(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        owner::sweep(&self.data_dir);
        Ok(())
    }
}
