//! The paid path, once, for every front end: prepare an order, check it, approve it, reserve
//! it, send it once, wait, deliver.
//!
//! 1. [`App::prepare`]: the request becomes a normalised spec, checked against the catalogue;
//!    the provider's pure builder makes the exact wire request; the quote prices it from the
//!    catalogue at the configured price; [`Order::new`] issues its approval token.
//! 2. [`App::pay`] first refuses whatever can fail locally, so that a person is never asked to
//!    approve what would then be refused or lost: inputs changed since the quote, `--yes` above
//!    its cap, the money rules against the journal, an output destination that cannot be
//!    written or would overwrite a file ([`crate::destination`]), missing credentials. Then it
//!    [`approve`]s: without consent the answer is [`Paid::NeedsApproval`] and nothing is
//!    recorded. With consent the runner reserves (the atomic money decision), sends the one POST
//!    and records the answer. If the journal fails after the provider answered, the request id
//!    goes to the [`crate::fallback`] record.
//! 3. Unless asked not to wait, it polls and delivers ([`App::finish`]); an interrupt while
//!    waiting leaves the job resumable.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use conjure_core::Provider;
use conjure_core::approval::{Consent, NeedsApproval, Order, approve};
use conjure_core::policy::{self, Limit, SpendRules};
use conjure_core::runner::{Event, RunError, Runner};
use conjure_core::spec::validate;
use conjure_core::{JobId, JobRecord, JobSpec, JobStore as _, OutputRecord, Quote};
use conjure_providers::registry;

use crate::deliver::{self, Delivery};
use crate::destination::{Destination, Expected};
use crate::error::{AppError, ErrorKind};
use crate::fallback;
use crate::request::Request;
use crate::session::{App, Connector, Session};
use crate::timefmt::now_ms;

/// How a paid request is to be handled besides its approval.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PayOptions {
    /// Send even though the same request was sent in the last 24 hours.
    pub again: bool,
    /// The most this request may cost; the configured limit when `None`.
    pub max_cost: Option<Limit>,
    /// Return once the provider accepted it instead of waiting for the result.
    pub no_wait: bool,
    /// Where outputs go; the configured folder when `None`.
    pub destination: Option<Destination>,
    /// Replace existing files the destination names (`--force`).
    pub force: bool,
}

/// How [`App::pay`] ended (errors aside).
#[derive(Debug)]
pub enum Paid {
    /// Nobody agreed to pay yet: show the quote and ask. Nothing was recorded or sent.
    NeedsApproval(Box<Order>),
    /// Accepted by the provider and not waited for (`no_wait`).
    Submitted(JobRecord),
    /// Finished and delivered.
    Done(Done),
}

/// A finished, delivered job.
#[derive(Debug)]
pub struct Done {
    pub job: JobRecord,
    pub outputs: Vec<OutputRecord>,
    pub elapsed: Duration,
}

/// What a front end may show while a job runs.
#[derive(Debug, Clone)]
pub enum Progress<'a> {
    /// The runner's events: submitted (with the request id), polled.
    Job(Event<'a>),
    /// A file was written.
    Saved { job: &'a JobId, path: &'a Path },
    /// Every in-flight slot of the provider is taken by other requests (other conjure
    /// processes, or earlier calls of a batch): this one waits its turn before it is reserved.
    WaitingTurn { provider: conjure_core::ProviderId, max: u32 },
}

/// Checks that every local input still has the bytes that were quoted. The provider checks
/// again when it sends; this only refuses earlier (a retry of a job whose file has changed
/// since, say), before anything is recorded.
fn verify_files(order: &Order) -> Result<(), AppError> {
    use sha2::{Digest as _, Sha256};
    for file in &order.wire.files {
        let same = std::fs::read(&file.path).is_ok_and(|bytes| {
            bytes.len() as u64 == file.bytes && hex::encode(Sha256::digest(&bytes)) == file.sha256
        });
        if !same {
            return Err(AppError::invalid(format!(
                "`{}` changed or is gone since this request was quoted; nothing was sent",
                file.path
            ))
            .hint("run the original command again to quote the file as it is now"));
        }
    }
    Ok(())
}

