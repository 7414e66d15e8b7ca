//! The state machine as stored: legal moves, refused moves, notes and the audit trail.

use conjure_core::{JobState, JobStore, StoreError};
use conjure_journal::JobEvent;

use crate::support::{create, journal};

#[test]
fn an_illegal_transition_changes_nothing() {
    let f = journal();
    let job = create(&f.journal, "a moth");
    let err =
        f.journal.transition(&job.id, JobState::Completed, Some("should not stick")).unwrap_err();
    match err {
        StoreError::Illegal(illegal) => {
            assert_eq!(illegal.from, JobState::Quoted);
            assert_eq!(illegal.to, JobState::Completed);
        }
        other => panic!("expected an illegal transition, got {other}"),
    }
    let after = f.journal.get(&job.id).unwrap();
    assert_eq!(after.state, JobState::Quoted);
    assert_eq!(after.error, None);
    assert_eq!(after.updated_at, job.updated_at);
    assert_eq!(f.journal.events(&job.id).unwrap().len(), 1, "no event for a refused move");
}

#[test]
fn every_transition_is_in_the_audit_trail() {
    let f = journal();
    let job = create(&f.journal, "a lighthouse");
    let steps = [
        (JobState::Submitting, None),
        (JobState::Unknown, Some("connection reset after the request was sent")),
        (JobState::Processing, Some("")),
        (JobState::Processing, None),
        (JobState::Completed, None),
    ];
    let mut last = job.clone();
    for (to, note) in steps {
        last = f.journal.transition(&job.id, to, note).unwrap();
        assert_eq!(last.state, to);
    }
    // The note stays as the job's last message until another note replaces it; an empty
    // note is no note.
    assert_eq!(last.error.as_deref(), Some("connection reset after the request was sent"));
    assert!(last.updated_at >= job.updated_at);

    let events = f.journal.events(&job.id).unwrap();
    let trail: Vec<_> = events.iter().map(|e| (e.from, e.to, e.note.as_deref())).collect();
    assert_eq!(
        trail,
        vec![
            (None, JobState::Quoted, None),
            (Some(JobState::Quoted), JobState::Submitting, None),
            (
                Some(JobState::Submitting),
                JobState::Unknown,
                Some("connection reset after the request was sent")
            ),
            (Some(JobState::Unknown), JobState::Processing, None),
            (Some(JobState::Processing), JobState::Processing, None),
            (Some(JobState::Processing), JobState::Completed, None),
        ]
    );
    assert!(events.windows(2).all(|w| w[0].at <= w[1].at), "the trail never runs backwards");
    assert_eq!(events.last().map(|e: &JobEvent| e.at), Some(last.updated_at));
}

#[test]
fn a_new_note_replaces_the_old_one() {
    let f = journal();
    let job = create(&f.journal, "a fern");
    f.journal.transition(&job.id, JobState::Submitting, None).unwrap();
    f.journal.transition(&job.id, JobState::Submitted, Some("queued")).unwrap();
    let failed = f.journal.transition(&job.id, JobState::Failed, Some("content policy")).unwrap();
    assert_eq!(failed.error.as_deref(), Some("content policy"));
}

#[test]
fn events_of_a_missing_job_are_not_found() {
    let f = journal();
    let err = f.journal.events("j_nope").unwrap_err();
    assert_eq!(err.to_string(), "No job `j_nope` in the journal");
}
