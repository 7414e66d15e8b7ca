//! `conjure sandbox serve`: the offline server that speaks Katana's and ImaginePro's wire APIs
//! with labelled placeholder media and text, for trying conjure without credentials and for
//! testing clients. Each fault flag sets the `conjure_sandbox::Faults` field of the same name;
//! both halves obey them.
//!
//! stdout is one block of `export NAME=value` lines per provider, each under a `# provider`
//! comment line, so a shell can `source` or `eval` it; people's notes go to stderr.

use std::net::SocketAddr;

use clap::{Args, Subcommand};
use conjure_core::Credits;
use conjure_sandbox::{ApiKey, Faults, SandboxConfig};
use serde_json::json;

use crate::commands::Ctx;
use crate::error::CliError;

/// Run the offline sandbox server.
#[derive(Debug, Args)]
pub struct SandboxArgs {
    #[command(subcommand)]
    pub command: SandboxCommand,
}

#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Serve the Katana and ImaginePro APIs on a local address until interrupted.
    Serve(ServeArgs),
}

/// Serve the Katana and ImaginePro wire APIs locally, on one address. Prints the environment
/// that points conjure at it as `export` lines, one commented block per provider. Katana:
/// CONJURE_KATANA_BASE_URL=http://ADDR and the printed key and secret; OpenAI-compatible clients
/// use http://ADDR/v1 with KEY:SECRET as their API key. ImaginePro (both path families under
/// /api/v1): CONJURE_IMAGINEPRO_BASE_URL=http://ADDR and the key sandbox-imaginepro-key; its
/// official SDKs take http://ADDR as their base URL.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (loopback only by default; port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8787")]
    pub addr: SocketAddr,
    /// Katana API key the sandbox accepts.
    #[arg(long, default_value = "sandbox-key")]
    pub key: String,
    /// Starting balance of that Katana key, in credits.
    #[arg(long, default_value = "10000")]
    pub balance: String,
    /// Milliseconds of latency added to every request.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Polls answered `processing` before a job completes.
    #[arg(long, default_value_t = 1)]
    pub steps: u32,
    /// Fraction of items that fail (0.0-1.0).
    #[arg(long, default_value_t = 0.0)]
    pub fail_rate: f64,
    /// Answer the first N polls of each job with 429 and Retry-After.
    #[arg(long, default_value_t = 0)]
    pub rate_limit_polls: u32,
    /// Seconds announced in Retry-After.
    #[arg(long, default_value_t = 1)]
    pub retry_after: u32,
    /// Answer 500 to submits after accepting and charging them.
    #[arg(long)]
    pub submit_500: bool,
    /// Drop the connection after accepting and charging a submit.
    #[arg(long)]
    pub drop_after_accept: bool,
    /// Jobs never leave `processing`.
    #[arg(long)]
    pub stale: bool,
    /// `poll_after_seconds` to announce (`null` for none).
    #[arg(long, default_value = "1")]
    pub poll_after: String,
    /// Echo the request's key, secret and Authorization in error messages (a careless server).
    #[arg(long)]
    pub echo_credentials: bool,
    /// Credits charged per accepted item above the catalogue price (a provider overcharging).
    #[arg(long, value_name = "CREDITS", default_value = "0")]
    pub overcharge: String,
    /// Answer 404 to asset downloads while jobs still complete (expired or missing asset URLs).
    #[arg(long)]
    pub asset_404: bool,
    /// Abort chat streams after N content chunks: no usage, no [DONE], the reserve kept.
    #[arg(long, value_name = "N")]
    pub stream_cut_after: Option<u32>,
    /// Send one frame of invalid JSON in the middle of every chat stream.
    #[arg(long)]
    pub stream_malformed: bool,
    /// Answer 500 to chat calls after taking their reserve (kept).
    #[arg(long)]
    pub text_500: bool,
    /// Write chat streams in pieces that split multi-byte UTF-8 characters.
    #[arg(long)]
    pub split_utf8: bool,
    /// Serve, accept and bill by a catalogue that drifted from the bundled one.
    #[arg(long)]
    pub catalogue_drift: bool,
    /// Revision of /llms.txt (0 = the original text; others change it).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub llms_revision: u32,
    /// Cut the connection of paid submits before anything is accepted or charged.
    #[arg(long)]
    pub reset_before_accept: bool,
    /// Milliseconds a paid submit's answer waits after it was accepted and charged.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub submit_delay_ms: u64,
    /// Answer accepted and charged paid submits with 200 and a body that is not JSON.
    #[arg(long)]
    pub malformed_json: bool,
    /// Answer paid submits with 429 and Retry-After, accepting and charging nothing.
    #[arg(long)]
    pub submit_429: bool,
    /// Milliseconds between the small chunks of asset downloads (slow streaming).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub asset_slow_ms: u64,
    /// Polls do not advance jobs (read at every poll; restart without it to let them finish).
    #[arg(long)]
    pub hold: bool,
}

