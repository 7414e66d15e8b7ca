//! `conjure man`: man pages in roff, generated from the same clap definitions as the parser
//! (clap_mangen), so they document exactly the commands and flags that exist.
//!
//! `conjure man` prints `conjure(1)`; `conjure man image` prints `conjure-image(1)`;
//! `conjure man --dir DIR` writes the page of every command into DIR (what `scripts/setup`
//! installs).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, CommandFactory as _};

use crate::cli::Cli;
use crate::error::CliError;
use crate::output::Output;

/// Print the man page of conjure or of one command (roff), or write every page into a directory.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// The command to document, e.g. `image` or `media trim` (default: conjure itself).
    pub command: Vec<String>,
    /// Write the page of every command (`conjure.1`, `conjure-image.1`, ...) into DIR instead.
    #[arg(long, value_name = "DIR", conflicts_with = "command")]
    pub dir: Option<PathBuf>,
}

/// The command tree as the man pages show it: built, so that subcommands carry their full
/// names (`conjure-media-trim`), and without clap's `help` pseudo-command.
fn tree() -> clap::Command {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

pub fn run(out: Output, args: &ManArgs) -> anyhow::Result<()> {
    if let Some(dir) = &args.dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("Cannot create `{}`", dir.display()))?;
        // Generated beside, then moved into place: a reader never sees half a page. Only
        // conjure's own page names (`conjure*.1`) are replaced.
        let staged = tempfile::Builder::new()
            .prefix(".conjure-man")
            .tempdir_in(dir)
            .with_context(|| format!("Cannot write man pages into `{}`", dir.display()))?;
        clap_mangen::generate_to(Cli::command(), staged.path())
            .with_context(|| format!("Cannot write man pages into `{}`", dir.display()))?;
        for page in std::fs::read_dir(staged.path())? {
            let page = page?;
            std::fs::rename(page.path(), dir.join(page.file_name()))
                .with_context(|| format!("Cannot write man pages into `{}`", dir.display()))?;
        }
        out.note(format!("Wrote the man pages into {}", dir.display()));
        return Ok(());
    }
    let mut cmd = tree();
    for name in &args.command {
        let Some(sub) = cmd.find_subcommand(name).cloned() else {
            let known: Vec<String> =
                cmd.get_subcommands().map(|c| format!("`{}`", c.get_name())).collect();
            return Err(CliError::usage(format!(
                "`{}` has no command `{name}`",
                cmd.get_display_name().unwrap_or(cmd.get_name())
            ))
            .hint(format!("commands: {}", known.join(", ")))
            .into());
        };
        cmd = sub;
    }
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut page)?;
    out.raw(&String::from_utf8_lossy(&page));
    Ok(())
}
