//! The one policy for money and time: spending limits, duplicates, what may have cost money,
//! polling cadence, deadlines and what happens after a failed call.
//!
//! Money rules:
//! - A paid POST is never sent again by code. [`after_submit_error`] only decides whether the
//!   failed submit certainly cost nothing (`NotCharged`) or may have been charged
//!   (`MaybeCharged`, recorded as `unknown`). Polls are free, so [`after_poll_error`] may wait
//!   and poll again.
//! - [`money_at_risk`] says which jobs may have cost money. A job counts in budgets at the
//!   larger of its quote and what the provider reported charging, until the provider settled it
//!   ([`is_settled`]); from then on at the reported charge. A text job reserves its ceiling and
//!   settles to what its answer cost.
//! - Budgets ([`Budget`]) are rolling windows (24 hours, 30 days), for all providers together
//!   or for one; every budget that applies to a request must hold.
//! - [`reserve_verdict`] is the whole decision to record a job: its token unused, no earlier
//!   send of the same request inside the duplicate window (unless asked), and the budget. A
//!   store's `reserve` gathers the [`ReserveFacts`] and calls it inside the one transaction that
//!   records the job, so two processes cannot both pass.
//! - A dollar limit on a job with no dollar price refuses ([`SpendRefusal::NoDollarPrice`]); it
//!   never passes silently.
//! - A quote with an item whose price the provider does not publish (`Quote::unpriced`, some
//!   ImaginePro buttons and models) is refused while any cost limit is set: the per-request
//!   limit, the daily budget, or the cap on what `--yes` approves unseen
//!   ([`SpendRefusal::PriceNotPublished`]). A limit cannot be checked against an unknown price;
//!   such a request is sent only after a person approved its quote with no limit in force, or
//!   once the configuration prices the operation (`[imaginepro.prices]`).
//!
//! Cadence follows the provider's `poll_after_seconds`, else 30 s for the first five minutes and
//! 60 s after; hard stops are 10 min for images and 100 min for video. Every duration is
//! multiplied by `scale`, which tests set far below 1.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::catalogue::{MediaKind, ProviderId};
use crate::job::{JobId, JobState};
use crate::money::{Credits, Usd};
use crate::provider::ProviderError;
use crate::quote::Quote;

/// The same request again inside this window is refused unless asked for.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// The daily budget is a rolling window of this length.
pub const BUDGET_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// The monthly budget is a rolling window of this length.
pub const MONTH_WINDOW: Duration = Duration::from_secs(30 * 24 * 3600);

/// The most `--yes` approves when neither the command (`--max-cost`) nor the configuration
/// (`limits.yes_max_cost`) says otherwise: $2.00. `--yes` sends without anyone seeing the
/// quote, so a typo in a duration or a count must not become a $7 video.
pub const DEFAULT_YES_MAX_COST: Limit = Limit::Usd(Usd::from_micros(2_000_000));

/// A spending limit, in dollars or in credits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    Usd(Usd),
    /// Credits of the provider being charged (credits of different providers do not add up).
    Credits(Credits),
}

impl Limit {
    /// `0.50`, `$0.50` (dollars) or `120cr`, `120 credits` (credits).
    pub fn parse(s: &str) -> Option<Limit> {
        let t = s.trim().to_ascii_lowercase();
        for suffix in ["credits", "credit", "cr", "c"] {
            if let Some(n) = t.strip_suffix(suffix) {
                return n
                    .trim()
                    .parse::<Credits>()
                    .ok()
                    .filter(|c| *c >= Credits::ZERO)
                    .map(Limit::Credits);
            }
        }
        t.parse::<Usd>().ok().filter(|u| *u >= Usd::ZERO).map(Limit::Usd)
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Usd(u) => write!(f, "{u}"),
            Limit::Credits(c) => write!(f, "{c} credits"),
        }
    }
}

/// The rules a paid request is recorded under.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpendRules {
    /// The most one request may cost.
    pub max_cost: Option<Limit>,
    /// Every budget in force; those that apply to a request's provider must all hold.
    pub budgets: Vec<Budget>,
    /// Send even though the same request was sent inside [`DUPLICATE_WINDOW`] (`--again`).
    pub again: bool,
    /// The request goes to the offline sandbox: it is recorded in a ledger of its own, judged
    /// against sandbox jobs only and never counted with real ones.
    pub sandbox: bool,
}

impl SpendRules {
    /// The oldest creation time (unix ms) the duplicate check looks at.
    pub fn duplicate_since(now_ms: i64) -> i64 {
        now_ms - DUPLICATE_WINDOW.as_millis() as i64
    }

    /// The oldest creation time (unix ms) the daily budget counts.
    pub fn budget_since(now_ms: i64) -> i64 {
        BudgetWindow::Day.since(now_ms)
    }

    /// The windows the budgets that apply to `provider` count, each once.
    pub fn windows_for(&self, provider: ProviderId) -> Vec<BudgetWindow> {
        let mut out: Vec<BudgetWindow> =
            self.budgets.iter().filter(|b| b.applies_to(provider)).map(|b| b.window).collect();
        out.sort();
        out.dedup();
        out
    }
}

/// The rolling window a budget counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BudgetWindow {
    /// The last 24 hours.
    Day,
    /// The last 30 days.
    Month,
}

impl BudgetWindow {
    pub const ALL: [BudgetWindow; 2] = [BudgetWindow::Day, BudgetWindow::Month];

    pub fn length(self) -> Duration {
        match self {
            BudgetWindow::Day => BUDGET_WINDOW,
            BudgetWindow::Month => MONTH_WINDOW,
        }
    }

    /// The oldest creation time (unix ms) the window counts at `now_ms`.
    pub fn since(self, now_ms: i64) -> i64 {
        now_ms - self.length().as_millis() as i64
    }

    /// `daily` or `monthly`, as in the setting's name.
    pub fn as_str(self) -> &'static str {
        match self {
            BudgetWindow::Day => "daily",
            BudgetWindow::Month => "monthly",
        }
    }

    fn span(self) -> &'static str {
        match self {
            BudgetWindow::Day => "the last 24 hours'",
            BudgetWindow::Month => "the last 30 days'",
        }
    }
}

/// A cap on what the requests of a window may cost together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// The provider whose requests it counts; `None` counts every provider (a credit limit
    /// then holds each provider's credits, since credits of different providers do not add up).
    pub provider: Option<ProviderId>,
    pub window: BudgetWindow,
    pub limit: Limit,
}

