//! The offline sandbox: one real HTTP server that speaks two providers' wire contracts on the
//! same port, with labelled placeholder media and answers, per-key credit balances and fault
//! injection.
//!
//! **Katana** (image and video generation, and text on `/v1/chat/completions`, whole, streamed or
//! async). conjure's integration tests and `conjure demo` point a real client at
//! [`Sandbox::base_url`]; so can any OpenAI-compatible client, with base URL `{base_url}/v1` and
//! `key:secret` as its API key. The sandbox validates submissions against the bundled catalogue,
//! charges the catalogue price exactly (in tenths of a credit; more only under the overcharge
//! fault), completes jobs after a configurable number of polls and serves deterministic
//! placeholder pictures (the `image` crate) and videos (ffmpeg) from `/assets/…`. Text calls get
//! a deterministic placeholder answer and are billed like the real service (a reserve, the
//! charge, a refund) with the very functions conjure quotes with (`conjure_core::text`), so an
//! offline run costs exactly the quote. It also serves a placeholder attestation for E2EE Private
//! models and an `llms.txt`.
//!
//! **ImaginePro** (`imaginepro-api.md`) under `/api/v1`, authenticated by
//! `Authorization: Bearer <key>` against [`SandboxConfig::imaginepro_keys`] (by default
//! [`IMAGINEPRO_DEMO_KEY`] with [`IMAGINEPRO_DEMO_BALANCE`] credits, a ledger apart from
//! Katana's). Both path families share one job store: `/midjourney/{imagine,button}` and
//! `/midjourney/message/{id}` (the skill's), `/nova/{imagine,button}` and `/message/fetch/{id}`
//! (the SDKs'); every job is also served on `/video/mj/fetch/{id}`. Besides those:
//! `/flux/{imagine,upscale}`, `/universal/{imagine,zimage}`, `/gemini/imagine`,
//! `/video/mj/{generate,extend}`, `/tools/remove-bg` and the synchronous, free
//! `/tools/prompt-extend`. A job steps once per poll, `QUEUED` → `PROCESSING` (numeric `progress`)
//! → `DONE` with `uri`, `images` and `buttons` (or `FAIL` with `error`, refunded); buttons make
//! children with `originatingMessageId`; prices are the table's
//! (`conjure_core::catalogue::imaginepro`, [`IMAGINEPRO_UNPUBLISHED_PRICE`] where none is
//! published); errors are JSON `{message, error, statusCode}`; `ref` is echoed and
//! `webhookOverride` is POSTed the final message once when it is a loopback URL.
//! [`Sandbox::imaginepro_exports`] is the environment for conjure; ImaginePro's official SDKs
//! (Python `imaginepro`, the JS/TS SDK) work unchanged with [`Sandbox::base_url`] as their base
//! URL (they append `/api/v1`), and `tests/it/clients.rs` runs both against it. With the SDKs'
//! default 2 s polling a job takes `steps` + 1 polls; a small `fetch_interval` keeps tests fast.
//!
//! [`Faults`] makes both halves misbehave in the ways a client must survive without paying twice
//! or leaking its credentials: failed or stale jobs, 500s after the charge, dropped connections
//! (before or after acceptance), late or malformed answers and 429s to paid submits,
//! rate-limited polls, held jobs, overcharges, missing or slow assets, and for Katana's text
//! cut or malformed streams and a catalogue that drifted from the bundled one. The sandbox keeps
//! nothing on disk but cached videos in its media directory.
//!
//! ```no_run
//! # async fn demo() -> Result<(), conjure_sandbox::SandboxError> {
//! let sandbox = conjure_sandbox::start(conjure_sandbox::SandboxConfig::default()).await?;
//! println!("{}", sandbox.base_url());
//! sandbox.shutdown().await;
//! # Ok(()) }
//! ```

