//! The runner drives one paid job: reserve, send once, poll.
//!
//! Order matters and is the whole point: [`Runner::submit`] takes only an
//! [`Approved`] order; the store's `reserve` records it as `submitting` in the same transaction
//! that checks its token, duplicates and budget, committed before the POST leaves; the request
//! id is stored the moment it is read; a POST that fails ambiguously becomes `unknown` and is
//! never sent again here; polling follows [`PollPolicy`] and stops at the hard
//! deadline with "still pending" (the job stays resumable).
//!
//! After the POST has been answered, a journal failure must not lose what the provider said:
//! [`RunError::Unrecorded`] carries the request id and the answer so the caller can write them
//! somewhere else and tell the user. Delivery (downloads, files on disk) is not the runner's
//! job: the core does no IO of its own.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::approval::Approved;
use crate::job::{JobId, JobState};
use crate::money::Credits;
use crate::policy::{
    PollPolicy, PollVerdict, SpendRefusal, SpendRules, SubmitVerdict, after_poll_error,
    after_submit_error,
};
use crate::provider::{Provider, ProviderError, RemoteError, RemoteStatus, Snapshot};
use crate::store::{Answer, JobRecord, JobStore, ReserveError, StoreError};
use crate::text::{Delta, TextAnswer};

/// How often a streaming answer's words so far are journalled.
const CHECKPOINT: Duration = Duration::from_millis(500);

/// Something the user may want to see while a job runs (drawn on stderr by the CLI).
#[derive(Debug, Clone)]
pub enum Event<'a> {
    Submitted {
        job: &'a JobId,
        request_id: &'a str,
    },
    Polled {
        job: &'a JobId,
        status: &'a RemoteStatus,
        progress: Option<u8>,
        elapsed: Duration,
    },
    /// A piece of a streamed text answer, as it arrived.
    Streamed {
        job: &'a JobId,
        delta: Delta<'a>,
    },
}

/// Why a run stopped short of a finished job.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The money rules refused to record it; nothing was sent.
    #[error(transparent)]
    Refused(#[from] SpendRefusal),
    /// The order is for another provider than this runner's.
    #[error(
        "The request is for `{wanted}` but this session talks to `{connected}`; nothing was sent"
    )]
    WrongProvider { wanted: crate::ProviderId, connected: crate::ProviderId },
    /// The provider refused the request before accepting it; nothing was charged.
    #[error("{error}")]
    Rejected { job: JobId, error: ProviderError },
    /// The POST's outcome is unknown: it may have been charged.
    #[error(
        "The outcome of job `{job}` is unknown ({error}); it may have been charged up to {quoted} credits and was not sent again"
    )]
    Unknown { job: JobId, error: ProviderError, quoted: Credits },
    /// The provider answered the POST but the journal could not record the answer. The
    /// request id and the answer are here so they are not lost.
    #[error(
        "Job `{job}` was accepted by the provider as request `{}` but the journal could not record it: {error}",
        request_id.as_deref().unwrap_or("(none given)")
    )]
    Unrecorded {
        job: JobId,
        request_id: Option<String>,
        snapshot: Box<Snapshot>,
        error: StoreError,
    },
    /// The provider ran the job and reports failure (or rejection).
    #[error("Job `{job}` {state}: {}", summarize(errors))]
    Failed { job: JobId, state: JobState, errors: Vec<RemoteError> },
    /// The hard stop passed while the job was still running.
    #[error("Job `{job}` is still pending after {} s", elapsed.as_secs())]
    StillPending { job: JobId, elapsed: Duration },
    /// Polling had to stop (credentials refused, job unknown to the provider).
    #[error("Polling job `{job}` stopped: {error}")]
    PollStopped { job: JobId, error: ProviderError },
    #[error("Job `{job}` is `{state}` and has nothing to {action}")]
    WrongState { job: JobId, state: JobState, action: &'static str },
}

impl From<ReserveError> for RunError {
    fn from(e: ReserveError) -> Self {
        match e {
            ReserveError::Refused(r) => RunError::Refused(r),
            ReserveError::Store(s) => RunError::Store(s),
        }
    }
}

/// The reasons a provider gave, as one line.
pub fn summarize(errors: &[RemoteError]) -> String {
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
    /// This process's owner id, recorded on the jobs it reserves.
    pub owner: &'a str,
    pub observer: &'a (dyn Fn(Event<'_>) + Send + Sync),
}

