//! ImaginePro request bodies: validation and what each accepted body will produce and cost.
//!
//! Pure functions from a parsed JSON object to a [`Plan`] (or a [`BadRequest`] naming the field),
//! so the rules of the contract (`imaginepro-api.md` §3–§8) are tested without a server. Fields
//! are read in camelCase, except Flux's documented snake_case ones; unknown fields are ignored,
//! as the Python SDK sends `negativePrompt`, `cfgScale` and others the server may not use (§14.3).
//! Button presses need the message they press on, which lives in the store: [`button`] takes
//! the parent's facts as arguments and decides the rest here.
//!
//! Prices come from `conjure_core::catalogue::imaginepro` (the skill's credits table). An
//! operation whose price was never published is charged [`UNPUBLISHED_PRICE`]: the real price
//! is unknown, and charging nothing would let a client that forgets to account for it pass.

use conjure_core::catalogue::imaginepro;
use conjure_core::money::Credits;
use serde_json::{Map, Value};

/// Credits the sandbox charges for an operation whose real price is not published
/// (`/gemini/imagine`, `/video/mj/extend`, universal models other than `nano-banana-2`, buttons
/// other than U1–U4 and V1–V4).
pub const UNPUBLISHED_PRICE: i64 = 5;

/// The buttons of a Midjourney 4-image grid: upscale one, reroll, vary one.
pub(crate) const GRID_BUTTONS: &[&str] =
    &["U1", "U2", "U3", "U4", "\u{1f504}", "V1", "V2", "V3", "V4"];

/// The buttons of an upscaled single image (the result of U1–U4), §8.
pub(crate) const UPSCALED_BUTTONS: &[&str] = &[
    "Vary (Strong)",
    "Vary (Subtle)",
    "Vary (Region)",
    "Zoom Out 2x",
    "Zoom Out 1.5x",
    "\u{2b05}\u{fe0f}",
    "\u{27a1}\u{fe0f}",
    "\u{2b06}\u{fe0f}",
    "\u{2b07}\u{fe0f}",
    "Make Square",
    "Upscale (2x)",
    "Upscale (4x)",
    "Upscale (Creative)",
    "Upscale (Subtle)",
];

/// The buttons of an image upscaled again (`Upscale (2x)` and the like): no further upscales.
pub(crate) const REUPSCALED_BUTTONS: &[&str] = &[
    "Vary (Strong)",
    "Vary (Subtle)",
    "Vary (Region)",
    "Zoom Out 2x",
    "Zoom Out 1.5x",
    "\u{2b05}\u{fe0f}",
    "\u{27a1}\u{fe0f}",
    "\u{2b06}\u{fe0f}",
    "\u{2b07}\u{fe0f}",
    "Make Square",
];

/// A 400: the message names the field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BadRequest(pub String);

fn bad(message: impl Into<String>) -> BadRequest {
    BadRequest(message.into())
}

/// The base parameters every generation endpoint accepts (§3).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Base {
    pub reference: Option<String>,
    pub webhook: Option<String>,
}

/// What an accepted job produces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Output {
    /// `count` pictures of `size`, offering `buttons` once done.
    Images { count: u32, size: (u32, u32), buttons: &'static [&'static str] },
    /// `count` MJ videos of `size`.
    Video { count: u32, size: (u32, u32) },
}

/// An accepted body: what to charge and what to make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    /// The price table's operation (`mj_imagine_fast`, `flux_imagine`, ...).
    pub operation: &'static str,
    /// The table's model column for this row, when the operation has several rows.
    pub model: Option<String>,
    /// Units of the table's price (Flux's `n`; 1 otherwise).
    pub units: u32,
    /// What the placeholder names as the model (`midjourney (relax)`, `flux-1.1-pro`, ...).
    pub label: String,
    pub prompt: String,
    pub output: Output,
    pub base: Base,
    /// The pressed button, for a button job.
    pub button: Option<String>,
}

impl Plan {
    /// The price and whether it is the published one (false: [`UNPUBLISHED_PRICE`]).
    pub(crate) fn price(&self) -> (Credits, bool) {
        let published =
            imaginepro::operation(self.operation, self.model.as_deref()).and_then(|o| o.credits);
        let unit = published.unwrap_or(Credits::whole(UNPUBLISHED_PRICE));
        let total = (0..self.units).map(|_| unit).sum();
        (total, published.is_some())
    }
}

fn string<'a>(body: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, BadRequest> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad(format!("{field} must be a string."))),
    }
}

