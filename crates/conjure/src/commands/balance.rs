//! `conjure balance`: the credits left on a provider account (a free call).

use clap::Args;

use crate::commands::Ctx;

/// Show the credit balance and its dollar value at the configured price.
#[derive(Debug, Args)]
pub struct BalanceArgs {
    /// Provider.
    #[arg(long, default_value = "katana")]
    pub provider: String,
}

pub async fn run(ctx: &Ctx, args: BalanceArgs) -> anyhow::Result<()> {
    let view = ctx.app.balance(args.provider.parse().map_err(conjure_app::AppError::from)?).await?;
    if ctx.out.json {
        ctx.out.json_value(&view);
    } else {
        ctx.out.line(crate::output::cost_phrase(view.credits, ctx.app.config.price(view.provider)));
    }
    Ok(())
}
