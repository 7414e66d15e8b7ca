//! Everything conjure prints. stdout is data (one JSON object per command with `--json`, or the
//! human result); stderr is for people (quotes, progress, summaries, hints).
//!
//! This is the only module allowed to write to stdout. A closed stdout (a broken pipe) ends
//! the process quietly with exit 0. JSON shapes are `conjure_app::views`; this module only
//! prints them, and draws their human form.
//!
//! The global `--quiet` and `--color` flags are honoured here, so every command honours them:
//! `--quiet` drops notes and progress (stderr), never data (stdout), warnings, errors, a quote a
//! person is asked about, or an [`Output::important`] line; colour is on with `--color always`,
//! off with `--color never`, and with `auto` (the default) only when stderr is a terminal and
//! `NO_COLOR` is unset or empty (<https://no-color.org>: a flag overrides the variable).

use std::io::{IsTerminal, Write};

use conjure_core::quote::Quote;
use conjure_core::{CreditPrice, Credits};
use serde::Serialize;
use serde_json::json;

use crate::cli::ColorWhen;
use crate::error::CliError;

/// Where and how to print.
#[derive(Clone, Copy, Debug)]
pub struct Output {
    pub json: bool,
    /// Colour on stderr.
    pub color: bool,
    /// No notes or progress on stderr.
    pub quiet: bool,
    /// stderr is a terminal: progress lines make sense.
    tty: bool,
}

impl Output {
    pub fn new(json: bool, quiet: bool, color: ColorWhen) -> Output {
        let tty = std::io::stderr().is_terminal();
        let no_color = std::env::var_os(conjure_core::env::NO_COLOR).is_some_and(|v| !v.is_empty());
        Output { json, quiet, color: resolve_color(color, tty, no_color), tty }
    }

    /// The same printer for people's output, whatever `--json` says.
    #[must_use]
    pub fn human(self) -> Output {
        Output { json: false, ..self }
    }

    /// Progress lines are wanted: stderr is a terminal, not `--json`, not `--quiet`.
    pub fn progress_enabled(self) -> bool {
        self.tty && !self.json && !self.quiet
    }

    /// A progress line on stderr, only when [`Output::progress_enabled`].
    pub fn progress(self, text: impl AsRef<str>) {
        if self.progress_enabled() {
            eprintln!("{}", text.as_ref());
        }
    }

    /// A progress event for programs: with `--json` (and not `--quiet`), one compact JSON
    /// object per line on stderr, e.g. `{"event":"progress","job_id":..,"progress":40}`.
    /// stdout keeps its one result object.
    pub fn event(self, value: &serde_json::Value) {
        if self.json && !self.quiet {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{value}");
            let _ = err.flush();
        }
    }

