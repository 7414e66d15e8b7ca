//! `conjure batch FILE.jsonl`: many requests from one file, one quote, one approval, as few paid
//! calls as each provider allows, resumable after any stop (see `conjure_app::batch`).
//!
//! Without approval it prints the batch's quote (every line's price, each provider's total, the
//! calls it makes, the lines a run skips) with a token, and exits 3 with nothing sent. With
//! `--json`, stdout is JSON Lines: one event per call and line as it happens, then the summary.

use std::io::{IsTerminal as _, Read as _};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use clap::Args;
use conjure_app::batch::{BatchEvent, BatchOptions, BatchQuote, BatchReport};
use conjure_app::destination::Destination;
use conjure_app::paid::Progress;
use conjure_core::Consent;
use serde_json::json;

use crate::cli::ApprovalArgs;
use crate::commands::Ctx;
use crate::error::{CliError, Exit};
use crate::settings::parse_limit;

/// Run a JSON Lines file of requests: one quote for all of it, approved once, resumable.
#[derive(Debug, Args)]
pub struct BatchArgs {
    /// The requests, one JSON object per line (`-` reads stdin), e.g.
    /// {"kind":"image","provider":"katana","model":"gen","prompt":"a red fox","aspect":"16:9","count":2}
    #[arg(value_name = "FILE", required_unless_present = "resume", conflicts_with = "resume")]
    pub file: Option<PathBuf>,
    /// Resume a journalled batch by its id (running the same file again does the same).
    #[arg(long, value_name = "BATCH")]
    pub resume: Option<String>,
    /// Calls in flight at once, for providers without an in-flight limit (Katana takes turns,
    /// one request at a time, with lines packed into shared requests).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// Folder for the outputs (default: output.dir in the config file, else the current folder).
    #[arg(long = "out-dir", visible_alias = "out", value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// The approval of the whole run: its quote is the batch's (every line, every provider), and
    /// a credit --max-cost holds each provider's part.
    #[command(flatten)]
    pub approval: ApprovalArgs,
}

pub async fn run(ctx: &Ctx, args: &BatchArgs) -> anyhow::Result<()> {
    let app = &ctx.app;
    let session = app.session().await?;
    let (source, text) = match (&args.resume, &args.file) {
        (Some(id), _) => app.batch_source(&session, id).await?,
        (None, Some(path)) if path.as_os_str() == "-" => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| CliError::usage(format!("Cannot read the batch from stdin: {e}")))?;
            ("stdin".to_owned(), text)
        }
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                CliError::usage(format!("Cannot read `{}`: {e}", path.display()))
                    .hint("give a JSON Lines file: one request object per line")
            })?;
            (path.display().to_string(), text)
        }
        (None, None) => return Err(CliError::usage("Give a batch file or --resume BATCH").into()),
    };
    let max_cost =
        args.approval.max_cost.as_deref().map(|s| parse_limit(s, "cost limit")).transpose()?;
    let run = app.plan_batch(&session, &source, &text).await?;
    let options = BatchOptions {
        concurrency: usize::from(args.concurrency),
        max_cost,
        out: args.out_dir.clone().map(Destination::Dir),
        force: false,
        again: args.approval.again,
    };
    if args.approval.dry_run {
        show_quote(ctx, &run.quote, "dry_run");
        return Ok(());
    }
    let consent = if let Some(t) = &args.approval.approve {
        Some(Consent::Token(t.clone()))
    } else if args.approval.yes {
        Some(Consent::Yes)
    } else {
        None
    };
    let mut approved = app.approve_batch(&run, consent.as_ref(), &options)?;
    if !approved {
        if !ctx.interactive || ctx.out.json || ctx.out.events {
            show_quote(ctx, &run.quote, "confirmation_required");
            if !ctx.out.json {
                ctx.out.important(format!(
                    "Nothing was sent. To send exactly this batch, run the same command with --approve {}",
                    run.quote.token
                ));
            }
            return Err(CliError::silent(Exit::Confirm).into());
        }
        show_quote(ctx, &run.quote, "quote");
        eprint!("Send this batch? [y/N] ");
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).ok();
        if !matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
            return Err(CliError::new(Exit::Confirm, "Not approved; nothing was sent").into());
        }
        approved = app.approve_batch(&run, Some(&Consent::Person), &options)?;
    }
    debug_assert!(approved);
    let total_lines: usize = run.calls.iter().map(|c| c.lines.len()).sum();
    let interrupted = AtomicBool::new(false);
    let sent = AtomicUsize::new(0);
    let lines_ok = AtomicUsize::new(0);
    let lines_bad = AtomicUsize::new(0);
    let calls_ended = AtomicUsize::new(0);
    // The live line on a terminal: a bar of lines ended, with the failures and calls in flight.
    let bar = || {
        let (ok, bad) = (lines_ok.load(Ordering::SeqCst), lines_bad.load(Ordering::SeqCst));
        let running =
            sent.load(Ordering::SeqCst).saturating_sub(calls_ended.load(Ordering::SeqCst));
        let ended = ok + bad;
        let width = 24;
        let filled = (ended * width).checked_div(total_lines).unwrap_or(width).min(width);
        eprint!(
            "\r\x1b[2K[{}{}] {ended}/{total_lines} lines · {bad} not done · {running} call(s) running",
            "#".repeat(filled),
            "-".repeat(width - filled),
        );
    };
    let tty = std::io::stderr().is_terminal() && !ctx.out.json && !ctx.out.events;
    let out = ctx.out;
    let observer = |e: BatchEvent<'_>| match e {
        BatchEvent::Sending { lines, provider } => {
            sent.fetch_add(1, Ordering::SeqCst);
            if tty {
                bar();
            }
            if out.json {
                out.json_value(&json!({"event": "sending", "provider": provider, "lines": lines.iter().map(|l| l.line).collect::<Vec<_>>()}));
            }
        }
        BatchEvent::RateLimited { lines, wait, concurrency } => {
            if out.json {
                out.json_value(&json!({"event": "rate_limited", "lines": lines.iter().map(|l| l.line).collect::<Vec<_>>(), "wait_seconds": wait.as_secs_f64(), "concurrency": concurrency}));
            }
            out.note(format!(
                "Rate limited (nothing was charged): waiting {:.0} s, then sending line(s) {} again at concurrency {concurrency}",
                wait.as_secs_f64(),
                lines.iter().map(|l| l.line.to_string()).collect::<Vec<_>>().join(", ")
            ));
        }
        BatchEvent::Ended { lines, job, error } => {
            let counter = if error.is_some() { &lines_bad } else { &lines_ok };
            counter.fetch_add(lines.len(), Ordering::SeqCst);
            calls_ended.fetch_add(1, Ordering::SeqCst);
            if out.json {
                out.json_value(&json!({
                    "event": "call_ended",
                    "lines": lines.iter().map(|l| l.line).collect::<Vec<_>>(),
                    "job_id": job,
                    "error": error.map(|e| json!({"kind": e.kind, "message": e.message})),
                }));
            } else if tty {
                bar();
            } else if let Some(e) = error {
                out.note(format!(
                    "line(s) {}: {}",
                    lines.iter().map(|l| l.line.to_string()).collect::<Vec<_>>().join(", "),
                    e.message
                ));
            }
        }
        BatchEvent::Job(
            Progress::WaitingTurn { .. } | Progress::Job(_) | Progress::Saved { .. },
        ) => {}
    };
    let sigint = crate::commands::ctrl_c();
    let stop = async {
        sigint.await;
        interrupted.store(true, Ordering::SeqCst);
        std::future::pending::<()>().await;
    };
    let report = tokio::select! {
        r = app.run_batch(&session, run, &options, &observer, &interrupted) => r?,
        () = stop => unreachable!("pending"),
    };
    if tty {
        eprintln!();
    }
    finish(ctx, &report)
}

