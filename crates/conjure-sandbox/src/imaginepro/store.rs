//! The ImaginePro half's memory: its keys and balances, its one job store (both path families
//! and every endpoint share it), its counters, and the message object every fetch and webhook
//! shows.
//!
//! A job steps once per fetch: with `steps` = S (the Katana half's `steps` fault), fetches 1..=S
//! answer `PROCESSING` with `progress` rising (the first one `QUEUED` at 0 when S ≥ 2), and
//! fetch S+1 finishes it: `DONE` with `uri`, `images` and `buttons`, or `FAIL` with `error`.
//! Under the `stale` fault every fetch answers `PROCESSING` with the progress it had, forever.
//! A job with a loopback webhook is also stepped by a timer ([`Store::tick`]) so a client that
//! only listens still gets its call. Whoever finishes a job gets its webhook [`Delivery`], once.
//!
//! Money: [`Store::charge`] takes a job's whole price at submission; a `FAIL` gives it all back
//! when the job finishes (ImaginePro does not document refunds; the sandbox refunds so that a
//! client's "charged: unknown" never hides a real loss in tests). Locks are short and never
//! held across an await; `jobs` is taken before `balances`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use conjure_core::money::Credits;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::faults::Faults;
use crate::imaginepro::plan::{Output, Plan};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn iso(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

/// Where a job is (§7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Queued,
    Processing,
    Done,
    Fail,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "QUEUED",
            Status::Processing => "PROCESSING",
            Status::Done => "DONE",
            Status::Fail => "FAIL",
        }
    }

    pub(crate) fn terminal(self) -> bool {
        matches!(self, Status::Done | Status::Fail)
    }
}

/// One accepted ImaginePro job.
#[derive(Clone, Debug)]
pub(crate) struct IpJob {
    pub id: String,
    pub owner: String,
    pub plan: Plan,
    pub originating: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// Decided at acceptance (failure rate or the `sandbox:fail` marker).
    pub fails: bool,
    pub charged: Credits,
    pub faults: Faults,
    pub rate_limited: u32,
    pub steps: u32,
    pub status: Status,
    pub progress: u32,
    /// The loopback webhook still to call, taken by whoever finishes the job.
    pub webhook: Option<String>,
}

impl IpJob {
    /// The buttons it offers now (none until it is done).
    pub(crate) fn buttons(&self) -> &'static [&'static str] {
        match (&self.plan.output, self.status) {
            (Output::Images { buttons, .. }, Status::Done) => buttons,
            _ => &[],
        }
    }

    pub(crate) fn is_video(&self) -> bool {
        matches!(self.plan.output, Output::Video { .. })
    }

    /// Moves one step; true when this step finished the job.
    fn step(&mut self, now: OffsetDateTime) -> bool {
        if self.status.terminal() {
            return false;
        }
        if self.faults.stale {
            // The stale-status bug as a client meets it: the job is taken up and then never
            // moves again (Katana's stale jobs likewise stay `processing`).
            self.status = Status::Processing;
            return false;
        }
        self.steps += 1;
        let total = self.faults.processing_steps;
        self.updated_at = now;
        if self.steps > total {
            self.status = if self.fails { Status::Fail } else { Status::Done };
            self.progress = if self.fails { self.progress } else { 100 };
            return true;
        }
        if self.steps == 1 && total >= 2 {
            self.status = Status::Queued;
            self.progress = 0;
        } else {
            self.status = Status::Processing;
            self.progress = self.steps * 100 / (total + 1);
        }
        false
    }
}

/// A webhook call owed: where, and the final message.
#[derive(Clone, Debug)]
pub(crate) struct Delivery {
    pub url: String,
    pub job: Box<IpJob>,
}

/// What a fetch should answer.
pub(crate) enum Fetched {
    NotFound,
    RateLimited { retry_after: u32 },
    Message { job: Box<IpJob>, delivery: Option<Delivery> },
}

/// What a timer step did.
pub(crate) enum Tick {
    Pending,
    Finished(Option<Delivery>),
    /// Gone, already finished, or stale: stop stepping.
    Stop,
}

#[derive(Debug, Default)]
pub(crate) struct IpCounters {
    pub posts_received: AtomicU64,
    pub accepted: AtomicU64,
    pub accepted_by_path: Mutex<BTreeMap<String, u64>>,
    pub fetches: AtomicU64,
    pub prompt_extends: AtomicU64,
    pub webhooks_delivered: AtomicU64,
    pub webhooks_failed: AtomicU64,
    pub webhooks_skipped: AtomicU64,
}

impl IpCounters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Keys, balances, jobs and counters of the ImaginePro half.
#[derive(Debug)]
pub(crate) struct Store {
    keys: Vec<String>,
    balances: Mutex<BTreeMap<String, Credits>>,
    jobs: Mutex<HashMap<String, IpJob>>,
    pub counters: IpCounters,
}

impl Store {
    /// `keys` are `(key, balance)`; a key listed twice keeps its first entry.
    pub(crate) fn new(keys: impl IntoIterator<Item = (String, Credits)>) -> Store {
        let mut balances = BTreeMap::new();
        let mut list = Vec::new();
        for (key, balance) in keys {
            if !balances.contains_key(&key) {
                balances.insert(key.clone(), balance);
                list.push(key);
            }
        }
        Store {
            keys: list,
            balances: Mutex::new(balances),
            jobs: Mutex::new(HashMap::new()),
            counters: IpCounters::default(),
        }
    }

