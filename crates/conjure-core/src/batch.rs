//! Batches (`conjure batch`): many requests from one file, approved once, sent as few paid calls
//! as the provider's rules allow, and resumable without ever sending a line twice.
//!
//! - A batch's id is derived from what its lines ask for ([`batch_id`]), so running the same file
//!   again finds the same batch and resumes it.
//! - Lines are grouped into calls ([`pack`]): where the provider allows one request in flight
//!   (Katana), media lines of one kind share an envelope of up to [`ENVELOPE_ITEMS`] items, so a
//!   catalogue of 200 images is 20 paid calls rather than 200 queued ones; elsewhere (and for
//!   text, which is one conversation per call) every line is its own call.
//! - Every call's order carries a [`BatchLink`] that the store journals with the job in the one
//!   transaction that records it: a line is linked to its job atomically, so a batch killed at
//!   any moment knows on resume which lines were sent ([`line_outcomes`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::catalogue::MediaKind;
use crate::job::{JobId, JobState};
use crate::policy;
use crate::provider::Snapshot;
use crate::store::JobRecord;

/// The most items conjure packs into one envelope. Katana publishes no limit; ten keeps what one
/// failed submit puts in doubt small while cutting the number of calls tenfold.
pub const ENVELOPE_ITEMS: usize = 10;

/// A line of a batch and how many items it became, in the order its items are sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchLine {
    /// 1-based line number in the file.
    pub line: u32,
    pub items: u32,
}

/// The batch lines one paid call sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchLink {
    pub batch: String,
    pub lines: Vec<BatchLine>,
}

impl BatchLink {
    /// The item range (start, end exclusive) of `line` in this call, if it is one of its lines.
    pub fn items_of(&self, line: u32) -> Option<(usize, usize)> {
        let mut start = 0_usize;
        for l in &self.lines {
            let end = start + l.items as usize;
            if l.line == line {
                return Some((start, end));
            }
            start = end;
        }
        None
    }
}

/// A batch as journalled before anything is sent: every line's request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchPlan {
    pub id: String,
    /// Where the lines came from, as the person named it.
    pub source: String,
    /// Each line's request as JSON (the front end's request type), by 1-based line number.
    pub lines: BTreeMap<u32, serde_json::Value>,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// The batch id for lines with these fingerprints: `b` and 12 hex digits of their hash.
pub fn batch_id<'a>(fingerprints: impl IntoIterator<Item = &'a str>) -> String {
    let mut h = Sha256::new();
    h.update(b"conjure-batch-v1\0");
    for f in fingerprints {
        h.update(f.as_bytes());
        h.update(b"\0");
    }
    format!("b{}", &hex::encode(h.finalize())[..12])
}

/// What a line needs to be packed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackLine {
    pub line: u32,
    pub kind: MediaKind,
    /// Items it becomes (a count of images is that many items).
    pub items: u32,
}

/// Groups lines into calls. With `shared` (the provider allows few requests in flight and takes
/// several items per request), media lines of one kind share envelopes of up to `max_items`
/// items (a line is never split; a line larger than `max_items` is a call of its own); text
/// lines, and every line without `shared`, are one call each. Calls keep the file's order within
/// a kind.
pub fn pack(lines: &[PackLine], shared: bool, max_items: usize) -> Vec<Vec<PackLine>> {
    if !shared {
        return lines.iter().map(|l| vec![*l]).collect();
    }
    let mut calls: Vec<Vec<PackLine>> = Vec::new();
    let mut open: BTreeMap<MediaKind, (usize, usize)> = BTreeMap::new(); // kind -> (call, items)
    for l in lines {
        if l.kind == MediaKind::Text {
            calls.push(vec![*l]);
            continue;
        }
        let n = l.items as usize;
        match open.get_mut(&l.kind) {
            Some((call, items)) if *items + n <= max_items => {
                calls[*call].push(*l);
                *items += n;
            }
            _ => {
                calls.push(vec![*l]);
                open.insert(l.kind, (calls.len() - 1, n));
            }
        }
    }
    calls
}

/// Where a line of a batch stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineState {
    /// Never sent, or refused before the provider accepted it: a run sends it.
    ToSend,
    /// Reserved, being sent, or running at the provider.
    Running,
    /// Finished with every file of the line on disk.
    Done,
    /// Finished at the provider but its files are not all on disk yet (`conjure fetch`).
    Undelivered,
    /// The provider failed it.
    Failed,
    /// The outcome of its call is unknown: may have been charged, never sent again by a run.
    Unknown,
}

