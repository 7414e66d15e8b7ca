//! `conjure models`: the bundled catalogue, with prices in credits and dollars.

use clap::Args;
use conjure_core::catalogue::Pricing;
use conjure_core::{Catalogue, MediaKind, Model, ProviderId};
use serde_json::{Value, json};

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
        let list: Vec<Value> = models.iter().map(|m| model_json(m, price)).collect();
        let per_credit = price.map(|p| p.micros_per_credit() as f64 / 1e6);
        ctx.out.json_value(&json!({ "usd_per_credit": per_credit, "models": list }));
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

fn model_json(m: &Model, price: Option<conjure_core::CreditPrice>) -> Value {
    let mut v = serde_json::to_value(m).unwrap_or(Value::Null);
    let Some(price) = price else { return v };
    let usd = match &m.pricing {
        Pricing::PerItem { credits } => json!({ "per_image": price.usd(*credits) }),
        Pricing::PerDuration { credits } => {
            json!({ "per_duration": credits.iter().map(|(d, c)| (d.to_string(), json!(price.usd(*c)))).collect::<serde_json::Map<_, _>>() })
        }
        Pricing::PerMillionTokens { input, output, .. } => {
            json!({ "per_million_input_tokens": price.usd(*input), "per_million_output_tokens": price.usd(*output) })
        }
    };
    v["usd"] = usd;
    v
}
