//! The command line as clap types, and nothing else: raw flags, no validation.
//!
//! Each subcommand's arguments live in its own file under `commands/` (the doc comment of an
//! `XArgs` struct is its help text); this file only assembles them. Resolving flags, the
//! environment and the config file into one validated settings value is `settings.rs`'s job.

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};
use conjure_app::Destination;

use crate::commands;

/// Generate images and video through paid APIs, safely: every paid call is quoted and approved
/// first, sent once, journalled, and delivered to disk.
#[derive(Debug, Parser)]
#[command(name = "conjure", version, propagate_version = true, disable_help_subcommand = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command accepts.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Print one JSON object on stdout instead of human output.
    #[arg(long, global = true)]
    pub json: bool,
    /// More logging on stderr (-v info, -vv debug). Secrets are never logged.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Image(commands::image::ImageArgs),
    Video(commands::video::VideoArgs),
    Submit(commands::submit::SubmitArgs),
    Quote(commands::quote::QuoteArgs),
    Status(commands::status::StatusArgs),
    Wait(commands::wait::WaitArgs),
    Fetch(commands::fetch::FetchArgs),
    Jobs(commands::jobs::JobsArgs),
    Retry(commands::retry::RetryArgs),
    Models(commands::models::ModelsArgs),
    Balance(commands::balance::BalanceArgs),
    Auth(commands::auth::AuthArgs),
    Sandbox(commands::sandbox::SandboxArgs),
    Demo(commands::demo::DemoArgs),
    Edit(commands::edit::EditArgs),
    Media(commands::media::MediaArgs),
}

/// How a paid command is approved and bounded. Shared by image, video, submit and retry.
#[derive(Debug, Args, Clone, Default)]
pub struct PayArgs {
    /// Send the request quoted with this token (from a `confirmation_required` answer).
    #[arg(long, value_name = "TOKEN")]
    pub approve: Option<String>,
    /// Approve without a token (for scripts): up to $2 unless --max-cost (or limits.yes_max_cost)
    /// says otherwise; still bound by the budget.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Refuse to send if the quote is above this: dollars (`0.50`, `$0.50`) or credits (`120cr`).
    #[arg(long, value_name = "LIMIT")]
    pub max_cost: Option<String>,
    /// Send even though the same request was sent in the last 24 hours.
    #[arg(long)]
    pub again: bool,
    /// Show the quote and the exact request body; send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Submit and return at once with the job id; collect it later with `conjure wait`.
    #[arg(long)]
    pub no_wait: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Where downloaded results go. Shared by every command that downloads.
#[derive(Debug, Args, Clone, Default)]
pub struct OutputArgs {
    // clap turns a literal `{n}` in help into a line break; a word joiner keeps it visible and
    // `Destination` reads the joined spelling as `{n}` too, in case it is copied.
    #[arg(
        long,
        short = 'o',
        value_name = "PATH",
        help = "The output file (fox.png); for several files a pattern with {\u{2060}n} (fox-{\u{2060}n}.png) or an existing folder"
    )]
    pub output: Option<PathBuf>,
    /// Folder for the outputs, named <job>-<item>-<n>.<ext> (default: output.dir in the config
    /// file, else the current directory).
    #[arg(long, value_name = "DIR", conflicts_with = "output")]
    pub out_dir: Option<PathBuf>,
    /// Replace files that -o names if they exist (never done otherwise).
    #[arg(long)]
    pub force: bool,
    /// Deprecated spelling of --out-dir.
    #[arg(long = "out", value_name = "DIR", hide = true, conflicts_with_all = ["output", "out_dir"])]
    pub out_deprecated: Option<PathBuf>,
}

impl OutputArgs {
    /// The destination these flags name (`None`: the configured folder), with a note for a
    /// deprecated spelling.
    pub fn destination(&self) -> (Option<Destination>, Option<String>) {
        if let Some(dir) = &self.out_deprecated {
            return (
                Some(Destination::Dir(dir.clone())),
                Some("--out is deprecated and goes away in the next release; use --out-dir".into()),
            );
        }
        if self.output.is_none() && self.out_dir.is_none() {
            return (None, None);
        }
        let (d, note) = Destination::from_flags(
            self.output.as_deref(),
            self.out_dir.as_deref(),
            Path::new("."),
        );
        (Some(d), note)
    }
}
