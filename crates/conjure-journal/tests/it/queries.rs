//! Lookups: duplicate detection by fingerprint, listings, request ids, typed ids, totals.

use conjure_core::{Credits, JobState, JobStore, ProviderId};
use conjure_journal::{JournalError, ProviderTotals};
use serde_json::json;

use crate::support::{create, journal, raw};

#[test]
fn fingerprint_lookup_respects_the_window_and_picks_the_newest() {
    let f = journal();
    let first = create(&f.journal, "the same request");
    let second = create(&f.journal, "the same request");
    let other = create(&f.journal, "another request");
    assert_eq!(first.fingerprint, second.fingerprint);
    assert_ne!(first.fingerprint, other.fingerprint);

    let found = f.journal.find_fingerprint(&first.fingerprint, first.created_at).unwrap().unwrap();
    assert_eq!(found.id, second.id, "the newest match wins");
    let found = f.journal.find_fingerprint(&first.fingerprint, 0).unwrap().unwrap();
    assert_eq!(found.id, second.id);

    // The window starts after both were created: nothing to warn about.
    let after = second.created_at + 1;
    assert!(f.journal.find_fingerprint(&first.fingerprint, after).unwrap().is_none());
    assert!(f.journal.find_fingerprint("0".repeat(64).as_str(), 0).unwrap().is_none());
}

#[test]
fn fingerprint_window_is_measured_on_created_at() {
    let f = journal();
    let old = create(&f.journal, "yesterday's request");
    // Age the job by a day without waiting.
    let day = 86_400_000;
    raw(&f.path)
        .execute(
            "UPDATE jobs SET created_at = created_at - ?2 WHERE id = ?1",
            rusqlite::params![old.id, day],
        )
        .unwrap();
    let window_start = old.created_at - day / 2;
    assert!(f.journal.find_fingerprint(&old.fingerprint, window_start).unwrap().is_none());
    assert!(f.journal.find_fingerprint(&old.fingerprint, window_start - day).unwrap().is_some());
}

#[test]
fn listing_is_newest_first_and_can_show_only_pending() {
    let f = journal();
    let job_a = create(&f.journal, "a");
    let job_b = create(&f.journal, "b");
    let job_c = create(&f.journal, "c");
    let job_d = create(&f.journal, "d");
    // a: completed; b: unknown (pending, needs a human); c: failed; d: quoted (pending).
    for (id, path) in [
        (&job_a.id, &[JobState::Submitting, JobState::Completed][..]),
        (&job_b.id, &[JobState::Submitting, JobState::Unknown][..]),
        (&job_c.id, &[JobState::Submitting, JobState::Failed][..]),
    ] {
        for &to in path {
            f.journal.transition(id, to, None).unwrap();
        }
    }

    let ids = |jobs: Vec<conjure_core::JobRecord>| {
        jobs.into_iter().map(|j| j.id).collect::<Vec<String>>()
    };
    assert_eq!(
        ids(f.journal.list(false, 10).unwrap()),
        [job_d.id.as_str(), job_c.id.as_str(), job_b.id.as_str(), job_a.id.as_str()]
    );
    assert_eq!(ids(f.journal.list(false, 2).unwrap()), [job_d.id.as_str(), job_c.id.as_str()]);
    assert_eq!(ids(f.journal.list(true, 10).unwrap()), [job_d.id.as_str(), job_b.id.as_str()]);
    assert_eq!(ids(f.journal.list(true, 1).unwrap()), [job_d.id.as_str()]);
    assert!(f.journal.list(false, 0).unwrap().is_empty());
    assert_eq!(f.journal.list(false, usize::MAX).unwrap().len(), 4);
}

#[test]
fn jobs_are_found_by_provider_request_id() {
    let f = journal();
    let job = create(&f.journal, "find me");
    f.journal.set_request_id(&job.id, "gen_8f2c").unwrap();
    let found = f.journal.find_by_request_id(ProviderId::Katana, "gen_8f2c").unwrap().unwrap();
    assert_eq!(found.id, job.id);
    assert!(f.journal.find_by_request_id(ProviderId::ImaginePro, "gen_8f2c").unwrap().is_none());
    assert!(f.journal.find_by_request_id(ProviderId::Katana, "gen_").unwrap().is_none());
}

#[test]
fn ids_resolve_from_prefixes_and_request_ids() {
    let f = journal();
    let a = create(&f.journal, "a");
    let b = create(&f.journal, "b");
    f.journal.set_request_id(&b.id, "gen_77").unwrap();

    assert_eq!(f.journal.resolve_id(&a.id).unwrap(), a.id);
    assert_eq!(f.journal.resolve_id(&format!(" {} ", a.id)).unwrap(), a.id);
    assert_eq!(f.journal.resolve_id("gen_77").unwrap(), b.id);

    // The shortest prefix that tells them apart resolves; one character fewer is ambiguous.
    let common = a.id.chars().zip(b.id.chars()).take_while(|(x, y)| x == y).count();
    assert_eq!(f.journal.resolve_id(&a.id[..=common]).unwrap(), a.id);
    assert_eq!(f.journal.resolve_id(&b.id[..=common]).unwrap(), b.id);
    match f.journal.resolve_id(&a.id[..common]) {
        Err(JournalError::Ambiguous { total, candidates, .. }) => {
            assert_eq!(total, 2);
            assert_eq!(candidates, vec![b.id.clone(), a.id.clone()], "newest first");
        }
        other => panic!("expected ambiguity, got {other:?}"),
    }
    let err = f.journal.resolve_id("j_").unwrap_err();
    assert!(err.to_string().starts_with("`j_` matches 2 jobs: "), "{err}");

    // `_` is literal, not a LIKE wildcard; unknown input is not found.
    assert!(matches!(f.journal.resolve_id("j%"), Err(JournalError::NotFound(_))));
    assert!(matches!(f.journal.resolve_id("x_"), Err(JournalError::NotFound(_))));
    assert!(matches!(f.journal.resolve_id("gen_7"), Err(JournalError::NotFound(_))));
    assert!(matches!(f.journal.resolve_id("  "), Err(JournalError::NotFound(_))));
}

#[test]
fn ambiguity_lists_at_most_ten_candidates() {
    let f = journal();
    for i in 0..12 {
        create(&f.journal, &format!("job {i}"));
    }
    match f.journal.resolve_id("j_") {
        Err(JournalError::Ambiguous { total, candidates, .. }) => {
            assert_eq!(total, 12);
            assert_eq!(candidates.len(), 10);
        }
        other => panic!("expected ambiguity, got {other:?}"),
    }
}

#[test]
fn totals_sum_quoted_and_spent_credits_per_provider() {
    let f = journal();
    assert!(f.journal.totals().unwrap().is_empty());
    let a = create(&f.journal, "a");
    let b = create(&f.journal, "b");
    create(&f.journal, "c");
    f.journal.record_snapshot(&a.id, &json!({}), Some(Credits::from_tenths(135))).unwrap();
    f.journal.record_snapshot(&b.id, &json!({}), Some(Credits::whole(14))).unwrap();
    assert_eq!(
        f.journal.totals().unwrap(),
        vec![ProviderTotals {
            provider: ProviderId::Katana,
            jobs: 3,
            quoted: Credits::whole(42),
            spent: Credits::from_tenths(275),
        }]
    );
}
