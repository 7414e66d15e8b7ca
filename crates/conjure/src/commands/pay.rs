//! The CLI's side of the paid path: turning flags into consent and options, asking a person at
//! a terminal, and printing what happened. The path itself is `conjure_app::App::pay`.
//!
//! Consent comes from exactly one of: `--approve TOKEN` (a token from an earlier quote of this
//! very request), `--yes`, or a person answering `y` on a terminal. Without any, the quote is
//! printed as `confirmation_required` and the command exits 3 with nothing sent. Limits
//! (`--max-cost`, the daily budget) and the 24-hour duplicate rule bind every form of consent and
//! are checked before anyone is asked. Before that, the daily catalogue check
//! (`App::catalogue_notice`) may print one warning that the catalogue is stale; it never blocks.

use std::io::BufRead as _;

use conjure_app::views::{QuoteView, RequestView};
use conjure_app::{App, Connector, Paid, PayOptions, Progress};
use conjure_core::runner::Event;
use conjure_core::spec::Item;
use conjure_core::text::{Delta, TextMode};
use conjure_core::{Consent, Order};

use crate::cli::PayArgs;
use crate::commands::{Ctx, ctrl_c, report};
use crate::error::{CliError, Exit};
use crate::settings::parse_limit;

/// Sends `order` if approved (or shows its quote with `--dry-run`), and reports the outcome.
pub async fn run(ctx: &Ctx, order: Order, pay: &PayArgs) -> anyhow::Result<()> {
    // Boxed: every paid command awaits this, and clippy counts its (large) state in each.
    Box::pin(run_with(ctx, &ctx.app, order, pay)).await
}

/// [`run`] with `app`'s providers: the configured ones, or a team gateway's
/// ([`crate::commands::gateway`]).
pub async fn run_with<C: Connector>(
    ctx: &Ctx,
    app: &App<C>,
    order: Order,
    pay: &PayArgs,
) -> anyhow::Result<()> {
    ctx.out.event(
        "quoted",
        None,
        &serde_json::json!({
            "provider": order.quote.provider,
            "model": order.quote.model,
            "credits": order.quote.credits,
            "usd": order.quote.usd,
            "unpriced": order.quote.unpriced,
            "token": order.quote.token,
        }),
    );
    if pay.approval.dry_run {
        show_quote(ctx, &order, "quote");
        return Ok(());
    }
    if let Some(warning) = app.catalogue_notice(order.spec.provider).await {
        ctx.out.warn(warning);
    }
    let (destination, deprecated) = pay.output.destination();
    if let Some(note) = deprecated {
        ctx.out.warn(note);
    }
    let options = PayOptions {
        again: pay.approval.again,
        max_cost: pay
            .approval
            .max_cost
            .as_deref()
            .map(|s| parse_limit(s, "cost limit"))
            .transpose()?,
        no_wait: pay.no_wait,
        destination,
        force: pay.output.force,
    };
    let consent = match (&pay.approval.approve, pay.approval.yes) {
        (Some(token), _) => Some(Consent::Token(token.clone())),
        (None, true) => Some(Consent::Yes),
        (None, false) => None,
    };
    let price = app.config.price(order.spec.provider);
    let cost = crate::output::cost_phrase(order.quote.credits, order.quote.usd.and(price));
    let what = if order.quote.text.is_some() {
        format!("{} · up to {cost} reserved", order.spec.model())
    } else {
        format!("{} · {cost}", order.spec.model())
    };
    let out = ctx.out;
    // A text answer that streams (or comes whole) is reported once, by its summary; an async
    // one is a job like media, announced when accepted.
    let text = text_mode(&order);
    let streaming = text.is_some_and(|m| m != TextMode::Async);
    let progress = report::observer(out, streaming);
    let streamed = std::sync::Mutex::new(String::new());
    let observer = |p: Progress<'_>| {
        match &p {
            Progress::Job(Event::Submitted { job, request_id }) if !streaming => {
                out.note(format!("Submitted job {job} (request {request_id}): {what}"));
            }
            // Before the first word of the answer: which job and request this is.
            Progress::Job(Event::Streamed { job, delta: Delta::Started { request_id } }) => {
                out.note(format!("Job {job} (request {request_id}): {what}"));
            }
            Progress::Job(Event::Streamed { delta: Delta::Answer(a), .. }) => {
                if let Ok(mut s) = streamed.lock() {
                    // Only the end matters: whether the terminal needs a line break.
                    s.clear();
                    s.push_str(a);
                }
            }
            _ => {}
        }
        progress(p);
    };
    let session = app.session().await?;
    let failed = |e| failed(ctx, &session, text.is_some(), &streamed, e);
    let mut paid = match app.pay(&session, order, &options, consent, &observer, ctrl_c()).await {
        Ok(p) => p,
        Err(e) => return Err(failed(e).await),
    };
    if let Paid::NeedsApproval(order) = paid {
        // A program reading events cannot answer a prompt either.
        if !ctx.interactive || ctx.out.json || ctx.out.events {
            show_quote(ctx, &order, "confirmation_required");
            if !ctx.out.json {
                ctx.out.important(format!(
                    "Nothing was sent. To send exactly this request, run the same command with --approve {}",
                    order.quote.token
                ));
            }
            ctx.out.error_event(
                &CliError::new(Exit::Confirm, "Confirmation required; nothing was sent").hint(
                    format!(
                        "to send exactly this request, run the same command with --approve {}",
                        order.quote.token
                    ),
                ),
            );
            return Err(CliError::silent(Exit::Confirm).into());
        }
        ctx.out.quote(&order.quote, price);
        eprint!("Send this request? [y/N] ");
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer).ok();
        if !matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
            return Err(CliError::new(Exit::Confirm, "Not approved; nothing was sent").into());
        }
        let consent = Some(Consent::Person);
        paid = match app.pay(&session, *order, &options, consent, &observer, ctrl_c()).await {
            Ok(p) => p,
            Err(e) => return Err(failed(e).await),
        };
    }
    match paid {
        Paid::NeedsApproval(_) => {
            Err(CliError::new(Exit::Confirm, "Not approved; nothing was sent").into())
        }
        Paid::Submitted(job) => {
            report::submitted(ctx, &job);
            Ok(())
        }
        Paid::Done(done) if text.is_some() => {
            let printed = text == Some(TextMode::Stream) && !ctx.out.json;
            report::text_result(ctx, &done.job, done.elapsed, printed);
            Ok(())
        }
        Paid::Done(done) => {
            report::result(ctx, &done.job, &done.outputs, done.elapsed);
            Ok(())
        }
    }
}

