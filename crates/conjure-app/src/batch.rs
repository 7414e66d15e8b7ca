//! `conjure batch`: a JSON Lines file of requests, quoted as one, approved once, journalled before
//! anything is sent, sent as few paid calls as each provider's rules allow, and resumable.
//!
//! 1. [`App::plan_batch`] reads the lines (each the JSON of a generation request, as the MCP
//!    server takes them; `kind` names the request type, default image), refuses the whole file if
//!    any line is bad (every bad line named), and derives the batch id from the requests, so the
//!    same file is the same batch. The lines already journalled under that id decide what is
//!    left: a line whose call may have cost money is never sent again ([`line_outcomes`]). What
//!    is left is packed into calls ([`conjure_core::batch::pack`]) and priced: per line, per
//!    provider and in total, with one token that approves exactly those calls.
//! 2. [`App::run_batch`] journals the plan, then sends each call down the one paid path
//!    ([`App::pay`], which reserves it against every budget inside the journal's transaction and
//!    takes the provider's in-flight turn). Providers with an in-flight limit get one lane of
//!    that width; the others run at `concurrency`. A 429 on a call's submit means the provider
//!    did not accept it: the batch waits out `Retry-After`, lowers its concurrency and sends that
//!    call again; this is the only resend, and never of a call whose outcome is unknown.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use conjure_core::approval::{Consent, Order};
use conjure_core::batch::{
    self, BatchLine, BatchLink, BatchPlan, ENVELOPE_ITEMS, LineOutcome, LineState, PackLine,
};
use conjure_core::policy::{self, Limit};
use conjure_core::{Credits, JobId, JobSpec, JobStore as _, ProviderId, Usd};
use serde::Serialize;

use crate::destination::Destination;
use crate::error::{AppError, ErrorKind};
use crate::paid::{Paid, PayOptions, Progress};
use crate::request::Request;
use crate::session::{App, Connector, Session};
use crate::timefmt::now_ms;

/// How often one call is sent again after 429s before the batch gives up on it for this run.
const MAX_RATE_LIMITED: u32 = 5;

/// One line of the file, read.
#[derive(Clone, Debug)]
struct Line {
    number: u32,
    raw: serde_json::Value,
    spec: JobSpec,
}

/// A paid call of the batch: its order and the lines it sends.
#[derive(Clone, Debug)]
pub struct Call {
    pub order: Order,
    pub lines: Vec<BatchLine>,
}

/// One line's price.
#[derive(Clone, Debug, Serialize)]
pub struct LineQuote {
    pub line: u32,
    pub provider: ProviderId,
    pub model: String,
    pub credits: Credits,
    pub usd: Option<Usd>,
}

/// A provider's share of the quote.
#[derive(Clone, Debug, Serialize)]
pub struct ProviderQuote {
    pub provider: ProviderId,
    pub credits: Credits,
    pub usd: Option<Usd>,
    pub calls: usize,
    pub lines: usize,
}

/// A line as reported.
#[derive(Clone, Debug, Serialize)]
pub struct LineView {
    pub line: u32,
    pub state: LineState,
    pub job_id: Option<JobId>,
    pub files: Vec<String>,
    /// Why it failed or was not sent, when it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl LineView {
    fn of(o: &LineOutcome) -> LineView {
        LineView {
            line: o.line,
            state: o.state,
            job_id: o.job.clone(),
            files: o.files.clone(),
            error: None,
        }
    }
}

/// What is left to send of a batch, priced.
#[derive(Clone, Debug, Serialize)]
pub struct BatchQuote {
    pub batch_id: String,
    pub source: String,
    /// Lines in the file.
    pub total_lines: usize,
    /// The lines this run would send, each priced.
    pub lines: Vec<LineQuote>,
    pub providers: Vec<ProviderQuote>,
    /// The dollars of the whole run, when every provider in it has a dollar price.
    pub usd: Option<Usd>,
    /// Paid calls this run would make.
    pub calls: usize,
    /// Lines a run will not send: done, running, failed, or unknown.
    pub skipped: Vec<LineView>,
    /// Approves exactly these calls at these prices: `conjure batch FILE --approve TOKEN`.
    pub token: String,
    /// Some price is not published by its provider (counted as zero above).
    pub unpriced: bool,
    pub notes: Vec<String>,
}

