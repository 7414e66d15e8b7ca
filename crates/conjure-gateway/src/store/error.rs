//! The Postgres store's one error type, and how it becomes the core's [`StoreError`].
//!
//! [`PgStoreError`] names what went wrong in terms an operator can act on (which database,
//! which job, which schema version), with a [`PgStoreError::hint`]; the driver's cause travels
//! in `source`, not in the text. A database is named only by its redacted URL
//! ([`crate::redact::redact_url`]): a password never reaches a message. The runner sees
//! [`StoreError`]: "not found", "ambiguous" and "illegal transition" keep their own variants
//! there, everything else is a `Backend` failure that keeps the hint.

use conjure_core::job::IllegalTransition;
use conjure_core::{JobId, StoreError};

/// A failure of the Postgres job store.
#[derive(Debug, thiserror::Error)]
pub enum PgStoreError {
    #[error("Could not connect to the database `{target}`")]
    Connect {
        /// The URL, redacted.
        target: String,
        #[source]
        source: sqlx::Error,
    },

    #[error(
        "The database was migrated by a newer conjure: it has schema version {found}, this \
         conjure knows up to {known}"
    )]
    NewerSchema { found: i64, known: i64 },

    #[error("The database's migration {version} is `{recorded}`, but this conjure's is `{known}`")]
    ForeignHistory { version: i64, recorded: String, known: &'static str },

    #[error("Could not apply migration `{name}`")]
    Migration {
        name: &'static str,
        #[source]
        source: sqlx::Error,
    },

    #[error("Postgres returned an error")]
    Database(#[from] sqlx::Error),

    #[error("Could not queue the webhook event of a job change")]
    Webhook(#[source] Box<crate::webhooks::WebhookError>),

    #[error("Could not encode the {what} of a job as JSON")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },

    #[error("Job `{id}` has an unreadable `{field}` in the database")]
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

    #[error("`{name}` cannot be a {what}'s name")]
    BadName { what: &'static str, name: String },

    #[error("There is already a {what} `{name}`")]
    NameTaken { what: &'static str, name: String },

    #[error("No key with the prefix `{0}`")]
    NoKey(String),

    #[error("No member `{0}` in the gateway")]
    UnknownMember(String),

    #[error("No project `{0}` in the gateway")]
    UnknownProject(String),

    #[error(
        "Member `{member}` is not a member of project `{project}`, so may not spend its budget"
    )]
    NotProjectMember { member: String, project: String },

    #[error("Could not read random bytes for a job id")]
    Random(#[source] getrandom::Error),

    #[error("Every job id drawn for a new job was taken")]
    IdClash,

    /// A background poll's write found its claim on the job gone (the lease expired and another
    /// instance took it): nothing was written, the other instance's poll counts.
    #[error("This instance's lease on job `{0}` was taken over by another instance")]
    LeaseLost(String),
}

impl PgStoreError {
    /// What the operator can do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            PgStoreError::Connect { .. } => {
                "check that Postgres is running and that the database URL (host, port, user, \
                 database, password) is right"
                    .to_owned()
            }
            PgStoreError::NewerSchema { .. } | PgStoreError::ForeignHistory { .. } => {
                "run the conjure that migrated this database, or give this one a database of its \
                 own"
                .to_owned()
            }
            PgStoreError::Migration { .. } | PgStoreError::Corrupt { .. } => {
                "keep a dump of the database (`pg_dump`) and report this".to_owned()
            }
            PgStoreError::Database(e) if is_unavailable(e) => {
                "the database did not answer; check that Postgres is running and reachable"
                    .to_owned()
            }
            PgStoreError::NotFound(_) | PgStoreError::Ambiguous { .. } => {
                "`conjure jobs` lists job ids".to_owned()
            }
            PgStoreError::BadName { .. } => {
                "use 1-64 ASCII letters, digits, `.`, `_` or `-`".to_owned()
            }
            PgStoreError::NameTaken { .. } => {
                "pick another name; `conjure serve admin usage` lists the members".to_owned()
            }
            PgStoreError::NoKey(_) => {
                "`conjure serve admin usage` lists each member's key prefixes".to_owned()
            }
            PgStoreError::UnknownMember(_) => {
                "`conjure serve admin member add NAME` adds one; `conjure serve admin usage` lists them"
                    .to_owned()
            }
            PgStoreError::UnknownProject(_) => {
                "`conjure serve admin project add NAME` adds one; or leave the project header out"
                    .to_owned()
            }
            PgStoreError::NotProjectMember { member, project } => format!(
                "the gateway's admin adds them (`conjure serve admin project member add {project} {member}`); or leave the project header out"
            ),
            PgStoreError::Webhook(e) => return e.hint(),
            PgStoreError::Database(_)
            | PgStoreError::Encode { .. }
            | PgStoreError::Illegal(_)
            | PgStoreError::RequestIdConflict { .. }
            | PgStoreError::QuoteMismatch { .. }
            | PgStoreError::Random(_)
            | PgStoreError::IdClash
            | PgStoreError::LeaseLost(_) => return None,
        })
    }
}

