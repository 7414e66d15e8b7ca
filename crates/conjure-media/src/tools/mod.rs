//! Locating and running ffmpeg and ffprobe.
//!
//! [`find_tool`] is the one place a tool is located, for this crate and every other (the sandbox
//! too): the override variable (`CONJURE_FFMPEG`, `CONJURE_FFPROBE`) when set, else the first
//! executable regular file of that name in an *absolute* `PATH` directory. Relative and empty
//! `PATH` entries name whatever directory conjure happens to run in, so a file planted there
//! would run in ffmpeg's place: they are skipped. An override is the user's explicit choice, so
//! a relative one is resolved against the current directory once, at locate time; one that is not
//! an executable file is an error naming the variable, never a silent fall back to `PATH`.
//!
//! [`Ffmpeg`] resolves both tools once to absolute paths, learns which encoders and filters the
//! build has (lazily, once; kept across processes in a cache folder the caller may give), and runs commands from argument vectors, never through a shell.
//! [`LazyFfmpeg`] locates on first use, for callers that may need no ffmpeg at all. A
//! failed run becomes [`MediaError::Ffmpeg`] carrying the step name and ffmpeg's stderr tail.
//! Progress comes from `-progress pipe:1`, parsed by [`crate::progress::ProgressParser`]. A
//! *pipeline* chains producer runs (raw frames on stdout) into one encoder's stdin, counting
//! every byte so a render is frame-exact or fails. [`encoder`] chooses the encoder and its
//! arguments from what this ffmpeg offers.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

pub mod encoder;

use crate::MediaError;
use crate::probe::{MediaInfo, parse_probe};
use crate::progress::{ProgressParser, ProgressSnapshot};
use crate::stop::Running;

/// How many stderr lines a failure keeps.
const STDERR_TAIL_LINES: usize = 25;

/// What the installed ffmpeg can do.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Capabilities {
    /// The first line of `ffmpeg -version` (the banner's first line).
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
    /// Where [`Ffmpeg::capabilities`] keeps what it learned (see
    /// [`Ffmpeg::with_capabilities_cache`]).
    caps_cache: Option<PathBuf>,
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

    /// The index ffmpeg gives the next `-i` input added to this run (`[{k}:a]` in a graph).
    pub(crate) fn next_input(&self) -> usize {
        self.args.iter().filter(|a| *a == "-i").count()
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

/// A file path as an ffmpeg input or output argument: `file:` in front, so a name containing
/// `:` is never read as a protocol (`a:b.mp4` would be protocol `a`).
pub(crate) fn file_arg(path: &Path) -> OsString {
    let mut s = OsString::from("file:");
    s.push(path.as_os_str());
    s
}

/// The programs conjure runs, each found by [`find_tool`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// `ffmpeg`: encodes, filters, muxes.
    Ffmpeg,
    /// `ffprobe`: reads streams and durations.
    Ffprobe,
}

impl Tool {
    /// The program's name on `PATH` (without `.exe`).
    pub fn program(self) -> &'static str {
        match self {
            Self::Ffmpeg => "ffmpeg",
            Self::Ffprobe => "ffprobe",
        }
    }

    /// The variable naming a binary to use instead of searching `PATH`; the same names as
    /// `conjure_core::env::{CONJURE_FFMPEG, CONJURE_FFPROBE}` (this crate does not depend on it).
    pub fn override_var(self) -> &'static str {
        match self {
            Self::Ffmpeg => "CONJURE_FFMPEG",
            Self::Ffprobe => "CONJURE_FFPROBE",
        }
    }
}

/// Where `tool` is, as an absolute path: its override variable when set (a relative value is
/// resolved against the current directory), else the first executable regular file of that name
/// in an absolute `PATH` directory. Reads the environment; see the module doc for why relative
/// `PATH` entries are skipped.
pub fn find_tool(tool: Tool) -> Result<PathBuf, MediaError> {
    find_tool_in(tool, std::env::var_os(tool.override_var()), std::env::var_os("PATH"))
}

/// [`find_tool`] with the override and `PATH` values as parameters, so tests never touch the
/// process environment other tests read.
fn find_tool_in(
    tool: Tool,
    override_value: Option<OsString>,
    path: Option<OsString>,
) -> Result<PathBuf, MediaError> {
    if let Some(value) = override_value.filter(|v| !v.is_empty()) {
        let given = PathBuf::from(value);
        let absolute = std::path::absolute(&given)
            .map_err(|e| MediaError::io(format!("resolving `{}`", given.display()), e))?;
        return if is_executable(&absolute) {
            Ok(absolute)
        } else {
            Err(MediaError::ToolOverride { var: tool.override_var(), path: given })
        };
    }
    path.and_then(|p| search_path(tool.program(), &p))
        .ok_or(MediaError::ToolMissing { tool: tool.program() })
}

/// The first executable regular file called `program` in an absolute directory of `path` (a
/// `PATH` value).
pub(crate) fn search_path(program: &str, path: &OsStr) -> Option<PathBuf> {
    let file = format!("{program}{}", std::env::consts::EXE_SUFFIX);
    std::env::split_paths(path)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(&file))
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

