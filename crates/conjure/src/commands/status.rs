//! `conjure status`: what the journal knows about a job, refreshed by one free poll (through
//! the job's own provider) when the job is still running and credentials are at hand.

use clap::Args;

use crate::commands::Ctx;

/// Show a job's state, cost, request id and outputs (a job id, a unique prefix of one, or the
/// provider's request id).
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Job id (or a unique prefix, or the provider's request id).
    pub job: String,
    /// Only read the journal; do not ask the provider.
    #[arg(long)]
    pub offline: bool,
}

pub async fn run(ctx: &Ctx, args: StatusArgs) -> anyhow::Result<()> {
    let session = ctx.app.session().await?;
    let view = ctx.app.status(&session, &args.job, !args.offline).await?;
    if ctx.out.json {
        ctx.out.json_value(&view);
        return Ok(());
    }
    let price = ctx.app.config.price(view.provider);
    ctx.out.line(format!("{}  {}  {} · {}", view.job_id, view.status, view.provider, view.model));
    ctx.out.line(format!("  prompt:     {}", view.prompt));
    ctx.out.line(format!("  request id: {}", view.request_id.as_deref().unwrap_or("-")));
    ctx.out
        .line(format!("  created:    {}", crate::commands::report::local_time(&view.created_at)));
    ctx.out.line(format!(
        "  quoted:     {}",
        crate::output::cost_phrase(view.quoted_credits, view.quoted_usd.and(price))
    ));
    if let Some(c) = view.charged_credits {
        ctx.out
            .line(format!("  charged:    {}", crate::output::cost_phrase(c, view.usd.and(price))));
    } else if !conjure_providers::registry::capabilities(view.provider).reports_charges
        && view.status.is_terminal()
    {
        ctx.out.line(format!(
            "  charged:    unknown ({} reports no charge; the quote is its price table's)",
            view.provider
        ));
    }
    if let Some(e) = &view.error {
        ctx.out.line(format!("  note:       {e}"));
    }
    for o in &view.outputs {
        ctx.out.line(format!("  output:     {}", o.path));
    }
    if let Some(text) = &view.text {
        if let (Some(i), Some(o)) = (text.usage.prompt_tokens, text.usage.completion_tokens) {
            ctx.out.line(format!("  tokens:     {i} in / {o} out"));
        }
        if let Some(r) = text.credits_reserved {
            ctx.out.line(format!(
                "  reserved:   {r} credits, refunded {}",
                text.credits_refunded.map_or_else(|| "-".to_owned(), |c| c.to_string())
            ));
        }
        if let Some(p) = &text.privacy {
            ctx.out.line(format!("  privacy:    {p}"));
        }
        if !text.answer.is_empty() {
            let what = if text.partial { "answer (cut short)" } else { "answer" };
            ctx.out.line(format!("  {what}:"));
            for line in text.answer.lines() {
                ctx.out.line(format!("    {line}"));
            }
        }
    }
    if let Some(tag) = &view.tag {
        ctx.out.line(format!("  tag:        {tag}"));
    }
    if let Some(l) = &view.lineage {
        if let Some(p) = &l.parent {
            let how = l.button.as_deref().map(|b| format!(" by {b}")).unwrap_or_default();
            ctx.out.line(format!("  made from:  {} ({}){how}", p.job_id, p.status));
        }
        for c in &l.children {
            let how = c.button.as_deref().unwrap_or("-");
            ctx.out.line(format!("  child:      {how} → {} ({})", c.job_id, c.status));
        }
        if !l.buttons.is_empty() {
            let names: Vec<String> = l
                .buttons
                .iter()
                .map(|b| match b.pressed_by.len() {
                    0 => b.name.clone(),
                    n => format!("{} (pressed {n}×)", b.name),
                })
                .collect();
            ctx.out.line(format!("  buttons:    {}", names.join(", ")));
            ctx.out.note(format!("press one with `conjure button {} BUTTON`", view.job_id));
        }
    }
    for w in &view.warnings {
        ctx.out.warn(w);
    }
    if let Some(hint) = &view.hint {
        ctx.out.note(format!("hint: {hint}"));
    }
    Ok(())
}
