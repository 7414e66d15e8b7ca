//! API keys: made random, shown once, kept only as a SHA-256 hash and a short visible prefix;
//! and the axum middleware that maps a request's key to who is calling.
//!
//! A key is `cjm_` (a member's) or `cja_` (an admin's), 8 hex characters that stay visible
//! (the prefix `usage` lists and `key revoke` takes), `_`, and 40 hex characters of secret:
//! 192 random bits in all. The database holds the prefix and the hash of the whole key, never
//! the key. A request's key is hashed and looked up by that hash: the lookup compares hashes
//! an attacker cannot choose, so its timing tells nothing about a key (the constant-time rule
//! for secrets compared byte by byte does not arise).
//!
//! [`authenticate`] accepts the forms Katana clients send: `Authorization: Bearer KEY`,
//! `Bearer KEY:SECRET` (the part after the first colon is ignored: a member has no secret of
//! its own), and `X-API-Key: KEY` (with or without `X-API-Secret`). A member's key puts a
//! [`MemberId`] in the request's extensions, an admin key an [`Admin`] marker; a missing,
//! wrong or revoked key is answered 401 with a JSON error saying what to do. Keys never reach
//! a log line, an error or an answer.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::member::MemberId;
use crate::store::{PgStore, PgStoreError};

const MEMBER_PREFIX: &str = "cjm_";
const ADMIN_PREFIX: &str = "cja_";
const VISIBLE_HEX: usize = 8;
const SECRET_HEX: usize = 40;

/// A key in clear, as made: printed once, then only its hash is kept.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(String);

impl SecretKey {
    /// The key itself, for the one place that shows it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `cjm_1a2b3c4d`: safe to print.
    pub fn prefix(&self) -> &str {
        prefix_of(&self.0).unwrap_or("")
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({}_****)", self.prefix())
    }
}

impl std::fmt::Display for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}_****", self.prefix())
    }
}

/// The admin's marker in a request's extensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Admin;

/// Who a key belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyOwner {
    Member(MemberId),
    Admin,
}

/// What checking a presented key found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyCheck {
    Valid(KeyOwner),
    Revoked,
    Unknown,
}

/// A fresh key, for a member or (with `None`) the admin.
pub fn generate(member: bool) -> Result<SecretKey, getrandom::Error> {
    // Two hex characters per byte.
    let mut bytes = [0_u8; VISIBLE_HEX / 2 + SECRET_HEX / 2];
    getrandom::fill(&mut bytes)?;
    let hex = hex::encode(bytes);
    let kind = if member { MEMBER_PREFIX } else { ADMIN_PREFIX };
    Ok(SecretKey(format!("{kind}{}_{}", &hex[..VISIBLE_HEX], &hex[VISIBLE_HEX..])))
}

/// The visible prefix of a well-formed key (`cjm_1a2b3c4d`), `None` for anything else.
pub fn prefix_of(key: &str) -> Option<&str> {
    let kind = [MEMBER_PREFIX, ADMIN_PREFIX].into_iter().find(|k| key.starts_with(k))?;
    let rest = &key[kind.len()..];
    let (visible, secret) = rest.split_once('_')?;
    let hex = |s: &str, n| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(visible, VISIBLE_HEX) && hex(secret, SECRET_HEX)).then(|| &key[..kind.len() + VISIBLE_HEX])
}

/// The hash a key is stored and looked up by (hex SHA-256 of the whole key).
pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The key a request carries, in any form Katana clients send it (see the module doc).
pub fn presented(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        let token = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer "))?;
        let key = token.split_once(':').map_or(token, |(k, _)| k).trim();
        return (!key.is_empty()).then_some(key);
    }
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok())?.trim();
    (!key.is_empty()).then_some(key)
}

