//! Taking turns across gateway instances for a provider that allows few requests in flight per
//! account (issue 14, item 4).
//!
//! Whether a provider needs turns, and how many requests it allows at once, is the
//! configuration's decision ([`conjure_app::Config::max_in_flight`], from the provider's
//! capabilities or the operator's settings), as for the CLI; this module is only the mechanism.
//! The CLI takes turns with file locks on one machine (`conjure_app::inflight`); instances of
//! the gateway may run on several machines, so their turns are Postgres advisory locks, which
//! every instance on the database sees.
//!
//! - **Slots.** A provider allowing `max` requests at once has `max` slots per account. A
//!   slot's lock key is a hash of the provider, the slot's number and a hash of the account's
//!   key (the key itself never reaches the database, a log or an error): two gateways spending
//!   from different accounts never wait for each other, two spending from one always do.
//! - **A turn** is a slot's session lock (`pg_try_advisory_lock`), held on a connection of the
//!   turns' own small pool (one per slot, apart from the store's, which the POST's reservation and
//!   recording need) for as long as the paid POST is in flight, then unlocked and the connection
//!   returned. An instance killed while it holds one loses its connection, and Postgres frees
//!   the lock with it: a dead instance never blocks the others. A turn dropped without
//!   [`Turn::release`] (a cancelled request) closes its connection, which frees it the same way.
//! - **Waiting.** Requests of one instance queue first on a local semaphore of `max` permits
//!   (in order, and without a database connection each); only the `max` at its head go on to
//!   Postgres, so waiting requests never starve the pool a POST in flight needs to record its
//!   answer. There each tries every slot, then queues on one (`pg_advisory_lock` under a
//!   `lock_timeout`), woken the moment it is unlocked; with several slots it queues for
//!   [`Config::retry`] at a time and tries them all again. A request that gets no turn within
//!   [`Config::max_wait`] is answered 503 with `Retry-After`: nothing was reserved or sent, so
//!   sending it again is safe.
//!
//! Not here: background polls (free GETs) take no turn; deciding which providers need turns.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use conjure_app::App;
use conjure_core::ProviderId;
use conjure_providers::registry;
use sha2::{Digest as _, Sha256};
use sqlx::PgPool;
use sqlx::pool::PoolConnection;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::store::{PgStore, PgStoreError};

/// How long a request may wait for a turn, and how often the slots are tried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The longest a request waits for a turn before it is answered 503 (nothing sent).
    pub max_wait: Duration,
    /// With several slots, how long a waiting request queues on one before trying them all
    /// again (with one slot it queues until its turn or [`Config::max_wait`]).
    pub retry: Duration,
}

/// The most connections an instance's turns keep (one per slot).
const MAX_TURN_CONNECTIONS: u32 = 64;

/// The longest wait [`Config::default`] allows.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(60);

impl Default for Config {
    fn default() -> Config {
        Config { max_wait: DEFAULT_MAX_WAIT, retry: Duration::from_millis(50) }
    }
}

/// Why a request got no turn.
#[derive(Debug, thiserror::Error)]
pub enum TurnError {
    #[error(
        "{provider} allows {max} request(s) in flight per account, and all were taken by the gateway's other requests for {waited:?}; nothing was reserved or sent"
    )]
    Busy { provider: ProviderId, max: u32, waited: Duration },
    #[error(transparent)]
    Store(#[from] PgStoreError),
}

