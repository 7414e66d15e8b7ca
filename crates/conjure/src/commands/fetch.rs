//! `conjure fetch`: download a finished job's outputs again (free), refreshing the provider's
//! links with one poll first. Finishes a job whose delivery was interrupted.

use clap::Args;
use conjure_app::{App, Connector};

use crate::cli::OutputArgs;
use crate::commands::{Ctx, gateway, report};

/// Download a finished job's outputs again.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Job id (or a unique prefix, or the provider's request id).
    pub job: String,
    #[command(flatten)]
    pub output: OutputArgs,
}

pub async fn run(ctx: &Ctx, args: FetchArgs) -> anyhow::Result<()> {
    // Jobs sent through a team gateway are polled and collected through it (`--gateway`).
    match gateway::app(ctx)? {
        Some(app) => Box::pin(run_with(ctx, &app, args)).await,
        None => Box::pin(run_with(ctx, &ctx.app, args)).await,
    }
}

async fn run_with<C: Connector>(ctx: &Ctx, app: &App<C>, args: FetchArgs) -> anyhow::Result<()> {
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