impl Ffmpeg {
    /// Finds `ffmpeg` and `ffprobe` with [`find_tool`] (override variables, else `PATH`).
    pub fn locate() -> Result<Self, MediaError> {
        Ok(Self::with_paths(find_tool(Tool::Ffmpeg)?, find_tool(Tool::Ffprobe)?))
    }

    /// Uses the given absolute paths without checking them.
    pub fn with_paths(ffmpeg: PathBuf, ffprobe: PathBuf) -> Self {
        Self { program: ffmpeg, ffprobe, caps: OnceLock::new(), caps_cache: None }
    }

    /// Keeps what [`Self::capabilities`] learns in `dir` (created when missing), one small file
    /// per ffmpeg binary, valid while that binary's path, size and modification time are the
    /// same: learning them costs three ffmpeg start-ups (~0.25 s CPU together, measured), which
    /// every render with a transition or a caption would pay again, for an answer that only
    /// changes when ffmpeg is replaced. The folder is the caller's (a library reads no
    /// environment); a file that cannot be read or written only means probing again.
    #[must_use]
    pub fn with_capabilities_cache(mut self, dir: PathBuf) -> Self {
        self.caps_cache = Some(dir);
        self
    }

    /// The resolved ffmpeg path.
    pub fn ffmpeg_path(&self) -> &Path {
        &self.program
    }

    /// The resolved ffprobe path.
    pub fn ffprobe_path(&self) -> &Path {
        &self.ffprobe
    }

    /// Encoders, filters and transitions of this build, probed once (or read from the
    /// capabilities cache, see [`Self::with_capabilities_cache`]).
    pub fn capabilities(&self) -> &Capabilities {
        self.caps.get_or_init(|| {
            let cache =
                self.caps_cache.as_deref().map(|dir| CapabilitiesCache::new(dir, &self.program));
            if let Some(caps) = cache.as_ref().and_then(CapabilitiesCache::read) {
                return caps;
            }
            let out = |args: &[&str]| {
                Command::new(&self.program)
                    .args(args)
                    .stdin(Stdio::null())
                    .output()
                    .map(|o| {
                        (
                            String::from_utf8_lossy(&o.stdout).into_owned(),
                            String::from_utf8_lossy(&o.stderr).into_owned(),
                        )
                    })
                    .unwrap_or_default()
            };
            // Three process start-ups, run at once. The version is the banner the encoder
            // listing prints on stderr (its first line is `-version`'s), which saves a fourth.
            let [(encoders, banner), (filters, _), (xfade, _)] = std::thread::scope(|scope| {
                [
                    &["-encoders"][..],
                    &["-hide_banner", "-filters"],
                    &["-hide_banner", "-h", "filter=xfade"],
                ]
                .map(|args| scope.spawn(move || out(args)))
                .map(|h| h.join().unwrap_or_default())
            });
            let version =
                banner.lines().find(|l| l.starts_with("ffmpeg version")).unwrap_or_default();
            let caps = parse_capabilities(version, &encoders, &filters, &xfade);
            // A build that listed no encoder did not answer (it failed to start): not kept.
            if let Some(cache) = cache.filter(|_| !caps.encoders.is_empty()) {
                cache.write(&caps);
            }
            caps
        })
    }

