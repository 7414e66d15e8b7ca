//! What conjure tells the user about a job: the JSON result object (a documented, stable
//! schema), the human lines on stdout, the summary and progress on stderr.
//!
//! Result schema: `job_id, provider, model, status, request_id, credits, usd, quoted_credits,
//! outputs[] {path, url, mime, width, height, duration_seconds, sha256, expires_at},
//! elapsed_seconds`. `credits` is what the provider reported as spent, else the quote.

use std::io::IsTerminal as _;
use std::sync::OnceLock;
use std::time::Duration;

use conjure_core::runner::Event;
use conjure_core::{Credits, JobRecord, OutputRecord, Usd};
use serde::Serialize;
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

/// An RFC 3339 time shown in local time, or as given if it does not parse.
pub fn local_time(rfc3339: &str) -> String {
    let offset = LOCAL_OFFSET.get().copied().unwrap_or(UtcOffset::UTC);
    match OffsetDateTime::parse(rfc3339, &Rfc3339) {
        Ok(t) => {
            let t = t.to_offset(offset);
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02} (UTC{})",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                if offset == UtcOffset::UTC { String::new() } else { format!("{offset}") }
            )
        }
        Err(_) => rfc3339.to_owned(),
    }
}

/// Seconds until an RFC 3339 time (negative when past).
pub fn seconds_until(rfc3339: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(rfc3339, &Rfc3339).ok()?;
    Some((t - OffsetDateTime::now_utc()).whole_seconds())
}

/// One output as it appears in JSON.
#[derive(Serialize)]
pub struct OutputView<'a> {
    pub path: &'a str,
    pub url: &'a str,
    pub mime: &'a str,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_seconds: Option<f64>,
    pub sha256: &'a str,
    pub expires_at: Option<&'a str>,
}

impl<'a> From<&'a OutputRecord> for OutputView<'a> {
    fn from(o: &'a OutputRecord) -> Self {
        OutputView {
            path: &o.path,
            url: &o.url,
            mime: &o.mime,
            width: o.width,
            height: o.height,
            duration_seconds: o.duration_seconds,
            sha256: &o.sha256,
            expires_at: o.expires_at.as_deref(),
        }
    }
}

/// The result object of a job.
#[derive(Serialize)]
pub struct JobResult<'a> {
    pub job_id: &'a str,
    pub provider: &'a str,
    pub model: &'a str,
    pub status: &'a str,
    pub request_id: Option<&'a str>,
    pub credits: Credits,
    pub usd: Option<Usd>,
    pub quoted_credits: Credits,
    pub outputs: Vec<OutputView<'a>>,
    pub elapsed_seconds: f64,
}

pub fn job_result<'a>(
    ctx: &Ctx,
    job: &'a JobRecord,
    outputs: &'a [OutputRecord],
    elapsed: Duration,
) -> JobResult<'a> {
    let credits = job.credits_spent.unwrap_or(job.quoted_credits);
    JobResult {
        job_id: &job.id,
        provider: job.provider.as_str(),
        model: &job.model,
        status: job.state.as_str(),
        request_id: job.request_id.as_deref(),
        credits,
        usd: Some(ctx.settings.katana_price.usd(credits)),
        quoted_credits: job.quoted_credits,
        outputs: outputs.iter().map(OutputView::from).collect(),
        elapsed_seconds: (elapsed.as_secs_f64() * 10.0).round() / 10.0,
    }
}

/// Reports a finished job: JSON or paths on stdout, the summary on stderr.
pub fn result(ctx: &Ctx, job: &JobRecord, outputs: &[OutputRecord], elapsed: Duration) {
    let view = job_result(ctx, job, outputs, elapsed);
    if ctx.out.json {
        ctx.out.json_value(&view);
    } else {
        for o in outputs {
            ctx.out.line(&o.path);
        }
    }
    summary(ctx, job, outputs, elapsed);
}

/// The post-job summary (stderr): model, request id, dims or duration, credits, ~USD, time.
pub fn summary(ctx: &Ctx, job: &JobRecord, outputs: &[OutputRecord], elapsed: Duration) {
    let credits = job.credits_spent.unwrap_or(job.quoted_credits);
    let dims: Vec<String> = outputs
        .iter()
        .map(|o| match (o.width, o.height, o.duration_seconds) {
            (Some(w), Some(h), Some(d)) => format!("{w}x{h} {d:.1} s"),
            (Some(w), Some(h), None) => format!("{w}x{h}"),
            (_, _, Some(d)) => format!("{d:.1} s"),
            _ => o.mime.clone(),
        })
        .collect();
    ctx.out.note(format!(
        "Summary: {} · {} · request {} · {} · {} · {:.1} s · {} file(s)",
        job.provider,
        job.model,
        job.request_id.as_deref().unwrap_or("-"),
        if dims.is_empty() { "-".to_owned() } else { dims.join(", ") },
        crate::output::cost_phrase(credits, Some(ctx.settings.katana_price)),
        elapsed.as_secs_f64(),
        outputs.len(),
    ));
    if job.state == conjure_core::JobState::Partial {
        ctx.out.warn(format!(
            "some items failed and produced nothing ({}); failed items are refunded by the provider",
            job.error.as_deref().unwrap_or("no reason given")
        ));
    }
    if let Some(expiry) = outputs.iter().filter_map(|o| o.expires_at.as_deref()).min() {
        let left = seconds_until(expiry).unwrap_or(i64::MAX);
        if left < 3600 {
            ctx.out.warn(format!(
                "the provider's copies expire at {}; the files above are your copies",
                local_time(expiry)
            ));
        } else {
            ctx.out.note(format!("Provider links expire {}.", local_time(expiry)));
        }
    }
}

/// Reports a job that was submitted and not waited for (`--no-wait`).
pub fn submitted(ctx: &Ctx, job: &JobRecord) {
    if ctx.out.json {
        ctx.out.json_value(&job_result(ctx, job, &[], Duration::ZERO));
    } else {
        ctx.out.line(&job.id);
    }
    ctx.out.note(format!("Collect it with `conjure wait {}`.", job.id));
}

/// Progress on stderr, only on a terminal.
pub fn observer(out: Output) -> impl Fn(Event<'_>) + Send + Sync {
    let tty = std::io::stderr().is_terminal() && !out.json;
    move |event| match event {
        Event::Polled { status, progress, elapsed, .. } if tty => {
            let pct = progress.map(|p| format!(" {p}%")).unwrap_or_default();
            eprintln!("  {:?}{pct} after {:.0} s", status, elapsed.as_secs_f64());
        }
        Event::Downloaded { path, .. } if tty => eprintln!("  saved {}", path.display()),
        _ => {}
    }
}
