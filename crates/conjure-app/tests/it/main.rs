//! Integration tests for `conjure-app`: the real SQLite journal in a temp directory, and test
//! providers (no network) where a test needs to see which provider is called.

#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]

mod fallback;
mod limits;
mod own_provider;

use conjure_app::Config;

/// A configuration rooted in a fresh temp directory.
pub fn config() -> (tempfile::TempDir, Config) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path().join("data"), dir.path().join("config"));
    config.out_dir = dir.path().join("out");
    config.poll.scale = 0.001;
    (dir, config)
}
