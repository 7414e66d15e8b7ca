//! Balance and models: the Bearer `key:secret` form.

use conjure_core::ProviderError;
use conjure_core::money::Credits;
use serde_json::json;

use crate::fake::{FakeServer, Reply};
use crate::{KEY, SECRET, assert_no_secret, katana};

#[tokio::test]
async fn balance_uses_bearer_that_splits_on_the_first_colon() {
    let server = FakeServer::start(vec![Reply::Json(200, json!({"credits":"20814.0"}))]).await;
    let credits = katana(&server.base).balance().await.unwrap();
    assert_eq!(credits, Credits::from_tenths(208_140));
    let r = server.only();
    assert_eq!(r.method, "GET");
    assert_eq!(r.path, "/v1/me/balance");
    let auth = r.header("authorization").unwrap();
    let token = auth.strip_prefix("Bearer ").unwrap();
    let (key, secret) = token.split_once(':').unwrap();
    assert_eq!((key, secret), (KEY, SECRET));
    assert!(!r.headers.contains_key("x-api-key"));
}

#[tokio::test]
async fn balance_auth_failure_and_bad_value() {
    let server = FakeServer::start(vec![
        Reply::Json(401, json!({"detail":"Invalid API credentials"})),
        Reply::Json(200, json!({"credits":"12.345"})),
    ])
    .await;
    let k = katana(&server.base);
    let err = k.balance().await.unwrap_err();
    assert_eq!(
        err,
        ProviderError::Auth { status: 401, message: "Invalid API credentials".to_owned() }
    );
    assert_no_secret(&format!("{err} {err:?}"));
    assert!(matches!(k.balance().await, Err(ProviderError::Protocol { .. })));
}

#[tokio::test]
async fn models_use_bearer() {
    let server =
        FakeServer::start(vec![Reply::Json(200, json!({"object":"list","data":[]}))]).await;
    let v = katana(&server.base).models().await.unwrap();
    assert_eq!(v["object"], "list");
    let r = server.only();
    assert_eq!(r.path, "/v1/models");
    assert_eq!(r.header("authorization").unwrap(), format!("Bearer {KEY}:{SECRET}"));
}
