//! Webhook secrets and signatures, in the Standard Webhooks layout
//! (<https://www.standardwebhooks.com>), as pure functions.
//!
//! A secret is `whsec_` followed by the base64 of 32 random bytes; the bytes (not the text) are
//! the HMAC key. A message is signed as `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))
//! where `id` is the `webhook-id` header, `timestamp` the `webhook-timestamp` header (unix
//! seconds) and `body` the exact bytes sent. [`Secret`] never prints its value: `Debug` shows
//! `****`, and the one place it is read out is [`Secret::expose`], for the creation answer and
//! the signer. Verifying is the receiver's business; our tests do it with code of their own.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

/// The prefix Standard Webhooks gives signing secrets.
pub const SECRET_PREFIX: &str = "whsec_";

/// Random bytes in a new secret (the spec asks for 24 to 64).
const SECRET_BYTES: usize = 32;

/// An endpoint's signing secret (`whsec_...`).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(****)")
    }
}

impl Secret {
    /// A new random secret.
    pub fn generate() -> Result<Secret, getrandom::Error> {
        let mut bytes = [0_u8; SECRET_BYTES];
        getrandom::fill(&mut bytes)?;
        Ok(Secret(format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))))
    }

    /// A secret as stored (`whsec_...`).
    pub(crate) fn from_stored(text: String) -> Secret {
        Secret(text)
    }

    /// The secret's text, for the one answer that shows it and for storage.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The HMAC key: the decoded bytes after the prefix. A stored secret that does not decode
    /// (written by hand) is used as raw bytes rather than refused, as other senders do.
    fn key(&self) -> Vec<u8> {
        let encoded = self.0.strip_prefix(SECRET_PREFIX).unwrap_or(&self.0);
        STANDARD.decode(encoded).unwrap_or_else(|_| encoded.as_bytes().to_vec())
    }
}

/// The `webhook-signature` header value for message `id` sent at `timestamp` (unix seconds)
/// with `body`.
pub fn signature(secret: &Secret, id: &str, timestamp: i64, body: &[u8]) -> String {
    // `new_from_slice` fails only for key lengths the algorithm cannot take; HMAC takes any.
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret.key()).expect("HMAC takes any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Standard Webhooks reference vector (from its specification's test suite).
    #[test]
    fn matches_the_specifications_example() {
        let secret = Secret::from_stored("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned());
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            signature(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn any_change_changes_the_signature() {
        let secret = Secret::generate().unwrap();
        let base = signature(&secret, "msg_1", 10, b"{}");
        assert_ne!(base, signature(&secret, "msg_2", 10, b"{}"));
        assert_ne!(base, signature(&secret, "msg_1", 11, b"{}"));
        assert_ne!(base, signature(&secret, "msg_1", 10, b"{ }"));
        assert_ne!(base, signature(&Secret::generate().unwrap(), "msg_1", 10, b"{}"));
    }

    #[test]
    fn secrets_are_prefixed_random_and_never_printed() {
        let a = Secret::generate().unwrap();
        let b = Secret::generate().unwrap();
        assert_ne!(a, b);
        let encoded = a.expose().strip_prefix(SECRET_PREFIX).unwrap();
        assert_eq!(STANDARD.decode(encoded).unwrap().len(), SECRET_BYTES);
        assert_eq!(format!("{a:?}"), "Secret(****)");
    }
}