/// A batch ready to run.
#[derive(Debug)]
pub struct BatchRun {
    pub plan: BatchPlan,
    pub quote: BatchQuote,
    pub calls: Vec<Call>,
}

/// How a batch is run.
#[derive(Clone, Debug)]
pub struct BatchOptions {
    /// Calls in flight at once for providers without an in-flight limit of their own.
    pub concurrency: usize,
    /// The most the whole run may cost.
    pub max_cost: Option<Limit>,
    /// Where the files go.
    pub out: Option<Destination>,
    pub force: bool,
    /// Send lines whose request was sent in the last 24 hours outside this batch.
    pub again: bool,
}

/// What a batch did.
#[derive(Clone, Debug, Serialize)]
pub struct BatchReport {
    pub batch_id: String,
    pub lines: Vec<LineView>,
    pub done: usize,
    pub failed: usize,
    pub unknown: usize,
    /// Not sent in this run (refused by a budget, interrupted, or rate-limited too often).
    pub not_sent: usize,
    /// Of `not_sent`, those a budget or cost limit refused.
    pub over_budget: usize,
    /// Running at the provider or not yet downloaded: `conjure batch --resume` collects them.
    pub pending: usize,
    /// What this batch's jobs cost, per provider (charged, or quoted where not reported).
    pub credits: BTreeMap<ProviderId, Credits>,
    pub usd: Option<Usd>,
    /// Calls sent again after a 429 (the provider accepted nothing the first time).
    pub rate_limited_resends: u32,
}