impl Budget {
    pub fn applies_to(&self, provider: ProviderId) -> bool {
        self.provider.is_none_or(|p| p == provider)
    }

    /// The config file's key: `limits.daily_budget`, `katana.monthly_budget`.
    pub fn setting(&self) -> String {
        let section = self.provider.map_or("limits", ProviderId::as_str);
        format!("{section}.{}_budget", self.window.as_str())
    }

    /// The environment variable that sets it: `CONJURE_DAILY_BUDGET`,
    /// `CONJURE_KATANA_MONTHLY_BUDGET`.
    pub fn env_var(&self) -> String {
        let window = self.window.as_str().to_ascii_uppercase();
        match self.provider {
            None => format!("CONJURE_{window}_BUDGET"),
            Some(p) => format!("CONJURE_{}_{window}_BUDGET", p.as_str().to_ascii_uppercase()),
        }
    }

    /// `the daily budget`, `the katana monthly budget`.
    pub fn name(&self) -> String {
        match self.provider {
            None => format!("the {} budget", self.window.as_str()),
            Some(p) => format!("the {p} {} budget", self.window.as_str()),
        }
    }
}

/// Whether a job in `state` may have cost money. Jobs that were refused before the provider
/// accepted them (no request id, `failed` or `rejected`) cost nothing; a job reserved or being
/// sent (`quoted`, `submitting`) or whose outcome is `unknown` may have; everything the provider
/// accepted may have.
pub fn money_at_risk(state: JobState, has_request_id: bool) -> bool {
    match state {
        JobState::Failed | JobState::Rejected => has_request_id,
        JobState::Quoted
        | JobState::Submitting
        | JobState::Submitted
        | JobState::Processing
        | JobState::Completed
        | JobState::Partial
        | JobState::Unknown
        | JobState::Expired => true,
    }
}

/// [`money_at_risk`] as two state lists, for stores that sum in their query language: states
/// that always count, and states that count only when the job has a request id.
pub fn money_at_risk_states() -> (Vec<JobState>, Vec<JobState>) {
    let always: Vec<JobState> =
        JobState::ALL.into_iter().filter(|s| money_at_risk(*s, false)).collect();
    let accepted = JobState::ALL
        .into_iter()
        .filter(|s| money_at_risk(*s, true) && !always.contains(s))
        .collect();
    (always, accepted)
}

/// Whether the provider settled what a job in `state` cost: from then on a reported charge is
/// what the job cost (a text reserve refunded down to its answer's price, items refunded after
/// failing). Before, the job counts at the larger of its quote and any charge reported so far.
pub fn is_settled(state: JobState) -> bool {
    state.is_terminal()
}

/// How a job's money shows in the spending report (`conjure spend`), from the same rules the
/// budgets count by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Counted {
    /// Settled by the provider: its reported charge, or, for a provider that reports none, its
    /// price.
    Charged,
    /// Reserved, or accepted and not finished yet: its quote (or a larger charge reported so far).
    Reserved,
    /// Being sent, or `unknown`: the provider may have charged it.
    Exposure,
}

/// How a job counts, and for how much: `None` for a job that cost nothing. A settled job with a
/// reported charge counts at the charge, any other at the larger of its quote and the charge
/// reported so far (what [`check_budget`]'s store sums).
pub fn counted(
    state: JobState,
    has_request_id: bool,
    quoted: Credits,
    charged: Option<Credits>,
) -> Option<(Counted, Credits)> {
    if !money_at_risk(state, has_request_id) {
        return None;
    }
    let credits = match charged {
        Some(c) if is_settled(state) => c,
        Some(c) => c.max(quoted),
        None => quoted,
    };
    let how = if is_exposure(state) {
        Counted::Exposure
    } else if is_settled(state) {
        Counted::Charged
    } else {
        Counted::Reserved
    };
    Some((how, credits))
}

/// Whether a job's outcome is uncertain money: `unknown`, or still being sent. Together these
/// are the "may have been charged" exposure `conjure jobs` reports.
pub fn is_exposure(state: JobState) -> bool {
    matches!(state, JobState::Unknown | JobState::Submitting)
}

/// What one provider's jobs may have cost inside a window. A job counts (when
/// [`money_at_risk`]) at the larger of its quote and the provider's reported charge.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProviderSpend {
    pub credits: Credits,
    /// Dollars of the jobs that have a dollar price.
    pub usd: Usd,
    /// Jobs that count but have no dollar price.
    pub unpriced_jobs: u64,
}

/// Money at risk per provider inside a window.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Spent {
    pub by_provider: BTreeMap<ProviderId, ProviderSpend>,
}

impl Spent {
    pub fn provider(&self, p: ProviderId) -> ProviderSpend {
        self.by_provider.get(&p).copied().unwrap_or_default()
    }
}

/// The earlier job a duplicate check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EarlierJob {
    pub id: JobId,
    pub state: JobState,
    pub has_request_id: bool,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// What a store knows, inside its reserve transaction, that the decision needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReserveFacts {
    /// The job that already used the approving token, if any.
    pub token_used_by: Option<JobId>,
    /// The newest job inside [`DUPLICATE_WINDOW`] with the same fingerprint that
    /// [`money_at_risk`] counts, other than the job a retry re-sends. Not looked up when
    /// `again` is set.
    pub same_request: Option<EarlierJob>,
    /// For a batch call: a line it carries that an earlier job of the same batch, one that may
    /// have cost money, already carries (the line, and that job).
    pub batch_line_sent: Option<(u32, EarlierJob)>,
    /// Money at risk inside each window a budget that applies counts; a window no budget
    /// needs is not looked up.
    pub spent: BTreeMap<BudgetWindow, Spent>,
}

/// Why a paid request is not recorded (and so not sent). Nothing was sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpendRefusal {
    #[error("This approval token was already used, by job `{job}`; nothing was sent")]
    TokenUsed { job: JobId },
    #[error(
        "The same request was sent {minutes_ago} min ago as job `{earlier}` ({state}); nothing was sent"
    )]
    Duplicate { earlier: JobId, state: JobState, minutes_ago: i64 },
    #[error(
        "Line {line} of this batch was already sent, as job `{job}` ({state}); nothing was sent"
    )]
    LineSent { line: u32, job: JobId, state: JobState },
    #[error("The quote ({quoted}) is above the cost limit ({limit}); nothing was sent")]
    OverMaxCost { quoted: String, limit: Limit },
    #[error(
        "This request ({quoted}) would take {}{} spending to {total}, above {} of {limit}; nothing was sent",
        budget.window.span(),
        budget.provider.map(|p| format!(" {p}")).unwrap_or_default(),
        budget.name()
    )]
    OverBudget { quoted: String, total: String, limit: Limit, budget: Budget },
    #[error("The quote ({quoted}) is above what --yes approves unseen ({limit}); nothing was sent")]
    OverYesLimit { quoted: String, limit: Limit },
    #[error(
        "{what} has no dollar price, so the dollar limit of {limit} cannot be checked; nothing was sent"
    )]
    NoDollarPrice { what: String, limit: Limit, provider: ProviderId },
    #[error(
        "{provider} publishes no price for part of this request, so the cost limit of {limit} cannot be checked; nothing was sent"
    )]
    PriceNotPublished { limit: Limit, provider: ProviderId },
}

