//! Polls: GET with the header pair; rate limiting carries Retry-After.

use std::time::Duration;

use conjure_core::money::Credits;
use conjure_core::provider::RemoteStatus;
use conjure_core::{Provider, ProviderError};
use serde_json::json;

use crate::fake::{FakeServer, Reply};
use crate::{KEY, SECRET, assert_no_secret, katana};

#[tokio::test]
async fn poll_gets_the_job_with_the_header_pair() {
    let done = json!({"request_id":"req_abc","status":"completed","responses":[{"id":"item-0",
        "metadata":{"credits_spent":14,"model":"gen"},
        "output_assets":[{"kind":"image","mime_type":"image/png",
            "original_data_url":"https://assets.test/o.png","width":1024,"height":1024}]}]});
    let server = FakeServer::start(vec![Reply::Json(200, done)]).await;
    let snap = katana(&server.base).poll("req_abc", conjure_core::MediaKind::Image).await.unwrap();
    let r = server.only();
    assert_eq!(r.method, "GET");
    assert_eq!(r.path, "/v1/generation-requests/req_abc");
    assert_eq!(r.query, None);
    assert_eq!(r.header("x-api-key"), Some(KEY));
    assert_eq!(r.header("x-api-secret"), Some(SECRET));
    assert!(r.body.is_empty());
    assert_eq!(snap.status, RemoteStatus::Completed);
    assert_eq!(snap.credits_spent, Some(Credits::whole(14)));
    assert_eq!(snap.assets[0].width, Some(1024));
}

#[tokio::test]
async fn rate_limited_poll_carries_retry_after() {
    let server = FakeServer::start(vec![
        Reply::JsonWithHeaders(
            429,
            json!({"detail":"Too many requests"}),
            vec![("retry-after", "3")],
        ),
        Reply::JsonWithHeaders(
            429,
            json!({}),
            vec![("retry-after", "Wed, 21 Oct 2026 07:28:00 GMT")],
        ),
    ])
    .await;
    let k = katana(&server.base);
    assert_eq!(
        k.poll("req_abc", conjure_core::MediaKind::Image).await.unwrap_err(),
        ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(3)),
            message: "Too many requests".to_owned()
        }
    );
    let err = k.poll("req_abc", conjure_core::MediaKind::Image).await.unwrap_err();
    assert!(matches!(err, ProviderError::RateLimited { retry_after: None, .. }), "{err:?}");
}

#[tokio::test]
async fn unknown_job_is_not_found_and_ids_are_escaped() {
    let server =
        FakeServer::start(vec![Reply::Json(404, json!({"error":"no such request"}))]).await;
    let err = katana(&server.base).poll("a/b c", conjure_core::MediaKind::Image).await.unwrap_err();
    assert_eq!(err, ProviderError::NotFound { message: "no such request".to_owned() });
    assert_eq!(server.only().path, "/v1/generation-requests/a%2Fb%20c");
    assert_no_secret(&format!("{err:?}"));
}
