//! The gateway's HTTP server (axum): its routes, the key check in front of every route but
//! `/healthz`, and a graceful stop.
//!
//! Routes: `GET /healthz` (no key: 200 `{"status":"ok"}` when the database answers, 503 when it
//! does not, carrying no URL and so no password); Katana's wire endpoints for members
//! (`POST /v1/generation-requests`, `GET /v1/generation-requests/{id}`, `GET /v1/models`,
//! `GET /v1/me/balance`), its text endpoint (`POST /v1/chat/completions`, [`crate::chat`]) and
//! ImaginePro's under `/api/v1` ([`crate::imaginepro`], whose refusals, the key check's
//! included, are reshaped into ImaginePro's error body); `POST /approve/{token}` (the member whose quote it is, or the admin);
//! the admin API under `/admin/` (the admin key); a member's webhooks under `/v1/webhooks`
//! ([`crate::webhooks`]); `GET /metrics` (the admin key; [`crate::metrics`]); conjure's own API
//! under `/conjure/v1/` (member keys; [`crate::own`]) and its OpenAPI document at
//! `GET /openapi.json` (no key; [`crate::openapi`]). Other handlers are in [`crate::api`]. The webhook delivery worker and the instance's heartbeat, orphan sweep
//! and job poller ([`crate::leases`]) run beside the server.
//! [`serve`] runs until its `shutdown` future resolves, then stops accepting, lets the requests
//! in flight finish (a paid POST under way is answered and recorded), and closes the store's
//! connections. Which signal stops it is the binary's business.

use std::future::Future;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::{delete, get, post, put};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::api::{self, Gateway};
use crate::keys;
use crate::leases;
use crate::logs;
use crate::metrics::{self, Metrics};
use crate::ratelimit;
use crate::store::{PgStore, SCHEMA_VERSION};
use crate::turns;
use crate::webhooks;
use crate::{openapi, own};

impl Gateway {
    /// A gateway over `store`, pricing and sending with `app` (its configuration holds the
    /// provider credentials), its jobs recorded as reserved by `owner` (this instance).
    pub fn new(store: PgStore, app: conjure_app::App, owner: &str) -> Gateway {
        let storage = crate::storage::Storage::new(app.config.data_dir.join("outputs"));
        let app = Arc::new(app);
        let turns = turns::Turns::new(&store, Arc::clone(&app), turns::Config::default());
        let limits = ratelimit::Limits::new(store.clone(), None);
        Gateway {
            storage,
            store,
            app,
            owner: Arc::from(owner),
            metrics: Arc::new(Metrics::new()),
            webhooks: webhooks::Config::default(),
            leases: leases::Config::default(),
            turns,
            limits,
        }
    }

    /// The same gateway limiting each member to `default` requests a minute unless the member
    /// has a rate of its own (`None`: only members' own rates).
    #[must_use]
    pub fn with_rate_limit(mut self, default: Option<ratelimit::Rate>) -> Gateway {
        self.limits = ratelimit::Limits::new(self.store.clone(), default);
        self
    }

    /// The same gateway waiting for a provider's turn as `config` says.
    #[must_use]
    pub fn with_turns(mut self, config: turns::Config) -> Gateway {
        self.turns = turns::Turns::new(&self.store, Arc::clone(&self.app), config);
        self
    }

    /// The same gateway with its liveness and background polling as `config` says.
    #[must_use]
    pub fn with_leases(mut self, config: leases::Config) -> Gateway {
        self.leases = config;
        self
    }

    /// The same gateway keeping output files in `storage` (shared by the instances).
    #[must_use]
    pub fn with_storage(mut self, storage: crate::storage::Storage) -> Gateway {
        self.storage = storage;
        self
    }

    /// The same gateway with webhooks checked and delivered as `config` says.
    #[must_use]
    pub fn with_webhooks(mut self, config: webhooks::Config) -> Gateway {
        self.webhooks = config;
        self
    }
}

