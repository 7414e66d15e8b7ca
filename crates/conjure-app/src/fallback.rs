//! The fallback record: where an accepted request goes when the journal cannot take it.
//!
//! If the provider accepted a paid request but the journal failed to record its answer (the
//! disk is full, the file is locked by another process past the timeout), the request id must
//! not be lost: it is the only handle on something that was paid for. [`record`] appends one
//! JSON line (job, provider, request id, the provider's answer, the journal's error, time) to
//! `unrecorded.jsonl` beside the journal and syncs it. The error shown to the user carries the
//! request id too, so even if this file cannot be written the id is on screen.
//!
//! [`replay`] runs whenever a session opens: each recorded answer whose job still has no request
//! id is applied to the journal (request id, answer, state), so `conjure wait JOB` simply works
//! once the journal does; applied lines are removed. Appends and replays hold a lock file, so
//! an answer written while another process replays is never lost.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use conjure_core::provider::RemoteStatus;
use conjure_core::store::Answer;
use conjure_core::{JobId, JobState, JobStore, ProviderId, Snapshot, StoreError};
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::timefmt;

/// The file, beside the journal.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("unrecorded.jsonl")
}

#[derive(Serialize, Deserialize)]
struct Line {
    job_id: JobId,
    provider: ProviderId,
    request_id: Option<String>,
    answer: Snapshot,
    journal_error: String,
    time: String,
}

/// Holds the lock file while alive.
fn lock(data_dir: &Path) -> std::io::Result<File> {
    std::fs::create_dir_all(data_dir)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(data_dir.join("unrecorded.lock"))?;
    file.lock()?;
    Ok(file)
}

/// Appends what the journal could not record. Returns the file written.
pub fn record(
    data_dir: &Path,
    job: &JobId,
    provider: ProviderId,
    request_id: Option<&str>,
    answer: &Snapshot,
    journal_error: &dyn std::fmt::Display,
) -> std::io::Result<PathBuf> {
    let line = Line {
        job_id: job.clone(),
        provider,
        request_id: request_id.map(str::to_owned),
        answer: answer.clone(),
        journal_error: journal_error.to_string(),
        time: timefmt::rfc3339_ms(timefmt::now_ms()),
    };
    let mut text = serde_json::to_string(&line).map_err(std::io::Error::other)?;
    text.push('\n');
    let _lock = lock(data_dir)?;
    let path = path(data_dir);
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    Ok(path)
}

/// Applies recorded answers to the journal and removes the lines it took. A line the journal
/// still cannot take is kept for next time.
pub async fn replay(store: &impl JobStore, data_dir: &Path) -> Result<(), AppError> {
    let path = path(data_dir);
    if !path.exists() {
        return Ok(());
    }
    let _lock = lock(data_dir)?;
    let text = std::fs::read_to_string(&path)?;
    let mut kept = String::new();
    for raw in text.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(line) = serde_json::from_str::<Line>(raw) else {
            // Not ours to interpret; never drop what may be the only copy of a request id.
            kept.push_str(raw);
            kept.push('\n');
            continue;
        };
        match apply(store, &line).await {
            Ok(()) | Err(StoreError::NotFound(_)) => {}
            Err(_) => {
                kept.push_str(raw);
                kept.push('\n');
            }
        }
    }
    if kept.is_empty() {
        std::fs::remove_file(&path)?;
    } else if kept != text {
        let temp = path.with_extension("jsonl.part");
        std::fs::write(&temp, kept)?;
        std::fs::rename(&temp, &path)?;
    }
    Ok(())
}

async fn apply(store: &impl JobStore, line: &Line) -> Result<(), StoreError> {
    let job = store.get(&line.job_id).await?;
    if job.request_id.is_some() {
        return Ok(());
    }
    let value = serde_json::to_value(&line.answer).unwrap_or(serde_json::Value::Null);
    let to = match line.answer.status {
        RemoteStatus::Completed => JobState::Completed,
        RemoteStatus::Partial => JobState::Partial,
        RemoteStatus::Failed => JobState::Failed,
        RemoteStatus::Rejected => JobState::Rejected,
        _ => JobState::Submitted,
    };
    let answer = Answer {
        request_id: line.request_id.as_deref(),
        snapshot: &value,
        credits_spent: line.answer.credits_spent,
        to,
        note: Some("recovered from the fallback record after a journal failure"),
    };
    // In one write, as the runner records an answer; a job that has moved on since (settled
    // by another process) keeps its state and still gets the id and the answer.
    match store.record_answer(&job.id, answer).await {
        Ok(_) => Ok(()),
        Err(StoreError::Illegal(_)) => {
            if let Some(request_id) = answer.request_id {
                store.set_request_id(&job.id, request_id).await?;
            }
            store.record_snapshot(&job.id, &value, answer.credits_spent).await
        }
        Err(e) => Err(e),
    }
}
