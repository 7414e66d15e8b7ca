//! The sandbox's memory: keys and balances, accepted jobs, counters and the current faults.
//!
//! Money is taken in one place, [`AppState::charge`]: the whole price of a media submission, or
//! a text call's whole reserve, or nothing. It comes back in two: [`AppState::refund`] returns
//! the unused part of a text reserve once the answer is known (never for a cut stream or an
//! injected 500, which keep the reserve), and [`AppState::advance`] refunds failed media items,
//! and an async text job's unused reserve, when their job completes. Each item remembers what it
//! was charged (the catalogue price plus any injected overcharge), so a refund returns exactly
//! that whatever the faults are by then. Locks are short and never held across an await; when
//! both are needed, `jobs` is taken before `balances`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use conjure_core::money::Credits;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::catalogue::Served;
use crate::faults::Faults;
use crate::imaginepro::store::IpCounters;
use crate::media::MediaStore;
use crate::submit::PlannedItem;
use crate::text::TextJob;

/// Counters and balances, as served by `GET /_sandbox/stats`.
///
/// The `chat_*` counters are about `POST /v1/chat/completions`: a paid call is one that got as
/// far as taking its reserve, so a test can assert that a client sent a paid text call exactly
/// once (`chat_paid`) and in which form (`chat_paid_whole + chat_paid_stream + chat_paid_async
/// == chat_paid`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    /// Submissions accepted and charged (including those answered with an injected 500 or a
    /// dropped connection).
    pub submissions_accepted: u64,
    /// Every `POST /v1/generation-requests` that reached the server, whatever its outcome.
    pub submit_posts_received: u64,
    /// Every `GET /v1/generation-requests/{id}`, including injected 429s and 404s.
    pub polls: u64,
    /// Asset downloads answered with 200.
    pub downloads: u64,
    /// Every `POST /v1/chat/completions` that reached the server, whatever its outcome.
    pub chat_posts_received: u64,
    /// Chat calls that took a reserve (including cut streams and injected 500s).
    pub chat_paid: u64,
    /// Paid chat calls answered with one JSON body.
    pub chat_paid_whole: u64,
    /// Paid chat calls answered with a stream (`stream: true`).
    pub chat_paid_stream: u64,
    /// Paid chat calls accepted as async jobs (`?wait=false`).
    pub chat_paid_async: u64,
    /// Balance per key, as the decimal string `/v1/me/balance` returns.
    pub balances: BTreeMap<String, String>,
    /// Every paid ImaginePro `POST` (imagine, button, flux, universal, gemini, video, remove-bg)
    /// that reached the server, whatever its outcome.
    pub imaginepro_posts_received: u64,
    /// ImaginePro jobs accepted and charged (including those answered with an injected 500 or
    /// a dropped connection).
    pub imaginepro_accepted: u64,
    /// Accepted ImaginePro jobs per path relative to `/api/v1` (`/nova/imagine`, ...).
    pub imaginepro_accepted_by_path: BTreeMap<String, u64>,
    /// Every ImaginePro message fetch, on any of the three paths, including 404s and 429s.
    pub imaginepro_fetches: u64,
    /// Answered `POST /api/v1/tools/prompt-extend` calls (free).
    pub imaginepro_prompt_extends: u64,
    /// Webhook calls that got an HTTP answer (one per job at most).
    pub imaginepro_webhooks_delivered: u64,
    /// Webhook calls that got no answer (refused, timed out); never retried.
    pub imaginepro_webhooks_failed: u64,
    /// Accepted jobs whose `webhookOverride` was not a loopback `http://` URL: never called.
    pub imaginepro_webhooks_skipped: u64,
    /// Balance per ImaginePro key, in the same decimal form as `balances`.
    pub imaginepro_balances: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub submissions_accepted: AtomicU64,
    pub submit_posts_received: AtomicU64,
    pub polls: AtomicU64,
    pub downloads: AtomicU64,
    pub chat_posts_received: AtomicU64,
    pub chat_paid: AtomicU64,
    pub chat_paid_whole: AtomicU64,
    pub chat_paid_stream: AtomicU64,
    pub chat_paid_async: AtomicU64,
    /// Items accepted so far: the ordinal for the failure draw.
    pub items: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) -> u64 {
        counter.fetch_add(1, Ordering::Relaxed)
    }
}