    /// What hardware encoding can use here: the listed encoders and the VAAPI render node.
    pub fn encoder_support(&self) -> encoder::EncoderSupport<'_> {
        encoder::EncoderSupport {
            encoders: &self.capabilities().encoders,
            vaapi_device: Path::new(encoder::VAAPI_DEVICE).exists(),
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
            .arg(file_arg(path))
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

    /// The times (seconds) of the first video stream's keyframes, read from the packets (fast:
    /// nothing is decoded).
    pub fn keyframes(&self, path: &Path) -> Result<Vec<f64>, MediaError> {
        let out = Command::new(&self.ffprobe)
            .args(["-v", "error", "-select_streams", "v:0"])
            .args(["-show_entries", "packet=pts_time,flags", "-of", "csv=p=0"])
            .arg(file_arg(path))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| MediaError::io(format!("running `{}`", self.ffprobe.display()), e))?;
        if !out.status.success() {
            return Err(MediaError::NotMedia {
                path: path.to_path_buf(),
                detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(parse_keyframes(&String::from_utf8_lossy(&out.stdout)))
    }

    /// Counts decoded video frames (slow: decodes the whole stream). Used by tests and reports.
    pub fn count_frames(&self, path: &Path) -> Result<u64, MediaError> {
        let out = Command::new(&self.ffprobe)
            .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
            .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
            .arg(file_arg(path))
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

    /// ffmpeg with the options every run shares: quiet, no prompts, overwrite.
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(["-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-nostats"]);
        cmd
    }

    /// Starts ffmpeg, registered so [`crate::stop::stop_all`] can kill it.
    fn spawn(&self, cmd: &mut Command, step: &str) -> Result<Running, MediaError> {
        cmd.spawn().map(Running::new).map_err(|e| {
            MediaError::io(format!("starting `{}` for `{step}`", self.program.display()), e)
        })
    }

    /// Runs one ffmpeg invocation, forwarding progress snapshots.
    pub fn run(
        &self,
        inv: &Invocation,
        on_progress: Option<&(dyn Fn(&ProgressSnapshot) + Sync)>,
    ) -> Result<(), MediaError> {
        let mut cmd = self.command();
        cmd.args(["-progress", "pipe:1"]);
        cmd.args(&inv.args);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = self.spawn(&mut cmd, &inv.step)?;
        let stderr = child.stderr.take();
        let stdout = child.stdout.take();
        // Without a callback, an enclosing progress scope (a single-step op) hears of it.
        let scoped = on_progress.is_none().then(crate::progress::current).flatten();
        let tail = std::thread::scope(|scope| {
            let tail_handle = scope.spawn(move || stderr.map(read_tail).unwrap_or_default());
            if let Some(out) = stdout {
                follow_progress(out, |snap| {
                    if let Some(cb) = on_progress {
                        cb(snap);
                    } else if let Some((sink, total)) = &scoped {
                        sink(crate::progress::Progress {
                            frames_done: 0,
                            frames_total: 0,
                            seconds_done: snap.out_seconds.unwrap_or(0.0),
                            seconds_total: *total,
                            steps_done: usize::from(snap.end),
                            steps_total: 1,
                        });
                    }
                });
            }
            tail_handle.join().unwrap_or_default()
        });
        let status = child
            .wait()
            .map_err(|e| MediaError::io(format!("waiting for ffmpeg (`{}`)", inv.step), e))?;
        check(&inv.step, status, tail)
    }

    /// Runs a [`Pipeline`]: each producer in turn writes raw video frames to its standard
    /// output, and one `sink` run (the encoder) reads them all from `pipe:0`.
    ///
    /// Why: x264's lookahead is most of an encoder's memory, so one long encode holds memory
    /// flat while the producers (decoding, filters) stay small, whatever the number of clips.
    /// Every producer must write exactly its frames and the sink must report the total
    /// as its `frame=`: anything else is an error, never a silently shorter video.
    /// `on_progress` gets the frames encoded and the producers finished; `on_done(i)` runs once
    /// producer `i` has exited cleanly with every frame delivered.
    pub(crate) fn run_pipeline(
        &self,
        p: &Pipeline,
        on_progress: Option<&(dyn Fn(u64, usize) + Sync)>,
        on_done: &(dyn Fn(usize) + Sync),
    ) -> Result<(), MediaError> {
        let total: u64 = p.producers.iter().map(|(_, n)| n).sum();
        let mut cmd = self.command();
        cmd.args(["-progress", "pipe:1"]);
        cmd.args(&p.sink.args);
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = self.spawn(&mut cmd, &p.sink.step)?;
        let (sink, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
        let done = AtomicUsize::new(0);
        let report = |frames: u64| {
            if let Some(cb) = on_progress {
                cb(frames.min(total), done.load(Ordering::SeqCst));
            }
        };
        let (fed, tail, last_frame) = std::thread::scope(|scope| {
            let tail_handle = scope.spawn(move || stderr.map(read_tail).unwrap_or_default());
            let progress_handle = scope.spawn(|| {
                let mut last = None;
                if let Some(out) = stdout {
                    follow_progress(out, |snap| {
                        if let Some(f) = snap.frame {
                            last = Some(f);
                            report(f);
                        }
                    });
                }
                last
            });
            let fed = match sink {
                Some(sink) => self.feed(p, sink, &|i| {
                    done.fetch_add(1, Ordering::SeqCst);
                    on_done(i);
                }),
                None => Err(Fed::SinkGone),
            };
            if matches!(fed, Err(Fed::Producer(_))) {
                // The sink would otherwise finish a short output; it must not.
                let _ = child.kill();
            }
            let tail = tail_handle.join().unwrap_or_default();
            (fed, tail, progress_handle.join().unwrap_or_default())
        });
        let step = &p.sink.step;
        let status = child
            .wait()
            .map_err(|e| MediaError::io(format!("waiting for ffmpeg (`{step}`)"), e))?;
        match fed {
            Err(Fed::Producer(e)) => return Err(e),
            // A closed pipe means the sink stopped early: its own words say why.
            Err(Fed::SinkGone) => {
                check(step, status, tail.clone())?;
                return Err(stopped_early(step, &status.to_string(), &tail));
            }
            Ok(()) => check(step, status, tail)?,
        }
        match last_frame {
            Some(f) if f != total => Err(MediaError::Ffmpeg {
                step: step.clone(),
                status: status.to_string(),
                stderr_tail: format!("it encoded {f} frames where the plan has {total}"),
            }),
            _ => {
                report(total);
                Ok(())
            }
        }
    }

    /// Copies each producer's output into `sink` in order, one producer at a time: a second
    /// producer started early would hide its ~0.1 s start-up, but would also hold a second set
    /// of decoders in memory at every segment boundary.
    fn feed(&self, p: &Pipeline, mut sink: ChildStdin, on_done: &dyn Fn(usize)) -> Result<(), Fed> {
        let frame_bytes = p.frame_bytes;
        for (i, (inv, frames)) in p.producers.iter().enumerate() {
            let mut cmd = self.command();
            cmd.args(&inv.args);
            cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
            let mut child = self.spawn(&mut cmd, &inv.step).map_err(Fed::Producer)?;
            let stderr = child.stderr.take();
            let tail = std::thread::spawn(move || stderr.map(read_tail).unwrap_or_default());
            let want = frames * frame_bytes;
            // Exactly `want` bytes go on: the sink may finish (and close its input) as soon as it
            // has the last frame, before this producer has even exited.
            let copied = match child.stdout.take() {
                Some(out) => {
                    let mut out = out.take(want);
                    std::io::copy(&mut out, &mut sink).map(|n| {
                        n + std::io::copy(&mut out.into_inner(), &mut std::io::sink()).unwrap_or(0)
                    })
                }
                None => Ok(0),
            };
            let Ok(bytes) = copied else {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Fed::SinkGone);
            };
            let status = child.wait().map_err(|e| {
                Fed::Producer(MediaError::io(format!("waiting for ffmpeg (`{}`)", inv.step), e))
            })?;
            let tail = tail.join().unwrap_or_default();
            check(&inv.step, status, tail).map_err(Fed::Producer)?;
            if bytes != want {
                return Err(Fed::Producer(MediaError::Ffmpeg {
                    step: inv.step.clone(),
                    status: status.to_string(),
                    stderr_tail: format!(
                        "it produced {} frames where the plan has {frames}",
                        bytes as f64 / frame_bytes.max(1) as f64
                    ),
                }));
            }
            on_done(i);
        }
        // Dropping `sink` closes the sink's input: end of stream.
        drop(sink);
        Ok(())
    }

    /// Runs `sink` reading raw bytes from `pipe:0`, fed with [`Piece`]s in the order they
    /// arrive on `pieces`, until the channel closes. A file piece must hold exactly the bytes it
    /// promises. Used for the soundtrack: each segment's sound is written to a file by its own
    /// small run, and this one mixes and encodes them while the video is still being made.
    pub(crate) fn run_fed(
        &self,
        sink: &Invocation,
        pieces: std::sync::mpsc::Receiver<Piece>,
    ) -> Result<(), MediaError> {
        let mut cmd = self.command();
        cmd.args(&sink.args);
        cmd.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = self.spawn(&mut cmd, &sink.step)?;
        let stderr = child.stderr.take();
        let tail = std::thread::spawn(move || stderr.map(read_tail).unwrap_or_default());
        let mut stdin = child.stdin.take();
        // `Some(error)`: a piece was wrong; `None` after a failed write: the run hung up.
        let mut fed: Result<(), Option<MediaError>> = Ok(());
        for piece in pieces {
            let Some(input) = stdin.as_mut() else { break };
            let wrote = match piece {
                Piece::Zeros(n) => write_zeros(input, n),
                Piece::File(path, want) => {
                    let got = std::fs::metadata(&path).map_or(0, |m| m.len());
                    if got != want {
                        fed = Err(Some(MediaError::Ffmpeg {
                            step: sink.step.clone(),
                            status: "stopped by conjure".into(),
                            stderr_tail: format!(
                                "`{}` holds {got} bytes where the plan has {want}",
                                path.display()
                            ),
                        }));
                        break;
                    }
                    std::fs::File::open(&path).and_then(|f| std::io::copy(&mut f.take(want), input))
                }
                .map(|_| ()),
            };
            if wrote.is_err() {
                fed = Err(None);
                break;
            }
        }
        drop(stdin);
        if matches!(fed, Err(Some(_))) {
            let _ = child.kill();
        }
        let status = child
            .wait()
            .map_err(|e| MediaError::io(format!("waiting for ffmpeg (`{}`)", sink.step), e))?;
        let tail = tail.join().unwrap_or_default();
        match fed {
            Err(Some(e)) => Err(e),
            Err(None) => {
                check(&sink.step, status, tail.clone())?;
                Err(stopped_early(&sink.step, &status.to_string(), &tail))
            }
            Ok(()) => check(&sink.step, status, tail),
        }
    }
}

/// An [`Ffmpeg`] located on first use, so a caller that may need none (image steps run
/// in-process) never fails for its absence. Keep one for as long as the caller lives (a server,
/// a batch) to locate once and probe the build's capabilities once.
#[derive(Debug, Default)]
pub struct LazyFfmpeg {
    cell: OnceLock<Ffmpeg>,
    /// Given to the located pair ([`Ffmpeg::with_capabilities_cache`]).
    caps_cache: Option<PathBuf>,
}

impl LazyFfmpeg {
    /// Nothing located yet: [`LazyFfmpeg::get`] locates with [`Ffmpeg::locate`].
    pub fn new() -> Self {
        Self::default()
    }

    /// As [`LazyFfmpeg::new`]; the pair it locates keeps its capabilities in `dir`
    /// ([`Ffmpeg::with_capabilities_cache`]).
    #[must_use]
    pub fn with_capabilities_cache(dir: PathBuf) -> Self {
        Self { cell: OnceLock::new(), caps_cache: Some(dir) }
    }

    /// The located pair, locating it now on the first call. A failed locate is not remembered:
    /// the next call tries again (ffmpeg may have been installed meanwhile).
    pub fn get(&self) -> Result<&Ffmpeg, MediaError> {
        if let Some(ff) = self.cell.get() {
            return Ok(ff);
        }
        let mut ff = Ffmpeg::locate()?;
        if let Some(dir) = &self.caps_cache {
            ff = ff.with_capabilities_cache(dir.clone());
        }
        // Two threads may both locate; one result wins and both are the same files.
        Ok(self.cell.get_or_init(|| ff))
    }
}

impl From<Ffmpeg> for LazyFfmpeg {
    /// An already located pair; never locates again.
    fn from(ff: Ffmpeg) -> Self {
        Self { cell: OnceLock::from(ff), caps_cache: None }
    }
}

/// Producers feeding one encoder; see [`Ffmpeg::run_pipeline`].
#[derive(Debug)]
pub(crate) struct Pipeline {
    /// In output order: a run writing `frames` raw frames to stdout.
    pub producers: Vec<(Invocation, u64)>,
    /// Bytes of one raw frame.
    pub frame_bytes: u64,
    /// The run reading every frame from `pipe:0`.
    pub sink: Invocation,
}

/// One stretch of a fed run's input; see [`Ffmpeg::run_fed`].
#[derive(Debug, Clone)]
pub(crate) enum Piece {
    /// A finished file of exactly this many bytes.
    File(PathBuf, u64),
    /// This many zero bytes (silence).
    Zeros(u64),
}

/// Writes `pieces` one after another into `out` (what [`Ffmpeg::run_fed`] would feed a run,
/// for a run that reads a file instead); a file piece not of its planned length fails `step`.
pub(crate) fn write_pieces(pieces: &[Piece], out: &Path, step: &str) -> Result<(), MediaError> {
    let err = |e| MediaError::io(format!("writing `{}`", out.display()), e);
    let mut sink = std::io::BufWriter::new(std::fs::File::create(out).map_err(err)?);
    for piece in pieces {
        match piece {
            Piece::Zeros(n) => write_zeros(&mut sink, *n).map_err(err)?,
            Piece::File(path, want) => {
                let got = std::fs::metadata(path).map_or(0, |m| m.len());
                if got != *want {
                    return Err(MediaError::Ffmpeg {
                        step: step.to_string(),
                        status: "stopped by conjure".into(),
                        stderr_tail: format!(
                            "`{}` holds {got} bytes where the plan has {want}",
                            path.display()
                        ),
                    });
                }
                let mut file = std::fs::File::open(path)
                    .map_err(|e| MediaError::io(format!("reading `{}`", path.display()), e))?;
                std::io::copy(&mut file, &mut sink).map_err(err)?;
            }
        }
    }
    sink.flush().map_err(err)
}

fn stopped_early(step: &str, status: &str, tail: &str) -> MediaError {
    MediaError::Ffmpeg {
        step: step.to_string(),
        status: status.to_string(),
        stderr_tail: format!("it stopped reading its input early\n{tail}"),
    }
}

fn write_zeros(sink: &mut impl Write, mut bytes: u64) -> std::io::Result<()> {
    let zeros = [0u8; 1 << 14];
    while bytes > 0 {
        let n = bytes.min(zeros.len() as u64);
        sink.write_all(&zeros[..n as usize])?;
        bytes -= n;
    }
    Ok(())
}

/// Why feeding a pipeline stopped.
enum Fed {
    /// A producer failed (its own error).
    Producer(MediaError),
    /// The sink closed its input.
    SinkGone,
}

/// The last [`STDERR_TAIL_LINES`] lines a process wrote.
fn read_tail(mut err: impl Read) -> String {
    let mut buf = Vec::new();
    let _ = err.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..].join("\n")
}

/// Feeds `-progress` lines to `on` as complete snapshots.
fn follow_progress(out: impl Read, mut on: impl FnMut(&ProgressSnapshot)) {
    let mut parser = ProgressParser::default();
    for line in BufReader::new(out).lines() {
        let Ok(line) = line else { break };
        if let Some(snap) = parser.feed(&line) {
            on(&snap);
        }
    }
}

fn check(step: &str, status: ExitStatus, tail: String) -> Result<(), MediaError> {
    if status.success() {
        Ok(())
    } else {
        Err(MediaError::Ffmpeg {
            step: step.to_string(),
            status: status.to_string(),
            stderr_tail: if tail.is_empty() { "(ffmpeg printed nothing)".into() } else { tail },
        })
    }
}

/// Keyframe times from `ffprobe -show_entries packet=pts_time,flags -of csv=p=0` lines
/// (`2.000000,K__`), sorted.
pub fn parse_keyframes(text: &str) -> Vec<f64> {
    let mut keys: Vec<f64> = text
        .lines()
        .filter_map(|l| {
            let (t, flags) = l.trim().split_once(',')?;
            flags.starts_with('K').then(|| t.parse().ok()).flatten()
        })
        .collect();
    keys.sort_by(f64::total_cmp);
    keys
}

/// One ffmpeg binary's entry in the capabilities cache (see
/// [`Ffmpeg::with_capabilities_cache`]): `ffmpeg-capabilities-{hash of the path}.json`, holding
/// the binary's identity (path, size, modification time) beside what it can do.
struct CapabilitiesCache {
    file: PathBuf,
    identity: Option<ProgramIdentity>,
}

/// What makes a cached answer stale: another binary at the path, or the same one replaced.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct ProgramIdentity {
    program: PathBuf,
    len: u64,
    modified_ns: u128,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CachedCapabilities {
    identity: ProgramIdentity,
    capabilities: Capabilities,
}

impl CapabilitiesCache {
    fn new(dir: &Path, program: &Path) -> Self {
        // FNV-1a: stable across builds and platforms, unlike std's hasher.
        let hash = program
            .as_os_str()
            .as_encoded_bytes()
            .iter()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
            });
        let identity = std::fs::metadata(program).ok().and_then(|m| {
            let modified = m.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?;
            Some(ProgramIdentity {
                program: program.to_path_buf(),
                len: m.len(),
                modified_ns: modified.as_nanos(),
            })
        });
        Self { file: dir.join(format!("ffmpeg-capabilities-{hash:016x}.json")), identity }
    }

