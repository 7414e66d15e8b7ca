//! Reading Katana credentials from request headers.
//!
//! Media endpoints take the `X-API-Key` + `X-API-Secret` pair; the text endpoints (chat,
//! attestation) take only `Authorization: Bearer key:secret`, as OpenAI-compatible clients send
//! it; the balance endpoint takes either. The Bearer value is split on the first colon because a
//! secret may contain colons. The outcomes match what was measured on the real service: anything incomplete
//! (no headers, a Bearer value without a colon, a key without a secret) is "missing", and a
//! complete pair that does not match a configured key is "invalid". Header values are never
//! logged, and echoed only under the echo-credentials fault ([`crate::echo`]).

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;

/// Which header forms an endpoint accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AuthForms {
    /// Only the `X-API-Key` + `X-API-Secret` pair (media endpoints).
    HeaderPair,
    /// The pair or a Bearer `key:secret` (balance).
    PairOrBearer,
    /// Only a Bearer `key:secret` (text endpoints). The documented form; whether the real text
    /// endpoints also take the pair is not known, so a client sending it is caught here.
    Bearer,
}

/// Credentials as presented, before they are checked against the configured keys.
#[derive(PartialEq, Eq)]
pub(crate) struct Presented {
    pub key: String,
    pub secret: String,
}

impl std::fmt::Debug for Presented {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presented").field("key", &self.key).field("secret", &"****").finish()
    }
}

/// Extracts credentials; `None` means "Missing API credentials".
pub(crate) fn presented(headers: &HeaderMap, forms: AuthForms) -> Option<Presented> {
    let text = |name: &str| {
        headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
    };
    let key = text("x-api-key");
    let secret = text("x-api-secret");
    if forms != AuthForms::Bearer
        && let (Some(key), Some(secret)) = (key, secret)
    {
        return Some(Presented { key: key.to_owned(), secret: secret.to_owned() });
    }
    if ((key.is_some() || secret.is_some()) && forms == AuthForms::PairOrBearer)
        || forms == AuthForms::HeaderPair
    {
        // A half pair is "missing", even when a Bearer header is present as well.
        return None;
    }
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let (key, secret) = token.trim().split_once(':')?;
    if key.is_empty() || secret.is_empty() {
        return None;
    }
    Some(Presented { key: key.to_owned(), secret: secret.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn header_pair() {
        let h = headers(&[("x-api-key", "k"), ("x-api-secret", "s")]);
        let p = presented(&h, AuthForms::HeaderPair).unwrap();
        assert_eq!((p.key.as_str(), p.secret.as_str()), ("k", "s"));
        assert!(presented(&headers(&[("x-api-key", "k")]), AuthForms::PairOrBearer).is_none());
        assert!(presented(&headers(&[]), AuthForms::PairOrBearer).is_none());
    }

    #[test]
    fn bearer_splits_on_the_first_colon() {
        let h = headers(&[("authorization", "Bearer k:s:with:colons")]);
        let p = presented(&h, AuthForms::PairOrBearer).unwrap();
        assert_eq!((p.key.as_str(), p.secret.as_str()), ("k", "s:with:colons"));
        assert!(presented(&h, AuthForms::HeaderPair).is_none());
        let no_colon = headers(&[("authorization", "Bearer justakey")]);
        assert!(presented(&no_colon, AuthForms::PairOrBearer).is_none());
        let basic = headers(&[("authorization", "Basic k:s")]);
        assert!(presented(&basic, AuthForms::PairOrBearer).is_none());
    }

    #[test]
    fn bearer_only_ignores_the_pair() {
        let pair = headers(&[("x-api-key", "k"), ("x-api-secret", "s")]);
        assert!(presented(&pair, AuthForms::Bearer).is_none());
        let both = headers(&[("x-api-key", "k"), ("authorization", "Bearer k:s")]);
        let p = presented(&both, AuthForms::Bearer).unwrap();
        assert_eq!((p.key.as_str(), p.secret.as_str()), ("k", "s"));
    }

    #[test]
    fn debug_hides_the_secret() {
        let p = Presented { key: "k".into(), secret: "topsecret".into() };
        assert!(!format!("{p:?}").contains("topsecret"));
    }
}
