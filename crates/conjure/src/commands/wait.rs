//! `conjure wait`: resume polling jobs (after `--no-wait`, a crash, Ctrl-C or the hard stop),
//! then download their outputs. Each job is polled through its own provider.

use clap::Args;
use conjure_app::views::{ErrorView, JobView};
use conjure_app::{App, Connector, Destination};
use serde_json::json;

use crate::cli::OutputArgs;
use crate::commands::{Ctx, ctrl_c, gateway, report};
use crate::error::CliError;

/// Wait for jobs to finish and download their outputs.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Job ids (or unique prefixes, or provider request ids).
    #[arg(required = true)]
    pub jobs: Vec<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

pub async fn run(ctx: &Ctx, args: WaitArgs) -> anyhow::Result<()> {
    // Jobs sent through a team gateway are polled and collected through it (`--gateway`).
    match gateway::app(ctx)? {
        Some(app) => Box::pin(run_with(ctx, &app, args)).await,
        None => Box::pin(run_with(ctx, &ctx.app, args)).await,
    }
}

async fn run_with<C: Connector>(ctx: &Ctx, app: &App<C>, args: WaitArgs) -> anyhow::Result<()> {
    let session = app.session().await?;
    let (destination, deprecated) = args.output.destination();
    if let Some(note) = deprecated {
        ctx.out.warn(note);
    }
    if args.jobs.len() > 1 && !matches!(destination, None | Some(Destination::Dir(_))) {
        return Err(CliError::usage("-o names the files of one job; these are several jobs")
            .hint("give a folder with --out-dir, or wait for the jobs one at a time")
            .into());
    }
    let force = args.output.force;
    let observer = report::observer(ctx.out, false);
    if args.jobs.len() == 1 {
        let done = app
            .wait(&session, &args.jobs[0], destination.as_ref(), force, &observer, ctrl_c())
            .await?;
        report::result(ctx, &done.job, &done.outputs, done.elapsed);
        return Ok(());
    }
    // Several jobs: one JSON object with a result or an error per job, in order.
    let mut results = Vec::new();
    let mut worst: Option<CliError> = None;
    for job in &args.jobs {
        match app.wait(&session, job, destination.as_ref(), force, &observer, ctrl_c()).await {
            Ok(done) => {
                if !ctx.out.json {
                    for o in &done.outputs {
                        ctx.out.line(&o.path);
                    }
                }
                report::summary(ctx.out, &done.job, &done.outputs, done.elapsed);
                results.push(serde_json::to_value(JobView::new(
                    &done.job,
                    &done.outputs,
                    done.elapsed,
                ))?);
            }
            Err(e) => {
                let e = CliError::from(e);
                let id = e.job_id.as_deref().unwrap_or(job);
                results.push(serde_json::to_value(ErrorView::new(
                    e.exit.kind(),
                    &e.message,
                    e.hint.as_deref(),
                    Some(id),
                    e.request_id.as_deref(),
                    None,
                ))?);
                // The JSON object comes at the end; people read each failure as it happens.
                ctx.out.human().error(&e);
                if worst.as_ref().is_none_or(|w| (e.exit as i32) > (w.exit as i32)) {
                    worst = Some(e);
                }
            }
        }
    }
    if ctx.out.json {
        ctx.out.json_value(&json!({ "jobs": results }));
    }
    match worst {
        Some(e) => Err(CliError::silent(e.exit).into()),
        None => Ok(()),
    }
}
