//! The runner drives one paid job: record, send once, poll, deliver.
//!
//! Order matters and is the whole point: the intent is committed to the journal (state
//! `quoted`, then `submitting`) before the POST leaves; the request id is stored the moment it
//! is read; a POST that fails ambiguously becomes `unknown` and is never sent again here;
//! polling follows [`PollPolicy`] and stops at the hard deadline with "still pending" (the job
//! stays resumable); delivery streams every asset into a temp file beside its destination and
//! renames it into place, so a file either exists whole or not at all.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::job::JobState;
use crate::money::Credits;
use crate::policy::{PollPolicy, PollVerdict, SubmitVerdict, after_poll_error, after_submit_error};
use crate::provider::{
    Asset, Provider, ProviderError, RemoteError, RemoteStatus, Snapshot, WireRequest,
};
use crate::quote::Quote;
use crate::spec::JobSpec;
use crate::store::{JobRecord, JobStore, NewJob, OutputRecord, StoreError};

/// Something the user may want to see while a job runs (drawn on stderr by the CLI).
#[derive(Debug, Clone)]
pub enum Event<'a> {
    Submitted { job: &'a str, request_id: &'a str },
    Polled { job: &'a str, status: &'a RemoteStatus, progress: Option<u8>, elapsed: Duration },
    Downloaded { job: &'a str, path: &'a Path },
}

/// Why a run stopped short of delivered outputs.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The provider refused the request before accepting it; nothing was charged.
    #[error("{error}")]
    Refused { job: String, error: ProviderError },
    /// The POST's outcome is unknown: it may have been charged.
    #[error(
        "The outcome of job `{job}` is unknown ({error}); it may have been charged up to {quoted} credits and was not sent again"
    )]
    Unknown { job: String, error: ProviderError, quoted: Credits },
    /// The provider ran the job and reports failure (or rejection).
    #[error("Job `{job}` {state}: {}", summarize(errors))]
    Failed { job: String, state: JobState, errors: Vec<RemoteError> },
    /// The hard stop passed while the job was still running.
    #[error("Job `{job}` is still pending after {} s", elapsed.as_secs())]
    StillPending { job: String, elapsed: Duration },
    /// Polling had to stop (credentials refused, job unknown to the provider).
    #[error("Polling job `{job}` stopped: {error}")]
    PollStopped { job: String, error: ProviderError },
    #[error("Job `{job}` is `{state}` and has nothing to {action}")]
    WrongState { job: String, state: JobState, action: &'static str },
    #[error("Downloading an output of job `{job}` failed: {message}")]
    Download { job: String, message: String },
}

