//! `conjure spend`: what conjure's requests cost, from the journal: charged, reserved and
//! `unknown` (may have been charged), grouped by provider, model or day, and what is left of
//! every budget. Reads the journal only; sends nothing.

use clap::{Args, ValueEnum};
use conjure_app::spend::{Amount, SpendBy, SpendRow};
use conjure_app::timefmt::{now_ms, parse_since};

use crate::commands::Ctx;
use crate::error::CliError;

/// Report spending from the journal: charged, reserved and unknown exposure, and the budgets.
#[derive(Debug, Args)]
pub struct SpendArgs {
    /// Count jobs created since then: a UTC date (`2026-11-01`), a UTC time
    /// (`2026-11-01T09:00:00Z`) or a span back from now (`7d`, `12h`). Default: the last 30 days.
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Group rows by provider, model or day (UTC).
    #[arg(long, value_enum, default_value = "provider")]
    pub by: By,
}

/// How rows are grouped. (No doc comments on the variants: they would make every help long.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum By {
    Provider,
    Model,
    Day,
}

pub async fn run(ctx: &Ctx, args: &SpendArgs) -> anyhow::Result<()> {
    let since = match &args.since {
        None => None,
        Some(text) => Some(parse_since(text, now_ms()).ok_or_else(|| {
            CliError::usage(format!("`{text}` is not a time --since understands"))
                .hint("give a UTC date (`2026-11-01`), a UTC time (`2026-11-01T09:00:00Z`) or a span back from now (`7d`, `12h`)")
        })?),
    };
    let by = match args.by {
        By::Provider => SpendBy::Provider,
        By::Model => SpendBy::Model,
        By::Day => SpendBy::Day,
    };
    let session = ctx.app.session().await?;
    let view = ctx.app.spend(&session, since, by).await?;
    if ctx.out.json {
        ctx.out.json_value(&view);
        return Ok(());
    }
    ctx.out.line(format!("Since {} (sandbox jobs are not counted):", view.since));
    if view.rows.is_empty() {
        ctx.out.line("  nothing spent");
    } else {
        let head = match by {
            SpendBy::Provider => "provider",
            SpendBy::Model => "model",
            SpendBy::Day => "day",
        };
        ctx.out.line(format!(
            "  {head:<24} {:<11} {:>5}  {:>24}  {:>24}  {:>24}",
            "provider", "jobs", "charged", "reserved", "unknown"
        ));
        for r in &view.rows {
            row_line(ctx, r);
        }
        if by != SpendBy::Provider {
            ctx.out.line("  totals:");
            for r in &view.totals {
                row_line(ctx, r);
            }
        }
    }
    if view.budgets.is_empty() {
        ctx.out
            .note("No budgets are set: `conjure config init` writes a config file that shows how.");
    }
    for b in &view.budgets {
        let left =
            if b.left.is_empty() { String::new() } else { format!(", {} left", b.left.join(", ")) };
        ctx.out.line(format!("{} {}: {} used{left}", b.setting, b.limit, b.used.join(", ")));
        if let Some(p) = &b.problem {
            ctx.out.line(format!("  {p}"));
        }
    }
    Ok(())
}

fn amount(a: &Amount) -> String {
    match a.usd {
        Some(u) if a.credits != conjure_core::Credits::ZERO => format!("{} cr ≈ {u}", a.credits),
        _ => format!("{} cr", a.credits),
    }
}

fn row_line(ctx: &Ctx, r: &SpendRow) {
    ctx.out.line(format!(
        "  {:<24} {:<11} {:>5}  {:>24}  {:>24}  {:>24}",
        r.key,
        r.provider.as_str(),
        r.jobs,
        amount(&r.charged),
        amount(&r.reserved),
        amount(&r.unknown)
    ));
}
