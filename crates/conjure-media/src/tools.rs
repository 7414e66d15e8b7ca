//! Locating and running ffmpeg and ffprobe.
//!
//! [`Ffmpeg`] resolves both tools once to absolute paths, learns which encoders and filters the
//! build has (lazily, once), and runs commands from argument vectors, never through a shell. A
//! failed run becomes [`MediaError::Ffmpeg`] carrying the step name and ffmpeg's stderr tail.
//! Progress comes from `-progress pipe:1`, parsed by [`crate::progress::ProgressParser`].

use std::collections::{BTreeSet, VecDeque};
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::MediaError;
use crate::probe::{MediaInfo, parse_probe};
use crate::progress::{ProgressParser, ProgressSnapshot};

/// How many stderr lines a failure keeps.
const STDERR_TAIL_LINES: usize = 25;

/// What the installed ffmpeg can do.
#[derive(Debug, Clone, Default)]
pub struct Capabilities {
    /// The first line of `ffmpeg -version`.
    pub version: String,
    /// Encoder names (`libx264`, `aac`, `h264_nvenc` ...).
    pub encoders: BTreeSet<String>,
    /// Filter names (`drawtext`, `subtitles`, `xfade` ...).
    pub filters: BTreeSet<String>,
    /// Transition names the `xfade` filter accepts.
    pub transitions: BTreeSet<String>,
}

/// A resolved ffmpeg + ffprobe pair.
#[derive(Debug)]
pub struct Ffmpeg {
    program: PathBuf,
    ffprobe: PathBuf,
    caps: OnceLock<Capabilities>,
}

/// One ffmpeg invocation: the step name (for errors and reports) and its arguments.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// What this run does, e.g. `segment 3/9 (clip 2 body)`.
    pub step: String,
    /// Arguments after the program name.
    pub args: Vec<OsString>,
}

impl Invocation {
    pub(crate) fn new(step: impl Into<String>) -> Self {
        Self { step: step.into(), args: Vec::new() }
    }

    pub(crate) fn arg(&mut self, a: impl Into<OsString>) -> &mut Self {
        self.args.push(a.into());
        self
    }

    pub(crate) fn args<I, S>(&mut self, items: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(items.into_iter().map(Into::into));
        self
    }

    /// The arguments as lossy strings, for reports and journals.
    pub fn display_args(&self) -> Vec<String> {
        self.args.iter().map(|a| a.to_string_lossy().into_owned()).collect()
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file())
}

fn resolve(env: &str, name: &'static str) -> Result<PathBuf, MediaError> {
    let found = match std::env::var_os(env) {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)).filter(|p| p.is_file()),
        _ => find_on_path(name),
    };
    let path = found.ok_or(MediaError::ToolMissing { tool: name })?;
    std::path::absolute(&path)
        .map_err(|e| MediaError::io(format!("resolving `{}`", path.display()), e))
}

impl Ffmpeg {
    /// Finds `ffmpeg` and `ffprobe` on `PATH` (or `CONJURE_FFMPEG` / `CONJURE_FFPROBE`).
    pub fn locate() -> Result<Self, MediaError> {
        Ok(Self::with_paths(
            resolve("CONJURE_FFMPEG", "ffmpeg")?,
            resolve("CONJURE_FFPROBE", "ffprobe")?,
        ))
    }

    /// Uses the given absolute paths without checking them.
    pub fn with_paths(ffmpeg: PathBuf, ffprobe: PathBuf) -> Self {
        Self { program: ffmpeg, ffprobe, caps: OnceLock::new() }
    }

    /// The resolved ffmpeg path.
    pub fn ffmpeg_path(&self) -> &Path {
        &self.program
    }

    /// The resolved ffprobe path.
    pub fn ffprobe_path(&self) -> &Path {
        &self.ffprobe
    }