impl SpendRefusal {
    /// What the user can do about it.
    pub fn hint(&self) -> String {
        match self {
            SpendRefusal::TokenUsed { .. } => {
                "an approval token sends one request once; run the command without --approve to get a new quote".to_owned()
            }
            SpendRefusal::Duplicate { earlier, .. } => format!(
                "`conjure status {earlier}` shows it and `conjure fetch {earlier}` downloads its outputs again; pass --again to pay for it again"
            ),
            SpendRefusal::LineSent { job, .. } => format!(
                "a batch never sends a line twice (another run of it sent this one); `conjure status {job}` shows it, and `conjure retry {job}` sends it again after a new approval"
            ),
            SpendRefusal::OverMaxCost { .. } => {
                "raise --max-cost (or limits.max_cost), or pick a cheaper model, duration or count".to_owned()
            }
            SpendRefusal::OverBudget { budget, .. } => format!(
                "raise {} in the config file (or {}), or wait; `conjure spend` shows what counts",
                budget.setting(),
                budget.env_var()
            ),
            SpendRefusal::OverYesLimit { .. } => {
                "to send it with --yes, add --max-cost at or above the quote; or run without --yes to see the quote and approve it with --approve TOKEN; the standing cap is limits.yes_max_cost (CONJURE_YES_MAX_COST)".to_owned()
            }
            SpendRefusal::NoDollarPrice { provider, .. } => format!(
                "set the dollar price of a {provider} credit ([{provider}] usd_per_credit in the config file, or CONJURE_{}_USD_PER_CREDIT), or give the limit in credits (e.g. `--max-cost 500cr`, which also caps `--yes`)",
                provider.as_str().to_ascii_uppercase()
            ),
            SpendRefusal::PriceNotPublished { provider, .. } => format!(
                "price the operation the quote names in the config (`[{provider}.prices] OPERATION = CREDITS`), or, with no cost limit in force (no --max-cost, no daily budget), run it without --yes, read the quote and approve it with --approve TOKEN"
            ),
        }
    }

    /// A duplicate is a usage error; the others are limits.
    pub fn is_duplicate_or_token(&self) -> bool {
        matches!(
            self,
            SpendRefusal::TokenUsed { .. }
                | SpendRefusal::Duplicate { .. }
                | SpendRefusal::LineSent { .. }
        )
    }
}

fn price_phrase(credits: Credits, usd: Option<Usd>) -> String {
    match usd {
        Some(u) => format!("{credits} credits ≈ {u}"),
        None => format!("{credits} credits"),
    }
}

/// An unpublished price cannot be held against `limit`.
fn check_priced(limit: Limit, quote: &Quote) -> Result<(), SpendRefusal> {
    if quote.unpriced {
        return Err(SpendRefusal::PriceNotPublished { limit, provider: quote.provider });
    }
    Ok(())
}

/// The per-request limit. Pure: checked before asking a person and again when recording.
pub fn check_max_cost(limit: Option<Limit>, quote: &Quote) -> Result<(), SpendRefusal> {
    let Some(limit) = limit else { return Ok(()) };
    check_priced(limit, quote)?;
    let over = match limit {
        Limit::Credits(max) => quote.credits > max,
        Limit::Usd(max) => match quote.usd {
            Some(u) => u > max,
            None => {
                return Err(SpendRefusal::NoDollarPrice {
                    what: format!("This {} request", quote.provider),
                    limit,
                    provider: quote.provider,
                });
            }
        },
    };
    if over {
        return Err(SpendRefusal::OverMaxCost {
            quoted: price_phrase(quote.credits, quote.usd),
            limit,
        });
    }
    Ok(())
}

/// One provider's part of a request made of several calls (a batch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartCost {
    pub provider: ProviderId,
    pub credits: Credits,
    /// `None` when the provider has no dollar price.
    pub usd: Option<Usd>,
}

/// A limit held against a whole made of several providers' parts, before any of it is sent
/// (`conjure batch --max-cost`, and `--yes`'s cap on a batch): a credit limit holds each part
/// (credits of different providers do not add up), a dollar limit the sum, which needs every
/// part priced. An unpublished price anywhere cannot be checked.
pub fn check_whole(limit: Limit, parts: &[PartCost], unpriced: bool) -> Result<(), SpendRefusal> {
    if unpriced && let Some(p) = parts.first() {
        return Err(SpendRefusal::PriceNotPublished { limit, provider: p.provider });
    }
    match limit {
        Limit::Credits(max) => {
            if let Some(p) = parts.iter().find(|p| p.credits > max) {
                let quoted = format!("{} {} credits", p.credits, p.provider);
                return Err(SpendRefusal::OverMaxCost { quoted, limit });
            }
        }
        Limit::Usd(max) => {
            let mut total = Usd::ZERO;
            for p in parts {
                let Some(usd) = p.usd else {
                    return Err(SpendRefusal::NoDollarPrice {
                        what: format!("The {} part of this request", p.provider),
                        limit,
                        provider: p.provider,
                    });
                };
                total = total + usd;
            }
            if total > max {
                return Err(SpendRefusal::OverMaxCost { quoted: total.to_string(), limit });
            }
        }
    }
    Ok(())
}

/// What `--yes` may approve unseen: up to the command's own `--max-cost` when it gives one
/// (the person named a price), else up to the standing `yes_max_cost`. A token or a person's
/// answer approves a quote someone has seen, so this binds `--yes` only.
pub fn check_yes(
    quote: &Quote,
    command_max_cost: Option<Limit>,
    yes_max_cost: Limit,
) -> Result<(), SpendRefusal> {
    if command_max_cost.is_some() {
        // The command's own limit is checked with the other rules.
        return Ok(());
    }
    check_max_cost(Some(yes_max_cost), quote).map_err(|e| match e {
        SpendRefusal::OverMaxCost { quoted, limit } => SpendRefusal::OverYesLimit { quoted, limit },
        other => other,
    })
}

