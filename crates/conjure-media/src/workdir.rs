//! Working folders and unfinished results that outlive a killed run, and their removal by the
//! next one.
//!
//! A run removes its own scratch when it ends normally, fails, or is told to stop
//! ([`crate::stop`]). `kill -9` (or a power cut) runs none of that, so the render's working
//! folder stays in the temp directory and the hidden `.partial` beside the output stays in the
//! user's folder. This module makes the next run clear them, and only them:
//!
//! - a *working folder* ([`WorkDir`]) is `$TMPDIR/conjure-<kind>-XXXXXX` holding an owner lock
//!   `.conjure-owner.lock`, exclusively locked (`flock`) for as long as the run lives. The kernel
//!   drops the lock when the process ends, however it ends, so a folder whose lock can be taken
//!   belongs to nobody. The lock is taken under a temporary name and renamed into place (as the
//!   journal's owner leases are, `conjure_app::owner`), so no sweep ever sees a live folder
//!   unlocked; a folder without the lock file (being created, or kept on purpose with
//!   `keep_temp`) is never touched. [`sweep_work_dirs`] runs once per process, before its first
//!   working folder.
//! - an *unfinished result* is `.<name>.<pid>.partial` (a file, [`crate::outputs`]) or
//!   `.conjure-<pid>.partial` (a staging folder of numbered results). Only names of exactly that
//!   form whose process no longer exists are removed ([`sweep_partials`], run in the output's
//!   folder before a result is written there). A user's file never has such a name, and a live
//!   process's partial is never touched (a process id reused by an unrelated process only keeps
//!   a stale partial a little longer).
//!
//! What it does not do: look anywhere else, or remove anything by age.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Once;

use crate::MediaError;
use crate::stop::Scratch;

/// The owner lock inside every working folder.
const LOCK: &str = ".conjure-owner.lock";
/// Every working folder's name starts with this.
const PREFIX: &str = "conjure-";

/// A working folder of a live run: removed when dropped, by a stop signal, or (after a kill)
/// by the next run's [`sweep_work_dirs`].
#[derive(Debug)]
pub(crate) struct WorkDir {
    scratch: Scratch,
    lock: PathBuf,
    _file: File,
}

impl WorkDir {
    /// A fresh folder `conjure-<kind>-XXXXXX` in the temp directory, owned by this process.
    pub(crate) fn new(kind: &str) -> Result<Self, MediaError> {
        static SWEPT: Once = Once::new();
        SWEPT.call_once(|| {
            sweep_work_dirs(&std::env::temp_dir());
        });
        let io = |e| MediaError::io("creating a working folder", e);
        let dir =
            tempfile::Builder::new().prefix(&format!("{PREFIX}{kind}-")).tempdir().map_err(io)?;
        // Registered at once, so a stop signal from here on removes it.
        let scratch = Scratch::new(dir.keep());
        let temp = scratch.path().join(".conjure-owner.lock.new");
        let lock = scratch.path().join(LOCK);
        let file = OpenOptions::new().write(true).create_new(true).open(&temp).map_err(io)?;
        file.try_lock().map_err(|e| match e {
            TryLockError::Error(e) => io(e),
            TryLockError::WouldBlock => io(std::io::Error::other("a fresh lock file is locked")),
        })?;
        std::fs::rename(&temp, &lock).map_err(io)?;
        Ok(Self { scratch, lock, _file: file })
    }

    pub(crate) fn path(&self) -> &Path {
        self.scratch.path()
    }

    /// Leaves the folder in place for someone to look at; without its lock file no sweep
    /// removes it.
    pub(crate) fn keep(self) -> PathBuf {
        let _ = std::fs::remove_file(&self.lock);
        let path = self.scratch.path().to_path_buf();
        self.scratch.keep();
        path
    }
}

/// Removes the working folders in `temp` whose run is gone (their owner lock can be taken).
/// Returns what it removed. Folders of live runs, of other users, kept ones and anything not
/// named like ours are left alone.
pub fn sweep_work_dirs(temp: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(temp) else { return Vec::new() };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let is_ours = entry.file_name().to_str().is_some_and(|n| n.starts_with(PREFIX));
        // Not followed: a symlink is never one of our folders.
        if !is_ours || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let dir = entry.path();
        let Ok(file) = OpenOptions::new().write(true).open(dir.join(LOCK)) else { continue };
        // Held while the folder is removed, so nothing can claim it meanwhile.
        if file.try_lock().is_ok() && std::fs::remove_dir_all(&dir).is_ok() {
            removed.push(dir);
        }
    }
    removed
}

