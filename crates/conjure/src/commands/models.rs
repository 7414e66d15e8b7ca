//! `conjure models`: the catalogue in use, to choose a model by what it takes and costs; and
//! keeping it current.
//!
//! The list is sorted by kind, then by price (the cheapest option of a video model), with
//! dollars at the configured price per credit, and can be narrowed by capability
//! (`--kind`, `--needs-image`, `--audio`, `--sound`, `--uhd`) and by price (`--max-price`, in
//! dollars or credits like `--max-cost`). `conjure models MODEL` shows every fact the
//! catalogue has about one model, in words. `--json` prints the catalogue's fields either way.
//!
//! The catalogue in use is the built-in one until `--refresh` fetches Katana's own (`GET
//! /v1/models`); from then on listings, quotes and validation use the refreshed one
//! (`conjure_app::App::catalogue`). `--diff` shows what the refresh added, removed and
//! re-priced against the built-in catalogue.

use clap::Args;
use conjure_app::catalogue::{DiffView, RefreshView, diff_view};
use conjure_app::views::{ModelView, ModelsView};
use conjure_core::catalogue::live::describe_pricing;
use conjure_core::catalogue::{CatalogueError, MAX_AUDIO_INPUTS, Pricing};
use conjure_core::policy::Limit;
use conjure_core::{Catalogue, CreditPrice, Credits, MediaKind, Model, ProviderId};

use crate::commands::Ctx;
use crate::error::CliError;
use crate::settings::parse_limit;

/// List models to choose from, or show everything known about one: price in credits and
/// dollars, input images, frames, audio, UHD, aspects, durations. Uses the built-in catalogue
/// until `--refresh` fetches the provider's current one.
#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// Show one model in full (a key, legacy key or alias).
    #[arg(conflicts_with_all = ["needs_image", "audio", "sound", "uhd", "max_price"])]
    pub model: Option<String>,
    /// Only this media type.
    #[arg(long = "kind", visible_alias = "type", value_name = "image|video|text")]
    pub kind: Option<String>,
    /// Only this provider.
    #[arg(long, default_value = "katana")]
    pub provider: String,
    /// Only models that require an input image (an image to edit, or a video's first frame).
    #[arg(long)]
    pub needs_image: bool,
    /// Only video models that take audio inputs (`conjure video --audio`).
    #[arg(long)]
    pub audio: bool,
    /// Only video models whose videos have sound.
    #[arg(long)]
    pub sound: bool,
    /// Only models with UHD or 4K output.
    #[arg(long)]
    pub uhd: bool,
    /// Only image and video models with an option at or below this price (per image, or per
    /// video at its cheapest duration): dollars (`0.50`, `$0.50`) or credits (`120cr`).
    #[arg(long, value_name = "LIMIT")]
    pub max_price: Option<String>,
    /// Fetch Katana's current catalogue (GET /v1/models; with the credentials when there are
    /// any) and use it from now on for listings, quotes and checks. A price that differs from
    /// the built-in catalogue is named in every quote.
    #[arg(long, conflicts_with_all = FILTERS)]
    pub refresh: bool,
    /// List the models the refreshed catalogue added, removed and re-priced against the
    /// built-in one (with --refresh: refresh first).
    #[arg(long, conflicts_with_all = FILTERS)]
    pub diff: bool,
}

/// What `--refresh` and `--diff` do not combine with.
const FILTERS: [&str; 7] = ["model", "kind", "needs_image", "audio", "sound", "uhd", "max_price"];

