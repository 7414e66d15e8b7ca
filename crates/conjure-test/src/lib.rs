//! Test support: every test gets its own home, journal, config and output directory, an
//! environment cleared of the developer's `CONJURE_*` and `KATANA_*` variables, a real sandbox
//! server on 127.0.0.1 when it asks for one, and the real `conjure` binary to run.
//!
//! Polling is scaled down (`CONJURE_POLL_SCALE`) so jobs finish in milliseconds; no test waits
//! on wall-clock timing to pass.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[cfg(feature = "postgres")]
pub mod pg;
pub mod store_contract;

pub use conjure_sandbox::{Faults, Sandbox, SandboxConfig, Stats};

/// A fake credential used by tests; it must never appear in any output.
pub const TEST_KEY: &str = "tk_live_SENTINEL_KEY_7f3a9c";
/// A fake secret (with a colon, as real secrets may have) that must never appear anywhere.
pub const TEST_SECRET: &str = "ts_SENTINEL:SECRET_e81b44d2";

/// A real 1x1 PNG (header and pixels decode).
pub fn png_bytes() -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
        .expect("a valid constant")
}

/// Another real PNG (2x2, red), different from [`png_bytes`].
pub fn other_png_bytes() -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode("iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEElEQVR4nGM4IScHRAwQCgAfJgQRoo8irwAAAABJRU5ErkJggg==")
        .expect("a valid constant")
}

/// A real WAV: mono, 8 kHz, 16-bit, two silent samples.
pub fn wav_bytes() -> Vec<u8> {
    b"RIFF\x2c\0\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0\x40\x1f\0\0\x80\x3e\0\0\x02\0\x10\0data\x04\0\0\0\0\0\0\0".to_vec()
}

/// One test's private world.
pub struct TestContext {
    pub root: tempfile::TempDir,
    bin: PathBuf,
    runtime: tokio::runtime::Runtime,
    sandbox: Option<Sandbox>,
    extra_env: Vec<(String, String)>,
}

/// What a command did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout parsed as one JSON object.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON object ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

impl TestContext {
    /// A context for the binary at `bin` (pass `env!("CARGO_BIN_EXE_conjure")`).
    pub fn new(bin: impl Into<PathBuf>) -> TestContext {
        let root = tempfile::tempdir().expect("temp dir");
        for d in ["home", "data", "config", "out"] {
            std::fs::create_dir_all(root.path().join(d)).expect("test dirs");
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        TestContext { root, bin: bin.into(), runtime, sandbox: None, extra_env: Vec::new() }
    }

    /// Starts a sandbox that accepts [`TEST_KEY`]/[`TEST_SECRET`] with `balance` credits.
    #[must_use]
    pub fn with_sandbox(mut self, faults: Faults) -> TestContext {
        let config = SandboxConfig {
            addr: "127.0.0.1:0".parse().expect("addr"),
            keys: vec![conjure_sandbox::ApiKey::new(
                TEST_KEY,
                TEST_SECRET,
                conjure_core::Credits::whole(10_000),
            )],
            faults,
            media_dir: Some(self.root.path().join("sandbox-media")),
            ..SandboxConfig::default()
        };
        let sandbox =
            self.runtime.block_on(conjure_sandbox::start(config)).expect("sandbox starts");
        self.sandbox = Some(sandbox);
        self
    }

    pub fn sandbox(&self) -> &Sandbox {
        self.sandbox.as_ref().expect("this test started no sandbox")
    }

    pub fn stats(&self) -> Stats {
        self.sandbox().stats()
    }

    /// Adds an environment variable to every command.
    pub fn env(&mut self, key: &str, value: &str) {
        self.extra_env.push((key.to_owned(), value.to_owned()));
    }

    pub fn path(&self, sub: &str) -> PathBuf {
        self.root.path().join(sub)
    }

    pub fn out_dir(&self) -> PathBuf {
        self.path("out")
    }

    pub fn journal_path(&self) -> PathBuf {
        self.path("data").join("journal.sqlite3")
    }

    /// The command with an isolated environment (credentials of the sandbox when one runs).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args);
        self.isolate(&mut cmd);
        cmd
    }

    /// The command run on a pseudo-terminal (util-linux `script`), as a person at a terminal
    /// runs it: stdin, stdout and stderr are all the terminal.
    pub fn tty_command(&self, args: &[&str]) -> Command {
        let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
        let line = std::iter::once(quote(&self.bin.display().to_string()))
            .chain(args.iter().map(|a| quote(a)))
            .collect::<Vec<_>>()
            .join(" ");
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &line, "/dev/null"]);
        self.isolate(&mut cmd);
        cmd
    }

    fn isolate(&self, cmd: &mut Command) {
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path("home"))
            .env("CONJURE_HOME", self.path("data"))
            .env("CONJURE_CONFIG_DIR", self.path("config"))
            .env("CONJURE_POLL_SCALE", "0.01")
            // The daily catalogue check would reach out to whatever base URL a test sets; tests
            // of the check turn it on with `env`.
            .env("CONJURE_CATALOGUE_CHECK", "0")
            .env("NO_COLOR", "1")
            .env("TZ", "UTC")
            .current_dir(self.out_dir())
            .stdin(Stdio::null());
        if let Some(sandbox) = &self.sandbox {
            cmd.env("CONJURE_KATANA_BASE_URL", sandbox.base_url())
                .env("KATANA_API_KEY", TEST_KEY)
                .env("KATANA_API_SECRET", TEST_SECRET)
                .env("CONJURE_IMAGINEPRO_BASE_URL", sandbox.base_url())
                .env("IMAGINEPRO_API_KEY", conjure_sandbox::IMAGINEPRO_DEMO_KEY);
        }
        for (k, v) in &self.extra_env {
            cmd.env(k, v);
        }
    }

    /// Runs the binary to completion.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_cmd(self.command(args))
    }

    pub fn run_cmd(&self, mut cmd: Command) -> Run {
        let output = cmd.output().expect("the conjure binary runs");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs with `input` on stdin.
    pub fn run_with_stdin(&self, args: &[&str], input: &str) -> Run {
        self.run_cmd_with_stdin(self.command(args), input)
    }

    /// Runs `cmd` with `input` on stdin.
    pub fn run_cmd_with_stdin(&self, mut cmd: Command, input: &str) -> Run {
        use std::io::Write as _;
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn");
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
        let output = child.wait_with_output().expect("wait");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Every file under the context's root, for leak scans.
    pub fn all_files(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            if let Ok(entries) = std::fs::read_dir(dir) {
                for e in entries.flatten() {
                    let p = e.path();
                    if p.is_dir() { walk(&p, out) } else { out.push(p) }
                }
            }
        }
        let mut out = Vec::new();
        walk(self.root.path(), &mut out);
        out
    }
}