    /// The cached answer, when it is this binary's.
    fn read(&self) -> Option<Capabilities> {
        let identity = self.identity.as_ref()?;
        let cached: CachedCapabilities =
            serde_json::from_slice(&std::fs::read(&self.file).ok()?).ok()?;
        (cached.identity == *identity).then_some(cached.capabilities)
    }

    /// Keeps `caps`, replacing the file in one rename so a concurrent reader sees a whole
    /// answer or none; failures are ignored (the next run probes again).
    fn write(&self, caps: &Capabilities) {
        let Some(identity) = self.identity.clone() else { return };
        let Some(dir) = self.file.parent() else { return };
        let entry = CachedCapabilities { identity, capabilities: caps.clone() };
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(dir)?;
            let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
            serde_json::to_writer(&mut tmp, &entry)?;
            tmp.persist(&self.file).map_err(|e| e.error)?;
            Ok(())
        };
        let _ = write();
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
    fn parses_keyframe_packets() {
        let text = "0.033333,__\n2.000000,K__\n0.000000,K_\nN/A,K__\n1.5,_D_\n";
        assert_eq!(parse_keyframes(text), [0.0, 2.0]);
    }

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

    /// A fake ffmpeg answering the three capability listings, counting its runs in `runs`.
    #[cfg(unix)]
    fn listing_ffmpeg(dir: &Path, runs: &Path, comment: &str) -> PathBuf {
        let p = program(dir, "ffmpeg", 0o755);
        std::fs::write(
            &p,
            format!(
                "#!/bin/sh\n# {comment}\necho run >> '{}'\ncase \"$*\" in\n\
                 *-encoders*) echo 'ffmpeg version 9.9-test Copyright' >&2; echo ' V....D libx264  H.264' ;;\n\
                 *-filters*) echo ' ... xfade  VV->V  Cross fade' ;;\n\
                 *) printf '   transition  <int>  ..FV.. set\\n     fade  0  ..FV.. fade\\n' ;;\nesac\n",
                runs.display()
            ),
        )
        .unwrap();
        p
    }

