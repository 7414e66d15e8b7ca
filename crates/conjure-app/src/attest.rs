//! `attest`: ask Katana for the confidential-compute proof of an E2EE text model, keep it, and
//! say whether it is fresh.
//!
//! Why: E2EE Private models run on confidential compute (Intel TDX / NVIDIA CC), and Katana
//! serves a proof at `GET /v1/text/attestation?model=…&nonce=…` (spec section 16). A proof is
//! only worth something if it was made for *this* question, so conjure sends a fresh random
//! nonce (32 bytes from the OS, 64 hex characters) and checks that the answer contains it.
//!
//! The answer's format is undocumented, so conjure reports and does not interpret: the raw body
//! is saved (in `<data dir>/attestations/`, or where `-o` says, never replacing a file unless
//! asked), and the report lists the status, the top-level fields and whether the nonce appears
//! anywhere in the body (as hex, any case). Verifying the quote's signature chain is left to
//! tools made for it.

use std::path::Path;

use conjure_core::catalogue::{MediaKind, Privacy};
use conjure_core::{Catalogue, ProviderId};
use conjure_providers::Katana;
use conjure_providers::http::redact_url;
use conjure_providers::katana::catalogue::ATTESTATION_PATH;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::catalogue::write_atomically;
use crate::error::{AppError, ErrorKind};
use crate::session::App;
use crate::timefmt::{now_ms, rfc3339_ms};

/// The folder, in the data directory, where attestations are kept by default.
pub const ATTESTATIONS_DIR: &str = "attestations";

/// What `conjure attest` got back.
#[derive(Clone, Debug, Serialize)]
pub struct AttestView {
    pub provider: ProviderId,
    pub model: String,
    pub privacy: &'static str,
    /// The nonce sent, 64 hex characters.
    pub nonce: String,
    /// The request (no credentials: they travel in a header).
    pub url: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    pub bytes: usize,
    pub sha256: String,
    /// `object`, `array`, `string`, ... when the body is JSON; `not_json` otherwise.
    pub body: &'static str,
    /// The top-level field names of a JSON object body, sorted.
    pub fields: Vec<String>,
    /// The nonce appears in the body: the proof was made for this request.
    pub nonce_present: bool,
    /// Where the raw body was saved.
    pub saved_to: String,
    pub fetched_at: String,
}

/// A fresh 64-hex nonce.
fn nonce() -> Result<String, AppError> {
    let mut bytes = [0_u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| AppError::other(format!("Cannot read random bytes for a nonce: {e}")))?;
    Ok(hex::encode(bytes))
}

/// The E2EE text models of `catalogue`, for hints.
fn e2ee_models(catalogue: &Catalogue) -> Vec<String> {
    let mut ids: Vec<String> = catalogue
        .iter(Some(ProviderId::Katana), Some(MediaKind::Text))
        .filter(|m| m.privacy == Some(Privacy::E2ee))
        .map(|m| m.id.clone())
        .collect();
    ids.sort();
    ids
}

/// `hay` contains `needle` (lowercase hex), ignoring ASCII case.
fn contains_hex(hay: &[u8], needle: &str) -> bool {
    let needle = needle.as_bytes();
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle))
}

/// `body`'s JSON type and top-level fields.
fn shape(body: &[u8]) -> (&'static str, Vec<String>) {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(map)) => {
            let mut fields: Vec<String> = map.keys().cloned().collect();
            fields.sort();
            ("object", fields)
        }
        Ok(serde_json::Value::Array(_)) => ("array", Vec::new()),
        Ok(serde_json::Value::String(_)) => ("string", Vec::new()),
        Ok(serde_json::Value::Number(_)) => ("number", Vec::new()),
        Ok(serde_json::Value::Bool(_)) => ("boolean", Vec::new()),
        Ok(serde_json::Value::Null) => ("null", Vec::new()),
        Err(_) => ("not_json", Vec::new()),
    }
}

/// A file name part made of safe characters.
fn safe(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
        .collect()
}