/// One accepted item and what became of it.
#[derive(Clone, Debug)]
pub(crate) struct JobItem {
    pub plan: PlannedItem,
    /// Decided at acceptance from the failure rate (or the `sandbox:fail` prompt marker).
    pub fails: bool,
    /// What was taken from the balance for this item: the catalogue price plus the overcharge
    /// fault at acceptance. Reported as `credits_spent` and refunded in full if the item fails.
    pub charged: Credits,
}

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Processing,
    Done { completed_at: OffsetDateTime },
}

/// What a job produces.
#[derive(Clone, Debug)]
pub(crate) enum Work {
    /// The items of a `POST /v1/generation-requests`.
    Media(Vec<JobItem>),
    /// An async `POST /v1/chat/completions?wait=false`.
    Text(Box<TextJob>),
}

/// An accepted submission.
#[derive(Clone, Debug)]
pub(crate) struct Job {
    pub id: String,
    /// The key that submitted it; other keys get 404.
    pub owner: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub work: Work,
    /// Faults as they were when the job was accepted.
    pub faults: Faults,
    /// Polls answered 429 so far.
    pub rate_limited: u32,
    /// Polls answered with the envelope so far.
    pub polls: u32,
    pub phase: Phase,
}

/// What a poll should answer.
pub(crate) enum PollOutcome {
    NotFound,
    RateLimited { retry_after: u32 },
    Envelope(Box<Job>),
}

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct AppState {
    /// `(key, secret)` pairs.
    pub keys: Vec<(String, String)>,
    pub balances: Mutex<BTreeMap<String, Credits>>,
    pub jobs: Mutex<HashMap<String, Job>>,
    pub faults: Mutex<Faults>,
    pub counters: Counters,
    pub base_url: String,
    pub media: MediaStore,
    /// The ImaginePro half's keys, balances, jobs and counters.
    pub imaginepro: crate::imaginepro::store::Store,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `credits` as the balance endpoint writes it: always one decimal (`"20814.0"`).
pub(crate) fn credits_string(credits: Credits) -> String {
    let tenths = credits.tenths();
    let sign = if tenths < 0 { "-" } else { "" };
    let abs = tenths.unsigned_abs();
    format!("{sign}{}.{}", abs / 10, abs % 10)
}

impl AppState {
    pub(crate) fn faults(&self) -> Faults {
        lock(&self.faults).clone()
    }

    pub(crate) fn set_faults(&self, faults: Faults) {
        *lock(&self.faults) = faults;
    }

    /// The catalogue the service has now: the bundled one, or the drifted one under the
    /// `catalogue-drift` fault.
    pub(crate) fn catalogue(&self) -> &'static Served {
        if lock(&self.faults).catalogue_drift { Served::drifted() } else { Served::bundled() }
    }

    /// The key name when `key`/`secret` match a configured key.
    pub(crate) fn authenticate(&self, key: &str, secret: &str) -> bool {
        self.keys.iter().any(|(k, s)| k == key && constant_time_eq(s.as_bytes(), secret.as_bytes()))
    }

    pub(crate) fn balance(&self, key: &str) -> Option<Credits> {
        lock(&self.balances).get(key).copied()
    }

    /// Takes `amount` from `key`'s balance, or nothing when it does not cover it.
    pub(crate) fn charge(&self, key: &str, amount: Credits) -> bool {
        let mut balances = lock(&self.balances);
        match balances.get_mut(key) {
            Some(balance) if *balance >= amount => {
                *balance = *balance - amount;
                true
            }
            _ => false,
        }
    }

    /// Gives `amount` back to `key` (the unused part of a text reserve).
    pub(crate) fn refund(&self, key: &str, amount: Credits) {
        if amount > Credits::ZERO
            && let Some(balance) = lock(&self.balances).get_mut(key)
        {
            *balance += amount;
        }
    }

    pub(crate) fn insert_job(&self, job: Job) {
        lock(&self.jobs).insert(job.id.clone(), job);
    }

    /// A snapshot of a completed job, for asset downloads (no auth: URLs are "signed").
    pub(crate) fn completed_job(&self, id: &str) -> Option<Job> {
        lock(&self.jobs).get(id).filter(|j| matches!(j.phase, Phase::Done { .. })).cloned()
    }

    /// Answers one poll by `key`: rate limiting first, then the processing steps, then
    /// completion (refunding failed items once). Under the `hold` fault the job is answered as
    /// it is, without a step.
    pub(crate) fn advance(
        &self,
        id: &str,
        key: &str,
        now: OffsetDateTime,
        hold: bool,
    ) -> PollOutcome {
        let mut jobs = lock(&self.jobs);
        let Some(job) = jobs.get_mut(id).filter(|j| j.owner == key) else {
            return PollOutcome::NotFound;
        };
        if job.rate_limited < job.faults.rate_limit_polls {
            job.rate_limited += 1;
            return PollOutcome::RateLimited { retry_after: job.faults.retry_after_secs };
        }
        if hold {
            return PollOutcome::Envelope(Box::new(job.clone()));
        }
        job.polls += 1;
        if job.phase == Phase::Processing
            && !job.faults.stale
            && job.polls > job.faults.processing_steps
        {
            job.phase = Phase::Done { completed_at: now };
            job.updated_at = now;
            let refund: Credits = match &job.work {
                Work::Media(items) => items.iter().filter(|i| i.fails).map(|i| i.charged).sum(),
                Work::Text(text) => text.usage.refunded(),
            };
            if refund > Credits::ZERO {
                let mut balances = lock(&self.balances);
                if let Some(balance) = balances.get_mut(&job.owner) {
                    *balance += refund;
                }
            }
        }
        PollOutcome::Envelope(Box::new(job.clone()))
    }

    pub(crate) fn stats(&self) -> Stats {
        let c = &self.counters;
        let ip = &self.imaginepro.counters;
        Stats {
            submissions_accepted: c.submissions_accepted.load(Ordering::Relaxed),
            submit_posts_received: c.submit_posts_received.load(Ordering::Relaxed),
            polls: c.polls.load(Ordering::Relaxed),
            downloads: c.downloads.load(Ordering::Relaxed),
            chat_posts_received: c.chat_posts_received.load(Ordering::Relaxed),
            chat_paid: c.chat_paid.load(Ordering::Relaxed),
            chat_paid_whole: c.chat_paid_whole.load(Ordering::Relaxed),
            chat_paid_stream: c.chat_paid_stream.load(Ordering::Relaxed),
            chat_paid_async: c.chat_paid_async.load(Ordering::Relaxed),
            balances: lock(&self.balances)
                .iter()
                .map(|(k, v)| (k.clone(), credits_string(*v)))
                .collect(),
            imaginepro_posts_received: IpCounters::get(&ip.posts_received),
            imaginepro_accepted: IpCounters::get(&ip.accepted),
            imaginepro_accepted_by_path: lock(&ip.accepted_by_path).clone(),
            imaginepro_fetches: IpCounters::get(&ip.fetches),
            imaginepro_prompt_extends: IpCounters::get(&ip.prompt_extends),
            imaginepro_webhooks_delivered: IpCounters::get(&ip.webhooks_delivered),
            imaginepro_webhooks_failed: IpCounters::get(&ip.webhooks_failed),
            imaginepro_webhooks_skipped: IpCounters::get(&ip.webhooks_skipped),
            imaginepro_balances: self
                .imaginepro
                .balances()
                .into_iter()
                .map(|(k, v)| (k, credits_string(v)))
                .collect(),
        }
    }
}

/// Compares secrets without an early exit on the first differing byte.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balance_strings_keep_one_decimal() {
        assert_eq!(credits_string(Credits::whole(20_814)), "20814.0");
        assert_eq!(credits_string(Credits::from_tenths(12_345)), "1234.5");
        assert_eq!(credits_string(Credits::ZERO), "0.0");
    }

    #[test]
    fn secrets_compare_exactly() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
