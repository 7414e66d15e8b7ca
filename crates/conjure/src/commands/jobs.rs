//! `conjure jobs`: the journal, newest first.

use clap::Args;
use conjure_core::JobStore as _;
use serde_json::json;

use crate::commands::Ctx;
use crate::error::{CliError, Exit};

/// List journalled jobs, newest first.
#[derive(Debug, Args)]
pub struct JobsArgs {
    /// Only jobs still outstanding (quoted, submitting, submitted, processing, unknown).
    #[arg(long)]
    pub pending: bool,
    /// How many to show.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

/// A journal look-up failure as the user sees it.
#[expect(clippy::needless_pass_by_value, reason = "used as a `map_err` function")]
pub fn lookup_error(e: conjure_journal::JournalError) -> CliError {
    CliError::new(Exit::Usage, e.to_string()).hint("`conjure jobs` lists job ids")
}

pub fn run(ctx: &Ctx, args: &JobsArgs) -> anyhow::Result<()> {
    let journal = ctx.journal()?;
    let jobs = journal.list(args.pending, args.limit)?;
    let price = ctx.settings.katana_price;
    let totals = journal.totals().map_err(lookup_error)?;
    // What may have been charged without a report: the quotes of `unknown` jobs.
    let exposure: conjure_core::Credits = journal
        .list(true, usize::MAX)?
        .iter()
        .filter(|j| j.state == conjure_core::JobState::Unknown)
        .map(|j| j.quoted_credits)
        .sum();
    let totals_json: Vec<_> = totals
        .iter()
        .map(|t| {
            json!({
                "provider": t.provider, "jobs": t.jobs, "quoted_credits": t.quoted,
                "charged_credits": t.spent, "charged_usd": price.usd(t.spent),
            })
        })
        .collect();
    if ctx.out.json {
        let list: Vec<_> = jobs
            .iter()
            .map(|j| {
                json!({
                    "job_id": j.id, "provider": j.provider, "kind": j.kind, "model": j.model,
                    "status": j.state, "request_id": j.request_id, "quoted_credits": j.quoted_credits,
                    "credits": j.credits_spent, "created_at": j.created_at, "prompt": j.prompt,
                    "outputs": j.outputs.len(),
                })
            })
            .collect();
        ctx.out.json_value(&json!({
            "jobs": list, "totals": totals_json, "unknown_exposure_credits": exposure,
        }));
        return Ok(());
    }
    if jobs.is_empty() {
        ctx.out.note(if args.pending { "No pending jobs." } else { "No jobs yet." });
        return Ok(());
    }
    for j in &jobs {
        let credits = j.credits_spent.unwrap_or(j.quoted_credits);
        let mut prompt: String = j.prompt.chars().take(40).collect();
        if j.prompt.chars().count() > 40 {
            prompt.push('…');
        }
        ctx.out.line(format!(
            "{:<14} {:<10} {:<6} {:<22} {:>14}  {}",
            j.id,
            j.state.as_str(),
            j.kind.as_str(),
            j.model,
            crate::output::cost_phrase(credits, Some(price)),
            prompt
        ));
    }
    for t in &totals {
        ctx.out.note(format!(
            "{}: {} job(s), charged {} as reported by the provider",
            t.provider,
            t.jobs,
            crate::output::cost_phrase(t.spent, Some(price))
        ));
    }
    if exposure > conjure_core::Credits::ZERO {
        ctx.out.warn(format!(
            "jobs marked `unknown` may have been charged up to {} more; see `conjure status JOB`",
            crate::output::cost_phrase(exposure, Some(price))
        ));
    }
    Ok(())
}
