//! The journal's one error type, and how it becomes the core's [`StoreError`].
//!
//! [`JournalError`] names what went wrong in terms a user can act on (which file, which job,
//! which schema version); the SQLite or JSON cause travels in `source`, not in the text. The
//! runner only sees [`StoreError`]: "not found" and "illegal transition" keep their own
//! variants there, everything else is a `Backend` failure.

use std::path::PathBuf;

use conjure_core::StoreError;
use conjure_core::job::IllegalTransition;

/// A journal failure.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("Could not create the journal directory `{path}`")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("Could not open the journal `{path}`")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    #[error(
        "The journal `{path}` could not switch to WAL mode (it reported `{mode}`); \
         is it on a network file system?"
    )]
    NoWal { path: PathBuf, mode: String },

    #[error(
        "This journal was written by a newer conjure: `{path}` has schema version {found}, \
         this conjure knows up to {known}"
    )]
    NewerSchema { path: PathBuf, found: i64, known: i64 },

    #[error("Could not apply journal migration `{name}`")]
    Migration {
        name: &'static str,
        #[source]
        source: rusqlite::Error,
    },

    #[error("SQLite returned an error")]
    Sqlite(#[from] rusqlite::Error),

    #[error("Could not encode the {what} of a job as JSON")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },

    #[error("Job `{id}` has an unreadable `{field}` in the journal")]
    Corrupt {
        id: String,
        field: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    #[error("No job `{0}` in the journal")]
    NotFound(String),

    #[error("`{input}` matches {total} jobs: {}", list_ids(candidates, *total))]
    Ambiguous {
        input: String,
        /// How many jobs match.
        total: usize,
        /// The newest of them (not necessarily all).
        candidates: Vec<String>,
    },

    #[error(transparent)]
    Illegal(#[from] IllegalTransition),

    #[error("Job `{id}` already has request id `{existing}`; refusing to replace it with `{new}`")]
    RequestIdConflict { id: String, existing: String, new: String },

    #[error(
        "The quote (fingerprint `{quoted}`) was not made for this request (fingerprint `{actual}`)"
    )]
    QuoteMismatch { quoted: String, actual: String },

    #[error("Could not read random bytes for a job id")]
    Random(#[source] getrandom::Error),
}

fn list_ids(ids: &[String], total: usize) -> String {
    let list = ids.iter().map(|id| format!("`{id}`")).collect::<Vec<_>>().join(", ");
    match total.checked_sub(ids.len()) {
        Some(more) if more > 0 => format!("{list} and {more} more"),
        _ => list,
    }
}

impl From<JournalError> for StoreError {
    fn from(err: JournalError) -> StoreError {
        // The message is taken before the cause is moved out, so that a printed error chain
        // shows each cause once instead of repeating the journal's own sentence.
        let message = err.to_string();
        let source: Option<Box<dyn std::error::Error + Send + Sync>> = match err {
            JournalError::NotFound(id) => return StoreError::NotFound(id),
            JournalError::Illegal(illegal) => return StoreError::Illegal(illegal),
            JournalError::CreateDir { source, .. } => Some(Box::new(source)),
            JournalError::Open { source, .. }
            | JournalError::Migration { source, .. }
            | JournalError::Sqlite(source) => Some(Box::new(source)),
            JournalError::Encode { source, .. } => Some(Box::new(source)),
            JournalError::Corrupt { source, .. } => Some(source),
            JournalError::Random(source) => Some(Box::new(source)),
            JournalError::NoWal { .. }
            | JournalError::NewerSchema { .. }
            | JournalError::Ambiguous { .. }
            | JournalError::RequestIdConflict { .. }
            | JournalError::QuoteMismatch { .. } => None,
        };
        StoreError::Backend { message, source }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use conjure_core::JobState;

    use super::*;

    #[test]
    fn not_found_and_illegal_keep_their_store_variants() {
        let e: StoreError = JournalError::NotFound("j_x".into()).into();
        assert!(matches!(e, StoreError::NotFound(id) if id == "j_x"));
        let illegal = IllegalTransition { from: JobState::Failed, to: JobState::Processing };
        let e: StoreError = JournalError::Illegal(IllegalTransition {
            from: JobState::Failed,
            to: JobState::Processing,
        })
        .into();
        assert!(matches!(e, StoreError::Illegal(i) if i == illegal));
    }

    #[test]
    fn backend_keeps_the_cause_once() {
        let e: StoreError = JournalError::Sqlite(rusqlite::Error::InvalidQuery).into();
        assert_eq!(e.to_string(), "The journal failed: SQLite returned an error");
        let cause = e.source().expect("a cause");
        assert_eq!(cause.to_string(), rusqlite::Error::InvalidQuery.to_string());
    }

    #[test]
    fn ambiguity_lists_candidates() {
        let e = JournalError::Ambiguous {
            input: "j_ab".into(),
            total: 2,
            candidates: vec!["j_ab00000001".into(), "j_ab00000002".into()],
        };
        assert_eq!(e.to_string(), "`j_ab` matches 2 jobs: `j_ab00000001`, `j_ab00000002`");
        let e = JournalError::Ambiguous {
            input: "j_".into(),
            total: 12,
            candidates: vec!["j_ab00000001".into()],
        };
        assert_eq!(e.to_string(), "`j_` matches 12 jobs: `j_ab00000001` and 11 more");
    }
}
