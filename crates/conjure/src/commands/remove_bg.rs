//! `conjure remove-bg`: an image URL through ImaginePro's background removal.

use clap::Args;
use conjure_app::{Request, ToolName, ToolRequest};

use crate::cli::{HookArgs, PayArgs};
use crate::commands::{Ctx, gateway};

/// Remove the background of an image (ImaginePro, 5 credits). The image is a URL ImaginePro
/// fetches; local files are not uploaded.
#[derive(Debug, Args, Clone)]
pub struct RemoveBgArgs {
    /// The image URL (https://...).
    pub image: String,
    #[command(flatten)]
    pub hooks: HookArgs,
    #[command(flatten)]
    pub pay: PayArgs,
}

pub async fn run(ctx: &Ctx, args: RemoveBgArgs) -> anyhow::Result<()> {
    let request = Request::Tool(ToolRequest {
        provider: conjure_core::ProviderId::ImaginePro,
        tool: ToolName::RemoveBg,
        image: args.image.clone(),
        scale: None,
        hooks: args.hooks.hooks(),
    });
    gateway::prepare_and_pay(ctx, request, &args.pay).await
}
