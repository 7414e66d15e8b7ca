//! `conjure retry`: send a journalled request again, as a new job, after a new quote and
//! approval. The only way conjure ever re-sends a paid request.

use clap::Args;
use conjure_core::{JobState, JobStore as _};

use crate::cli::PayArgs;
use crate::commands::{Ctx, pay};
use crate::error::CliError;

/// Send a failed, rejected, unknown or expired job's request again (a new paid job, quoted
/// and approved like any other).
#[derive(Debug, Args)]
pub struct RetryArgs {
    /// Job id (or a unique prefix, or the provider's request id).
    pub job: String,
    #[command(flatten)]
    pub pay: PayArgs,
}

/// Longer than any submit's HTTP timeout.
const STALE_SUBMIT_MS: i64 = 10 * 60 * 1000;

pub async fn run(ctx: &Ctx, args: RetryArgs) -> anyhow::Result<()> {
    let journal = ctx.journal()?;
    let id = journal.resolve_id(&args.job).map_err(crate::commands::jobs::lookup_error)?;
    let job = journal.get(&id)?;
    match job.state {
        JobState::Unknown | JobState::Failed | JobState::Rejected | JobState::Expired => {}
        // A send interrupted before its answer was read, long enough ago that no process can
        // still be waiting on it: as uncertain as `unknown`.
        JobState::Submitting if pay::now_ms() - job.updated_at > STALE_SUBMIT_MS => {}
        JobState::Completed | JobState::Partial if args.pay.again => {}
        JobState::Completed | JobState::Partial => {
            return Err(CliError::usage(format!("Job `{id}` already completed"))
                .hint(format!("`conjure fetch {id}` downloads it again for free; pass --again to pay for a new one"))
                .into());
        }
        state => {
            return Err(CliError::usage(format!("Job `{id}` is still `{state}`"))
                .hint(format!("`conjure wait {id}` collects it"))
                .into());
        }
    }
    if matches!(job.state, JobState::Unknown | JobState::Submitting) && !ctx.out.json {
        ctx.out.warn(format!(
            "job {id} may already have been charged; sending it again may charge twice"
        ));
    }
    pay::run_and_report(ctx, &job.spec, &args.pay, Some(&id)).await
}