fn summarize(errors: &[RemoteError]) -> String {
    if errors.is_empty() {
        return "no reason given".to_owned();
    }
    errors
        .iter()
        .map(|e| match &e.code {
            Some(code) => format!("{code}: {}", e.message),
            None => e.message.clone(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Drives jobs for one provider and one journal.
pub struct Runner<'a, P, S> {
    pub provider: &'a P,
    pub store: &'a S,
    pub policy: PollPolicy,
    pub observer: &'a (dyn Fn(Event<'_>) + Send + Sync),
}

impl<P: Provider, S: JobStore> Runner<'_, P, S> {
    /// Records the intent, sends the POST exactly once and records what came back.
    pub async fn submit(
        &self,
        spec: &JobSpec,
        wire: &WireRequest,
        quote: &Quote,
        retry_of: Option<&str>,
    ) -> Result<JobRecord, RunError> {
        let job = self.store.create(NewJob { spec, wire, quote, retry_of, parent: None })?;
        let id = job.id.clone();
        self.store.transition(&id, JobState::Submitting, None)?;

        let snapshot = match self.provider.submit(wire).await {
            Ok(s) => s,
            Err(error) => return Err(self.record_submit_error(&id, error, quote.credits)),
        };
        let request_id = snapshot.request_id.clone().filter(|r| !r.is_empty());
        let refused = matches!(snapshot.status, RemoteStatus::Rejected | RemoteStatus::Failed);
        match &request_id {
            Some(request_id) => {
                self.store.set_request_id(&id, request_id)?;
                (self.observer)(Event::Submitted { job: &id, request_id });
            }
            // A refusal needs no id; anything else without one can never be polled.
            None if refused => {}
            None => {
                let message = "the answer has no request id".into();
                let error = ProviderError::Protocol { message };
                return Err(self.record_submit_error(&id, error, quote.credits));
            }
        }
        self.record(&id, &snapshot)?;
        match snapshot.status {
            RemoteStatus::Rejected => {
                let note = summarize(&snapshot.errors);
                self.store.transition(&id, JobState::Rejected, Some(&note))?;
                Err(RunError::Failed {
                    job: id,
                    state: JobState::Rejected,
                    errors: snapshot.errors,
                })
            }
            RemoteStatus::Failed => {
                let note = summarize(&snapshot.errors);
                self.store.transition(&id, JobState::Failed, Some(&note))?;
                Err(RunError::Failed { job: id, state: JobState::Failed, errors: snapshot.errors })
            }
            RemoteStatus::Completed | RemoteStatus::Partial => {
                let state = terminal_state(&snapshot.status);
                Ok(self.store.transition(&id, state, None)?)
            }
            _ => Ok(self.store.transition(&id, JobState::Submitted, None)?),
        }
    }

    fn record_submit_error(&self, id: &str, error: ProviderError, quoted: Credits) -> RunError {
        let note = error.to_string();
        let (state, result) = match after_submit_error(&error) {
            SubmitVerdict::NotCharged => {
                let state = if matches!(error, ProviderError::Rejected { .. }) {
                    JobState::Rejected
                } else {
                    JobState::Failed
                };
                (state, RunError::Refused { job: id.to_owned(), error })
            }
            SubmitVerdict::MaybeCharged => {
                (JobState::Unknown, RunError::Unknown { job: id.to_owned(), error, quoted })
            }
        };
        match self.store.transition(id, state, Some(&note)) {
            Ok(_) => result,
            Err(e) => RunError::Store(e),
        }
    }

    fn record(&self, id: &str, snapshot: &Snapshot) -> Result<(), StoreError> {
        let value = serde_json::to_value(snapshot).unwrap_or(serde_json::Value::Null);
        self.store.record_snapshot(id, &value, snapshot.credits_spent)
    }

    /// Polls until the job ends or the hard stop passes. Polls are free; errors that may pass
    /// are waited out within the deadline.
    pub async fn wait(&self, id: &str) -> Result<JobRecord, RunError> {
        let job = self.store.get(id)?;
        if job.state.is_terminal() {
            return Ok(job);
        }
        let Some(request_id) = job.request_id.clone().filter(|_| job.state.is_pollable()) else {
            if job.state == JobState::Submitting && job.request_id.is_none() {
                // The process that sent it stopped before reading the answer.
                return Err(RunError::Unknown {
                    job: job.id,
                    error: ProviderError::Transport {
                        sent: true,
                        message: "the sending process stopped before the answer was read".into(),
                    },
                    quoted: job.quoted_credits,
                });
            }
            return Err(RunError::WrongState { job: job.id, state: job.state, action: "wait for" });
        };
        let deadline = self.policy.deadline(job.kind);
        let started = Instant::now();
        let mut delay = Duration::ZERO;
        if let Some(last) = job.last_snapshot.as_ref() {
            let hint = last.get("poll_after_seconds").and_then(serde_json::Value::as_f64);
            delay = self.policy.next_delay(Duration::ZERO, hint);
        }
        loop {
            if started.elapsed() + delay > deadline {
                return Err(RunError::StillPending { job: job.id, elapsed: started.elapsed() });
            }
            tokio::time::sleep(delay).await;
            let elapsed = started.elapsed();
            match self.provider.poll(&request_id).await {
                Ok(snapshot) => {
                    self.record(&job.id, &snapshot)?;
                    let progress = snapshot.progress;
                    (self.observer)(Event::Polled {
                        job: &job.id,
                        status: &snapshot.status,
                        progress,
                        elapsed,
                    });
                    if snapshot.status.is_terminal() {
                        return self.finish(&job.id, snapshot);
                    }
                    self.store.transition(&job.id, JobState::Processing, None)?;
                    delay = self.policy.next_delay(elapsed, snapshot.poll_after_seconds);
                }
                Err(error) => match after_poll_error(&self.policy, &error, elapsed) {
                    PollVerdict::RetryAfter(d) => delay = d,
                    PollVerdict::Stop => {
                        return Err(RunError::PollStopped { job: job.id, error });
                    }
                },
            }
        }
    }

    /// One free poll: records the answer and moves the state (used by `status` and `fetch`).
    pub async fn poll_once(&self, id: &str) -> Result<JobRecord, RunError> {
        let job = self.store.get(id)?;
        let Some(request_id) = job.request_id.clone() else {
            return Err(RunError::WrongState { job: job.id, state: job.state, action: "poll" });
        };
        let snapshot = self
            .provider
            .poll(&request_id)
            .await
            .map_err(|error| RunError::PollStopped { job: job.id.clone(), error })?;
        self.record(&job.id, &snapshot)?;
        if !job.state.is_pollable() {
            return Ok(self.store.get(id)?);
        }
        if snapshot.status.is_terminal() {
            return self.finish(&job.id, snapshot);
        }
        Ok(self.store.transition(&job.id, JobState::Processing, None)?)
    }

    fn finish(&self, id: &str, snapshot: Snapshot) -> Result<JobRecord, RunError> {
        let state = terminal_state(&snapshot.status);
        let note = (!snapshot.errors.is_empty()).then(|| summarize(&snapshot.errors));
        let record = self.store.transition(id, state, note.as_deref())?;
        match state {
            JobState::Completed | JobState::Partial => Ok(record),
            _ => Err(RunError::Failed { job: id.to_owned(), state, errors: snapshot.errors }),
        }
    }

    /// Downloads every asset of a finished job into `out_dir`, atomically, with a provenance
    /// sidecar each. Returns the delivered outputs.
    pub async fn deliver(&self, id: &str, out_dir: &Path) -> Result<Vec<OutputRecord>, RunError> {
        let job = self.store.get(id)?;
        if !matches!(job.state, JobState::Completed | JobState::Partial) {
            return Err(RunError::WrongState { job: job.id, state: job.state, action: "download" });
        }
        let snapshot: Snapshot =
            job.last_snapshot.clone().and_then(|v| serde_json::from_value(v).ok()).ok_or_else(
                || RunError::Download {
                    job: job.id.clone(),
                    message: "no provider answer is recorded".into(),
                },
            )?;
        std::fs::create_dir_all(out_dir).map_err(|e| RunError::Download {
            job: job.id.clone(),
            message: format!("cannot create `{}`: {e}", out_dir.display()),
        })?;
        // Absolute paths in results: agents read them from other working directories.
        let out_dir = &std::fs::canonicalize(out_dir).unwrap_or_else(|_| out_dir.to_path_buf());
        let mut delivered = Vec::new();
        for (n, asset) in snapshot.assets.iter().enumerate() {
            let output = self.deliver_one(&job, &snapshot, n, asset, out_dir).await?;
            self.store.add_output(&job.id, &output)?;
            (self.observer)(Event::Downloaded { job: &job.id, path: Path::new(&output.path) });
            delivered.push(output);
        }
        Ok(delivered)
    }

    async fn deliver_one(
        &self,
        job: &JobRecord,
        snapshot: &Snapshot,
        n: usize,
        asset: &Asset,
        out_dir: &Path,
    ) -> Result<OutputRecord, RunError> {
        let name = format!("{}-{}-{}.{}", job.id, asset.item, n, extension_for(&asset.mime));
        let dest = out_dir.join(&name);
        let temp = out_dir.join(format!(".{name}.part"));
        let mut used_url = asset.url.clone();
        let mut result = self.provider.download(&asset.url, &temp).await;
        if result.is_err()
            && let Some(fallback) = &asset.fallback_url
        {
            used_url.clone_from(fallback);
            result = self.provider.download(fallback, &temp).await;
        }
        let downloaded = result.map_err(|e| {
            let _ = std::fs::remove_file(&temp);
            let message = match e {
                // Asset hosts take no credentials: a refusal there means the signed link died.
                ProviderError::Auth { status, .. } => {
                    format!("the asset host refused the link (HTTP {status}); it may have expired")
                }
                ProviderError::NotFound { .. } => {
                    "the asset is gone (HTTP 404); its link may have expired".to_owned()
                }
                other => other.to_string(),
            };
            RunError::Download { job: job.id.clone(), message }
        })?;
        std::fs::rename(&temp, &dest).map_err(|e| RunError::Download {
            job: job.id.clone(),
            message: format!("cannot move the file into `{}`: {e}", dest.display()),
        })?;
        let output = OutputRecord {
            index: n,
            path: dest.display().to_string(),
            url: used_url,
            mime: asset.mime.clone(),
            width: asset.width,
            height: asset.height,
            duration_seconds: asset.duration_seconds,
            sha256: downloaded.sha256,
            bytes: downloaded.bytes,
            expires_at: asset.expires_at.clone(),
        };
        write_sidecar(job, snapshot, &output).map_err(|e| RunError::Download {
            job: job.id.clone(),
            message: format!("cannot write the provenance file: {e}"),
        })?;
        Ok(output)
    }
}