    /// Encoders, filters and transitions of this build, probed once.
    pub fn capabilities(&self) -> &Capabilities {
        self.caps.get_or_init(|| {
            let out = |args: &[&str]| {
                Command::new(&self.program)
                    .args(args)
                    .stdin(Stdio::null())
                    .stderr(Stdio::null())
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                    .unwrap_or_default()
            };
            parse_capabilities(
                &out(&["-version"]),
                &out(&["-hide_banner", "-encoders"]),
                &out(&["-hide_banner", "-filters"]),
                &out(&["-hide_banner", "-h", "filter=xfade"]),
            )
        })
    }

    /// What hardware encoding can use here: the listed encoders and the VAAPI render node.
    pub fn encoder_support(&self) -> crate::filter::EncoderSupport<'_> {
        crate::filter::EncoderSupport {
            encoders: &self.capabilities().encoders,
            vaapi_device: Path::new(crate::filter::VAAPI_DEVICE).exists(),
        }
    }

    /// Fails with [`MediaError::Unsupported`] unless the encoder exists.
    pub fn require_encoder(&self, name: &str, purpose: &str) -> Result<(), MediaError> {
        if self.capabilities().encoders.contains(name) {
            Ok(())
        } else {
            Err(MediaError::Unsupported { feature: name.to_string(), purpose: purpose.to_string() })
        }
    }

    /// Fails with [`MediaError::Unsupported`] unless the filter exists.
    pub fn require_filter(&self, name: &str, purpose: &str) -> Result<(), MediaError> {
        if self.capabilities().filters.contains(name) {
            Ok(())
        } else {
            Err(MediaError::Unsupported { feature: name.to_string(), purpose: purpose.to_string() })
        }
    }

    /// Probes a file with ffprobe.
    pub fn probe(&self, path: &Path) -> Result<MediaInfo, MediaError> {
        if !path.exists() {
            return Err(MediaError::MissingInput { path: path.to_path_buf() });
        }
        let out = Command::new(&self.ffprobe)
            .args(["-v", "error", "-print_format", "json", "-show_format", "-show_streams"])
            .arg("-show_data")
            .arg(path)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| MediaError::io(format!("running `{}`", self.ffprobe.display()), e))?;
        if !out.status.success() {
            let detail = String::from_utf8_lossy(&out.stderr).trim().to_string();
            let detail =
                if detail.is_empty() { "ffprobe could not read it".to_string() } else { detail };
            return Err(MediaError::NotMedia { path: path.to_path_buf(), detail });
        }
        parse_probe(path, &String::from_utf8_lossy(&out.stdout))
    }

    /// Like [`Ffmpeg::probe`], but reads the track headers of MP4/MOV files in-process (no
    /// process start-up) when the `mp4` reader fully understands them, and asks ffprobe
    /// otherwise. The in-process answer carries no container tags: use [`Ffmpeg::probe`] where
    /// tags matter.
    pub fn probe_fast(&self, path: &Path) -> Result<MediaInfo, MediaError> {
        if !path.exists() {
            return Err(MediaError::MissingInput { path: path.to_path_buf() });
        }
        match crate::mp4::read_file(path) {
            Some(info) => Ok(info),
            None => self.probe(path),
        }
    }

    /// Counts decoded video frames (slow: decodes the whole stream). Used by tests and reports.
    pub fn count_frames(&self, path: &Path) -> Result<u64, MediaError> {
        let out = Command::new(&self.ffprobe)
            .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
            .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
            .arg(path)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| MediaError::io(format!("running `{}`", self.ffprobe.display()), e))?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.trim().trim_end_matches(',').parse().map_err(|_| MediaError::NotMedia {
            path: path.to_path_buf(),
            detail: format!(
                "could not count frames: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        })
    }

    /// Runs one ffmpeg invocation, forwarding progress snapshots.
    pub fn run(
        &self,
        inv: &Invocation,
        on_progress: Option<&(dyn Fn(&ProgressSnapshot) + Sync)>,
    ) -> Result<(), MediaError> {
        let mut cmd = Command::new(&self.program);
        cmd.args(["-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-nostats"]);
        cmd.args(["-progress", "pipe:1"]);
        cmd.args(&inv.args);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| {
            MediaError::io(format!("starting `{}` for `{}`", self.program.display(), inv.step), e)
        })?;
        let stderr = child.stderr.take();
        let stdout = child.stdout.take();
        let tail = std::thread::scope(|scope| {
            let tail_handle = scope.spawn(move || {
                let mut tail = VecDeque::new();
                if let Some(mut err) = stderr {
                    let mut buf = Vec::new();
                    let _ = err.read_to_end(&mut buf);
                    for line in String::from_utf8_lossy(&buf).lines() {
                        if tail.len() == STDERR_TAIL_LINES {
                            tail.pop_front();
                        }
                        tail.push_back(line.to_string());
                    }
                }
                tail.into_iter().collect::<Vec<_>>().join("\n")
            });
            if let Some(out) = stdout {
                let mut parser = ProgressParser::default();
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if let (Some(snap), Some(cb)) = (parser.feed(&line), on_progress) {
                        cb(&snap);
                    }
                }
            }
            tail_handle.join().unwrap_or_default()
        });
        let status = child
            .wait()
            .map_err(|e| MediaError::io(format!("waiting for ffmpeg (`{}`)", inv.step), e))?;
        if status.success() {
            Ok(())
        } else {
            Err(MediaError::Ffmpeg {
                step: inv.step.clone(),
                status: status.to_string(),
                stderr_tail: if tail.is_empty() { "(ffmpeg printed nothing)".into() } else { tail },
            })
        }
    }
}

