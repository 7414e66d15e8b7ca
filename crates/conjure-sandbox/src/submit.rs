//! Reading a `POST /v1/generation-requests` body into planned items, the way the real service
//! validates it.
//!
//! Three outcomes, in the order the service appears to check them:
//! - a malformed body (not JSON, no `requests` array, an item without `type`/`model`/`prompt`,
//!   a video without an integer `duration_seconds`) is `422 {"detail": …}`, FastAPI style;
//! - an `output` field anywhere, or a model that is not a canonical or legacy key of the right
//!   kind, is `400 {"detail": …}` (`no such model: X`); aliases such as `flux` are a client-side
//!   convenience and fail here like the shorthand names do on the real service;
//! - an item the catalogue says cannot succeed (aspect, duration, reference counts, required
//!   image, video rules, an empty `video_image_data`, an input that is neither an `https://` URL
//!   nor base64 data) makes the whole submission `rejected`: HTTP 200, envelope status
//!   `rejected`, nothing charged, and each item's `responses[].error` says why.
//!
//! The item checks reuse `conjure_core::spec::validate_item`, and the field names and aliases are
//! `conjure_providers::katana::vocab`, the client's own vocabulary, so the sandbox and the client
//! agree on the rules and the words by construction. (The sandbox also accepts what the service
//! tolerates and conjure never sends: a mid frame, `reference_assets` on video.) Pure functions only: no state, no IO.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use conjure_core::catalogue::{MediaKind, Model};
use conjure_core::money::Credits;
use conjure_core::spec::{
    ImageFormat, ImageItem, Item, MediaInput, SpecError, VideoClipInput, VideoItem, validate_item,
};
use conjure_providers::katana::vocab;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::catalogue::Served;

/// Why a submission was refused before validation of its items.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// `400 {"detail": …}`.
    BadRequest(String),
    /// `422 {"detail": …}`.
    Unprocessable(String),
}

/// One item as the sandbox will produce it.
#[derive(Clone, Debug)]
pub(crate) struct PlannedItem {
    pub kind: MediaKind,
    pub model: &'static Model,
    pub prompt: String,
    /// The concrete aspect the output has (`auto` becomes `1:1`).
    pub aspect: (u32, u32),
    pub format: ImageFormat,
    pub duration: Option<u32>,
    pub fast: bool,
    pub uhd: bool,
    /// The item's catalogue price; zero when the item is invalid.
    pub credits: Credits,
    /// The client's `id`, echoed in `responses[].id`.
    pub client_id: Option<String>,
    /// The submitted object, echoed in `requests[]` with the model normalised.
    pub echo: Map<String, Value>,
    /// Why the item cannot be produced; any such item rejects the submission.
    pub invalid: Option<String>,
}

/// Parses and validates a submission body.
pub(crate) fn plan(body: &[u8], catalogue: &'static Served) -> Result<Vec<PlannedItem>, BodyError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| BodyError::Unprocessable(format!("The body is not valid JSON: {e}")))?;
    let Value::Object(envelope) = value else {
        return Err(BodyError::Unprocessable("The body must be a JSON object".into()));
    };
    if envelope.contains_key(vocab::INTERNAL) {
        return Err(output_field());
    }
    let Some(Value::Array(requests)) = envelope.get("requests") else {
        return Err(BodyError::Unprocessable("Field `requests` must be an array".into()));
    };
    if requests.is_empty() {
        return Err(BodyError::Unprocessable("Field `requests` must not be empty".into()));
    }
    requests.iter().enumerate().map(|(i, item)| plan_item(i, item, catalogue)).collect()
}

fn output_field() -> BodyError {
    BodyError::BadRequest("Field `output` is for internal use only".into())
}

