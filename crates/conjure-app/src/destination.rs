//! Where a job's files go, decided and checked before anything is paid for.
//!
//! `-o/--output PATH` names a file; for a request that makes several files it is a pattern
//! with `{n}` (1, 2, ...) or an existing folder. `--out-dir DIR` names a folder, where files get
//! conjure's own names (`<job>-<item>-<n>.<ext>`, unique per job). [`Destination::check`] runs
//! before the quote is approved: the folder can be written, a named file does not exist (unless
//! `force`), the name's extension fits what the request makes, and one name is not asked to
//! hold several files. Delivery then writes each file beside its destination and moves it into
//! place without replacing anything that appeared meanwhile ([`place`]): a paid result is never
//! lost and a file the user owns is never overwritten unless they said `--force`.

use std::path::{Path, PathBuf};

use crate::error::AppError;

/// The placeholder a pattern numbers its files with.
pub const NUMBER: &str = "{n}";

/// Where the files of one job go.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Destination {
    /// A folder; files keep conjure's names, which are unique per job.
    Dir(PathBuf),
    /// Exactly this file (a request that makes one file).
    File(PathBuf),
    /// Files numbered from 1 by replacing `{n}`.
    Pattern(PathBuf),
}

/// What a request will make, as far as the quote knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    /// How many files.
    pub files: usize,
    /// File extensions that fit them (`png`; `jpg`, `jpeg`; `mp4`), lowercase.
    pub extensions: Vec<&'static str>,
    /// Files the job already delivered (path, sha256): where one is still on disk unchanged,
    /// it is the job's own and may be written again (`conjure fetch`).
    pub own: Vec<(PathBuf, String)>,
    /// The job the files are for, when it is journalled: a file its interrupted delivery moved
    /// into place before the journal recorded it is its own too ([`delivered_for`]).
    pub job: Option<String>,
}

impl Expected {
    /// `path` is a file this job delivered, still as it was delivered.
    pub fn is_own(&self, path: &Path) -> bool {
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        self.own.iter().any(|(p, sha)| p == &path && same_bytes(p, sha))
            || self.job.as_deref().is_some_and(|job| delivered_for(&path, job))
    }
}

/// The file at `path` was moved into place for job `job` and is unchanged since: its provenance
/// sidecar names the job and the file's SHA-256.
///
/// A delivery records its files in the journal only once every one is on disk, so a delivery
/// cut short (a full disk, a dead link, kill -9) can leave some of a job's files in place with
/// nothing in the journal about them. The sidecar is written right after each file is placed;
/// it is how `conjure fetch` knows those files are the job's own to write again, not a
/// stranger's to refuse.
pub fn delivered_for(path: &Path, job: &str) -> bool {
    let Ok(text) = std::fs::read_to_string(sidecar(path)) else { return false };
    let Ok(provenance) = serde_json::from_str::<serde_json::Value>(&text) else { return false };
    provenance["job_id"] == job
        && provenance["sha256"].as_str().is_some_and(|sha| same_bytes(path, sha))
}

/// The file at `path` has the SHA-256 `sha256` (hex).
pub fn same_bytes(path: &Path, sha256: &str) -> bool {
    use sha2::{Digest as _, Sha256};
    let Ok(mut file) = std::fs::File::open(path) else { return false };
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).is_ok() && hex::encode(hasher.finalize()) == sha256
}

impl Destination {
    /// The destination for `-o` and `--out-dir` (at most one is given), else `default_dir`.
    /// Returns a deprecation note when `-o` names a folder that does not exist yet (how `-o`
    /// was spelled before it meant a file).
    pub fn from_flags(
        output: Option<&Path>,
        out_dir: Option<&Path>,
        default_dir: &Path,
    ) -> (Destination, Option<String>) {
        match (output, out_dir) {
            (_, Some(dir)) => (Destination::Dir(dir.to_path_buf()), None),
            (Some(path), None) => Destination::from_output(path),
            (None, None) => (Destination::Dir(default_dir.to_path_buf()), None),
        }
    }

    fn from_output(path: &Path) -> (Destination, Option<String>) {
        let text = path.to_string_lossy();
        if text.contains(NUMBER) {
            return (Destination::Pattern(path.to_path_buf()), None);
        }
        if path.is_dir() || text.ends_with('/') || text.ends_with(std::path::MAIN_SEPARATOR) {
            return (Destination::Dir(path.to_path_buf()), None);
        }
        if path.extension().is_none() {
            return (
                Destination::Dir(path.to_path_buf()),
                Some(format!(
                    "`-o {text}` has no extension, so it is taken as a folder, as before; -o names a file now: use `--out-dir {text}` for a folder (this reading goes away in the next release)"
                )),
            );
        }
        (Destination::File(path.to_path_buf()), None)
    }

