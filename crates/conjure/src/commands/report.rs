//! What conjure tells people about a job: the result on stdout (the JSON view, or the paths),
//! the summary and progress on stderr. JSON shapes are `conjure_app::views`. With `--events`,
//! the job's events instead of the summary and progress: `submitted` and `progress` from the
//! [`observer`], `completed`, `file` and `cost` from [`finished_events`].

use std::io::Write as _;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use conjure_app::Progress;
use conjure_app::views::JobView;
use conjure_core::provider::RemoteStatus;
use conjure_core::runner::Event;
use conjure_core::text::Delta;
use conjure_core::{JobId, JobRecord, JobState, OutputRecord};
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use crate::commands::Ctx;
use crate::output::Output;

static LOCAL_OFFSET: OnceLock<UtcOffset> = OnceLock::new();

/// Captures the local UTC offset; must run before any thread starts (a libc restriction).
pub fn init_local_offset() {
    let offset = UtcOffset::current_local_offset().unwrap_or(UtcOffset::UTC);
    let _ = LOCAL_OFFSET.set(offset);
}

/// An RFC 3339 time in the local offset to the second (people read the same format as JSON
/// carries), or as given if it does not parse.
pub fn local_time(rfc3339: &str) -> String {
    let offset = LOCAL_OFFSET.get().copied().unwrap_or(UtcOffset::UTC);
    OffsetDateTime::parse(rfc3339, &Rfc3339)
        .ok()
        .and_then(|t| t.to_offset(offset).replace_nanosecond(0).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| rfc3339.to_owned())
}

/// Reports a finished job: JSON or paths on stdout, the summary on stderr.
pub fn result(ctx: &Ctx, job: &JobRecord, outputs: &[OutputRecord], elapsed: Duration) {
    if job.kind == conjure_core::MediaKind::Text {
        text_result(ctx, job, elapsed, false);
        return;
    }
    finished_events(ctx.out, job, outputs, elapsed);
    if ctx.out.json {
        ctx.out.json_value(&JobView::new(job, outputs, elapsed));
    } else {
        for o in outputs {
            ctx.out.line(&o.path);
        }
    }
    summary(ctx.out, job, outputs, elapsed);
}

/// The post-job summary (stderr): model, request id, dims or duration, credits, ~USD, time.
pub fn summary(out: Output, job: &JobRecord, outputs: &[OutputRecord], elapsed: Duration) {
    let view = JobView::new(job, outputs, elapsed);
    let dims: Vec<String> = outputs
        .iter()
        .map(|o| match (o.width, o.height, o.duration_seconds) {
            (Some(w), Some(h), Some(d)) => format!("{w}x{h} {d:.1} s"),
            (Some(w), Some(h), None) => format!("{w}x{h}"),
            (_, _, Some(d)) => format!("{d:.1} s"),
            _ => o.mime.clone(),
        })
        .collect();
    let mut cost = match view.usd {
        Some(usd) => format!("{} credits ≈ {usd}", view.credits),
        None => format!("{} credits", view.credits),
    };
    if !conjure_providers::registry::capabilities(job.provider).reports_charges {
        // The provider reports no charge: say where the figures come from.
        match (view.charged_credits, view.usd) {
            (None, None) => cost.push_str(&format!(
                " (its price table; no dollar price set: `[{}] usd_per_credit`)",
                job.provider
            )),
            (None, Some(_)) => cost.push_str(" (its price table at your usd_per_credit)"),
            _ => {}
        }
    }
    out.note(format!(
        "Summary: {} · {} · request {} · {} · {} · {:.1} s · {} file(s)",
        job.provider,
        job.model,
        job.request_id.as_deref().unwrap_or("-"),
        if dims.is_empty() { "-".to_owned() } else { dims.join(", ") },
        cost,
        elapsed.as_secs_f64(),
        outputs.len(),
    ));
    for w in &view.warnings {
        out.warn(w);
    }
    if !view.buttons.is_empty() {
        out.note(format!(
            "Buttons: {} (`conjure button {} NAME`)",
            view.buttons.join(", "),
            job.id
        ));
    }
    if job.state == JobState::Partial {
        out.warn(format!(
            "some items failed and produced nothing ({}); failed items are refunded by the provider",
            job.error.as_deref().unwrap_or("no reason given")
        ));
    }
    if let Some(expiry) = outputs.iter().filter_map(|o| o.expires_at.as_deref()).min() {
        let left = conjure_app::timefmt::seconds_until(expiry).unwrap_or(i64::MAX);
        if left < 3600 {
            out.warn(format!(
                "the provider's copies expire at {}; the files above are your copies",
                local_time(expiry)
            ));
        } else {
            out.note(format!("Provider links expire {}.", local_time(expiry)));
        }
    }
}

