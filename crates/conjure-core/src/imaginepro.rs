//! ImaginePro's requests in conjure's terms: which items it takes, the rules they must follow,
//! and which priced operation of `data/imaginepro-models.tsv` each one is.
//!
//! ImaginePro is priced per operation, not per model, and its prices are incomplete, so it does
//! not go through the Katana catalogue: [`validate`] and [`item_price`] replace the catalogue
//! lookups for `ProviderId::ImaginePro`.
//!
//! Items, by what the user types:
//! - `midjourney`, `flux`, `nano-banana`, `lumi-girl`: [`Item::Image`]. Flux's `--count n` is
//!   n identical items, sent as one request with `n` and quoted n times (6 credits each).
//! - `mj-video`: [`Item::Video`] with both frames (URLs) required.
//! - a button press on an earlier Midjourney job: [`Item::Button`], the child of that job.
//! - `flux-upscale` (scale 2..=4) and `remove-bg`: [`Item::Tool`].
//!
//! Decisions on the spec's open questions (imaginepro-api.md §15) made here:
//! - §15.7 fast vs relax: the mode is read from the final prompt text, the text that is sent.
//!   ` --relax` in it means relax (5 credits), whoever typed it; `--mode relax` appends
//!   ` --relax` unless present ([`apply_mode`]); `--mode fast` never removes a typed `--relax`
//!   (the wire text decides what ImaginePro charges, so the quote follows the wire text).
//! - §15.5 unpriced operations (every button but U/V, Nano Banana models other than
//!   `nano-banana-2`): quoted as "price not published", never as a guessed number. The line's
//!   credits are zero and flagged `unpriced`; the quote's total leaves them out and has no dollar
//!   amount. `conjure_core::policy` refuses such a quote while any cost limit is set, unless the
//!   configuration prices the operation (`[imaginepro.prices] mj_button_other = 5`, a
//!   [`PriceTable`]). Config prices only fill gaps: a published price is never overridden.
//! - `nano-banana` means the skill's `nano-banana-2` (the only priced universal model).
//! - Inputs are URLs only: ImaginePro fetches them itself and takes no uploads, so a local file
//!   is refused with [`SpecError::UrlOnly`]. `http://` is allowed as well as `https://` because
//!   ImaginePro, not conjure, fetches it and no credential goes with it.
//! - Lumi Girl's size: from `--aspect` when it is not the default 1:1, else from `--ar W:H` (or
//!   `--aspect W:H`, `--aspect-ratio W:H`) in the prompt, else 1:1; the long side is 1024 and
//!   both sides are rounded down to a multiple of 8 (at least 8), as the skill's helper does.
//!   The prompt is sent unchanged.
//!
//! What it does not do: build wire bodies (`conjure-providers/src/imaginepro/`) or decide limits
//! (`policy`).

use std::collections::BTreeMap;

use crate::catalogue::imaginepro::{Operation, operation};
use crate::money::Credits;
use crate::spec::{ImageItem, Item, JobSpec, MediaInput, SpecError, Tool};

pub const MIDJOURNEY: &str = "midjourney";
pub const FLUX: &str = "flux";
pub const NANO_BANANA: &str = "nano-banana";
pub const LUMI_GIRL: &str = "lumi-girl";
pub const MJ_VIDEO: &str = "mj-video";
/// The image models `conjure image --provider imaginepro --model` takes.
pub const IMAGE_MODELS: [&str; 4] = [MIDJOURNEY, FLUX, NANO_BANANA, LUMI_GIRL];
/// The universal model `nano-banana` is sent as (the skill's, and the only priced one).
pub const NANO_BANANA_WIRE_MODEL: &str = "nano-banana-2";
/// The most images one Flux request makes.
pub const MAX_FLUX_COUNT: usize = 4;
/// Lumi Girl's long side.
pub const LUMI_LONG_SIDE: u32 = 1024;
/// The wire value of the button that takes a mask and a prompt.
pub const VARY_REGION: &str = "Vary (Region)";