impl TurnError {
    /// What the caller can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            TurnError::Busy { .. } => Some(
                "send the same request again after the Retry-After seconds; nothing was sent, so it is safe"
                    .to_owned(),
            ),
            TurnError::Store(e) => e.hint(),
        }
    }

    /// The answer a member's client gets: 503 with `Retry-After` (both errors pass by
    /// themselves, and nothing was sent).
    pub(crate) fn answer(&self, retry_after: Duration) -> Response {
        let code = match self {
            TurnError::Busy { .. } => "provider_busy",
            TurnError::Store(_) => "store",
        };
        let mut response = crate::api::error(
            StatusCode::SERVICE_UNAVAILABLE,
            code,
            &self.to_string(),
            self.hint().as_deref(),
        );
        let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
        if let Ok(v) = HeaderValue::from_str(&seconds.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

/// The lock key of `provider`'s slot `slot` on the account whose key hashes to `account`.
pub fn slot_key(provider: ProviderId, account: &[u8; 32], slot: u32) -> i64 {
    let mut h = Sha256::new();
    h.update(b"conjure-turn\0");
    h.update(provider.as_str().as_bytes());
    h.update(b"\0");
    h.update(slot.to_be_bytes());
    h.update(account);
    let digest = h.finalize();
    let mut first = [0_u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// A hash naming the account `app` spends from with `provider`: its base URL and key.
fn account(app: &App, provider: ProviderId) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(app.config.provider(provider).base_url.as_bytes());
    h.update(b"\0");
    let found = registry::load_credentials(
        provider,
        |k| app.config.env.get(k).cloned(),
        app.config.home.as_deref(),
        &app.config.config_dir,
    );
    // Without credentials nothing is sent (connecting fails first); one shared key is as safe.
    if let Ok((credentials, _)) = found {
        h.update(credentials.account_key().expose().as_bytes());
    }
    h.finalize().into()
}

/// The gateway's turns: cheap to clone, one per instance.
#[derive(Clone)]
pub struct Turns {
    pool: PgPool,
    app: Arc<App>,
    config: Config,
    local: Arc<Mutex<HashMap<ProviderId, Arc<Semaphore>>>>,
}

impl std::fmt::Debug for Turns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Turns").field("config", &self.config).finish_non_exhaustive()
    }
}

/// A held turn: release it when the POST's answer is recorded.
#[derive(Debug)]
pub struct Turn {
    conn: Option<PoolConnection<sqlx::Postgres>>,
    key: i64,
    _local: OwnedSemaphorePermit,
}

impl Turn {
    /// Frees the slot. If the unlock cannot be confirmed, the connection is closed instead of
    /// returned to the pool, which frees it as surely.
    pub async fn release(mut self) {
        let Some(mut conn) = self.conn.take() else { return };
        let unlocked: Result<bool, sqlx::Error> =
            sqlx::query_scalar("SELECT pg_advisory_unlock($1)")
                .bind(self.key)
                .fetch_one(&mut *conn)
                .await;
        if !matches!(unlocked, Ok(true)) {
            tracing::warn!(error = ?unlocked.err(), "a turn's unlock failed; closing its connection");
            conn.close_on_drop();
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        // Not released (the request was cancelled): the session lock goes with the connection.
        if let Some(conn) = self.conn.as_mut() {
            conn.close_on_drop();
        }
    }
}

impl Turns {
    /// Turns on `store`'s database, for the providers `app`'s configuration limits.
    pub fn new(store: &PgStore, app: Arc<App>, config: Config) -> Turns {
        // Connections of their own: a turn holds one for its POST's whole span, and the POST's
        // reservation and recording need the store's; sharing one pool, many turns at once
        // (a provider allowing many in flight) would hold every connection and starve the
        // requests holding them. One per slot of every provider that takes turns, lazily made.
        let slots: u32 = registry::ALL.iter().filter_map(|p| app.config.max_in_flight(*p)).sum();
        let options = (*store.pool().connect_options()).clone();
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(slots.clamp(1, MAX_TURN_CONNECTIONS))
            .acquire_timeout(config.max_wait.max(Duration::from_secs(1)))
            .connect_lazy_with(options);
        Turns { pool, app, config, local: Arc::default() }
    }

    /// How long a request waits at most.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Waits for a turn to send to `provider`; `None` when the provider takes no turns.
    pub async fn take(&self, provider: ProviderId) -> Result<Option<Turn>, TurnError> {
        let Some(max) = self.app.config.max_in_flight(provider) else { return Ok(None) };
        let max = max.max(1);
        let started = Instant::now();
        let busy = || TurnError::Busy { provider, max, waited: started.elapsed() };
        let semaphore = Arc::clone(
            self.local
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(provider)
                .or_insert_with(|| Arc::new(Semaphore::new(max as usize))),
        );
        let local = tokio::time::timeout(self.config.max_wait, semaphore.acquire_owned())
            .await
            .map_err(|_| busy())?
            .map_err(|_| busy())?;
        let account = account(&self.app, provider);
        let keys: Vec<i64> = (0..max).map(|slot| slot_key(provider, &account, slot)).collect();
        // Closed if this future is dropped mid-wait: a lock granted as the wait was abandoned
        // must not go back to the pool with the connection.
        let mut conn = Armed(Some(self.pool.acquire().await.map_err(PgStoreError::from)?));
        let mut round = 0_usize;
        loop {
            for &key in &keys {
                let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(key)
                    .fetch_one(conn.get())
                    .await
                    .map_err(PgStoreError::from)?;
                if got {
                    if round > 0 {
                        tracing::debug!(%provider, waited = ?started.elapsed(), "got a turn");
                    }
                    return Ok(Some(Turn { conn: conn.disarm(), key, _local: local }));
                }
            }
            let remaining = self.config.max_wait.saturating_sub(started.elapsed());
            if remaining.is_zero() {
                return Err(busy());
            }
            // Queue on one slot in Postgres, woken the moment it is unlocked; with several
            // slots, only briefly, then every slot is tried again.
            let key = keys[round % keys.len()];
            let wait = if keys.len() == 1 { remaining } else { remaining.min(self.config.retry) };
            round += 1;
            let millis = wait.as_millis().clamp(1, i32::MAX as u128);
            sqlx::query(&format!("SET lock_timeout = {millis}"))
                .execute(conn.get())
                .await
                .map_err(PgStoreError::from)?;
            let locked =
                sqlx::query("SELECT pg_advisory_lock($1)").bind(key).execute(conn.get()).await;
            sqlx::query("SET lock_timeout = 0")
                .execute(conn.get())
                .await
                .map_err(PgStoreError::from)?;
            match locked {
                Ok(_) => return Ok(Some(Turn { conn: conn.disarm(), key, _local: local })),
                // 55P03: lock_not_available, the wait ran out.
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("55P03") => {}
                Err(e) => return Err(PgStoreError::from(e).into()),
            }
        }
    }
}

/// A connection that is closed, not returned to the pool, unless disarmed.
struct Armed(Option<PoolConnection<sqlx::Postgres>>);

impl Armed {
    fn get(&mut self) -> &mut sqlx::PgConnection {
        self.0.as_mut().expect("armed until disarmed")
    }

    fn disarm(&mut self) -> Option<PoolConnection<sqlx::Postgres>> {
        self.0.take()
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        if let Some(conn) = self.0.as_mut() {
            conn.close_on_drop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_keys_differ_by_provider_account_and_slot() {
        let a = [1_u8; 32];
        let b = [2_u8; 32];
        let k = slot_key(ProviderId::Katana, &a, 0);
        assert_eq!(k, slot_key(ProviderId::Katana, &a, 0));
        assert_ne!(k, slot_key(ProviderId::Katana, &a, 1));
        assert_ne!(k, slot_key(ProviderId::Katana, &b, 0));
        assert_ne!(k, slot_key(ProviderId::ImaginePro, &a, 0));
    }

    #[test]
    fn a_busy_answer_says_when_to_come_back() {
        let e = TurnError::Busy {
            provider: ProviderId::Katana,
            max: 1,
            waited: Duration::from_secs(2),
        };
        let r = e.answer(Duration::from_millis(1500));
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");
        assert!(e.hint().unwrap().contains("safe"));
    }
}
