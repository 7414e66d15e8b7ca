//! Jobs after the POST: waiting, fetching again, showing, listing, retrying, and balances.
//!
//! Each of `wait`, `fetch`, `status` and `list` first settles a job whose unsaved results have
//! expired at the provider ([`crate::expiry`]), so none of them offers files that are gone.
//!
//! Every operation that talks to a provider opens the provider the job belongs to (its own
//! credentials and base URL), never a default one. A job still `quoted` or `submitting` after
//! the session settled orphans is in the hands of a live conjure process, and is reported as
//! such rather than waited on or re-sent.

use std::future::Future;

use conjure_core::approval::Order;
use conjure_core::runner::Runner;
use conjure_core::{JobFilter, JobRecord, JobState, JobStore as _, Provider, ProviderId};

use crate::deliver::{self, Delivery};
use crate::destination::Destination;
use crate::error::AppError;
use crate::paid::{Done, Progress, expected_of};
use crate::session::{App, Connector, Session};
use crate::views::{BalanceView, JobView, JobsView, TotalsView};

fn in_other_hands(job: &JobRecord, action: &str) -> AppError {
    AppError::invalid(format!(
        "Job `{}` is `{}`: another conjure process is sending it right now, so there is nothing to {action} yet",
        job.id, job.state
    ))
    .hint(format!("wait for that process to finish, then `conjure status {}`", job.id))
    .job(&job.id)
}