impl App {
    /// Fetches and saves the attestation of E2EE text model `name`. `output` is where the raw
    /// answer goes (default: a new file in `<data dir>/attestations/`); an existing file is
    /// replaced only with `force`. A proof without the nonce is saved and reported, then the
    /// caller decides (the CLI exits non-zero).
    pub async fn attest(
        &self,
        name: &str,
        output: Option<&Path>,
        force: bool,
    ) -> Result<AttestView, AppError> {
        let catalogue = self.catalogue();
        let e2ee = e2ee_models(catalogue);
        let hint = || format!("attestable (E2EE Private) models: {}", e2ee.join(", "));
        let model = match catalogue.resolve(ProviderId::Katana, Some(MediaKind::Text), name) {
            Ok(m) if m.privacy == Some(Privacy::E2ee) => m,
            Ok(m) => {
                let tier = m.privacy.map_or("no", Privacy::label);
                return Err(AppError::invalid(format!(
                    "`{}` has the {tier} privacy tier; only E2EE Private text models run on confidential compute and can be attested",
                    m.id
                ))
                .hint(hint()));
            }
            Err(e) => return Err(AppError::invalid(e.to_string()).hint(hint())),
        };
        if let Some(path) = output
            && !force
            && path.exists()
        {
            return Err(AppError::invalid(format!("`{}` already exists", path.display()))
                .hint("name another file with -o, or add --force to replace it"));
        }
        let nonce = nonce()?;
        let conjure_providers::Connected::Katana(provider) = self.connect(ProviderId::Katana)?
        else {
            return Err(AppError::other(
                "attestations are Katana's, and another provider answered",
            ));
        };
        let answer = fetch(&provider, &model.id, &nonce).await?;
        let now = now_ms();
        let (body, fields) = shape(&answer.body);
        let path = if let Some(p) = output {
            p.to_owned()
        } else {
            let stamp = rfc3339_ms(now).replace([':', '-'], "");
            let ext = if body == "not_json" { "bin" } else { "json" };
            self.config.data_dir.join(ATTESTATIONS_DIR).join(format!(
                "{}-{stamp}-{}.{ext}",
                safe(&model.id),
                &nonce[..12]
            ))
        };
        write_atomically(&path, &answer.body, force).map_err(|e| {
            let err = AppError::other(format!(
                "The attestation could not be saved to `{}`: {e}",
                path.display()
            ));
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                err.hint("name another file with -o, or add --force to replace it")
            } else {
                err.hint("check that the folder is writable, or name another file with -o")
            }
        })?;
        let base = provider.base_url().as_str().trim_end_matches('/').to_owned();
        Ok(AttestView {
            provider: ProviderId::Katana,
            model: model.id.clone(),
            privacy: Privacy::E2ee.label(),
            url: redact_url(&format!("{base}{ATTESTATION_PATH}?model={}&nonce={nonce}", model.id)),
            nonce_present: contains_hex(&answer.body, &nonce),
            nonce,
            status: answer.status,
            content_type: answer.content_type,
            bytes: answer.body.len(),
            sha256: hex::encode(Sha256::digest(&answer.body)),
            body,
            fields,
            saved_to: std::path::absolute(&path).unwrap_or(path).display().to_string(),
            fetched_at: rfc3339_ms(now),
        })
    }
}

async fn fetch(
    provider: &Katana,
    model: &str,
    nonce: &str,
) -> Result<conjure_providers::katana::catalogue::RawAnswer, AppError> {
    provider.attestation(model, nonce).await.map_err(|e| {
        let mut err = AppError::provider(&e).for_provider(ProviderId::Katana);
        err.message = format!("The attestation of `{model}` could not be fetched: {}", err.message);
        if err.kind == ErrorKind::ProviderFailed && err.hint.is_none() {
            err = err.hint("nothing was charged (an attestation is free); try again later");
        }
        err
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_fresh_hex() {
        let (a, b) = (nonce().unwrap(), nonce().unwrap());
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
    }

    #[test]
    fn the_nonce_is_found_in_any_case() {
        let n = "00ab".repeat(16);
        assert!(contains_hex(format!("{{\"report\":\"x{}y\"}}", n.to_uppercase()).as_bytes(), &n));
        assert!(!contains_hex(b"{\"report\":\"00ab\"}", &n));
        assert!(!contains_hex(b"", &n));
    }

    #[test]
    fn bodies_are_described_not_interpreted() {
        assert_eq!(
            shape(br#"{"quote":"x","nonce":"y"}"#),
            ("object", vec!["nonce".into(), "quote".into()])
        );
        assert_eq!(shape(b"[1]").0, "array");
        assert_eq!(shape(b"\x00\x01").0, "not_json");
        assert_eq!(safe("a/b:c"), "a_b_c");
    }

    #[test]
    fn e2ee_models_are_listed() {
        let ids = e2ee_models(Catalogue::bundled());
        assert!(ids.contains(&"gemma-3-27b-private".to_owned()));
        assert!(!ids.contains(&"grok-4-3".to_owned()));
    }
}
