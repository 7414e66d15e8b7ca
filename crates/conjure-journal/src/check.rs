//! [`Journal::check`]: is the journal sound, as SQLite sees it and as conjure's rules see it?
//!
//! `conjure doctor` asks this. SQLite's own `PRAGMA integrity_check` finds a damaged file
//! (torn pages, broken indexes); `PRAGMA foreign_key_check` finds audit rows or outputs whose
//! job is gone. Neither knows conjure's rules, which a hand edit, a copied file or a bug can
//! break without SQLite minding. The rules checked, each a [`Finding::rule`]:
//!
//! - `state`: every job's state is one the state machine knows.
//! - `request_id`: a job the provider accepted (`submitted`, `processing`, `completed`,
//!   `partial`) has the provider's request id; without it the job can never be polled or
//!   looked up on the provider's dashboard.
//! - `outputs`: files are recorded only for a finished job (`completed`, `partial`, or
//!   `expired` since) that has a request id.
//! - `audit`: the audit trail starts at `quoted`, each move starts where the previous one
//!   ended, each move is one the state machine allows, and the last one ends in the job's state.
//! - `money`: quoted and charged credits and dollars are never negative.
//!
//! It reads only; repairing is a person's decision. At most [`MAX_PER_RULE`] findings are
//! listed per rule, so a badly damaged journal still gives a readable report.

use conjure_core::JobState;
use rusqlite::Connection;
use serde::Serialize;

use crate::error::JournalError;

/// How many findings one rule lists at most.
pub const MAX_PER_RULE: usize = 20;

/// What [`Journal::check`](crate::Journal::check) found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Health {
    /// Jobs in the journal (0 when the file is damaged: it is not counted then).
    pub jobs: u64,
    /// What `PRAGMA integrity_check` and `PRAGMA foreign_key_check` reported (empty: sound).
    pub integrity: Vec<String>,
    /// Broken conjure rules.
    pub findings: Vec<Finding>,
}

impl Health {
    /// Nothing wrong at all.
    pub fn is_sound(&self) -> bool {
        self.integrity.is_empty() && self.findings.is_empty()
    }
}

/// One broken rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `state`, `request_id`, `outputs`, `audit` or `money` (see the module doc).
    pub rule: &'static str,
    /// The job it is about.
    pub job_id: String,
    /// What is wrong, in words.
    pub detail: String,
}

fn state_list(states: &[JobState]) -> String {
    let names: Vec<String> = states.iter().map(|s| format!("'{}'", s.as_str())).collect();
    names.join(", ")
}