fn required<'a>(body: &'a Map<String, Value>, field: &str) -> Result<&'a str, BadRequest> {
    match string(body, field)? {
        Some(s) if !s.trim().is_empty() => Ok(s),
        _ => Err(bad(format!("{field} is required."))),
    }
}

fn integer(body: &Map<String, Value>, field: &str) -> Result<Option<i64>, BadRequest> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or_else(|| bad(format!("{field} must be an integer."))),
    }
}

fn url<'a>(body: &'a Map<String, Value>, field: &str) -> Result<&'a str, BadRequest> {
    let value = required(body, field)?;
    if value.starts_with("http://") || value.starts_with("https://") {
        Ok(value)
    } else {
        Err(bad(format!("{field} must be an http(s) URL.")))
    }
}

/// Reads and checks the base parameters.
pub(crate) fn base(body: &Map<String, Value>) -> Result<Base, BadRequest> {
    if let Some(v) = body.get("timeout").filter(|v| !v.is_null())
        && !v.is_number()
    {
        return Err(bad("timeout must be a number of seconds."));
    }
    if let Some(v) = body.get("disableCdn").filter(|v| !v.is_null())
        && !v.is_boolean()
    {
        return Err(bad("disableCdn must be a boolean."));
    }
    Ok(Base {
        reference: string(body, "ref")?.map(str::to_owned),
        webhook: string(body, "webhookOverride")?.map(str::to_owned),
    })
}

/// Whether a Midjourney prompt asks for relax mode (`--relax` as a word of its own).
pub(crate) fn is_relax(prompt: &str) -> bool {
    prompt.split_whitespace().any(|w| w == "--relax")
}

/// The size of one Midjourney picture: `--ar W:H` (or `--aspect`) with the long side 1024.
fn mj_size(prompt: &str) -> (u32, u32) {
    let words: Vec<&str> = prompt.split_whitespace().collect();
    let aspect = words
        .windows(2)
        .find(|w| w[0] == "--ar" || w[0] == "--aspect")
        .and_then(|w| w[1].split_once(':'))
        .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)))
        .filter(|(a, b)| *a > 0 && *b > 0 && *a <= 100 && *b <= 100);
    aspect.map_or((1024, 1024), |a| crate::media::image::size_for(a, 1024))
}

/// `POST /midjourney/imagine` and `/nova/imagine`.
pub(crate) fn mj_imagine(body: &Map<String, Value>) -> Result<Plan, BadRequest> {
    let base = base(body)?;
    let prompt = required(body, "prompt")?;
    let relax = is_relax(prompt);
    Ok(Plan {
        operation: if relax { "mj_imagine_relax" } else { "mj_imagine_fast" },
        model: None,
        units: 1,
        label: format!("midjourney ({})", if relax { "relax" } else { "fast" }),
        prompt: prompt.to_owned(),
        output: Output::Images { count: 4, size: mj_size(prompt), buttons: GRID_BUTTONS },
        base,
        button: None,
    })
}

/// What a button press needs to know about the message it presses on.
#[derive(Clone, Debug)]
pub(crate) struct Parent<'a> {
    pub prompt: &'a str,
    pub size: (u32, u32),
    /// The buttons it offers (empty unless it is done).
    pub buttons: &'a [&'a str],
}

/// The `messageId` and `button` of a button body, checked before the parent is looked up.
pub(crate) fn button_fields(body: &Map<String, Value>) -> Result<(&str, &str), BadRequest> {
    Ok((required(body, "messageId")?, required(body, "button")?))
}

/// `POST /midjourney/button` and `/nova/button`, once the parent is known to exist and be done.
pub(crate) fn button(body: &Map<String, Value>, parent: &Parent<'_>) -> Result<Plan, BadRequest> {
    let base = base(body)?;
    let (_, pressed) = button_fields(body)?;
    if !parent.buttons.contains(&pressed) {
        return Err(bad(format!(
            "button `{pressed}` is not offered by this message; it offers: {}.",
            parent.buttons.join(", ")
        )));
    }
    let mask = string(body, "mask")?;
    if pressed == "Vary (Region)" && mask.is_none_or(|m| m.trim().is_empty()) {
        return Err(bad("mask is required for Vary (Region)."));
    }
    let prompt = string(body, "prompt")?.filter(|p| !p.trim().is_empty()).unwrap_or(parent.prompt);
    let one = |buttons| Output::Images { count: 1, size: parent.size, buttons };
    let (operation, output) = match pressed {
        "U1" | "U2" | "U3" | "U4" => ("mj_button_upscale", one(UPSCALED_BUTTONS)),
        "V1" | "V2" | "V3" | "V4" => ("mj_button_variant", grid(parent.size)),
        p if p.starts_with("Upscale (") => ("mj_button_other", one(REUPSCALED_BUTTONS)),
        "Make Square" => {
            let side = parent.size.0.max(parent.size.1);
            ("mj_button_other", grid((side, side)))
        }
        _ => ("mj_button_other", grid(parent.size)),
    };
    Ok(Plan {
        operation,
        model: None,
        units: 1,
        label: format!("midjourney button {pressed}"),
        prompt: prompt.to_owned(),
        output,
        base,
        button: Some(pressed.to_owned()),
    })
}