fn plan_item(
    index: usize,
    value: &Value,
    catalogue: &'static Served,
) -> Result<PlannedItem, BodyError> {
    let schema = |what: &str| BodyError::Unprocessable(format!("requests[{index}]: {what}"));
    let Value::Object(obj) = value else {
        return Err(schema("each request must be an object"));
    };
    if obj.contains_key(vocab::INTERNAL) {
        return Err(output_field());
    }
    let kind = match str_field(obj, "type") {
        Some("image") => MediaKind::Image,
        Some("video") => MediaKind::Video,
        Some(other) => return Err(schema(&format!("unsupported type `{other}`"))),
        None => return Err(schema("field `type` is required")),
    };
    let name = str_field(obj, "model").ok_or_else(|| schema("field `model` is required"))?;
    let model = catalogue
        .exact_of(kind, name)
        .ok_or_else(|| BodyError::BadRequest(format!("no such model: {name}")))?;
    let prompt = str_field(obj, "prompt").ok_or_else(|| schema("field `prompt` is required"))?;
    let duration = match kind {
        MediaKind::Video => Some(
            obj.get("duration_seconds")
                .and_then(Value::as_u64)
                .and_then(|d| u32::try_from(d).ok())
                .ok_or_else(|| schema("field `duration_seconds` must be a whole number"))?,
        ),
        _ => None,
    };
    let default_aspect = if kind == MediaKind::Video { "16:9" } else { "1:1" };
    let aspect_text = str_field(obj, "aspect_ratio").unwrap_or(default_aspect).trim().to_owned();
    let flag =
        |names: &[&str]| names.iter().any(|n| obj.get(*n).and_then(Value::as_bool) == Some(true));
    let fast = flag(vocab::FAST_FLAGS);
    let uhd = flag(vocab::UHD_FLAGS);

    let mut echo = obj.clone();
    echo.insert("model".into(), Value::String(model.id.clone()));

    let mut format = ImageFormat::Png;
    let checked = match kind {
        MediaKind::Image => {
            let requested = str_field(obj, "output_format").unwrap_or("png");
            match ImageFormat::parse(requested) {
                Some(f) => {
                    format = f;
                    image_item(obj, model, prompt, &aspect_text, f, fast, uhd)
                }
                None => {
                    Err(format!("Unsupported output_format `{requested}`; use png, jpeg or webp"))
                }
            }
        }
        _ => video_item(obj, model, prompt, &aspect_text, duration.unwrap_or_default()),
    };
    let invalid =
        checked.and_then(|item| validate_item(&item, model).map_err(|e| spec_message(&e))).err();
    let credits = if invalid.is_some() {
        Credits::ZERO
    } else {
        model.item_credits(duration).unwrap_or_default()
    };
    Ok(PlannedItem {
        kind,
        model,
        prompt: prompt.to_owned(),
        aspect: parse_aspect(&aspect_text).unwrap_or((1, 1)),
        format,
        duration,
        fast,
        uhd,
        credits,
        client_id: obj.get("id").and_then(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }),
        echo,
        invalid,
    })
}

fn str_field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    obj.get(name).and_then(Value::as_str)
}

/// `W:H` with both sides positive; `auto` is 1:1 (the sandbox does not look at input images).
pub(crate) fn parse_aspect(text: &str) -> Option<(u32, u32)> {
    if text == "auto" {
        return Some((1, 1));
    }
    let (w, h) = text.split_once(':')?;
    let (w, h): (u32, u32) = (w.trim().parse().ok()?, h.trim().parse().ok()?);
    (w > 0 && h > 0).then_some((w, h))
}

/// The server's wording for a failed catalogue check: the core's message without CLI hints.
fn spec_message(err: &SpecError) -> String {
    let text = err.to_string();
    match text.find(" (`--") {
        Some(start) => {
            let end = text[start..].find(')').map_or(text.len(), |e| start + e + 1);
            format!("{}{}", &text[..start], &text[end..])
        }
        None => text,
    }
}

/// Reads one input value: an `https://` URL, a `data:` URL or raw base64. Anything else
/// (`http://`, `file://`, a local path) fails the way the real service does.
fn media_input(value: &str) -> Result<Option<MediaInput>, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if value.len() > 8 && value[..8].eq_ignore_ascii_case("https://") {
        return Ok(Some(MediaInput::Url { url: value.to_owned() }));
    }
    let (mime, data) = match value.strip_prefix("data:") {
        Some(rest) => match rest.split_once(";base64,") {
            Some((mime, data)) => (mime.to_owned(), data),
            None => return Err(invalid_base64()),
        },
        None => ("application/octet-stream".to_owned(), value),
    };
    let bytes = STANDARD
        .decode(data)
        .or_else(|_| STANDARD_NO_PAD.decode(data))
        .map_err(|_| invalid_base64())?;
    if bytes.is_empty() {
        return Err(invalid_base64());
    }
    Ok(Some(MediaInput::Data {
        source: "inline".into(),
        mime,
        base64: data.to_owned(),
        sha256: hex::encode(Sha256::digest(&bytes)),
    }))
}

