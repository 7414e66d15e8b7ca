//! Downloads: streamed with sha256, no credentials to asset hosts, data: URLs decoded.

use conjure_core::{Provider, ProviderError};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::fake::{FakeServer, Reply};
use crate::katana;

#[tokio::test]
async fn streams_to_file_with_sha256_and_no_credentials() {
    let payload: Vec<u8> = (0..3_000_000_u32).map(|i| (i % 251) as u8).collect();
    let expected = hex::encode(Sha256::digest(&payload));
    let server = FakeServer::start(vec![Reply::Raw {
        status: 200,
        content_type: "video/mp4",
        body: payload.clone(),
    }])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.part");
    let url = format!("{}/assets/v.mp4?sig=abc&exp=99", server.base);
    let got = katana(&server.base).download(&url, &dest).await.unwrap();
    assert_eq!(got.bytes, payload.len() as u64);
    assert_eq!(got.sha256, expected);
    assert_eq!(got.mime.as_deref(), Some("video/mp4"));
    assert_eq!(std::fs::read(&dest).unwrap(), payload);
    let r = server.only();
    assert_eq!(r.path, "/assets/v.mp4");
    assert_eq!(r.query.as_deref(), Some("sig=abc&exp=99"), "signed query kept intact");
    for h in ["x-api-key", "x-api-secret", "authorization"] {
        assert!(!r.headers.contains_key(h), "{h} sent to an asset host");
    }
}

#[tokio::test]
async fn data_url_is_decoded_without_network() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("img.part");
    let k = katana("https://kat.imgnai.com");
    let got = k.download("data:image/png;base64,aGVsbG8gd29ybGQ=", &dest).await.unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), b"hello world");
    assert_eq!(got.bytes, 11);
    assert_eq!(got.sha256, hex::encode(Sha256::digest(b"hello world")));
    assert_eq!(got.mime.as_deref(), Some("image/png"));
}

#[tokio::test]
async fn plain_http_off_loopback_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let k = katana("https://kat.imgnai.com");
    for u in ["http://assets.example.invalid/x.png?sig=1", "file:///etc/passwd", "ftp://x/y"] {
        let err = k.download(u, &dir.path().join("x")).await.unwrap_err();
        assert!(matches!(err, ProviderError::Unsupported { .. }), "{u}: {err:?}");
        assert!(!err.to_string().contains("sig=1"), "{err}");
    }
}

#[tokio::test]
async fn failed_download_is_classified() {
    let server = FakeServer::start(vec![Reply::Json(500, json!({"message":"storage down"}))]).await;
    let dir = tempfile::tempdir().unwrap();
    let err = katana(&server.base)
        .download(&format!("{}/a.png", server.base), &dir.path().join("a"))
        .await
        .unwrap_err();
    assert_eq!(err, ProviderError::Remote { status: 500, message: "storage down".to_owned() });
}