    /// The folder the files land in.
    pub fn dir(&self) -> PathBuf {
        match self {
            Destination::Dir(d) => d.clone(),
            Destination::File(p) | Destination::Pattern(p) => match p.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
                _ => PathBuf::from("."),
            },
        }
    }

    /// The same destination with its folder made absolute (results print absolute paths, and
    /// agents read them from other working directories).
    #[must_use]
    pub fn absolute(&self) -> Destination {
        let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        match self {
            Destination::Dir(d) => Destination::Dir(abs(d)),
            Destination::File(p) => Destination::File(abs(p)),
            Destination::Pattern(p) => Destination::Pattern(abs(p)),
        }
    }

    /// The path of file `n` (0-based) of a job, or `None` for a folder (conjure's own name).
    pub fn named(&self, n: usize) -> Option<PathBuf> {
        match self {
            Destination::Dir(_) => None,
            Destination::File(p) => Some(p.clone()),
            Destination::Pattern(p) => {
                Some(PathBuf::from(p.to_string_lossy().replace(NUMBER, &(n + 1).to_string())))
            }
        }
    }

    /// Everything about this destination that can fail before the request is paid for.
    pub fn check(&self, expected: &Expected, force: bool) -> Result<(), AppError> {
        if expected.files == 0 {
            // A text answer: nothing is written, so nowhere needs to be writable.
            return Ok(());
        }
        if let Destination::File(p) = self
            && expected.files > 1
        {
            let stem = p.file_stem().map_or_else(|| "out".into(), |s| s.to_string_lossy());
            let ext =
                p.extension().map_or_else(String::new, |e| format!(".{}", e.to_string_lossy()));
            return Err(AppError::invalid(format!(
                "This request makes {} files and `{}` names one",
                expected.files,
                p.display()
            ))
            .hint(format!(
                "number them with a pattern, e.g. `-o {stem}-{NUMBER}{ext}`, or give a folder with --out-dir"
            )));
        }
        for n in 0..expected.files {
            let Some(path) = self.named(n) else { break };
            check_extension(&path, expected)?;
            if !force && !expected.is_own(&path) {
                for taken in [path.clone(), sidecar(&path)] {
                    if taken.symlink_metadata().is_ok() {
                        return Err(AppError::invalid(format!(
                            "`{}` already exists; conjure never overwrites a file unless asked",
                            taken.display()
                        ))
                        .hint("pick another name, or pass --force to replace it"));
                    }
                }
            }
            if path.is_dir() {
                return Err(AppError::invalid(format!("`{}` is a folder", path.display()))
                    .hint("name a file inside it, or pass it as --out-dir"));
            }
        }
        check_writable(&self.dir())
    }
}

/// The provenance file written next to `path`.
pub fn sidecar(path: &Path) -> PathBuf {
    PathBuf::from(format!("{}.json", path.display()))
}

fn check_extension(path: &Path, expected: &Expected) -> Result<(), AppError> {
    let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase());
    match ext {
        Some(e) if expected.extensions.contains(&e.as_str()) => Ok(()),
        _ if expected.extensions.is_empty() => Ok(()),
        _ => Err(AppError::invalid(format!(
            "`{}` does not fit what this request makes ({})",
            path.display(),
            expected.extensions.join(" or ")
        ))
        .hint(format!("end the name in .{}", expected.extensions[0]))),
    }
}

/// Creates `dir` if needed and proves a file can be created in it.
fn check_writable(dir: &Path) -> Result<(), AppError> {
    let unusable = |why: String| {
        AppError::invalid(format!(
            "The output folder `{}` cannot be used: {why}; nothing was sent",
            dir.display()
        ))
        .hint("pick a folder you can write to with --out-dir (or -o for a file)")
    };
    if dir.exists() && !dir.is_dir() {
        return Err(unusable("it is a file".to_owned()));
    }
    std::fs::create_dir_all(dir).map_err(|e| unusable(e.to_string()))?;
    tempfile::Builder::new()
        .prefix(".conjure-write-check")
        .tempfile_in(dir)
        .map(drop)
        .map_err(|e| unusable(e.to_string()))
}

