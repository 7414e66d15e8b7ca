//! Job lineage: Midjourney's buttons make children of the job they are pressed on.
//!
//! A finished ImaginePro job's message offers buttons (`U1`..`U4`, `V1`..`V4`, `🔄`, ...). A
//! press is a paid request of its own ([`App::button_order`]): it is quoted and approved like
//! any other, names the parent's message, and its job records the parent, so the journal keeps
//! the tree that providers' own tools lose. Only buttons the parent's last message offered are
//! accepted: anything else would be a paid request ImaginePro refuses, or worse, one it accepts
//! on a different image than the user meant.
//!
//! [`App::lineage`] is what `conjure status` shows (the parent, the children, the buttons on
//! offer); [`App::tree`] is `conjure jobs --tree`.

use std::collections::{HashMap, HashSet};

use conjure_core::approval::Order;
use conjure_core::spec::{ButtonItem, InputKind, Item};
use conjure_core::{JobFilter, JobId, JobRecord, JobSpec, JobState, JobStore as _, ProviderId};
use conjure_providers::imaginepro::{button_name, button_wire};
use serde::Serialize;

use crate::error::AppError;
use crate::request::ButtonRequest;
use crate::session::{App, Connector, Session};
use crate::views::JobView;

/// The buttons `job`'s last message offered, as the provider spells them (emoji included).
pub fn offered(job: &JobRecord) -> Vec<String> {
    job.last_snapshot
        .as_ref()
        .and_then(|s| s.get("buttons"))
        .and_then(serde_json::Value::as_array)
        .map(|b| b.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// The button `job` was made by, by conjure's name (`U1`, `reroll`), if it was made by one.
pub fn pressed(job: &JobRecord) -> Option<String> {
    job.spec.items.iter().find_map(|i| match i {
        Item::Button(b) => Some(button_name(&b.button)),
        _ => None,
    })
}

/// One button on offer, and the jobs already made by pressing it.
#[derive(Clone, Debug, Serialize)]
pub struct ButtonView {
    /// conjure's name (`U1`, `reroll`, `zoom-out-2x`), what `conjure button` takes.
    pub name: String,
    /// The provider's value (`U1`, `🔄`, `Zoom Out 2x`).
    pub wire: String,
    /// Jobs made by this button so far (pressing it again makes another, and costs again).
    pub pressed_by: Vec<JobId>,
}

/// A parent or child in a lineage.
#[derive(Clone, Debug, Serialize)]
pub struct RelativeView {
    pub job_id: JobId,
    pub status: JobState,
    pub model: String,
    /// The button that made the child (for a child), or that made the parent (for a parent).
    pub button: Option<String>,
}

impl RelativeView {
    fn of(job: &JobRecord) -> RelativeView {
        RelativeView {
            job_id: job.id.clone(),
            status: job.state,
            model: job.model.clone(),
            button: pressed(job),
        }
    }
}

/// Where a job sits: what it was made from, what was made from it, what can still be pressed.
#[derive(Clone, Debug, Serialize)]
pub struct LineageView {
    pub parent: Option<RelativeView>,
    /// The button pressed on the parent to make this job.
    pub button: Option<String>,
    pub children: Vec<RelativeView>,
    /// The buttons this job's result offers (empty until it is finished, and for providers
    /// without buttons).
    pub buttons: Vec<ButtonView>,
}

/// A job and the jobs made from it, recursively (`conjure jobs --tree`).
#[derive(Clone, Debug, Serialize)]
pub struct TreeNode {
    #[serde(flatten)]
    pub job: JobView,
    pub button: Option<String>,
    pub children: Vec<TreeNode>,
}

/// `conjure jobs --tree`: the newest root jobs with their descendants.
#[derive(Clone, Debug, Serialize)]
pub struct TreeView {
    pub jobs: Vec<TreeNode>,
}

/// `job` and its descendants, from the children of each job (`kids`).
fn node(job: &JobRecord, kids: &HashMap<&JobId, Vec<&JobRecord>>, depth: usize) -> TreeNode {
    // A lineage is a tree by construction (a child is made after its parent); the depth
    // bound only guards a hand-edited journal.
    let children = match kids.get(&job.id) {
        Some(c) if depth < 64 => c.iter().map(|c| node(c, kids, depth + 1)).collect(),
        _ => Vec::new(),
    };
    TreeNode { job: JobView::of(job), button: pressed(job), children }
}

/// Why `job` cannot have a button pressed, if it cannot.
fn refuse_parent(job: &JobRecord) -> Option<AppError> {
    let press = |b: &str| format!("conjure button {} {b}", job.id);
    if job.provider != ProviderId::ImaginePro {
        return Some(
            AppError::invalid(format!(
                "Job `{}` is a {} job; buttons are Midjourney's (ImaginePro)",
                job.id, job.provider
            ))
            .hint(
                "press buttons on a `conjure image --provider imaginepro --model midjourney` job",
            ),
        );
    }
    match job.state {
        JobState::Completed => None,
        JobState::Quoted | JobState::Submitting | JobState::Submitted | JobState::Processing => {
            Some(
                AppError::invalid(format!(
                    "Job `{}` is still `{}`: its buttons come with its result",
                    job.id, job.state
                ))
                .hint(format!(
                    "`conjure wait {}` first, then `{}`",
                    job.id,
                    press("U1")
                )),
            )
        }
        _ => Some(
            AppError::invalid(format!(
                "Job `{}` is `{}`: only a finished job has buttons to press",
                job.id, job.state
            ))
            .hint(format!("`conjure status {}` says what happened", job.id)),
        ),
    }
}

impl<C: Connector> App<C> {
    /// The order for a button press on a finished job of the journal: the parent's message and
    /// buttons checked, the child's parent recorded. Sends nothing.
    pub async fn button_order(
        &self,
        session: &Session,
        request: &ButtonRequest,
    ) -> Result<Order, AppError> {
        let id = session.journal.resolve(&request.job).await?;
        let parent = session.journal.get(&id).await?;
        if let Some(e) = refuse_parent(&parent) {
            return Err(e.job(&parent.id));
        }
        let Some(message) = parent.request_id.clone() else {
            return Err(AppError::invalid(format!(
                "Job `{}` has no ImaginePro message id to press a button on",
                parent.id
            ))
            .job(&parent.id));
        };
        let offered = offered(&parent);
        let names = || offered.iter().map(|w| button_name(w)).collect::<Vec<_>>().join(", ");
        let Some(wire) = button_wire(&request.button) else {
            let hint = if offered.is_empty() {
                "buttons are U1..U4, V1..V4, reroll, zoom-out-2x, zoom-out-1.5x, vary-strong, vary-subtle, vary-region, pan-left|right|up|down, make-square".to_owned()
            } else {
                format!("job `{}` offers: {}", parent.id, names())
            };
            return Err(AppError::invalid(format!("Unknown button `{}`", request.button))
                .hint(hint)
                .job(&parent.id));
        };
        if !offered.contains(&wire) {
            let hint = if offered.is_empty() {
                format!(
                    "its result offers no buttons; `conjure status {}` shows what it has",
                    parent.id
                )
            } else {
                format!("it offers: {}", names())
            };
            return Err(AppError::invalid(format!(
                "Job `{}` does not offer `{}`",
                parent.id,
                button_name(&wire)
            ))
            .hint(hint)
            .job(&parent.id));
        }
        let mask = request
            .mask
            .as_deref()
            .map(|m| crate::request::resolve_input(m, InputKind::Image, "--mask", false))
            .transpose()?;
        let item = ButtonItem {
            parent: parent.id.to_string(),
            parent_message: message,
            button: wire,
            mask,
            prompt: request.prompt.clone().filter(|p| !p.trim().is_empty()),
        };
        let spec = JobSpec {
            provider: ProviderId::ImaginePro,
            items: vec![Item::Button(item)],
            hooks: request.hooks.clone(),
        };
        let mut order = self.order(spec, None)?;
        order.parent = Some(parent.id);
        Ok(order)
    }

    /// Where `job` sits in its lineage.
    pub async fn lineage(
        &self,
        session: &Session,
        job: &JobRecord,
    ) -> Result<LineageView, AppError> {
        let parent = match &job.parent {
            Some(p) => session.journal.get(p).await.ok().map(|p| RelativeView::of(&p)),
            None => None,
        };
        let children = session.journal.children(&job.id).await?;
        let buttons = offered(job)
            .into_iter()
            .map(|wire| ButtonView {
                name: button_name(&wire),
                pressed_by: children
                    .iter()
                    .filter(|c| {
                        c.spec
                            .items
                            .iter()
                            .any(|i| matches!(i, Item::Button(b) if b.button == wire))
                    })
                    .map(|c| c.id.clone())
                    .collect(),
                wire,
            })
            .collect();
        Ok(LineageView {
            parent,
            button: pressed(job),
            children: children.iter().map(RelativeView::of).collect(),
            buttons,
        })
    }

    /// The newest `limit` jobs without a parent in the journal, each with its descendants.
    pub async fn tree(&self, session: &Session, limit: usize) -> Result<TreeView, AppError> {
        let jobs = session.journal.list(JobFilter::All, usize::MAX).await?;
        let known: HashSet<&JobId> = jobs.iter().map(|j| &j.id).collect();
        let mut kids: HashMap<&JobId, Vec<&JobRecord>> = HashMap::new();
        // Newest first from the journal; children are shown oldest first.
        for j in jobs.iter().rev() {
            if let Some(p) = j.parent.as_ref().filter(|p| known.contains(p)) {
                kids.entry(p).or_default().push(j);
            }
        }
        let roots: Vec<&JobRecord> = jobs
            .iter()
            .filter(|j| j.parent.as_ref().is_none_or(|p| !known.contains(p)))
            .take(limit)
            .collect();
        Ok(TreeView { jobs: roots.into_iter().map(|r| node(r, &kids, 0)).collect() })
    }
}
