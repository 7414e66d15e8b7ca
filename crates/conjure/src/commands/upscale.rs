//! `conjure upscale`: an image URL through ImaginePro's Flux upscale, or a Midjourney grid
//! image upscaled by its U button (the same as `conjure button JOB U<index>`).

use clap::Args;
use conjure_app::{ButtonRequest, Request, ToolName, ToolRequest};

use crate::cli::{HookArgs, PayArgs};
use crate::commands::{Ctx, button, gateway};
use crate::error::CliError;

/// Upscale an image: `conjure upscale IMAGE_URL --scale 2..4` (Flux upscale, 2 credits) or
/// `conjure upscale JOB --index 1..4` (Midjourney's U button on a finished grid).
#[derive(Debug, Args, Clone)]
pub struct UpscaleArgs {
    /// An image URL (https://...), or a finished Midjourney job (id or unique prefix).
    pub target: String,
    /// How much larger, for an image URL: 2, 3 or 4.
    #[arg(long, value_parser = clap::value_parser!(u8).range(2..=4), conflicts_with = "index")]
    pub scale: Option<u8>,
    /// Which image of a Midjourney grid, for a job: 1 to 4.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=4))]
    pub index: Option<u8>,
    #[command(flatten)]
    pub hooks: HookArgs,
    #[command(flatten)]
    pub pay: PayArgs,
}

/// Whether `target` reads as a URL rather than a job.
pub fn is_url(target: &str) -> bool {
    let t = target.trim().to_ascii_lowercase();
    t.starts_with("https://") || t.starts_with("http://")
}

pub async fn run(ctx: &Ctx, args: UpscaleArgs) -> anyhow::Result<()> {
    if is_url(&args.target) {
        if args.index.is_some() {
            return Err(CliError::usage(
                "`--index` picks an image of a Midjourney job, not of a URL",
            )
            .hint("give `--scale 2..4` for an image URL, or a job id with `--index`")
            .into());
        }
        let request = Request::Tool(ToolRequest {
            provider: conjure_core::ProviderId::ImaginePro,
            tool: ToolName::Upscale,
            image: args.target.clone(),
            scale: args.scale,
            hooks: args.hooks.hooks(),
        });
        return gateway::prepare_and_pay(ctx, request, &args.pay).await;
    }
    let path = std::path::Path::new(&args.target);
    let image_ext = path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        ["png", "jpg", "jpeg", "webp", "gif"].contains(&e.to_ascii_lowercase().as_str())
    });
    if path.exists() || image_ext || args.target.contains('/') {
        return Err(CliError::usage(format!(
            "`{}` is a file path: ImaginePro upscales image URLs, not uploads",
            args.target
        ))
        .hint("put it somewhere ImaginePro can fetch it and pass its https:// URL")
        .into());
    }
    if args.scale.is_some() {
        return Err(CliError::usage("`--scale` is for an image URL (Flux upscale)")
            .hint(format!("to upscale image N of job `{}`, give `--index N`", args.target))
            .into());
    }
    let Some(index) = args.index else {
        return Err(CliError::usage(format!("Which image of job `{}`?", args.target))
            .hint(format!("give `--index 1..4`, e.g. `conjure upscale {} --index 1`", args.target))
            .into());
    };
    let request = ButtonRequest {
        job: args.target.clone(),
        button: format!("U{index}"),
        mask: None,
        prompt: None,
        hooks: args.hooks.hooks(),
    };
    button::press(ctx, &request, &args.pay).await
}