mod attest;
mod auth;
mod catalogue;
mod conn;
mod echo;
mod envelope;
mod error;
mod faults;
mod imaginepro;
mod llms;
mod media;
mod models;
mod server;
mod state;
mod submit;
mod text;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use conjure_core::money::Credits;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use catalogue::{DRIFT_ADDED, DRIFT_REMOVED};
pub use error::SandboxError;
pub use faults::{FAULT_FLAGS, Faults};
pub use imaginepro::plan::UNPUBLISHED_PRICE as IMAGINEPRO_UNPUBLISHED_PRICE;
pub use server::FAIL_MARKER;
pub use state::Stats;
pub use text::REASON_MARKER;

use conn::{ConnHandle, KillableListener};
use media::MediaStore;
use state::{AppState, Counters};

/// The key of [`SandboxConfig::default`].
pub const DEMO_KEY: &str = "sandbox-key";
/// The secret of [`SandboxConfig::default`].
pub const DEMO_SECRET: &str = "sandbox-secret";
/// The starting balance of [`SandboxConfig::default`], in whole credits.
pub const DEMO_BALANCE: i64 = 10_000;

/// The ImaginePro key of [`SandboxConfig::default`].
pub const IMAGINEPRO_DEMO_KEY: &str = "sandbox-imaginepro-key";
/// The starting balance of [`IMAGINEPRO_DEMO_KEY`], in whole credits.
pub const IMAGINEPRO_DEMO_BALANCE: i64 = 10_000;
/// The environment variable ImaginePro's skill and conjure read the key from.
pub const IMAGINEPRO_API_KEY_ENV: &str = conjure_core::env::IMAGINEPRO_API_KEY;

/// One ImaginePro API key the sandbox accepts (`Authorization: Bearer <key>`), with its
/// starting balance. The key is the whole credential, so `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct ImagineProKey {
    pub key: String,
    pub balance: Credits,
}

impl ImagineProKey {
    pub fn new(key: impl Into<String>, balance: Credits) -> ImagineProKey {
        ImagineProKey { key: key.into(), balance }
    }
}

impl fmt::Debug for ImagineProKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImagineProKey")
            .field("key", &"****")
            .field("balance", &self.balance)
            .finish()
    }
}

/// One API key the sandbox accepts, with its starting balance.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub key: String,
    pub secret: String,
    pub balance: Credits,
}

impl ApiKey {
    pub fn new(key: impl Into<String>, secret: impl Into<String>, balance: Credits) -> ApiKey {
        ApiKey { key: key.into(), secret: secret.into(), balance }
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("key", &self.key)
            .field("secret", &"****")
            .field("balance", &self.balance)
            .finish()
    }
}

/// How to run a sandbox.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// Where to listen; port 0 picks a free port. Default `127.0.0.1:0`.
    pub addr: SocketAddr,
    /// Accepted keys and their starting balances. A key listed twice keeps its first entry.
    pub keys: Vec<ApiKey>,
    /// Accepted ImaginePro keys and their starting balances (a ledger apart from Katana's). A
    /// key listed twice keeps its first entry.
    pub imaginepro_keys: Vec<ImagineProKey>,
    pub faults: Faults,
    /// Where encoded videos are cached; `None` uses a temporary directory removed on shutdown.
    pub media_dir: Option<PathBuf>,
}

impl Default for SandboxConfig {
    /// Loopback on a free port, one Katana demo key and one ImaginePro demo key with 10 000
    /// credits each, no faults.
    fn default() -> Self {
        SandboxConfig {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            keys: vec![ApiKey::new(DEMO_KEY, DEMO_SECRET, Credits::whole(DEMO_BALANCE))],
            imaginepro_keys: vec![ImagineProKey::new(
                IMAGINEPRO_DEMO_KEY,
                Credits::whole(IMAGINEPRO_DEMO_BALANCE),
            )],
            faults: Faults::default(),
            media_dir: None,
        }
    }
}

