//! `GET /v1/text/attestation?model=M&nonce=HEX`: a placeholder of the confidential-compute proof
//! that Katana offers for its E2EE Private text models (spec section 16).
//!
//! The real answer's format is not documented, so the sandbox answers a JSON object that says on
//! every line that it is a placeholder and proves nothing, while still binding the request the
//! way a real quote would, so a client can check that its nonce came back: `report_data` is the
//! hex of `sha256(nonce bytes || model name)` followed by the nonce itself, and `quote` is the
//! base64 of bytes that contain the nonce. A nonce must be exactly 64 hex digits (422
//! otherwise), and the model an `e2ee` tier text model of the served catalogue (400 otherwise).
//! Bearer `key:secret` auth, like the text endpoint.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use conjure_core::catalogue::{MediaKind, Privacy};
use serde_json::json;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::auth::AuthForms;
use crate::envelope::timestamp;
use crate::server::{authenticate, detail};
use crate::state::AppState;

/// The first bytes of every placeholder quote.
const QUOTE_MAGIC: &[u8] = b"CONJURE-SANDBOX-PLACEHOLDER-QUOTE\0not a real TDX quote\0";

pub(crate) async fn attestation(
    State(state): State<Arc<AppState>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Err(failure) = authenticate(&state, &headers, AuthForms::Bearer) {
        return failure.into_response();
    }
    let Some(name) = query.get("model").map(|m| m.trim()).filter(|m| !m.is_empty()) else {
        return detail(StatusCode::UNPROCESSABLE_ENTITY, "Query parameter `model` is required");
    };
    let Some(nonce) = query.get("nonce") else {
        return detail(StatusCode::UNPROCESSABLE_ENTITY, "Query parameter `nonce` is required");
    };
    let nonce_bytes = match hex::decode(nonce) {
        Ok(bytes) if nonce.len() == 64 => bytes,
        _ => {
            return detail(
                StatusCode::UNPROCESSABLE_ENTITY,
                "`nonce` must be exactly 64 hex digits (32 bytes)",
            );
        }
    };
    let e2ee = state
        .catalogue()
        .exact_of(MediaKind::Text, name)
        .filter(|m| m.privacy == Some(Privacy::E2ee));
    let Some(model) = e2ee else {
        return detail(StatusCode::BAD_REQUEST, &format!("`{name}` is not an E2EE Private model"));
    };
    let nonce = nonce.to_ascii_lowercase();
    let digest =
        Sha256::new().chain_update(&nonce_bytes).chain_update(model.id.as_bytes()).finalize();
    let mut quote = QUOTE_MAGIC.to_vec();
    quote.extend_from_slice(&nonce_bytes);
    quote.extend_from_slice(&digest);
    quote.extend_from_slice(model.id.as_bytes());
    Json(json!({
        "sandbox": true,
        "model": model.id,
        "nonce": nonce,
        "tee": "Intel TDX (sandbox placeholder, not a real quote)",
        "gpu": "NVIDIA CC (sandbox placeholder)",
        "report_data": format!("{}{nonce}", hex::encode(digest)),
        "quote": STANDARD.encode(quote),
        "issued_at": timestamp(OffsetDateTime::now_utc()),
    }))
    .into_response()
}
