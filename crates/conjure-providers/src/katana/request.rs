//! Katana's request vocabulary, once: the builder of a submit body, the field names and
//! aliases it is written in, and the inverse parser `conjure submit` reads raw payloads with.
//!
//! [`build_request`] writes the one canonical form (`image_urls`, `is_fast`, `is_uhd`,
//! `video_image_data`, item ids `item-N`); [`parse_request`] reads that form and every
//! documented alias into the same [`JobSpec`], refusing fields it does not know by name (rather
//! than dropping them) and the internal `output` field. Both are pure: inputs are turned into
//! [`MediaInput`]s by a resolver the caller passes (the application resolves local files; the
//! default, [`wire_input`], takes only `https://` and `data:` URLs). The sandbox checks its own
//! reading of payloads against [`vocab`]. A round-trip test keeps builder and parser in step.

use base64::Engine as _;
use conjure_core::catalogue::{Catalogue, MediaKind, ProviderId};
use conjure_core::spec::{
    ImageFormat, ImageItem, InputKind, Item, MediaInput, VideoClipInput, VideoItem,
};
use conjure_core::{JobSpec, ProviderError, WireRequest};
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

/// Always `wait=false`: how long `wait=true` blocks is undocumented.
pub const SUBMIT_PATH: &str = "/v1/generation-requests?wait=false";

/// Field names and aliases of a Katana submit body. The first name of each alias list is the
/// one [`build_request`] writes.
pub mod vocab {
    /// Top-level fields conjure sends or accepts.
    pub const TOP_LEVEL: &[&str] = &["requests", "client_request_id"];
    /// Internal to Katana: never sent, refused in payloads.
    pub const INTERNAL: &str = "output";
    /// Lists of input images on an image item.
    pub const IMAGE_INPUT_LISTS: &[&str] = &["image_urls", "input_images", "input_image_urls"];
    /// Single input images (on image items: inputs; on video items: the first frame).
    pub const IMAGE_INPUT_SINGLES: &[&str] =
        &["image_url", "input_image_url", "input_image", "input_image_b64"];
    pub const FAST_FLAGS: &[&str] = &["is_fast", "fast_mode"];
    pub const UHD_FLAGS: &[&str] = &["is_uhd", "uhd_mode"];
    /// Every field of an image item.
    pub const IMAGE_FIELDS: &[&str] = &[
        "type",
        "model",
        "prompt",
        "aspect_ratio",
        "output_format",
        "image_urls",
        "input_images",
        "input_image_urls",
        "image_url",
        "input_image_url",
        "input_image",
        "input_image_b64",
        "negative_prompt",
        "is_fast",
        "fast_mode",
        "is_uhd",
        "uhd_mode",
        "id",
        "metadata",
    ];
    /// Every field of a video item.
    pub const VIDEO_FIELDS: &[&str] = &[
        "type",
        "model",
        "prompt",
        "duration_seconds",
        "aspect_ratio",
        "video_image_data",
        "image_url",
        "input_image_url",
        "input_image",
        "input_image_b64",
        "reference_image_urls",
        "id",
        "metadata",
    ];
    /// Fields of a video item's `video_image_data`.
    pub const FIRST_FRAME: &str = "first_frame_image_url";
    pub const LAST_FRAME: &str = "last_frame_image_url";
    pub const REFERENCES: &str = "reference_image_urls";
    pub const AUDIO: &str = "audio_input_urls";
    pub const VIDEO_LIST: &str = "video_list";
    pub const VIDEO_DATA_FIELDS: &[&str] =
        &[FIRST_FRAME, LAST_FRAME, REFERENCES, AUDIO, VIDEO_LIST];
    /// `video_list` entries: `url`, `start` and (Katana's spelling) `ends`.
    pub const CLIP_END: &str = "ends";
}

/// A payload field conjure cannot send. Nothing is sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{path}`: {message}")]
pub struct PayloadError {
    /// Where in the payload, e.g. `requests[0].image_urls[1]`.
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
}

fn err(path: &str, message: impl Into<String>) -> PayloadError {
    PayloadError { path: path.to_owned(), message: message.into(), hint: None }
}