impl<P: Provider, S: JobStore> Runner<'_, P, S> {
    /// Reserves the approved order (the money decision and the intent, in one transaction),
    /// sends the POST exactly once and records what came back.
    pub async fn submit(
        &self,
        approved: Approved,
        rules: &SpendRules,
        now_ms: i64,
    ) -> Result<JobRecord, RunError> {
        self.submit_until(approved, rules, now_ms, None::<std::future::Pending<()>>).await
    }

    /// [`Runner::submit`], giving up on the answer when `stop` completes first (Ctrl-C while a
    /// text answer streams). The request is never sent again either way; a stop before the
    /// answer was read makes the job `unknown` (it may have been sent and charged, even if the
    /// stop came first), keeping what had arrived. Front ends pass a stop only for answers that
    /// may take long to read (text); media answers arrive at once and are never raced.
    pub async fn submit_until(
        &self,
        approved: Approved,
        rules: &SpendRules,
        now_ms: i64,
        stop: Option<impl Future<Output = ()>>,
    ) -> Result<JobRecord, RunError> {
        let order = approved.order();
        if order.spec.provider != self.provider.id() {
            return Err(RunError::WrongProvider {
                wanted: order.spec.provider,
                connected: self.provider.id(),
            });
        }
        // Committed before the POST: from here on the job counts as money at risk.
        let job = self.store.reserve(&approved, self.owner, rules, now_ms).await?;
        let id = job.id;
        let quoted = order.quote.credits;

        // What a stream handed over so far: the journal keeps it if the stream is cut.
        let heard = std::sync::Mutex::new(Heard::default());
        let sink = |delta: Delta<'_>| {
            if let Ok(mut h) = heard.lock() {
                h.take(delta);
            }
            (self.observer)(Event::Streamed { job: &id, delta });
        };
        let answer = {
            let mut sent = std::pin::pin!(self.provider.submit_streaming(&order.wire, &sink));
            let mut stop = std::pin::pin!(async move {
                match stop {
                    Some(stop) => stop.await,
                    None => std::future::pending().await,
                }
            });
            // While an answer streams, what arrived is journalled every CHECKPOINT: a process
            // killed mid-stream (kill -9, a crash) leaves the words it had, not nothing.
            let mut checkpoint = tokio::time::interval(CHECKPOINT);
            checkpoint.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut journalled = 0;
            loop {
                tokio::select! {
                    answer = &mut sent => break answer,
                    () = &mut stop => break Err(ProviderError::Transport {
                        sent: true,
                        message: "interrupted before the whole answer was read".to_owned(),
                    }),
                    _ = checkpoint.tick() => {
                        let now = heard
                            .lock()
                            .ok()
                            .filter(|h| h.pieces > journalled)
                            .map(|h| (h.pieces, h.partial()));
                        if let Some((pieces, partial)) = now {
                            journalled = pieces;
                            if let Some(request_id) = &partial.request_id {
                                let _ = self.store.set_request_id(&id, request_id).await;
                            }
                            let _ = self.record(&id, &partial).await;
                        }
                    }
                }
            }
        };
        let snapshot = match answer {
            Ok(s) => s,
            Err(error) => {
                let heard = heard.into_inner().unwrap_or_default();
                return Err(self.record_submit_error_heard(&id, error, quoted, heard).await);
            }
        };
        match self.record_answer(&id, &snapshot).await {
            Ok(Some(result)) => result,
            Ok(None) => {
                let message = "the answer has no request id".into();
                let error = ProviderError::Protocol { message };
                Err(self.record_submit_error(&id, error, quoted).await)
            }
            Err(error) => Err(RunError::Unrecorded {
                job: id,
                request_id: snapshot.request_id.clone(),
                snapshot: Box::new(snapshot),
                error,
            }),
        }
    }

    /// Records the answer to a POST. `Ok(None)` when an accepted answer has no request id.
    async fn record_answer(
        &self,
        id: &JobId,
        snapshot: &Snapshot,
    ) -> Result<Option<Result<JobRecord, RunError>>, StoreError> {
        let request_id = snapshot.request_id.as_deref().filter(|r| !r.is_empty());
        let refused = matches!(snapshot.status, RemoteStatus::Rejected | RemoteStatus::Failed);
        // A refusal needs no id; anything else without one can never be polled.
        if request_id.is_none() && !refused {
            return Ok(None);
        }
        let (to, note) = match snapshot.status {
            RemoteStatus::Rejected | RemoteStatus::Failed => {
                (terminal_state(&snapshot.status), Some(summarize(&snapshot.errors)))
            }
            RemoteStatus::Completed | RemoteStatus::Partial => {
                (terminal_state(&snapshot.status), None)
            }
            _ => (JobState::Submitted, None),
        };
        let value = serde_json::to_value(snapshot).unwrap_or(serde_json::Value::Null);
        let answer = Answer {
            request_id,
            snapshot: &value,
            credits_spent: snapshot.credits_spent,
            to,
            note: note.as_deref(),
        };
        let record = self.store.record_answer(id, answer).await?;
        if let Some(request_id) = request_id {
            (self.observer)(Event::Submitted { job: id, request_id });
        }
        Ok(Some(if refused {
            Err(RunError::Failed { job: id.clone(), state: to, errors: snapshot.errors.clone() })
        } else {
            Ok(record)
        }))
    }

    /// [`Runner::record_submit_error`], first journalling what a stream handed over (its
    /// request id and the partial answer), so that nothing that arrived is lost.
    async fn record_submit_error_heard(
        &self,
        id: &JobId,
        error: ProviderError,
        quoted: Credits,
        heard: Heard,
    ) -> RunError {
        if let Some(request_id) = &heard.request_id {
            let _ = self.store.set_request_id(id, request_id).await;
        }
        if heard.pieces > 0 {
            let _ = self.record(id, &heard.partial()).await;
        }
        self.record_submit_error(id, error, quoted).await
    }

    async fn record_submit_error(
        &self,
        id: &JobId,
        error: ProviderError,
        quoted: Credits,
    ) -> RunError {
        let note = error.to_string();
        let (state, result) = match after_submit_error(&error) {
            SubmitVerdict::NotCharged => {
                let state = if matches!(error, ProviderError::Rejected { .. }) {
                    JobState::Rejected
                } else {
                    JobState::Failed
                };
                (state, RunError::Rejected { job: id.clone(), error })
            }
            SubmitVerdict::MaybeCharged => {
                (JobState::Unknown, RunError::Unknown { job: id.clone(), error, quoted })
            }
        };
        // If this fails the job stays `submitting`, which counts as money at risk and becomes
        // `unknown` once this process is gone: reporting the provider's answer matters more.
        let _ = self.store.transition(id, state, Some(&note)).await;
        result
    }

    async fn record(&self, id: &JobId, snapshot: &Snapshot) -> Result<(), StoreError> {
        let value = serde_json::to_value(snapshot).unwrap_or(serde_json::Value::Null);
        self.store.record_snapshot(id, &value, snapshot.credits_spent).await
    }

    /// Polls until the job ends or the hard stop passes. Polls are free; errors that may pass
    /// are waited out within the deadline.
    pub async fn wait(&self, id: &JobId) -> Result<JobRecord, RunError> {
        let job = self.store.get(id).await?;
        if job.state.is_terminal() {
            return Ok(job);
        }
        let Some(request_id) = job.request_id.clone().filter(|_| job.state.is_pollable()) else {
            if job.state == JobState::Unknown {
                return Err(RunError::Unknown {
                    job: job.id,
                    error: ProviderError::Transport {
                        sent: true,
                        message: job.error.unwrap_or_else(|| "no answer was recorded".into()),
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
            match self.provider.poll(&request_id, job.kind).await {
                Ok(snapshot) => {
                    self.record(&job.id, &snapshot).await?;
                    (self.observer)(Event::Polled {
                        job: &job.id,
                        status: &snapshot.status,
                        progress: snapshot.progress,
                        elapsed,
                    });
                    if snapshot.status.is_terminal() {
                        return self.finish(&job.id, snapshot).await;
                    }
                    self.store.transition(&job.id, JobState::Processing, None).await?;
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
    pub async fn poll_once(&self, id: &JobId) -> Result<JobRecord, RunError> {
        let job = self.store.get(id).await?;
        let Some(request_id) = job.request_id.clone() else {
            return Err(RunError::WrongState { job: job.id, state: job.state, action: "poll" });
        };
        let snapshot = self
            .provider
            .poll(&request_id, job.kind)
            .await
            .map_err(|error| RunError::PollStopped { job: job.id.clone(), error })?;
        self.record(&job.id, &snapshot).await?;
        if !job.state.is_pollable() {
            return Ok(self.store.get(id).await?);
        }
        if snapshot.status.is_terminal() {
            return self.finish(&job.id, snapshot).await;
        }
        Ok(self.store.transition(&job.id, JobState::Processing, None).await?)
    }

    async fn finish(&self, id: &JobId, snapshot: Snapshot) -> Result<JobRecord, RunError> {
        let state = terminal_state(&snapshot.status);
        let note = (!snapshot.errors.is_empty()).then(|| summarize(&snapshot.errors));
        let record = self.store.transition(id, state, note.as_deref()).await?;
        match state {
            JobState::Completed | JobState::Partial => Ok(record),
            _ => Err(RunError::Failed { job: id.clone(), state, errors: snapshot.errors }),
        }
    }
}

/// The pieces of a streamed answer the runner has handed on.
#[derive(Debug, Default)]
struct Heard {
    request_id: Option<String>,
    text: TextAnswer,
    /// How many pieces arrived (0: nothing yet).
    pieces: u64,
}

impl Heard {
    /// What arrived so far, as the snapshot of an answer cut short.
    fn partial(&self) -> Snapshot {
        Snapshot {
            text: Some(TextAnswer { partial: true, ..self.text.clone() }),
            ..Snapshot::new(self.request_id.clone(), RemoteStatus::Other("cut".to_owned()))
        }
    }

    fn take(&mut self, delta: Delta<'_>) {
        self.pieces += 1;
        match delta {
            Delta::Started { request_id } => self.request_id = Some(request_id.to_owned()),
            Delta::Answer(a) => self.text.answer.push_str(a),
            Delta::Reasoning(r) => self.text.reasoning.push_str(r),
        }
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