fn invalid_base64() -> String {
    "Invalid base64 data".to_owned()
}

/// Collects string inputs from list fields and single-value fields.
fn inputs_from(
    obj: &Map<String, Value>,
    lists: &[&str],
    singles: &[&str],
) -> Result<Vec<MediaInput>, String> {
    let mut out = Vec::new();
    for name in lists {
        match obj.get(*name) {
            None | Some(Value::Null) => {}
            Some(Value::Array(values)) => {
                for v in values {
                    let text = v.as_str().ok_or_else(|| format!("`{name}` must hold strings"))?;
                    out.extend(media_input(text)?);
                }
            }
            Some(_) => return Err(format!("`{name}` must be a list of strings")),
        }
    }
    for name in singles {
        match obj.get(*name) {
            None | Some(Value::Null) => {}
            Some(Value::String(text)) => out.extend(media_input(text)?),
            Some(_) => return Err(format!("`{name}` must be a string")),
        }
    }
    Ok(out)
}

const SINGLE_IMAGE_ALIASES: &[&str] = vocab::IMAGE_INPUT_SINGLES;

fn image_item(
    obj: &Map<String, Value>,
    model: &Model,
    prompt: &str,
    aspect: &str,
    format: ImageFormat,
    fast: bool,
    uhd: bool,
) -> Result<Item, String> {
    // `reference_assets` is silently ignored on image requests (the image workflow doc).
    let inputs = inputs_from(obj, vocab::IMAGE_INPUT_LISTS, SINGLE_IMAGE_ALIASES)?;
    Ok(Item::Image(ImageItem {
        model: model.id.clone(),
        prompt: prompt.to_owned(),
        aspect_ratio: aspect.to_owned(),
        format,
        inputs,
        negative_prompt: str_field(obj, "negative_prompt").map(str::to_owned),
        fast,
        uhd,
    }))
}

fn video_item(
    obj: &Map<String, Value>,
    model: &Model,
    prompt: &str,
    aspect: &str,
    duration: u32,
) -> Result<Item, String> {
    let empty = Map::new();
    let data = match obj.get("video_image_data") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(d)) if d.values().all(is_blank) => {
            return Err("`video_image_data` must not be empty".into());
        }
        Some(Value::Object(d)) => d,
        Some(_) => return Err("`video_image_data` must be an object".into()),
    };
    let mut first = inputs_from(data, &[], &[vocab::FIRST_FRAME])?;
    first.extend(inputs_from(obj, &[], SINGLE_IMAGE_ALIASES)?);
    if first.len() > 1 {
        return Err("Only one first frame may be given".into());
    }
    let last_frame = inputs_from(data, &[], &[vocab::LAST_FRAME])?;
    // A mid frame is accepted and ignored: no catalogue flag says which models use it.
    inputs_from(data, &[], &["mid_frame_image_url"])?;
    let mut references = inputs_from(data, &[vocab::REFERENCES], &[])?;
    references.extend(inputs_from(obj, &[vocab::REFERENCES], &[])?);
    let mut audio = inputs_from(data, &[vocab::AUDIO], &[])?;
    if let Some(assets) = obj.get("reference_assets").and_then(Value::as_array) {
        for asset in assets {
            let kind = asset.get("kind").and_then(Value::as_str).unwrap_or_default();
            let text =
                asset.get("url").or_else(|| asset.get("base64_data")).and_then(Value::as_str);
            let Some(input) = text.map(media_input).transpose()?.flatten() else { continue };
            match kind {
                "style_reference" | "reference_image" | "image" => references.push(input),
                "audio" | "source_audio" | "reference_audio" | "audio_reference" => {
                    audio.push(input);
                }
                _ => {}
            }
        }
    }
    let mut videos = Vec::new();
    match data.get(vocab::VIDEO_LIST) {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for clip in list {
                let url = clip.get("url").and_then(Value::as_str).unwrap_or_default();
                let Some(input) = media_input(url)? else {
                    return Err("Each `video_list` entry needs a `url`".into());
                };
                videos.push(VideoClipInput {
                    input,
                    start: clip.get("start").and_then(Value::as_f64),
                    end: clip.get(vocab::CLIP_END).and_then(Value::as_f64),
                });
            }
        }
        Some(_) => return Err("`video_list` must be a list".into()),
    }
    Ok(Item::Video(VideoItem {
        model: model.id.clone(),
        prompt: prompt.to_owned(),
        duration_seconds: duration,
        aspect_ratio: aspect.to_owned(),
        first_frame: first.pop(),
        last_frame: last_frame.into_iter().next(),
        references,
        audio,
        videos,
    }))
}

