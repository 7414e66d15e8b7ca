//! The member-facing webhook API, thin handlers over [`super::db`]:
//!
//! - `POST /v1/webhooks` `{"url", "event_types"?: [...], "description"?}` -> 201, the endpoint
//!   with its `secret` (the only answer that ever holds it);
//! - `GET /v1/webhooks` -> `{"endpoints": [...]}`; `GET /v1/webhooks/{id}` -> the endpoint;
//! - `DELETE /v1/webhooks/{id}` -> 204 (pending deliveries are cancelled, the log is kept);
//! - `GET /v1/webhooks/{id}/deliveries?limit=N` -> `{"deliveries": [...]}`, newest first, each
//!   with its attempts (status codes, errors), its outcome, and when it is next tried.
//!
//! Errors are `{"error", "hint"}` with a 4xx for what the caller can fix. Every handler reads
//! the caller from the [`MemberId`] extension, never from the request.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::json;
use sqlx::PgPool;

use super::ssrf::{self, Refused, Target};
use super::{Config, Endpoint, EventType, Hooks, MAX_DESCRIPTION, Secret, WebhookError, db};
use crate::member::MemberId;

/// Live endpoints a member may have: each event is POSTed once per endpoint, so without a cap
/// one member could make the gateway send any number of requests per event.
pub const MAX_ENDPOINTS: i64 = 20;

/// How long a registration waits for DNS.
const RESOLVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Deliveries listed when the caller does not say; the most they may ask for.
const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 500;

/// The webhook API's routes, with their own state. The key check that inserts [`MemberId`]
/// must run in front of them (a request without one is answered 401).
pub fn router(pool: PgPool, config: Config) -> Router {
    let hooks = Hooks { pool, config: Arc::new(config) };
    Router::new()
        .route("/v1/webhooks", get(list).post(create))
        .route("/v1/webhooks/{id}", get(show).delete(delete))
        .route("/v1/webhooks/{id}/deliveries", get(deliveries))
        .with_state(hooks)
}

impl IntoResponse for WebhookError {
    fn into_response(self) -> Response {
        let status = match &self {
            WebhookError::InvalidUrl(_)
            | WebhookError::NonPublic(_)
            | WebhookError::Resolve { .. }
            | WebhookError::UnknownEventType(_)
            | WebhookError::DescriptionTooLong
            | WebhookError::TooManyEndpoints(_) => StatusCode::UNPROCESSABLE_ENTITY,
            WebhookError::NotFound(_) => StatusCode::NOT_FOUND,
            WebhookError::NoMember => StatusCode::UNAUTHORIZED,
            WebhookError::Database(_) => StatusCode::SERVICE_UNAVAILABLE,
            WebhookError::LeaseTooShort { .. }
            | WebhookError::Client(_)
            | WebhookError::Encode(_)
            | WebhookError::Random(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::warn!(error = %self, source = ?std::error::Error::source(&self), "webhook API failed");
        }
        (status, Json(json!({"error": self.to_string(), "hint": self.hint()}))).into_response()
    }
}

fn member(ext: Option<Extension<MemberId>>) -> Result<MemberId, WebhookError> {
    ext.map(|Extension(m)| m).ok_or(WebhookError::NoMember)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewEndpoint {
    url: String,
    #[serde(default)]
    event_types: Option<Vec<String>>,
    #[serde(default)]
    description: Option<String>,
}

async fn create(
    State(hooks): State<Hooks>,
    ext: Option<Extension<MemberId>>,
    Json(new): Json<NewEndpoint>,
) -> Result<(StatusCode, Json<serde_json::Value>), WebhookError> {
    let member = member(ext)?;
    let url = check_registration(&new.url, hooks.config.allow_private).await?;
    let event_types = match new.event_types {
        None => None,
        Some(names) => {
            let mut types = names
                .iter()
                .map(|n| {
                    EventType::parse(n).ok_or_else(|| WebhookError::UnknownEventType(n.clone()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            types.sort();
            types.dedup();
            Some(types.into_iter().map(|t| t.as_str().to_owned()).collect())
        }
    };
    let description = new.description.filter(|d| !d.trim().is_empty());
    if description.as_ref().is_some_and(|d| d.chars().count() > MAX_DESCRIPTION) {
        return Err(WebhookError::DescriptionTooLong);
    }
    let endpoint = Endpoint {
        id: super::event::new_id("wh_")?,
        url,
        event_types,
        description,
        created_at: crate::timefmt_now(),
    };
    let secret = Secret::generate()?;
    db::insert_endpoint(&hooks.pool, member.as_str(), &endpoint, &secret, MAX_ENDPOINTS).await?;
    let mut body = serde_json::to_value(&endpoint)?;
    body["secret"] = json!(secret.expose());
    Ok((StatusCode::CREATED, Json(body)))
}

/// The URL, normalised, if a webhook may be registered for it: http(s), and (unless
/// `allow_private`) every address its host resolves to public.
async fn check_registration(text: &str, allow_private: bool) -> Result<String, WebhookError> {
    let (url, target) = ssrf::parse_url(text).map_err(WebhookError::InvalidUrl)?;
    if !allow_private {
        match target {
            Target::Literal(ip) => check_literal(ip)?,
            Target::Name(host) => {
                let port = url.port_or_known_default().unwrap_or(443);
                let lookup = tokio::net::lookup_host((host.as_str(), port));
                let resolved = tokio::time::timeout(RESOLVE_TIMEOUT, lookup)
                    .await
                    .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()));
                let addrs: Vec<_> = resolved
                    .map_err(|source| WebhookError::Resolve { host: host.clone(), source })?
                    .collect();
                if let Some((addr, kind)) = ssrf::first_non_public(&addrs) {
                    return Err(Refused { host, addr, kind }.into());
                }
            }
        }
    }
    Ok(url.to_string())
}

/// A literal address host, checked (no resolver sees it).
pub(crate) fn check_literal(ip: IpAddr) -> Result<(), Refused> {
    ssrf::classify(ip).map_err(|kind| Refused { host: ip.to_string(), addr: ip, kind })
}

async fn list(
    State(hooks): State<Hooks>,
    ext: Option<Extension<MemberId>>,
) -> Result<Json<serde_json::Value>, WebhookError> {
    let member = member(ext)?;
    let endpoints = db::list_endpoints(&hooks.pool, member.as_str()).await?;
    Ok(Json(json!({ "endpoints": endpoints })))
}

async fn show(
    State(hooks): State<Hooks>,
    ext: Option<Extension<MemberId>>,
    Path(id): Path<String>,
) -> Result<Json<Endpoint>, WebhookError> {
    let member = member(ext)?;
    Ok(Json(db::get_endpoint(&hooks.pool, member.as_str(), &id).await?))
}

async fn delete(
    State(hooks): State<Hooks>,
    ext: Option<Extension<MemberId>>,
    Path(id): Path<String>,
) -> Result<StatusCode, WebhookError> {
    let member = member(ext)?;
    db::delete_endpoint(&hooks.pool, member.as_str(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct Page {
    limit: Option<i64>,
}

async fn deliveries(
    State(hooks): State<Hooks>,
    ext: Option<Extension<MemberId>>,
    Path(id): Path<String>,
    Query(page): Query<Page>,
) -> Result<Json<serde_json::Value>, WebhookError> {
    let member = member(ext)?;
    let limit = page.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let deliveries = db::deliveries(&hooks.pool, member.as_str(), &id, limit).await?;
    Ok(Json(json!({ "deliveries": deliveries })))
}
