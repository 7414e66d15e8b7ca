//! The gateway's HTTP server (axum): for now its operations endpoint, `GET /healthz`, answered
//! from the job store, and a graceful stop.
//!
//! `/healthz` says whether this instance can serve: `200 {"status":"ok"}` when the database
//! answers a query, `503 {"status":"unavailable", ...}` when it does not (a load balancer
//! takes the instance out of rotation; the error carries no URL, hence no password). [`serve`]
//! runs until its `shutdown` future resolves, then stops accepting, lets the requests in flight
//! finish, and closes the store's connections. Which signal stops it is the binary's business.
//! The member, job and provider APIs of issue 14 are not here yet.

use std::future::Future;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::store::{PgStore, SCHEMA_VERSION};

/// The gateway's routes over `store`.
pub fn router(store: PgStore) -> Router {
    Router::new().route("/healthz", get(healthz)).with_state(store)
}

/// Serves the gateway on `listener` until `shutdown` resolves, then finishes the requests in
/// flight and closes the store's connections.
pub async fn serve(
    listener: TcpListener,
    store: PgStore,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(store.clone())).with_graceful_shutdown(shutdown).await?;
    store.close().await;
    Ok(())
}

async fn healthz(State(store): State<PgStore>) -> (StatusCode, Json<Value>) {
    match store.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ok", "schema_version": SCHEMA_VERSION}))),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "error": e.to_string(), "hint": e.hint()})),
        ),
    }
}