/// Reports a finished text job: the answer verbatim on stdout (unless it was already streamed
/// there) with its reasoning on stderr, or the JSON view; then the summary on stderr.
pub fn text_result(ctx: &Ctx, job: &JobRecord, elapsed: Duration, streamed: bool) {
    finished_events(ctx.out, job, &[], elapsed);
    let view = JobView::new(job, &[], elapsed);
    if ctx.out.json {
        ctx.out.json_value(&view);
    } else if let Some(text) = &view.text {
        if !streamed {
            if !text.reasoning.is_empty() {
                ctx.out.reasoning(&text.reasoning);
                ctx.out.reasoning("\n");
            }
            ctx.out.raw(&text.answer);
        }
        ctx.out.end_answer(&text.answer);
    }
    text_summary(ctx.out, job, &view, elapsed);
}

/// The text summary (stderr): model, request id, tokens, reserve/charge/refund, ~USD, privacy
/// tier, time.
pub fn text_summary(out: Output, job: &JobRecord, view: &JobView, elapsed: Duration) {
    let Some(text) = &view.text else { return };
    let tokens = match (text.usage.prompt_tokens, text.usage.completion_tokens) {
        (Some(i), Some(o)) => format!("{i} in / {o} out tokens"),
        _ => "tokens not reported".to_owned(),
    };
    let credit =
        |c: Option<conjure_core::Credits>| c.map_or_else(|| "-".to_owned(), |c| c.to_string());
    let mut cost = format!(
        "credits reserved {} / charged {} / refunded {}",
        credit(text.credits_reserved.or(Some(job.quoted_credits))),
        credit(text.credits_charged.or(job.credits_spent)),
        credit(text.credits_refunded),
    );
    if let Some(usd) = view.usd {
        cost.push_str(&format!(" ≈ {usd}"));
    }
    out.note(format!(
        "Summary: {} · {} · request {} · {tokens} · {cost} · {} · {:.1} s",
        job.provider,
        job.model,
        job.request_id.as_deref().unwrap_or("-"),
        text.privacy.as_deref().unwrap_or("privacy tier unknown"),
        elapsed.as_secs_f64(),
    ));
    for w in &view.warnings {
        out.warn(w);
    }
    if job.sandbox {
        out.note("This was the sandbox: a placeholder answer, no real money.");
    }
}

/// The events of a finished job (`--events`): `completed`, a `file` per output, then `cost`.
pub fn finished_events(out: Output, job: &JobRecord, outputs: &[OutputRecord], elapsed: Duration) {
    if !out.events {
        return;
    }
    let view = JobView::new(job, outputs, elapsed);
    let id = Some(job.id.as_str());
    out.event(
        "completed",
        id,
        &json!({
            "status": view.status,
            "request_id": view.request_id,
            "elapsed_seconds": seconds(elapsed),
        }),
    );
    for o in outputs {
        out.event(
            "file",
            id,
            &json!({
                "path": o.path,
                "mime": o.mime,
                "bytes": o.bytes,
                "sha256": o.sha256,
                "width": o.width,
                "height": o.height,
                "duration_seconds": o.duration_seconds,
            }),
        );
    }
    out.event(
        "cost",
        id,
        &json!({
            "credits": view.credits,
            "charged_credits": view.charged_credits,
            "usd": view.usd,
            "quoted_credits": view.quoted_credits,
            "quoted_usd": view.quoted_usd,
        }),
    );
}

/// Seconds to a tenth, as events carry them.
fn seconds(d: Duration) -> f64 {
    (d.as_secs_f64() * 10.0).round() / 10.0
}

/// Reports a job that was submitted and not waited for (`--no-wait`). Where its files were
/// asked to go is journalled with it, so `wait` alone writes them there.
pub fn submitted(ctx: &Ctx, job: &JobRecord) {
    if ctx.out.json {
        ctx.out.json_value(&JobView::new(job, &[], Duration::ZERO));
    } else {
        ctx.out.line(job.id.as_str());
    }
    ctx.out.note(format!("Collect it with `conjure wait {}`.", job.id));
}