impl<C: Connector> App<C> {
    /// Resumes polling a job and delivers its outputs.
    pub async fn wait(
        &self,
        session: &Session,
        input: &str,
        destination: Option<&Destination>,
        force: bool,
        observer: &(dyn Fn(Progress<'_>) + Send + Sync),
        interrupt: impl Future<Output = ()>,
    ) -> Result<Done, AppError> {
        let id = session.journal.resolve(input).await?;
        let job = crate::expiry::settle(session, session.journal.get(&id).await?).await?;
        if matches!(job.state, JobState::Quoted | JobState::Submitting) {
            return Err(in_other_hands(&job, "wait for"));
        }
        if job.state == JobState::Expired {
            return Err(crate::expiry::expired_error(&job));
        }
        let (delivery, provider) = self.ready_to_collect(&job, destination, force)?;
        self.finish(session, &provider, &id, &delivery, observer, interrupt)
            .await
            .map_err(|e| e.for_provider(job.provider))
    }

    /// Downloads a finished job's outputs again (free), refreshing the links with one poll.
    pub async fn fetch(
        &self,
        session: &Session,
        input: &str,
        destination: Option<&Destination>,
        force: bool,
        observer: &(dyn Fn(Progress<'_>) + Send + Sync),
    ) -> Result<Done, AppError> {
        let started = std::time::Instant::now();
        let id = session.journal.resolve(input).await?;
        let job = session.journal.get(&id).await?;
        if job.state == JobState::Expired {
            return Err(crate::expiry::expired_error(&job));
        }
        let (delivery, provider) = self.ready_to_collect(&job, destination, force)?;
        if job.request_id.is_some() {
            // Fresh links if the provider still has the job; the recorded ones otherwise.
            let _ = self.runner(session, &provider).poll_once(&id).await;
        }
        // Links past their expiry (after that one chance to refresh them) are gone.
        let job = crate::expiry::settle(session, session.journal.get(&id).await?).await?;
        if job.state == JobState::Expired {
            return Err(crate::expiry::expired_error(&job));
        }
        let outputs = deliver::deliver(session, &provider, &job, &delivery, observer)
            .await
            .map_err(|e| e.for_provider(job.provider))?;
        let job = session.journal.get(&id).await?;
        Ok(Done { job, outputs, elapsed: started.elapsed() })
    }

    /// What is known about a job; with `refresh`, one free poll first when it is running and
    /// its provider's credentials are at hand.
    pub async fn status(
        &self,
        session: &Session,
        input: &str,
        refresh: bool,
    ) -> Result<JobView, AppError> {
        let id = session.journal.resolve(input).await?;
        let mut job = crate::expiry::settle(session, session.journal.get(&id).await?).await?;
        let mut refreshed = false;
        if refresh
            && job.state.is_pollable()
            && let Ok(provider) = self.connect_for(&job)
        {
            // A failed look leaves the journal as it was; the state shown is the recorded one.
            refreshed = self.runner(session, &provider).poll_once(&id).await.is_ok();
            job = session.journal.get(&id).await?;
        }
        let lineage = self.lineage(session, &job).await?;
        let related = lineage.parent.is_some() || !lineage.children.is_empty();
        Ok(JobView {
            refreshed: Some(refreshed),
            lineage: (related || !lineage.buttons.is_empty()).then_some(lineage),
            ..JobView::of(&job)
        })
    }

    /// The conversation a text job had: the messages it sent and the answer it got, as the
    /// history of a new turn (`conjure text --continue [JOB]`). Without `input`, the newest text
    /// job of the journal. Only a finished answer continues: a cut or failed one would send the
    /// model a conversation it never had.
    pub async fn conversation(
        &self,
        session: &Session,
        input: Option<&str>,
    ) -> Result<(Vec<conjure_core::text::Message>, JobRecord), AppError> {
        use conjure_core::spec::Item;
        use conjure_core::text::{Message, Role};
        let job = match input {
            Some(input) => session.journal.get(&session.journal.resolve(input).await?).await?,
            None => session
                .journal
                .list(JobFilter::All, 10_000)
                .await?
                .into_iter()
                .find(|j| j.kind == conjure_core::MediaKind::Text)
                .ok_or_else(|| {
                    AppError::invalid("There is no text conversation in the journal to continue")
                        .hint("start one with `conjure text \"...\"`")
                })?,
        };
        let [Item::Text(item)] = job.spec.items.as_slice() else {
            return Err(AppError::invalid(format!(
                "Job `{}` is a {} job, not a text conversation",
                job.id, job.kind
            ))
            .hint("name a text job (`conjure jobs` lists them), or leave JOB out for the last one")
            .job(&job.id));
        };
        let answer = crate::views::text_answer(&job).filter(|t| !t.partial);
        let answer = match (job.state, answer) {
            (JobState::Completed, Some(a)) => a,
            (state, _) => {
                return Err(AppError::invalid(format!(
                    "Job `{}` is `{state}` and has no whole answer to continue from",
                    job.id
                ))
                .hint(format!(
                    "`conjure status {}` shows what arrived; continue an earlier turn with `--continue JOB`",
                    job.id
                ))
                .job(&job.id));
            }
        };
        let mut messages = item.messages.clone();
        messages.push(Message::text(Role::Assistant, answer.answer));
        Ok((messages, job))
    }

    /// The journal, newest first, with totals.
    pub async fn list(
        &self,
        session: &Session,
        filter: JobFilter,
        limit: usize,
    ) -> Result<JobsView, AppError> {
        let mut jobs = session.journal.list(filter, limit).await?;
        for job in &mut jobs {
            if crate::expiry::links_expired_at(job).is_some() {
                *job = crate::expiry::settle(session, job.clone()).await?;
            }
        }
        let totals = session.journal.totals().await?;
        Ok(JobsView {
            jobs: jobs.iter().map(JobView::of).collect(),
            unknown_exposure_credits: totals.iter().map(|t| t.exposure).sum(),
            totals: totals
                .iter()
                .map(|t| TotalsView::new(t, self.config.price(t.provider)))
                .collect(),
        })
    }

    /// A new order that sends a journalled job's request again: freshly built and quoted (at
    /// today's price), approved like any other, and subject to the duplicate rule like any
    /// other (a second retry of the same job is refused unless `again`).
    pub async fn retry_order(
        &self,
        session: &Session,
        input: &str,
        again: bool,
    ) -> Result<(Order, JobRecord), AppError> {
        let id = session.journal.resolve(input).await?;
        let job = session.journal.get(&id).await?;
        match job.state {
            JobState::Unknown | JobState::Failed | JobState::Rejected | JobState::Expired => {}
            JobState::Completed | JobState::Partial if again => {}
            JobState::Completed | JobState::Partial => {
                return Err(AppError::invalid(format!("Job `{id}` already completed"))
                    .hint(format!("`conjure fetch {id}` downloads it again for free; pass --again to pay for a new one"))
                    .job(&id));
            }
            JobState::Quoted | JobState::Submitting => return Err(in_other_hands(&job, "retry")),
            JobState::Submitted | JobState::Processing => {
                return Err(AppError::invalid(format!("Job `{id}` is still `{}`", job.state))
                    .hint(format!("`conjure wait {id}` collects it"))
                    .job(&id));
            }
        }
        let mut order = self.order(job.spec.clone(), Some(id))?;
        // A button press sent again is still its parent's child.
        order.parent.clone_from(&job.parent);
        Ok((order, job))
    }

    /// What collecting `job` needs, checked before the provider is asked anything: where its
    /// files go (usable, nothing of the user's overwritten) and its provider, connected.
    fn ready_to_collect(
        &self,
        job: &JobRecord,
        destination: Option<&Destination>,
        force: bool,
    ) -> Result<(Delivery, C::Provider), AppError> {
        let delivery = self.delivery_for(job, destination, force);
        delivery
            .destination
            .check(&expected_of(job), delivery.force)
            .map_err(|e| e.job(&job.id))?;
        Ok((delivery, self.connect_for(job)?))
    }

    /// The provider `job` was sent to. A sandbox job's server was the demo's own and is gone.
    fn connect_for(&self, job: &JobRecord) -> Result<C::Provider, AppError> {
        if job.sandbox && !self.config.sandbox {
            let files: Vec<&str> = job.outputs.iter().map(|o| o.path.as_str()).collect();
            return Err(AppError::invalid(format!(
                "Job `{}` ran in the offline sandbox of `conjure demo`, which is no longer running",
                job.id
            ))
            .hint(if files.is_empty() {
                "run `conjure demo` again for new placeholder results".to_owned()
            } else {
                format!("its files are {}", files.join(", "))
            })
            .job(&job.id));
        }
        self.connect(job.provider)
    }

    fn runner<'a, P: Provider>(
        &self,
        session: &'a Session,
        provider: &'a P,
    ) -> Runner<'a, P, conjure_journal::Journal> {
        Runner {
            provider,
            store: &session.journal,
            policy: self.config.poll.for_provider(provider.id()),
            owner: "",
            observer: &|_| {},
        }
    }
}

impl App {
    /// A provider's credit balance (a free call).
    pub async fn balance(&self, provider: ProviderId) -> Result<BalanceView, AppError> {
        if !conjure_providers::registry::capabilities(provider).balance {
            return Err(AppError::invalid(format!("{provider} has no balance endpoint"))
                .hint("check the balance on the provider's dashboard"));
        }
        let connected = self.connect(provider)?;
        let credits =
            connected.balance().await.map_err(|e| AppError::provider(&e).for_provider(provider))?;
        Ok(BalanceView {
            provider,
            credits,
            usd: self.config.price(provider).map(|p| p.usd(credits)),
        })
    }

    /// `prompt` expanded by the provider's prompt enhancement (ImaginePro's, free and
    /// synchronous: no job, nothing journalled, nothing charged).
    pub async fn enhance(&self, provider: ProviderId, prompt: &str) -> Result<String, AppError> {
        if provider != ProviderId::ImaginePro {
            return Err(AppError::invalid(format!("{provider} has no prompt enhancement"))
                .hint("use `--provider imaginepro` (free), or write the prompt out in full"));
        }
        if prompt.trim().is_empty() {
            return Err(AppError::invalid("The prompt to enhance is empty")
                .hint("for example: `conjure enhance \"a fox in the snow\"`"));
        }
        let connected = self.connect(provider)?;
        let enhanced = connected.enhance(prompt).await.map_err(|e| {
            let mut e = AppError::provider(&e).for_provider(provider);
            // Free and without a job: an unanswered call cost nothing and may simply be repeated.
            if e.kind == crate::ErrorKind::OutcomeUnknown {
                e.kind = crate::ErrorKind::ProviderFailed;
                e.hint =
                    Some("prompt enhancement is free, so nothing was charged; try again".into());
            }
            e
        })?;
        if enhanced.trim().is_empty() {
            return Err(AppError::new(
                crate::ErrorKind::ProviderFailed,
                "The provider's prompt enhancement answered with an empty prompt",
            )
            .hint("try again, or leave out `--enhance`"));
        }
        Ok(enhanced)
    }
}