/// The submit request for `spec`: `POST /v1/generation-requests?wait=false` with one item per
/// spec item. Never sends `output` (internal to Katana) nor `n` (does not exist).
pub fn build_request(spec: &JobSpec) -> Result<WireRequest, ProviderError> {
    if spec.provider != ProviderId::Katana {
        return Err(ProviderError::Unsupported {
            message: format!("A `{}` request cannot be sent to Katana", spec.provider),
        });
    }
    if spec.items.is_empty() {
        return Err(ProviderError::Unsupported { message: "The request has no items".to_owned() });
    }
    if spec.items.iter().any(|i| matches!(i, Item::Text(_))) {
        return super::chat::build_chat(spec);
    }
    let items = spec
        .items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Item::Image(image) => Ok(image_item(i, image)),
            Item::Video(video) => video_item(i, video),
            Item::Text(_) => Err(ProviderError::Unsupported {
                message: "A text job is sent on its own, to the chat endpoint".to_owned(),
            }),
            Item::Button(_) | Item::Tool(_) => Err(ProviderError::Unsupported {
                message: "Katana has no buttons or image tools; they are ImaginePro's".to_owned(),
            }),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut wire = WireRequest::new("POST", SUBMIT_PATH, json!({ "requests": items }));
    wire.files = spec.file_refs();
    Ok(wire)
}

fn item_id(index: usize) -> String {
    format!("item-{index}")
}

fn image_item(index: usize, i: &ImageItem) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), item_id(index).into());
    o.insert("type".into(), "image".into());
    o.insert("model".into(), i.model.clone().into());
    o.insert("prompt".into(), i.prompt.clone().into());
    o.insert("aspect_ratio".into(), i.aspect_ratio.clone().into());
    o.insert("output_format".into(), i.format.as_str().into());
    if !i.inputs.is_empty() {
        // `image_urls`, not `reference_assets`: image.md says the latter is silently ignored.
        let urls: Vec<Value> = i.inputs.iter().map(|m| m.wire_value().into()).collect();
        o.insert(vocab::IMAGE_INPUT_LISTS[0].into(), urls.into());
    }
    if let Some(neg) = i.negative_prompt.as_ref().filter(|n| !n.trim().is_empty()) {
        o.insert("negative_prompt".into(), neg.clone().into());
    }
    if i.fast {
        o.insert(vocab::FAST_FLAGS[0].into(), true.into());
    }
    if i.uhd {
        o.insert(vocab::UHD_FLAGS[0].into(), true.into());
    }
    Value::Object(o)
}

fn video_item(index: usize, v: &VideoItem) -> Result<Value, ProviderError> {
    let mut o = Map::new();
    o.insert("id".into(), item_id(index).into());
    o.insert("type".into(), "video".into());
    o.insert("model".into(), v.model.clone().into());
    o.insert("prompt".into(), v.prompt.clone().into());
    o.insert("duration_seconds".into(), v.duration_seconds.into());
    o.insert("aspect_ratio".into(), v.aspect_ratio.clone().into());
    let mut data = Map::new();
    if let Some(ff) = &v.first_frame {
        data.insert(vocab::FIRST_FRAME.into(), ff.wire_value().into());
    }
    if let Some(lf) = &v.last_frame {
        data.insert(vocab::LAST_FRAME.into(), lf.wire_value().into());
    }
    if !v.references.is_empty() {
        let urls: Vec<Value> = v.references.iter().map(|m| m.wire_value().into()).collect();
        data.insert(vocab::REFERENCES.into(), urls.into());
    }
    if !v.audio.is_empty() {
        let urls: Vec<Value> = v.audio.iter().map(|m| m.wire_value().into()).collect();
        data.insert(vocab::AUDIO.into(), urls.into());
    }
    if !v.videos.is_empty() {
        let mut list = Vec::with_capacity(v.videos.len());
        for clip in &v.videos {
            let mut c = Map::new();
            c.insert("url".into(), clip.input.wire_value().into());
            if let Some(start) = clip.start {
                c.insert("start".into(), offset(start)?);
            }
            if let Some(end) = clip.end {
                // Katana spells the end offset `ends`.
                c.insert(vocab::CLIP_END.into(), offset(end)?);
            }
            list.push(Value::Object(c));
        }
        data.insert(vocab::VIDEO_LIST.into(), list.into());
    }
    // An empty `video_image_data` object is refused by Katana: leave it out entirely.
    if !data.is_empty() {
        o.insert("video_image_data".into(), Value::Object(data));
    }
    Ok(Value::Object(o))
}