fn grid(size: (u32, u32)) -> Output {
    Output::Images { count: 4, size, buttons: GRID_BUTTONS }
}

fn side(body: &Map<String, Value>, field: &str, max: i64) -> Result<u32, BadRequest> {
    let value = integer(body, field)?.unwrap_or(1024);
    if value < 8 || value > max || value % 8 != 0 {
        return Err(bad(format!("{field} must be a multiple of 8 between 8 and {max}.")));
    }
    u32::try_from(value).map_err(|_| bad(format!("{field} is out of range.")))
}

/// `POST /flux/imagine` (snake_case fields, §5.4).
pub(crate) fn flux_imagine(body: &Map<String, Value>) -> Result<Plan, BadRequest> {
    let base = base(body)?;
    let prompt = required(body, "prompt")?;
    let n = integer(body, "n")?.unwrap_or(1);
    if !(1..=4).contains(&n) {
        return Err(bad("n must be between 1 and 4."));
    }
    let size = (side(body, "width", 2048)?, side(body, "height", 2048)?);
    string(body, "aspect_ratio")?;
    if let Some(format) = string(body, "output_format")?
        && !matches!(format, "png" | "jpg" | "jpeg" | "webp")
    {
        return Err(bad("output_format must be png, jpg or webp."));
    }
    match body.get("output_quality") {
        None | Some(Value::Null | Value::String(_) | Value::Number(_)) => {}
        Some(_) => return Err(bad("output_quality must be a string such as \"100\".")),
    }
    if let Some(t) = body.get("timeout").and_then(Value::as_f64)
        && !(10.0..=900.0).contains(&t)
    {
        return Err(bad("timeout must be between 10 and 900 seconds."));
    }
    let model = string(body, "model")?.unwrap_or("flux-1.1-pro");
    let count = u32::try_from(n).map_err(|_| bad("n is out of range."))?;
    Ok(Plan {
        operation: "flux_imagine",
        model: None,
        units: count,
        label: model.to_owned(),
        prompt: prompt.to_owned(),
        output: Output::Images { count, size, buttons: &[] },
        base,
        button: None,
    })
}

/// `POST /flux/upscale`.
pub(crate) fn flux_upscale(body: &Map<String, Value>) -> Result<Plan, BadRequest> {
    let base = base(body)?;
    let image = url(body, "image")?;
    let scale = integer(body, "scale")?.unwrap_or(2);
    if !(2..=4).contains(&scale) {
        return Err(bad("scale must be an integer between 2 and 4."));
    }
    Ok(Plan {
        operation: "flux_upscale",
        model: None,
        units: 1,
        label: format!("flux upscale x{scale}"),
        prompt: format!("upscale of {image}"),
        output: Output::Images { count: 1, size: (1024, 1024), buttons: &[] },
        base,
        button: None,
    })
}

/// The prompt of a `contents` list: its text parts, joined.
fn contents(body: &Map<String, Value>) -> Result<String, BadRequest> {
    let Some(parts) = body.get("contents").and_then(Value::as_array).filter(|p| !p.is_empty())
    else {
        return Err(bad("contents is required: a list of text and image parts."));
    };
    let mut texts = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        match (part["type"].as_str(), part["text"].as_str(), part["url"].as_str()) {
            (Some("text"), Some(text), _) => texts.push(text),
            (Some("image"), _, Some(u))
                if u.starts_with("http://") || u.starts_with("https://") => {}
            _ => {
                return Err(bad(format!(
                    "contents[{i}] must be {{\"type\":\"text\",\"text\":…}} or \
                     {{\"type\":\"image\",\"url\":…}} with an http(s) URL."
                )));
            }
        }
    }
    if texts.is_empty() {
        return Err(bad("contents must include a text part."));
    }
    Ok(texts.join(" "))
}