/// How a text order's answer comes back; `None` for media.
fn text_mode(order: &Order) -> Option<TextMode> {
    order.spec.items.iter().find_map(|i| match i {
        Item::Text(t) => Some(t.mode),
        _ => None,
    })
}

/// The error of a failed paid call. For a text job, the partial answer printed so far ends
/// before the error does, and `--json` (whose stdout had nothing else) carries what arrived.
async fn failed(
    ctx: &Ctx,
    session: &conjure_app::Session,
    text: bool,
    streamed: &std::sync::Mutex<String>,
    e: conjure_app::AppError,
) -> anyhow::Error {
    if !text {
        return e.into();
    }
    ctx.out.end_answer(&streamed.lock().map(|s| s.clone()).unwrap_or_default());
    let mut err = CliError::from(e);
    if ctx.out.json
        && let Some(id) = err.job_id.as_deref().and_then(conjure_core::JobId::parse)
        && let Ok(job) = conjure_core::JobStore::get(&session.journal, &id).await
        && let Some(text) = conjure_app::views::text_answer(&job)
    {
        err.answer = Some(text.answer.into_boxed_str());
    }
    err.into()
}

/// Prints a quote and its exact request: JSON on stdout with `--json`, else people's form.
pub fn show_quote(ctx: &Ctx, order: &Order, status: &'static str) {
    let provider = order.spec.provider;
    let base_url = ctx.app.config.provider(provider).base_url;
    let request = RequestView::new(provider, &order.wire, &base_url);
    if ctx.out.json {
        ctx.out.json_value(&QuoteView { status, quote: &order.quote, request });
    } else {
        ctx.out.quote(&order.quote, ctx.app.config.price(provider));
        ctx.out.line(serde_json::to_string_pretty(&request).unwrap_or_default());
    }
}
