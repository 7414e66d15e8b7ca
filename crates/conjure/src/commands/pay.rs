//! The paid path every generating command goes through: validate, quote, check duplicates and
//! limits, get approval, then hand the job to the runner.
//!
//! Approval comes from exactly one of: `--approve TOKEN` matching this request's quote, `--yes`,
//! or a person answering `y` on a terminal. Anything else prints the quote as
//! `confirmation_required` and exits 3 with nothing sent. Limits (`--max-cost`, the daily
//! budget) bind every form of approval. Nothing here sends twice: a request seen in the last
//! 24 hours is refused unless `--again`, and the runner never re-sends.

use std::io::BufRead as _;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use conjure_core::quote::Quote;
use conjure_core::runner::Runner;
use conjure_core::{Catalogue, JobRecord, JobSpec, JobState, JobStore, OutputRecord, WireRequest};
use conjure_journal::Journal;
use conjure_providers::katana::Katana;
use serde_json::json;

use crate::cli::PayArgs;
use crate::commands::Ctx;
use crate::commands::report;
use crate::error::{CliError, Exit, provider_error};
use crate::output::request_view;
use crate::settings::Limit;

const DUPLICATE_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// How a paid command ended, for the caller to report.
pub enum Outcome {
    /// `--dry-run`: the quote and the exact request; nothing sent.
    Quoted { quote: Quote, wire: WireRequest },
    /// `--no-wait`: accepted by the provider, not waited for.
    Submitted { job: JobRecord },
    /// Finished and delivered.
    Done { job: JobRecord, outputs: Vec<OutputRecord>, elapsed: Duration },
}

/// Runs a paid command and reports its outcome.
pub async fn run_and_report(
    ctx: &Ctx,
    spec: &JobSpec,
    pay: &PayArgs,
    retry_of: Option<&str>,
) -> anyhow::Result<()> {
    match run_paid(ctx, spec, pay, retry_of).await? {
        Outcome::Quoted { quote, wire } => show_quote(ctx, &quote, &wire, "quote"),
        Outcome::Submitted { job } => report::submitted(ctx, &job),
        Outcome::Done { job, outputs, elapsed } => report::result(ctx, &job, &outputs, elapsed),
    }
    Ok(())
}

/// Quotes `spec`, and sends it if approved. `retry_of` names the job a retry re-sends.
pub async fn run_paid(
    ctx: &Ctx,
    spec: &JobSpec,
    pay: &PayArgs,
    retry_of: Option<&str>,
) -> anyhow::Result<Outcome> {
    let catalogue = Catalogue::bundled();
    conjure_core::spec::validate(spec, catalogue)?;
    let wire = conjure_providers::katana::build_request(spec).map_err(|e| provider_error(&e))?;
    let price = Some(ctx.settings.katana_price);
    let quote = Quote::compute(spec, catalogue, price)?;

    if pay.dry_run {
        return Ok(Outcome::Quoted { quote, wire });
    }

    let journal = ctx.journal()?;
    if retry_of.is_none() && !pay.again {
        refuse_duplicate(&journal, &quote)?;
    }
    check_limits(ctx, &journal, &quote, pay)?;
    approve(ctx, &quote, &wire, pay)?;

    let session = ctx.session(journal)?;
    let runner = session.runner();
    let started = Instant::now();
    let job = runner.submit(spec, &wire, &quote, retry_of).await?;
    ctx.out.note(format!(
        "Submitted job {} (request {}): {} · {}",
        job.id,
        job.request_id.as_deref().unwrap_or("-"),
        job.model,
        crate::output::cost_phrase(quote.credits, quote.usd.map(|_| ctx.settings.katana_price)),
    ));
    if pay.no_wait && !job.state.is_terminal() {
        return Ok(Outcome::Submitted { job });
    }
    let out_dir = pay.out.clone().unwrap_or_else(|| ctx.settings.out_dir.clone());
    let (job, outputs) = finish_or_interrupt(&runner, &job.id, &out_dir).await?;
    Ok(Outcome::Done { job, outputs, elapsed: started.elapsed() })
}

/// [`finish`], unless Ctrl-C comes first: the job keeps running at the provider and stays
/// resumable, so an interrupt is reported as "still pending" (exit 8), never as a failure.
pub async fn finish_or_interrupt(
    runner: &Runner<'_, Katana, Journal>,
    job_id: &str,
    out_dir: &std::path::Path,
) -> anyhow::Result<(JobRecord, Vec<OutputRecord>)> {
    tokio::select! {
        result = finish(runner, job_id, out_dir) => result,
        _ = tokio::signal::ctrl_c() => Err(CliError::new(Exit::Pending, format!("Interrupted while waiting for job `{job_id}`"))
            .hint(format!("the job continues at the provider; `conjure wait {job_id}` resumes and downloads it"))
            .job(job_id)
            .into()),
    }
}

/// Waits for a submitted job and downloads its outputs. Shared with `conjure wait`.
pub async fn finish(
    runner: &Runner<'_, Katana, Journal>,
    job_id: &str,
    out_dir: &std::path::Path,
) -> anyhow::Result<(JobRecord, Vec<OutputRecord>)> {
    let record = runner.wait(job_id).await?;
    let outputs = runner.deliver(&record.id, out_dir).await?;
    let record = runner.store.get(&record.id)?;
    Ok((record, outputs))
}

