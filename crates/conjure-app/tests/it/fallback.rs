//! An answer the journal could not take is recorded beside it and applied once it works again.

use std::path::PathBuf;

use conjure_app::{App, Session, fallback};
use conjure_core::policy::SpendRules;
use conjure_core::provider::RemoteStatus;
use conjure_core::{Consent, Credits, JobRecord, JobState, JobStore as _, Snapshot, approve};
use conjure_test::store_contract::order;

use crate::config;

/// An app on a fresh data folder, its open session, and a job it reserved as a process about
/// to send it would.
async fn reserved(prompt: &str) -> (tempfile::TempDir, PathBuf, App, Session, JobRecord) {
    let (dir, config) = config();
    let data_dir = config.data_dir.clone();
    let app = App::new(config);
    let session = app.session().await.unwrap();
    let owner = session.owner().unwrap().to_owned();
    let approved = approve(order(prompt), Some(Consent::Yes)).unwrap();
    let job = session.journal.reserve(&approved, &owner, &SpendRules::default(), 0).await.unwrap();
    (dir, data_dir, app, session, job)
}

/// The answer to a POST as the provider gave it: `request_id` in `status`.
fn answer(request_id: &str, status: RemoteStatus, credits_spent: Option<Credits>) -> Snapshot {
    Snapshot {
        request_id: Some(request_id.into()),
        status,
        poll_after_seconds: None,
        progress: None,
        assets: vec![],
        credits_spent,
        errors: vec![],
        model: None,
        buttons: vec![],
        text: None,
    }
}

#[tokio::test]
async fn a_recorded_answer_is_replayed_into_the_journal() {
    let (_dir, data_dir, app, session, job) = reserved("lost answer").await;
    let answer = Snapshot {
        poll_after_seconds: Some(2.0),
        ..answer("req_lost", RemoteStatus::Processing, None)
    };
    let error = "database is locked";
    let path =
        fallback::record(&data_dir, &job.id, job.provider, Some("req_lost"), &answer, &error)
            .unwrap();
    assert!(std::fs::read_to_string(&path).unwrap().contains("req_lost"));
    // The process that sent it is gone.
    drop(session);

    let session = app.session().await.unwrap();
    let got = session.journal.get(&job.id).await.unwrap();
    assert_eq!(got.request_id.as_deref(), Some("req_lost"));
    assert_eq!(got.state, JobState::Submitted);
    assert!(!path.exists(), "applied lines are removed");
}

#[tokio::test]
async fn a_replayed_answer_keeps_a_state_the_job_moved_on_to_and_still_records_its_id() {
    let (_dir, data_dir, app, session, job) = reserved("given up").await;
    let answer = answer("req_late", RemoteStatus::Completed, Some(Credits::whole(14)));
    let path =
        fallback::record(&data_dir, &job.id, job.provider, Some("req_late"), &answer, &"disk full")
            .unwrap();
    // Meanwhile the job was called unknown and then given up as expired.
    session.journal.transition(&job.id, JobState::Unknown, None).await.unwrap();
    session.journal.transition(&job.id, JobState::Expired, None).await.unwrap();
    drop(session);

    let session = app.session().await.unwrap();
    let got = session.journal.get(&job.id).await.unwrap();
    assert_eq!(got.state, JobState::Expired, "a later decision stands");
    assert_eq!(got.request_id.as_deref(), Some("req_late"));
    assert_eq!(got.credits_spent, Some(Credits::whole(14)));
    assert!(!path.exists(), "applied lines are removed");
}
