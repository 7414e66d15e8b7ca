//! `conjure quote`: the price and the exact request body of an image, video, text or submit command,
//! without sending anything (the same as `--dry-run` on those commands).

use clap::{Args, Subcommand};

use crate::commands::{Ctx, button, image, pay, remove_bg, submit, text, upscale, video};

/// Show what a request would cost and the exact body that would be sent; sends nothing and
/// needs no credentials.
#[derive(Debug, Args)]
pub struct QuoteArgs {
    #[command(subcommand)]
    pub what: QuoteWhat,
}

#[derive(Debug, Subcommand)]
pub enum QuoteWhat {
    /// Quote `conjure image` with the same arguments.
    Image(image::ImageArgs),
    /// Quote `conjure video` with the same arguments.
    Video(video::VideoArgs),
    /// Quote `conjure text` with the same arguments.
    Text(text::TextArgs),
    /// Quote `conjure submit` with the same arguments.
    Submit(submit::SubmitArgs),
    /// Quote `conjure button` with the same arguments.
    Button(button::ButtonArgs),
    /// Quote `conjure upscale` with the same arguments.
    Upscale(upscale::UpscaleArgs),
    /// Quote `conjure remove-bg` with the same arguments.
    RemoveBg(remove_bg::RemoveBgArgs),
}

pub async fn run(ctx: &Ctx, args: QuoteArgs) -> anyhow::Result<()> {
    // These commands' own `--dry-run` is the quote (an image's `--enhance` included).
    let request = match args.what {
        QuoteWhat::Image(mut a) => {
            a.pay.approval.dry_run = true;
            return image::run(ctx, a).await;
        }
        QuoteWhat::Button(mut a) => {
            a.pay.approval.dry_run = true;
            return button::run(ctx, a).await;
        }
        QuoteWhat::Upscale(mut a) => {
            a.pay.approval.dry_run = true;
            return upscale::run(ctx, a).await;
        }
        QuoteWhat::RemoveBg(mut a) => {
            a.pay.approval.dry_run = true;
            return remove_bg::run(ctx, a).await;
        }
        QuoteWhat::Video(a) => a.request()?,
        QuoteWhat::Submit(a) => a.request()?,
        QuoteWhat::Text(a) => {
            let order = text::order(ctx, &a).await?;
            pay::show_quote(ctx, &order, "quote");
            return Ok(());
        }
    };
    let order = ctx.app.prepare(&request)?;
    pay::show_quote(ctx, &order, "quote");
    Ok(())
}
