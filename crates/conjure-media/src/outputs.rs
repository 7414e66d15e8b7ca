//! Where results are written, and the rules that keep a result from destroying anything.
//!
//! - [`check`]: before any work, an output that is one of the inputs (the same path, the same
//!   file through a symlink, or the same device and inode through a hard link) is refused,
//!   always; an existing output is refused unless the caller allows overwriting (`--force`,
//!   `output.overwrite: true`). [`crate::Op::run_with`] and [`crate::render`] call it.
//! - [`Partial`]: every result is written to a hidden sibling (`.name.<pid>.partial`) and renamed
//!   into place only when complete, so a failed or interrupted run leaves nothing under the
//!   final name; the partial is removed on failure and by [`crate::stop::stop_all`], and after
//!   a kill by the next run writing to that folder ([`crate::workdir::sweep_partials`]).
//! - [`Numbered`]: steps with several results (`split`, `frames`) name them by a pattern with
//!   `{n}` (`part_{n}.mp4`) in a folder; they are written to a hidden folder beside them and
//!   moved into place at the end, checked by the same rules first.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::MediaError;
use crate::stop::Scratch;

/// The path with symlinks resolved, or (for a file not there yet) its resolved folder joined
/// with its name, or at least the absolute path.
fn resolved(p: &Path) -> PathBuf {
    if let Ok(c) = std::fs::canonicalize(p) {
        return c;
    }
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    match (abs.parent(), abs.file_name()) {
        (Some(dir), Some(name)) => {
            std::fs::canonicalize(dir).map_or_else(|_| abs.clone(), |d| d.join(name))
        }
        _ => abs,
    }
}

/// True when `a` and `b` name the same file: the same resolved path, or (Unix) the same
/// device and inode, which also catches hard links.
pub(crate) fn same_file(a: &Path, b: &Path) -> bool {
    if resolved(a) == resolved(b) {
        return true;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        if let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return ma.dev() == mb.dev() && ma.ino() == mb.ino();
        }
    }
    false
}

/// Refuses `output` when it is one of `inputs`, or when it exists and `overwrite` is false.
pub fn check<'a>(
    inputs: impl IntoIterator<Item = &'a Path>,
    output: &Path,
    overwrite: bool,
) -> Result<(), MediaError> {
    for input in inputs {
        if same_file(input, output) {
            return Err(MediaError::OutputIsInput {
                output: output.to_path_buf(),
                input: input.to_path_buf(),
            });
        }
    }
    if !overwrite && std::fs::symlink_metadata(output).is_ok() {
        return Err(MediaError::OutputExists { path: output.to_path_buf() });
    }
    Ok(())
}

fn create_parent(path: &Path) -> Result<(), MediaError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| MediaError::io(format!("creating `{}`", parent.display()), e))?;
    }
    Ok(())
}

/// A result being written: a hidden sibling of the final file, removed unless finished.
#[derive(Debug)]
pub(crate) struct Partial {
    scratch: Scratch,
    out: PathBuf,
}

impl Partial {
    /// Creates the output's folder and names the partial beside it (this process's id in the
    /// name, so two runs writing the same output never share one).
    pub(crate) fn new(out: &Path) -> Result<Self, MediaError> {
        create_parent(out)?;
        // What a killed run left beside this output goes before this run adds its own.
        crate::workdir::sweep_partials(out.parent().unwrap_or(Path::new("")));
        let name =
            out.file_name().map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
        let path = out.with_file_name(format!(".{name}.{}.partial", std::process::id()));
        Ok(Self { scratch: Scratch::new(path), out: out.to_path_buf() })
    }

    pub(crate) fn path(&self) -> &Path {
        self.scratch.path()
    }

    /// Renames the finished partial to the final name.
    pub(crate) fn finish(self) -> Result<(), MediaError> {
        std::fs::rename(self.scratch.path(), &self.out).map_err(|e| {
            MediaError::io(format!("moving the result to `{}`", self.out.display()), e)
        })?;
        self.scratch.keep();
        Ok(())
    }
}

/// Several results named by a pattern: `dir/prefix{n}suffix`, `{n}` zero-padded to `digits`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Numbered {
    /// The folder the results go to.
    pub dir: PathBuf,
    prefix: String,
    suffix: String,
    digits: usize,
}

impl Numbered {
    /// `output` containing `{n}` is a pattern (`clips/part_{n}.mp4`); anything else is a folder,
    /// in which results are named `default` (which contains `{n}`).
    pub fn parse(output: &Path, default: &str, digits: usize) -> Result<Self, MediaError> {
        let text = output.to_string_lossy();
        let (dir, name) = if text.contains("{n}") {
            let name = output.file_name().map(|n| n.to_string_lossy().into_owned());
            match name.filter(|n| n.contains("{n}")) {
                Some(n) => (output.parent().unwrap_or(Path::new("")).to_path_buf(), n),
                None => {
                    return Err(MediaError::option(
                        "output",
                        format!("`{text}`: put `{{n}}` in the file name, not the folder"),
                    ));
                }
            }
        } else {
            (output.to_path_buf(), default.to_string())
        };
        let (prefix, suffix) = name.split_once("{n}").unwrap_or((&name, ""));
        if suffix.contains("{n}") {
            return Err(MediaError::option("output", format!("`{text}`: give `{{n}}` once")));
        }
        Ok(Self { dir, prefix: prefix.to_string(), suffix: suffix.to_string(), digits })
    }

