//! Jobs: their ids, every state a paid job can be in, and the one function that moves it.
//!
//! `unknown` is the state that protects money: a paid POST whose outcome could not be read
//! (timeout, reset after sending, 5xx, unreadable body) may have been charged, so it is never
//! `failed` and never re-sent by code. Only `conjure retry` (quoted and approved again) creates a
//! new job for the same request.
//!
//! A [`JobId`] is `j_` followed by ten characters a person can read aloud and type: lowercase
//! Crockford base32 (no `i`, `l`, `o`, `u`). The first four are the creation minute (20 bits,
//! wrapping about every two years), so ids made close together sort together; the last six
//! are 30 random bits. Uniqueness is the store's business (a primary key, and a fresh draw on
//! the rare clash), not this module's.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Lowercase Crockford base32.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
const ID_PREFIX: &str = "j_";
const ID_BODY: usize = 10;
const ID_TIME_CHARS: usize = 4;

/// A job's id, e.g. `j_1h3wbve879`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(String);

impl JobId {
    /// A fresh id for a job created at `now_ms` (unix milliseconds).
    pub fn generate(now_ms: i64) -> Result<JobId, getrandom::Error> {
        let mut bytes = [0_u8; 4];
        getrandom::fill(&mut bytes)?;
        Ok(JobId::compose(now_ms, u32::from_le_bytes(bytes)))
    }

    /// Builds an id from its two parts; split out so that tests need no randomness.
    pub fn compose(now_ms: i64, random: u32) -> JobId {
        let minutes = now_ms.max(0).unsigned_abs() / 60_000;
        let mut id = String::with_capacity(ID_PREFIX.len() + ID_BODY);
        id.push_str(ID_PREFIX);
        push_base32(&mut id, minutes, ID_TIME_CHARS);
        push_base32(&mut id, u64::from(random), ID_BODY - ID_TIME_CHARS);
        JobId(id)
    }

    /// `s` as an id when it has the shape of one (not whether such a job exists).
    pub fn parse(s: &str) -> Option<JobId> {
        let well_formed = s.strip_prefix(ID_PREFIX).is_some_and(|body| {
            body.len() == ID_BODY && body.bytes().all(|b| ALPHABET.contains(&b))
        });
        well_formed.then(|| JobId(s.to_owned()))
    }

    /// An id read back from a store that wrote it; not checked again.
    pub fn from_stored(s: impl Into<String>) -> JobId {
        JobId(s.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Appends the low `chars * 5` bits of `value`, most significant first.
fn push_base32(out: &mut String, value: u64, chars: usize) {
    for i in (0..chars).rev() {
        let digit = (value >> (i * 5)) & 0x1f;
        out.push(char::from(ALPHABET[digit as usize]));
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for JobId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for JobId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for JobId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Priced and approved, recorded before anything is sent. A job passes through it inside
    /// the reserving transaction; journals written before that kept jobs here between the
    /// reserve and the send.
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
            // `quoted -> failed`: the process that reserved it stopped before sending anything.
            (Quoted, Submitting | Failed | Expired)
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
    fn ids_have_the_documented_shape() {
        for _ in 0..100 {
            let id = JobId::generate(1_760_000_000_000).unwrap();
            assert_eq!(id.as_str().len(), 12, "{id}");
            assert_eq!(JobId::parse(id.as_str()), Some(id));
        }
        assert_eq!(JobId::compose(0, 0).as_str(), "j_0000000000");
        assert_eq!(JobId::compose(60_000 * 33, 0x3fff_ffff).as_str(), "j_0011zzzzzz");
        // Bits above the 30 that fit are dropped, not carried into the time part.
        assert_eq!(JobId::compose(0, u32::MAX).as_str(), "j_0000zzzzzz");
        let a = JobId::compose(1_760_000_000_000, u32::MAX);
        let b = JobId::compose(1_760_000_060_000, 0);
        assert!(a < b, "{a} {b}");
        for bad in
            ["j_000000000", "j_00000000000", "j_000000000i", "J_0000000000", "req_0000000000"]
        {
            assert_eq!(JobId::parse(bad), None, "{bad}");
        }
        let ids: std::collections::HashSet<_> =
            (0..50).map(|_| JobId::generate(0).unwrap()).collect();
        assert!(ids.len() > 45);
    }

    #[test]
    fn parse_round_trip() {
        for s in JobState::ALL {
            assert_eq!(s.as_str().parse::<JobState>().unwrap(), s);
        }
    }
}
