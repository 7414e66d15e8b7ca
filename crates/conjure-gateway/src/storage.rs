//! Output storage: where a member job's files are kept once downloaded from the provider, so
//! that any gateway instance can serve them (`conjure serve --storage DIR`).
//!
//! `DIR` is meant to be the mount point every instance shares (NFS, a cloud file system, a
//! volume mounted into every container); without `--storage` it is `<data dir>/outputs`, which
//! only serves the instance that wrote it. Files live at `DIR/<member>/<job>/<n>.<ext>`
//! (`n` is the asset's index in the provider's answer). A file is downloaded into
//! `DIR/.partial/` (the same file system) and then hard-linked into place, which fails when the
//! name exists: two instances finishing the same job at once both download, one file is kept,
//! and a file in place is never overwritten. The instance that polls a job to the end (its
//! background poller, or a member's status request) downloads its files, else the first
//! instance asked for them; every other instance then serves them from `DIR` without asking the
//! provider again.
//!
//! Not here: who may read which file (the handlers look the job up among the caller's own
//! first), and deleting old files (the operator's retention policy).

use std::path::{Path, PathBuf};

use conjure_core::provider::{Asset, Snapshot};
use conjure_core::{JobRecord, JobState, Provider};

use crate::member::MemberId;
use crate::store::PgStore;

/// The directory outputs are kept in.
#[derive(Clone, Debug)]
pub struct Storage {
    dir: PathBuf,
}

/// One stored output file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    pub index: usize,
    pub path: PathBuf,
    pub mime: String,
}

/// Why a job's file could not be stored or found.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("Job `{job}` is `{state}` and has no files")]
    NoFiles { job: String, state: JobState },
    #[error("Job `{job}` has no file {index}")]
    NoSuchFile { job: String, index: usize },
    #[error("`{0}` cannot name a folder in the storage directory")]
    BadName(String),
    #[error("The provider would not hand over job `{job}`'s file {index}: {message}")]
    Download { job: String, index: usize, message: String },
    #[error("Cannot write `{path}`")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl StorageError {
    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            StorageError::NoFiles { .. } => {
                "wait for the job to complete (GET its status, or follow /conjure/v1/events)".into()
            }
            StorageError::NoSuchFile { job, .. } => {
                format!("GET /conjure/v1/jobs/{job}/outputs lists the job's files")
            }
            StorageError::BadName(_) => "this is a gateway bug; tell its admin".into(),
            StorageError::Download { .. } => {
                "try again in a moment; if it keeps failing the provider's link may have expired"
                    .into()
            }
            StorageError::Io { .. } => {
                "the gateway's admin checks that the --storage directory is mounted and writable"
                    .into()
            }
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |source| StorageError::Io { path: path.display().to_string(), source }
}

/// A path component from an id: member names and job ids are already restricted, checked
/// again here because they become file names.
fn component(name: &str) -> Result<&str, StorageError> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok { Ok(name) } else { Err(StorageError::BadName(name.to_owned())) }
}

/// The assets of a finished job, as its last provider answer lists them.
pub fn assets(job: &JobRecord) -> Result<Vec<Asset>, StorageError> {
    if !matches!(job.state, JobState::Completed | JobState::Partial) {
        return Err(StorageError::NoFiles { job: job.id.to_string(), state: job.state });
    }
    let snapshot: Option<Snapshot> =
        job.last_snapshot.clone().and_then(|v| serde_json::from_value(v).ok());
    Ok(snapshot.map(|s| s.assets).unwrap_or_default())
}