/// The process id in an unfinished result's name: `.<name>.<pid>.partial` or
/// `.conjure-<pid>.partial`; `None` for any other name.
fn partial_pid(name: &str) -> Option<u32> {
    let inner = name.strip_prefix('.')?.strip_suffix(".partial")?;
    let (stem, pid) = inner
        .rsplit_once('.')
        .or_else(|| inner.strip_prefix("conjure-").map(|pid| ("conjure", pid)))?;
    if stem.is_empty() || pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// Whether a process with this id exists (any user's: a process we may not signal is alive).
pub fn process_exists(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw) else {
        return false;
    };
    !matches!(rustix::process::test_kill_process(pid), Err(rustix::io::Errno::SRCH))
}

/// Removes the unfinished results in `dir` left by processes that no longer exist. Returns
/// what it removed.
pub fn sweep_partials(dir: &Path) -> Vec<PathBuf> {
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(partial_pid) else { continue };
        if pid == std::process::id() || process_exists(pid) {
            continue;
        }
        let Ok(kind) = entry.file_type() else { continue };
        let path = entry.path();
        let gone = if kind.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        if gone.is_ok() {
            removed.push(path);
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process id that is surely not running: a child that has exited and been reaped.
    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    #[test]
    fn partial_names_are_recognised_exactly() {
        assert_eq!(partial_pid(".cut.mp4.1234.partial"), Some(1234));
        assert_eq!(partial_pid(".conjure-77.partial"), Some(77));
        assert_eq!(partial_pid("cut.mp4.1234.partial"), None, "not hidden");
        assert_eq!(partial_pid(".cut.mp4.partial"), None, "no pid");
        assert_eq!(partial_pid(".cut.mp4.12a4.partial"), None);
        assert_eq!(partial_pid(".1234.partial"), None);
        assert_eq!(partial_pid(".notes.txt"), None);
    }

    #[test]
    fn a_live_working_folder_stays_and_a_dead_one_goes() {
        let temp = tempfile::tempdir().unwrap();
        // A dead run's folder: its lock file exists and nobody holds it.
        let dead = temp.path().join("conjure-render-dead");
        std::fs::create_dir_all(dead.join("inner")).unwrap();
        std::fs::write(dead.join(LOCK), b"").unwrap();
        // A live one: locked.
        let live = temp.path().join("conjure-render-live");
        std::fs::create_dir_all(&live).unwrap();
        let held = File::create(live.join(LOCK)).unwrap();
        held.try_lock().unwrap();
        // Kept (no lock file), and not ours.
        let kept = temp.path().join("conjure-render-kept");
        std::fs::create_dir_all(&kept).unwrap();
        let other = temp.path().join("other-render");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(other.join(LOCK), b"").unwrap();

        assert_eq!(sweep_work_dirs(temp.path()), vec![dead.clone()]);
        assert!(!dead.exists());
        for stays in [&live, &kept, &other] {
            assert!(stays.exists(), "{}", stays.display());
        }
        drop(held);
        assert_eq!(sweep_work_dirs(temp.path()), vec![live]);
    }

    #[test]
    fn a_work_dir_is_locked_while_alive_and_removed_when_dropped() {
        let work = WorkDir::new("test").unwrap();
        let path = work.path().to_path_buf();
        assert!(path.join(LOCK).exists());
        let parent = path.parent().unwrap().to_path_buf();
        assert!(!sweep_work_dirs(&parent).contains(&path));
        drop(work);
        assert!(!path.exists());

        let kept = WorkDir::new("test").unwrap().keep();
        assert!(kept.exists() && !kept.join(LOCK).exists());
        assert!(!sweep_work_dirs(&parent).contains(&kept));
        std::fs::remove_dir_all(kept).unwrap();
    }

    #[test]
    fn only_partials_of_dead_processes_are_swept() {
        let d = tempfile::tempdir().unwrap();
        let dead = dead_pid();
        let stale = d.path().join(format!(".cut.mp4.{dead}.partial"));
        let staged = d.path().join(format!(".conjure-{dead}.partial"));
        let mine = d.path().join(format!(".cut.mp4.{}.partial", std::process::id()));
        let users = d.path().join("cut.mp4.partial");
        for f in [&stale, &mine, &users] {
            std::fs::write(f, b"x").unwrap();
        }
        std::fs::create_dir_all(staged.join("inner")).unwrap();
        let mut removed = sweep_partials(d.path());
        removed.sort();
        let mut expected = vec![stale, staged];
        expected.sort();
        assert_eq!(removed, expected);
        assert!(mine.exists() && users.exists());
    }
}