pub fn show_quote(ctx: &Ctx, quote: &Quote, wire: &WireRequest, status: &str) {
    let request = request_view(wire, &ctx.settings.katana_base_url);
    if ctx.out.json {
        ctx.out.json_value(&json!({ "status": status, "quote": quote, "request": request }));
    } else {
        ctx.out.quote(quote, Some(ctx.settings.katana_price));
        ctx.out.line(serde_json::to_string_pretty(&request).unwrap_or_default());
    }
}

fn refuse_duplicate(journal: &Journal, quote: &Quote) -> Result<(), CliError> {
    let since = now_ms() - DUPLICATE_WINDOW.as_millis() as i64;
    let Some(earlier) = journal.find_fingerprint(&quote.fingerprint, since).map_err(store_err)?
    else {
        return Ok(());
    };
    // A request refused before the provider accepted it cost nothing: sending it again is fine.
    let never_accepted = earlier.request_id.is_none()
        && matches!(earlier.state, JobState::Failed | JobState::Rejected | JobState::Quoted);
    if never_accepted {
        return Ok(());
    }
    let ago = (now_ms() - earlier.created_at).max(0) / 60_000;
    Err(CliError::usage(format!(
        "The same request was sent {ago} min ago as job `{}` ({})",
        earlier.id, earlier.state
    ))
    .hint(format!(
        "`conjure status {id}` shows it and `conjure fetch {id}` downloads its outputs again; pass --again to pay for it again",
        id = earlier.id
    ))
    .job(earlier.id))
}

fn check_limits(
    ctx: &Ctx,
    journal: &Journal,
    quote: &Quote,
    pay: &PayArgs,
) -> Result<(), CliError> {
    let limit = match &pay.max_cost {
        Some(text) => Some(Limit::parse(text)?),
        None => ctx.settings.max_cost,
    };
    if let Some(limit) = limit {
        let over = match limit {
            Limit::Usd(max) => quote.usd.is_some_and(|u| u > max),
            Limit::Credits(max) => quote.credits > max,
        };
        if over {
            return Err(CliError::new(
                Exit::Budget,
                format!(
                    "The quote ({}) is above the cost limit ({}); nothing was sent",
                    crate::output::cost_phrase(quote.credits, Some(ctx.settings.katana_price)),
                    limit.describe()
                ),
            )
            .hint(
                "raise --max-cost (or limits.max_cost), or pick a cheaper model, duration or count",
            ));
        }
    }
    if let (Some(budget), Some(usd)) = (ctx.settings.daily_budget, quote.usd) {
        let since = now_ms() - DUPLICATE_WINDOW.as_millis() as i64;
        let spent: i64 = journal
            .list(false, 100_000)
            .map_err(store_err)?
            .iter()
            .filter(|j| j.created_at >= since && may_have_cost(j))
            .filter_map(|j| j.quoted_usd.map(conjure_core::Usd::micros))
            .sum();
        let spent = conjure_core::Usd::from_micros(spent);
        if spent + usd > budget {
            return Err(CliError::new(
                Exit::Budget,
                format!(
                    "This request ({usd}) would take the last 24 hours' spending to {} , above the daily budget of {budget}; nothing was sent",
                    spent + usd
                ),
            )
            .hint("raise limits.daily_budget (or CONJURE_DAILY_BUDGET), or wait"));
        }
    }
    Ok(())
}

/// Jobs that were accepted, or whose outcome is unknown, count against the budget.
fn may_have_cost(job: &JobRecord) -> bool {
    job.request_id.is_some() || job.state == JobState::Unknown
}

fn approve(ctx: &Ctx, quote: &Quote, wire: &WireRequest, pay: &PayArgs) -> Result<(), CliError> {
    if let Some(token) = &pay.approve {
        if token.trim() == quote.token {
            return Ok(());
        }
        return Err(CliError::usage("The approval token does not match this request; nothing was sent").hint(
            "the request, the price or the total changed since that quote; run the command without --approve to see the new quote",
        ));
    }
    if pay.yes {
        return Ok(());
    }
    if ctx.settings.interactive && !ctx.out.json {
        ctx.out.quote(quote, Some(ctx.settings.katana_price));
        eprint!("Send this request? [y/N] ");
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer).ok();
        if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
            return Ok(());
        }
        return Err(CliError::new(Exit::Confirm, "Not approved; nothing was sent"));
    }
    show_quote(ctx, quote, wire, "confirmation_required");
    if !ctx.out.json {
        ctx.out.note(format!(
            "Nothing was sent. To send exactly this request, run the same command with --approve {}",
            quote.token
        ));
    }
    Err(CliError::silent(Exit::Confirm))
}

#[expect(clippy::needless_pass_by_value, reason = "used as a `map_err` function")]
fn store_err(e: conjure_core::StoreError) -> CliError {
    CliError::new(Exit::Other, e.to_string())
}

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The runner for commands that resume jobs (wait, fetch, status).
pub fn resume_dir(ctx: &Ctx, out: Option<&PathBuf>) -> PathBuf {
    out.cloned().unwrap_or_else(|| ctx.settings.out_dir.clone())
}