/// Progress on stderr, only on a terminal and never with `--json`: one live line while a job
/// runs, then a line per saved file. With `--events`, the `submitted` and `progress` events
/// instead (the finished job's are [`finished_events`]).
///
/// A text job streams its answer to stdout and its reasoning to stderr as they arrive (not
/// with `--json`, whose result carries both), and draws no live line while it streams.
pub fn observer(out: Output, streaming: bool) -> impl Fn(Progress<'_>) + Send + Sync {
    let line = LiveLine::new(out.progress_enabled());
    // The job whose `submitted` event was sent: a stream announces its request id with its
    // first chunk, long before the runner's own `Submitted` at the end of the answer.
    let announced = Mutex::new(None::<JobId>);
    let submitted = move |job: &JobId, request_id: &str| {
        let Ok(mut last) = announced.lock() else { return };
        if last.as_ref() == Some(job) {
            return;
        }
        *last = Some(job.clone());
        out.event("submitted", Some(job.as_str()), &json!({"request_id": request_id}));
        if streaming {
            // A text answer has no polls: its one progress event says it has begun.
            out.event(
                "progress",
                Some(job.as_str()),
                &json!({"status": "answering", "progress": null, "elapsed_seconds": 0.0}),
            );
        }
    };
    move |event| match event {
        Progress::Job(Event::Streamed { job, delta }) => match delta {
            Delta::Answer(a) if !out.json => out.raw(a),
            Delta::Reasoning(r) => out.reasoning(r),
            Delta::Started { request_id } => submitted(job, request_id),
            Delta::Answer(_) => {}
        },
        Progress::Job(Event::Submitted { job, request_id }) => {
            submitted(job, request_id);
            if !streaming {
                line.update(job, "submitted", None, None);
            }
        }
        Progress::Job(Event::Polled { job, status, progress, elapsed }) => {
            let state = match status {
                RemoteStatus::Other(s) => s.clone(),
                other => serde_json::to_value(other)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
            };
            out.event(
                "progress",
                Some(job.as_str()),
                &json!({
                    "status": state,
                    "progress": progress,
                    "elapsed_seconds": seconds(elapsed),
                }),
            );
            if status.is_terminal() {
                line.stop();
            } else {
                line.update(job, &state, progress, Some(elapsed));
            }
        }
        Progress::Saved { path, .. } => {
            line.stop();
            out.progress(format!("  saved {}", path.display()));
        }
        Progress::WaitingTurn { provider, max } => {
            out.event("waiting", None, &json!({"provider": provider, "in_flight_limit": max}));
            out.note(format!(
                "Waiting for another {provider} request to finish: {provider} allows {max} in flight per account ({provider}.max_in_flight)"
            ));
        }
    }
}

/// The one live line on stderr while a job runs: its state, the time since it was sent, the
/// provider's progress when it gives one, and that Ctrl-C is safe. Redrawn every second (a
/// poll comes every 30 s or more), cleared before anything else is printed and when dropped.
struct LiveLine {
    enabled: bool,
    shared: Arc<Mutex<LineState>>,
}

#[derive(Default)]
struct LineState {
    job: String,
    state: String,
    progress: Option<u8>,
    /// When the job was sent, as far as the events tell.
    since: Option<Instant>,
    ticking: bool,
    drawn: bool,
}

impl LineState {
    fn text(&self) -> String {
        let secs = self.since.map_or(0, |s| s.elapsed().as_secs());
        let pct = self.progress.map(|p| format!(" {p}%")).unwrap_or_default();
        format!(
            "{}{pct} · {}:{:02} · Ctrl-C is safe: `conjure wait {}` resumes",
            self.state,
            secs / 60,
            secs % 60,
            self.job
        )
    }

    fn draw(&mut self) {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{}", self.text());
        let _ = err.flush();
        self.drawn = true;
    }

    fn clear(&mut self) {
        if self.drawn {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
            self.drawn = false;
        }
    }
}

impl LiveLine {
    fn new(enabled: bool) -> LiveLine {
        LiveLine { enabled, shared: Arc::new(Mutex::new(LineState::default())) }
    }

    fn update(&self, job: &JobId, state: &str, progress: Option<u8>, elapsed: Option<Duration>) {
        if !self.enabled {
            return;
        }
        let Ok(mut s) = self.shared.lock() else { return };
        if s.job != job.as_str() {
            job.as_str().clone_into(&mut s.job);
            s.since = None;
        }
        state.clone_into(&mut s.state);
        s.progress = progress;
        if let Some(e) = elapsed {
            s.since = Instant::now().checked_sub(e);
        } else if s.since.is_none() {
            s.since = Some(Instant::now());
        }
        s.draw();
        if !s.ticking {
            s.ticking = true;
            let shared = Arc::downgrade(&self.shared);
            std::thread::spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                    let Some(shared) = shared.upgrade() else { return };
                    let Ok(mut s) = shared.lock() else { return };
                    if !s.ticking {
                        return;
                    }
                    s.draw();
                }
            });
        }
    }

    fn stop(&self) {
        if let Ok(mut s) = self.shared.lock() {
            s.ticking = false;
            s.clear();
        }
    }
}

impl Drop for LiveLine {
    fn drop(&mut self) {
        self.stop();
    }
}
