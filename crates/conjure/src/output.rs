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
//!
//! The global `--events` flag turns stderr into a stream for programs: JSON Lines, one object
//! per event (`quoted`, `submitted`, `progress`, `completed`, `file`, `cost`, `warning`,
//! `error`, `log`), each with `event`, `job_id` (null where there is no job yet) and `ts`
//! (RFC 3339 UTC with milliseconds). Nothing else is written to stderr then: notes, progress,
//! the quote's text and the human error lines are dropped, warnings and errors become events.
//! stdout does not change.

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
    /// stderr carries only JSON Lines events (`--events`).
    pub events: bool,
    /// stderr is a terminal: progress lines make sense.
    tty: bool,
}

impl Output {
    pub fn new(json: bool, quiet: bool, color: ColorWhen, events: bool) -> Output {
        let tty = std::io::stderr().is_terminal();
        let no_color = std::env::var_os(conjure_core::env::NO_COLOR).is_some_and(|v| !v.is_empty());
        let color = resolve_color(color, tty, no_color) && !events;
        Output { json, quiet: quiet || events, color, events, tty }
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

    /// One event on stderr, only with `--events`: a compact JSON object on one line, starting
    /// with `event`, `job_id` and `ts`, then `fields` (an object). Written whole under the
    /// lock, so lines from several threads never interleave.
    pub fn event(self, event: &str, job_id: Option<&str>, fields: &serde_json::Value) {
        if self.events {
            write_event(&event_line(event, job_id, conjure_app::timefmt::now_ms(), fields));
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
    pub fn important(self, text: impl AsRef<str>) {
        if !self.events {
            eprintln!("{}", text.as_ref());
        }
    }

    /// A warning on stderr, or a `warning` event with `--events`.
    pub fn warn(self, text: impl AsRef<str>) {
        if self.events {
            self.event("warning", None, &json!({"message": text.as_ref()}));
        } else if self.color {
            eprintln!("\x1b[33mwarning:\x1b[0m {}", text.as_ref());
        } else {
            eprintln!("warning: {}", text.as_ref());
        }
    }

    /// Prints an error: JSON on stdout in `--json` mode, and a human line on stderr (with
    /// `--events`, an `error` event instead, with the same fields as the JSON error).
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
        if self.events {
            self.error_event(err);
            return;
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

    /// The `error` event of `err` (with `--events`): the fields of the JSON error, and the
    /// exit code the process ends with.
    pub fn error_event(self, err: &CliError) {
        self.event(
            "error",
            err.job_id.as_deref(),
            &json!({
                "kind": err.exit.kind(),
                "message": err.message,
                "hint": err.hint,
                "request_id": err.request_id,
                "exit_code": err.exit as i32,
            }),
        );
    }

    /// The quote, for a person deciding whether to pay (stderr; with `--events` the `quoted`
    /// event says it instead).
    pub fn quote(self, quote: &Quote, price: Option<CreditPrice>) {
        if self.events {
            return;
        }
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

/// One event as its JSON line (without the line break): `event`, `job_id` and `ts` first.
fn event_line(
    event: &str,
    job_id: Option<&str>,
    now_ms: i64,
    fields: &serde_json::Value,
) -> String {
    let mut line = json!({
        "event": event,
        "job_id": job_id,
        "ts": conjure_app::timefmt::rfc3339_millis(now_ms),
    })
    .to_string();
    if let Some(rest) = fields.as_object().filter(|m| !m.is_empty()) {
        let rest = serde_json::Value::Object(rest.clone()).to_string();
        line.pop();
        line.push(',');
        line.push_str(&rest[1..]);
    }
    line
}

fn write_event(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
    let _ = err.flush();
}

/// Log lines (`-v`, `CONJURE_LOG`) as `log` events, so that with `--events` every stderr line
/// is JSON: `tracing` formats one record per writer, and the writer sends it when dropped.
#[derive(Default)]
pub struct EventLog(Vec<u8>);

impl Write for EventLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for EventLog {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        if let Some((event, fields)) = log_event(&text) {
            write_event(&event_line(event, None, conjure_app::timefmt::now_ms(), &fields));
        }
    }
}

/// A formatted log record (`WARN message`) as its event: a `warning` for a warning, else a
/// `log` with its level.
fn log_event(text: &str) -> Option<(&'static str, serde_json::Value)> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let (level, message) = text.split_once(' ').unwrap_or((text, ""));
    let level = level.to_ascii_lowercase();
    if !["trace", "debug", "info", "warn", "error"].contains(&level.as_str()) {
        return Some(("log", json!({"message": text})));
    }
    let message = message.trim_start();
    Some(if level == "warn" {
        ("warning", json!({"message": message}))
    } else {
        ("log", json!({"level": level, "message": message}))
    })
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
    fn an_event_line_starts_with_its_name_job_and_time() {
        let line = event_line(
            "progress",
            Some("j1"),
            1_795_276_800_250,
            &json!({"status": "running", "progress": null}),
        );
        assert_eq!(
            line,
            r#"{"event":"progress","job_id":"j1","ts":"2026-11-21T16:00:00.250Z","progress":null,"status":"running"}"#
        );
        let bare = event_line("warning", None, 0, &json!({}));
        assert_eq!(bare, r#"{"event":"warning","job_id":null,"ts":"1970-01-01T00:00:00.000Z"}"#);
    }

    #[test]
    fn log_records_become_events() {
        assert_eq!(
            log_event(" WARN  stale catalogue\n"),
            Some(("warning", json!({"message": "stale catalogue"})))
        );
        assert_eq!(
            log_event("DEBUG polling j1"),
            Some(("log", json!({"level": "debug", "message": "polling j1"})))
        );
        assert_eq!(log_event("plain"), Some(("log", json!({"message": "plain"}))));
        assert_eq!(log_event("\n"), None);
    }

    #[test]
    fn color_follows_flag_then_terminal_and_no_color() {
        assert!(resolve_color(ColorWhen::Always, false, true));
        assert!(!resolve_color(ColorWhen::Never, true, false));
        assert!(resolve_color(ColorWhen::Auto, true, false));
        assert!(!resolve_color(ColorWhen::Auto, true, true));
        assert!(!resolve_color(ColorWhen::Auto, false, false));
    }
}
