//! The command line as clap types, and nothing else: raw flags, no validation.
//!
//! Each subcommand's arguments live in its own file under `commands/` (the doc comment of an
//! `XArgs` struct is its help text); this file only assembles them. Resolving flags, the
//! environment and the config file into one validated settings value is `settings.rs`'s job.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{Args, CommandFactory as _, FromArgMatches as _, Parser, Subcommand, ValueEnum};
use conjure_app::Destination;

use crate::commands;

/// Generate images and video through paid APIs, safely: every paid call is quoted and approved
/// first, sent once, journalled, and delivered to disk.
#[derive(Debug, Parser)]
#[command(name = "conjure", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Parses the process's arguments, with `--color` governing clap's own help and usage
    /// errors too (they are printed before the flag could reach the printer).
    pub fn parse_args() -> Cli {
        let args: Vec<OsString> = std::env::args_os().collect();
        let mut cmd = Cli::command().color(clap_color(&args));
        let matches = cmd.try_get_matches_from_mut(args).unwrap_or_else(|e| e.exit());
        Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.format(&mut cmd).exit())
    }
}

/// The last `--color WHEN` (or `--color=WHEN`) before `--`, as clap's own colour choice.
fn clap_color(args: &[OsString]) -> clap::ColorChoice {
    let mut choice = clap::ColorChoice::Auto;
    let mut args = args.iter().skip(1).map(|a| a.to_string_lossy());
    while let Some(arg) = args.next() {
        let value = match arg.as_ref() {
            "--" => break,
            "--color" => args.next().map(std::borrow::Cow::into_owned),
            other => other.strip_prefix("--color=").map(str::to_owned),
        };
        choice = match value.as_deref() {
            Some("always") => clap::ColorChoice::Always,
            Some("never") => clap::ColorChoice::Never,
            Some(_) => clap::ColorChoice::Auto,
            None => continue,
        };
    }
    choice
}

/// Flags every command accepts, under their own heading in every help.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Print one JSON object on stdout instead of human output.
    #[arg(long, global = true)]
    pub json: bool,
    /// More logging on stderr (-v info, -vv debug). Secrets are never logged.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// No notes or progress on stderr; results, warnings and errors still print.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Only JSON Lines events on stderr (progress, files, cost, errors), for programs.
    #[arg(long, global = true)]
    pub events: bool,
    /// Colour on stderr: `auto` (only on a terminal without NO_COLOR), `always` or `never`.
    #[arg(long, global = true, value_name = "WHEN", default_value = "auto")]
    pub color: ColorWhen,
}

/// When to colour stderr. (No doc comments on the variants: they would turn every command's
/// help into the long form.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    // Only on a terminal, and only when NO_COLOR is unset.
    #[default]
    Auto,
    // Always, even when NO_COLOR is set.
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Image(commands::image::ImageArgs),
    Video(commands::video::VideoArgs),
    Text(commands::text::TextArgs),
    Batch(commands::batch::BatchArgs),
    Button(commands::button::ButtonArgs),
    Upscale(commands::upscale::UpscaleArgs),
    RemoveBg(commands::remove_bg::RemoveBgArgs),
    Enhance(commands::enhance::EnhanceArgs),
    Submit(commands::submit::SubmitArgs),
    Quote(commands::quote::QuoteArgs),
    Status(commands::status::StatusArgs),
    Wait(commands::wait::WaitArgs),
    Fetch(commands::fetch::FetchArgs),
    Jobs(commands::jobs::JobsArgs),
    Retry(commands::retry::RetryArgs),
    Models(commands::models::ModelsArgs),
    Catalogue(commands::catalogue::CatalogueArgs),
    Attest(commands::attest::AttestArgs),
    Balance(commands::balance::BalanceArgs),
    Spend(commands::spend::SpendArgs),
    Auth(commands::auth::AuthArgs),
    Sandbox(commands::sandbox::SandboxArgs),
    Demo(commands::demo::DemoArgs),
    Edit(commands::edit::EditArgs),
    Media(commands::media::MediaArgs),
    Open(commands::open::OpenArgs),
    Mcp(commands::mcp::McpArgs),
    Serve(commands::serve::ServeArgs),
    Config(commands::config::ConfigArgs),
    Doctor(commands::doctor::DoctorArgs),
    Completions(commands::completions::CompletionsArgs),
    Man(commands::man::ManArgs),
}

