//! One redactor for everything a server sends back.
//!
//! A careless or hostile server may echo the credentials it received: in an error body, a
//! message, an asset URL. Every answer passes through the [`Redactor`] of the provider that
//! received it before anything else sees it, so the key and secret cannot reach stderr, `--json`
//! output or the journal by way of the server. It masks each configured secret (and its
//! percent-encoded form) with `****`, in plain text, in every string of a JSON answer, and in
//! every message of a [`ProviderError`].
//!
//! This guards against echoes, not against secrets the provider never had: those are kept out
//! by [`crate::Secret`].

use std::borrow::Cow;

use conjure_core::ProviderError;
use serde_json::Value;

use crate::secret::Secret;

/// Values shorter than this are not masked: they would mask ordinary text.
const MIN_SECRET_LEN: usize = 4;
const MASK: &str = "****";

/// Masks a fixed set of secrets.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Longest first, so that `key:secret` is masked whole before its parts.
    needles: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} secrets)", self.needles.len())
    }
}

impl Redactor {
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a Secret>) -> Redactor {
        let mut needles: Vec<String> = Vec::new();
        for s in secrets {
            let plain = s.expose().to_owned();
            if plain.len() < MIN_SECRET_LEN {
                continue;
            }
            let encoded = percent_encode(&plain);
            if encoded != plain {
                needles.push(encoded);
            }
            needles.push(plain);
        }
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        needles.dedup();
        Redactor { needles }
    }

    /// `text` with every secret masked.
    pub fn text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !self.needles.iter().any(|n| text.contains(n.as_str())) {
            return Cow::Borrowed(text);
        }
        let mut out = text.to_owned();
        for n in &self.needles {
            if out.contains(n.as_str()) {
                out = out.replace(n.as_str(), MASK);
            }
        }
        Cow::Owned(out)
    }

    /// Masks every string (and object key) of a JSON value in place.
    pub fn value(&self, value: &mut Value) {
        if self.needles.is_empty() {
            return;
        }
        match value {
            Value::String(s) => {
                if let Cow::Owned(masked) = self.text(s) {
                    *s = masked;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.value(v)),
            Value::Object(map) => {
                let taken = std::mem::take(map);
                for (k, mut v) in taken {
                    self.value(&mut v);
                    map.insert(self.text(&k).into_owned(), v);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// The error with every message masked.
    pub fn error(&self, e: ProviderError) -> ProviderError {
        let m = |s: String| self.text(&s).into_owned();
        match e {
            ProviderError::Auth { status, message } => {
                ProviderError::Auth { status, message: m(message) }
            }
            ProviderError::RateLimited { retry_after, message } => {
                ProviderError::RateLimited { retry_after, message: m(message) }
            }
            ProviderError::Rejected { status, message } => {
                ProviderError::Rejected { status, message: m(message) }
            }
            ProviderError::NotFound { message } => ProviderError::NotFound { message: m(message) },
            ProviderError::Remote { status, message } => {
                ProviderError::Remote { status, message: m(message) }
            }
            ProviderError::Protocol { message } => ProviderError::Protocol { message: m(message) },
            ProviderError::Unsupported { message } => {
                ProviderError::Unsupported { message: m(message) }
            }
            ProviderError::Local { message } => ProviderError::Local { message: m(message) },
            ProviderError::Transport { sent, message } => {
                ProviderError::Transport { sent, message: m(message) }
            }
        }
    }
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor() -> Redactor {
        let key = Secret::new("kt_live_KEY123");
        let secret = Secret::new("s3cr3t:with:colons");
        let bearer = Secret::new("kt_live_KEY123:s3cr3t:with:colons");
        Redactor::new([&key, &secret, &bearer, &Secret::new("ab")])
    }

    #[test]
    fn masks_secrets_in_text_and_encoded_forms() {
        let r = redactor();
        assert_eq!(
            r.text("bad key kt_live_KEY123 / s3cr3t:with:colons (Bearer kt_live_KEY123:s3cr3t:with:colons)"),
            "bad key **** / **** (Bearer ****)"
        );
        assert_eq!(r.text("?secret=s3cr3t%3Awith%3Acolons"), "?secret=****");
        assert!(matches!(r.text("nothing here, ab"), Cow::Borrowed(_)));
    }

    #[test]
    fn masks_every_string_of_a_json_answer() {
        let r = redactor();
        let mut v = serde_json::json!({"detail": ["invalid kt_live_KEY123"], "kt_live_KEY123": {"n": 1, "m": "s3cr3t:with:colons"}});
        r.value(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"detail": ["invalid ****"], "****": {"n": 1, "m": "****"}})
        );
    }

    #[test]
    fn masks_error_messages() {
        let e = redactor()
            .error(ProviderError::Auth { status: 401, message: "kt_live_KEY123 refused".into() });
        assert_eq!(e.to_string(), "The provider refused the credentials (HTTP 401): **** refused");
    }
}
