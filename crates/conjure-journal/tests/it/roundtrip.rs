//! What goes in comes out: records, outputs, snapshots, and durability across handles.

use conjure_core::store::OutputRecord;
use conjure_core::{Credits, JobState, JobStore, MediaKind, NewJob, ProviderId, StoreError, Usd};
use conjure_journal::{Journal, is_job_id};
use serde_json::json;

use crate::support::{self, create, journal};

#[test]
fn create_then_get_returns_the_same_job() {
    let f = journal();
    let spec = support::spec("a red fox in snow");
    let wire = support::wire(&spec);
    let quote = support::quote(&spec);
    let created = f
        .journal
        .create(NewJob {
            spec: &spec,
            wire: &wire,
            quote: &quote,
            retry_of: Some("j_0000000000"),
            parent: Some("j_1111111111"),
        })
        .unwrap();

    assert!(is_job_id(&created.id), "{}", created.id);
    assert_eq!(created.state, JobState::Quoted);
    assert_eq!(created.provider, ProviderId::Katana);
    assert_eq!(created.kind, MediaKind::Image);
    assert_eq!(created.model, "gpt-image-2");
    assert_eq!(created.prompt, "a red fox in snow");
    assert_eq!(created.fingerprint, spec.fingerprint());
    assert_eq!(created.spec, spec);
    assert_eq!(created.wire, wire);
    assert_eq!(created.quoted_credits, Credits::whole(14));
    assert_eq!(created.quoted_usd, Some(Usd::from_micros(72_800)));
    assert_eq!(created.request_id, None);
    assert_eq!(created.credits_spent, None);
    assert_eq!(created.error, None);
    assert_eq!(created.last_snapshot, None);
    assert_eq!(created.retry_of.as_deref(), Some("j_0000000000"));
    assert_eq!(created.parent.as_deref(), Some("j_1111111111"));
    assert_eq!(created.created_at, created.updated_at);
    assert!(created.outputs.is_empty());

    let got = f.journal.get(&created.id).unwrap();
    assert_eq!(
        serde_json::to_value(&got).unwrap(),
        serde_json::to_value(&created).unwrap(),
        "get must return what create returned"
    );
}

#[test]
fn the_intent_is_committed_before_create_returns() {
    let f = journal();
    let job = create(&f.journal, "committed before the POST");
    // A second handle is another SQLite connection: it sees only committed data.
    let other = Journal::open(&f.path).unwrap();
    let seen = other.get(&job.id).unwrap();
    assert_eq!(seen.state, JobState::Quoted);
    assert_eq!(seen.spec, job.spec);
}

#[test]
fn request_id_snapshot_and_outputs_are_recorded() {
    let f = journal();
    let job = create(&f.journal, "a heron");
    f.journal.set_request_id(&job.id, "req_42").unwrap();
    // Reading the same answer twice is not an error.
    f.journal.set_request_id(&job.id, "req_42").unwrap();

    let snapshot = json!({"status": "completed", "credits_spent": 14.0, "assets": []});
    f.journal.record_snapshot(&job.id, &snapshot, Some(Credits::whole(14))).unwrap();
    // A later poll without a credit figure keeps the last one.
    let later = json!({"status": "completed", "assets": [{"url": "https://x/y.webp"}]});
    f.journal.record_snapshot(&job.id, &later, None).unwrap();

    let out = OutputRecord {
        index: 0,
        path: "/home/u/conjure/a heron.webp".into(),
        url: "https://cdn.example.com/y.webp".into(),
        mime: "image/webp".into(),
        width: Some(1792),
        height: Some(1024),
        duration_seconds: None,
        sha256: "ab".repeat(32),
        bytes: 123_456,
        expires_at: Some("2026-07-01T00:00:00Z".into()),
    };
    f.journal.add_output(&job.id, &out).unwrap();
    f.journal.add_output(&job.id, &out).unwrap();
    let second = OutputRecord { index: 1, path: "/home/u/conjure/b.webp".into(), ..out.clone() };
    f.journal.add_output(&job.id, &second).unwrap();

    let got = f.journal.get(&job.id).unwrap();
    assert_eq!(got.request_id.as_deref(), Some("req_42"));
    assert_eq!(got.credits_spent, Some(Credits::whole(14)));
    assert_eq!(got.last_snapshot, Some(later));
    assert_eq!(got.outputs, vec![out, second], "the same output added twice is stored once");
    assert!(got.updated_at >= got.created_at);
}

#[test]
fn re_adding_an_output_describes_the_file_now_on_disk() {
    let f = journal();
    let job = create(&f.journal, "a clip");
    let mut out = OutputRecord {
        index: 0,
        path: "out/clip.mp4".into(),
        url: "https://cdn.example.com/clip.mp4".into(),
        mime: "video/mp4".into(),
        width: None,
        height: None,
        duration_seconds: Some(5.041_666),
        sha256: "00".repeat(32),
        bytes: 10,
        expires_at: None,
    };
    f.journal.add_output(&job.id, &out).unwrap();
    out.sha256 = "11".repeat(32);
    out.bytes = 20;
    f.journal.add_output(&job.id, &out).unwrap();
    assert_eq!(f.journal.get(&job.id).unwrap().outputs, vec![out]);
}

#[test]
fn a_different_request_id_is_refused() {
    let f = journal();
    let job = create(&f.journal, "one payment, one id");
    f.journal.set_request_id(&job.id, "req_1").unwrap();
    let err = f.journal.set_request_id(&job.id, "req_2").unwrap_err();
    assert!(err.to_string().contains("`req_1`"), "{err}");
    assert_eq!(f.journal.get(&job.id).unwrap().request_id.as_deref(), Some("req_1"));
}

#[test]
fn missing_jobs_are_not_found() {
    let f = journal();
    let missing = "j_zzzzzzzzzz";
    assert!(matches!(f.journal.get(missing), Err(StoreError::NotFound(id)) if id == missing));
    assert!(matches!(
        f.journal.transition(missing, JobState::Submitting, None),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(f.journal.set_request_id(missing, "r"), Err(StoreError::NotFound(_))));
    assert!(matches!(
        f.journal.record_snapshot(missing, &json!({}), None),
        Err(StoreError::NotFound(_))
    ));
    let out = OutputRecord {
        index: 0,
        path: "p".into(),
        url: "u".into(),
        mime: "m".into(),
        width: None,
        height: None,
        duration_seconds: None,
        sha256: String::new(),
        bytes: 0,
        expires_at: None,
    };
    assert!(matches!(f.journal.add_output(missing, &out), Err(StoreError::NotFound(_))));
}

#[test]
fn a_quote_for_another_request_is_refused() {
    let f = journal();
    let spec = support::spec("what was approved");
    let other = support::spec("what is being sent");
    let wire = support::wire(&other);
    let quote = support::quote(&spec);
    let err = f
        .journal
        .create(NewJob { spec: &other, wire: &wire, quote: &quote, retry_of: None, parent: None })
        .unwrap_err();
    assert!(err.to_string().contains("was not made for this request"), "{err}");
    assert!(f.journal.list(false, 10).unwrap().is_empty());
}
