//! `conjure catalogue check`: whether the catalogue in use may be stale.
//!
//! Katana generates its catalogue from its `llms.txt`; the Katana skill keeps that file's
//! sha256 and re-checks it (spec 17.8). conjure does the same: the hash is compared with the one
//! the catalogue in use was made from (the built-in snapshot's, or the last `models --refresh`'s).
//! A change is information, not a failure: the command exits 0 either way and says what to do.
//! The same check runs by itself before a paid request, at most once a day (see
//! `conjure_app::catalogue`).

use clap::{Args, Subcommand};

use crate::commands::Ctx;

/// The model catalogue: check whether it may be stale (`conjure models --refresh` updates it).
#[derive(Debug, Args)]
pub struct CatalogueArgs {
    #[command(subcommand)]
    pub what: CatalogueWhat,
}

#[derive(Debug, Subcommand)]
pub enum CatalogueWhat {
    /// Fetch Katana's llms.txt (no credentials needed) and compare its sha256 with the one the
    /// catalogue in use was made from; exits 0 whether or not it changed.
    Check,
}

pub async fn run(ctx: &Ctx, args: &CatalogueArgs) -> anyhow::Result<()> {
    match args.what {
        CatalogueWhat::Check => check(ctx).await,
    }
}

async fn check(ctx: &Ctx) -> anyhow::Result<()> {
    let view = ctx.app.check_catalogue().await?;
    if ctx.out.json {
        ctx.out.json_value(&view);
    } else {
        ctx.out.line(view.summary());
        let of = if view.catalogue == "refreshed" { "at refresh" } else { "built-in" };
        let rows = [
            ("llms.txt".to_owned(), view.url.clone()),
            ("sha256 now".to_owned(), view.sha256.clone()),
            (format!("sha256 {of}"), view.stored_sha256.clone()),
            ("checked".to_owned(), view.checked_at.clone()),
        ];
        for (label, value) in rows {
            ctx.out.line(format!("  {label:<18}{value}"));
        }
        if let Some(last) = &view.last_check {
            let changed = match &last.sha256 {
                Some(s) if *s == view.sha256 => "the same llms.txt",
                Some(_) => "a different llms.txt",
                None => "no answer",
            };
            ctx.out.line(format!("  {:<18}{} ({changed})", "last check", last.checked_at));
        }
    }
    if let Some(advice) = &view.advice {
        ctx.out.note(format!("next: {advice}"));
    }
    Ok(())
}
