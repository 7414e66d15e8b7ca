//! `conjure fetch`: download a finished job's outputs again (free), refreshing the provider's
//! links with one poll first. Finishes a job whose delivery was interrupted.

use clap::Args;

use crate::cli::OutputArgs;
use crate::commands::{Ctx, report};

/// Download a finished job's outputs again.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Job id (or a unique prefix, or the provider's request id).
    pub job: String,
    #[command(flatten)]
    pub output: OutputArgs,
}

pub async fn run(ctx: &Ctx, args: FetchArgs) -> anyhow::Result<()> {
    let app = &ctx.app;
    let session = app.session().await?;
    let (destination, deprecated) = args.output.destination();
    if let Some(note) = deprecated {
        ctx.out.warn(note);
    }
    let observer = report::observer(ctx.out, false);
    let done =
        app.fetch(&session, &args.job, destination.as_ref(), args.output.force, &observer).await?;
    report::result(ctx, &done.job, &done.outputs, done.elapsed);
    Ok(())
}