/// How a paid command is approved and bounded. Shared by every paid command.
#[derive(Debug, Args, Clone, Default)]
pub struct ApprovalArgs {
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
}

/// The flags of a paid command that makes files. Shared by image, video, submit and retry.
#[derive(Debug, Args, Clone, Default)]
pub struct PayArgs {
    #[command(flatten)]
    pub approval: ApprovalArgs,
    /// Submit and return at once with the job id; collect it later with `conjure wait`.
    #[arg(long)]
    pub no_wait: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// What the provider does besides the work (ImaginePro's `webhookOverride` and `ref`). Shared
/// by every command that submits to ImaginePro; part of the approved request.
#[derive(Debug, Args, Clone, Default)]
pub struct HookArgs {
    /// Have the provider POST the finished job to this URL (ImaginePro).
    #[arg(long, value_name = "URL")]
    pub webhook: Option<String>,
    /// A reference of yours the provider echoes with the job (ImaginePro's `ref`).
    #[arg(long, value_name = "REF")]
    pub tag: Option<String>,
}

impl HookArgs {
    pub fn hooks(&self) -> conjure_core::spec::Hooks {
        conjure_core::spec::Hooks { webhook: self.webhook.clone(), tag: self.tag.clone() }
    }
}

/// Where downloaded results go. Shared by every command that downloads.
#[derive(Debug, Args, Clone, Default)]
pub struct OutputArgs {
    // clap turns a literal `{n}` in help into a line break; a style reset between `{` and `n`
    // keeps it whole, and clap drops styles wherever they are not wanted (pipes, man pages).
    #[arg(
        long,
        short = 'o',
        value_name = "PATH",
        help = "The output file (fox.png); for several files a pattern with {\x1b[0mn} (fox-{\x1b[0mn}.png) or an existing folder"
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

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    /// Every argument says what it is for: the global flags and the commands this check covers
    /// (`media` and `status` have arguments without help today; add them here once they do).
    #[test]
    fn every_option_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {}", arg.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        let mut cmd = Cli::command();
        cmd.build();
        walk(&cmd, "conjure", &mut missing);
        assert!(missing.is_empty(), "arguments without help: {missing:?}");
    }

    #[test]
    fn color_flag_reaches_clap() {
        let args = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            clap_color(&args(&["conjure", "--color", "never", "jobs"])),
            clap::ColorChoice::Never
        );
        assert_eq!(
            clap_color(&args(&["conjure", "jobs", "--color=always"])),
            clap::ColorChoice::Always
        );
        assert_eq!(clap_color(&args(&["conjure", "jobs"])), clap::ColorChoice::Auto);
        assert_eq!(
            clap_color(&args(&["conjure", "--", "--color", "never"])),
            clap::ColorChoice::Auto
        );
    }

    #[test]
    fn the_command_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    /// One meaning per flag: no command reuses the name of a global flag (`--color` is the
    /// output colour everywhere, so a text colour is `--text-color`).
    #[test]
    fn no_command_shadows_a_global_flag() {
        fn walk(cmd: &clap::Command, globals: &[String], path: &str, clashes: &mut Vec<String>) {
            for arg in cmd.get_arguments().filter(|a| !a.is_global_set()) {
                // A clash of either the flag or clap's id for it breaks parsing.
                let id = arg.get_id().as_str();
                if globals.iter().any(|g| Some(g.as_str()) == arg.get_long() || g == id) {
                    clashes.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, globals, &format!("{path} {}", sub.get_name()), clashes);
            }
        }
        let cmd = Cli::command();
        let globals: Vec<String> = cmd
            .get_arguments()
            .filter(|a| a.is_global_set())
            .filter_map(|a| a.get_long().map(str::to_owned))
            .collect();
        assert!(globals.contains(&"color".to_owned()), "{globals:?}");
        let mut clashes = Vec::new();
        for sub in cmd.get_subcommands() {
            walk(sub, &globals, sub.get_name(), &mut clashes);
        }
        assert!(clashes.is_empty(), "flags that shadow a global one: {clashes:?}");
    }
}
