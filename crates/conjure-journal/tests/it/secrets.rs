//! The journal holds the request exactly as sent, and nothing the client adds (credentials,
//! the bytes of local files).

use crate::support::{create, journal, raw};

#[tokio::test]
async fn spec_and_wire_json_round_trip_exactly() {
    let f = journal();
    let job = create(&f.journal, "exact bytes, \u{1f98a} and \"quotes\"").await;
    let (spec_json, wire_json): (String, String) = raw(&f.path)
        .query_row("SELECT spec_json, wire_json FROM jobs WHERE id = ?1", [job.id.as_str()], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(spec_json, serde_json::to_string(&job.spec).unwrap());
    assert_eq!(wire_json, serde_json::to_string(&job.wire).unwrap());
    // A local file is a reference by hash, never its bytes.
    assert!(wire_json.contains("conjure-file:sha256:4f0b1c2d"), "{wire_json}");
}

#[tokio::test]
async fn a_credential_kept_outside_the_journal_never_reaches_the_file() {
    // Stands in for the API key the HTTP client adds as a header; the journal never gets it.
    let credential = format!("Bearer {}", "kt_live_MARKER_9d1e0c77");
    let f = journal();
    let job = create(&f.journal, "a private prompt").await;
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