/// Pure parser for the outputs of `-version`, `-encoders`, `-filters` and `-h filter=xfade`.
pub fn parse_capabilities(
    version: &str,
    encoders: &str,
    filters: &str,
    xfade_help: &str,
) -> Capabilities {
    // Listing lines look like ` V....D libx264  description`; flags come first, then the name.
    let listed = |text: &str, flag_len: usize| -> BTreeSet<String> {
        text.lines()
            .filter_map(|l| {
                let mut parts = l.split_whitespace();
                let flags = parts.next()?;
                let name = parts.next()?;
                (flags.len() == flag_len && name != "=").then(|| name.to_string())
            })
            .collect()
    };
    let mut transitions = BTreeSet::new();
    let mut in_transitions = false;
    for line in xfade_help.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("transition ") {
            in_transitions = true;
            continue;
        }
        if in_transitions {
            let indent = line.len() - trimmed.len();
            let mut parts = trimmed.split_whitespace();
            match (parts.next(), parts.next()) {
                (Some(name), Some(num)) if indent > 4 && num.parse::<i32>().is_ok() => {
                    if name != "custom" {
                        transitions.insert(name.to_string());
                    }
                }
                _ => in_transitions = false,
            }
        }
    }
    Capabilities {
        version: version.lines().next().unwrap_or_default().to_string(),
        encoders: listed(encoders, 6),
        filters: listed(filters, 3),
        transitions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_capability_listings() {
        let enc = "Encoders:\n V..... = Video\n ------\n V....D libx264              libx264 H.264\n A..... aac                  AAC\n";
        let fil = "Filters:\n  T.. = Timeline support\n ... xfade             VV->V      Cross fade\n T.C drawtext          V->V       Draw text\n";
        let xf = "xfade AVOptions:\n   transition        <int>        ..FV....... set (default fade)\n     custom          -1           ..FV....... custom\n     fade            0            ..FV....... fade transition\n     wipeleft        1            ..FV....... wipe left\n   duration          <duration>   ..FV....... set\n";
        let caps = parse_capabilities("ffmpeg version 5.1\nbuilt", enc, fil, xf);
        assert_eq!(caps.version, "ffmpeg version 5.1");
        assert!(caps.encoders.contains("libx264") && caps.encoders.contains("aac"));
        assert!(!caps.encoders.contains("="));
        assert!(caps.filters.contains("xfade") && caps.filters.contains("drawtext"));
        assert_eq!(caps.transitions.iter().collect::<Vec<_>>(), ["fade", "wipeleft"]);
    }
}
