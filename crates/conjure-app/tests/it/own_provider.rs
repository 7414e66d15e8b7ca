//! `wait`, `fetch` and `status` open the provider the job belongs to, never a default one.

use std::path::Path;
use std::sync::{Arc, Mutex};

use conjure_app::{App, AppError, Config, Connector};
use conjure_core::policy::SpendRules;
use conjure_core::provider::{Asset, Downloaded, RemoteStatus};
use conjure_core::quote::Quote;
use conjure_core::spec::{ImageItem, Item};
use conjure_core::{
    Consent, Credits, JobSpec, JobState, JobStore as _, Order, Provider, ProviderError, ProviderId,
    Snapshot, WireRequest, approve,
};
use serde_json::json;

use crate::config;

/// A second provider, standing in for ImaginePro: it answers polls and records them.
#[derive(Clone, Default)]
struct TestProvider {
    polls: Arc<Mutex<Vec<String>>>,
}

impl Provider for TestProvider {
    fn id(&self) -> ProviderId {
        ProviderId::ImaginePro
    }

    async fn submit(&self, _: &WireRequest) -> Result<Snapshot, ProviderError> {
        panic!("nothing is submitted in these tests");
    }

    async fn poll(
        &self,
        request_id: &str,
        _: conjure_core::MediaKind,
    ) -> Result<Snapshot, ProviderError> {
        self.polls.lock().unwrap().push(request_id.to_owned());
        Ok(Snapshot {
            request_id: Some(request_id.to_owned()),
            status: RemoteStatus::Completed,
            poll_after_seconds: None,
            progress: Some(100),
            assets: vec![Asset {
                item: 0,
                kind: "image".into(),
                mime: "image/png".into(),
                url: "data:image/png;base64,aGVsbG8=".into(),
                fallback_url: None,
                width: Some(1),
                height: Some(1),
                duration_seconds: None,
                expires_at: None,
            }],
            credits_spent: Some(Credits::whole(8)),
            errors: vec![],
            model: None,
            buttons: vec!["U1".into()],
            text: None,
        })
    }

    async fn download(&self, _: &str, dest: &Path) -> Result<Downloaded, ProviderError> {
        std::fs::write(dest, b"hello").unwrap();
        Ok(Downloaded { bytes: 5, sha256: "2cf24dba".into(), mime: Some("image/png".into()) })
    }
}

/// Opens the test provider for ImaginePro jobs and refuses everything else.
struct OnlyImaginePro(TestProvider);

impl Connector for OnlyImaginePro {
    type Provider = TestProvider;

    fn connect(&self, _: &Config, provider: ProviderId) -> Result<TestProvider, AppError> {
        match provider {
            ProviderId::ImaginePro => Ok(self.0.clone()),
            other @ ProviderId::Katana => {
                Err(AppError::other(format!("{other} was opened for an ImaginePro job")))
            }
        }
    }
}

/// Records an ImaginePro job the provider accepted as `req_ip_1`.
async fn imaginepro_job(app: &App<OnlyImaginePro>) -> conjure_core::JobId {
    let spec = JobSpec {
        provider: ProviderId::ImaginePro,
        hooks: conjure_core::spec::Hooks::default(),
        items: vec![Item::Image(ImageItem::new("midjourney", "a lighthouse"))],
    };
    let quote = Quote {
        provider: ProviderId::ImaginePro,
        model: "midjourney".into(),
        items: vec![],
        credits: Credits::whole(8),
        usd: None,
        usd_per_credit: None,
        fingerprint: spec.fingerprint(),
        token: String::new(),
        notes: vec![],
        text: None,
        unpriced: false,
    };
    let order = Order::new(
        spec,
        WireRequest::new("POST", "/api/v1/nova/imagine", json!({})),
        quote,
        None,
        None,
    )
    .unwrap();
    let session = app.session().await.unwrap();
    let owner = session.owner().unwrap().to_owned();
    let approved = approve(order, Some(Consent::Yes)).unwrap();
    let job = session.journal.reserve(&approved, &owner, &SpendRules::default(), 0).await.unwrap();
    session.journal.set_request_id(&job.id, "req_ip_1").await.unwrap();
    session.journal.transition(&job.id, JobState::Submitted, None).await.unwrap();
    job.id
}

#[tokio::test]
async fn status_wait_and_fetch_use_the_jobs_own_provider() {
    let (_dir, config) = config();
    let provider = TestProvider::default();
    let app = App::with_connector(config, OnlyImaginePro(provider.clone()));
    let id = imaginepro_job(&app).await;
    let session = app.session().await.unwrap();

    let status = app.status(&session, id.as_str(), true).await.unwrap();
    assert_eq!(status.refreshed, Some(true));
    assert_eq!(status.status, JobState::Completed);
    assert_eq!(*provider.polls.lock().unwrap(), vec!["req_ip_1"]);

    let done = app
        .wait(&session, id.as_str(), None, false, &|_| {}, std::future::pending())
        .await
        .unwrap();
    assert_eq!(done.outputs.len(), 1);
    assert!(Path::new(&done.outputs[0].path).exists());
    assert!(done.job.delivered_at.is_some());

    let fetched = app.fetch(&session, "req_ip_1", None, false, &|_| {}).await.unwrap();
    assert_eq!(fetched.job.id, id);
    assert_eq!(
        provider.polls.lock().unwrap().len(),
        2,
        "status and fetch polled; wait found it finished"
    );
}