impl LineState {
    pub fn as_str(self) -> &'static str {
        match self {
            LineState::ToSend => "to_send",
            LineState::Running => "running",
            LineState::Done => "done",
            LineState::Undelivered => "undelivered",
            LineState::Failed => "failed",
            LineState::Unknown => "unknown",
        }
    }
}

/// A line's state and the job that carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineOutcome {
    pub line: u32,
    pub state: LineState,
    pub job: Option<JobId>,
    /// The line's files on disk.
    pub files: Vec<String>,
}

/// Every line's outcome, from the jobs journalled with the batch (any order). A line whose every
/// job cost nothing (refused before acceptance) is still to send; otherwise the newest job that
/// may have cost money decides, and such a line is never to send again.
pub fn line_outcomes(lines: &[u32], jobs: &[JobRecord]) -> Vec<LineOutcome> {
    lines
        .iter()
        .map(|&line| {
            let newest = jobs
                .iter()
                .filter(|j| {
                    j.batch.as_ref().is_some_and(|b| b.items_of(line).is_some())
                        && policy::money_at_risk(j.state, j.request_id.is_some())
                })
                .max_by_key(|j| j.created_at);
            match newest {
                None => {
                    LineOutcome { line, state: LineState::ToSend, job: None, files: Vec::new() }
                }
                Some(job) => outcome_in(line, job),
            }
        })
        .collect()
}

fn outcome_in(line: u32, job: &JobRecord) -> LineOutcome {
    let (start, end) =
        job.batch.as_ref().and_then(|b| b.items_of(line)).unwrap_or((0, job.spec.items.len()));
    let snapshot: Option<Snapshot> =
        job.last_snapshot.as_ref().and_then(|v| serde_json::from_value(v.clone()).ok());
    // Which output belongs to which item: the asset it was downloaded from.
    let item_of = |index: usize| -> usize {
        snapshot.as_ref().and_then(|s| s.assets.get(index)).map_or(index, |a| a.item)
    };
    let files: Vec<String> = job
        .outputs
        .iter()
        .filter(|o| (start..end).contains(&item_of(o.index)))
        .map(|o| o.path.clone())
        .collect();
    let failed_items = snapshot.as_ref().map_or(0, |s| {
        (start..end)
            .filter(|i| {
                s.errors.iter().any(|e| e.item == Some(*i))
                    || !s.assets.iter().any(|a| a.item == *i)
            })
            .count()
    });
    let state = match job.state {
        JobState::Quoted | JobState::Submitting | JobState::Submitted | JobState::Processing => {
            LineState::Running
        }
        JobState::Unknown => LineState::Unknown,
        JobState::Failed | JobState::Rejected | JobState::Expired => LineState::Failed,
        // A text answer is kept in the journal (`conjure status JOB` shows it), not in a file.
        JobState::Completed if job.kind == MediaKind::Text => LineState::Done,
        JobState::Completed | JobState::Partial => {
            if failed_items == end - start {
                LineState::Failed
            } else if job.delivered_at.is_some() && !files.is_empty() {
                LineState::Done
            } else {
                LineState::Undelivered
            }
        }
    };
    LineOutcome { line, state, job: Some(job.id.clone()), files }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(line: u32, kind: MediaKind, items: u32) -> PackLine {
        PackLine { line, kind, items }
    }

    #[test]
    fn packing_shares_envelopes_per_kind_and_never_splits_a_line() {
        use MediaKind::{Image, Text, Video};
        let lines = [
            l(1, Image, 4),
            l(2, Video, 1),
            l(3, Image, 4),
            l(4, Text, 1),
            l(5, Image, 4),
            l(6, Image, 12),
        ];
        let calls = pack(&lines, true, 10);
        let shape: Vec<Vec<u32>> =
            calls.iter().map(|c| c.iter().map(|l| l.line).collect()).collect();
        assert_eq!(shape, vec![vec![1, 3], vec![2], vec![4], vec![5], vec![6]]);
        assert_eq!(pack(&lines, false, 10).len(), 6, "one call per line");
    }

    #[test]
    fn ids_follow_the_lines() {
        let a = batch_id(["f1", "f2"]);
        assert_eq!(a.len(), 13);
        assert_eq!(a, batch_id(["f1", "f2"]));
        assert_ne!(a, batch_id(["f2", "f1"]));
        assert_ne!(a, batch_id(["f1"]));
    }

    #[test]
    fn items_of_a_line() {
        let link = BatchLink {
            batch: "b1".into(),
            lines: vec![BatchLine { line: 3, items: 2 }, BatchLine { line: 7, items: 1 }],
        };
        assert_eq!(link.items_of(3), Some((0, 2)));
        assert_eq!(link.items_of(7), Some((2, 3)));
        assert_eq!(link.items_of(4), None);
    }
}
