//! conjure's own ImaginePro client (`conjure_providers::ImaginePro`) against the sandbox's
//! ImaginePro half: the two were written from the same spec, so this checks they agree on
//! paths (`/api/v1` added by the client), auth, answers and error classes.

use conjure_core::imaginepro::MIDJOURNEY;
use conjure_core::provider::RemoteStatus;
use conjure_core::spec::{ImageItem, Item};
use conjure_core::{JobSpec, MediaKind, Provider, ProviderError, ProviderId};
use conjure_providers::{HttpOptions, ImaginePro, ImagineProKey};
use conjure_sandbox::{Faults, IMAGINEPRO_DEMO_KEY};

use crate::sandbox;

fn client(base: &str, key: &str) -> ImaginePro {
    ImaginePro::new(base, ImagineProKey::new(key).unwrap(), HttpOptions::default()).unwrap()
}

fn mj() -> conjure_core::WireRequest {
    let spec = JobSpec::new(
        ProviderId::ImaginePro,
        vec![Item::Image(ImageItem::new(MIDJOURNEY, "a lighthouse at dusk"))],
    );
    conjure_providers::registry::build_request(&spec).unwrap()
}

#[tokio::test]
async fn submit_poll_download_and_enhance() {
    let sb = sandbox(Faults::default()).await;
    let c = client(&sb.base_url(), IMAGINEPRO_DEMO_KEY);
    let before = sb.imaginepro_balance(IMAGINEPRO_DEMO_KEY).unwrap();
    let submitted = c.submit(&mj()).await.unwrap();
    let id = submitted.request_id.unwrap();
    assert!(sb.imaginepro_balance(IMAGINEPRO_DEMO_KEY).unwrap() < before, "a submit is charged");
    let mut snap = c.poll(&id, MediaKind::Image).await.unwrap();
    for _ in 0..100 {
        if snap.status.is_terminal() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        snap = c.poll(&id, MediaKind::Image).await.unwrap();
    }
    assert_eq!(snap.status, RemoteStatus::Completed, "{snap:?}");
    assert!(!snap.assets.is_empty());
    // The sandbox serves every job on the video path too.
    let same = c.poll(&id, MediaKind::Video).await.unwrap();
    assert_eq!(same.status, RemoteStatus::Completed);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("1.png");
    let got = c.download(&snap.assets[0].url, &dest).await.unwrap();
    assert!(got.bytes > 0);
    let longer = c.enhance("a fox").await.unwrap();
    assert!(!longer.is_empty());
}

#[tokio::test]
async fn wrong_key_and_unknown_job_are_classified() {
    let sb = sandbox(Faults::default()).await;
    let bad = client(&sb.base_url(), "sk-not-a-sandbox-key");
    let e = bad.submit(&mj()).await.unwrap_err();
    assert!(
        matches!(&e, ProviderError::Auth { status: 401, message } if message.contains("credits")),
        "{e:?}"
    );
    assert!(!format!("{e} {e:?}").contains("sk-not-a-sandbox-key"));
    let c = client(&sb.base_url(), IMAGINEPRO_DEMO_KEY);
    for kind in [MediaKind::Image, MediaKind::Video] {
        let e = c.poll("00000000-0000-0000-0000-000000000000", kind).await.unwrap_err();
        assert!(
            matches!(&e, ProviderError::NotFound { message } if message.contains("check the id")),
            "{e:?}"
        );
    }
}