/// One budget, given what was spent inside its window. A budget for another provider holds.
pub fn check_budget(budget: &Budget, spent: &Spent, quote: &Quote) -> Result<(), SpendRefusal> {
    if !budget.applies_to(quote.provider) {
        return Ok(());
    }
    let limit = budget.limit;
    check_priced(limit, quote)?;
    match limit {
        Limit::Credits(max) => {
            let total = spent.provider(quote.provider).credits + quote.credits;
            if total > max {
                return Err(SpendRefusal::OverBudget {
                    quoted: price_phrase(quote.credits, None),
                    total: format!("{total} {} credits", quote.provider),
                    limit,
                    budget: *budget,
                });
            }
        }
        Limit::Usd(max) => {
            let Some(usd) = quote.usd else {
                return Err(SpendRefusal::NoDollarPrice {
                    what: format!("This {} request", quote.provider),
                    limit,
                    provider: quote.provider,
                });
            };
            let counted = spent.by_provider.iter().filter(|(p, _)| budget.applies_to(**p));
            if let Some((provider, s)) = counted.clone().find(|(_, s)| s.unpriced_jobs > 0) {
                return Err(SpendRefusal::NoDollarPrice {
                    what: format!(
                        "{} earlier {provider} job(s) of {} window",
                        s.unpriced_jobs,
                        budget.name()
                    ),
                    limit,
                    provider: *provider,
                });
            }
            let total = counted.fold(Usd::ZERO, |a, (_, s)| a + s.usd) + usd;
            if total > max {
                return Err(SpendRefusal::OverBudget {
                    quoted: usd.to_string(),
                    total: total.to_string(),
                    limit,
                    budget: *budget,
                });
            }
        }
    }
    Ok(())
}

/// Every budget of `rules`, given what was spent inside each window.
pub fn check_budgets(
    rules: &SpendRules,
    spent: &BTreeMap<BudgetWindow, Spent>,
    quote: &Quote,
) -> Result<(), SpendRefusal> {
    let none = Spent::default();
    for budget in &rules.budgets {
        check_budget(budget, spent.get(&budget.window).unwrap_or(&none), quote)?;
    }
    Ok(())
}

/// The whole decision to record an approved order (priced by `quote`) as a new job, from facts
/// a store read inside the transaction that will record it.
pub fn reserve_verdict(
    quote: &Quote,
    rules: &SpendRules,
    facts: &ReserveFacts,
    now_ms: i64,
) -> Result<(), SpendRefusal> {
    if let Some(job) = &facts.token_used_by {
        return Err(SpendRefusal::TokenUsed { job: job.clone() });
    }
    // Whatever --again says: one line of a batch is one payment.
    if let Some((line, earlier)) = &facts.batch_line_sent {
        return Err(SpendRefusal::LineSent {
            line: *line,
            job: earlier.id.clone(),
            state: earlier.state,
        });
    }
    if !rules.again
        && let Some(earlier) = &facts.same_request
        && duplicate_blocks(earlier)
    {
        return Err(SpendRefusal::Duplicate {
            earlier: earlier.id.clone(),
            state: earlier.state,
            minutes_ago: (now_ms - earlier.created_at).max(0) / 60_000,
        });
    }
    check_max_cost(rules.max_cost, quote)?;
    check_budgets(rules, &facts.spent, quote)
}

/// Whether a wire client's request (one sent through the team gateway's provider-compatible
/// endpoints) may be sent without a person approving its quote: its member's per-request
/// pre-approval limit holds it. No limit pre-approves nothing; an unpublished price or a dollar
/// limit on a quote without a dollar price cannot be held, so it needs a person too. Budgets
/// are checked later, in `reserve`.
pub fn preapproved(quote: &Quote, per_request: Option<Limit>) -> bool {
    per_request.is_some_and(|limit| check_max_cost(Some(limit), quote).is_ok())
}

/// Whether `provider` is one of the `allowed` ones (`None`: every provider).
pub fn provider_allowed(allowed: Option<&[ProviderId]>, provider: ProviderId) -> bool {
    allowed.is_none_or(|list| list.contains(&provider))
}

/// What `budgets` leave to spend with `provider`, in its credits: the least any of them leaves
/// (never below zero), a dollar budget converted at `price` (none when there is no price).
/// `None` when no budget that applies can be counted in credits: nothing limits it here.
pub fn remaining_credits(
    budgets: &[Budget],
    spent: &BTreeMap<BudgetWindow, Spent>,
    provider: ProviderId,
    price: Option<crate::money::CreditPrice>,
) -> Option<Credits> {
    let none = Spent::default();
    budgets
        .iter()
        .filter(|b| b.applies_to(provider))
        .filter_map(|b| {
            let s = spent.get(&b.window).unwrap_or(&none);
            match b.limit {
                Limit::Credits(max) => Some(max - s.provider(provider).credits),
                Limit::Usd(max) => {
                    let used = s
                        .by_provider
                        .iter()
                        .filter(|(p, _)| b.applies_to(**p))
                        .fold(Usd::ZERO, |a, (_, s)| a + s.usd);
                    let left = max.micros() - used.micros();
                    let per_credit = price?.micros_per_credit();
                    // Rounded down: what is left must pay for every tenth shown.
                    Some(Credits::from_tenths(left.saturating_mul(10).div_euclid(per_credit)))
                }
            }
        })
        .min()
        .map(|c| c.max(Credits::ZERO))
}

/// Whether an earlier job of the same request blocks sending it again: everything that may have
/// cost money does, including one another process has reserved and is about to send. A request
/// refused before the provider accepted it cost nothing, and neither did a reservation whose
/// process died before sending (it is released as `failed`).
pub fn duplicate_blocks(earlier: &EarlierJob) -> bool {
    money_at_risk(earlier.state, earlier.has_request_id)
}

/// Polling cadence and deadlines.
#[derive(Clone, Debug, PartialEq)]
pub struct PollPolicy {
    /// Multiplies every wait and deadline (1.0 in real use).
    pub scale: f64,
    pub early_interval: Duration,
    pub late_interval: Duration,
    pub early_window: Duration,
    /// Bounds applied to the provider's hint.
    pub min_interval: Duration,
    pub max_interval: Duration,
    pub image_deadline: Duration,
    pub video_deadline: Duration,
}