/// The files a job of `spec` makes: one per item, with the extensions its format allows.
pub fn expected(spec: &JobSpec) -> Expected {
    use conjure_core::spec::{ImageFormat, Item};
    let mut extensions = Vec::new();
    for item in &spec.items {
        let exts: &[&'static str] = match item {
            // ImaginePro picks the format; its CDN serves PNG, JPEG or WebP.
            Item::Image(_) | Item::Button(_) | Item::Tool(_)
                if spec.provider == conjure_core::ProviderId::ImaginePro =>
            {
                &["png", "jpg", "jpeg", "webp"]
            }
            Item::Button(_) | Item::Tool(_) => &["png"],
            Item::Image(i) => match i.format {
                ImageFormat::Png => &["png"],
                ImageFormat::Jpeg => &["jpg", "jpeg"],
                ImageFormat::Webp => &["webp"],
            },
            Item::Video(_) => &["mp4"],
            // The answer goes to stdout and the journal, not to a file.
            Item::Text(_) => continue,
        };
        for e in exts {
            if !extensions.contains(e) {
                extensions.push(*e);
            }
        }
    }
    let files = spec
        .items
        .iter()
        .map(|i| match i {
            Item::Text(_) => 0,
            _ if spec.provider == conjure_core::ProviderId::ImaginePro => {
                conjure_core::imaginepro::images_per_item(i)
            }
            _ => 1,
        })
        .sum();
    Expected { files, extensions, own: Vec::new(), job: None }
}

/// What collecting `job` makes: [`expected`] of its request, and the files it already delivered.
pub fn expected_of(job: &JobRecord) -> Expected {
    Expected {
        own: job.outputs.iter().map(|o| (PathBuf::from(&o.path), o.sha256.clone())).collect(),
        job: Some(job.id.to_string()),
        ..expected(&job.spec)
    }
}

impl<C: Connector> App<C> {
    /// Turns a request into a priced order. Reads input files; sends nothing; needs no
    /// credentials and no journal.
    pub fn prepare(&self, request: &Request) -> Result<Order, AppError> {
        self.order(request.spec_in(self.catalogue())?, None)
    }

    /// An order for `spec` (a new request, or a retry of `retry_of`).
    pub fn order(&self, spec: JobSpec, retry_of: Option<JobId>) -> Result<Order, AppError> {
        let catalogue = self.catalogue();
        validate(&spec, catalogue)?;
        let wire = registry::build_request(&spec).map_err(|e| AppError::provider(&e))?;
        let mut quote = Quote::compute_with(
            &spec,
            catalogue,
            self.config.price(spec.provider),
            &self.config.imaginepro_prices,
        )?;
        quote.notes.extend(self.price_notes(&quote));
        Order::new(spec, wire, quote, retry_of, None)
            .map_err(|e| AppError::other(format!("Cannot read random bytes for a token: {e}")))
    }

    /// The spending rules for one request.
    pub fn rules(&self, options: &PayOptions) -> SpendRules {
        SpendRules {
            max_cost: options.max_cost.or(self.config.max_cost),
            budgets: self.config.budgets.clone(),
            again: options.again,
            sandbox: self.config.sandbox,
        }
    }

    /// Where outputs go: the given destination, else the configured folder.
    pub fn delivery(&self, destination: Option<&Destination>, force: bool) -> Delivery {
        Delivery {
            destination: destination
                .cloned()
                .unwrap_or_else(|| Destination::Dir(self.config.out_dir.clone())),
            force,
        }
    }

    /// Where `job`'s outputs go when collected: the given destination, else where the job was
    /// asked to deliver when it was sent, else the configured folder.
    pub fn delivery_for(
        &self,
        job: &JobRecord,
        destination: Option<&Destination>,
        force: bool,
    ) -> Delivery {
        match (destination, Delivery::of(job)) {
            (Some(d), _) => self.delivery(Some(d), force),
            (None, Some(recorded)) => Delivery { force: force || recorded.force, ..recorded },
            (None, None) => self.delivery(None, force),
        }
    }