impl ServeArgs {
    fn config(&self) -> Result<SandboxConfig, CliError> {
        let balance: Credits =
            self.balance.parse().map_err(|e| CliError::usage(format!("--balance: {e}")))?;
        let mut faults = Faults {
            latency_ms: self.latency_ms,
            processing_steps: self.steps,
            rate_limit_polls: self.rate_limit_polls,
            retry_after_secs: self.retry_after,
            submit_500: self.submit_500,
            drop_after_accept: self.drop_after_accept,
            stale: self.stale,
            echo_credentials: self.echo_credentials,
            asset_404: self.asset_404,
            stream_cut_after: self.stream_cut_after,
            stream_malformed: self.stream_malformed,
            text_500: self.text_500,
            split_utf8: self.split_utf8,
            catalogue_drift: self.catalogue_drift,
            llms_revision: self.llms_revision,
            reset_before_accept: self.reset_before_accept,
            submit_delay_ms: self.submit_delay_ms,
            malformed_json: self.malformed_json,
            submit_429: self.submit_429,
            asset_slow_ms: self.asset_slow_ms,
            hold: self.hold,
            ..Faults::default()
        };
        faults
            .parse_flag("fail-rate", Some(&self.fail_rate.to_string()))
            .and_then(|()| faults.parse_flag("poll-after", Some(&self.poll_after)))
            .and_then(|()| faults.parse_flag("overcharge", Some(&self.overcharge)))
            .map_err(|e| CliError::usage(e.to_string()))?;
        let secret = conjure_sandbox::DEMO_SECRET.to_owned();
        Ok(SandboxConfig {
            addr: self.addr,
            keys: vec![ApiKey { key: self.key.clone(), secret, balance }],
            faults,
            ..SandboxConfig::default()
        })
    }
}

pub async fn run(ctx: &Ctx, args: SandboxArgs) -> anyhow::Result<()> {
    let SandboxCommand::Serve(serve) = args.command;
    let config = serve.config()?;
    let key = serve.key.clone();
    let sandbox = conjure_sandbox::start(config).await?;
    let url = sandbox.base_url();
    // The sandbox's own placeholder credentials, not the user's: printing them is the point.
    let blocks = [
        (
            "Katana",
            format!("OpenAI-compatible clients: {url}/v1 with KEY:SECRET as the API key"),
            sandbox.exports(&key).unwrap_or_default(),
        ),
        (
            "ImaginePro",
            format!("official SDKs: base URL {url}; they append /api/v1"),
            sandbox.imaginepro_exports(conjure_sandbox::IMAGINEPRO_DEMO_KEY).unwrap_or_default(),
        ),
    ];
    if ctx.out.json {
        let env: serde_json::Map<String, serde_json::Value> = blocks
            .iter()
            .flat_map(|(_, _, exports)| exports)
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect();
        ctx.out.json_value(&json!({
            "status": "serving",
            "base_url": url,
            "api_key": key,
            "imaginepro_api_key": conjure_sandbox::IMAGINEPRO_DEMO_KEY,
            "env": env,
        }));
    } else {
        for (provider, about, exports) in &blocks {
            ctx.out.line(format!("# {provider} ({about})"));
            for (name, value) in exports {
                ctx.out.line(format!("export {name}={value}"));
            }
        }
        ctx.out.note("conjure sandbox: placeholder media, no real charges. Ctrl-C stops it.");
    }
    tokio::signal::ctrl_c().await?;
    sandbox.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    #[test]
    fn text_fault_flags_reach_the_sandbox() {
        let cli = Cli::try_parse_from([
            "serve",
            "--stream-cut-after",
            "3",
            "--stream-malformed",
            "--text-500",
            "--split-utf8",
            "--catalogue-drift",
            "--llms-revision",
            "2",
        ])
        .unwrap();
        let faults = cli.serve.config().unwrap().faults;
        let expected: Faults =
            "stream-cut-after=3,stream-malformed,text-500,split-utf8,catalogue-drift,llms-revision=2"
                .parse()
                .unwrap();
        assert_eq!(faults, expected);
        let plain = Cli::try_parse_from(["serve"]).unwrap().serve.config().unwrap().faults;
        assert_eq!(plain, Faults::default());
    }
    #[test]
    fn matrix_fault_flags_reach_the_sandbox() {
        let cli = Cli::try_parse_from([
            "serve",
            "--reset-before-accept",
            "--submit-delay-ms",
            "5000",
            "--malformed-json",
            "--submit-429",
            "--asset-slow-ms",
            "20",
            "--hold",
        ])
        .unwrap();
        let expected: Faults =
            "reset-before-accept,submit-delay-ms=5000,malformed-json,submit-429,asset-slow-ms=20,hold"
                .parse()
                .unwrap();
        assert_eq!(cli.serve.config().unwrap().faults, expected);
    }
}
