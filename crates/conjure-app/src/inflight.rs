//! Taking turns for a provider that allows few requests in flight per account (Katana: one).
//!
//! The provider's rule holds for the account, not for one process: two conjure processes on one
//! machine sending at once would break it. Each request therefore holds one of `max` slot files
//! in `<data dir>/locks/`, locked with the operating system's advisory file lock, from before it
//! is reserved until its result is in (or until the command returns, with `--no-wait`). The
//! operating system releases the lock when the process ends, so a process killed with `kill -9`
//! never blocks the next one. A process that finds every slot taken waits and says so.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::Duration;

use conjure_core::ProviderId;

use crate::error::AppError;

/// How often a waiting process tries the slots again.
const RETRY: Duration = Duration::from_millis(50);

/// A held slot; dropping it (or ending the process) frees it.
#[derive(Debug)]
pub struct Slot {
    _file: File,
    pub index: u32,
}

fn slot_path(data_dir: &Path, provider: ProviderId, index: u32) -> PathBuf {
    data_dir.join("locks").join(format!("{provider}-in-flight-{index}.lock"))
}

/// Takes one of `provider`'s `max` slots, waiting for one to be free. `waiting` is called once,
/// when every slot is taken.
pub async fn acquire(
    data_dir: &Path,
    provider: ProviderId,
    max: u32,
    waiting: impl FnOnce(),
) -> Result<Slot, AppError> {
    let dir = data_dir.join("locks");
    std::fs::create_dir_all(&dir).map_err(|e| {
        AppError::other(format!("Cannot create `{}`: {e}; nothing was sent", dir.display()))
    })?;
    let mut waiting = Some(waiting);
    loop {
        for index in 0..max.max(1) {
            let path = slot_path(data_dir, provider, index);
            let file =
                OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(
                    |e| {
                        AppError::other(format!(
                            "Cannot open `{}`: {e}; nothing was sent",
                            path.display()
                        ))
                    },
                )?;
            match file.try_lock() {
                Ok(()) => return Ok(Slot { _file: file, index }),
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) => {
                    return Err(AppError::other(format!(
                        "Cannot lock `{}`: {e}; nothing was sent",
                        path.display()
                    )));
                }
            }
        }
        if let Some(w) = waiting.take() {
            w();
        }
        tokio::time::sleep(RETRY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_slot_is_taken_in_turn() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(dir.path(), ProviderId::Katana, 1, || {}).await.unwrap();
        let waited = std::sync::atomic::AtomicBool::new(false);
        let second = acquire(dir.path(), ProviderId::Katana, 1, || {
            waited.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        let release = async {
            tokio::time::sleep(Duration::from_millis(120)).await;
            drop(first);
        };
        let (second, ()) = tokio::join!(second, release);
        assert_eq!(second.unwrap().index, 0);
        assert!(waited.load(std::sync::atomic::Ordering::SeqCst));
        // Two slots: both can be held at once.
        let a = acquire(dir.path(), ProviderId::Katana, 2, || panic!("no wait")).await.unwrap();
        let b = acquire(dir.path(), ProviderId::Katana, 2, || panic!("no wait")).await.unwrap();
        assert_ne!(a.index, b.index);
    }
}
