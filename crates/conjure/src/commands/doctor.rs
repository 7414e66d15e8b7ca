//! `conjure doctor`: checks ffmpeg, fonts, credentials, the journal, pending jobs, folders and
//! disk space, and says what to do about each (`conjure_app::doctor` does the looking).
//!
//! Exit 0 when nothing failed (warnings allowed); exit 1 (`error`) when any check failed, after
//! the whole report was printed. Never prints a credential's value.

use clap::Args;
use conjure_app::doctor::Level;

use crate::commands::Ctx;
use crate::error::{CliError, Exit};

/// Check that conjure is ready, and what is waiting for you.
///
/// ffmpeg and its features, fonts, credentials (presence, source, file mode; never their
/// values), the journal's integrity and rules, jobs waiting for you (running, unknown, never
/// saved), folders and disk space; each `ok`, `warn` or `fail` with what to do. Exits 1 when a
/// check fails, 0 otherwise (warnings allowed).
#[derive(Debug, Args)]
pub struct DoctorArgs {}

pub async fn run(ctx: &Ctx, _args: &DoctorArgs) -> anyhow::Result<()> {
    let view = ctx.app.doctor().await;
    if ctx.out.json {
        ctx.out.json_value(&view);
    } else {
        for check in &view.checks {
            ctx.out.line(format!(
                "{:<4}  {:<22} {}",
                check.status.as_str(),
                check.check,
                check.message
            ));
            for detail in &check.details {
                ctx.out.line(format!("{:<28} - {detail}", ""));
            }
            if let Some(hint) = &check.hint
                && check.status != Level::Ok
            {
                ctx.out.line(format!("{:<28} hint: {hint}", ""));
            }
        }
        let count = |level| view.checks.iter().filter(|c| c.status == level).count();
        ctx.out.note(format!(
            "{} ok, {} warning(s), {} failed",
            count(Level::Ok),
            count(Level::Warn),
            count(Level::Fail)
        ));
    }
    if view.status == Level::Fail {
        return Err(CliError::silent(Exit::Other).into());
    }
    Ok(())
}
