//! `conjure status`: what the journal knows about a job, refreshed by one free poll when the
//! job is still running and credentials are at hand.

use clap::Args;
use conjure_core::JobStore as _;
use serde_json::json;

use crate::commands::{Ctx, report};

/// Show a job's state, cost, request id and outputs (a job id, a unique prefix of one, or the
/// provider's request id).
#[derive(Debug, Args)]
pub struct StatusArgs {
    pub job: String,
    /// Only read the journal; do not ask the provider.
    #[arg(long)]
    pub offline: bool,
}

pub async fn run(ctx: &Ctx, args: StatusArgs) -> anyhow::Result<()> {
    let journal = ctx.journal()?;
    let id = journal.resolve_id(&args.job).map_err(crate::commands::jobs::lookup_error)?;
    let mut job = journal.get(&id)?;
    let mut refreshed = false;
    if !args.offline
        && job.state.is_pollable()
        && let Ok(session) = ctx.session(ctx.journal()?)
    {
        // A failed look leaves the journal as it was; the state shown is then the recorded one.
        refreshed = session.runner().poll_once(&id).await.is_ok();
        job = journal.get(&id)?;
    }
    let price = ctx.settings.katana_price;
    let spent = job.credits_spent;
    if ctx.out.json {
        ctx.out.json_value(&json!({
            "job_id": job.id,
            "provider": job.provider,
            "kind": job.kind,
            "model": job.model,
            "prompt": job.prompt,
            "status": job.state,
            "request_id": job.request_id,
            "quoted_credits": job.quoted_credits,
            "quoted_usd": job.quoted_usd,
            "credits": spent,
            "usd": spent.map(|c| price.usd(c)),
            "error": job.error,
            "retry_of": job.retry_of,
            "created_at": conjure_core::runner::rfc3339_utc(std::time::UNIX_EPOCH + std::time::Duration::from_millis(job.created_at.max(0) as u64)),
            "refreshed": refreshed,
            "outputs": job.outputs.iter().map(report::OutputView::from).collect::<Vec<_>>(),
        }));
        return Ok(());
    }
    ctx.out.line(format!("{}  {}  {} · {}", job.id, job.state, job.provider, job.model));
    ctx.out.line(format!("  prompt:     {}", job.prompt));
    ctx.out.line(format!("  request id: {}", job.request_id.as_deref().unwrap_or("-")));
    ctx.out.line(format!(
        "  quoted:     {}",
        crate::output::cost_phrase(job.quoted_credits, Some(price))
    ));
    if let Some(c) = spent {
        ctx.out.line(format!("  charged:    {}", crate::output::cost_phrase(c, Some(price))));
    }
    if let Some(e) = &job.error {
        ctx.out.line(format!("  note:       {e}"));
    }
    for o in &job.outputs {
        ctx.out.line(format!("  output:     {}", o.path));
    }
    if job.state == conjure_core::JobState::Unknown {
        ctx.out.note(format!(
            "The outcome is unknown: the request may have been charged. Check the provider's dashboard; `conjure retry {}` sends it again after a new approval.",
            job.id
        ));
    }
    Ok(())
}
