//! `conjure fetch`: download a finished job's outputs again (free), refreshing the provider's
//! links with one poll first. Finishes a job whose delivery was interrupted.

use std::path::PathBuf;

use clap::Args;

use crate::commands::{Ctx, report};

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
    let app = &ctx.app;
    let session = app.session().await?;
    let out_dir = app.out_dir(args.out.as_deref());
    let done = app.fetch(&session, &args.job, &out_dir, &report::observer(ctx.out)).await?;
    report::result(ctx, &done.job, &done.outputs, done.elapsed);
    Ok(())
}
