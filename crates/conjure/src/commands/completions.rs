//! `conjure completions SHELL`: a shell completion script, generated from the same clap
//! definitions as the parser, so it cannot drift from the commands and flags that exist.

use clap::{Args, CommandFactory as _};
use clap_complete::Shell;

use crate::cli::Cli;
use crate::output::Output;

/// Print a shell completion script (bash, zsh, fish, elvish or powershell) on stdout.
///
/// bash: `conjure completions bash > ~/.local/share/bash-completion/completions/conjure`;
/// zsh: `conjure completions zsh > ~/.zfunc/_conjure` (with `~/.zfunc` in `fpath`);
/// fish: `conjure completions fish > ~/.config/fish/completions/conjure.fish`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

pub fn run(out: Output, args: &CompletionsArgs) {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "conjure", &mut script);
    out.raw(&String::from_utf8_lossy(&script));
}
