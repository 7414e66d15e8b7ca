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
    let err = k.poll("req").await.unwrap_err();
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
