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
use conjure_app::{Paid, PayOptions, Progress};
use conjure_core::runner::Event;
use conjure_core::{Consent, Order};

use crate::cli::PayArgs;
use crate::commands::{Ctx, ctrl_c, report};
use crate::error::{CliError, Exit};
use crate::settings::parse_limit;

/// Sends `order` if approved (or shows its quote with `--dry-run`), and reports the outcome.
pub async fn run(ctx: &Ctx, order: Order, pay: &PayArgs) -> anyhow::Result<()> {
    if pay.dry_run {
        show_quote(ctx, &order, "quote");
        return Ok(());
    }
    let app = &ctx.app;
    if let Some(warning) = app.catalogue_notice(order.spec.provider).await {
        ctx.out.warn(warning);
    }
    let (destination, deprecated) = pay.output.destination();
    if let Some(note) = deprecated {
        ctx.out.warn(note);
    }
    let options = PayOptions {
        again: pay.again,
        max_cost: pay.max_cost.as_deref().map(|s| parse_limit(s, "cost limit")).transpose()?,
        no_wait: pay.no_wait,
        destination,
        force: pay.output.force,
    };
    let consent = match (&pay.approve, pay.yes) {
        (Some(token), _) => Some(Consent::Token(token.clone())),
        (None, true) => Some(Consent::Yes),
        (None, false) => None,
    };
    let price = app.config.price(order.spec.provider);
    let what = format!(
        "{} · {}",
        order.spec.model(),
        crate::output::cost_phrase(order.quote.credits, order.quote.usd.and(price))
    );
    let out = ctx.out;
    let progress = report::observer(out);
    let observer = move |p: Progress<'_>| {
        if let Progress::Job(Event::Submitted { job, request_id }) = &p {
            out.note(format!("Submitted job {job} (request {request_id}): {what}"));
        }
        progress(p);
    };
    let session = app.session().await?;
    let mut paid = app.pay(&session, order, &options, consent, &observer, ctrl_c()).await?;
    if let Paid::NeedsApproval(order) = paid {
        if !ctx.interactive || ctx.out.json {
            show_quote(ctx, &order, "confirmation_required");
            if !ctx.out.json {
                ctx.out.important(format!(
                    "Nothing was sent. To send exactly this request, run the same command with --approve {}",
                    order.quote.token
                ));
            }
            return Err(CliError::silent(Exit::Confirm).into());
        }
        ctx.out.quote(&order.quote, price);
        eprint!("Send this request? [y/N] ");
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer).ok();
        if !matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
            return Err(CliError::new(Exit::Confirm, "Not approved; nothing was sent").into());
        }
        paid =
            app.pay(&session, *order, &options, Some(Consent::Person), &observer, ctrl_c()).await?;
    }
    match paid {
        Paid::NeedsApproval(_) => {
            Err(CliError::new(Exit::Confirm, "Not approved; nothing was sent").into())
        }
        Paid::Submitted(job) => {
            report::submitted(ctx, &job);
            Ok(())
        }
        Paid::Done(done) => {
            report::result(ctx, &done.job, &done.outputs, done.elapsed);
            Ok(())
        }
    }
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