pub async fn run(ctx: &Ctx, args: &ModelsArgs) -> anyhow::Result<()> {
    // Catalogue errors become usage errors (exit 2), with their hints.
    let provider: ProviderId = args.provider.parse().map_err(CliError::from)?;
    if args.refresh || args.diff {
        if provider != ProviderId::Katana {
            return Err(CliError::usage(format!(
                "conjure cannot refresh the {provider} catalogue"
            ))
            .hint("only the Katana catalogue can be refreshed: drop `--provider`")
            .into());
        }
        return refresh_and_diff(ctx, args).await;
    }
    if provider == ProviderId::ImaginePro {
        return imaginepro_operations(ctx, args.model.as_deref());
    }
    let kind: Option<MediaKind> =
        args.kind.as_deref().map(str::parse).transpose().map_err(CliError::from)?;
    let catalogue = ctx.app.catalogue();
    let refreshed_at = ctx.app.refreshed().map(conjure_app::catalogue::Refreshed::fetched_at);
    let price = ctx.app.config.price(provider);
    let models: Vec<&Model> = if let Some(name) = &args.model {
        vec![resolve(ctx, catalogue, provider, kind, name)?]
    } else {
        if args.max_price.is_some() && kind == Some(MediaKind::Text) {
            return Err(CliError::usage("`--max-price` applies to image and video models")
                .hint("text models are priced per million tokens; compare them with `conjure models --kind text`")
                .into());
        }
        let max = args.max_price.as_deref().map(|s| max_credits(s, price)).transpose()?;
        let mut models: Vec<&Model> = catalogue
            .iter(Some(provider), kind)
            .filter(|m| !args.needs_image || m.requires_image)
            .filter(|m| !args.audio || m.audio_input)
            .filter(|m| !args.sound || m.audio_output)
            .filter(|m| !args.uhd || m.uhd)
            .filter(|m| max.is_none_or(|max| m.kind != MediaKind::Text && m.min_credits() <= max))
            .collect();
        models.sort_by(|a, b| {
            (a.kind, a.min_credits(), &a.id).cmp(&(b.kind, b.min_credits(), &b.id))
        });
        models
    };
    if models.is_empty() {
        return Err(CliError::usage(format!("No {provider} models match"))
            .hint("loosen the filters; `conjure models` lists every model")
            .into());
    }
    if ctx.out.json {
        ctx.out.json_value(&ModelsView {
            usd_per_credit: price.map(|p| p.micros_per_credit() as f64 / 1e6),
            refreshed_at,
            models: models.iter().map(|m| ModelView::new(m, price)).collect(),
        });
        return Ok(());
    }
    if let Some(at) = &refreshed_at {
        ctx.out.note(format!(
            "Using the catalogue refreshed from Katana at {at} (`conjure models --diff` shows what changed)"
        ));
    }
    if let [m] = models[..]
        && args.model.is_some()
    {
        for line in card(m, price) {
            ctx.out.line(line);
        }
        return Ok(());
    }
    ctx.out.line(format!(
        "{:<5}  {:<26} {:<20} {:<16} {}",
        "KIND", "MODEL", "PRICE", "USD", "TAKES · MAKES"
    ));
    for m in models {
        let (credits, usd) = list_price(m, price);
        let mut details = details(m);
        if !m.aliases.is_empty() {
            details.push(format!("alias {}", m.aliases.join(", ")));
        }
        ctx.out.line(
            format!(
                "{:<5}  {:<26} {credits:<20} {usd:<16} {}",
                m.kind.as_str(),
                m.id,
                details.join(" · ")
            )
            .trim_end(),
        );
    }
    if price.is_none() {
        ctx.out.note(format!("{provider} has no dollar price per credit; set one to see dollars"));
    }
    Ok(())
}

/// ImaginePro is priced per operation, from its table: every operation with its credits, "not
/// published" where ImaginePro gives none (or the configured price, marked as such).
/// With `name`, only the operations of that model or operation (`midjourney`, `flux`,
/// `nano-banana`, `remove-bg`, ...).
fn imaginepro_operations(ctx: &Ctx, name: Option<&str>) -> anyhow::Result<()> {
    let price = ctx.app.config.price(ProviderId::ImaginePro);
    let view = imaginepro_view(&ctx.app, name);
    if view.operations.is_empty() {
        let n = name.unwrap_or_default();
        return Err(CliError::usage(format!("ImaginePro has no model or operation `{n}`"))
            .hint("its models are midjourney, flux, nano-banana, lumi-girl and mj-video; `conjure models --provider imaginepro` lists every operation")
            .into());
    }
    if ctx.out.json {
        ctx.out.json_value(&view);
        return Ok(());
    }
    print_operations(ctx, &view, price);
    Ok(())
}