/// The gateway's routes.
pub fn router(gateway: Gateway) -> Router {
    // The key check, then the member's rate limit (it needs to know the member).
    let check_key = || {
        tower::ServiceBuilder::new()
            .layer(middleware::from_fn_with_state(gateway.store.clone(), keys::authenticate))
            .layer(middleware::from_fn_with_state(gateway.limits.clone(), ratelimit::limit))
    };
    let keyed = Router::new()
        .route("/v1/generation-requests", post(api::submit))
        .route("/v1/generation-requests/{id}", get(api::poll))
        .route("/v1/models", get(api::models))
        .route("/v1/me/balance", get(api::balance))
        .route("/approve/{token}", post(api::approve_quote))
        .route("/v1/chat/completions", post(crate::chat::completions));
    // conjure's own API (crate::own), one table of routes.
    let keyed = own::routes()
        .into_iter()
        .fold(keyed, |r, route| r.route(route.path, route.handler))
        .route_layer(check_key());
    // Layers run outside in: the key check, then the admin check.
    let admin = Router::new()
        .route("/admin/members", post(api::admin_add_member))
        .route("/admin/members/{name}/keys", post(api::admin_create_key))
        .route("/admin/keys/{prefix}/revoke", post(api::admin_revoke_key))
        .route("/admin/projects", post(api::admin_add_project).get(api::admin_projects))
        .route("/admin/projects/{name}/members", post(api::admin_add_project_member))
        .route("/admin/projects/{name}/members/{member}", delete(api::admin_remove_project_member))
        .route("/admin/budgets", put(api::admin_set_budget))
        .route("/admin/usage", get(api::admin_usage))
        .route("/admin/members/{name}/rate-limit", put(ratelimit::admin_set_rate))
        .route_layer(middleware::from_fn(api::admin_only))
        .route_layer(check_key());
    // ImaginePro's clients read its error shape, the key check's refusals included.
    let imaginepro = crate::imaginepro::routes()
        .route_layer(check_key())
        .route_layer(middleware::map_response(crate::imaginepro::reshape));
    let pool = gateway.store.pool().clone();
    let hooks = webhooks::router(pool.clone(), gateway.webhooks.clone()).route_layer(check_key());
    let metrics = metrics::router(pool, Arc::clone(&gateway.metrics))
        .route_layer(middleware::from_fn(api::admin_only))
        .route_layer(check_key());
    Router::new()
        .route("/healthz", get(healthz))
        .route(openapi::PATH, get(openapi::serve))
        .merge(keyed)
        .merge(imaginepro)
        .merge(admin)
        .with_state(gateway)
        .merge(hooks)
        .merge(metrics)
        // Outermost, so that it sees every answer (401s and 429s too).
        .layer(middleware::from_fn(logs::access_log))
}

/// Serves the gateway on `listener` until `shutdown` resolves, then finishes the requests in
/// flight and closes the store's connections.
///
/// Beside the server run the webhook worker and this instance's background work
/// ([`leases::Instance`]: heartbeat, orphan sweep, job poller). The instance's row is written
/// before the first request is accepted (so that no other instance takes its jobs for a
/// stopped instance's) and deleted only after the requests in flight have finished and the
/// background work has stopped (its poll leases released).
pub async fn serve(
    listener: TcpListener,
    gateway: Gateway,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let store = gateway.store.clone();
    let worker = webhooks::Worker::new(
        store.pool().clone(),
        gateway.webhooks.clone(),
        Some(Arc::clone(&gateway.metrics)),
    )
    .map_err(std::io::Error::other)?;
    let instance = leases::Instance::new(
        store.clone(),
        Arc::clone(&gateway.app),
        &gateway.owner,
        gateway.leases.clone(),
    )
    .map_err(std::io::Error::other)?
    .with_storage(gateway.storage.clone());
    instance.register().await.map_err(std::io::Error::other)?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let wait = move |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    // Both stop with the server, each after the round it has in flight.
    let delivering = tokio::spawn(worker.run(wait(stopped.clone())));
    let background = tokio::spawn(instance.clone().run(wait(stopped)));
    // The heartbeat stops only once the requests in flight have been answered.
    let (served_all, beating) = tokio::sync::watch::channel(false);
    let heartbeat = tokio::spawn(instance.clone().keep_alive(wait(beating)));
    let shutdown = async move {
        shutdown.await;
        let _ = stop.send(true);
    };
    let served = axum::serve(listener, router(gateway)).with_graceful_shutdown(shutdown).await;
    let _ = delivering.await;
    let _ = background.await;
    let _ = served_all.send(true);
    let _ = heartbeat.await;
    if let Err(e) = instance.deregister().await {
        // Its row then expires on its own; its jobs are settled a lease later.
        tracing::warn!(error = %e, hint = ?e.hint(), "could not remove this instance's row");
    }
    store.close().await;
    served
}

async fn healthz(State(gateway): State<Gateway>) -> (StatusCode, Json<Value>) {
    match gateway.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ok", "schema_version": SCHEMA_VERSION}))),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "error": e.to_string(), "hint": e.hint()})),
        ),
    }
}
