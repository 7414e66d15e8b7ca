//! End-to-end tests of the `conjure` binary: the real binary, a real sandbox server or a
//! recording fake on 127.0.0.1, a real SQLite journal. No network.

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions fail loudly too")]

mod batch;
mod captions;
mod catalogue;
mod cli;
mod doctor;
mod events;
mod exit_codes;
mod fault_matrix;
mod faults;
mod first_hour;
mod furniture;
mod housekeeping;
mod imaginepro;
mod mcp;
mod media;
mod money;
mod paid;
mod recording;
mod secrets;
mod serve;
mod serve_cli;
mod serve_leases;
mod serve_members;
mod serve_scale;
mod skill;
mod text;

use conjure_test::{Faults, TestContext};

pub fn ctx() -> TestContext {
    TestContext::new(env!("CARGO_BIN_EXE_conjure"))
}

pub fn sandbox() -> TestContext {
    ctx().with_sandbox(Faults::default())
}

pub fn sandbox_with(faults: Faults) -> TestContext {
    ctx().with_sandbox(faults)
}
