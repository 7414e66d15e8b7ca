//! `conjure enhance`: a prompt expanded by ImaginePro's prompt enhancement. Free and
//! synchronous: no quote, no job, nothing charged. `conjure image --enhance` uses the same call
//! before quoting, so the quote is for the prompt that is sent.

use clap::Args;
use conjure_core::ProviderId;
use serde::Serialize;

use crate::commands::Ctx;
use crate::error::CliError;

/// Expand a prompt with the provider's free prompt enhancement (ImaginePro) and print it.
#[derive(Debug, Args)]
pub struct EnhanceArgs {
    /// The prompt to expand.
    pub prompt: String,
    /// Provider (only imaginepro has prompt enhancement).
    #[arg(long, default_value = "imaginepro")]
    pub provider: String,
}

#[derive(Serialize)]
struct EnhanceView<'a> {
    provider: ProviderId,
    prompt: &'a str,
    enhanced: &'a str,
}

/// `prompt` expanded by `provider`, with a note on stderr.
pub async fn enhanced(ctx: &Ctx, provider: ProviderId, prompt: &str) -> Result<String, CliError> {
    let out = ctx.app.enhance(provider, prompt).await?;
    ctx.out.note(format!("Enhanced prompt (free): {out}"));
    Ok(out)
}

pub async fn run(ctx: &Ctx, args: EnhanceArgs) -> anyhow::Result<()> {
    let provider: ProviderId = args.provider.parse()?;
    let out = ctx.app.enhance(provider, &args.prompt).await?;
    if ctx.out.json {
        ctx.out.json_value(&EnhanceView { provider, prompt: &args.prompt, enhanced: &out });
    } else {
        ctx.out.line(out);
    }
    Ok(())
}
