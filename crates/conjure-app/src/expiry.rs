//! Expired results: a finished job whose files were never saved and whose provider links have
//! passed their `expires_at` becomes `expired`.
//!
//! Providers keep results for a while (Katana's assets carry an `expires_at`); after that the
//! links answer 404 and the files are gone for good. Until now such a job stayed `completed`
//! and undelivered forever, listed by `conjure jobs --pending` as something `conjure fetch`
//! could still save. It is settled here, through the journal's normal transition (an audit row
//! with the reason; the job, its request id and its charge are kept):
//!
//! - when a command looks at it (`status`, `jobs`, `wait`, `fetch`: [`settle`]),
//!   once every link it was given has passed its expiry;
//! - when a download of it fails after that moment ([`crate::deliver::deliver`]).
//!
//! A job whose files were saved never expires (they are on disk), nor one whose links carry no
//! expiry (ImaginePro's): a failed download of those is a failed download, reported as such.

use conjure_core::provider::{Asset, Snapshot};
use conjure_core::{JobRecord, JobState, JobStore as _};

use crate::error::AppError;
use crate::session::Session;
use crate::timefmt::seconds_until;

/// When the last of `job`'s links expired, if every one of them has (and the job was never
/// saved); `None` while any link may still work, or when the provider gave no expiry.
pub fn links_expired_at(job: &JobRecord) -> Option<String> {
    if !job.is_undelivered() {
        return None;
    }
    let snapshot: Snapshot = serde_json::from_value(job.last_snapshot.clone()?).ok()?;
    all_expired_at(&snapshot.assets)
}

/// The latest expiry of `assets` when every one has an expiry and all of them have passed.
fn all_expired_at(assets: &[Asset]) -> Option<String> {
    let mut latest: Option<(&str, i64)> = None;
    for asset in assets {
        let at = asset.expires_at.as_deref()?;
        let left = seconds_until(at)?;
        if latest.is_none_or(|(_, l)| left > l) {
            latest = Some((at, left));
        }
    }
    latest.filter(|(_, left)| *left <= 0).map(|(at, _)| at.to_owned())
}

/// The hint every expired job carries.
pub fn expired_hint(job: &JobRecord) -> String {
    format!(
        "the files are gone; the provider's dashboard may still show request `{}`. `conjure retry {}` makes it again (a new paid request, after a new approval)",
        job.request_id.as_deref().unwrap_or("(none)"),
        job.id
    )
}

/// The error of `wait` and `fetch` for an expired job.
pub fn expired_error(job: &JobRecord) -> AppError {
    AppError::invalid(format!(
        "Job `{}` expired: the provider's links expired before its files were saved",
        job.id
    ))
    .hint(expired_hint(job))
    .job(&job.id)
}

/// Moves `job` to `expired` when its links have all expired unsaved; returns it as it is now.
pub(crate) async fn settle(session: &Session, job: JobRecord) -> Result<JobRecord, AppError> {
    let Some(at) = links_expired_at(&job) else { return Ok(job) };
    let note = format!("the provider's links expired at {at} before the files were saved");
    match session.journal.transition(&job.id, JobState::Expired, Some(&note)).await {
        Ok(job) => Ok(job),
        // Another process settled it first.
        Err(conjure_core::StoreError::Illegal(_)) => Ok(session.journal.get(&job.id).await?),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assets(expiries: &[Option<&str>]) -> Vec<Asset> {
        expiries
            .iter()
            .map(|e| Asset {
                item: 0,
                kind: "image".into(),
                mime: "image/png".into(),
                url: "https://cdn.example.com/a.png".into(),
                fallback_url: None,
                width: None,
                height: None,
                duration_seconds: None,
                expires_at: e.map(str::to_owned),
            })
            .collect()
    }

    #[test]
    fn only_links_that_all_passed_their_expiry_are_expired() {
        let past = "2001-01-01T00:00:00Z";
        let later = "2002-01-01T00:00:00Z";
        let future = "2999-01-01T00:00:00Z";
        assert_eq!(all_expired_at(&assets(&[Some(past), Some(later)])).as_deref(), Some(later));
        assert_eq!(all_expired_at(&assets(&[Some(later), Some(past)])).as_deref(), Some(later));
        assert_eq!(all_expired_at(&assets(&[Some(past), Some(future)])), None);
        assert_eq!(all_expired_at(&assets(&[Some(past), None])), None, "no expiry given");
        assert_eq!(all_expired_at(&assets(&[Some(past), Some("soon")])), None, "unreadable");
        assert_eq!(all_expired_at(&[]), None, "nothing to expire");
    }
}
