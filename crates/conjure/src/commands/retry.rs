//! `conjure retry`: send a journalled request again, as a new paid job: freshly quoted and
//! approved, and under the 24-hour duplicate rule like any request (a second retry of the same
//! job is refused, naming the first, unless `--again`). The only way conjure ever re-sends a
//! paid request.

use clap::Args;
use conjure_core::JobState;

use crate::cli::PayArgs;
use crate::commands::{Ctx, pay};

/// Send a failed, rejected, unknown or expired job's request again (a new paid job, quoted
/// and approved like any other).
#[derive(Debug, Args)]
pub struct RetryArgs {
    /// Job id (or a unique prefix, or the provider's request id).
    pub job: String,
    #[command(flatten)]
    pub pay: PayArgs,
}

pub async fn run(ctx: &Ctx, args: RetryArgs) -> anyhow::Result<()> {
    let session = ctx.app.session().await?;
    let (order, job) = ctx.app.retry_order(&session, &args.job, args.pay.approval.again).await?;
    drop(session);
    if job.state == JobState::Unknown && !ctx.out.json && !args.pay.approval.dry_run {
        ctx.out.warn(format!(
            "job {} may already have been charged; sending it again may charge twice",
            job.id
        ));
    }
    pay::run(ctx, order, &args.pay).await
}