/// ImaginePro's operations with their credits: published, else configured, else unknown; with
/// `name`, those of that model or operation.
pub fn imaginepro_view(
    app: &conjure_app::App,
    name: Option<&str>,
) -> conjure_app::views::OperationsView {
    use conjure_app::views::{OperationView, OperationsView};
    use conjure_core::catalogue::imaginepro::operations;
    let price = app.config.price(ProviderId::ImaginePro);
    let configured = &app.config.imaginepro_prices;
    OperationsView {
        provider: ProviderId::ImaginePro,
        usd_per_credit: price.map(|p| p.micros_per_credit() as f64 / 1e6),
        operations: operations()
            .iter()
            .filter(|o| name.is_none_or(|n| operation_matches(o, n)))
            .map(|o| OperationView {
                operation: o.operation.clone(),
                model: o.model.clone(),
                method: o.method.clone(),
                path: o.path.clone(),
                alt_path: o.alt_path.clone(),
                credits: o.credits.or_else(|| configured.get(&o.operation).copied()),
                unit: o.unit,
                price_published: o.credits.is_some(),
                notes: o.notes.clone(),
            })
            .collect(),
    }
}

fn print_operations(
    ctx: &Ctx,
    view: &conjure_app::views::OperationsView,
    price: Option<CreditPrice>,
) {
    ctx.out.line(format!("{:<20} {:<32} {:<26} {}", "OPERATION", "MODEL", "CREDITS", "USD"));
    for o in &view.operations {
        let credits = match (o.credits, o.price_published) {
            (None, _) => "not published".to_owned(),
            (Some(c), true) => format!("{c} {}", unit_word(o.unit)),
            (Some(c), false) => format!("{c} (your config)"),
        };
        let usd = match (o.credits, price) {
            (Some(c), Some(p)) => format!("≈ {}", p.usd(c)),
            _ => String::new(),
        };
        ctx.out.line(
            format!(
                "{:<20} {:<32} {credits:<26} {usd}",
                o.operation,
                o.model.as_deref().unwrap_or("-")
            )
            .trim_end(),
        );
    }
    if price.is_none() {
        ctx.out.note("ImaginePro publishes no dollar price per credit; set `[imaginepro] usd_per_credit` to see dollar estimates");
    }
    ctx.out.note("an operation whose price is not published is refused while a cost limit is set, unless `[imaginepro.prices]` prices it");
}

/// Whether operation `o` belongs to what the user calls `name`: conjure's model names
/// (`nano-banana` is the universal endpoint, `flux` also its upscale, `mj-video` its video
/// operations), the table's model value, or the operation's own name.
fn operation_matches(o: &conjure_core::catalogue::imaginepro::Operation, name: &str) -> bool {
    let n = name.trim().to_ascii_lowercase();
    let op = o.operation.as_str();
    let model = o.model.as_deref().unwrap_or_default();
    let family = match n.as_str() {
        "midjourney" | "mj" => op.starts_with("mj_") && !op.starts_with("mj_video"),
        "flux" => op.starts_with("flux_"),
        "nano-banana" | "nano" => op == "universal_imagine",
        "lumi-girl" | "lumi" => op == "lumi_girl",
        "mj-video" => op.starts_with("mj_video"),
        "remove-bg" => op == "remove_bg",
        "enhance" => op == "prompt_extend",
        _ => false,
    };
    family || model.eq_ignore_ascii_case(&n) || op.eq_ignore_ascii_case(&n.replace('-', "_"))
}

