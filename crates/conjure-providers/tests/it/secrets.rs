//! Nothing prints a credential: the client, the credentials, and errors.

use conjure_core::Provider;
use conjure_providers::{Error, Katana, load_katana_credentials};

use crate::fake::closed_port_base;
use crate::{KEY, SECRET, assert_no_secret, creds, katana, options};

#[tokio::test]
async fn debug_of_client_and_credentials_hides_secrets() {
    let k = katana("https://kat.imgnai.com");
    let c = creds();
    let text = format!("{k:?} {k:#?} {c:?} {c:#?} {} {}", c.key, c.secret);
    assert_no_secret(&text);
    assert!(text.contains("****"));
    assert_no_secret(&format!("{:?}", c.bearer_token()));
}

#[tokio::test]
async fn transport_errors_hide_secrets() {
    let k = katana(&closed_port_base().await);
    let err = k.poll("req", conjure_core::MediaKind::Image).await.unwrap_err();
    assert_no_secret(&format!("{err} {err:?}"));
    let err = k.balance().await.unwrap_err();
    assert_no_secret(&format!("{err} {err:?}"));
}

#[test]
fn setup_errors_hide_secrets() {
    let show = |e: &Error| format!("{e} {e:?} {}", e.hint().unwrap_or_default());
    // Base URL with userinfo.
    let e = Katana::new(&format!("https://{KEY}:{SECRET}@x.test"), creds(), options()).unwrap_err();
    assert_no_secret(&show(&e));
    // Half the environment.
    let dir = tempfile::tempdir().unwrap();
    let env = |n: &str| (n == "KATANA_API_KEY").then(|| KEY.to_owned());
    let e = load_katana_credentials(env, Some(dir.path()), dir.path()).unwrap_err();
    assert_no_secret(&show(&e));
    // A key with a space in it.
    let env = |n: &str| match n {
        "KATANA_API_KEY" => Some(format!("{KEY} x")),
        "KATANA_API_SECRET" => Some(SECRET.to_owned()),
        _ => None,
    };
    let e = load_katana_credentials(env, Some(dir.path()), dir.path()).unwrap_err();
    assert_no_secret(&show(&e));
}

/// A server that echoes what it was sent: every answer below carries the key and the secret.
#[tokio::test]
async fn echoed_credentials_are_masked_in_errors_and_answers() {
    use crate::fake::{FakeServer, Reply};
    use serde_json::json;
    let echo = format!("bad key {KEY} / secret {SECRET} / Bearer {KEY}:{SECRET}");
    let spec = conjure_core::JobSpec {
        provider: conjure_core::ProviderId::Katana,
        hooks: conjure_core::spec::Hooks::default(),
        items: vec![conjure_core::Item::Image(conjure_core::spec::ImageItem::new("gen", "p"))],
    };
    let wire = conjure_providers::build_request(&spec).unwrap();
    for status in [400, 401, 402, 404, 422, 429, 500, 503] {
        let server = FakeServer::start(vec![
            Reply::Json(status, json!({"detail": echo})),
            Reply::Json(status, json!({"error": {"message": echo}})),
            Reply::Raw { status, content_type: "text/plain", body: echo.clone().into_bytes() },
        ])
        .await;
        let k = katana(&server.base);
        let e = k.submit(&wire).await.unwrap_err();
        assert_no_secret(&format!("{e} {e:?}"));
        assert!(e.to_string().contains("****"), "{e}");
        let e = k.poll("req_1", conjure_core::MediaKind::Image).await.unwrap_err();
        assert_no_secret(&format!("{e} {e:?}"));
        let e = k.balance().await.unwrap_err();
        assert_no_secret(&format!("{e} {e:?}"));
    }
    // A failed item's message in a successful answer.
    let server = FakeServer::start(vec![Reply::Json(
        200,
        json!({"request_id": "r", "status": "failed", "responses": [{"status": "failed", "error": {"message": echo}}]}),
    )])
    .await;
    let snapshot = katana(&server.base).poll("r", conjure_core::MediaKind::Image).await.unwrap();
    assert_no_secret(&serde_json::to_string(&snapshot).unwrap());
}
