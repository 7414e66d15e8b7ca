//! `conjure balance`: the credits left on the Katana account (a free call).

use clap::Args;
use serde_json::json;

use crate::commands::Ctx;
use crate::error::provider_error;

/// Show the Katana credit balance and its dollar value at the configured price.
#[derive(Debug, Args)]
pub struct BalanceArgs {}

pub async fn run(ctx: &Ctx, _args: BalanceArgs) -> anyhow::Result<()> {
    let katana = ctx.katana()?;
    let credits = katana.balance().await.map_err(|e| provider_error(&e))?;
    let usd = ctx.settings.katana_price.usd(credits);
    if ctx.out.json {
        ctx.out.json_value(&json!({ "provider": "katana", "credits": credits, "usd": usd }));
    } else {
        ctx.out.line(format!("{credits} credits ≈ {usd}"));
    }
    Ok(())
}