/// Moves the finished `temp` file to `dest`. Without `force` an existing `dest` is never
/// replaced, even one that appeared while the job ran: the file then keeps `fallback` (a name
/// unique to the job) and the answer says so, so a paid result is never lost either.
pub fn place(temp: &Path, dest: &Path, fallback: &Path, force: bool) -> std::io::Result<PathBuf> {
    if force {
        std::fs::rename(temp, dest)?;
        return Ok(dest.to_path_buf());
    }
    // A hard link fails when `dest` exists: an atomic "create only if absent".
    match std::fs::hard_link(temp, dest) {
        Ok(()) => {
            std::fs::remove_file(temp)?;
            Ok(dest.to_path_buf())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::rename(temp, fallback)?;
            Ok(fallback.to_path_buf())
        }
        // Filesystems without hard links: check, then move (the window is the job's own).
        Err(_) if dest.symlink_metadata().is_err() => {
            std::fs::rename(temp, dest)?;
            Ok(dest.to_path_buf())
        }
        Err(_) => {
            std::fs::rename(temp, fallback)?;
            Ok(fallback.to_path_buf())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(files: usize) -> Expected {
        Expected { files, extensions: vec!["png"], own: Vec::new(), job: None }
    }

    #[test]
    fn a_file_placed_by_an_interrupted_delivery_is_the_jobs_own() {
        use sha2::{Digest as _, Sha256};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grid-1.png");
        std::fs::write(&path, b"picture").unwrap();
        let sha = hex::encode(Sha256::digest(b"picture"));
        let expected = |job: Option<&str>| Expected { job: job.map(str::to_owned), ..png(1) };
        // No sidecar: a stranger's file.
        assert!(!delivered_for(&path, "j_1"));
        std::fs::write(sidecar(&path), format!(r#"{{"job_id":"j_1","sha256":"{sha}"}}"#)).unwrap();
        assert!(delivered_for(&path, "j_1"));
        assert!(expected(Some("j_1")).is_own(&path));
        assert!(!delivered_for(&path, "j_2") && !expected(Some("j_2")).is_own(&path));
        assert!(!expected(None).is_own(&path));
        let d = Destination::File(path.clone());
        assert!(d.check(&expected(Some("j_1")), false).is_ok());
        assert!(d.check(&expected(Some("j_2")), false).is_err());
        // Changed since: not the job's to replace any more.
        std::fs::write(&path, b"edited by hand").unwrap();
        assert!(!delivered_for(&path, "j_1"));
    }

    #[test]
    fn output_names_a_file_a_pattern_or_a_folder() {
        let here = Path::new(".");
        let dir = tempfile::tempdir().unwrap();
        let (d, note) = Destination::from_flags(Some(Path::new("fox.png")), None, here);
        assert_eq!((d, note), (Destination::File("fox.png".into()), None));
        let (d, _) = Destination::from_flags(Some(Path::new("fox-{n}.png")), None, here);
        assert_eq!(d.named(1), Some(PathBuf::from("fox-2.png")));
        let (d, note) = Destination::from_flags(Some(dir.path()), None, here);
        assert_eq!((d, note), (Destination::Dir(dir.path().into()), None));
        let (d, note) = Destination::from_flags(Some(Path::new("renders")), None, here);
        assert_eq!(d, Destination::Dir("renders".into()));
        assert!(note.unwrap().contains("--out-dir"));
        let (d, _) = Destination::from_flags(None, Some(Path::new("x.png")), here);
        assert_eq!(d, Destination::Dir("x.png".into()));
        assert_eq!(Destination::from_flags(None, None, here).0, Destination::Dir(".".into()));
    }

    #[test]
    fn checks_refuse_what_would_fail_or_clobber() {
        let dir = tempfile::tempdir().unwrap();
        let file = Destination::File(dir.path().join("fox.png"));
        file.check(&png(1), false).unwrap();
        let e = file.check(&png(2), false).unwrap_err();
        assert!(e.hint.as_deref().unwrap().contains("fox-{n}.png"), "{e:?}");
        let e = Destination::File(dir.path().join("fox.webp")).check(&png(1), false).unwrap_err();
        assert!(e.message.contains("png"), "{}", e.message);
        std::fs::write(dir.path().join("fox.png"), b"mine").unwrap();
        let e = file.check(&png(1), false).unwrap_err();
        assert!(e.message.contains("already exists") && e.hint.unwrap().contains("--force"));
        file.check(&png(1), true).unwrap();
        let pattern = Destination::Pattern(dir.path().join("fox-{n}.png"));
        std::fs::write(dir.path().join("fox-2.png"), b"mine").unwrap();
        assert!(pattern.check(&png(1), false).is_ok());
        assert!(pattern.check(&png(2), false).is_err());
        let blocked = dir.path().join("blocked");
        std::fs::write(&blocked, b"a file").unwrap();
        let e = Destination::Dir(blocked.clone()).check(&png(1), false).unwrap_err();
        assert!(e.message.contains("cannot be used"), "{}", e.message);
        let e = Destination::File(blocked.join("x.png")).check(&png(1), false).unwrap_err();
        assert!(e.message.contains("cannot be used"), "{}", e.message);
    }

    #[test]
    fn placing_never_replaces_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let (temp, dest, fallback) =
            (dir.path().join(".t"), dir.path().join("fox.png"), dir.path().join("job-0-0.png"));
        std::fs::write(&temp, b"paid").unwrap();
        assert_eq!(place(&temp, &dest, &fallback, false).unwrap(), dest);
        std::fs::write(&temp, b"paid again").unwrap();
        assert_eq!(place(&temp, &dest, &fallback, false).unwrap(), fallback);
        assert_eq!(std::fs::read(&dest).unwrap(), b"paid");
        assert_eq!(std::fs::read(&fallback).unwrap(), b"paid again");
        std::fs::write(&temp, b"forced").unwrap();
        assert_eq!(place(&temp, &dest, &fallback, true).unwrap(), dest);
        assert_eq!(std::fs::read(&dest).unwrap(), b"forced");
        assert!(!temp.exists());
    }
}
