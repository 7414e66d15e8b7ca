//! The job state machine: every state a paid job can be in, and the one function that moves it.
//!
//! `unknown` is the state that protects money: a paid POST whose outcome could not be read
//! (timeout, reset after sending, 5xx, unreadable body) may have been charged, so it is never
//! `failed` and never re-sent by code. Only `conjure retry` (quoted and approved again) creates a
//! new job for the same request.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Priced and approved, recorded before anything is sent.
    Quoted,
    /// The POST is about to go out (or went out and no answer has been read yet).
    Submitting,
    /// The provider accepted it and gave a request id.
    Submitted,
    /// The provider is working on it.
    Processing,
    /// Every item produced output.
    Completed,
    /// Some items produced output, some failed.
    Partial,
    /// The provider reported failure, or the request was refused before being charged.
    Failed,
    /// Refused at submit time (validation or content policy).
    Rejected,
    /// The POST's outcome could not be read: it may have been charged.
    Unknown,
    /// The provider no longer holds the job or its results (retention passed).
    Expired,
}

impl JobState {
    pub const ALL: [JobState; 10] = [
        JobState::Quoted,
        JobState::Submitting,
        JobState::Submitted,
        JobState::Processing,
        JobState::Completed,
        JobState::Partial,
        JobState::Failed,
        JobState::Rejected,
        JobState::Unknown,
        JobState::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Quoted => "quoted",
            JobState::Submitting => "submitting",
            JobState::Submitted => "submitted",
            JobState::Processing => "processing",
            JobState::Completed => "completed",
            JobState::Partial => "partial",
            JobState::Failed => "failed",
            JobState::Rejected => "rejected",
            JobState::Unknown => "unknown",
            JobState::Expired => "expired",
        }
    }

    /// No further transition can happen by polling.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Completed
                | JobState::Partial
                | JobState::Failed
                | JobState::Rejected
                | JobState::Expired
        )
    }

    /// Outstanding: `conjure jobs --pending` lists these. `unknown` needs a human decision.
    pub fn is_pending(self) -> bool {
        matches!(
            self,
            JobState::Quoted
                | JobState::Submitting
                | JobState::Submitted
                | JobState::Processing
                | JobState::Unknown
        )
    }

    /// Whether polling can make progress (a request id exists).
    pub fn is_pollable(self) -> bool {
        matches!(self, JobState::Submitted | JobState::Processing)
    }

    /// The one transition function. Staying in the same state is allowed for `processing`
    /// (each poll) and nothing else.
    pub fn transition(self, to: JobState) -> Result<JobState, IllegalTransition> {
        use JobState::{
            Completed, Expired, Failed, Partial, Processing, Quoted, Rejected, Submitted,
            Submitting, Unknown,
        };
        let ok = match (self, to) {
            (Quoted, Submitting | Expired)
            | (Submitting, Submitted | Processing | Completed | Partial | Failed | Rejected | Unknown)
            | (Submitted | Processing, Processing | Completed | Partial | Failed | Expired)
            | (Submitted, Rejected)
            // An unknown outcome can be resolved later by what the provider shows (its
            // dashboard, or a request id the user supplies), or given up as expired.
            | (Unknown, Submitted | Processing | Completed | Partial | Failed | Expired)
            // Results can expire after completion, before they were downloaded.
            | (Completed | Partial, Expired) => true,
            _ => false,
        };
        if ok { Ok(to) } else { Err(IllegalTransition { from: self, to }) }
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown job state `{s}`"))
    }
}

/// A transition the state machine forbids.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("A job cannot go from `{from}` to `{to}`")]
pub struct IllegalTransition {
    pub from: JobState,
    pub to: JobState,
}

#[cfg(test)]
mod tests {
    use super::JobState::*;
    use super::*;

    #[test]
    fn happy_path() {
        let s = Quoted.transition(Submitting).unwrap();
        let s = s.transition(Submitted).unwrap();
        let s = s.transition(Processing).unwrap();
        let s = s.transition(Processing).unwrap();
        assert_eq!(s.transition(Completed).unwrap(), Completed);
    }

    #[test]
    fn terminal_states_do_not_move_back() {
        for t in [Completed, Partial, Failed, Rejected, Expired] {
            assert!(t.is_terminal());
            assert!(t.transition(Processing).is_err());
            assert!(t.transition(Submitting).is_err());
        }
    }

    #[test]
    fn unknown_is_never_resent_by_the_machine() {
        // There is no edge back to `submitting`: re-sending is a new job.
        assert!(Unknown.transition(Submitting).is_err());
        assert!(Failed.transition(Submitting).is_err());
        assert!(Quoted.transition(Completed).is_err());
        assert!(Submitting.transition(Submitting).is_err());
    }

    #[test]
    fn parse_round_trip() {
        for s in JobState::ALL {
            assert_eq!(s.as_str().parse::<JobState>().unwrap(), s);
        }
    }
}
