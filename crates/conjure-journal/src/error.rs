//! The journal's one error type, and how it becomes the core's [`StoreError`].
//!
//! [`JournalError`] names what went wrong in terms a user can act on (which file, which job,
//! which schema version), with a [`JournalError::hint`] saying what to do; the SQLite or JSON
//! cause travels in `source`, not in the text. The runner only sees [`StoreError`]: "not
//! found", "ambiguous" and "illegal transition" keep their own variants there, everything else
//! is a `Backend` failure that keeps the hint.

use std::path::PathBuf;

use conjure_core::job::IllegalTransition;
use conjure_core::{JobId, StoreError};

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

    #[error("SQLite returned an error: {0}")]
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

    #[error("`{input}` matches {total} jobs")]
    Ambiguous {
        input: String,
        /// How many jobs match.
        total: usize,
        /// The newest of them (not necessarily all).
        candidates: Vec<JobId>,
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

impl JournalError {
    /// Another connection held a lock this call did not wait for, or waited out.
    pub fn is_busy(&self) -> bool {
        match self {
            JournalError::Open { source, .. }
            | JournalError::Migration { source, .. }
            | JournalError::Sqlite(source) => is_busy(source),
            _ => false,
        }
    }

    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        let data_dir = "set CONJURE_HOME to a writable local directory";
        Some(match self {
            JournalError::Open { source, .. } if is_busy(source) => {
                "another conjure process holds the journal; try again in a moment".to_owned()
            }
            JournalError::CreateDir { .. } | JournalError::Open { .. } => data_dir.to_owned(),
            JournalError::NoWal { .. } => format!("{data_dir} (not a network file system)"),
            JournalError::NewerSchema { .. } => {
                "use the newer conjure that wrote it, or point CONJURE_HOME at another directory"
                    .to_owned()
            }
            JournalError::Migration { .. } | JournalError::Corrupt { .. } => {
                "keep a copy of the journal file and report this; `conjure jobs` still lists what it can".to_owned()
            }
            JournalError::Sqlite(e) if is_busy(e) => {
                "another conjure process holds the journal; try again in a moment".to_owned()
            }
            JournalError::NotFound(_) | JournalError::Ambiguous { .. } => {
                "`conjure jobs` lists job ids".to_owned()
            }
            JournalError::Sqlite(_)
            | JournalError::Encode { .. }
            | JournalError::Illegal(_)
            | JournalError::RequestIdConflict { .. }
            | JournalError::QuoteMismatch { .. }
            | JournalError::Random(_) => return None,
        })
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked))
}

impl From<JournalError> for StoreError {
    fn from(err: JournalError) -> StoreError {
        // The message is taken before the cause is moved out, so that a printed error chain
        // shows each cause once instead of repeating the journal's own sentence.
        let message = err.to_string();
        let hint = err.hint();
        let source: Option<Box<dyn std::error::Error + Send + Sync>> = match err {
            JournalError::NotFound(id) => return StoreError::NotFound(id),
            JournalError::Illegal(illegal) => return StoreError::Illegal(illegal),
            JournalError::Ambiguous { input, total, candidates } => {
                return StoreError::Ambiguous { input, total, candidates };
            }
            JournalError::CreateDir { source, .. } => Some(Box::new(source)),
            JournalError::Open { source, .. }
            | JournalError::Migration { source, .. }
            | JournalError::Sqlite(source) => Some(Box::new(source)),
            JournalError::Encode { source, .. } => Some(Box::new(source)),
            JournalError::Corrupt { source, .. } => Some(source),
            JournalError::Random(source) => Some(Box::new(source)),
            JournalError::NoWal { .. }
            | JournalError::NewerSchema { .. }
            | JournalError::RequestIdConflict { .. }
            | JournalError::QuoteMismatch { .. } => None,
        };
        StoreError::Backend { message, hint, source }
    }
}

impl From<conjure_core::stored::StoredError> for JournalError {
    fn from(e: conjure_core::stored::StoredError) -> JournalError {
        use conjure_core::stored::StoredError;
        match e {
            StoredError::QuoteMismatch { quoted, actual } => {
                JournalError::QuoteMismatch { quoted, actual }
            }
            StoredError::Encode { what, source } => JournalError::Encode { what, source },
            StoredError::Corrupt { id, field, source } => {
                JournalError::Corrupt { id, field, source }
            }
        }
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
        assert_eq!(
            e.to_string(),
            format!(
                "The journal failed: SQLite returned an error: {}",
                rusqlite::Error::InvalidQuery
            )
        );
        let cause = e.source().expect("a cause");
        assert_eq!(cause.to_string(), rusqlite::Error::InvalidQuery.to_string());
    }

    #[test]
    fn ambiguity_keeps_its_store_variant() {
        let e: StoreError = JournalError::Ambiguous {
            input: "j_ab".into(),
            total: 12,
            candidates: vec![JobId::from_stored("j_ab00000001")],
        }
        .into();
        assert_eq!(e.to_string(), "`j_ab` matches 12 jobs: `j_ab00000001` and 11 more");
        assert!(e.hint().unwrap().contains("conjure jobs"));
    }

    #[test]
    fn backend_errors_keep_their_hint() {
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        let e: StoreError = JournalError::Sqlite(busy).into();
        assert!(e.hint().unwrap().contains("another conjure process"), "{e:?}");
    }
}
