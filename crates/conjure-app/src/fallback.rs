//! The fallback record: where an accepted request goes when the journal cannot take it.
//!
//! If the provider accepted a paid request but the journal failed to record its answer (the
//! disk is full, the file is locked by another process past the timeout), the request id must
//! not be lost: it is the only handle on something that was paid for. [`record`] appends one
//! JSON line (job, provider, request id, the provider's answer, the journal's error, time) to
//! `unrecorded.jsonl` beside the journal and syncs it. The error shown to the user carries the
//! request id too, so even if this file cannot be written the id is on screen.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use conjure_core::{JobId, ProviderId, Snapshot};
use serde::Serialize;

use crate::timefmt;

/// The file, beside the journal.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("unrecorded.jsonl")
}

#[derive(Serialize)]
struct Line<'a> {
    job_id: &'a JobId,
    provider: ProviderId,
    request_id: Option<&'a str>,
    answer: &'a Snapshot,
    journal_error: String,
    time: String,
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
        job_id: job,
        provider,
        request_id,
        answer,
        journal_error: journal_error.to_string(),
        time: timefmt::rfc3339_ms(timefmt::now_ms()),
    };
    let mut text = serde_json::to_string(&line).map_err(std::io::Error::other)?;
    text.push('\n');
    let path = path(data_dir);
    std::fs::create_dir_all(data_dir)?;
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    Ok(path)
}