/// Runs every check on `conn`.
pub(crate) fn check(conn: &Connection) -> Result<Health, JournalError> {
    let mut health = Health::default();
    // A file damaged badly enough makes the check itself fail: that is its finding too.
    let integrity = (|| {
        let mut stmt = conn.prepare("PRAGMA integrity_check")?;
        let lines = stmt.query_map([], |r| r.get::<_, String>(0))?;
        lines.collect::<Result<Vec<_>, _>>()
    })();
    match integrity {
        Ok(lines) => health.integrity.extend(lines.into_iter().filter(|l| l != "ok")),
        Err(e) => health.integrity.push(e.to_string()),
    }
    // conjure's rules read through the damage SQLite just reported; they wait for a sound file.
    if !health.integrity.is_empty() {
        return Ok(health);
    }
    health.jobs = conn.query_row("SELECT count(*) FROM jobs", [], |r| r.get(0))?;
    let limit = MAX_PER_RULE as i64;
    let mut stmt = conn.prepare("PRAGMA foreign_key_check")?;
    let orphans = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(2)?)))?;
    for orphan in orphans.take(MAX_PER_RULE) {
        let (table, parent) = orphan?;
        health.integrity.push(format!("a row of `{table}` refers to a missing `{parent}` row"));
    }

    let mut rule = |rule: &'static str, sql: &str| -> Result<(), JournalError> {
        let mut stmt = conn.prepare(sql)?;
        let rows = stmt.query_map([limit], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))?;
        for row in rows {
            let (job_id, detail) = row?;
            health.findings.push(Finding { rule, job_id, detail });
        }
        Ok(())
    };

    rule(
        "state",
        &format!(
            "SELECT id, 'its state `' || state || '` is not one conjure knows' FROM jobs \
             WHERE state NOT IN ({}) ORDER BY created_at LIMIT ?1",
            state_list(&JobState::ALL)
        ),
    )?;
    rule(
        "request_id",
        &format!(
            "SELECT id, 'it is `' || state || '` but has no request id from the provider' \
             FROM jobs WHERE (request_id IS NULL OR request_id = '') AND state IN ({}) \
             ORDER BY created_at LIMIT ?1",
            state_list(&[
                JobState::Submitted,
                JobState::Processing,
                JobState::Completed,
                JobState::Partial
            ])
        ),
    )?;
    rule(
        "outputs",
        &format!(
            "SELECT j.id, CASE WHEN j.request_id IS NULL \
                 THEN 'files are recorded for it but it has no request id' \
                 ELSE 'files are recorded for it but it is `' || j.state || '`' END \
             FROM jobs j WHERE EXISTS (SELECT 1 FROM outputs o WHERE o.job_id = j.id) \
               AND (j.request_id IS NULL OR j.state NOT IN ({})) \
             ORDER BY j.created_at LIMIT ?1",
            state_list(&[JobState::Completed, JobState::Partial, JobState::Expired])
        ),
    )?;
    rule(
        "audit",
        "SELECT j.id, CASE WHEN e.seq IS NULL THEN 'it has no audit trail' \
             ELSE 'its audit trail ends in `' || e.to_state || '` but it is `' || j.state || '`' \
             END \
         FROM jobs j LEFT JOIN job_events e ON e.seq = \
             (SELECT max(seq) FROM job_events WHERE job_id = j.id) \
         WHERE e.to_state IS NOT j.state ORDER BY j.created_at LIMIT ?1",
    )?;
    rule(
        "audit",
        "SELECT e.job_id, 'its audit trail moves from `' || coalesce(e.from_state, 'nothing') \
             || '` after ending in `' || coalesce(p.to_state, 'nothing') || '`' \
         FROM job_events e LEFT JOIN job_events p ON p.seq = \
             (SELECT max(seq) FROM job_events WHERE job_id = e.job_id AND seq < e.seq) \
         WHERE e.from_state IS NOT p.to_state \
            OR (p.seq IS NULL AND e.to_state IS NOT 'quoted') \
         ORDER BY e.seq LIMIT ?1",
    )?;
    rule(
        "money",
        "SELECT id, 'it has a negative amount (quoted or charged credits, dollars, price)' \
         FROM jobs WHERE quoted_credits_tenths < 0 OR credits_spent_tenths < 0 \
            OR quoted_usd_micros < 0 OR usd_per_credit_micros < 0 \
         ORDER BY created_at LIMIT ?1",
    )?;

    // Which moves the state machine allows is the core's decision; ask it.
    let mut stmt = conn.prepare(
        "SELECT min(job_id), from_state, to_state FROM job_events \
         WHERE from_state IS NOT NULL GROUP BY from_state, to_state",
    )?;
    let moves = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?)))?
        .collect::<Result<Vec<(String, String, String)>, _>>()?;
    let mut illegal = 0;
    for (job_id, from, to) in moves {
        let legal = match (from.parse::<JobState>(), to.parse::<JobState>()) {
            (Ok(from), Ok(to)) => from.transition(to).is_ok(),
            _ => false,
        };
        if !legal && illegal < MAX_PER_RULE {
            illegal += 1;
            health.findings.push(Finding {
                rule: "audit",
                job_id,
                detail: format!("its audit trail moves from `{from}` to `{to}`, which no job may"),
            });
        }
    }
    Ok(health)
}
