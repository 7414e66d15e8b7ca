//! `conjure jobs`: the journal, newest first; `--pending` shows what needs attention: jobs
//! running or being sent, outcomes unknown, and results finished but never saved.

use clap::Args;
use conjure_core::{Credits, JobFilter};

use crate::commands::Ctx;

/// List journalled jobs, newest first.
#[derive(Debug, Args)]
pub struct JobsArgs {
    /// Only what is outstanding: running, being sent, unknown, or finished but not saved.
    #[arg(long)]
    pub pending: bool,
    /// How many to show.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Show each job with the jobs made from it (Midjourney button presses) beneath it.
    #[arg(long, conflicts_with = "pending")]
    pub tree: bool,
}

pub async fn run(ctx: &Ctx, args: &JobsArgs) -> anyhow::Result<()> {
    let session = ctx.app.session().await?;
    if args.tree {
        let view = ctx.app.tree(&session, args.limit).await?;
        if ctx.out.json {
            ctx.out.json_value(&view);
        } else if view.jobs.is_empty() {
            ctx.out.note("No jobs yet.");
        } else {
            for node in &view.jobs {
                tree_lines(ctx, node, "", "");
            }
        }
        return Ok(());
    }
    let filter = if args.pending { JobFilter::Pending } else { JobFilter::All };
    let view = ctx.app.list(&session, filter, args.limit).await?;
    if ctx.out.json {
        ctx.out.json_value(&view);
        return Ok(());
    }
    if view.jobs.is_empty() {
        ctx.out.note(if args.pending { "No pending jobs." } else { "No jobs yet." });
        return Ok(());
    }
    for j in &view.jobs {
        let price = ctx.app.config.price(j.provider);
        let credits = j.credits;
        let mut prompt: String = j.prompt.chars().take(40).collect();
        if j.prompt.chars().count() > 40 {
            prompt.push('…');
        }
        let status = match (j.sandbox, j.undelivered) {
            (true, _) => "sandbox",
            (false, true) => "undelivered",
            (false, false) => j.status.as_str(),
        };
        ctx.out.line(format!(
            "{:<14} {:<11} {:<6} {:<22} {:>14}  {}",
            j.job_id,
            status,
            j.kind.as_str(),
            j.model,
            crate::output::cost_phrase(credits, price),
            prompt
        ));
        if (args.pending || j.status == conjure_core::JobState::Expired)
            && let Some(hint) = &j.hint
        {
            ctx.out.line(format!("{:<14} hint: {hint}", ""));
        }
    }
    for t in &view.totals {
        ctx.out.note(format!(
            "{}: {} job(s), charged {} as reported by the provider",
            t.provider,
            t.jobs,
            crate::output::cost_phrase(t.charged_credits, ctx.app.config.price(t.provider))
        ));
    }
    if view.unknown_exposure_credits > Credits::ZERO {
        ctx.out.warn(format!(
            "jobs marked `unknown` (or still being sent) may have been charged up to {} credits more; see `conjure status JOB`",
            view.unknown_exposure_credits
        ));
    }
    Ok(())
}

/// One line for `node`, then its children drawn beneath it.
fn tree_lines(ctx: &Ctx, node: &conjure_app::lineage::TreeNode, lead: &str, rest: &str) {
    let j = &node.job;
    let price = ctx.app.config.price(j.provider);
    let how = node.button.as_deref().map(|b| format!("{b} → ")).unwrap_or_default();
    // A button press's prompt is its parent's; the button already says what it did.
    let shown = if node.button.is_some() { "" } else { j.prompt.as_str() };
    let mut prompt: String = shown.chars().take(40).collect();
    if shown.chars().count() > 40 {
        prompt.push('…');
    }
    let status = if j.sandbox { "sandbox" } else { j.status.as_str() };
    ctx.out.line(format!(
        "{lead}{how}{} {status} {} {}  {}",
        j.job_id,
        j.model,
        crate::output::cost_phrase(j.credits, price),
        prompt
    ));
    let n = node.children.len();
    for (i, child) in node.children.iter().enumerate() {
        let last = i + 1 == n;
        let branch = format!("{rest}{}", if last { "└─ " } else { "├─ " });
        let below = format!("{rest}{}", if last { "   " } else { "│  " });
        tree_lines(ctx, child, &branch, &below);
    }
}