impl Storage {
    pub fn new(dir: impl Into<PathBuf>) -> Storage {
        Storage { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where file `index` of `member`'s `job` is kept.
    pub fn path_of(
        &self,
        member: &MemberId,
        job: &JobRecord,
        index: usize,
        mime: &str,
    ) -> Result<PathBuf, StorageError> {
        let ext = conjure_app::deliver::extension_for(mime);
        Ok(self
            .dir
            .join(component(member.as_str())?)
            .join(component(job.id.as_str())?)
            .join(format!("{index}.{ext}")))
    }

    /// File `index` of `member`'s finished `job`: from the directory, or downloaded into it
    /// first with `provider` when no instance has yet.
    pub async fn file<P: Provider>(
        &self,
        provider: Option<&P>,
        member: &MemberId,
        job: &JobRecord,
        index: usize,
    ) -> Result<Stored, StorageError> {
        let assets = assets(job)?;
        let asset =
            assets.get(index).ok_or(StorageError::NoSuchFile { job: job.id.to_string(), index })?;
        let path = self.path_of(member, job, index, &asset.mime)?;
        if path.is_file() {
            return Ok(Stored { index, path, mime: asset.mime.clone() });
        }
        let Some(provider) = provider else {
            return Err(StorageError::Download {
                job: job.id.to_string(),
                index,
                message: "the gateway has no provider connection to fetch it with".into(),
            });
        };
        self.download(provider, job, index, asset, &path).await?;
        Ok(Stored { index, path, mime: asset.mime.clone() })
    }

    /// Every file of `member`'s finished `job`, downloading those not yet stored.
    pub async fn store_all<P: Provider>(
        &self,
        provider: &P,
        member: &MemberId,
        job: &JobRecord,
    ) -> Result<Vec<Stored>, StorageError> {
        let mut out = Vec::new();
        for index in 0..assets(job)?.len() {
            out.push(self.file(Some(provider), member, job, index).await?);
        }
        Ok(out)
    }

    /// Stores the files of `job` when it is a member's finished job: what the instance that
    /// finished it (the background poller) does. A failure is logged; the files are then
    /// fetched by the first request for them.
    pub async fn store_finished<P: Provider>(
        &self,
        store: &PgStore,
        provider: &P,
        job: &JobRecord,
    ) {
        if !matches!(job.state, JobState::Completed | JobState::Partial) {
            return;
        }
        let member: Result<Option<Option<String>>, _> =
            sqlx::query_scalar("SELECT member_id FROM jobs WHERE id = $1")
                .bind(job.id.as_str())
                .fetch_optional(store.pool())
                .await;
        let Ok(Some(Some(member))) = member else { return };
        if let Err(e) = self.store_all(provider, &MemberId(member), job).await {
            tracing::warn!(job = %job.id, error = %e, "could not store a finished job's files");
        }
    }

    async fn download<P: Provider>(
        &self,
        provider: &P,
        job: &JobRecord,
        index: usize,
        asset: &Asset,
        dest: &Path,
    ) -> Result<(), StorageError> {
        let partial = self.dir.join(".partial");
        std::fs::create_dir_all(&partial).map_err(io(&partial))?;
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let mut nonce = [0_u8; 8];
        getrandom::fill(&mut nonce).map_err(|e| StorageError::Io {
            path: partial.display().to_string(),
            source: std::io::Error::other(e),
        })?;
        let temp = partial.join(format!("{}-{index}.{}.part", job.id, hex::encode(nonce)));
        let mut result = provider.download(&asset.url, &temp).await;
        if result.is_err()
            && let Some(fallback) = &asset.fallback_url
        {
            result = provider.download(fallback, &temp).await;
        }
        if let Err(e) = result {
            let _ = std::fs::remove_file(&temp);
            return Err(StorageError::Download {
                job: job.id.to_string(),
                index,
                message: e.to_string(),
            });
        }
        // A hard link is "create only if absent": a file another instance put there first is
        // the same output and is kept as it is.
        let placed = match std::fs::hard_link(&temp, dest) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(io(dest)(e)),
        };
        let _ = std::fs::remove_file(&temp);
        placed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_leave_the_directory_are_refused() {
        for bad in ["", ".", "..", "a/b", "../x", "a\\b", "a b"] {
            assert!(component(bad).is_err(), "{bad:?}");
        }
        assert_eq!(component("j_0123abc").unwrap(), "j_0123abc");
        assert_eq!(component("alice-2").unwrap(), "alice-2");
    }
}