fn offset(seconds: f64) -> Result<Value, ProviderError> {
    serde_json::Number::from_f64(seconds).map(Value::Number).ok_or_else(|| {
        ProviderError::Unsupported { message: format!("`{seconds}` is not a valid video offset") }
    })
}

/// Reads a Katana `{"requests":[...]}` envelope into a [`JobSpec`]. `resolve(path, value, kind)`
/// turns each input string into a [`MediaInput`].
pub fn parse_request<E: From<PayloadError>>(
    value: &Value,
    resolve: &mut dyn FnMut(&str, &str, InputKind) -> Result<MediaInput, E>,
) -> Result<JobSpec, E> {
    let obj = value.as_object().ok_or_else(|| err("$", "the payload must be a JSON object"))?;
    for key in obj.keys() {
        if key == vocab::INTERNAL {
            return Err(
                err(key, "this field is internal to the provider and must not be sent").into()
            );
        }
        if !vocab::TOP_LEVEL.contains(&key.as_str()) {
            return Err(err(key, "unknown top-level field; only `requests` is sent").into());
        }
    }
    let requests = obj
        .get("requests")
        .and_then(Value::as_array)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| err("requests", "a non-empty array of items is required"))?;
    let items = requests
        .iter()
        .enumerate()
        .map(|(i, item)| parse_item(&format!("requests[{i}]"), item, resolve))
        .collect::<Result<Vec<_>, E>>()?;
    Ok(JobSpec::new(ProviderId::Katana, items))
}

/// The default input resolver: `https://` URLs and `data:` URLs only.
pub fn wire_input(path: &str, value: &str, _kind: InputKind) -> Result<MediaInput, PayloadError> {
    let lower = value.trim().to_ascii_lowercase();
    if lower.starts_with("https://") {
        return Ok(MediaInput::Url { url: value.trim().to_owned() });
    }
    if lower.starts_with("data:") {
        let (head, data) = value.split_once(',').unwrap_or((value, ""));
        let mime = head.trim_start_matches("data:").trim_end_matches(";base64").to_owned();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|_| err(path, "the data URL is not valid base64"))?;
        return Ok(MediaInput::Data {
            source: format!("{path} data URL"),
            mime,
            base64: data.to_owned(),
            sha256: hex::encode(Sha256::digest(&bytes)),
        });
    }
    Err(err(path, "must be an https:// URL or a data: URL"))
}

fn parse_item<E: From<PayloadError>>(
    path: &str,
    value: &Value,
    resolve: &mut dyn FnMut(&str, &str, InputKind) -> Result<MediaInput, E>,
) -> Result<Item, E> {
    let obj = value.as_object().ok_or_else(|| err(path, "each item must be an object"))?;
    let kind = obj
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| err(&format!("{path}.type"), "required: `image` or `video`"))?;
    match kind {
        "image" => parse_image(path, obj, resolve).map(Item::Image),
        "video" => parse_video(path, obj, resolve).map(Item::Video),
        "text" => {
            Err(err(&format!("{path}.type"), "text is not sent through this endpoint").into())
        }
        other => {
            Err(err(&format!("{path}.type"), format!("`{other}` is not `image` or `video`")).into())
        }
    }
}

fn string(path: &str, obj: &Map<String, Value>, key: &str) -> Result<Option<String>, PayloadError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(err(&format!("{path}.{key}"), "must be a string")),
    }
}

fn flag(path: &str, obj: &Map<String, Value>, keys: &[&str]) -> Result<bool, PayloadError> {
    let mut on = false;
    for key in keys {
        match obj.get(*key) {
            None | Some(Value::Null) => {}
            Some(Value::Bool(b)) => on |= *b,
            Some(_) => return Err(err(&format!("{path}.{key}"), "must be true or false")),
        }
    }
    Ok(on)
}

