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
    ///
    /// Only the named subcommand's arguments are built (see [`Lazy`]); without one (`conjure`,
    /// `conjure --help`, `conjure help ...`, a typo) the whole tree is, for help and suggestions.
    pub fn parse_args() -> Cli {
        let args: Vec<OsString> = std::env::args_os().collect();
        let lazy = names_a_subcommand(&args);
        LAZY.with(|l| l.set(lazy));
        let mut cmd = Cli::command().color(clap_color(&args));
        let matches = cmd.try_get_matches_from_mut(args).unwrap_or_else(|e| e.exit());
        LAZY.with(|l| l.set(false));
        Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.format(&mut cmd).exit())
    }
}

thread_local! {
    /// Whether [`Lazy`] defers the arguments it wraps (only while [`Cli::parse_args`] builds).
    static LAZY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the first argument that is not a global flag names one of conjure's subcommands.
fn names_a_subcommand(args: &[OsString]) -> bool {
    let mut rest = args.iter().skip(1).map(|a| a.to_string_lossy());
    while let Some(arg) = rest.next() {
        let global = match arg.as_ref() {
            "--color" | "--gateway" => rest.next().is_some(),
            "--json" | "--quiet" | "--events" | "--verbose" => true,
            a => a.starts_with("--color=") || a.starts_with("--gateway=") || short_globals(a),
        };
        if !global {
            return <Command as Subcommand>::has_subcommand(&arg);
        }
    }
    false
}

/// `-v`, `-vv`, `-q`, `-vq`: global short flags, alone or together.
fn short_globals(arg: &str) -> bool {
    arg.strip_prefix('-')
        .is_some_and(|f| !f.is_empty() && f.chars().all(|c| matches!(c, 'v' | 'q')))
}

/// A subcommand's arguments, built only when that subcommand is the one being run.
///
/// Why: building every subcommand's arguments (about 35 commands, a few hundred flags with
/// their help texts) is most of the time clap takes, and that time comes before the first byte
/// of every command, a streamed answer included. A subcommand's one-line help for the list of
/// commands is part of its arguments, so the whole tree is built whenever no subcommand is
/// named (see [`Cli::parse_args`]); completions and man pages build it whole too.
#[derive(Debug, Clone)]
pub struct Lazy<T>(pub T);

impl<T: Args> Args for Lazy<T> {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        if LAZY.with(std::cell::Cell::get) {
            cmd.defer(T::augment_args)
        } else {
            T::augment_args(cmd)
        }
    }
    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        if LAZY.with(std::cell::Cell::get) {
            cmd.defer(T::augment_args_for_update)
        } else {
            T::augment_args_for_update(cmd)
        }
    }
}

impl<T: clap::FromArgMatches> clap::FromArgMatches for Lazy<T> {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches(matches).map(Lazy)
    }
    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(matches)
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
    /// Quote and spend `image`, `video`, `text`, `upscale URL` and `remove-bg` requests through
    /// this team gateway (`conjure serve`) with your member key (CONJURE_GATEWAY_KEY; never a
    /// flag). Also CONJURE_GATEWAY, or `url` in the config file's [gateway].
    #[arg(long, global = true, value_name = "URL")]
    pub gateway: Option<String>,
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
    Image(Lazy<commands::image::ImageArgs>),
    Video(Lazy<commands::video::VideoArgs>),
    Text(Lazy<commands::text::TextArgs>),
    Batch(Lazy<commands::batch::BatchArgs>),
    Button(Lazy<commands::button::ButtonArgs>),
    Upscale(Lazy<commands::upscale::UpscaleArgs>),
    RemoveBg(Lazy<commands::remove_bg::RemoveBgArgs>),
    Enhance(Lazy<commands::enhance::EnhanceArgs>),
    Submit(Lazy<commands::submit::SubmitArgs>),
    Quote(Lazy<commands::quote::QuoteArgs>),
    Status(Lazy<commands::status::StatusArgs>),
    Wait(Lazy<commands::wait::WaitArgs>),
    Fetch(Lazy<commands::fetch::FetchArgs>),
    Jobs(Lazy<commands::jobs::JobsArgs>),
    Retry(Lazy<commands::retry::RetryArgs>),
    Models(Lazy<commands::models::ModelsArgs>),
    Catalogue(Lazy<commands::catalogue::CatalogueArgs>),
    Attest(Lazy<commands::attest::AttestArgs>),
    Balance(Lazy<commands::balance::BalanceArgs>),
    Spend(Lazy<commands::spend::SpendArgs>),
    Auth(Lazy<commands::auth::AuthArgs>),
    Sandbox(Lazy<commands::sandbox::SandboxArgs>),
    Demo(Lazy<commands::demo::DemoArgs>),
    Edit(Lazy<commands::edit::EditArgs>),
    Media(Lazy<commands::media::MediaArgs>),
    Open(Lazy<commands::open::OpenArgs>),
    Mcp(Lazy<commands::mcp::McpArgs>),
    Serve(Lazy<commands::serve::ServeArgs>),
    Config(Lazy<commands::config::ConfigArgs>),
    Doctor(Lazy<commands::doctor::DoctorArgs>),
    Completions(Lazy<commands::completions::CompletionsArgs>),
    Man(Lazy<commands::man::ManArgs>),
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

    /// Building only the named subcommand parses every command line exactly as the whole tree.
    #[test]
    fn lazy_arguments_parse_as_the_whole_tree() {
        fn parse(line: &[&str], lazy: bool) -> String {
            LAZY.with(|l| l.set(lazy));
            let parsed = Cli::command()
                .try_get_matches_from(line)
                .and_then(|m| Cli::from_arg_matches(&m))
                .map_or_else(|e| format!("error: {}", e.kind()), |cli| format!("{cli:?}"));
            LAZY.with(|l| l.set(false));
            parsed
        }
        let lines: &[&[&str]] = &[
            &["conjure", "text", "a question", "--yes", "--max-tokens", "99"],
            &["conjure", "--json", "-vv", "image", "a fox", "-n", "2", "--approve", "cq_x"],
            &["conjure", "media", "trim", "in.mp4", "--from", "1", "--to", "2", "-o", "o.mp4"],
            &["conjure", "jobs", "--json", "--color", "never"],
            &["conjure", "batch", "lines.jsonl", "--concurrency", "3", "--quiet"],
            &["conjure", "text", "--bogus"],
            &["conjure", "media", "nonsense"],
        ];
        for line in lines {
            assert!(names_a_subcommand(&line.iter().map(OsString::from).collect::<Vec<_>>()));
            assert_eq!(parse(line, true), parse(line, false), "{line:?}");
        }
    }

    #[test]
    fn only_a_named_subcommand_is_built_lazily() {
        let named =
            |a: &[&str]| names_a_subcommand(&a.iter().map(OsString::from).collect::<Vec<_>>());
        assert!(named(&["conjure", "-vq", "--color", "never", "--events", "edit", "t.json"]));
        assert!(named(&["conjure", "--color=always", "text"]));
        assert!(!named(&["conjure"]));
        assert!(!named(&["conjure", "--help"]));
        assert!(!named(&["conjure", "help", "text"]));
        assert!(!named(&["conjure", "txet", "hello"]));
        assert!(!named(&["conjure", "--color", "text"]));
        assert!(!named(&["conjure", "-x", "text"]));
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
