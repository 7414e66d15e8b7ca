//! Which conjure process owns a job while it is reserved or being sent, and whether that
//! process is still alive.
//!
//! Every process that reserves jobs takes an [`Owner`] lease: a file `owners/<id>.lock` in the
//! data directory, exclusively locked (`flock`) for as long as the process lives. The kernel
//! releases the lock when the process ends, however it ends (`kill -9` included), so another
//! process can tell at once that a job's owner is gone by trying the lock: if it can take it,
//! nobody holds it. A job left `submitting` by a dead owner may have been charged and becomes
//! `unknown` on the spot; one left `quoted` was never sent and is released. No timeouts, no
//! process-id reuse to worry about, and it works across PID namespaces on one file system.
//!
//! A lease file is locked under a temporary name and renamed into place, so no other process
//! ever sees an unlocked lease of a live process; [`sweep`] removes the leases of dead ones.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

/// This process's lease. Dropping it releases the lock and removes the file.
#[derive(Debug)]
pub struct Owner {
    id: String,
    path: PathBuf,
    _file: File,
}

fn owners_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("owners")
}

fn lock_path(data_dir: &Path, id: &str) -> Option<PathBuf> {
    // Ids are ours (`o_` and hex); anything else is not a file name to open.
    let well_formed = id
        .strip_prefix("o_")
        .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()));
    well_formed.then(|| owners_dir(data_dir).join(format!("{id}.lock")))
}

impl Owner {
    /// Takes a fresh lease under `data_dir`.
    pub fn acquire(data_dir: &Path) -> std::io::Result<Owner> {
        let dir = owners_dir(data_dir);
        std::fs::create_dir_all(&dir)?;
        let mut random = [0_u8; 8];
        getrandom::fill(&mut random).map_err(std::io::Error::other)?;
        let id = format!("o_{}", hex::encode(random));
        let path = dir.join(format!("{id}.lock"));
        // Locked before it has its real name: a lease is never visible unlocked.
        let temp = dir.join(format!(".{id}.lock.new"));
        let file = OpenOptions::new().write(true).create_new(true).open(&temp)?;
        let locked = file.try_lock().map_err(|e| match e {
            TryLockError::Error(e) => e,
            TryLockError::WouldBlock => std::io::Error::other("a fresh lease file is locked"),
        });
        if let Err(e) = locked.and_then(|()| std::fs::rename(&temp, &path)) {
            let _ = std::fs::remove_file(&temp);
            return Err(e);
        }
        Ok(Owner { id, path, _file: file })
    }

    pub fn id(&self) -> &str {
        &self.id
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether the process holding lease `id` under `data_dir` is alive. A missing or unknown
/// lease is dead; a lease another process (or this one) holds is alive; a stale file left
/// behind is removed.
pub fn is_alive(data_dir: &Path, id: &str) -> bool {
    let Some(path) = lock_path(data_dir, id) else { return false };
    let Ok(file) = OpenOptions::new().write(true).open(&path) else { return false };
    match file.try_lock() {
        Ok(()) => {
            let _ = std::fs::remove_file(&path);
            false
        }
        // Held by someone; or a lock that cannot be tried (an unusual file system), which is
        // not proof of death either.
        Err(TryLockError::WouldBlock | TryLockError::Error(_)) => true,
    }
}

/// Removes the lease files of processes that are gone (killed before they could remove them).
pub fn sweep(data_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(owners_dir(data_dir)) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".lock")) else { continue };
        // `is_alive` removes a lease it finds unlocked.
        let _ = is_alive(data_dir, id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lease_is_alive_and_a_released_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let owner = Owner::acquire(dir.path()).unwrap();
        let id = owner.id().to_owned();
        assert!(is_alive(dir.path(), &id));
        drop(owner);
        assert!(!is_alive(dir.path(), &id));
        assert!(!is_alive(dir.path(), "o_00"));
        assert!(!is_alive(dir.path(), "../../etc/passwd"));
    }

    #[test]
    fn sweeping_keeps_live_leases_and_removes_dead_ones() {
        let dir = tempfile::tempdir().unwrap();
        let live = Owner::acquire(dir.path()).unwrap();
        std::fs::write(owners_dir(dir.path()).join("o_dead.lock"), b"").unwrap();
        sweep(dir.path());
        let left: Vec<_> = std::fs::read_dir(owners_dir(dir.path()))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(left, vec![format!("{}.lock", live.id())]);
    }

    #[test]
    fn a_lease_file_left_unlocked_is_dead_and_cleaned_up() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(owners_dir(dir.path())).unwrap();
        let stale = owners_dir(dir.path()).join("o_abcd.lock");
        std::fs::write(&stale, b"").unwrap();
        assert!(!is_alive(dir.path(), "o_abcd"));
        assert!(!is_alive(dir.path(), "o_zz"), "not one of our ids: never opened");
        assert!(!stale.exists());
    }
}