/// Makes a key for `member` (or, with `None`, an admin key) and records its hash.
pub async fn create(
    store: &PgStore,
    member: Option<&MemberId>,
    now_ms: i64,
) -> Result<SecretKey, PgStoreError> {
    if let Some(m) = member
        && crate::admin::member(store, m).await?.is_none()
    {
        return Err(PgStoreError::UnknownMember(m.to_string()));
    }
    let key = generate(member.is_some()).map_err(PgStoreError::Random)?;
    sqlx::query(
        "INSERT INTO api_keys (prefix, sha256, member_id, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(key.prefix())
    .bind(hash(key.expose()))
    .bind(member.map(MemberId::as_str))
    .bind(now_ms)
    .execute(store.pool())
    .await?;
    Ok(key)
}

/// Revokes the key with `prefix` (from then on it is answered 401). Revoking twice is a no-op.
pub async fn revoke(store: &PgStore, prefix: &str, now_ms: i64) -> Result<(), PgStoreError> {
    let changed =
        sqlx::query("UPDATE api_keys SET revoked_at = coalesce(revoked_at, $2) WHERE prefix = $1")
            .bind(prefix.trim())
            .bind(now_ms)
            .execute(store.pool())
            .await?;
    if changed.rows_affected() == 0 {
        return Err(PgStoreError::NoKey(prefix.trim().to_owned()));
    }
    Ok(())
}

/// Whose `key` is, by its hash.
pub async fn check(store: &PgStore, key: &str) -> Result<KeyCheck, PgStoreError> {
    if prefix_of(key).is_none() {
        return Ok(KeyCheck::Unknown);
    }
    let row: Option<(Option<String>, Option<i64>)> =
        sqlx::query_as("SELECT member_id, revoked_at FROM api_keys WHERE sha256 = $1")
            .bind(hash(key))
            .fetch_optional(store.pool())
            .await?;
    Ok(match row {
        None => KeyCheck::Unknown,
        Some((_, Some(_))) => KeyCheck::Revoked,
        Some((Some(member), None)) => KeyCheck::Valid(KeyOwner::Member(MemberId(member))),
        Some((None, None)) => KeyCheck::Valid(KeyOwner::Admin),
    })
}

/// A 401 in the shape Katana clients read (`detail`) and ours (`error`, `hint`).
pub fn unauthorized(message: &str, hint: &str) -> Response {
    let body = json!({
        "detail": message,
        "error": {"code": "unauthorized", "message": message, "hint": hint},
    });
    (StatusCode::UNAUTHORIZED, Json(body)).into_response()
}

/// The middleware: puts the caller ([`MemberId`] or [`Admin`]) in the request's extensions, or
/// answers 401.
pub async fn authenticate(
    State(store): State<PgStore>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(key) = presented(request.headers()) else {
        return unauthorized(
            "Missing API credentials",
            "send your gateway key as `Authorization: Bearer KEY` (or `X-API-Key: KEY`); an admin \
             makes one with `conjure serve admin key create MEMBER`",
        );
    };
    match check(&store, key).await {
        Ok(KeyCheck::Valid(KeyOwner::Member(member))) => {
            request.extensions_mut().insert(member);
        }
        Ok(KeyCheck::Valid(KeyOwner::Admin)) => {
            request.extensions_mut().insert(Admin);
        }
        Ok(KeyCheck::Revoked) => {
            return unauthorized(
                "Invalid API credentials: this key was revoked",
                "ask the gateway's admin for a new key (`conjure serve admin key create MEMBER`)",
            );
        }
        Ok(KeyCheck::Unknown) => {
            return unauthorized(
                "Invalid API credentials",
                "check the key you were given (it starts with `cjm_`); ask the gateway's admin \
                 for a new one if it is lost",
            );
        }
        Err(e) => {
            let body = json!({
                "detail": "The gateway could not check the key",
                "error": {"code": "unavailable", "message": e.to_string(), "hint": e.hint()},
            });
            return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn keys_are_random_well_formed_and_print_only_their_prefix() {
        let a = generate(true).unwrap();
        let b = generate(true).unwrap();
        assert_ne!(a, b);
        assert_eq!(prefix_of(a.expose()), Some(a.prefix()));
        assert!(a.prefix().starts_with("cjm_") && a.prefix().len() == 12, "{}", a.prefix());
        assert!(generate(false).unwrap().prefix().starts_with("cja_"));
        for shown in [format!("{a}"), format!("{a:?}")] {
            assert!(!shown.contains(&a.expose()[13..]), "{shown}");
        }
        assert_eq!(hash(a.expose()).len(), 64);
        assert_ne!(hash(a.expose()), hash(b.expose()));
    }

    #[test]
    fn malformed_keys_have_no_prefix() {
        for bad in
            ["", "cjm_", "cjm_1234567_", "cjx_12345678_00", "cjm_1234567g_".to_owned().as_str()]
        {
            assert_eq!(prefix_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_katana_header_form_carries_the_key() {
        let with = |name: &'static str, value: &str| {
            let mut h = HeaderMap::new();
            h.insert(name, HeaderValue::from_str(value).unwrap());
            h
        };
        assert_eq!(presented(&with("authorization", "Bearer cjm_k")), Some("cjm_k"));
        assert_eq!(presented(&with("authorization", "Bearer cjm_k:whatever:x")), Some("cjm_k"));
        assert_eq!(presented(&with("x-api-key", "cjm_k")), Some("cjm_k"));
        assert_eq!(presented(&with("authorization", "Basic abc")), None);
        assert_eq!(presented(&HeaderMap::new()), None);
    }
}