    /// The result's file extension, lower case (`mp4`, `png`).
    pub fn extension(&self) -> Option<String> {
        self.suffix.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase())
    }

    /// Whether a file name is one of this pattern's names.
    pub fn matches(&self, name: &str) -> bool {
        name.strip_prefix(&self.prefix)
            .and_then(|rest| rest.strip_suffix(&self.suffix))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    }

    /// The pattern for ffmpeg's numbered muxers inside `dir`: `%` doubled, `{n}` as `%0Nd`.
    pub(crate) fn ffmpeg_pattern(&self, dir: &Path) -> OsString {
        let esc = |s: &str| s.replace('%', "%%");
        let name = format!("{}%0{}d{}", esc(&self.prefix), self.digits, esc(&self.suffix));
        let mut s = OsString::from("file:");
        s.push(esc(&dir.to_string_lossy()));
        s.push("/");
        s.push(name);
        s
    }

    fn existing(&self) -> Vec<PathBuf> {
        let dir = if self.dir.as_os_str().is_empty() { Path::new(".") } else { &self.dir };
        let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
        let mut found: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_str().is_some_and(|n| self.matches(n)))
            .map(|e| e.path())
            .collect();
        found.sort();
        found
    }

    /// Before any work: no input may be one of the names, and no name may exist unless
    /// `overwrite`.
    pub fn check<'a>(
        &self,
        inputs: impl IntoIterator<Item = &'a Path>,
        overwrite: bool,
    ) -> Result<(), MediaError> {
        let dir =
            resolved(if self.dir.as_os_str().is_empty() { Path::new(".") } else { &self.dir });
        for input in inputs {
            let r = resolved(input);
            if r.parent() == Some(dir.as_path())
                && r.file_name().and_then(|n| n.to_str()).is_some_and(|n| self.matches(n))
            {
                return Err(MediaError::OutputIsInput {
                    output: self.dir.join(format!("{}{{n}}{}", self.prefix, self.suffix)),
                    input: input.to_path_buf(),
                });
            }
        }
        match self.existing().into_iter().next() {
            Some(path) if !overwrite => Err(MediaError::OutputExists { path }),
            _ => Ok(()),
        }
    }

    /// A hidden folder inside the results' folder to write them to first.
    pub(crate) fn stage(&self) -> Result<Scratch, MediaError> {
        let dir = if self.dir.as_os_str().is_empty() { Path::new(".") } else { &self.dir };
        std::fs::create_dir_all(dir)
            .map_err(|e| MediaError::io(format!("creating `{}`", dir.display()), e))?;
        crate::workdir::sweep_partials(dir);
        let staged = dir.join(format!(".conjure-{}.partial", std::process::id()));
        let scratch = Scratch::new(staged.clone());
        std::fs::create_dir_all(&staged)
            .map_err(|e| MediaError::io(format!("creating `{}`", staged.display()), e))?;
        Ok(scratch)
    }

    /// Moves the finished results from the staging folder into place, in order, and removes it.
    pub(crate) fn commit(&self, staged: Scratch) -> Result<Vec<PathBuf>, MediaError> {
        let mut names: Vec<OsString> = std::fs::read_dir(staged.path())
            .map_err(|e| MediaError::io(format!("listing `{}`", staged.path().display()), e))?
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .filter(|n| n.to_str().is_some_and(|n| self.matches(n)))
            .collect();
        names.sort();
        let mut outputs = Vec::with_capacity(names.len());
        for name in names {
            let to = self.dir.join(&name);
            std::fs::rename(staged.path().join(&name), &to)
                .map_err(|e| MediaError::io(format!("moving a result to `{}`", to.display()), e))?;
            outputs.push(to);
        }
        drop(staged);
        Ok(outputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_file_is_found_through_links() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("a.mp4");
        std::fs::write(&a, "x").unwrap();
        let dotted = d.path().join(".").join("a.mp4");
        assert!(same_file(&a, &dotted));
        #[cfg(unix)]
        {
            let soft = d.path().join("soft.mp4");
            std::os::unix::fs::symlink(&a, &soft).unwrap();
            assert!(same_file(&soft, &a));
            let hard = d.path().join("hard.mp4");
            std::fs::hard_link(&a, &hard).unwrap();
            assert!(same_file(&hard, &a));
        }
        assert!(!same_file(&a, &d.path().join("b.mp4")));
        let e = check([a.as_path()], &dotted, true).unwrap_err();
        assert!(matches!(e, MediaError::OutputIsInput { .. }), "{e}");
        let e = check([], &a, false).unwrap_err();
        assert!(matches!(e, MediaError::OutputExists { .. }) && e.hint().is_some(), "{e}");
        check([], &a, true).unwrap();
        check([a.as_path()], &d.path().join("new.mp4"), false).unwrap();
    }

    #[test]
    fn numbered_names_parse_match_and_escape() {
        let n = Numbered::parse(Path::new("out/50% part_{n}.mp4"), "x_{n}.png", 3).unwrap();
        assert_eq!(n.dir, Path::new("out"));
        assert!(n.matches("50% part_000.mp4") && n.matches("50% part_12.mp4"));
        assert!(!n.matches("50% part_.mp4") && !n.matches("50% part_0a.mp4"));
        assert_eq!(n.extension().as_deref(), Some("mp4"));
        assert_eq!(n.ffmpeg_pattern(Path::new("/t")), OsString::from("file:/t/50%% part_%03d.mp4"));
        let folder = Numbered::parse(Path::new("frames"), "frame_{n}.png", 5).unwrap();
        assert_eq!(folder.dir, Path::new("frames"));
        assert!(folder.matches("frame_00001.png"));
        assert!(Numbered::parse(Path::new("a{n}/b.mp4"), "x_{n}", 3).is_err());
        assert!(Numbered::parse(Path::new("a_{n}_{n}.mp4"), "x_{n}", 3).is_err());
    }
}