/// Credits for operations ImaginePro does not price, from the configuration, by operation name
/// (`mj_button_other`, `universal_imagine`, ...).
pub type PriceTable = BTreeMap<String, Credits>;

/// Midjourney's speed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Fast,
    Relax,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Mode> {
        match s.trim().to_ascii_lowercase().as_str() {
            "fast" => Some(Mode::Fast),
            "relax" => Some(Mode::Relax),
            _ => None,
        }
    }
}

/// Whether the prompt asks Midjourney for relax mode (a `--relax` word in it).
pub fn is_relax(prompt: &str) -> bool {
    prompt.split_whitespace().any(|w| w.eq_ignore_ascii_case("--relax"))
}

/// The prompt to send in `mode`: relax appends ` --relax` unless the prompt has it already.
pub fn apply_mode(prompt: &str, mode: Mode) -> String {
    match mode {
        Mode::Relax if !is_relax(prompt) => format!("{} --relax", prompt.trim_end()),
        _ => prompt.to_owned(),
    }
}

/// The `W:H` after `--ar`, `--aspect` or `--aspect-ratio` in a prompt, if any.
pub fn prompt_aspect(prompt: &str) -> Option<&str> {
    let mut words = prompt.split_whitespace();
    while let Some(w) = words.next() {
        if matches!(w, "--ar" | "--aspect" | "--aspect-ratio") {
            return words.next();
        }
    }
    None
}

/// The aspect a Lumi Girl image is made at: `--aspect` unless it is the default, else the
/// prompt's `--ar`, else 1:1.
pub fn lumi_aspect(item: &ImageItem) -> &str {
    if item.aspect_ratio != "1:1" && item.aspect_ratio != "auto" {
        return &item.aspect_ratio;
    }
    prompt_aspect(&item.prompt).unwrap_or("1:1")
}

/// Lumi Girl's width and height for `aspect` (`W:H`): the long side 1024, both multiples of 8,
/// rounded down.
pub fn lumi_size(aspect: &str) -> Result<(u32, u32), SpecError> {
    let bad = || SpecError::LumiAspect { aspect: aspect.to_owned() };
    let (w, h) = aspect.split_once(':').ok_or_else(bad)?;
    let w: u64 = w.trim().parse().map_err(|_| bad())?;
    let h: u64 = h.trim().parse().map_err(|_| bad())?;
    if w == 0 || h == 0 {
        return Err(bad());
    }
    let long = u64::from(LUMI_LONG_SIDE);
    let side = |a: u64, b: u64| -> u32 {
        let scaled = if a >= b { long } else { long * a / b };
        let rounded = (scaled / 8 * 8).clamp(8, long);
        u32::try_from(rounded).unwrap_or(LUMI_LONG_SIDE)
    };
    Ok((side(w, h), side(h, w)))
}

/// Which table row a button's wire value is priced by.
fn button_operation(button: &str) -> &'static str {
    let mut chars = button.chars();
    match (chars.next(), chars.next(), chars.next()) {
        (Some('U'), Some('1'..='4'), None) => "mj_button_upscale",
        (Some('V'), Some('1'..='4'), None) => "mj_button_variant",
        _ => "mj_button_other",
    }
}

/// The operation `item` is, with the model row it is priced by.
pub fn item_operation(item: &Item) -> Result<&'static Operation, SpecError> {
    let (name, model) = match item {
        Item::Image(i) => match i.model.as_str() {
            MIDJOURNEY if is_relax(&i.prompt) => ("mj_imagine_relax", None),
            MIDJOURNEY => ("mj_imagine_fast", None),
            FLUX => ("flux_imagine", None),
            NANO_BANANA => ("universal_imagine", Some(NANO_BANANA_WIRE_MODEL)),
            LUMI_GIRL => ("lumi_girl", None),
            other => return Err(unknown_model(other, "image")),
        },
        Item::Video(v) if v.model == MJ_VIDEO => ("mj_video_generate", None),
        Item::Video(v) => return Err(unknown_model(&v.model, "video")),
        Item::Text(t) => {
            return Err(SpecError::NotSupported { model: t.model.clone(), what: "text" });
        }
        Item::Button(b) => (button_operation(&b.button), None),
        Item::Tool(t) => match t.tool {
            Tool::Upscale { .. } => ("flux_upscale", None),
            Tool::RemoveBg => ("remove_bg", None),
        },
    };
    operation(name, model).ok_or_else(|| unknown_model(item.model(), "operation"))
}

