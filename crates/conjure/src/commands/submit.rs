//! `conjure submit`: send a provider's own request body, validated and quoted like the rest.
//!
//! The payload is read into conjure's typed request by the provider's inverse parser (every
//! documented field and alias is understood), so it gets the same catalogue checks, quote and
//! approval as `image`/`video`, and the body actually sent is the normalised one shown by
//! `--dry-run`. Fields conjure does not understand are refused by name rather than dropped.

use std::path::PathBuf;

use clap::Args;
use conjure_app::{PayloadRequest, Request};

use crate::cli::PayArgs;
use crate::commands::{Ctx, pay};
use crate::error::CliError;

/// Send a provider's own request body from a JSON file (`-` for stdin), e.g. a Katana
/// envelope `{"requests":[...]}`.
#[derive(Debug, Args, Clone)]
pub struct SubmitArgs {
    /// The JSON payload file, or `-` to read standard input.
    pub payload: PathBuf,
    /// The provider whose request format the payload is in.
    #[arg(long, default_value = "katana")]
    pub provider: String,
    #[command(flatten)]
    pub pay: PayArgs,
}

impl SubmitArgs {
    /// The request the payload describes.
    pub fn request(&self) -> Result<Request, CliError> {
        let text = if self.payload.as_os_str() == "-" {
            std::io::read_to_string(std::io::stdin())
                .map_err(|e| CliError::usage(format!("Cannot read the payload from stdin: {e}")))?
        } else {
            std::fs::read_to_string(&self.payload).map_err(|e| {
                CliError::usage(format!("Cannot read `{}`: {e}", self.payload.display()))
            })?
        };
        let payload: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            CliError::usage(format!("The payload is not valid JSON: {e}"))
                .hint("it must be an object like {\"requests\":[{\"type\":\"image\",\"model\":\"gen\",\"prompt\":\"...\"}]}")
        })?;
        Ok(Request::Payload(PayloadRequest { provider: self.provider.parse()?, payload }))
    }
}

pub async fn run(ctx: &Ctx, args: SubmitArgs) -> anyhow::Result<()> {
    let order = ctx.app.prepare(&args.request()?)?;
    pay::run(ctx, order, &args.pay).await
}