    pub(crate) fn knows(&self, key: &str) -> bool {
        self.keys.iter().any(|k| crate::state::constant_time_eq(k.as_bytes(), key.as_bytes()))
    }

    pub(crate) fn balance(&self, key: &str) -> Option<Credits> {
        lock(&self.balances).get(key).copied()
    }

    pub(crate) fn balances(&self) -> BTreeMap<String, Credits> {
        lock(&self.balances).clone()
    }

    /// Takes `amount`, or nothing when the balance does not cover it (then `Err(balance)`).
    pub(crate) fn charge(&self, key: &str, amount: Credits) -> Result<(), Credits> {
        let mut balances = lock(&self.balances);
        match balances.get_mut(key) {
            Some(balance) if *balance >= amount => {
                *balance = *balance - amount;
                Ok(())
            }
            Some(balance) => Err(*balance),
            None => Err(Credits::ZERO),
        }
    }

    pub(crate) fn insert(&self, job: IpJob, path: &str) {
        lock(&self.jobs).insert(job.id.clone(), job);
        IpCounters::bump(&self.counters.accepted);
        *lock(&self.counters.accepted_by_path).entry(path.to_owned()).or_default() += 1;
    }

    /// A copy of `key`'s job `id`.
    pub(crate) fn get(&self, id: &str, key: &str) -> Option<IpJob> {
        lock(&self.jobs).get(id).filter(|j| j.owner == key).cloned()
    }

    /// A done job, for asset downloads (no auth: the real URLs are public CDN links).
    pub(crate) fn done(&self, id: &str) -> Option<IpJob> {
        lock(&self.jobs).get(id).filter(|j| j.status == Status::Done).cloned()
    }

    /// Answers one fetch by `key`: rate limiting first, then one step.
    pub(crate) fn fetch(&self, id: &str, key: &str, now: OffsetDateTime) -> Fetched {
        let mut jobs = lock(&self.jobs);
        let Some(job) = jobs.get_mut(id).filter(|j| j.owner == key) else {
            return Fetched::NotFound;
        };
        if job.rate_limited < job.faults.rate_limit_polls {
            job.rate_limited += 1;
            return Fetched::RateLimited { retry_after: job.faults.retry_after_secs };
        }
        let delivery = self.finish_if(job, now);
        Fetched::Message { job: Box::new(job.clone()), delivery }
    }

    /// One timer step of a job with a webhook.
    pub(crate) fn tick(&self, id: &str, now: OffsetDateTime) -> Tick {
        let mut jobs = lock(&self.jobs);
        let Some(job) = jobs.get_mut(id).filter(|j| !j.status.terminal() && !j.faults.stale) else {
            return Tick::Stop;
        };
        let delivery = self.finish_if(job, now);
        if job.status.terminal() { Tick::Finished(delivery) } else { Tick::Pending }
    }

    /// Steps `job`; when that finishes it, refunds a failure and hands out the webhook.
    fn finish_if(&self, job: &mut IpJob, now: OffsetDateTime) -> Option<Delivery> {
        if !job.step(now) {
            return None;
        }
        if job.status == Status::Fail
            && let Some(balance) = lock(&self.balances).get_mut(&job.owner)
        {
            *balance += job.charged;
        }
        let url = job.webhook.take()?;
        Some(Delivery { url, job: Box::new(job.clone()) })
    }
}

/// The asset URL of output `index` of `job`.
pub(crate) fn asset_url(base_url: &str, job: &IpJob, index: u32) -> String {
    let ext = if job.is_video() { "mp4" } else { "png" };
    format!("{base_url}/assets/imaginepro/{}/{index}.{ext}", job.id)
}

/// The message object (§6) as fetches and webhooks show it. `echo` is the echo-credentials
/// fault's sentence, added to a failure's `error`.
pub(crate) fn message(job: &IpJob, base_url: &str, echo: Option<&str>) -> Value {
    let mut m = json!({
        "messageId": job.id,
        "prompt": job.plan.prompt,
        "status": job.status.as_str(),
        "progress": job.progress,
        "createdAt": iso(job.created_at),
        "updatedAt": iso(job.updated_at),
    });
    if let Some(reference) = &job.plan.base.reference {
        m["ref"] = json!(reference);
    }
    if let Some(parent) = &job.originating {
        m["originatingMessageId"] = json!(parent);
    }
    match job.status {
        Status::Done => {
            let count = match job.plan.output {
                Output::Images { count, .. } | Output::Video { count, .. } => count,
            };
            let urls: Vec<String> = (0..count).map(|i| asset_url(base_url, job, i)).collect();
            m["uri"] = json!(urls.first());
            m["images"] = json!(urls);
            m["buttons"] = json!(job.buttons());
            if job.is_video() {
                m["videoUrl"] = json!(urls.first());
                m["results"] = urls
                    .iter()
                    .enumerate()
                    .map(|(index, url)| json!({ "url": url, "index": index }))
                    .collect();
            }
        }
        Status::Fail => {
            let error = "The sandbox failed this job on purpose (fail-rate fault or the \
                         sandbox:fail marker); its credits were refunded.";
            m["error"] =
                json!(echo.map_or_else(|| error.to_owned(), |e| crate::echo::with_echo(error, e)));
        }
        Status::Queued | Status::Processing => {}
    }
    m
}