fn unknown_model(name: &str, kind: &str) -> SpecError {
    let suggestions = match kind {
        "image" => IMAGE_MODELS.iter().map(|m| (*m).to_owned()).collect(),
        "video" => vec![MJ_VIDEO.to_owned()],
        _ => Vec::new(),
    };
    SpecError::Catalogue(crate::catalogue::CatalogueError::UnknownModel {
        name: name.to_owned(),
        kind: kind.to_owned(),
        suggestions,
    })
}

/// How many images one item makes: a Midjourney imagine, variation, reroll, zoom, pan or
/// make-square is a grid of 4; an upscale (a `U` button, `Upscale (...)`), Flux image, tool,
/// Nano Banana or Lumi Girl image is one. Used to check `-o` before paying; delivery writes
/// whatever the provider returns.
pub fn images_per_item(item: &Item) -> usize {
    match item {
        Item::Image(i) if i.model == MIDJOURNEY => 4,
        Item::Button(b) => match button_operation(&b.button) {
            "mj_button_upscale" => 1,
            _ if b.button.starts_with("Upscale (") => 1,
            _ => 4,
        },
        _ => 1,
    }
}

/// What one item costs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinePrice {
    /// The table's operation name (`mj_imagine_relax`, `mj_button_other`, ...).
    pub operation: &'static str,
    /// `None`: ImaginePro publishes no price and the configuration gives none.
    pub credits: Option<Credits>,
    /// The price comes from the configuration, not from ImaginePro.
    pub from_config: bool,
}

/// The price of one item: the published one, else the configuration's, else none.
pub fn item_price(item: &Item, prices: &PriceTable) -> Result<LinePrice, SpecError> {
    let op = item_operation(item)?;
    let published = op.credits;
    let configured = prices.get(&op.operation).copied();
    Ok(LinePrice {
        operation: op.operation.as_str(),
        credits: published.or(configured),
        from_config: published.is_none() && configured.is_some(),
    })
}

/// One line describing an ImaginePro item, for quotes and summaries (after its model name).
pub fn detail(item: &Item) -> String {
    match item {
        Item::Image(i) => match i.model.as_str() {
            MIDJOURNEY if is_relax(&i.prompt) => "grid of 4, relax mode".to_owned(),
            MIDJOURNEY => "grid of 4, fast mode".to_owned(),
            LUMI_GIRL => match lumi_size(lumi_aspect(i)) {
                Ok((w, h)) => format!("{w}x{h}"),
                Err(_) => "image".to_owned(),
            },
            NANO_BANANA if !i.inputs.is_empty() => {
                format!("{} reference image(s)", i.inputs.len())
            }
            _ => "image".to_owned(),
        },
        Item::Video(_) => "from a first and a last frame".to_owned(),
        other => other.detail(),
    }
}

/// Checks an ImaginePro request: known models, URL inputs, one item except Flux's identical
/// batch of 1..=4, the Lumi size, both video frames, a button's mask rule, the upscale scale.
pub fn validate(spec: &JobSpec) -> Result<(), SpecError> {
    let Some(first) = spec.items.first() else {
        return Err(SpecError::NoItems);
    };
    if spec.items.len() > 1 {
        let flux = matches!(first, Item::Image(i) if i.model == FLUX);
        if !flux || spec.items.iter().any(|i| i != first) {
            return Err(SpecError::Rule {
                model: first.model().to_owned(),
                rule: "one ImaginePro request makes one job; only Flux makes several alike images at once (`--count`)",
            });
        }
        if spec.items.len() > MAX_FLUX_COUNT {
            return Err(SpecError::OutOfRange {
                what: "--count",
                range: "1 to 4 for Flux",
                got: spec.items.len().to_string(),
            });
        }
    }
    for item in &spec.items {
        validate_item(item)?;
    }
    Ok(())
}