fn terminal_state(status: &RemoteStatus) -> JobState {
    match status {
        RemoteStatus::Completed => JobState::Completed,
        RemoteStatus::Partial => JobState::Partial,
        RemoteStatus::Rejected => JobState::Rejected,
        _ => JobState::Failed,
    }
}

/// File extension from a MIME type; never from the URL.
pub fn extension_for(mime: &str) -> &'static str {
    match mime.split(';').next().unwrap_or("").trim() {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpg",
        "image/webp" => "webp",
        "image/gif" => "gif",
        "video/mp4" => "mp4",
        "video/webm" => "webm",
        "video/quicktime" => "mov",
        "audio/mpeg" => "mp3",
        "audio/wav" | "audio/x-wav" => "wav",
        "text/plain" => "txt",
        _ => "bin",
    }
}

/// The provenance written next to every delivered file as `<file>.json`.
#[derive(Serialize)]
struct Provenance<'a> {
    job_id: &'a str,
    provider: &'a str,
    model: &'a str,
    prompt: &'a str,
    request_id: Option<&'a str>,
    credits: Credits,
    usd: Option<crate::money::Usd>,
    source_url: &'a str,
    expires_at: Option<&'a str>,
    mime: &'a str,
    width: Option<u32>,
    height: Option<u32>,
    duration_seconds: Option<f64>,
    sha256: &'a str,
    bytes: u64,
    time: String,
}

