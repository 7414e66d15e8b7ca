//! `conjure button`: press a Midjourney button on a finished job. The press is a paid request
//! of its own, quoted and approved like any other; its job records the job it was pressed on
//! (`conjure status`, `conjure jobs --tree`).

use clap::Args;
use conjure_app::ButtonRequest;

use crate::cli::{HookArgs, PayArgs};
use crate::commands::{Ctx, pay};

/// Press a Midjourney button (U1..U4, V1..V4, reroll, zoom-out-2x, zoom-out-1.5x, vary-strong,
/// vary-subtle, vary-region, pan-left|right|up|down, make-square) on a finished ImaginePro job.
/// Only buttons the job's result offers are accepted (`conjure status JOB` lists them).
#[derive(Debug, Args, Clone)]
pub struct ButtonArgs {
    /// The job to press it on (a job id or a unique prefix).
    pub job: String,
    /// The button: U1..U4, V1..V4, reroll, zoom-out-2x, vary-region, pan-left, ...
    pub button: String,
    /// vary-region only: the mask image URL (made with ImaginePro's mask tool).
    #[arg(long, value_name = "URL")]
    pub mask: Option<String>,
    /// vary-region only: what to paint in the masked region.
    #[arg(long, value_name = "TEXT")]
    pub prompt: Option<String>,
    #[command(flatten)]
    pub hooks: HookArgs,
    #[command(flatten)]
    pub pay: PayArgs,
}

impl ButtonArgs {
    pub fn request(&self) -> ButtonRequest {
        ButtonRequest {
            job: self.job.clone(),
            button: self.button.clone(),
            mask: self.mask.clone(),
            prompt: self.prompt.clone(),
            hooks: self.hooks.hooks(),
        }
    }
}

pub async fn run(ctx: &Ctx, args: ButtonArgs) -> anyhow::Result<()> {
    press(ctx, &args.request(), &args.pay).await
}

/// Quotes and (once approved) sends a button press.
pub async fn press(ctx: &Ctx, request: &ButtonRequest, pay: &PayArgs) -> anyhow::Result<()> {
    let order = {
        let session = ctx.app.session().await?;
        ctx.app.button_order(&session, request).await?
    };
    pay::run(ctx, order, pay).await
}