fn show_quote(ctx: &Ctx, q: &BatchQuote, status: &'static str) {
    if ctx.out.json {
        ctx.out.json_value(&json!({"event": "quote", "status": status, "quote": q}));
        return;
    }
    ctx.out.line(format!(
        "Batch {} ({}): {} line(s), {} to send in {} call(s)",
        q.batch_id,
        q.source,
        q.total_lines,
        q.lines.len(),
        q.calls
    ));
    for l in &q.lines {
        let usd = l.usd.map(|u| format!(" ≈ {u}")).unwrap_or_default();
        ctx.out.line(format!(
            "  line {:>4}  {:<11} {:<22} {} credits{usd}",
            l.line,
            l.provider.as_str(),
            l.model,
            l.credits
        ));
    }
    for p in &q.providers {
        let usd = p.usd.map(|u| format!(" ≈ {u}")).unwrap_or_default();
        ctx.out
            .line(format!("  {}: {} credits{usd} in {} call(s)", p.provider, p.credits, p.calls));
    }
    if let Some(u) = q.usd {
        ctx.out.line(format!("  total ≈ {u}"));
    }
    for s in &q.skipped {
        ctx.out.line(format!(
            "  line {:>4}  skipped: {}{}",
            s.line,
            s.state.as_str(),
            s.job_id.as_ref().map(|j| format!(" (job {j})")).unwrap_or_default()
        ));
    }
    for n in &q.notes {
        ctx.out.note(n);
    }
}

fn finish(ctx: &Ctx, r: &BatchReport) -> anyhow::Result<()> {
    if ctx.out.json {
        ctx.out.json_value(&json!({"event": "summary", "summary": r}));
    } else {
        for l in &r.lines {
            let job = l.job_id.as_ref().map(|j| format!(" job {j}")).unwrap_or_default();
            let files = if l.files.is_empty() {
                String::new()
            } else {
                format!(": {}", l.files.join(", "))
            };
            let err = l.error.as_ref().map(|e| format!(" ({e})")).unwrap_or_default();
            ctx.out.line(format!("line {:>4}  {:<11}{job}{files}{err}", l.line, l.state.as_str()));
        }
        let cost: Vec<String> = r.credits.iter().map(|(p, c)| format!("{c} {p} credits")).collect();
        let usd = r.usd.map(|u| format!(" ≈ {u}")).unwrap_or_default();
        ctx.out.line(format!(
            "Batch {}: {} done, {} failed, {} unknown, {} pending, {} not sent; cost {}{usd}",
            r.batch_id,
            r.done,
            r.failed,
            r.unknown,
            r.pending,
            r.not_sent,
            if cost.is_empty() { "nothing".to_owned() } else { cost.join(", ") }
        ));
        if r.unknown > 0 {
            ctx.out.note("Lines marked unknown may have been charged and are never sent again by a batch; `conjure status JOB` shows each, `conjure retry JOB` sends one again after a new approval.");
        }
        if r.pending > 0 || r.not_sent > 0 {
            ctx.out.note(format!(
                "`conjure batch --resume {}` collects what is pending and sends what was not sent.",
                r.batch_id
            ));
        }
    }
    let exit = if r.unknown > 0 {
        Some(Exit::Unknown)
    } else if r.over_budget > 0 {
        Some(Exit::Budget)
    } else if r.failed > 0 {
        Some(Exit::Provider)
    } else if r.pending > 0 || r.not_sent > 0 {
        Some(Exit::Pending)
    } else {
        None
    };
    match exit {
        Some(e) => Err(CliError::silent(e).into()),
        None => Ok(()),
    }
}
