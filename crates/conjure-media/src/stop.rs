//! Stopping cleanly: every ffmpeg this process started and every unfinished file it is
//! writing, in one process-wide registry, so an interrupted run leaves nothing behind.
//!
//! Why a registry: a signal arrives on its own thread while the work runs on another, deep in
//! a pipeline of ffmpeg runs. [`Ffmpeg`](crate::Ffmpeg) registers every child it spawns (a
//! [`Running`] guard, dropped once the child was waited for) and every partial output and
//! working folder registers itself too ([`Scratch`]). The front end installs the signal handler
//! (the binary uses tokio's, which it already has) and calls [`stop_all`] from it, then exits.
//!
//! After [`stop_all`] the registry stays *stopping*: a child spawned a moment later is killed
//! as it registers, so no run slips past a stop. Killing uses the child's id; an entry is
//! removed right after the child was reaped, so the id cannot have been reused meanwhile.
//!
//! This module does not install handlers itself: a library must not change a process's
//! signal dispositions behind its owner's back (the paid commands have their own Ctrl-C
//! handling).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

#[derive(Default)]
struct Registry {
    stopping: bool,
    children: BTreeMap<u64, u32>,
    scratch: BTreeMap<u64, PathBuf>,
}

static REGISTRY: Mutex<Registry> =
    Mutex::new(Registry { stopping: false, children: BTreeMap::new(), scratch: BTreeMap::new() });
static NEXT: AtomicU64 = AtomicU64::new(1);

fn registry() -> MutexGuard<'static, Registry> {
    // A panic elsewhere while holding the lock leaves plain maps behind: still usable.
    REGISTRY.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn kill(pid: u32) {
    if let Some(pid) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
    }
}

fn remove(path: &Path) {
    if path.is_dir() {
        let _ = std::fs::remove_dir_all(path);
    } else {
        let _ = std::fs::remove_file(path);
    }
}

/// Kills every registered ffmpeg and removes every registered partial file and working folder.
/// Returns how many children were killed. Safe to call from any thread, more than once.
pub fn stop_all() -> usize {
    let mut r = registry();
    r.stopping = true;
    let killed = r.children.len();
    for pid in r.children.values() {
        kill(*pid);
    }
    for path in r.scratch.values() {
        remove(path);
    }
    r.scratch.clear();
    killed
}

/// Whether [`stop_all`] has run in this process.
pub fn stopping() -> bool {
    registry().stopping
}

/// A running child, registered until dropped (drop it after `wait`).
pub(crate) struct Running {
    child: Child,
    id: u64,
}

impl Running {
    pub(crate) fn new(child: Child) -> Self {
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        let mut r = registry();
        if r.stopping {
            kill(child.id());
        } else {
            r.children.insert(id, child.id());
        }
        Self { child, id }
    }
}

impl std::ops::Deref for Running {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.child
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.child
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Reap first (a no-op when already waited for), so the id is never reused while listed.
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        registry().children.remove(&self.id);
    }
}

/// A file or folder that must not outlive an unfinished run: removed when dropped (unless
/// [`Scratch::keep`] was called) and by [`stop_all`].
#[derive(Debug)]
pub(crate) struct Scratch {
    path: PathBuf,
    id: u64,
    keep: bool,
}

impl Scratch {
    pub(crate) fn new(path: PathBuf) -> Self {
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        registry().scratch.insert(id, path.clone());
        Self { path, id, keep: false }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Leaves the path in place (it was renamed to its final name, or is kept on purpose).
    pub(crate) fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        registry().scratch.remove(&self.id);
        if !self.keep {
            remove(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_is_removed_unless_kept() {
        let d = tempfile::tempdir().unwrap();
        let gone = d.path().join("gone.partial");
        std::fs::write(&gone, "x").unwrap();
        drop(Scratch::new(gone.clone()));
        assert!(!gone.exists());
        let kept = d.path().join("kept");
        std::fs::write(&kept, "x").unwrap();
        Scratch::new(kept.clone()).keep();
        assert!(kept.exists());
        let folder = d.path().join("work");
        std::fs::create_dir_all(folder.join("inner")).unwrap();
        drop(Scratch::new(folder.clone()));
        assert!(!folder.exists());
    }
}
