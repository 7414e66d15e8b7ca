//! `conjure wait`: resume polling jobs (after `--no-wait`, a crash, Ctrl-C or the hard stop),
//! then download their outputs.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use crate::commands::{Ctx, pay, report};
use crate::error::{CliError, classify};

/// Wait for jobs to finish and download their outputs.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Job ids (or unique prefixes, or provider request ids).
    #[arg(required = true)]
    pub jobs: Vec<String>,
    /// Directory for downloaded outputs (default: the current directory).
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: Option<PathBuf>,
}

pub async fn run(ctx: &Ctx, args: WaitArgs) -> anyhow::Result<()> {
    let session = ctx.session(ctx.journal()?)?;
    let runner = session.runner();
    let out_dir = pay::resume_dir(ctx, args.out.as_ref());
    let mut worst: Option<CliError> = None;
    for job in &args.jobs {
        let id = session.journal.resolve_id(job).map_err(crate::commands::jobs::lookup_error)?;
        let started = Instant::now();
        let result = pay::finish_or_interrupt(&runner, &id, &out_dir).await;
        if let Ok((job, outputs)) = &result {
            report::result(ctx, job, outputs, started.elapsed());
        }
        if let Err(e) = result {
            let e = classify(e);
            if args.jobs.len() == 1 {
                return Err(e.into());
            }
            ctx.out.error(&e);
            if worst.as_ref().is_none_or(|w| (e.exit as i32) > (w.exit as i32)) {
                worst = Some(e);
            }
        }
    }
    match worst {
        Some(e) => Err(CliError::silent(e.exit).into()),
        None => Ok(()),
    }
}
