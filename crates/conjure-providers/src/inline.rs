//! Local input files, inlined when a request is sent.
//!
//! A [`WireRequest`] refers to each local input file by its sha256 (see
//! [`conjure_core::spec::FILE_REF_PREFIX`]); the quote, the approval and the journal all see
//! that small reference. [`materialize`] reads each file just before the POST, checks that its
//! size and hash are still the ones quoted, and puts its bytes in the body as a `data:` URL. A
//! file that changed, moved or vanished is a `Local` error: nothing is sent, nothing is charged,
//! and the user is told to quote again.

use std::collections::HashMap;

use base64::Engine as _;
use conjure_core::spec::FILE_REF_PREFIX;
use conjure_core::{ProviderError, WireRequest};
use serde_json::Value;

/// The body of `wire` with every file reference replaced by the file's bytes as a `data:` URL.
pub async fn materialize(wire: &WireRequest) -> Result<Value, ProviderError> {
    let mut inlined: HashMap<&str, String> = HashMap::new();
    for file in &wire.files {
        let local = |why: String| ProviderError::Local {
            message: format!(
                "`{}` {why} since it was quoted; nothing was sent. Quote the request again",
                file.path
            ),
        };
        let bytes = tokio::fs::read(&file.path)
            .await
            .map_err(|e| local(format!("cannot be read ({e})")))?;
        if !file.holds(&bytes) {
            return Err(local("changed".to_owned()));
        }
        let data = base64::engine::general_purpose::STANDARD.encode(&bytes);
        inlined.insert(&file.sha256, format!("data:{};base64,{data}", file.mime));
    }
    let mut body = wire.body.clone();
    replace(&mut body, &inlined)?;
    Ok(body)
}

fn replace(value: &mut Value, inlined: &HashMap<&str, String>) -> Result<(), ProviderError> {
    match value {
        Value::String(s) => {
            if let Some(sha) = s.strip_prefix(FILE_REF_PREFIX) {
                let data = inlined.get(sha).ok_or_else(|| ProviderError::Local {
                    message: format!("The request refers to a local file ({sha}) it does not list; nothing was sent"),
                })?;
                data.clone_into(s);
            }
        }
        Value::Array(items) => {
            for v in items {
                replace(v, inlined)?;
            }
        }
        Value::Object(map) => {
            for v in map.values_mut() {
                replace(v, inlined)?;
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use conjure_core::spec::FileRef;
    use serde_json::json;
    use sha2::{Digest as _, Sha256};

    use super::*;

    fn wire_for(path: &std::path::Path, bytes: &[u8]) -> WireRequest {
        let sha = hex::encode(Sha256::digest(bytes));
        let mut w = WireRequest::new(
            "POST",
            "/x",
            json!({"requests":[{"image_urls":[format!("{FILE_REF_PREFIX}{sha}"), "https://x/y.png"]}]}),
        );
        w.files.push(FileRef {
            path: path.display().to_string(),
            mime: "image/png".into(),
            sha256: sha,
            bytes: bytes.len() as u64,
        });
        w
    }

    #[tokio::test]
    async fn files_are_inlined_when_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.png");
        std::fs::write(&p, b"hello").unwrap();
        let body = materialize(&wire_for(&p, b"hello")).await.unwrap();
        assert_eq!(
            body["requests"][0]["image_urls"],
            json!(["data:image/png;base64,aGVsbG8=", "https://x/y.png"])
        );
    }

    #[tokio::test]
    async fn a_changed_or_missing_file_sends_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.png");
        std::fs::write(&p, b"jello").unwrap();
        let e = materialize(&wire_for(&p, b"hello")).await.unwrap_err();
        assert!(
            matches!(&e, ProviderError::Local { message } if message.contains("changed")),
            "{e}"
        );
        std::fs::remove_file(&p).unwrap();
        let e = materialize(&wire_for(&p, b"hello")).await.unwrap_err();
        assert!(matches!(e, ProviderError::Local { .. }));
        let mut orphan = wire_for(&p, b"hello");
        orphan.files.clear();
        assert!(materialize(&orphan).await.is_err());
    }
}