    /// Text exactly as given on stdout (generated scripts, man pages).
    #[expect(
        clippy::unused_self,
        reason = "one printer for every message keeps stdout use in this module"
    )]
    pub fn raw(self, text: &str) {
        Output::write_stdout(text);
    }

    /// Ends a text answer printed on a terminal with a line break, so that the prompt does not
    /// run on after it. A pipe gets the answer verbatim.
    #[expect(
        clippy::unused_self,
        reason = "one printer for every message keeps stdout use in this module"
    )]
    pub fn end_answer(self, answer: &str) {
        if !answer.is_empty() && !answer.ends_with('\n') && std::io::stdout().is_terminal() {
            Output::write_stdout("\n");
        }
    }

    /// Text for people exactly as given, on stderr without a line break (a streamed answer the
    /// demo shows); dropped by `--quiet`.
    pub fn note_raw(self, text: &str) {
        if !self.quiet {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "{text}");
            let _ = err.flush();
        }
    }

    /// A piece of a model's reasoning, on stderr as it arrives (dimmed in colour); dropped by
    /// `--quiet` and `--json` (JSON carries it in `reasoning`).
    pub fn reasoning(self, text: &str) {
        if self.quiet || self.json {
            return;
        }
        let mut err = std::io::stderr().lock();
        if self.color {
            let _ = write!(err, "\x1b[2m{text}\x1b[0m");
        } else {
            let _ = write!(err, "{text}");
        }
        let _ = err.flush();
    }

    fn write_stdout(text: &str) {
        let mut out = std::io::stdout().lock();
        if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush())
            && e.kind() == std::io::ErrorKind::BrokenPipe
        {
            std::process::exit(0);
        }
    }

    /// The command's JSON result (only in `--json` mode).
    #[expect(
        clippy::unused_self,
        reason = "one printer for every message keeps stdout use in this module"
    )]
    pub fn json_value(self, value: &impl Serialize) {
        let text = serde_json::to_string(value).unwrap_or_else(|e| {
            json!({"status":"error","error":{"kind":"error","message":e.to_string()}}).to_string()
        });
        Output::write_stdout(&format!("{text}\n"));
    }

    /// A line of human-readable result on stdout.
    #[expect(
        clippy::unused_self,
        reason = "one printer for every message keeps stdout use in this module"
    )]
    pub fn line(self, text: impl AsRef<str>) {
        Output::write_stdout(&format!("{}\n", text.as_ref()));
    }

    /// A message for people, on stderr; dropped by `--quiet`.
    pub fn note(self, text: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{}", text.as_ref());
        }
    }

    /// A message for people that `--quiet` keeps: what to do next when the command did not do
    /// what was asked (e.g. the token that approves a quote nobody was asked about).
    #[expect(
        clippy::unused_self,
        reason = "one printer for every message keeps stdout use in this module"
    )]
    pub fn important(self, text: impl AsRef<str>) {
        eprintln!("{}", text.as_ref());
    }

    pub fn warn(self, text: impl AsRef<str>) {
        if self.color {
            eprintln!("\x1b[33mwarning:\x1b[0m {}", text.as_ref());
        } else {
            eprintln!("warning: {}", text.as_ref());
        }
    }

    /// Prints an error: JSON on stdout in `--json` mode, and always a human line on stderr.
    pub fn error(self, err: &CliError) {
        if self.json {
            self.json_value(&conjure_app::views::ErrorView::new(
                err.exit.kind(),
                &err.message,
                err.hint.as_deref(),
                err.job_id.as_deref(),
                err.request_id.as_deref(),
                err.answer.as_deref(),
            ));
        }
        if self.color {
            eprintln!("\x1b[31merror:\x1b[0m {}", err.message);
        } else {
            eprintln!("error: {}", err.message);
        }
        if let Some(hint) = &err.hint {
            eprintln!("hint: {hint}");
        }
    }

    /// The quote, for a person deciding whether to pay (stderr).
    #[expect(
        clippy::unused_self,
        reason = "one printer for every message keeps stdout use in this module"
    )]
    pub fn quote(self, quote: &Quote, price: Option<CreditPrice>) {
        let mut text = format!("Quote: {} · {}\n", quote.provider, quote.model);
        let usd = |c: Credits| price.map(|p| format!(" ≈ {}", p.usd(c))).unwrap_or_default();
        if let Some(t) = &quote.text {
            let line = &quote.items[0];
            text.push_str(&format!(
                "  {} {}\n     prompt: {}\n",
                line.model,
                line.detail,
                serde_json::to_string(&line.prompt).unwrap_or_default()
            ));
            if let Some(privacy) = &t.privacy {
                text.push_str(&format!("  Privacy: {privacy}\n"));
            }
            text.push_str(&format!(
                "  Expected charge: about {} credits{} (at {} in / {} out credits per million tokens)\n",
                t.expected,
                usd(t.expected),
                t.input_rate,
                t.output_rate
            ));
            text.push_str(&format!(
                "  Reserved up front: {} credits{}; the unused part is refunded\n",
                t.reserve,
                usd(t.reserve)
            ));
            text.push_str(&format!(
                "  Worst case (the reserve kept): {} credits{}\n",
                t.worst_case,
                usd(t.worst_case)
            ));
            for note in &quote.notes {
                text.push_str(&format!("  note: {note}\n"));
            }
            eprint!("{text}");
            return;
        }
        for line in &quote.items {
            let cost = if line.unpriced {
                "price not published".to_owned()
            } else {
                format!(
                    "{} credits{}",
                    line.credits,
                    line.usd.map(|u| format!(" ≈ {u}")).unwrap_or_default()
                )
            };
            text.push_str(&format!(
                "  {}. {} {}  {cost}\n     prompt: {}\n",
                line.index + 1,
                line.model,
                line.detail,
                serde_json::to_string(&line.prompt).unwrap_or_default(),
            ));
        }
        if quote.unpriced {
            text.push_str(&format!(
                "  Total: price not published ({} credits for the priced items; the charge is unknown)",
                quote.credits
            ));
        } else {
            text.push_str(&format!("  Total: {} credits", quote.credits));
        }
        if let (Some(usd), Some(p)) = (quote.usd, price) {
            text.push_str(&format!(" ≈ {usd} (at {p} per credit)"));
        }
        text.push('\n');
        for note in &quote.notes {
            text.push_str(&format!("  note: {note}\n"));
        }
        eprint!("{text}");
    }
}

/// Credits and dollars as one short phrase.
pub fn cost_phrase(credits: Credits, price: Option<CreditPrice>) -> String {
    match price {
        Some(p) => format!("{credits} credits ≈ {}", p.usd(credits)),
        None => format!("{credits} credits"),
    }
}

/// Whether stderr gets colour: the flag, else a terminal without `NO_COLOR`.
fn resolve_color(when: ColorWhen, tty: bool, no_color: bool) -> bool {
    match when {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => tty && !no_color,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn color_follows_flag_then_terminal_and_no_color() {
        assert!(resolve_color(ColorWhen::Always, false, true));
        assert!(!resolve_color(ColorWhen::Never, true, false));
        assert!(resolve_color(ColorWhen::Auto, true, false));
        assert!(!resolve_color(ColorWhen::Auto, true, true));
        assert!(!resolve_color(ColorWhen::Auto, false, false));
    }
}
