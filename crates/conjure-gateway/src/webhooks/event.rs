//! What a webhook says: the event types, and the body every attempt sends.
//!
//! The body follows the Standard Webhooks payload layout, `{"type", "timestamp", "data"}`, with
//! `timestamp` the RFC 3339 time the event was recorded (not the attempt's: that one travels in
//! the `webhook-timestamp` header). The body is built once, when the event is enqueued, and
//! stored as text, so every attempt sends (and signs) the same bytes.

use serde::Serialize;

use conjure_core::JobState;

/// The events a member's endpoints can receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    /// The provider accepted the job (it is paid for, or will be).
    JobSubmitted,
    /// The job finished with output (`completed`, or `partial`: the data says which).
    JobSucceeded,
    /// The job ended without output (`failed`, `rejected`, `expired`).
    JobFailed,
    /// The job's submission could not be confirmed: it may have been charged. Needs a person.
    JobUnknown,
}

impl EventType {
    pub const ALL: [EventType; 4] = [
        EventType::JobSubmitted,
        EventType::JobSucceeded,
        EventType::JobFailed,
        EventType::JobUnknown,
    ];

    /// The name on the wire (`job.succeeded`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::JobSubmitted => "job.submitted",
            EventType::JobSucceeded => "job.succeeded",
            EventType::JobFailed => "job.failed",
            EventType::JobUnknown => "job.unknown",
        }
    }

    /// The type with this wire name.
    pub fn parse(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// The event a job entering `state` produces, if any (the producer calls
    /// [`super::enqueue`] with it in the transaction that records the transition).
    pub fn for_state(state: JobState) -> Option<EventType> {
        match state {
            JobState::Submitted => Some(EventType::JobSubmitted),
            JobState::Completed | JobState::Partial => Some(EventType::JobSucceeded),
            JobState::Failed | JobState::Rejected | JobState::Expired => Some(EventType::JobFailed),
            JobState::Unknown => Some(EventType::JobUnknown),
            JobState::Quoted | JobState::Submitting | JobState::Processing => None,
        }
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The body sent for an event of `event_type` recorded at `at_ms` (unix milliseconds).
pub fn body(
    event_type: EventType,
    at_ms: i64,
    data: &serde_json::Value,
) -> Result<String, serde_json::Error> {
    #[derive(Serialize)]
    struct Body<'a> {
        r#type: &'static str,
        timestamp: String,
        data: &'a serde_json::Value,
    }
    serde_json::to_string(&Body {
        r#type: event_type.as_str(),
        timestamp: conjure_app::timefmt::rfc3339_millis(at_ms),
        data,
    })
}

/// A new id: `prefix` and 16 random bytes in hex.
pub fn new_id(prefix: &str) -> Result<String, getrandom::Error> {
    let mut bytes = [0_u8; 16];
    getrandom::fill(&mut bytes)?;
    let mut id = String::with_capacity(prefix.len() + 32);
    id.push_str(prefix);
    for b in bytes {
        id.push_str(&format!("{b:02x}"));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
        assert_eq!(EventType::parse("job.exploded"), None);
    }

    #[test]
    fn every_final_or_paid_state_has_an_event() {
        for state in JobState::ALL {
            let expected =
                !matches!(state, JobState::Quoted | JobState::Submitting | JobState::Processing);
            assert_eq!(EventType::for_state(state).is_some(), expected, "{state:?}");
        }
    }

    #[test]
    fn the_body_is_the_standard_layout() {
        let body = body(EventType::JobFailed, 0, &serde_json::json!({"job": "j_1"})).unwrap();
        assert_eq!(
            body,
            r#"{"type":"job.failed","timestamp":"1970-01-01T00:00:00.000Z","data":{"job":"j_1"}}"#
        );
    }

    #[test]
    fn ids_are_prefixed_and_distinct() {
        let a = new_id("msg_").unwrap();
        assert!(a.starts_with("msg_") && a.len() == 36, "{a}");
        assert_ne!(a, new_id("msg_").unwrap());
    }
}