fn unit_word(unit: conjure_core::catalogue::imaginepro::Unit) -> &'static str {
    use conjure_core::catalogue::imaginepro::Unit;
    match unit {
        Unit::PerJob => "per job",
        Unit::PerPress => "per press",
        Unit::PerImage => "per image",
        Unit::PerCall => "per call",
        Unit::PerRequest => "per request",
        Unit::PerVideo => "per video",
        Unit::PerPoll => "per poll",
    }
}

/// `--refresh`, `--diff`, or both.
async fn refresh_and_diff(ctx: &Ctx, args: &ModelsArgs) -> anyhow::Result<()> {
    let refreshed = if args.refresh {
        let (view, refreshed) = ctx.app.refresh_catalogue().await?;
        for s in &view.skipped {
            ctx.out.note(format!("left out of the refreshed catalogue: {s}"));
        }
        for k in &view.kept_from_built_in {
            ctx.out.warn(format!(
                "Katana's answer lists no {k} models; the built-in {k} models are kept as they were"
            ));
        }
        if let Some(problem) = &view.llms_problem {
            ctx.out.warn(format!(
                "{problem}; `conjure catalogue check` compares with the built-in catalogue's checksum"
            ));
        }
        if !args.diff {
            if ctx.out.json {
                ctx.out.json_value(&view);
            } else {
                for line in refresh_lines(&view) {
                    ctx.out.line(line);
                }
            }
            return Ok(());
        }
        if !ctx.out.json {
            for line in refresh_lines(&view) {
                ctx.out.note(line);
            }
        }
        let mut diff = diff_view(&refreshed);
        diff.refresh = Some(view);
        diff
    } else {
        ctx.app.catalogue_diff()?
    };
    if ctx.out.json {
        ctx.out.json_value(&refreshed);
    } else {
        print_diff(ctx, &refreshed);
    }
    Ok(())
}

fn refresh_lines(v: &RefreshView) -> Vec<String> {
    let kinds: Vec<String> = v.by_kind.iter().map(|(k, n)| format!("{n} {k}")).collect();
    let mut lines = vec![format!(
        "Refreshed the Katana catalogue from {}: {} models ({})",
        v.base_url,
        v.models,
        kinds.join(", ")
    )];
    if v.added + v.removed + v.repriced == 0 {
        lines.push("  the same models and prices as the built-in catalogue".to_owned());
    } else {
        lines.push(format!(
            "  against the built-in catalogue: {} added, {} removed, {} re-priced (`conjure models --diff` lists them)",
            v.added, v.removed, v.repriced
        ));
    }
    lines.push(format!("  cached in {}", v.path));
    lines
}

fn print_diff(ctx: &Ctx, d: &DiffView) {
    ctx.out.note(format!(
        "The Katana catalogue refreshed at {} from {}, against the built-in catalogue (synced {}):",
        d.refreshed_at, d.base_url, d.built_in_synced
    ));
    if d.diff.is_empty() {
        ctx.out.line("No models added, removed or re-priced");
        return;
    }
    ctx.out.line(format!("{:<10} {:<5}  {:<30} PRICE", "CHANGE", "KIND", "MODEL"));
    let row = |change: &str, kind: MediaKind, id: &str, price: String| {
        format!("{change:<10} {:<5}  {id:<30} {price}", kind.as_str())
    };
    for m in &d.diff.added {
        ctx.out.line(row("added", m.kind, &m.id, describe_pricing(&m.pricing)));
    }
    for m in &d.diff.removed {
        ctx.out.line(row(
            "removed",
            m.kind,
            &m.id,
            format!("was {}", describe_pricing(&m.pricing)),
        ));
    }
    for r in &d.diff.repriced {
        ctx.out.line(row("re-priced", r.kind, &r.id, r.change.clone()));
    }
}