/// Something a front end may show while a batch runs.
#[derive(Debug)]
pub enum BatchEvent<'a> {
    /// A call is about to be sent.
    Sending { lines: &'a [BatchLine], provider: ProviderId },
    /// A call's 429: waiting before sending it again, with the lanes' new width.
    RateLimited { lines: &'a [BatchLine], wait: Duration, concurrency: usize },
    /// A call ended (its lines' states follow in the report).
    Ended { lines: &'a [BatchLine], job: Option<&'a JobId>, error: Option<&'a AppError> },
    /// A job's progress, as for single commands.
    Job(Progress<'a>),
}

/// Reads the file's lines. Every bad line is named; nothing is sent while any is bad.
fn read_lines(text: &str) -> Result<Vec<(u32, Request, serde_json::Value)>, AppError> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let number = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("//") {
            continue;
        }
        let mut value: serde_json::Value = match serde_json::from_str(trimmed) {
            Ok(v) => v,
            Err(e) => {
                problems.push(format!("line {number}: not JSON ({e})"));
                continue;
            }
        };
        let Some(object) = value.as_object_mut() else {
            problems.push(format!("line {number}: not a JSON object"));
            continue;
        };
        // `kind` is the request type (`type` is accepted too); image when absent.
        let kind = object.remove("kind");
        if !object.contains_key("type") {
            object.insert("type".into(), kind.unwrap_or_else(|| "image".into()));
        }
        match serde_json::from_value::<Request>(value.clone()) {
            Ok(Request::Payload(_)) => {
                problems.push(format!("line {number}: raw payloads are not batch lines; give the request's fields (kind, model, prompt, ...)"));
            }
            Ok(Request::Tool(_)) => {
                problems.push(format!("line {number}: upscale and remove-bg are not batch lines yet; run them one by one"));
            }
            Ok(r) => out.push((number, r, value)),
            Err(e) => problems.push(format!("line {number}: {e}")),
        }
    }
    if !problems.is_empty() {
        let shown: Vec<&str> = problems.iter().take(20).map(String::as_str).collect();
        let more = problems.len().saturating_sub(shown.len());
        return Err(AppError::invalid(format!(
            "{} bad line(s); nothing was sent:\n  {}{}",
            problems.len(),
            shown.join("\n  "),
            if more > 0 { format!("\n  ... and {more} more") } else { String::new() }
        ))
        .hint("each line is one JSON object with the fields of a generation command, e.g. {\"kind\":\"image\",\"provider\":\"katana\",\"model\":\"gen\",\"prompt\":\"a red fox\",\"aspect\":\"16:9\",\"count\":2}; `#` starts a comment line"));
    }
    if out.is_empty() {
        return Err(AppError::invalid("The batch file has no requests; nothing was sent").hint(
            "write one JSON object per line, e.g. {\"kind\":\"image\",\"prompt\":\"a red fox\"}",
        ));
    }
    Ok(out)
}

fn quotes(calls: &[Call]) -> Vec<&conjure_core::Quote> {
    calls.iter().map(|c| &c.order.quote).collect()
}

impl<C: Connector> App<C> {
    /// Reads a batch file and prices what is left to send of it. Sends nothing; journals
    /// nothing.
    pub async fn plan_batch(
        &self,
        session: &Session,
        source: &str,
        text: &str,
    ) -> Result<BatchRun, AppError> {
        let parsed = read_lines(text)?;
        let catalogue = self.catalogue();
        let mut lines = Vec::new();
        let mut problems = Vec::new();
        for (number, request, raw) in parsed {
            match request.spec_in(catalogue).and_then(|spec| {
                conjure_core::spec::validate(&spec, catalogue)?;
                Ok(spec)
            }) {
                Ok(spec) => lines.push(Line { number, raw, spec }),
                Err(e) => problems.push(format!("line {number}: {}", e.message)),
            }
        }
        // The same request twice is a second payment nobody asked for: `count` asks for more.
        let fingerprints: Vec<String> = lines.iter().map(|l| l.spec.fingerprint()).collect();
        let mut seen: BTreeMap<&str, u32> = BTreeMap::new();
        for (l, f) in lines.iter().zip(&fingerprints) {
            if let Some(first) = seen.insert(f, l.number) {
                problems.push(format!(
                    "line {} repeats line {first}; ask for more outputs with \"count\" instead",
                    l.number
                ));
            }
        }
        if !problems.is_empty() {
            return Err(AppError::invalid(format!(
                "{} line(s) cannot be sent; nothing was sent:\n  {}",
                problems.len(),
                problems.join("\n  ")
            ))
            .hint("fix those lines and run the batch again"));
        }
        let id = batch::batch_id(fingerprints.iter().map(String::as_str));
        let plan = BatchPlan {
            id: id.clone(),
            source: source.to_owned(),
            lines: lines.iter().map(|l| (l.number, l.raw.clone())).collect(),
            created_at: now_ms(),
        };
        let jobs = session.journal.batch_jobs(&id).await?;
        let numbers: Vec<u32> = lines.iter().map(|l| l.number).collect();
        let outcomes = batch::line_outcomes(&numbers, &jobs);
        let to_send: Vec<&Line> = lines
            .iter()
            .zip(&outcomes)
            .filter(|(_, o)| o.state == LineState::ToSend)
            .map(|(l, _)| l)
            .collect();
        let skipped: Vec<LineView> =
            outcomes.iter().filter(|o| o.state != LineState::ToSend).map(LineView::of).collect();
        let calls = self.pack_calls(&id, &to_send)?;
        let mut nonce = [0_u8; 4];
        getrandom::fill(&mut nonce)
            .map_err(|e| AppError::other(format!("Cannot read random bytes for a token: {e}")))?;
        let quote =
            self.quote_batch(&plan, &lines, &to_send, &calls, skipped, &hex::encode(nonce))?;
        Ok(BatchRun { plan, quote, calls })
    }

    /// Groups the lines to send into orders: shared envelopes where the provider has an
    /// in-flight limit and takes several items per request, one call per line elsewhere.
    fn pack_calls(&self, batch: &str, lines: &[&Line]) -> Result<Vec<Call>, AppError> {
        let mut by_provider: BTreeMap<ProviderId, Vec<&Line>> = BTreeMap::new();
        for l in lines {
            by_provider.entry(l.spec.provider).or_default().push(l);
        }
        let mut calls = Vec::new();
        for (provider, lines) in by_provider {
            let shared = self.config.max_in_flight(provider).is_some()
                && conjure_providers::registry::capabilities(provider).inline_inputs;
            let pack_lines: Vec<PackLine> = lines
                .iter()
                .map(|l| PackLine {
                    line: l.number,
                    kind: l.spec.kind(),
                    items: u32::try_from(l.spec.items.len()).unwrap_or(u32::MAX),
                })
                .collect();
            for group in batch::pack(&pack_lines, shared, ENVELOPE_ITEMS) {
                let members: Vec<&Line> = group
                    .iter()
                    .filter_map(|p| lines.iter().find(|l| l.number == p.line).copied())
                    .collect();
                let spec = if members.len() == 1 {
                    members[0].spec.clone()
                } else {
                    JobSpec::new(
                        provider,
                        members.iter().flat_map(|l| l.spec.items.iter().cloned()).collect(),
                    )
                };
                let mut order = self.order(spec, None)?;
                let carried: Vec<BatchLine> =
                    group.iter().map(|p| BatchLine { line: p.line, items: p.items }).collect();
                order.batch = Some(BatchLink { batch: batch.to_owned(), lines: carried.clone() });
                calls.push(Call { order, lines: carried });
            }
        }
        Ok(calls)
    }

    fn quote_batch(
        &self,
        plan: &BatchPlan,
        all: &[Line],
        to_send: &[&Line],
        calls: &[Call],
        skipped: Vec<LineView>,
        nonce: &str,
    ) -> Result<BatchQuote, AppError> {
        let mut lines = Vec::new();
        let mut unpriced = false;
        for l in to_send {
            let q = conjure_core::Quote::compute_with(
                &l.spec,
                self.catalogue(),
                self.config.price(l.spec.provider),
                &self.config.imaginepro_prices,
            )?;
            unpriced |= q.unpriced;
            lines.push(LineQuote {
                line: l.number,
                provider: l.spec.provider,
                model: l.spec.model().to_owned(),
                credits: q.credits,
                usd: q.usd,
            });
        }
        let mut providers: BTreeMap<ProviderId, ProviderQuote> = BTreeMap::new();
        for c in calls {
            let q = &c.order.quote;
            let p = providers.entry(q.provider).or_insert(ProviderQuote {
                provider: q.provider,
                credits: Credits::ZERO,
                usd: Some(Usd::ZERO),
                calls: 0,
                lines: 0,
            });
            p.credits += q.credits;
            p.usd = match (p.usd, q.usd) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            };
            p.calls += 1;
            p.lines += c.lines.len();
            unpriced |= q.unpriced;
        }
        let usd = providers.values().try_fold(Usd::ZERO, |a, p| p.usd.map(|u| a + u));
        let mut notes = Vec::new();
        let packed = calls.iter().filter(|c| c.lines.len() > 1).count();
        if packed > 0 {
            notes.push(format!(
                "{packed} call(s) carry several lines each (up to {ENVELOPE_ITEMS} items): a provider that allows one request in flight gets fewer, larger requests"
            ));
        }
        for p in providers.values() {
            if p.usd.is_none() {
                notes.push(format!(
                    "{} has no dollar price: its part is in credits only ([{}] usd_per_credit)",
                    p.provider, p.provider
                ));
            }
        }
        Ok(BatchQuote {
            batch_id: plan.id.clone(),
            source: plan.source.clone(),
            total_lines: all.len(),
            lines,
            providers: providers.into_values().collect(),
            usd,
            calls: calls.len(),
            skipped,
            token: conjure_core::approval::batch_token(nonce, &plan.id, &quotes(calls)),
            unpriced,
            notes,
        })
    }

    /// Checks the whole run's consent and limits before anything is journalled or sent.
    pub fn approve_batch(
        &self,
        run: &BatchRun,
        consent: Option<&Consent>,
        options: &BatchOptions,
    ) -> Result<bool, AppError> {
        if run.calls.is_empty() {
            return Ok(true);
        }
        // The whole run against --max-cost, then --yes against its cap, as one request.
        let parts: Vec<policy::PartCost> = run
            .quote
            .providers
            .iter()
            .map(|p| policy::PartCost { provider: p.provider, credits: p.credits, usd: p.usd })
            .collect();
        let whole = |limit: Limit| policy::check_whole(limit, &parts, run.quote.unpriced);
        if let Some(limit) = options.max_cost {
            whole(limit).map_err(|e| match e {
                policy::SpendRefusal::OverMaxCost { .. } => {
                    AppError::from(e).hint("raise --max-cost, or send fewer lines (a shorter file)")
                }
                other => AppError::from(other),
            })?;
        }
        match consent {
            None => Ok(false),
            Some(Consent::Token(t)) => {
                if conjure_core::approval::batch_accepts(t, &run.plan.id, &quotes(&run.calls)) {
                    Ok(true)
                } else {
                    Err(AppError::invalid("The approval token does not match this batch; nothing was sent")
                        .hint("the file, the prices, or what is left to send changed since that quote; run `conjure batch FILE` again to see the new quote"))
                }
            }
            Some(Consent::Yes) => {
                if options.max_cost.is_none() && !self.config.sandbox {
                    let cap = self.config.yes_max_cost;
                    whole(cap).map_err(|e| match e {
                        policy::SpendRefusal::OverMaxCost { quoted, limit } => {
                            AppError::from(policy::SpendRefusal::OverYesLimit { quoted, limit })
                                .hint("add --max-cost at or above the batch total, or run without --yes, read the quote and approve it with --approve TOKEN")
                        }
                        other => AppError::from(other),
                    })?;
                }
                Ok(true)
            }
            Some(Consent::Person | Consent::Batch) => Ok(true),
        }
    }

    /// Journals the plan and sends every call; `interrupted` stops sending new calls and
    /// waiting (what was sent stays journalled and resumable).
    pub async fn run_batch(
        &self,
        session: &Session,
        run: BatchRun,
        options: &BatchOptions,
        observer: &(dyn Fn(BatchEvent<'_>) + Send + Sync),
        interrupted: &AtomicBool,
    ) -> Result<BatchReport, AppError> {
        session.journal.record_batch(&run.plan).await?;
        // What earlier runs left running is collected while the rest is sent.
        let collect = self.collect_batch(session, &run.plan.id, options, observer, interrupted);
        let mut resends = 0_u32;
        let mut lanes: BTreeMap<Option<ProviderId>, Vec<Call>> = BTreeMap::new();
        for call in run.calls {
            let p = call.order.spec.provider;
            let lane = self.config.max_in_flight(p).map(|_| p);
            lanes.entry(lane).or_default().push(call);
        }
        let sending = futures_util::future::join_all(lanes.into_iter().map(|(lane, calls)| {
            let width = match lane {
                Some(p) => self.config.max_in_flight(p).unwrap_or(1) as usize,
                None => options.concurrency.max(1),
            };
            self.run_lane(session, calls, width, options, observer, interrupted)
        }));
        let (collected, results) = futures_util::future::join(collect, sending).await;
        let mut errors = collected?;
        for r in results {
            let (e, n) = r?;
            errors.extend(e);
            resends += n;
        }
        self.report_batch(session, &run.plan, errors, resends).await
    }

    /// Waits for and downloads the batch's jobs an earlier run left running or undelivered
    /// (a kill, an interrupt, a failed download): polling is free, nothing is sent.
    async fn collect_batch(
        &self,
        session: &Session,
        batch: &str,
        options: &BatchOptions,
        observer: &(dyn Fn(BatchEvent<'_>) + Send + Sync),
        interrupted: &AtomicBool,
    ) -> Result<BTreeMap<u32, (ErrorKind, String)>, AppError> {
        use conjure_core::JobState;
        let jobs = session.journal.batch_jobs(batch).await?;
        let open: Vec<_> = jobs
            .into_iter()
            .filter(|j| {
                j.request_id.is_some()
                    && (matches!(j.state, JobState::Submitted | JobState::Processing)
                        || j.is_undelivered())
            })
            .collect();
        let gate = tokio::sync::Semaphore::new(options.concurrency.max(1));
        let tasks = open.iter().map(|job| async {
            let _permit = gate.acquire().await;
            let lines: Vec<BatchLine> =
                job.batch.as_ref().map(|b| b.lines.clone()).unwrap_or_default();
            let delivery = self.delivery_for(job, options.out.as_ref(), options.force);
            let progress = |p: Progress<'_>| observer(BatchEvent::Job(p));
            // A job still running at the provider is in flight: it holds the provider's turn.
            let running = matches!(job.state, JobState::Submitted | JobState::Processing);
            let turn = match self.config.max_in_flight(job.provider).filter(|_| running) {
                Some(max) => {
                    crate::inflight::acquire(&self.config.data_dir, job.provider, max, || {
                        observer(BatchEvent::Job(Progress::WaitingTurn {
                            provider: job.provider,
                            max,
                        }));
                    })
                    .await
                    .map(Some)
                }
                None => Ok(None),
            };
            let result = match turn.and_then(|slot| Ok((slot, self.connect(job.provider)?))) {
                Ok((_slot, provider)) => {
                    let stop = async {
                        while !interrupted.load(Ordering::SeqCst) {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    };
                    self.finish(session, &provider, &job.id, &delivery, &progress, stop).await
                }
                Err(e) => Err(e),
            };
            let error = result.err();
            observer(BatchEvent::Ended {
                lines: &lines,
                job: Some(&job.id),
                error: error.as_ref(),
            });
            (lines, error)
        });
        let mut errors = BTreeMap::new();
        for (lines, error) in futures_util::future::join_all(tasks).await {
            if let Some(e) = error {
                for l in lines {
                    errors.insert(l.line, (e.kind, e.message.clone()));
                }
            }
        }
        Ok(errors)
    }

    /// Sends `calls` with at most `width` in flight, narrowing after a 429.
    async fn run_lane(
        &self,
        session: &Session,
        calls: Vec<Call>,
        width: usize,
        options: &BatchOptions,
        observer: &(dyn Fn(BatchEvent<'_>) + Send + Sync),
        interrupted: &AtomicBool,
    ) -> Result<(BTreeMap<u32, (ErrorKind, String)>, u32), AppError> {
        let gate = Arc::new(tokio::sync::Semaphore::new(width));
        let width = Arc::new(std::sync::atomic::AtomicUsize::new(width));
        let tasks = calls.into_iter().map(|call| {
            let gate = gate.clone();
            let width = width.clone();
            async move {
                let mut errors = BTreeMap::new();
                let mut resends = 0;
                let mut attempts = 0;
                loop {
                    let Ok(permit) = gate.clone().acquire_owned().await else { break };
                    if interrupted.load(Ordering::SeqCst) {
                        for l in &call.lines {
                            errors.insert(
                                l.line,
                                (
                                    ErrorKind::StillPending,
                                    "interrupted before it was sent".to_owned(),
                                ),
                            );
                        }
                        break;
                    }
                    observer(BatchEvent::Sending {
                        lines: &call.lines,
                        provider: call.order.spec.provider,
                    });
                    let pay_options = PayOptions {
                        again: options.again,
                        max_cost: None,
                        no_wait: false,
                        destination: options.out.clone(),
                        force: options.force,
                    };
                    let stop = async {
                        while !interrupted.load(Ordering::SeqCst) {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    };
                    let progress = |p: Progress<'_>| observer(BatchEvent::Job(p));
                    let result = self
                        .pay(
                            session,
                            call.order.clone(),
                            &pay_options,
                            Some(Consent::Batch),
                            &progress,
                            stop,
                        )
                        .await;
                    match result {
                        Ok(Paid::Done(done)) => {
                            observer(BatchEvent::Ended {
                                lines: &call.lines,
                                job: Some(&done.job.id),
                                error: None,
                            });
                            break;
                        }
                        Ok(Paid::Submitted(job)) => {
                            observer(BatchEvent::Ended {
                                lines: &call.lines,
                                job: Some(&job.id),
                                error: None,
                            });
                            break;
                        }
                        Ok(Paid::NeedsApproval(_)) => {
                            for l in &call.lines {
                                errors.insert(
                                    l.line,
                                    (ErrorKind::ConfirmationRequired, "not approved".to_owned()),
                                );
                            }
                            break;
                        }
                        Err(e) if e.retry_after.is_some() && attempts < MAX_RATE_LIMITED => {
                            attempts += 1;
                            resends += 1;
                            let wait = e.retry_after.unwrap_or(Duration::from_secs(5));
                            // Narrow the lane by one (never below one) by keeping this permit.
                            let now = width.load(Ordering::SeqCst);
                            if now > 1 {
                                width.store(now - 1, Ordering::SeqCst);
                                permit.forget();
                            } else {
                                drop(permit);
                            }
                            observer(BatchEvent::RateLimited {
                                lines: &call.lines,
                                wait,
                                concurrency: width.load(Ordering::SeqCst),
                            });
                            tokio::time::sleep(self.config.poll.retry_after(Some(wait))).await;
                        }
                        Err(e) => {
                            observer(BatchEvent::Ended {
                                lines: &call.lines,
                                job: e.job.as_ref(),
                                error: Some(&e),
                            });
                            for l in &call.lines {
                                errors.insert(l.line, (e.kind, e.message.clone()));
                            }
                            break;
                        }
                    }
                }
                (errors, resends)
            }
        });
        let done = futures_util::future::join_all(tasks).await;
        let mut errors = BTreeMap::new();
        let mut resends = 0;
        for (e, n) in done {
            errors.extend(e);
            resends += n;
        }
        Ok((errors, resends))
    }

    /// Where every line of a batch stands now, and what its jobs cost.
    pub async fn report_batch(
        &self,
        session: &Session,
        plan: &BatchPlan,
        errors: BTreeMap<u32, (ErrorKind, String)>,
        rate_limited_resends: u32,
    ) -> Result<BatchReport, AppError> {
        let jobs = session.journal.batch_jobs(&plan.id).await?;
        let numbers: Vec<u32> = plan.lines.keys().copied().collect();
        let outcomes = batch::line_outcomes(&numbers, &jobs);
        let lines: Vec<LineView> = outcomes
            .iter()
            .map(|o| LineView {
                error: errors.get(&o.line).map(|e| e.1.clone()),
                ..LineView::of(o)
            })
            .collect();
        let over_budget = outcomes
            .iter()
            .filter(|o| {
                o.state == LineState::ToSend
                    && errors.get(&o.line).is_some_and(|e| e.0 == ErrorKind::OverBudget)
            })
            .count();
        let count = |s: LineState| lines.iter().filter(|l| l.state == s).count();
        let mut credits: BTreeMap<ProviderId, Credits> = BTreeMap::new();
        let mut usd = Some(Usd::ZERO);
        for j in &jobs {
            if let Some((_, c)) =
                policy::counted(j.state, j.request_id.is_some(), j.quoted_credits, j.credits_spent)
            {
                *credits.entry(j.provider).or_insert(Credits::ZERO) =
                    credits.get(&j.provider).copied().unwrap_or(Credits::ZERO) + c;
                usd = match (usd, self.config.price(j.provider)) {
                    (Some(u), Some(p)) => Some(u + p.usd(c)),
                    _ => None,
                };
            }
        }
        Ok(BatchReport {
            batch_id: plan.id.clone(),
            done: count(LineState::Done),
            failed: count(LineState::Failed),
            unknown: count(LineState::Unknown),
            not_sent: count(LineState::ToSend),
            over_budget,
            pending: count(LineState::Running) + count(LineState::Undelivered),
            lines,
            credits,
            usd,
            rate_limited_resends,
        })
    }

    /// The journalled plan of batch `id` (or an unambiguous prefix), as its file's text.
    pub async fn batch_source(
        &self,
        session: &Session,
        id: &str,
    ) -> Result<(String, String), AppError> {
        let plan = session.journal.batch(id).await.map_err(|e| match e {
            conjure_core::StoreError::NotFound(_) => AppError::invalid(format!("No batch `{id}` in the journal"))
                .hint("`conjure batch FILE` prints the batch id; running the same file again resumes it too"),
            other => other.into(),
        })?;
        // Blank lines keep the numbering: line N of the plan is line N again.
        let last = plan.lines.keys().max().copied().unwrap_or(0);
        let mut text = String::new();
        for n in 1..=last {
            if let Some(v) = plan.lines.get(&n) {
                text.push_str(&v.to_string());
            }
            text.push('\n');
        }
        Ok((plan.source, text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_lines_are_all_named_and_kind_defaults_to_image() {
        let e = read_lines("{\"prompt\":\"a\"}\nnot json\n[1]\n{\"kind\":\"image\",\"prompt\":\"b\",\"colour\":1}\n")
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidInput);
        for n in ["line 2", "line 3", "line 4"] {
            assert!(e.message.contains(n), "{}", e.message);
        }
        assert!(!e.message.contains("line 1:"), "{}", e.message);
        let ok =
            read_lines("# products\n\n{\"prompt\":\"a\"}\n{\"kind\":\"video\",\"prompt\":\"b\"}\n")
                .unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[0].0, 3);
        assert!(matches!(ok[0].1, Request::Image(_)));
        assert!(matches!(ok[1].1, Request::Video(_)));
        assert!(read_lines("\n# only a comment\n").is_err());
    }
}