fn model_of<'a>(
    body: &'a Map<String, Value>,
    default: &'a str,
    allowed: &[&str],
) -> Result<&'a str, BadRequest> {
    let model = string(body, "model")?.unwrap_or(default);
    if allowed.contains(&model) {
        Ok(model)
    } else {
        Err(bad(format!("model must be one of: {}.", allowed.join(", "))))
    }
}

/// `POST /universal/imagine` (§5.6).
pub(crate) fn universal_imagine(body: &Map<String, Value>) -> Result<Plan, BadRequest> {
    let base = base(body)?;
    let prompt = contents(body)?;
    let model = model_of(
        body,
        "nano-banana",
        &[
            "nano-banana",
            "nano-banana-2",
            "gemini-2.5-flash-image-preview",
            "gemini-3-pro-image-preview",
        ],
    )?;
    Ok(single("universal_imagine", Some(model), model.to_owned(), prompt, base))
}

/// `POST /gemini/imagine` (§5.8).
pub(crate) fn gemini_imagine(body: &Map<String, Value>) -> Result<Plan, BadRequest> {
    let base = base(body)?;
    let prompt = contents(body)?;
    let model = model_of(
        body,
        "gemini-2.5-flash-image-preview",
        &[
            "gemini-2.5-flash-image-preview",
            "flux-1.1-pro",
            "nano-banana",
            "nano-banana-2",
            "gemini-3-pro-image-preview",
        ],
    )?;
    Ok(single("gemini_imagine", Some(model), model.to_owned(), prompt, base))
}

fn single(
    operation: &'static str,
    model: Option<&str>,
    label: String,
    prompt: String,
    base: Base,
) -> Plan {
    Plan {
        operation,
        model: model.map(str::to_owned),
        units: 1,
        label,
        prompt,
        output: Output::Images { count: 1, size: (1024, 1024), buttons: &[] },
        base,
        button: None,
    }
}

/// `POST /universal/zimage`: Lumi Girl (§5.7).
pub(crate) fn zimage(body: &Map<String, Value>) -> Result<Plan, BadRequest> {
    let base = base(body)?;
    let prompt = required(body, "prompt")?;
    if let Some(steps) = integer(body, "steps")?
        && steps != 4
    {
        return Err(bad("steps must be 4."));
    }
    let size = (side(body, "width", 1024)?, side(body, "height", 1024)?);
    let mut plan = single("lumi_girl", None, "lumi-girl".into(), prompt.to_owned(), base);
    plan.output = Output::Images { count: 1, size, buttons: &[] };
    Ok(plan)
}

/// `POST /tools/remove-bg`.
pub(crate) fn remove_bg(body: &Map<String, Value>) -> Result<Plan, BadRequest> {
    let base = base(body)?;
    let image = url(body, "image")?;
    Ok(single(
        "remove_bg",
        None,
        "remove-bg".into(),
        format!("background removed from {image}"),
        base,
    ))
}

/// The number of videos an MJ video job makes (`results[].index` 0..4).
pub(crate) const VIDEOS: u32 = 4;
const VIDEO_SIZE: (u32, u32) = (480, 480);

/// `POST /video/mj/generate` (§5.9): both frames are required.
pub(crate) fn video_generate(body: &Map<String, Value>) -> Result<Plan, BadRequest> {
    let base = base(body)?;
    let prompt = required(body, "prompt")?;
    url(body, "startFrameUrl")?;
    url(body, "endFrameUrl")?;
    Ok(Plan {
        operation: "mj_video_generate",
        model: None,
        units: 1,
        label: "mj-video".into(),
        prompt: prompt.to_owned(),
        output: Output::Video { count: VIDEOS, size: VIDEO_SIZE },
        base,
        button: None,
    })
}

/// The `messageId` and `index` of an extend body, checked before the parent is looked up.
pub(crate) fn extend_fields(body: &Map<String, Value>) -> Result<(&str, u32), BadRequest> {
    let id = required(body, "messageId")?;
    let index = integer(body, "index")?.ok_or_else(|| bad("index is required."))?;
    let index = u32::try_from(index)
        .ok()
        .filter(|i| *i < VIDEOS)
        .ok_or_else(|| bad(format!("index must be between 0 and {}.", VIDEOS - 1)))?;
    Ok((id, index))
}