/// One model by name, with errors that say what to do in this command.
fn resolve<'c>(
    ctx: &Ctx,
    catalogue: &'c Catalogue,
    provider: ProviderId,
    kind: Option<MediaKind>,
    name: &str,
) -> Result<&'c Model, CliError> {
    let model = match catalogue.resolve(provider, kind, name) {
        Ok(m) => m,
        Err(e @ CatalogueError::WrongKind { .. }) => {
            return Err(CliError::usage(e.to_string())
                .hint(format!("drop `--kind` to see it: `conjure models {name}`")));
        }
        Err(e)
            if provider == ProviderId::Katana
                && conjure_core::imaginepro::IMAGE_MODELS
                    .iter()
                    .chain([&conjure_core::imaginepro::MJ_VIDEO])
                    .any(|m| m.eq_ignore_ascii_case(name.trim())) =>
        {
            return Err(CliError::usage(e.to_string()).hint(format!(
                "`{name}` is ImaginePro's: `conjure models --provider imaginepro {name}`"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    if kind.is_none() {
        // Aliases are per kind (`default`): say when the name means other models too.
        let others: Vec<String> = [MediaKind::Image, MediaKind::Video, MediaKind::Text]
            .into_iter()
            .filter(|k| *k != model.kind)
            .filter_map(|k| catalogue.resolve(provider, Some(k), name).ok())
            .filter(|m| m.id != model.id)
            .map(|m| format!("`{}` ({}; `--kind {}`)", m.id, m.kind, m.kind))
            .collect();
        if !others.is_empty() {
            ctx.out.note(format!(
                "`{name}` also names {}; showing the {} model",
                others.join(", "),
                model.kind
            ));
        }
    }
    Ok(model)
}

/// `--max-price` as credits: a credit limit as given, a dollar limit at the provider's price.
fn max_credits(s: &str, price: Option<CreditPrice>) -> Result<Credits, CliError> {
    match parse_limit(s, "price limit")? {
        Limit::Credits(c) => Ok(c),
        Limit::Usd(usd) => {
            let p = price.ok_or_else(|| {
                CliError::usage(format!(
                    "`{s}` is in dollars, and this provider has no dollar price"
                ))
                .hint("give the limit in credits (`120cr`), or set the provider's price per credit")
            })?;
            // The largest whole tenth of a credit whose price is within the limit.
            let tenths = usd.micros() * 10 / p.micros_per_credit();
            Ok(Credits::from_tenths(tenths))
        }
    }
}

fn usd(price: Option<CreditPrice>, credits: Credits) -> String {
    price.map_or_else(|| "-".to_owned(), |p| p.usd(credits).to_string())
}

/// The list's price and dollar columns.
fn list_price(m: &Model, price: Option<CreditPrice>) -> (String, String) {
    match &m.pricing {
        Pricing::PerItem { credits } => (format!("{credits} cr/image"), usd(price, *credits)),
        Pricing::PerDuration { credits } => {
            let (d, c) = credits.iter().next().map_or((0, Credits::ZERO), |(d, c)| (*d, *c));
            let from = if credits.len() > 1 { "from " } else { "" };
            (format!("{from}{c} cr/{d}s"), usd(price, c))
        }
        Pricing::PerMillionTokens { input, output, .. } => (
            format!("{input}/{output} cr/1M"),
            match price {
                Some(p) => format!("{}/{}", p.usd(*input), p.usd(*output)),
                None => "-".to_owned(),
            },
        ),
    }
}

/// What a model takes and makes, in short words for the list.
fn details(m: &Model) -> Vec<String> {
    let mut d = Vec::new();
    match m.kind {
        MediaKind::Image => {
            d.push(match (m.requires_image, m.max_refs) {
                (true, 1) => "needs 1 image".to_owned(),
                (true, n) => format!("needs 1-{n} images"),
                (false, 0) => "text only".to_owned(),
                (false, n) => format!("up to {n} images"),
            });
            if m.uhd {
                d.push("uhd".to_owned());
            }
            if m.fast {
                d.push("fast".to_owned());
            }
        }
        MediaKind::Video => {
            let durations: Vec<String> = m.durations().iter().map(u32::to_string).collect();
            d.push(format!("{} s", durations.join("/")));
            d.push(match (m.requires_image, m.first_frame, m.last_frame) {
                (true, _, true) => "needs first frame, last frame".to_owned(),
                (true, _, false) => "needs first frame".to_owned(),
                (false, true, true) => "first+last frame".to_owned(),
                (false, true, false) => "first frame".to_owned(),
                (false, false, _) => "text only".to_owned(),
            });
            if m.max_refs > 0 {
                d.push(format!("{} refs", m.max_refs));
            }
            if m.audio_input {
                d.push("audio in".to_owned());
            }
            if m.video_input {
                d.push("video in".to_owned());
            }
            if m.audio_output {
                d.push("sound".to_owned());
            }
        }
        MediaKind::Text => {
            if let Some(p) = m.privacy {
                d.push(p.label().to_owned());
            }
            if let Some(ctx) = m.context_tokens {
                d.push(format!("{}k context", ctx / 1000));
            }
            if m.reads("image") {
                d.push("vision".to_owned());
            }
            if m.reads("file") {
                d.push("files".to_owned());
            }
        }
    }
    if m.legacy {
        d.push("legacy".to_owned());
    }
    d
}

fn yes_no(yes: bool, what_yes: &str, what_no: &str) -> String {
    if yes { format!("yes{what_yes}") } else { format!("no{what_no}") }
}

/// Everything the catalogue knows about one model, in words (`conjure models MODEL`).
fn card(m: &Model, price: Option<CreditPrice>) -> Vec<String> {
    let mut rows: Vec<(&str, String)> = Vec::new();
    let mut names = vec![m.id.clone()];
    if let Some(legacy) = &m.legacy_key {
        names.push(format!("legacy key {legacy}"));
    }
    if !m.aliases.is_empty() {
        names.push(format!("alias {}", m.aliases.join(", ")));
    }
    rows.push(("Names", names.join("; ")));
    let at = price.map(|p| format!(" (at {p} per credit)")).unwrap_or_default();
    let cost = |c: Credits| match price {
        Some(p) => format!("{c} credits ≈ {}", p.usd(c)),
        None => format!("{c} credits"),
    };
    match &m.pricing {
        Pricing::PerItem { credits } => {
            rows.push(("Price", format!("{} per image{at}", cost(*credits))));
        }
        Pricing::PerDuration { credits } => {
            for (i, (d, c)) in credits.iter().enumerate() {
                let label = if i == 0 { "Price" } else { "" };
                rows.push((label, format!("{d} s: {}", cost(*c))));
            }
            if !at.is_empty() {
                rows.push(("", at.trim().to_owned()));
            }
        }
        Pricing::PerMillionTokens { input, output, cache_read, cache_write } => {
            rows.push(("Price", format!("input {} per 1M tokens", cost(*input))));
            rows.push(("", format!("output {} per 1M tokens", cost(*output))));
            if let Some(c) = cache_read {
                rows.push(("", format!("cache read {} per 1M tokens", cost(*c))));
            }
            if let Some(c) = cache_write {
                rows.push(("", format!("cache write {} per 1M tokens", cost(*c))));
            }
            if !at.is_empty() {
                rows.push(("", at.trim().to_owned()));
            }
        }
    }
    if !m.aspects.is_empty() {
        rows.push(("Aspects", format!("{} (`--aspect`; or auto)", m.aspects.join(", "))));
    }
    match m.kind {
        MediaKind::Image => {
            rows.push((
                "Input images",
                match (m.requires_image, m.max_refs) {
                    (true, n) => format!("required: at least 1, up to {n} (`--ref`)"),
                    (false, 0) => "none: text-to-image only".to_owned(),
                    (false, n) => format!("optional: up to {n} (`--ref`), to edit or to follow"),
                },
            ));
            rows.push(("UHD", yes_no(m.uhd, " (`--uhd`)", "")));
            rows.push((
                "Fast mode",
                yes_no(m.fast, " (`--fast`)", " (`--fast` works on imgnAI-hosted models only)"),
            ));
            rows.push(("Prompt assist", yes_no(m.prompt_assist, ": a tag/booru model", "")));
        }
        MediaKind::Video => {
            let durations: Vec<String> = m.durations().iter().map(u32::to_string).collect();
            rows.push(("Durations", format!("{} s only (`--duration`)", durations.join(", "))));
            rows.push((
                "Input image",
                if m.requires_image {
                    "required: a first frame (`--first-frame`)".to_owned()
                } else if m.first_frame || m.max_refs > 0 {
                    "optional: text-to-video works".to_owned()
                } else {
                    "none: text-to-video only".to_owned()
                },
            ));
            rows.push(("First frame", yes_no(m.first_frame, " (`--first-frame`)", "")));
            rows.push(("Last frame", yes_no(m.last_frame, " (`--last-frame`)", "")));
            rows.push((
                "References",
                if m.max_refs > 0 {
                    format!("up to {} images (`--ref`)", m.max_refs)
                } else {
                    "none".to_owned()
                },
            ));
            rows.push((
                "Audio inputs",
                yes_no(m.audio_input, &format!(", up to {MAX_AUDIO_INPUTS} (`--audio`)"), ""),
            ));
            rows.push((
                "Input videos",
                yes_no(m.video_input, " (Katana's `video_list`, sent with `conjure submit`)", ""),
            ));
            rows.push((
                "Sound",
                if m.audio_output { "the video has sound" } else { "silent" }.to_owned(),
            ));
            for (i, r) in m.rules.iter().enumerate() {
                rows.push((if i == 0 { "Rules" } else { "" }, r.describe().to_owned()));
            }
        }
        MediaKind::Text => {
            if let Some(p) = m.privacy {
                let mut label = p.label().to_owned();
                if p == conjure_core::catalogue::Privacy::E2ee {
                    label.push_str(&format!(" (confidential compute: `conjure attest {}`)", m.id));
                }
                rows.push(("Privacy", label));
            }
            if let Some(c) = m.context_tokens {
                rows.push(("Context", format!("{c} tokens")));
            }
            rows.push((
                "Answer",
                m.max_output_tokens.map_or_else(
                    || "up to the provider's limit (not listed); --max-tokens sets it".to_owned(),
                    |n| format!("at most {n} tokens (--max-tokens)"),
                ),
            ));
            let reads: Vec<&str> = m
                .text_inputs
                .iter()
                .map(|i| match i.as_str() {
                    "image" => "images (--image)",
                    "file" => "files (--file URL)",
                    "video" => "video",
                    "audio" => "audio",
                    other => other,
                })
                .collect();
            rows.push((
                "Reads",
                if reads.is_empty() {
                    "text only".to_owned()
                } else {
                    format!("text, {}", reads.join(", "))
                },
            ));
            rows.push((
                "Billing",
                format!(
                    "by tokens; at least {} credits reserved up front, the unused part refunded; at least {} charged",
                    conjure_core::text::MIN_RESERVE,
                    conjure_core::text::MIN_CHARGE
                ),
            ));
            rows.push(("Use", format!("conjure text \"...\" --model {}", m.id)));
        }
    }
    if let Some(c) = &m.creator {
        rows.push(("Creator", c.clone()));
    }
    rows.push(("Legacy", yes_no(m.legacy, ": an older generation", "")));
    let notes: Vec<&str> = m
        .notes
        .split("; ")
        .filter(|n| {
            !n.is_empty()
                && !n.starts_with("aliases=")
                && !n.starts_with("custom_rules")
                && !n.starts_with("ctx=")
                && !n.starts_with("max_out=")
                && !n.starts_with("inputs=")
        })
        .collect();
    for (i, n) in notes.iter().enumerate() {
        rows.push((if i == 0 { "Notes" } else { "" }, (*n).to_owned()));
    }
    let by = m.creator.as_deref().map(|c| format!(", by {c}")).unwrap_or_default();
    std::iter::once(format!("{}: {} model on {}{by}", m.id, m.kind, m.provider))
        .chain(rows.into_iter().map(|(label, value)| format!("  {label:<14} {value}")))
        .collect()
}
