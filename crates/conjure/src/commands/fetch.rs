//! `conjure fetch`: download a finished job's outputs again (free), refreshing the provider's
//! links with one poll first.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use conjure_core::JobStore as _;

use crate::commands::{Ctx, pay, report};

/// Download a finished job's outputs again.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Job id (or a unique prefix, or the provider's request id).
    pub job: String,
    /// Directory for downloaded outputs (default: the current directory).
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: Option<PathBuf>,
}

pub async fn run(ctx: &Ctx, args: FetchArgs) -> anyhow::Result<()> {
    let journal = ctx.journal()?;
    let id = journal.resolve_id(&args.job).map_err(crate::commands::jobs::lookup_error)?;
    let session = ctx.session(journal)?;
    let runner = session.runner();
    let started = Instant::now();
    // Fresh links if the provider still has the job; the recorded ones otherwise.
    let _ = runner.poll_once(&id).await;
    let outputs = runner.deliver(&id, &pay::resume_dir(ctx, args.out.as_ref())).await?;
    let job = session.journal.get(&id)?;
    report::result(ctx, &job, &outputs, started.elapsed());
    Ok(())
}
