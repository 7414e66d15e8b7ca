//! `conjure open JOB`: a job's delivered files, opened with the system viewer (`xdg-open` on
//! Linux, `open` on macOS) when a person is at a terminal, else their absolute paths on
//! stdout (one JSON object with `--json`). It reads the journal only: no provider is asked and
//! nothing is spent. A job with nothing on disk gets the hint that collects it.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use clap::Args;
use conjure_app::views::OpenView;

use crate::commands::Ctx;
use crate::error::CliError;

/// Open a job's delivered files with the system viewer, or print their absolute paths.
#[derive(Debug, Args)]
pub struct OpenArgs {
    /// Job id (or a unique prefix, or the provider's request id).
    pub job: String,
    /// Print the paths instead of opening them, even on a terminal.
    #[arg(long)]
    pub print: bool,
}

/// The system viewer's program name on this platform.
const VIEWER: &str = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };

/// `program` on `PATH`, if it is there.
fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| p.is_file())
}

fn absolute(path: &str) -> String {
    let p = Path::new(path);
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()).display().to_string()
}

pub async fn run(ctx: &Ctx, args: &OpenArgs) -> anyhow::Result<()> {
    let session = ctx.app.session().await?;
    // The journal's record only: `refresh: false` asks no provider anything.
    let status = ctx.app.status(&session, &args.job, false).await?;
    let job = status.job_id.clone();
    let (paths, missing): (Vec<String>, Vec<String>) =
        status.outputs.iter().map(|o| absolute(&o.path)).partition(|p| Path::new(p).is_file());
    if paths.is_empty() {
        let hint = status.hint.clone().unwrap_or_else(|| {
            format!("`conjure fetch {job}` downloads its outputs again (free), if the provider still has them")
        });
        let what = if missing.is_empty() {
            format!("Job `{job}` ({}) has no delivered outputs", status.status)
        } else {
            format!("Job `{job}`'s outputs are no longer on disk: {}", missing.join(", "))
        };
        let mut err = CliError::usage(what).hint(hint);
        err.job_id = Some(job.to_string());
        return Err(err.into());
    }
    for m in &missing {
        ctx.out.warn(format!("{m} is no longer on disk; `conjure fetch {job}` downloads it again"));
    }
    let viewer = (!args.print && !ctx.out.json && std::io::stdout().is_terminal())
        .then(|| on_path(VIEWER))
        .flatten();
    let opened = viewer.is_some_and(|viewer| {
        paths.iter().all(|p| {
            Command::new(&viewer)
                .arg(p)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
    });
    if ctx.out.json {
        ctx.out.json_value(&OpenView {
            job_id: job,
            status: status.status,
            paths,
            missing,
            opened,
        });
    } else if opened {
        for p in &paths {
            ctx.out.note(format!("opened {p}"));
        }
    } else {
        for p in &paths {
            ctx.out.line(p);
        }
    }
    Ok(())
}
