//! The journal holds the request exactly as sent, and nothing the client adds (credentials).

use conjure_core::JobStore;

use crate::support::{create, journal, raw};

#[test]
fn spec_and_wire_json_round_trip_exactly() {
    let f = journal();
    let job = create(&f.journal, "exact bytes, \u{1f98a} and \"quotes\"");
    let (spec_json, wire_json): (String, String) = raw(&f.path)
        .query_row("SELECT spec_json, wire_json FROM jobs WHERE id = ?1", [&job.id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(spec_json, serde_json::to_string(&job.spec).unwrap());
    assert_eq!(wire_json, serde_json::to_string(&job.wire).unwrap());

    let got = f.journal.get(&job.id).unwrap();
    assert_eq!(got.spec, job.spec);
    assert_eq!(got.wire, job.wire);
    // Same bytes back means the same fingerprint: duplicate detection and approval still hold.
    assert_eq!(got.spec.fingerprint(), job.fingerprint);
    assert_eq!(serde_json::to_string(&got.wire).unwrap(), wire_json);
}

#[test]
fn a_credential_kept_outside_the_journal_never_reaches_the_file() {
    // Stands in for the API key the HTTP client adds as a header; the journal never gets it.
    let credential = format!("Bearer {}", "kt_live_MARKER_9d1e0c77");
    let f = journal();
    let job = create(&f.journal, "a private prompt");
    assert!(!serde_json::to_string(&job.wire).unwrap().contains(&credential));
    drop(f.journal);

    let mut bytes = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{}{suffix}", f.path.display());
        if let Ok(b) = std::fs::read(&file) {
            bytes.extend(b);
        }
    }
    assert!(bytes.windows(b"a private prompt".len()).any(|w| w == b"a private prompt"));
    assert!(!bytes.windows(credential.len()).any(|w| w == credential.as_bytes()));
}