    #[cfg(unix)]
    #[test]
    fn capabilities_are_probed_once_per_binary_and_kept_in_the_cache() {
        let tmp = tempfile::tempdir().unwrap();
        let runs = tmp.path().join("runs");
        let cache = tmp.path().join("cache");
        let runs_so_far = || std::fs::read_to_string(&runs).map_or(0, |s| s.lines().count());
        let fake = listing_ffmpeg(&tmp.path().join("bin"), &runs, "one");
        let ff = || Ffmpeg::with_paths(fake.clone(), fake.clone());
        let first = ff().with_capabilities_cache(cache.clone()).capabilities().clone();
        // Three runs, the version from the encoder listing's banner.
        assert_eq!(runs_so_far(), 3);
        assert_eq!(first.version, "ffmpeg version 9.9-test Copyright");
        assert!(first.encoders.contains("libx264") && first.filters.contains("xfade"));
        assert_eq!(first.transitions.iter().collect::<Vec<_>>(), ["fade"]);
        // Another process with the same cache asks nothing.
        assert_eq!(ff().with_capabilities_cache(cache.clone()).capabilities(), &first);
        assert_eq!(runs_so_far(), 3);
        // Without a cache, it asks.
        assert_eq!(ff().capabilities(), &first);
        assert_eq!(runs_so_far(), 6);
        // A replaced binary (another size) is asked again, and a damaged file is no answer.
        listing_ffmpeg(&tmp.path().join("bin"), &runs, "two, longer");
        assert_eq!(ff().with_capabilities_cache(cache.clone()).capabilities(), &first);
        assert_eq!(runs_so_far(), 9);
        let file = std::fs::read_dir(&cache).unwrap().next().unwrap().unwrap().path();
        std::fs::write(&file, "{").unwrap();
        assert_eq!(ff().with_capabilities_cache(cache.clone()).capabilities(), &first);
        assert_eq!(runs_so_far(), 12);
        // A binary that does not answer is not remembered as one that can do nothing.
        let broken = program(&tmp.path().join("broken"), "ffmpeg", 0o755);
        std::fs::write(&broken, "#!/bin/sh\nexit 1\n").unwrap();
        let none =
            Ffmpeg::with_paths(broken.clone(), broken).with_capabilities_cache(cache.clone());
        assert!(none.capabilities().encoders.is_empty());
        assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 1);
    }

    /// Writes `dir/name` with permission bits `mode`.
    #[cfg(unix)]
    fn program(dir: &Path, name: &str, mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::create_dir_all(dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    /// `dir` spelled relative to the current directory (`../../tmp/...`).
    #[cfg(unix)]
    fn relative_to_cwd(dir: &Path) -> PathBuf {
        let cwd = std::env::current_dir().unwrap();
        let up: PathBuf = cwd.components().skip(1).map(|_| "..").collect();
        up.join(dir.strip_prefix("/").unwrap())
    }

    #[cfg(unix)]
    #[test]
    fn path_search_skips_relative_entries_and_non_executables() {
        let tmp = tempfile::tempdir().unwrap();
        let good = tmp.path().join("good");
        let planted = tmp.path().join("planted");
        let plain = tmp.path().join("plain");
        let dirs = tmp.path().join("dirs");
        program(&good, "ffmpeg", 0o755);
        program(&planted, "ffmpeg", 0o755);
        program(&plain, "ffmpeg", 0o644);
        std::fs::create_dir_all(dirs.join("ffmpeg")).unwrap();
        let rel = relative_to_cwd(&planted);
        // The relative entry really does name an executable `ffmpeg` from here.
        assert!(rel.is_relative() && is_executable(&rel.join("ffmpeg")), "{}", rel.display());
        let path = |dirs: &[&Path]| std::env::join_paths(dirs).unwrap();

        assert_eq!(search_path("ffmpeg", &path(&[&rel])), None);
        assert_eq!(search_path("ffmpeg", &path(&[&plain])), None);
        assert_eq!(search_path("ffmpeg", &path(&[&dirs])), None);
        assert_eq!(search_path("ffmpeg", &path(&[Path::new("")])), None);
        let all = path(&[Path::new(""), &rel, &plain, &dirs, &good]);
        assert_eq!(search_path("ffmpeg", &all), Some(good.join("ffmpeg")));
        assert_eq!(
            find_tool_in(Tool::Ffmpeg, None, Some(all)).unwrap(),
            good.join("ffmpeg"),
            "no override: PATH decides"
        );
        let e = find_tool_in(Tool::Ffprobe, None, Some(path(&[&good]))).unwrap_err();
        assert!(matches!(e, MediaError::ToolMissing { tool: "ffprobe" }), "{e}");
        let e = find_tool_in(Tool::Ffmpeg, None, None).unwrap_err();
        assert!(matches!(e, MediaError::ToolMissing { tool: "ffmpeg" }), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn overrides_win_and_must_be_executable_files() {
        let tmp = tempfile::tempdir().unwrap();
        let on_path = tmp.path().join("bin");
        program(&on_path, "ffmpeg", 0o755);
        let mine = program(tmp.path(), "my-ffmpeg", 0o755);
        let notes = program(tmp.path(), "notes.txt", 0o644);
        let path = Some(std::env::join_paths([&on_path]).unwrap());

        let found = find_tool_in(Tool::Ffmpeg, Some(mine.clone().into()), path.clone()).unwrap();
        assert_eq!(found, mine);
        // A relative override is the user's own choice: resolved against the current directory.
        let rel = relative_to_cwd(&mine);
        let found = find_tool_in(Tool::Ffmpeg, Some(rel.into()), path.clone()).unwrap();
        assert!(found.is_absolute() && found.ends_with("my-ffmpeg"), "{}", found.display());
        // An empty override is no override.
        let found = find_tool_in(Tool::Ffmpeg, Some(OsString::new()), path.clone()).unwrap();
        assert_eq!(found, on_path.join("ffmpeg"));
        // A bad override names the variable; it never falls back to PATH.
        for bad in [notes, tmp.path().join("absent"), tmp.path().to_path_buf()] {
            let e = find_tool_in(Tool::Ffprobe, Some(bad.clone().into()), path.clone());
            let e = e.unwrap_err();
            assert!(matches!(e, MediaError::ToolOverride { var: "CONJURE_FFPROBE", .. }), "{e}");
            assert!(e.to_string().contains(&*bad.to_string_lossy()), "{e}");
            assert!(e.hint().is_some());
        }
    }

    #[test]
    fn a_given_ffmpeg_is_never_located_again() {
        let lazy = LazyFfmpeg::from(Ffmpeg::with_paths("/nowhere/ffmpeg".into(), "/x".into()));
        assert_eq!(lazy.get().unwrap().ffmpeg_path(), Path::new("/nowhere/ffmpeg"));
    }

    /// A producer of `n` 16x16 test frames, raw.
    fn frames(n: u32) -> Invocation {
        let mut inv = Invocation::new(format!("{n} frames"));
        inv.args(["-f", "lavfi", "-i", "testsrc2=s=16x16:r=10", "-frames:v", &n.to_string()]);
        inv.args(["-f", "rawvideo", "-pix_fmt", "yuv420p", "pipe:1"]);
        inv
    }

    /// An encoder of 16x16 raw frames into `out`, stopping after `max` frames.
    fn sink(out: &Path, max: u32) -> Invocation {
        let mut inv = Invocation::new("encoding");
        inv.args(["-f", "rawvideo", "-pix_fmt", "yuv420p", "-video_size", "16x16"]);
        inv.args(["-framerate", "10", "-i", "pipe:0", "-frames:v", &max.to_string()]);
        inv.args(["-c:v", "ffv1", "-f", "matroska"]).arg(out.as_os_str());
        inv
    }

    fn pipeline(producers: Vec<(Invocation, u64)>, sink: Invocation) -> Pipeline {
        Pipeline { producers, frame_bytes: 16 * 16 * 3 / 2, sink }
    }

    fn ff() -> Ffmpeg {
        Ffmpeg::locate().expect("ffmpeg and ffprobe on PATH (scripts/setup installs them)")
    }

    #[test]
    fn pipelines_are_frame_exact_or_fail() {
        let ff = ff();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("p.mkv");
        let seen = std::sync::Mutex::new(Vec::new());
        let on = |f: u64, done: usize| seen.lock().unwrap().push((f, done));
        let finished = std::sync::Mutex::new(Vec::new());
        let on_done = |i: usize| finished.lock().unwrap().push(i);
        // Three producers make one 10-frame stream.
        let good = pipeline(vec![(frames(3), 3), (frames(4), 4), (frames(3), 3)], sink(&out, 1000));
        ff.run_pipeline(&good, Some(&on), &on_done).unwrap();
        assert_eq!(ff.count_frames(&out).unwrap(), 10);
        assert_eq!(seen.into_inner().unwrap().last(), Some(&(10, 3)));
        assert_eq!(finished.into_inner().unwrap(), [0, 1, 2]);

        // A producer that writes fewer frames than planned is an error naming it.
        let short = pipeline(vec![(frames(3), 3), (frames(2), 4)], sink(&out, 1000));
        let e = ff.run_pipeline(&short, None, &|_| {}).unwrap_err().to_string();
        assert!(e.contains("`2 frames`") && e.contains("produced 2 frames where"), "{e}");

        // So is one that writes more.
        let long = pipeline(vec![(frames(5), 4)], sink(&out, 1000));
        let e = ff.run_pipeline(&long, None, &|_| {}).unwrap_err().to_string();
        assert!(e.contains("`5 frames`") && e.contains("produced 5 frames where"), "{e}");

        // A sink that stops early never passes for a finished output.
        let early = pipeline(vec![(frames(3), 3), (frames(30), 30)], sink(&out, 5));
        let e = ff.run_pipeline(&early, None, &|_| {}).unwrap_err().to_string();
        assert!(e.contains("`encoding`"), "{e}");

        // A producer ffmpeg rejects reports ffmpeg's own words.
        let mut bad = frames(3);
        bad.args = vec!["-f".into(), "lavfi".into(), "-i".into(), "nosuchsource".into()];
        let e = ff.run_pipeline(&pipeline(vec![(bad, 3)], sink(&out, 10)), None, &|_| {});
        let e = e.unwrap_err().to_string();
        assert!(e.contains("`3 frames`") && e.contains("nosuchsource"), "{e}");
    }

    #[test]
    fn fed_runs_take_files_and_silence_in_order() {
        let ff = ff();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("a.wav");
        let mut sink = Invocation::new("soundtrack");
        sink.args(["-f", "s16le", "-ar", "1000", "-ac", "1", "-i", "pipe:0"]).arg(out.as_os_str());
        let piece = dir.path().join("piece.raw");
        std::fs::write(&piece, [1u8; 600]).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        tx.send(Piece::File(piece.clone(), 600)).unwrap();
        tx.send(Piece::Zeros(1400)).unwrap();
        drop(tx);
        ff.run_fed(&sink, rx).unwrap();
        // 2000 bytes of 16-bit mono at 1 kHz: one second.
        let info = ff.probe(&out).unwrap();
        assert!((info.duration - 1.0).abs() < 1e-3, "{info:?}");

        // A piece shorter than promised stops the run with an error naming the file.
        let (tx, rx) = std::sync::mpsc::channel();
        tx.send(Piece::File(piece, 800)).unwrap();
        drop(tx);
        let e = ff.run_fed(&sink, rx).unwrap_err().to_string();
        assert!(e.contains("piece.raw") && e.contains("600 bytes where the plan has 800"), "{e}");
    }
}
