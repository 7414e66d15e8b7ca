//! What conjure tells people about a job: the result on stdout (the JSON view, or the paths),
//! the summary and progress on stderr. JSON shapes are `conjure_app::views`.

use std::sync::OnceLock;
use std::time::Duration;

use conjure_app::Progress;
use conjure_app::views::JobView;
use conjure_core::runner::Event;
use conjure_core::{JobRecord, JobState, OutputRecord};
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

/// Reports a finished job: JSON or paths on stdout, the summary on stderr.
pub fn result(ctx: &Ctx, job: &JobRecord, outputs: &[OutputRecord], elapsed: Duration) {
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
    let cost = match view.usd {
        Some(usd) => format!("{} credits ≈ {usd}", view.credits),
        None => format!("{} credits", view.credits),
    };
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

/// Reports a job that was submitted and not waited for (`--no-wait`).
pub fn submitted(ctx: &Ctx, job: &JobRecord) {
    if ctx.out.json {
        ctx.out.json_value(&JobView::new(job, &[], Duration::ZERO));
    } else {
        ctx.out.line(job.id.as_str());
    }
    ctx.out.note(format!("Collect it with `conjure wait {}`.", job.id));
}

/// Progress on stderr, only on a terminal and without `--json` or `--quiet`.
pub fn observer(out: Output) -> impl Fn(Progress<'_>) + Send + Sync {
    move |event| match event {
        Progress::Job(Event::Polled { status, progress, elapsed, .. }) => {
            let pct = progress.map(|p| format!(" {p}%")).unwrap_or_default();
            out.progress(format!("  {status:?}{pct} after {:.0} s", elapsed.as_secs_f64()));
        }
        Progress::Saved { path, .. } => out.progress(format!("  saved {}", path.display())),
        Progress::Job(_) => {}
    }
}