/// A running sandbox. Dropping it stops the server as well; [`Sandbox::shutdown`] also waits.
#[derive(Debug)]
pub struct Sandbox {
    addr: SocketAddr,
    state: Arc<AppState>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// Binds, spawns the server on the current tokio runtime and returns at once.
pub async fn start(config: SandboxConfig) -> Result<Sandbox, SandboxError> {
    let listener = TcpListener::bind(config.addr)
        .await
        .map_err(|source| SandboxError::Bind { addr: config.addr, source })?;
    let addr =
        listener.local_addr().map_err(|source| SandboxError::Bind { addr: config.addr, source })?;
    let media = MediaStore::new(config.media_dir.as_deref())?;
    let mut balances = BTreeMap::new();
    let mut keys = Vec::new();
    for k in config.keys {
        if !balances.contains_key(&k.key) {
            balances.insert(k.key.clone(), k.balance);
            keys.push((k.key, k.secret));
        }
    }
    let state = Arc::new(AppState {
        keys,
        balances: Mutex::new(balances),
        jobs: Mutex::new(HashMap::new()),
        faults: Mutex::new(config.faults),
        counters: Counters::default(),
        base_url: format!("http://{addr}"),
        media,
        imaginepro: imaginepro::store::Store::new(
            config.imaginepro_keys.into_iter().map(|k| (k.key, k.balance)),
        ),
    });
    let app =
        server::router(Arc::clone(&state)).into_make_service_with_connect_info::<ConnHandle>();
    let (stop, stopped) = oneshot::channel::<()>();
    let serve = axum::serve(KillableListener(listener), app).with_graceful_shutdown(async move {
        // A dropped sender also stops the server.
        let _ = stopped.await;
    });
    let task = tokio::spawn(async move {
        if let Err(e) = serve.await {
            tracing::warn!("the sandbox server stopped: {e}");
        }
    });
    tracing::debug!(%addr, "sandbox listening");
    Ok(Sandbox { addr, state, stop: Some(stop), task: Some(task) })
}

impl Sandbox {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        self.state.base_url.clone()
    }

    pub fn stats(&self) -> Stats {
        self.state.stats()
    }

    /// The environment that points conjure at this sandbox with `key`'s credentials: the base
    /// URL and credential variables of every provider the sandbox speaks. `None` for an unknown
    /// key.
    pub fn exports(&self, key: &str) -> Option<Vec<(&'static str, String)>> {
        let (key, secret) = self.state.keys.iter().find(|(k, _)| k == key)?;
        Some(vec![
            (conjure_core::env::CONJURE_KATANA_BASE_URL, self.base_url()),
            (conjure_core::env::KATANA_API_KEY, key.clone()),
            (conjure_core::env::KATANA_API_SECRET, secret.clone()),
        ])
    }

    /// The environment that points an ImaginePro client at this sandbox with the ImaginePro key
    /// `key`: the base URL without `/api/v1` (clients and SDKs append it) and the key. `None`
    /// for an unknown key.
    pub fn imaginepro_exports(&self, key: &str) -> Option<Vec<(&'static str, String)>> {
        self.state.imaginepro.balance(key)?;
        Some(vec![
            (conjure_core::env::CONJURE_IMAGINEPRO_BASE_URL, self.base_url()),
            (IMAGINEPRO_API_KEY_ENV, key.to_owned()),
        ])
    }

    /// The current balance of the ImaginePro key `key`, or `None` for an unknown key.
    pub fn imaginepro_balance(&self, key: &str) -> Option<Credits> {
        self.state.imaginepro.balance(key)
    }

    /// The current balance of `key`, or `None` for an unknown key.
    pub fn balance(&self, key: &str) -> Option<Credits> {
        self.state.balance(key)
    }

    pub fn faults(&self) -> Faults {
        self.state.faults()
    }

    /// Replaces the faults. Jobs already accepted keep the faults they were accepted under (and
    /// what they were charged); latency, `poll_after_seconds`, echoed credentials and asset 404s
    /// apply to every later request, including those about earlier jobs.
    pub fn set_faults(&self, faults: Faults) {
        self.state.set_faults(faults);
    }

    /// Stops accepting connections and waits (up to 5 s) for open ones to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut task).await.is_err()
        {
            task.abort();
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