fn model(path: &str, obj: &Map<String, Value>, kind: MediaKind) -> Result<String, PayloadError> {
    let name =
        string(path, obj, "model")?.ok_or_else(|| err(&format!("{path}.model"), "required"))?;
    let model =
        Catalogue::bundled().resolve(ProviderId::Katana, Some(kind), &name).map_err(|e| {
            PayloadError {
                path: format!("{path}.model"),
                message: e.to_string(),
                hint: Some("list models with `conjure models`".to_owned()),
            }
        })?;
    Ok(model.id.clone())
}

fn input<E: From<PayloadError>>(
    path: &str,
    value: &Value,
    kind: InputKind,
    resolve: &mut dyn FnMut(&str, &str, InputKind) -> Result<MediaInput, E>,
) -> Result<MediaInput, E> {
    let s = value
        .as_str()
        .ok_or_else(|| err(path, "must be a string (an https:// URL or a data: URL)"))?;
    resolve(path, s, kind)
}

fn input_list<E: From<PayloadError>>(
    path: &str,
    obj: &Map<String, Value>,
    keys: &[&str],
    kind: InputKind,
    resolve: &mut dyn FnMut(&str, &str, InputKind) -> Result<MediaInput, E>,
) -> Result<Vec<MediaInput>, E> {
    let mut out = Vec::new();
    for key in keys {
        match obj.get(*key) {
            None | Some(Value::Null) => {}
            Some(Value::Array(list)) => {
                for (i, v) in list.iter().enumerate() {
                    out.push(input(&format!("{path}.{key}[{i}]"), v, kind, resolve)?);
                }
            }
            Some(v @ Value::String(_)) => {
                out.push(input(&format!("{path}.{key}"), v, kind, resolve)?);
            }
            Some(_) => return Err(err(&format!("{path}.{key}"), "must be a list of URLs").into()),
        }
    }
    Ok(out)
}

fn check_fields(
    path: &str,
    obj: &Map<String, Value>,
    allowed: &[&str],
) -> Result<(), PayloadError> {
    for key in obj.keys() {
        if !allowed.contains(&key.as_str()) {
            let hint = if key == "reference_assets" {
                " (for images the provider ignores it: use `image_urls`)"
            } else {
                ""
            };
            return Err(err(
                &format!("{path}.{key}"),
                format!("unknown field{hint}; allowed: {}", allowed.join(", ")),
            ));
        }
    }
    Ok(())
}

fn parse_image<E: From<PayloadError>>(
    path: &str,
    obj: &Map<String, Value>,
    resolve: &mut dyn FnMut(&str, &str, InputKind) -> Result<MediaInput, E>,
) -> Result<ImageItem, E> {
    check_fields(path, obj, vocab::IMAGE_FIELDS)?;
    let format = match string(path, obj, "output_format")? {
        None => ImageFormat::Png,
        Some(f) => ImageFormat::parse(&f)
            .ok_or_else(|| err(&format!("{path}.output_format"), "use png, jpeg or webp"))?,
    };
    let mut names: Vec<&str> = vocab::IMAGE_INPUT_LISTS.to_vec();
    names.extend_from_slice(vocab::IMAGE_INPUT_SINGLES);
    Ok(ImageItem {
        model: model(path, obj, MediaKind::Image)?,
        prompt: string(path, obj, "prompt")?.unwrap_or_default(),
        aspect_ratio: string(path, obj, "aspect_ratio")?.unwrap_or_else(|| "1:1".to_owned()),
        format,
        inputs: input_list(path, obj, &names, InputKind::Image, resolve)?,
        negative_prompt: string(path, obj, "negative_prompt")?,
        fast: flag(path, obj, vocab::FAST_FLAGS)?,
        uhd: flag(path, obj, vocab::UHD_FLAGS)?,
    })
}

