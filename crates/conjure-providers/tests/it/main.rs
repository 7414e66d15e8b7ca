//! Integration tests for conjure-providers against fake servers on 127.0.0.1 (no network).

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions panic on setup failure"
)]

mod balance;
mod download;
mod fake;
mod fuzz;
mod imaginepro;
mod poll;
mod secrets;
mod submit;

use std::time::Duration;

use conjure_providers::{HttpOptions, Katana, KatanaCredentials};

/// Distinctive values, so that a leak is easy to grep for. The secret contains colons: the
/// Bearer form must survive a first-colon split.
pub const KEY: &str = "kk-LEAKCHECK-key-7781";
pub const SECRET: &str = "ss-LEAKCHECK:secret:9932";

pub fn creds() -> KatanaCredentials {
    KatanaCredentials::new(KEY, SECRET).unwrap()
}

pub fn options() -> HttpOptions {
    HttpOptions {
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
    }
}

pub fn katana(base: &str) -> Katana {
    Katana::new(base, creds(), options()).unwrap()
}

/// Panics if `text` contains the key or the secret (or a recognisable part of them).
pub fn assert_no_secret(text: &str) {
    for needle in [KEY, SECRET, "LEAKCHECK"] {
        assert!(!text.contains(needle), "credential leaked into: {text}");
    }
}