impl Default for PollPolicy {
    fn default() -> Self {
        PollPolicy {
            scale: 1.0,
            early_interval: Duration::from_secs(30),
            late_interval: Duration::from_secs(60),
            early_window: Duration::from_secs(5 * 60),
            min_interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(5 * 60),
            image_deadline: Duration::from_secs(10 * 60),
            video_deadline: Duration::from_secs(100 * 60),
        }
    }
}

/// ImaginePro's cadence: every 5 s (its jobs take 30-120 s and report progress), never faster
/// than every 3 s whatever the server hints.
pub const IMAGINEPRO_POLL_INTERVAL: Duration = Duration::from_secs(5);
/// The fastest ImaginePro is ever polled.
pub const IMAGINEPRO_MIN_POLL_INTERVAL: Duration = Duration::from_secs(3);

impl PollPolicy {
    /// This policy as it applies to `provider`'s jobs (the scale and deadlines are kept).
    #[must_use]
    pub fn for_provider(&self, provider: ProviderId) -> PollPolicy {
        match provider {
            ProviderId::Katana => self.clone(),
            ProviderId::ImaginePro => PollPolicy {
                early_interval: IMAGINEPRO_POLL_INTERVAL,
                late_interval: IMAGINEPRO_POLL_INTERVAL,
                min_interval: IMAGINEPRO_MIN_POLL_INTERVAL,
                ..self.clone()
            },
        }
    }

    fn scaled(&self, d: Duration) -> Duration {
        d.mul_f64(self.scale.max(0.0))
    }

    /// How long to wait before the next poll, `elapsed` (unscaled wall time divided by scale
    /// is not needed: pass real elapsed time) after submission.
    pub fn next_delay(&self, elapsed: Duration, hint_seconds: Option<f64>) -> Duration {
        let base = match hint_seconds {
            Some(h) if h.is_finite() && h > 0.0 => {
                Duration::from_secs_f64(h).clamp(self.min_interval, self.max_interval)
            }
            _ => {
                if elapsed < self.scaled(self.early_window) {
                    self.early_interval
                } else {
                    self.late_interval
                }
            }
        };
        self.scaled(base)
    }

    /// When to stop polling and report "still pending".
    pub fn deadline(&self, kind: MediaKind) -> Duration {
        self.scaled(match kind {
            MediaKind::Video => self.video_deadline,
            MediaKind::Image | MediaKind::Text => self.image_deadline,
        })
    }

    /// How long to honour a `Retry-After` (or a missing one) on a free call.
    pub fn retry_after(&self, retry_after: Option<Duration>) -> Duration {
        self.scaled(retry_after.unwrap_or(self.early_interval).min(self.max_interval))
    }
}

/// What a failed paid submit means for the user's money.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubmitVerdict {
    /// The provider refused it or it never left: record `failed`/`rejected`, nothing charged.
    NotCharged,
    /// The provider may have accepted it: record `unknown`, tell the user, never resend.
    MaybeCharged,
}

/// Classifies a failed submit. Nothing here ever leads to sending the POST again.
pub fn after_submit_error(err: &ProviderError) -> SubmitVerdict {
    match err {
        ProviderError::Auth { .. }
        | ProviderError::RateLimited { .. }
        | ProviderError::Rejected { .. }
        | ProviderError::NotFound { .. }
        | ProviderError::Unsupported { .. }
        | ProviderError::Local { .. }
        | ProviderError::Transport { sent: false, .. } => SubmitVerdict::NotCharged,
        ProviderError::Remote { .. }
        | ProviderError::Protocol { .. }
        | ProviderError::Transport { sent: true, .. } => SubmitVerdict::MaybeCharged,
    }
}

/// What to do after a failed poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PollVerdict {
    /// Poll again after this long (free).
    RetryAfter(Duration),
    /// Stop: the error is terminal for this job or for the credentials.
    Stop,
}