fn url_only(input: &MediaInput) -> Result<(), SpecError> {
    match input {
        MediaInput::Url { url } => {
            let lower = url.to_ascii_lowercase();
            if lower.starts_with("https://") || lower.starts_with("http://") {
                Ok(())
            } else {
                Err(SpecError::UrlOnly { input: url.clone() })
            }
        }
        MediaInput::File(f) => Err(SpecError::UrlOnly { input: f.path.clone() }),
        MediaInput::Data { source, .. } => Err(SpecError::UrlOnly { input: source.clone() }),
    }
}

fn validate_item(item: &Item) -> Result<(), SpecError> {
    item_operation(item)?;
    for (_, input) in item.inputs() {
        url_only(input)?;
    }
    let model = || item.model().to_owned();
    match item {
        Item::Image(i) => {
            if i.prompt.trim().is_empty() {
                return Err(SpecError::EmptyPrompt);
            }
            if !i.inputs.is_empty() && i.model != NANO_BANANA {
                return Err(SpecError::NotSupported {
                    model: model(),
                    what: "input images (`--ref` is Nano Banana's; Midjourney takes image URLs in the prompt)",
                });
            }
            if i.fast || i.uhd {
                return Err(SpecError::NotSupported {
                    model: model(),
                    what: "`--fast`/`--uhd` (Midjourney's speed is `--mode fast|relax`)",
                });
            }
            if i.negative_prompt.is_some() {
                return Err(SpecError::NotSupported {
                    model: model(),
                    what: "a negative prompt (Midjourney takes `--no ...` in the prompt)",
                });
            }
            if i.model == LUMI_GIRL {
                lumi_size(lumi_aspect(i))?;
            }
            Ok(())
        }
        Item::Video(v) => {
            if v.prompt.trim().is_empty() {
                return Err(SpecError::EmptyPrompt);
            }
            if v.first_frame.is_none() || v.last_frame.is_none() {
                return Err(SpecError::Requires {
                    model: model(),
                    what: "both a first and a last frame (`--first-frame URL --last-frame URL`)",
                });
            }
            if !v.references.is_empty() || !v.audio.is_empty() || !v.videos.is_empty() {
                return Err(SpecError::NotSupported {
                    model: model(),
                    what: "reference images, audio or input videos",
                });
            }
            Ok(())
        }
        Item::Text(_) => Err(SpecError::NotSupported { model: model(), what: "text" }),
        Item::Button(b) => {
            if b.button.trim().is_empty() || b.parent_message.trim().is_empty() {
                return Err(SpecError::Requires {
                    model: model(),
                    what: "a parent job with a message id and a button",
                });
            }
            if b.button != VARY_REGION && (b.mask.is_some() || b.prompt.is_some()) {
                return Err(SpecError::Rule {
                    model: model(),
                    rule: "`--mask` and `--prompt` go with the `vary-region` button only",
                });
            }
            Ok(())
        }
        Item::Tool(t) => match t.tool {
            Tool::Upscale { scale } if !(2..=4).contains(&scale) => Err(SpecError::OutOfRange {
                what: "--scale",
                range: "2, 3 or 4",
                got: scale.to_string(),
            }),
            _ => Ok(()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::ProviderId;
    use crate::spec::{ButtonItem, FileRef, ToolItem, VideoItem};

    fn url(u: &str) -> MediaInput {
        MediaInput::Url { url: u.to_owned() }
    }

    fn spec(items: Vec<Item>) -> JobSpec {
        JobSpec::new(ProviderId::ImaginePro, items)
    }

    fn image(model: &str, prompt: &str) -> Item {
        Item::Image(ImageItem::new(model, prompt))
    }

    fn button(b: &str) -> ButtonItem {
        ButtonItem {
            parent: "j1".into(),
            parent_message: "m1".into(),
            button: b.into(),
            mask: None,
            prompt: None,
        }
    }

    fn video(first: Option<&str>, last: Option<&str>) -> Item {
        Item::Video(VideoItem {
            model: MJ_VIDEO.into(),
            prompt: "smooth motion transition".into(),
            duration_seconds: 5,
            aspect_ratio: "1:1".into(),
            first_frame: first.map(url),
            last_frame: last.map(url),
            references: vec![],
            audio: vec![],
            videos: vec![],
        })
    }

    #[test]
    fn relax_is_read_from_the_prompt_and_appended_once() {
        assert!(is_relax("a cat --relax"));
        assert!(is_relax("a cat --RELAX --ar 3:4"));
        assert!(!is_relax("a cat --relaxed"));
        assert_eq!(apply_mode("a cat", Mode::Relax), "a cat --relax");
        assert_eq!(apply_mode("a cat --relax", Mode::Relax), "a cat --relax");
        assert_eq!(apply_mode("a cat --relax", Mode::Fast), "a cat --relax");
        assert_eq!(apply_mode("a cat", Mode::Fast), "a cat");
        assert_eq!(Mode::parse("Relax"), Some(Mode::Relax));
        assert_eq!(Mode::parse("turbo"), None);
    }

    #[test]
    fn midjourney_price_follows_the_final_prompt() {
        let none = PriceTable::new();
        let fast = item_price(&image(MIDJOURNEY, "a cat"), &none).unwrap();
        assert_eq!((fast.operation, fast.credits), ("mj_imagine_fast", Some(Credits::whole(10))));
        let typed = item_price(&image(MIDJOURNEY, "a cat --relax"), &none).unwrap();
        assert_eq!(typed.credits, Some(Credits::whole(5)));
    }

    #[test]
    fn lumi_size_rule() {
        assert_eq!(lumi_size("1:1").unwrap(), (1024, 1024));
        assert_eq!(lumi_size("16:9").unwrap(), (1024, 576));
        assert_eq!(lumi_size("3:4").unwrap(), (768, 1024));
        assert_eq!(lumi_size("2:3").unwrap(), (680, 1024), "682.67 rounds down to 680");
        assert_eq!(lumi_size("7:5").unwrap(), (1024, 728), "731.4 rounds down to 728");
        assert_eq!(lumi_size("1000:1").unwrap(), (1024, 8), "never below 8");
        assert!(matches!(lumi_size("wide"), Err(SpecError::LumiAspect { .. })));
        assert!(matches!(lumi_size("0:1"), Err(SpecError::LumiAspect { .. })));
        let mut from_prompt = ImageItem::new(LUMI_GIRL, "a girl --ar 9:16 --style raw");
        assert_eq!(lumi_aspect(&from_prompt), "9:16");
        from_prompt.aspect_ratio = "4:3".into();
        assert_eq!(lumi_aspect(&from_prompt), "4:3", "--aspect wins over the default");
        assert!(matches!(
            validate(&spec(vec![image(LUMI_GIRL, "x --ar 3:x")])),
            Err(SpecError::LumiAspect { .. })
        ));
    }

    #[test]
    fn flux_count_is_identical_items_one_to_four() {
        let four = spec(vec![image(FLUX, "a fox"); 4]);
        assert!(validate(&four).is_ok());
        assert!(matches!(
            validate(&spec(vec![image(FLUX, "a fox"); 5])),
            Err(SpecError::OutOfRange { what: "--count", .. })
        ));
        assert!(matches!(
            validate(&spec(vec![image(FLUX, "a fox"), image(FLUX, "a dog")])),
            Err(SpecError::Rule { .. })
        ));
        assert!(matches!(
            validate(&spec(vec![image(MIDJOURNEY, "a fox"); 2])),
            Err(SpecError::Rule { .. })
        ));
    }

    #[test]
    fn inputs_are_urls_only() {
        let mut nb = ImageItem::new(NANO_BANANA, "a fox");
        nb.inputs.push(url("https://x/a.png"));
        assert!(validate(&spec(vec![Item::Image(nb.clone())])).is_ok());
        nb.inputs.push(MediaInput::File(FileRef {
            path: "/home/me/a.png".into(),
            mime: "image/png".into(),
            sha256: "00".into(),
            bytes: 1,
        }));
        let err = validate(&spec(vec![Item::Image(nb)])).unwrap_err();
        assert!(matches!(&err, SpecError::UrlOnly { input } if input == "/home/me/a.png"));
        assert!(err.hint().unwrap().contains("https://"));
        let mut mj = ImageItem::new(MIDJOURNEY, "a fox");
        mj.inputs.push(url("https://x/a.png"));
        assert!(matches!(
            validate(&spec(vec![Item::Image(mj)])),
            Err(SpecError::NotSupported { .. })
        ));
    }

    #[test]
    fn video_needs_both_frames() {
        assert!(
            validate(&spec(vec![video(Some("https://x/a.png"), Some("https://x/b.png"))])).is_ok()
        );
        for (f, l) in
            [(Some("https://x/a.png"), None), (None, Some("https://x/b.png")), (None, None)]
        {
            assert!(matches!(validate(&spec(vec![video(f, l)])), Err(SpecError::Requires { .. })));
        }
        let p = item_price(&video(Some("https://x/a"), Some("https://x/b")), &PriceTable::new());
        assert_eq!(p.unwrap().credits, Some(Credits::whole(10)));
    }

    #[test]
    fn buttons_are_priced_by_kind_and_unpublished_prices_stay_unpublished() {
        let none = PriceTable::new();
        let price = |b: &str| item_price(&Item::Button(button(b)), &none).unwrap();
        assert_eq!(price("U1").credits, Some(Credits::whole(5)));
        assert_eq!(price("V4").operation, "mj_button_variant");
        assert_eq!(price("U5").operation, "mj_button_other");
        let reroll = price("🔄");
        assert_eq!(
            (reroll.operation, reroll.credits, reroll.from_config),
            ("mj_button_other", None, false)
        );
        let mut prices = PriceTable::new();
        prices.insert("mj_button_other".into(), Credits::whole(7));
        prices.insert("mj_button_upscale".into(), Credits::whole(1));
        let configured = item_price(&Item::Button(button("🔄")), &prices).unwrap();
        assert_eq!((configured.credits, configured.from_config), (Some(Credits::whole(7)), true));
        let published = item_price(&Item::Button(button("U2")), &prices).unwrap();
        assert_eq!(
            published.credits,
            Some(Credits::whole(5)),
            "config never overrides a published price"
        );
    }

    #[test]
    fn mask_goes_with_vary_region_only() {
        let mut b = button(VARY_REGION);
        b.mask = Some(url("https://x/mask.png"));
        b.prompt = Some("a hat".into());
        assert!(validate(&spec(vec![Item::Button(b.clone())])).is_ok());
        b.button = "U1".into();
        assert!(matches!(validate(&spec(vec![Item::Button(b)])), Err(SpecError::Rule { .. })));
    }

    #[test]
    fn tools() {
        let tool = |t| Item::Tool(ToolItem { tool: t, image: url("https://x/a.png") });
        for scale in 2..=4 {
            assert!(validate(&spec(vec![tool(Tool::Upscale { scale })])).is_ok());
        }
        for scale in [0, 1, 5] {
            assert!(matches!(
                validate(&spec(vec![tool(Tool::Upscale { scale })])),
                Err(SpecError::OutOfRange { what: "--scale", .. })
            ));
        }
        let none = PriceTable::new();
        assert_eq!(
            item_price(&tool(Tool::Upscale { scale: 2 }), &none).unwrap().credits,
            Some(Credits::whole(2))
        );
        assert_eq!(
            item_price(&tool(Tool::RemoveBg), &none).unwrap().credits,
            Some(Credits::whole(5))
        );
    }

    #[test]
    fn unknown_models_are_refused_with_the_list() {
        let err = validate(&spec(vec![image("dall-e", "x")])).unwrap_err();
        assert!(err.to_string().contains("dall-e"), "{err}");
    }
}
