//! `conjure models`: the bundled catalogue, with prices in credits and dollars.

use clap::Args;
use conjure_app::views::{ModelView, ModelsView};
use conjure_core::catalogue::Pricing;
use conjure_core::{Catalogue, MediaKind, Model, ProviderId};

use crate::commands::Ctx;
use crate::error::CliError;

/// List models: credits and USD per unit, aspects, reference limits, durations, privacy tier.
#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// Only this media type.
    #[arg(long = "type", value_name = "image|video|text")]
    pub kind: Option<String>,
    /// Only this provider.
    #[arg(long, default_value = "katana")]
    pub provider: String,
    /// Show one model in full (a key, legacy key or alias).
    pub model: Option<String>,
}

pub fn run(ctx: &Ctx, args: &ModelsArgs) -> anyhow::Result<()> {
    let provider: ProviderId = args.provider.parse()?;
    let kind: Option<MediaKind> = args.kind.as_deref().map(str::parse).transpose()?;
    let catalogue = Catalogue::bundled();
    let models: Vec<&Model> = match &args.model {
        Some(name) => vec![catalogue.resolve(provider, kind, name)?],
        None => catalogue.iter(Some(provider), kind).collect(),
    };
    if models.is_empty() {
        return Err(CliError::usage(format!("No {provider} models match")).into());
    }
    let price = ctx.app.config.price(provider);
    if ctx.out.json {
        ctx.out.json_value(&ModelsView {
            usd_per_credit: price.map(|p| p.micros_per_credit() as f64 / 1e6),
            models: models.iter().map(|m| ModelView::new(m, price)).collect(),
        });
        return Ok(());
    }
    for m in models {
        let cost = match &m.pricing {
            Pricing::PerItem { credits } => match price {
                Some(p) => format!("{credits} cr ≈ {} /image", p.usd(*credits)),
                None => format!("{credits} cr /image"),
            },
            Pricing::PerDuration { credits } => {
                credits.iter().map(|(d, c)| format!("{d}s:{c}")).collect::<Vec<_>>().join(" ")
            }
            Pricing::PerMillionTokens { input, output, .. } => {
                format!("in {input} / out {output} cr per 1M tok")
            }
        };
        let extra = match m.kind {
            MediaKind::Text => m.privacy.map(|p| p.label().to_owned()).unwrap_or_default(),
            _ => format!("refs {} · {}", m.max_refs, m.aspects.join(",")),
        };
        let aliases = if m.aliases.is_empty() {
            String::new()
        } else {
            format!(" (alias {})", m.aliases.join(", "))
        };
        ctx.out.line(format!("{:<5} {:<26} {:<34} {extra}{aliases}", m.kind.as_str(), m.id, cost));
    }
    Ok(())
}