fn write_sidecar(job: &JobRecord, snapshot: &Snapshot, out: &OutputRecord) -> std::io::Result<()> {
    let item_prompt = job.spec.items.get(snapshot.assets.get(out.index).map_or(0, |a| a.item));
    let credits = snapshot.credits_spent.or(job.credits_spent).unwrap_or(job.quoted_credits);
    // Dollars at the quote's price per credit, for what was actually charged.
    let usd = job.quoted_usd.map(|q| {
        let quoted = i128::from(job.quoted_credits.tenths().max(1));
        crate::money::Usd::from_micros(
            (i128::from(q.micros()) * i128::from(credits.tenths()) / quoted) as i64,
        )
    });
    let provenance = Provenance {
        job_id: &job.id,
        provider: job.provider.as_str(),
        model: snapshot.model.as_deref().unwrap_or(&job.model),
        prompt: item_prompt.map_or(job.prompt.as_str(), crate::spec::Item::prompt),
        request_id: job.request_id.as_deref(),
        credits,
        usd,
        source_url: &out.url,
        expires_at: out.expires_at.as_deref(),
        mime: &out.mime,
        width: out.width,
        height: out.height,
        duration_seconds: out.duration_seconds,
        sha256: &out.sha256,
        bytes: out.bytes,
        time: rfc3339_utc(SystemTime::now()),
    };
    let path = PathBuf::from(format!("{}.json", out.path));
    let temp = PathBuf::from(format!("{}.json.part", out.path));
    let mut text = serde_json::to_string_pretty(&provenance).map_err(std::io::Error::other)?;
    text.push('\n');
    std::fs::write(&temp, text)?;
    std::fs::rename(&temp, &path)
}

/// Formats a time as RFC 3339 in UTC with second precision.
pub fn rfc3339_utc(t: SystemTime) -> String {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(rfc3339_utc(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_276_800);
        assert_eq!(rfc3339_utc(t), "2026-11-21T16:00:00Z");
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339_utc(leap), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn extensions_come_from_mime() {
        assert_eq!(extension_for("image/jpeg"), "jpg");
        assert_eq!(extension_for("video/mp4; codecs=avc1"), "mp4");
        assert_eq!(extension_for("application/x-unknown"), "bin");
    }
}