fn is_blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(body: &Value) -> Result<Vec<PlannedItem>, BodyError> {
        plan(body.to_string().as_bytes(), Served::bundled())
    }

    #[test]
    fn legacy_keys_normalise_and_price() {
        let items = run(&json!({"requests":[
            {"type":"image","model":"gpt2image","prompt":"a cat","aspect_ratio":"16:9"},
            {"type":"video","model":"seedance-2-0-fast","prompt":"waves","duration_seconds":10,"aspect_ratio":"9:16"}
        ]}))
        .unwrap();
        assert_eq!(items[0].model.id, "gpt-image-2");
        assert_eq!(items[0].echo["model"], "gpt-image-2");
        assert_eq!(items[0].credits, Credits::whole(14));
        assert_eq!(items[0].aspect, (16, 9));
        assert_eq!(items[1].credits, Credits::whole(230));
        assert!(items.iter().all(|i| i.invalid.is_none()));
    }

    #[test]
    fn unknown_models_and_aliases_are_400() {
        let err =
            run(&json!({"requests":[{"type":"image","model":"flux","prompt":"x"}]})).unwrap_err();
        assert_eq!(err, BodyError::BadRequest("no such model: flux".into()));
        let err = run(&json!({"requests":[{"type":"video","model":"gpt-image-2","prompt":"x","duration_seconds":5}]}))
            .unwrap_err();
        assert!(matches!(err, BodyError::BadRequest(_)));
    }

    #[test]
    fn output_field_is_400_and_schema_errors_are_422() {
        let err =
            run(&json!({"requests":[{"type":"image","model":"gen","prompt":"x","output":{}}]}))
                .unwrap_err();
        assert!(matches!(err, BodyError::BadRequest(_)));
        assert!(matches!(run(&json!({"requests":[]})), Err(BodyError::Unprocessable(_))));
        assert!(matches!(
            run(&json!({"requests":[{"model":"gen","prompt":"x"}]})),
            Err(BodyError::Unprocessable(_))
        ));
        assert!(matches!(
            run(&json!({"requests":[{"type":"video","model":"ltx-2-3","prompt":"x"}]})),
            Err(BodyError::Unprocessable(_))
        ));
    }

    #[test]
    fn invalid_items_carry_a_reason() {
        let reason = |body: Value| run(&body).unwrap().remove(0).invalid;
        assert!(reason(json!({"requests":[{"type":"image","model":"gen","prompt":"x","aspect_ratio":"2:7"}]}))
            .unwrap()
            .contains("aspect"));
        assert_eq!(
            reason(
                json!({"requests":[{"type":"image","model":"flux-2-pro","prompt":"x","image_urls":["/tmp/a.png"]}]})
            ),
            Some("Invalid base64 data".into())
        );
        assert_eq!(
            reason(
                json!({"requests":[{"type":"image","model":"flux-2-pro","prompt":"x","image_urls":["http://x/a.png"]}]})
            ),
            Some("Invalid base64 data".into())
        );
        assert!(reason(json!({"requests":[{"type":"video","model":"ltx-2-3","prompt":"x","duration_seconds":7}]}))
            .unwrap()
            .contains("duration"));
        assert!(
            reason(json!({"requests":[{"type":"video","model":"ltx-2-3","prompt":"x","duration_seconds":5,"video_image_data":{}}]}))
                .unwrap()
                .contains("empty")
        );
        let needs =
            reason(json!({"requests":[{"type":"image","model":"nano-banana","prompt":"x"}]}))
                .unwrap();
        assert!(needs.contains("requires") && !needs.contains("--"), "{needs}");
        let ok = reason(json!({"requests":[{"type":"image","model":"flux-2-pro","prompt":"x",
            "image_urls":["https://x/a.png","data:image/png;base64,iVBORw0KGgo="]}]}));
        assert_eq!(ok, None);
    }

    #[test]
    fn aspects_parse() {
        assert_eq!(parse_aspect("21:9"), Some((21, 9)));
        assert_eq!(parse_aspect("auto"), Some((1, 1)));
        assert_eq!(parse_aspect("0:1"), None);
        assert_eq!(parse_aspect("wide"), None);
    }
}