/// The database could not be reached (as opposed to refusing a statement).
fn is_unavailable(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed)
}

impl From<PgStoreError> for StoreError {
    fn from(err: PgStoreError) -> StoreError {
        // The message is taken before the cause is moved out, so that a printed error chain
        // shows each cause once instead of repeating the store's own sentence.
        let message = err.to_string();
        let hint = err.hint();
        let source: Option<Box<dyn std::error::Error + Send + Sync>> = match err {
            PgStoreError::NotFound(id) => return StoreError::NotFound(id),
            PgStoreError::Illegal(illegal) => return StoreError::Illegal(illegal),
            PgStoreError::Ambiguous { input, total, candidates } => {
                return StoreError::Ambiguous { input, total, candidates };
            }
            PgStoreError::Connect { source, .. }
            | PgStoreError::Migration { source, .. }
            | PgStoreError::Database(source) => Some(Box::new(source)),
            PgStoreError::Encode { source, .. } => Some(Box::new(source)),
            PgStoreError::Corrupt { source, .. } => Some(source),
            PgStoreError::Random(source) => Some(Box::new(source)),
            PgStoreError::Webhook(source) => Some(source),
            PgStoreError::NewerSchema { .. }
            | PgStoreError::ForeignHistory { .. }
            | PgStoreError::RequestIdConflict { .. }
            | PgStoreError::QuoteMismatch { .. }
            | PgStoreError::UnknownMember(_)
            | PgStoreError::UnknownProject(_)
            | PgStoreError::NotProjectMember { .. }
            | PgStoreError::BadName { .. }
            | PgStoreError::NameTaken { .. }
            | PgStoreError::NoKey(_)
            | PgStoreError::IdClash
            | PgStoreError::LeaseLost(_) => None,
        };
        StoreError::Backend { message, hint, source }
    }
}

impl From<conjure_core::stored::StoredError> for PgStoreError {
    fn from(e: conjure_core::stored::StoredError) -> PgStoreError {
        use conjure_core::stored::StoredError;
        match e {
            StoredError::QuoteMismatch { quoted, actual } => {
                PgStoreError::QuoteMismatch { quoted, actual }
            }
            StoredError::Encode { what, source } => PgStoreError::Encode { what, source },
            StoredError::Corrupt { id, field, source } => {
                PgStoreError::Corrupt { id, field, source }
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
    fn not_found_illegal_and_ambiguous_keep_their_store_variants() {
        let e: StoreError = PgStoreError::NotFound("j_x".into()).into();
        assert!(matches!(e, StoreError::NotFound(id) if id == "j_x"));
        let illegal = IllegalTransition { from: JobState::Failed, to: JobState::Processing };
        let e: StoreError =
            PgStoreError::Illegal(IllegalTransition { from: illegal.from, to: illegal.to }).into();
        assert!(matches!(e, StoreError::Illegal(i) if i == illegal));
        let e: StoreError =
            PgStoreError::Ambiguous { input: "j_ab".into(), total: 2, candidates: vec![] }.into();
        assert!(matches!(e, StoreError::Ambiguous { total: 2, .. }));
    }

    #[test]
    fn backend_keeps_the_cause_once_and_the_hint() {
        let e: StoreError = PgStoreError::Database(sqlx::Error::PoolTimedOut).into();
        assert_eq!(e.to_string(), "The journal failed: Postgres returned an error");
        assert_eq!(e.source().expect("a cause").to_string(), sqlx::Error::PoolTimedOut.to_string());
        assert!(e.hint().expect("a hint").contains("Postgres is running"), "{e:?}");
    }
}