fn parse_video<E: From<PayloadError>>(
    path: &str,
    obj: &Map<String, Value>,
    resolve: &mut dyn FnMut(&str, &str, InputKind) -> Result<MediaInput, E>,
) -> Result<VideoItem, E> {
    check_fields(path, obj, vocab::VIDEO_FIELDS)?;
    let duration = obj.get("duration_seconds").and_then(Value::as_u64).ok_or_else(|| {
        err(&format!("{path}.duration_seconds"), "required: a whole number of seconds")
    })?;
    let empty = Map::new();
    let data_path = format!("{path}.video_image_data");
    let data = match obj.get("video_image_data") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(m)) if m.is_empty() => {
            return Err(err(&data_path, "must not be empty; leave it out instead").into());
        }
        Some(Value::Object(m)) => m,
        Some(_) => return Err(err(&data_path, "must be an object").into()),
    };
    check_fields(&data_path, data, vocab::VIDEO_DATA_FIELDS)?;
    let mut first = input_list(path, obj, vocab::IMAGE_INPUT_SINGLES, InputKind::Image, resolve)?;
    first.extend(input_list(&data_path, data, &[vocab::FIRST_FRAME], InputKind::Image, resolve)?);
    if first.len() > 1 {
        return Err(err(
            path,
            "more than one first frame is given (top-level image aliases and first_frame_image_url)",
        )
        .into());
    }
    let mut last = input_list(&data_path, data, &[vocab::LAST_FRAME], InputKind::Image, resolve)?;
    let mut references = input_list(path, obj, &[vocab::REFERENCES], InputKind::Image, resolve)?;
    references.extend(input_list(
        &data_path,
        data,
        &[vocab::REFERENCES],
        InputKind::Image,
        resolve,
    )?);
    let audio = input_list(&data_path, data, &[vocab::AUDIO], InputKind::Audio, resolve)?;
    let mut videos = Vec::new();
    if let Some(list) = data.get(vocab::VIDEO_LIST) {
        let list_path = format!("{data_path}.{}", vocab::VIDEO_LIST);
        let entries = list.as_array().ok_or_else(|| err(&list_path, "must be a list"))?;
        for (i, v) in entries.iter().enumerate() {
            let p = format!("{list_path}[{i}]");
            let url = v.get("url").ok_or_else(|| err(&p, "each entry needs a `url`"))?;
            videos.push(VideoClipInput {
                input: input(&format!("{p}.url"), url, InputKind::Video, resolve)?,
                start: v.get("start").and_then(Value::as_f64),
                end: v.get(vocab::CLIP_END).and_then(Value::as_f64),
            });
        }
    }
    if last.len() > 1 {
        return Err(err(&data_path, "only one last frame may be given").into());
    }
    Ok(VideoItem {
        model: model(path, obj, MediaKind::Video)?,
        prompt: string(path, obj, "prompt")?.unwrap_or_default(),
        duration_seconds: u32::try_from(duration).unwrap_or(u32::MAX),
        aspect_ratio: string(path, obj, "aspect_ratio")?.unwrap_or_else(|| "16:9".to_owned()),
        first_frame: first.pop(),
        last_frame: last.pop(),
        references,
        audio,
        videos,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use conjure_core::spec::{ImageFormat, MediaInput, VideoClipInput};

    fn url(u: &str) -> MediaInput {
        MediaInput::Url { url: u.to_owned() }
    }

    fn data(mime: &str, b64: &str) -> MediaInput {
        MediaInput::Data {
            source: "local.png".to_owned(),
            mime: mime.to_owned(),
            base64: b64.to_owned(),
            sha256: "00".repeat(32),
        }
    }

    fn image(model: &str) -> ImageItem {
        ImageItem {
            model: model.to_owned(),
            prompt: "a red fox".to_owned(),
            aspect_ratio: "1:1".to_owned(),
            format: ImageFormat::Png,
            inputs: vec![],
            negative_prompt: None,
            fast: false,
            uhd: false,
        }
    }

    fn video() -> VideoItem {
        VideoItem {
            model: "seedance-2-0-fast".to_owned(),
            prompt: "waves".to_owned(),
            duration_seconds: 5,
            aspect_ratio: "16:9".to_owned(),
            first_frame: None,
            last_frame: None,
            references: vec![],
            audio: vec![],
            videos: vec![],
        }
    }

    fn spec(items: Vec<Item>) -> JobSpec {
        JobSpec::new(ProviderId::Katana, items)
    }

    #[test]
    fn plain_image_always_sends_aspect_and_format() {
        let w = build_request(&spec(vec![Item::Image(image("gpt-image-2"))])).unwrap();
        assert_eq!(w.method, "POST");
        assert_eq!(w.path, "/v1/generation-requests?wait=false");
        assert_eq!(
            w.body,
            json!({"requests":[{"id":"item-0","type":"image","model":"gpt-image-2",
                "prompt":"a red fox","aspect_ratio":"1:1","output_format":"png"}]})
        );
    }

    #[test]
    fn image_with_refs_negative_and_fast() {
        let mut i = image("nano-banana-2");
        i.inputs = vec![url("https://x.test/a.png"), data("image/png", "iVBORw==")];
        i.negative_prompt = Some("blurry".to_owned());
        i.fast = true;
        i.format = ImageFormat::Webp;
        let mut second = image("gen");
        second.uhd = true;
        second.negative_prompt = Some("  ".to_owned());
        let w = build_request(&spec(vec![Item::Image(i), Item::Image(second)])).unwrap();
        assert_eq!(
            w.body,
            json!({"requests":[
                {"id":"item-0","type":"image","model":"nano-banana-2","prompt":"a red fox",
                 "aspect_ratio":"1:1","output_format":"webp",
                 "image_urls":["https://x.test/a.png","data:image/png;base64,iVBORw=="],
                 "negative_prompt":"blurry","is_fast":true},
                {"id":"item-1","type":"image","model":"gen","prompt":"a red fox",
                 "aspect_ratio":"1:1","output_format":"png","is_uhd":true}
            ]})
        );
        let text = w.body.to_string();
        for banned in ["reference_assets", "\"output\"", "\"n\"", "is_uhd\":false"] {
            assert!(!text.contains(banned), "{banned} in {text}");
        }
    }

    #[test]
    fn video_with_frames_refs_audio_and_clips() {
        let mut v = video();
        v.first_frame = Some(url("https://x.test/ff.png"));
        v.last_frame = Some(data("image/jpeg", "/9j/"));
        v.references = vec![url("https://x.test/r1.png"), url("https://x.test/r2.png")];
        v.audio = vec![url("https://x.test/a.mp3")];
        v.videos = vec![
            VideoClipInput { input: url("https://x.test/v.mp4"), start: Some(1.5), end: Some(4.0) },
            VideoClipInput { input: url("https://x.test/w.mp4"), start: None, end: None },
        ];
        let w = build_request(&spec(vec![Item::Video(v)])).unwrap();
        assert_eq!(
            w.body,
            json!({"requests":[{"id":"item-0","type":"video","model":"seedance-2-0-fast",
            "prompt":"waves","duration_seconds":5,"aspect_ratio":"16:9",
            "video_image_data":{
                "first_frame_image_url":"https://x.test/ff.png",
                "last_frame_image_url":"data:image/jpeg;base64,/9j/",
                "reference_image_urls":["https://x.test/r1.png","https://x.test/r2.png"],
                "audio_input_urls":["https://x.test/a.mp3"],
                "video_list":[{"url":"https://x.test/v.mp4","start":1.5,"ends":4.0},
                              {"url":"https://x.test/w.mp4"}]
            }}]})
        );
    }

    #[test]
    fn empty_video_image_data_is_omitted() {
        let w = build_request(&spec(vec![Item::Video(video())])).unwrap();
        assert_eq!(
            w.body,
            json!({"requests":[{"id":"item-0","type":"video","model":"seedance-2-0-fast",
                "prompt":"waves","duration_seconds":5,"aspect_ratio":"16:9"}]})
        );
    }

    #[test]
    fn other_provider_or_no_items_is_unsupported() {
        let s = JobSpec::new(ProviderId::ImaginePro, vec![]);
        assert!(matches!(build_request(&s), Err(ProviderError::Unsupported { .. })));
        assert!(matches!(build_request(&spec(vec![])), Err(ProviderError::Unsupported { .. })));
    }

    fn round_trip(spec: &JobSpec) -> JobSpec {
        let wire = build_request(spec).unwrap();
        let mut resolve = |p: &str, v: &str, k: InputKind| wire_input(p, v, k);
        parse_request::<PayloadError>(&wire.body, &mut resolve).unwrap()
    }

    #[test]
    fn what_the_builder_writes_the_parser_reads_back() {
        let mut i = image("nano-banana-2");
        i.inputs = vec![url("https://x.test/a.png"), url("https://x.test/b.png")];
        i.negative_prompt = Some("blurry".to_owned());
        i.fast = true;
        i.uhd = true;
        i.format = ImageFormat::Jpeg;
        let mut v = video();
        v.first_frame = Some(url("https://x.test/ff.png"));
        v.last_frame = Some(url("https://x.test/lf.png"));
        v.references = vec![url("https://x.test/r1.png")];
        v.audio = vec![url("https://x.test/a.mp3")];
        v.videos = vec![VideoClipInput {
            input: url("https://x.test/v.mp4"),
            start: Some(1.5),
            end: Some(4.0),
        }];
        let s = spec(vec![Item::Image(i), Item::Video(v), Item::Image(image("gen"))]);
        assert_eq!(round_trip(&s), s);
        // Inline data comes back as data, and the body is byte-for-byte the same.
        let mut d = image("flux-2-pro");
        d.inputs = vec![data("image/png", "aGVsbG8=")];
        let s = spec(vec![Item::Image(d)]);
        assert_eq!(build_request(&round_trip(&s)).unwrap(), build_request(&s).unwrap());
    }

    #[test]
    fn aliases_normalise_to_the_canonical_form() {
        let mut resolve = |p: &str, v: &str, k: InputKind| wire_input(p, v, k);
        let parsed = parse_request::<PayloadError>(
            &json!({"requests":[
                {"type":"image","model":"gpt2image","prompt":"p","input_images":["https://x/a.png"],
                 "image_url":"https://x/b.png","output_format":"jpg","fast_mode":true,"uhd_mode":true},
                {"type":"video","model":"seedance","prompt":"v","duration_seconds":5,"input_image":"https://x/f.png"}
            ]}),
            &mut resolve,
        )
        .unwrap();
        let Item::Image(i) = &parsed.items[0] else { panic!() };
        assert_eq!(
            (i.model.as_str(), i.format, i.inputs.len(), i.fast, i.uhd),
            ("gpt-image-2", ImageFormat::Jpeg, 2, true, true)
        );
        let Item::Video(v) = &parsed.items[1] else { panic!() };
        assert_eq!(v.model, "seedance-2-0-fast");
        assert!(v.first_frame.is_some());
        let body = build_request(&parsed).unwrap().body;
        assert_eq!(
            body["requests"][0]["image_urls"],
            json!(["https://x/a.png", "https://x/b.png"])
        );
        assert_eq!(body["requests"][0]["is_fast"], true);
    }

    #[test]
    fn bad_payloads_name_the_field() {
        let mut resolve = |p: &str, v: &str, k: InputKind| wire_input(p, v, k);
        let mut parse = |v: Value| parse_request::<PayloadError>(&v, &mut resolve).unwrap_err();
        let e =
            parse(json!({"requests":[{"type":"image","model":"gen","prompt":"p"}],"output":{}}));
        assert_eq!(e.path, "output");
        let e = parse(
            json!({"requests":[{"type":"image","model":"gen","prompt":"p","reference_assets":[]}]}),
        );
        assert_eq!(e.path, "requests[0].reference_assets");
        let e = parse(
            json!({"requests":[{"type":"video","model":"ltx","prompt":"p","duration_seconds":5,"video_image_data":{}}]}),
        );
        assert!(e.message.contains("must not be empty"));
        assert!(parse(json!({"requests":[]})).message.contains("non-empty"));
        let e = parse(
            json!({"requests":[{"type":"image","model":"gen","prompt":"p","image_urls":["/etc/passwd"]}]}),
        );
        assert_eq!(e.path, "requests[0].image_urls[0]");
        let e = parse(json!({"requests":[{"type":"image","model":"nope","prompt":"p"}]}));
        assert!(e.hint.unwrap().contains("conjure models"));
    }
}