/// Classifies a failed poll. Polls are free, so transient failures are retried until the
/// job's deadline; auth and not-found are not transient.
pub fn after_poll_error(
    policy: &PollPolicy,
    err: &ProviderError,
    elapsed: Duration,
) -> PollVerdict {
    match err {
        ProviderError::RateLimited { retry_after, .. } => {
            PollVerdict::RetryAfter(policy.retry_after(*retry_after))
        }
        ProviderError::Remote { .. }
        | ProviderError::Protocol { .. }
        | ProviderError::Transport { .. } => {
            PollVerdict::RetryAfter(policy.next_delay(elapsed, None))
        }
        ProviderError::Auth { .. }
        | ProviderError::Rejected { .. }
        | ProviderError::NotFound { .. }
        | ProviderError::Unsupported { .. }
        | ProviderError::Local { .. } => PollVerdict::Stop,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approval::{Consent, Order, approve};
    use crate::catalogue::Catalogue;
    use crate::money::CreditPrice;
    use crate::spec::{ImageItem, Item, JobSpec};

    fn approved(price: Option<CreditPrice>) -> crate::approval::Approved {
        let item = Item::Image(ImageItem::new("gpt-image-2", "fox"));
        let spec = JobSpec::new(ProviderId::Katana, vec![item]);
        let quote = Quote::compute(&spec, Catalogue::bundled(), price).unwrap();
        let wire = crate::WireRequest::new("POST", "/x", serde_json::json!({}));
        approve(Order::new(spec, wire, quote, None, None).unwrap(), Some(Consent::Yes)).unwrap()
    }

    /// A daily budget of `limit` over every provider.
    fn daily(limit: &str) -> Budget {
        Budget { provider: None, window: BudgetWindow::Day, limit: Limit::parse(limit).unwrap() }
    }

    fn spent(credits: i64, usd_micros: i64, unpriced: u64) -> Spent {
        let mut s = Spent::default();
        s.by_provider.insert(
            ProviderId::Katana,
            ProviderSpend {
                credits: Credits::whole(credits),
                usd: Usd::from_micros(usd_micros),
                unpriced_jobs: unpriced,
            },
        );
        s
    }

    #[test]
    fn limits_parse() {
        assert_eq!(Limit::parse("$0.50"), Some(Limit::Usd(Usd::from_micros(500_000))));
        assert_eq!(Limit::parse("120cr"), Some(Limit::Credits(Credits::whole(120))));
        assert_eq!(Limit::parse("7.5 credits"), Some(Limit::Credits(Credits::from_tenths(75))));
        assert_eq!(Limit::parse("lots"), None);
        assert_eq!(Limit::parse("-1"), None);
        assert_eq!(Limit::Credits(Credits::whole(3)).to_string(), "3 credits");
    }

    #[test]
    fn what_may_have_cost_money() {
        assert!(money_at_risk(JobState::Submitting, false));
        assert!(money_at_risk(JobState::Quoted, false));
        assert!(money_at_risk(JobState::Unknown, false));
        assert!(!money_at_risk(JobState::Failed, false));
        assert!(money_at_risk(JobState::Failed, true));
        assert!(!money_at_risk(JobState::Rejected, false));
        let (always, accepted) = money_at_risk_states();
        assert_eq!(accepted, vec![JobState::Failed, JobState::Rejected]);
        assert_eq!(always.len() + accepted.len(), JobState::ALL.len());
        assert!(is_exposure(JobState::Submitting) && is_exposure(JobState::Unknown));
        assert!(!is_exposure(JobState::Completed));
    }

    #[test]
    fn a_whole_of_several_providers_holds_each_part_in_credits_and_the_sum_in_dollars() {
        let part = |provider, credits, usd: Option<i64>| PartCost {
            provider,
            credits: Credits::whole(credits),
            usd: usd.map(Usd::from_micros),
        };
        let parts = [
            part(ProviderId::Katana, 100, Some(520_000)),
            part(ProviderId::ImaginePro, 60, Some(600_000)),
        ];
        assert!(check_whole(Limit::parse("100cr").unwrap(), &parts, false).is_ok());
        assert!(check_whole(Limit::parse("99cr").unwrap(), &parts, false).is_err());
        assert!(check_whole(Limit::parse("1.12").unwrap(), &parts, false).is_ok());
        let e = check_whole(Limit::parse("1.11").unwrap(), &parts, false).unwrap_err();
        assert!(matches!(e, SpendRefusal::OverMaxCost { .. }), "{e}");
        let unpriced = [parts[0], part(ProviderId::ImaginePro, 60, None)];
        let e = check_whole(Limit::parse("100.00").unwrap(), &unpriced, false).unwrap_err();
        assert!(matches!(e, SpendRefusal::NoDollarPrice { provider: ProviderId::ImaginePro, .. }));
        assert!(matches!(
            check_whole(Limit::parse("1000cr").unwrap(), &parts, true),
            Err(SpendRefusal::PriceNotPublished { .. })
        ));
    }

    #[test]
    fn how_jobs_count_in_the_ledger() {
        let (q, c) = (Credits::whole(14), Credits::whole(4));
        assert_eq!(counted(JobState::Completed, true, q, Some(c)), Some((Counted::Charged, c)));
        assert_eq!(counted(JobState::Completed, true, q, None), Some((Counted::Charged, q)));
        assert_eq!(counted(JobState::Processing, true, q, Some(c)), Some((Counted::Reserved, q)));
        assert_eq!(
            counted(JobState::Processing, true, q, Some(Credits::whole(20))),
            Some((Counted::Reserved, Credits::whole(20)))
        );
        assert_eq!(counted(JobState::Quoted, false, q, None), Some((Counted::Reserved, q)));
        assert_eq!(counted(JobState::Unknown, false, q, None), Some((Counted::Exposure, q)));
        assert_eq!(counted(JobState::Submitting, false, q, None), Some((Counted::Exposure, q)));
        assert_eq!(counted(JobState::Rejected, false, q, None), None);
        assert_eq!(
            counted(JobState::Failed, true, q, Some(Credits::ZERO)),
            Some((Counted::Charged, Credits::ZERO))
        );
    }

    #[test]
    fn max_cost_in_dollars_or_credits() {
        let a = approved(Some(CreditPrice::KATANA_REFERENCE));
        let q = &a.order().quote;
        assert!(check_max_cost(Some(Limit::parse("0.08").unwrap()), q).is_ok());
        let over = check_max_cost(Some(Limit::parse("0.05").unwrap()), q).unwrap_err();
        assert!(matches!(over, SpendRefusal::OverMaxCost { .. }), "{over}");
        assert!(check_max_cost(Some(Limit::parse("13cr").unwrap()), q).is_err());
        assert!(check_max_cost(Some(Limit::parse("14cr").unwrap()), q).is_ok());
    }

    #[test]
    fn yes_approves_only_up_to_its_cap_unless_the_command_names_a_limit() {
        let a = approved(Some(CreditPrice::KATANA_REFERENCE));
        let q = &a.order().quote;
        assert!(check_yes(q, None, DEFAULT_YES_MAX_COST).is_ok());
        let e = check_yes(q, None, Limit::parse("0.05").unwrap()).unwrap_err();
        assert!(matches!(e, SpendRefusal::OverYesLimit { .. }), "{e}");
        assert!(e.hint().contains("--max-cost") && e.hint().contains("--approve"), "{}", e.hint());
        assert!(!e.is_duplicate_or_token());
        // The command's own --max-cost replaces the cap (and is checked with the other rules).
        assert!(check_yes(q, Limit::parse("0.10"), Limit::parse("0.05").unwrap()).is_ok());
        assert!(check_yes(q, None, Limit::parse("13cr").unwrap()).is_err());
    }

    #[test]
    fn a_dollar_limit_without_a_dollar_price_refuses() {
        let a = approved(None);
        let q = &a.order().quote;
        let e = check_max_cost(Some(Limit::parse("100").unwrap()), q).unwrap_err();
        assert!(matches!(e, SpendRefusal::NoDollarPrice { .. }), "{e}");
        assert!(e.hint().contains("usd_per_credit") && e.hint().contains("500cr"), "{}", e.hint());
        let e = check_budget(&daily("100"), &Spent::default(), q).unwrap_err();
        assert!(matches!(e, SpendRefusal::NoDollarPrice { .. }), "{e}");
        // Credits still work.
        assert!(check_budget(&daily("100cr"), &Spent::default(), q).is_ok());
        // Earlier unpriced jobs in the window make a dollar budget uncheckable too.
        let priced = approved(Some(CreditPrice::KATANA_REFERENCE));
        let e = check_budget(&daily("100"), &spent(14, 0, 1), &priced.order().quote).unwrap_err();
        assert!(e.to_string().contains("1 earlier katana job"), "{e}");
    }

    fn unpriced_quote() -> Quote {
        let reroll = Item::Button(crate::spec::ButtonItem {
            parent: "j1".into(),
            parent_message: "m1".into(),
            button: "🔄".into(),
            mask: None,
            prompt: None,
        });
        let spec = JobSpec::new(ProviderId::ImaginePro, vec![reroll]);
        Quote::compute(&spec, Catalogue::bundled(), Some(CreditPrice::from_micros_per_credit(1)))
            .unwrap()
    }

    #[test]
    fn an_unpublished_price_is_refused_while_any_limit_is_set() {
        let q = unpriced_quote();
        assert!(q.unpriced);
        assert_eq!(check_max_cost(None, &q), Ok(()), "no limit: a person approves the quote");
        assert_eq!(check_budgets(&SpendRules::default(), &BTreeMap::new(), &q), Ok(()));
        for limit in [Limit::Credits(Credits::whole(1000)), Limit::Usd(Usd::from_micros(9_000_000))]
        {
            let refused = |r: Result<(), SpendRefusal>| {
                matches!(
                    r,
                    Err(SpendRefusal::PriceNotPublished { provider: ProviderId::ImaginePro, .. })
                )
            };
            assert!(refused(check_max_cost(Some(limit), &q)));
            let budget = Budget { provider: None, window: BudgetWindow::Month, limit };
            assert!(refused(check_budget(&budget, &Spent::default(), &q)));
            assert!(refused(check_yes(&q, None, limit)), "--yes never approves an unknown price");
            let rules = SpendRules { budgets: vec![budget], ..SpendRules::default() };
            assert!(refused(reserve_verdict(&q, &rules, &ReserveFacts::default(), 0)));
        }
        let e = check_max_cost(Some(Limit::Credits(Credits::whole(1))), &q).unwrap_err();
        assert!(e.hint().contains("[imaginepro.prices]"), "{}", e.hint());
    }

    #[test]
    fn imaginepro_is_polled_every_five_seconds_never_under_three() {
        let p = PollPolicy::default().for_provider(ProviderId::ImaginePro);
        assert_eq!(p.next_delay(Duration::ZERO, None), Duration::from_secs(5));
        assert_eq!(p.next_delay(Duration::from_secs(3600), None), Duration::from_secs(5));
        assert_eq!(p.next_delay(Duration::ZERO, Some(0.5)), Duration::from_secs(3));
        assert_eq!(PollPolicy::default().for_provider(ProviderId::Katana), PollPolicy::default());
        let scaled = PollPolicy { scale: 0.01, ..PollPolicy::default() };
        assert!((scaled.for_provider(ProviderId::ImaginePro).scale - 0.01).abs() < f64::EPSILON);
    }

    #[test]
    fn budget_adds_the_window_to_the_quote() {
        let a = approved(Some(CreditPrice::KATANA_REFERENCE));
        let q = &a.order().quote;
        let budget = daily("0.22");
        assert!(check_budget(&budget, &spent(28, 145_600, 0), q).is_ok());
        let e = check_budget(&budget, &spent(42, 218_400, 0), q).unwrap_err();
        assert!(matches!(e, SpendRefusal::OverBudget { .. }), "{e}");
        assert!(e.to_string().contains("the last 24 hours' spending"), "{e}");
        assert!(e.hint().contains("limits.daily_budget"), "{}", e.hint());
        let credits = daily("42cr");
        assert!(check_budget(&credits, &spent(28, 0, 0), q).is_ok());
        assert!(check_budget(&credits, &spent(29, 0, 0), q).is_err());
    }

    #[test]
    fn budgets_per_provider_and_window_all_hold() {
        let a = approved(Some(CreditPrice::KATANA_REFERENCE));
        let q = &a.order().quote;
        let katana_month = Budget {
            provider: Some(ProviderId::Katana),
            window: BudgetWindow::Month,
            limit: Limit::parse("100cr").unwrap(),
        };
        let imaginepro_day = Budget {
            provider: Some(ProviderId::ImaginePro),
            window: BudgetWindow::Day,
            limit: Limit::parse("1cr").unwrap(),
        };
        let rules = SpendRules {
            budgets: vec![daily("1000cr"), katana_month, imaginepro_day],
            ..SpendRules::default()
        };
        assert_eq!(rules.windows_for(ProviderId::Katana), [BudgetWindow::Day, BudgetWindow::Month]);
        assert_eq!(rules.windows_for(ProviderId::ImaginePro), [BudgetWindow::Day]);
        // Another provider's budget never refuses this one's request.
        assert!(check_budget(&imaginepro_day, &spent(999, 0, 0), q).is_ok());
        let mut windows = BTreeMap::new();
        windows.insert(BudgetWindow::Day, spent(10, 0, 0));
        windows.insert(BudgetWindow::Month, spent(80, 0, 0));
        assert!(check_budgets(&rules, &windows, q).is_ok());
        windows.insert(BudgetWindow::Month, spent(90, 0, 0));
        let e = check_budgets(&rules, &windows, q).unwrap_err();
        assert!(e.to_string().contains("the last 30 days' katana spending to 104"), "{e}");
        assert!(e.to_string().contains("the katana monthly budget"), "{e}");
        assert!(e.hint().contains("katana.monthly_budget"), "{}", e.hint());
        assert!(e.hint().contains("CONJURE_KATANA_MONTHLY_BUDGET"), "{}", e.hint());
        // A dollar budget for one provider ignores another provider's unpriced jobs.
        let mut mixed = spent(0, 0, 0);
        mixed.by_provider.insert(
            ProviderId::ImaginePro,
            ProviderSpend { credits: Credits::whole(5), usd: Usd::ZERO, unpriced_jobs: 3 },
        );
        let katana_usd = Budget { limit: Limit::parse("1.00").unwrap(), ..katana_month };
        assert!(check_budget(&katana_usd, &mixed, q).is_ok());
        assert!(check_budget(&daily("1.00"), &mixed, q).is_err(), "all providers: unpriced counts");
    }

    #[test]
    fn reserve_verdict_order() {
        let a = approved(Some(CreditPrice::KATANA_REFERENCE));
        let a = &a.order().quote;
        let rules = SpendRules::default();
        let id = JobId::compose(0, 1);
        let used = ReserveFacts { token_used_by: Some(id.clone()), ..ReserveFacts::default() };
        assert!(matches!(
            reserve_verdict(a, &rules, &used, 0),
            Err(SpendRefusal::TokenUsed { .. })
        ));
        let earlier = |state, has_request_id| ReserveFacts {
            same_request: Some(EarlierJob { id: id.clone(), state, has_request_id, created_at: 0 }),
            ..ReserveFacts::default()
        };
        let dup = reserve_verdict(a, &rules, &earlier(JobState::Completed, true), 600_000);
        assert!(matches!(dup, Err(SpendRefusal::Duplicate { minutes_ago: 10, .. })), "{dup:?}");
        // Another process reserved the same request and is about to send it.
        assert!(reserve_verdict(a, &rules, &earlier(JobState::Quoted, false), 0).is_err());
        // Refused before the provider accepted it: sending again is fine.
        assert!(reserve_verdict(a, &rules, &earlier(JobState::Rejected, false), 0).is_ok());
        let again = SpendRules { again: true, ..SpendRules::default() };
        assert!(reserve_verdict(a, &again, &earlier(JobState::Completed, true), 0).is_ok());
        let line_sent = ReserveFacts {
            batch_line_sent: Some((
                3,
                EarlierJob {
                    id: id.clone(),
                    state: JobState::Submitting,
                    has_request_id: false,
                    created_at: 0,
                },
            )),
            ..ReserveFacts::default()
        };
        let e = reserve_verdict(a, &again, &line_sent, 0).unwrap_err();
        assert!(matches!(e, SpendRefusal::LineSent { line: 3, .. }), "--again does not help: {e}");
        assert!(e.is_duplicate_or_token());
        let tight = SpendRules { budgets: vec![daily("10cr")], ..SpendRules::default() };
        assert!(matches!(
            reserve_verdict(a, &tight, &ReserveFacts::default(), 0),
            Err(SpendRefusal::OverBudget { .. })
        ));
    }

    #[test]
    fn fallback_cadence_is_30_then_60() {
        let p = PollPolicy::default();
        assert_eq!(p.next_delay(Duration::from_secs(10), None), Duration::from_secs(30));
        assert_eq!(p.next_delay(Duration::from_secs(301), None), Duration::from_secs(60));
    }

    #[test]
    fn hint_is_honoured_and_clamped() {
        let p = PollPolicy::default();
        assert_eq!(p.next_delay(Duration::ZERO, Some(7.0)), Duration::from_secs(7));
        assert_eq!(p.next_delay(Duration::ZERO, Some(0.01)), Duration::from_secs(1));
        assert_eq!(p.next_delay(Duration::ZERO, Some(10_000.0)), Duration::from_secs(300));
        assert_eq!(p.next_delay(Duration::ZERO, Some(0.0)), Duration::from_secs(30));
    }

    #[test]
    fn scale_shrinks_everything() {
        let p = PollPolicy { scale: 0.001, ..PollPolicy::default() };
        assert_eq!(p.next_delay(Duration::ZERO, Some(2.0)), Duration::from_millis(2));
        assert_eq!(p.deadline(MediaKind::Image), Duration::from_millis(600));
        assert_eq!(p.deadline(MediaKind::Video), Duration::from_secs(6));
    }

    #[test]
    fn ambiguous_submit_failures_may_be_charged() {
        let maybe = [
            ProviderError::Remote { status: 500, message: String::new() },
            ProviderError::Protocol { message: String::new() },
            ProviderError::Transport { sent: true, message: String::new() },
        ];
        for e in &maybe {
            assert_eq!(after_submit_error(e), SubmitVerdict::MaybeCharged, "{e}");
        }
        let not = [
            ProviderError::Auth { status: 401, message: String::new() },
            ProviderError::RateLimited { retry_after: None, message: String::new() },
            ProviderError::Rejected { status: 422, message: String::new() },
            ProviderError::Transport { sent: false, message: String::new() },
        ];
        for e in &not {
            assert_eq!(after_submit_error(e), SubmitVerdict::NotCharged, "{e}");
        }
    }

    #[test]
    fn polls_retry_transient_errors_only() {
        let p = PollPolicy::default();
        let rl = ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(3)),
            message: String::new(),
        };
        assert_eq!(
            after_poll_error(&p, &rl, Duration::ZERO),
            PollVerdict::RetryAfter(Duration::from_secs(3))
        );
        let auth = ProviderError::Auth { status: 401, message: String::new() };
        assert_eq!(after_poll_error(&p, &auth, Duration::ZERO), PollVerdict::Stop);
        let disk = ProviderError::Local { message: String::new() };
        assert_eq!(after_poll_error(&p, &disk, Duration::ZERO), PollVerdict::Stop);
        assert_eq!(after_submit_error(&disk), SubmitVerdict::NotCharged);
        let five = ProviderError::Remote { status: 502, message: String::new() };
        assert!(matches!(after_poll_error(&p, &five, Duration::ZERO), PollVerdict::RetryAfter(_)));
    }
    #[test]
    fn only_a_per_request_limit_that_holds_preapproves() {
        let quote = approved(Some(CreditPrice::KATANA_REFERENCE)).order().quote.clone();
        assert!(!preapproved(&quote, None), "no limit pre-approves nothing");
        let at = Limit::Credits(quote.credits);
        assert!(preapproved(&quote, Some(at)));
        let below = Limit::Credits(quote.credits - Credits::from_tenths(1));
        assert!(!preapproved(&quote, Some(below)));
        let unpriced = approved(None).order().quote.clone();
        assert!(!preapproved(&unpriced, Some(Limit::parse("$100").unwrap())));
        assert!(preapproved(&unpriced, Some(Limit::parse("1000cr").unwrap())));
    }

    #[test]
    fn providers_are_allowed_by_list_or_by_default() {
        assert!(provider_allowed(None, ProviderId::Katana));
        assert!(provider_allowed(Some(&[ProviderId::Katana]), ProviderId::Katana));
        assert!(!provider_allowed(Some(&[ProviderId::ImaginePro]), ProviderId::Katana));
        assert!(!provider_allowed(Some(&[]), ProviderId::Katana));
    }

    #[test]
    fn remaining_is_the_least_any_budget_leaves() {
        let price = Some(CreditPrice::KATANA_REFERENCE);
        let mut by_window = BTreeMap::new();
        by_window.insert(BudgetWindow::Day, spent(30, 156_000, 0));
        assert_eq!(remaining_credits(&[], &by_window, ProviderId::Katana, price), None);
        let credits = [daily("100cr")];
        assert_eq!(
            remaining_credits(&credits, &by_window, ProviderId::Katana, price),
            Some(Credits::whole(70))
        );
        // $1.00 - $0.156 = $0.844 at $0.0052 per credit: 162.3 credits, rounded down.
        let usd = [daily("$1"), daily("500cr")];
        assert_eq!(
            remaining_credits(&usd, &by_window, ProviderId::Katana, price),
            Some(Credits::from_tenths(1623))
        );
        assert_eq!(remaining_credits(&[daily("$1")], &by_window, ProviderId::Katana, None), None);
        let spent_over = [daily("10cr")];
        assert_eq!(
            remaining_credits(&spent_over, &by_window, ProviderId::Katana, price),
            Some(Credits::ZERO)
        );
    }
}