    /// Takes `order` down the paid path. `interrupt` ends waiting early (the job stays
    /// resumable); it is never raced against the POST itself.
    pub async fn pay(
        &self,
        session: &Session,
        mut order: Order,
        options: &PayOptions,
        consent: Option<Consent>,
        observer: &(dyn Fn(Progress<'_>) + Send + Sync),
        interrupt: impl Future<Output = ()>,
    ) -> Result<Paid, AppError> {
        let rules = self.rules(options);
        let now = now_ms();
        let token = match &consent {
            Some(Consent::Token(t)) => Some(t.trim().to_owned()),
            _ => None,
        };
        // The pre-check: refuse now whatever would fail locally or be refused by `reserve`,
        // before anyone is asked: changed inputs, --yes above its cap, the money rules, an
        // unusable or clobbering destination, missing credentials.
        verify_files(&order)?;
        // The sandbox charges placeholder credits only: nothing for the cap to protect.
        if matches!(consent, Some(Consent::Yes)) && !self.config.sandbox {
            policy::check_yes(&order.quote, options.max_cost, self.config.yes_max_cost)?;
        }
        let facts = session.journal.preview(&order, token.as_deref(), &rules, now).await?;
        policy::reserve_verdict(&order.quote, &rules, &facts, now)?;
        let delivery = self.delivery(options.destination.as_ref(), options.force);
        delivery.destination.check(&expected(&order.spec), delivery.force)?;
        // Only what the person named: a job sent to the default folder goes to whichever
        // folder is the default when it is collected.
        if options.destination.is_some() {
            order.deliver_to = delivery.journalled();
        }
        let provider = self.connect(order.spec.provider)?;
        let approved = match approve(order, consent) {
            Ok(a) => a,
            Err(NeedsApproval::Missing(order)) => return Ok(Paid::NeedsApproval(order)),
            Err(NeedsApproval::TokenMismatch(_)) => {
                return Err(AppError::invalid(
                    "The approval token does not match this request; nothing was sent",
                )
                .hint("the request, the price or the total changed since that quote; run the command without --approve to see the new quote"));
            }
        };
        let provider_id = approved.order().spec.provider;
        // The provider's in-flight rule, across processes: wait for a turn before reserving.
        let _slot = match self.config.max_in_flight(provider_id) {
            Some(max) => Some(
                crate::inflight::acquire(&self.config.data_dir, provider_id, max, || {
                    observer(Progress::WaitingTurn { provider: provider_id, max });
                })
                .await?,
            ),
            None => None,
        };
        let runner_observer = |e: Event<'_>| observer(Progress::Job(e));
        let runner = Runner {
            provider: &provider,
            store: &session.journal,
            policy: self.config.poll.for_provider(provider.id()),
            owner: session.owner()?,
            observer: &runner_observer,
        };
        let started = Instant::now();
        // A text answer read as it is written may take minutes: an interrupt stops reading it
        // (the job is then `unknown`, with what arrived). Media answers come at once.
        let mut interrupt = std::pin::pin!(interrupt);
        let long_answer = approved.order().spec.items.iter().any(|i| {
            matches!(i, conjure_core::Item::Text(t) if t.mode != conjure_core::text::TextMode::Async)
        });
        let stop = long_answer.then_some(interrupt.as_mut());
        // Reserved as of now, after any wait for a turn: the job's time is when it is sent.
        let job = match runner.submit_until(approved, &rules, now_ms(), stop).await {
            Ok(job) => job,
            Err(RunError::Unrecorded { job, request_id, snapshot, error }) => {
                let written = fallback::record(
                    &self.config.data_dir,
                    &job,
                    provider_id,
                    request_id.as_deref(),
                    &snapshot,
                    &error,
                );
                let mut err =
                    AppError::from(RunError::Unrecorded { job, request_id, snapshot, error });
                if let Ok(path) = written {
                    err.message = format!("{} (recorded in `{}`)", err.message, path.display());
                }
                return Err(err);
            }
            Err(e) => return Err(AppError::from(e).for_provider(provider_id)),
        };
        if options.no_wait && !job.state.is_terminal() {
            return Ok(Paid::Submitted(job));
        }
        let mut done = self
            .finish(session, &provider, &job.id, &delivery, observer, interrupt)
            .await
            .map_err(|e| e.for_provider(provider_id))?;
        done.elapsed = started.elapsed();
        Ok(Paid::Done(done))
    }

    /// Waits for a submitted job and delivers its outputs, unless `interrupt` comes first: the
    /// job keeps running at the provider and stays resumable, so that is "still pending".
    pub async fn finish<P: Provider>(
        &self,
        session: &Session,
        provider: &P,
        id: &JobId,
        delivery: &Delivery,
        observer: &(dyn Fn(Progress<'_>) + Send + Sync),
        interrupt: impl Future<Output = ()>,
    ) -> Result<Done, AppError> {
        let started = Instant::now();
        let work = async {
            let runner_observer = |e: Event<'_>| observer(Progress::Job(e));
            let runner = Runner {
                provider,
                store: &session.journal,
                policy: self.config.poll.for_provider(provider.id()),
                owner: "",
                observer: &runner_observer,
            };
            let job = runner.wait(id).await?;
            let outputs = deliver::deliver(session, provider, &job, delivery, observer).await?;
            let job = session.journal.get(id).await?;
            Ok::<_, AppError>(Done { job, outputs, elapsed: started.elapsed() })
        };
        tokio::select! {
            result = work => result,
            () = interrupt => Err(AppError::new(ErrorKind::StillPending, format!("Interrupted while waiting for job `{id}`"))
                .hint(format!("the job continues at the provider; `conjure wait {id}` resumes and downloads it"))
                .job(id)),
        }
    }
}