/// `POST /video/mj/extend`, once the parent is known to be a done video job.
pub(crate) fn video_extend(
    body: &Map<String, Value>,
    parent_prompt: &str,
) -> Result<Plan, BadRequest> {
    let base = base(body)?;
    let (_, index) = extend_fields(body)?;
    string(body, "animateMode")?;
    Ok(Plan {
        operation: "mj_video_extend",
        model: None,
        units: 1,
        label: format!("mj-video extend of video {index}"),
        prompt: parent_prompt.to_owned(),
        output: Output::Video { count: VIDEOS, size: VIDEO_SIZE },
        base,
        button: None,
    })
}

/// `POST /tools/prompt-extend`: the prompt to expand.
pub(crate) fn prompt_extend(body: &Map<String, Value>) -> Result<String, BadRequest> {
    Ok(required(body, "prompt")?.to_owned())
}

/// The sandbox's deterministic "expansion": the prompt, fixed detail words and a label saying
/// it is not a real model's output.
pub(crate) fn expand(prompt: &str) -> String {
    format!(
        "{}, highly detailed, balanced composition, soft natural light, sharp focus \
         [conjure sandbox: placeholder prompt expansion]",
        prompt.trim()
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[expect(clippy::needless_pass_by_value, reason = "called with json! literals")]
    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn relax_is_a_word_of_the_prompt() {
        assert!(is_relax("a cat --relax"));
        assert!(is_relax("--relax a cat --ar 16:9"));
        assert!(!is_relax("a cat --relaxed"));
        let fast = mj_imagine(&obj(json!({"prompt": "a cat"}))).unwrap();
        let relax = mj_imagine(&obj(json!({"prompt": "a cat --relax"}))).unwrap();
        assert_eq!(fast.price(), (Credits::whole(10), true));
        assert_eq!(relax.price(), (Credits::whole(5), true));
    }

    #[test]
    fn prices_follow_the_table_and_unpublished_ones_are_the_sandbox_price() {
        let flux = flux_imagine(&obj(json!({"prompt": "p", "n": 3}))).unwrap();
        assert_eq!(flux.price(), (Credits::whole(18), true));
        let nb2 = universal_imagine(&obj(json!({
            "contents": [{"type": "text", "text": "p"}], "model": "nano-banana-2"
        })))
        .unwrap();
        assert_eq!(nb2.price(), (Credits::whole(6), true));
        let nb =
            universal_imagine(&obj(json!({"contents": [{"type": "text", "text": "p"}]}))).unwrap();
        assert_eq!(nb.price(), (Credits::whole(UNPUBLISHED_PRICE), false));
        let up = flux_upscale(&obj(json!({"image": "https://x/y.png"}))).unwrap();
        assert_eq!(up.price(), (Credits::whole(2), true));
    }

    #[test]
    fn sizes_are_multiples_of_eight_within_bounds() {
        let lumi = |w: i64, h: i64| zimage(&obj(json!({"prompt": "p", "width": w, "height": h})));
        assert!(lumi(1024, 768).is_ok());
        assert_eq!(
            lumi(1030, 768).unwrap_err().0,
            "width must be a multiple of 8 between 8 and 1024."
        );
        assert!(lumi(1032, 768).is_err(), "Lumi sides stop at 1024");
        assert!(zimage(&obj(json!({"prompt": "p", "steps": 8}))).is_err());
        assert!(flux_imagine(&obj(json!({"prompt": "p", "width": 1036}))).is_err());
        assert!(flux_imagine(&obj(json!({"prompt": "p", "n": 5}))).is_err());
    }

    #[test]
    fn buttons_must_be_offered_and_region_needs_a_mask() {
        let parent = Parent { prompt: "a cat", size: (1024, 1024), buttons: GRID_BUTTONS };
        let press = |b: &str| button(&obj(json!({"messageId": "m", "button": b})), &parent);
        let up = press("U2").unwrap();
        assert_eq!(up.operation, "mj_button_upscale");
        assert!(matches!(up.output, Output::Images { count: 1, buttons: UPSCALED_BUTTONS, .. }));
        assert!(matches!(press("\u{1f504}").unwrap().output, Output::Images { count: 4, .. }));
        assert!(press("Zoom Out 2x").unwrap_err().0.contains("not offered"));
        let upscaled = Parent { buttons: UPSCALED_BUTTONS, ..parent };
        let region = button(&obj(json!({"messageId": "m", "button": "Vary (Region)"})), &upscaled);
        assert_eq!(region.unwrap_err().0, "mask is required for Vary (Region).");
    }

    #[test]
    fn video_needs_both_frames() {
        let body = json!({"prompt": "p", "startFrameUrl": "https://a/1.png"});
        assert_eq!(video_generate(&obj(body)).unwrap_err().0, "endFrameUrl is required.");
    }
}
