//! What the user asked for, provider-neutral and normalised: a [`JobSpec`] of one or more items.
//!
//! One spec is one paid call: Katana takes several items in one envelope (there is no `n`
//! field), so `--count 3` is three items. Inputs are already resolved to URLs, inline data or
//! references to local files checked by content and identified by sha256 (reading files is the
//! caller's IO; the bytes are inlined only when the request is sent). [`validate`] checks an item against its catalogue entry
//! before anything is quoted or sent: aspect, duration, reference counts, required images and
//! the video `custom_rules`. Provider-specific shapes (ImaginePro buttons, URL-only inputs) are
//! the provider's `build` step's business and are refused there as `Unsupported`.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::catalogue::{Catalogue, MAX_AUDIO_INPUTS, MediaKind, Model, ProviderId, VideoRule};
use crate::text::{Role, TextItem};

/// What kind of media an input must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputKind {
    Image,
    Audio,
    Video,
}

impl InputKind {
    /// `an image`, `an audio file`, `a video`.
    pub fn noun(self) -> &'static str {
        match self {
            InputKind::Image => "an image",
            InputKind::Audio => "an audio file",
            InputKind::Video => "a video",
        }
    }
}

/// What a local input file becomes in a wire request body until it is sent.
pub const FILE_REF_PREFIX: &str = "conjure-file:sha256:";

/// A local file an input refers to: where it is, what it is, and the hash of the bytes quoted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    /// Absolute path.
    pub path: String,
    pub mime: String,
    /// Hex sha256 of the bytes.
    pub sha256: String,
    pub bytes: u64,
}

impl FileRef {
    /// Whether `bytes` are still the bytes this reference was made from (size and sha256): what
    /// is sent must be what was checked and quoted.
    pub fn holds(&self, bytes: &[u8]) -> bool {
        bytes.len() as u64 == self.bytes && hex::encode(Sha256::digest(bytes)) == self.sha256
    }
}

/// An input file or URL, resolved so that it can go on the wire.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MediaInput {
    /// An `https://` URL, passed through.
    Url { url: String },
    /// A local file, checked by content; inlined as a `data:` URL when the request is sent.
    File(FileRef),
    /// Inline data given as a `data:` URL (e.g. in a raw payload), carried as it came.
    Data {
        /// Where it came from, for display only (a path).
        source: String,
        mime: String,
        /// Base64 of the bytes (standard alphabet, padded).
        base64: String,
        /// Hex sha256 of the bytes, for display and provenance.
        sha256: String,
    },
}

impl MediaInput {
    /// What goes in the request body (a reference for a local file, see [`FILE_REF_PREFIX`]).
    pub fn wire_value(&self) -> String {
        match self {
            MediaInput::Url { url } => url.clone(),
            MediaInput::File(f) => format!("{FILE_REF_PREFIX}{}", f.sha256),
            MediaInput::Data { mime, base64, .. } => format!("data:{mime};base64,{base64}"),
        }
    }

    /// A short human description (never the data itself).
    pub fn describe(&self) -> String {
        match self {
            MediaInput::Url { url } => url.clone(),
            MediaInput::File(f) => {
                let short = f.sha256.get(..12).unwrap_or(&f.sha256);
                format!("{} ({}, {} bytes, sha256 {short})", f.path, f.mime, f.bytes)
            }
            MediaInput::Data { source, mime, base64, sha256 } => {
                let bytes = base64.len() / 4 * 3;
                let short = sha256.get(..12).unwrap_or(sha256);
                format!("{source} ({mime}, {bytes} bytes, sha256 {short})")
            }
        }
    }

    pub fn mime(&self) -> Option<&str> {
        match self {
            MediaInput::Url { .. } => None,
            MediaInput::File(f) => Some(&f.mime),
            MediaInput::Data { mime, .. } => Some(mime),
        }
    }
}

impl fmt::Debug for MediaInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Image output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    #[default]
    Png,
    Jpeg,
    Webp,
}

impl ImageFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ImageFormat::Png => "png",
            ImageFormat::Jpeg => "jpeg",
            ImageFormat::Webp => "webp",
        }
    }

    pub fn parse(s: &str) -> Option<ImageFormat> {
        match s.trim().to_ascii_lowercase().as_str() {
            "png" => Some(ImageFormat::Png),
            "jpeg" | "jpg" => Some(ImageFormat::Jpeg),
            "webp" => Some(ImageFormat::Webp),
            _ => None,
        }
    }
}

/// One image to generate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageItem {
    pub model: String,
    pub prompt: String,
    pub aspect_ratio: String,
    pub format: ImageFormat,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<MediaInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negative_prompt: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fast: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub uhd: bool,
}

impl ImageItem {
    /// A 1:1 PNG of `prompt` by `model`, with no inputs or options.
    pub fn new(model: impl Into<String>, prompt: impl Into<String>) -> ImageItem {
        ImageItem {
            model: model.into(),
            prompt: prompt.into(),
            aspect_ratio: "1:1".to_owned(),
            format: ImageFormat::Png,
            inputs: Vec::new(),
            negative_prompt: None,
            fast: false,
            uhd: false,
        }
    }
}

/// An input video clip for models that take `video_list`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VideoClipInput {
    pub input: MediaInput,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<f64>,
}

/// One video to generate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VideoItem {
    pub model: String,
    pub prompt: String,
    pub duration_seconds: u32,
    pub aspect_ratio: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_frame: Option<MediaInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_frame: Option<MediaInput>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<MediaInput>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audio: Vec<MediaInput>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub videos: Vec<VideoClipInput>,
}

/// A press of one of the buttons an earlier job's message offered (ImaginePro's Midjourney `U1`,
/// `V2`, `🔄`, `Vary (Region)`, ...). It makes a new job, the child of `parent`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ButtonItem {
    /// conjure's id of the parent job.
    pub parent: String,
    /// The provider's id of the parent's message (`messageId`).
    pub parent_message: String,
    /// The button's wire value, exactly as the provider spells it (emoji included).
    pub button: String,
    /// `Vary (Region)` only: the mask image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask: Option<MediaInput>,
    /// `Vary (Region)` only: what to paint in the masked region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
}

/// A one-image tool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "tool", rename_all = "kebab-case")]
pub enum Tool {
    /// Flux upscale by an integer factor (2..=4).
    Upscale { scale: u8 },
    /// Background removal.
    RemoveBg,
}

/// One image through a tool (ImaginePro's Flux upscale and background removal).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolItem {
    #[serde(flatten)]
    pub tool: Tool,
    pub image: MediaInput,
}

impl ToolItem {
    /// The name the tool is listed under, as a model: `flux-upscale`, `remove-bg`.
    pub fn model(&self) -> &'static str {
        match self.tool {
            Tool::Upscale { .. } => "flux-upscale",
            Tool::RemoveBg => "remove-bg",
        }
    }
}

/// One unit of a paid call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Item {
    Image(ImageItem),
    Video(VideoItem),
    Text(TextItem),
    Button(ButtonItem),
    Tool(ToolItem),
}

impl Item {
    pub fn kind(&self) -> MediaKind {
        match self {
            Item::Image(_) | Item::Button(_) | Item::Tool(_) => MediaKind::Image,
            Item::Video(_) => MediaKind::Video,
            Item::Text(_) => MediaKind::Text,
        }
    }

    pub fn model(&self) -> &str {
        match self {
            Item::Image(i) => &i.model,
            Item::Video(v) => &v.model,
            Item::Text(t) => &t.model,
            Item::Button(_) => crate::imaginepro::MIDJOURNEY,
            Item::Tool(t) => t.model(),
        }
    }

    /// The prompt; a button press without one shows its button, a tool its image.
    pub fn prompt(&self) -> &str {
        match self {
            Item::Image(i) => &i.prompt,
            Item::Video(v) => &v.prompt,
            Item::Text(t) => t.prompt(),
            Item::Button(b) => b.prompt.as_deref().unwrap_or(&b.button),
            Item::Tool(t) => match &t.image {
                MediaInput::Url { url } => url,
                MediaInput::File(f) => &f.path,
                MediaInput::Data { source, .. } => source,
            },
        }
    }

    /// One line of what this item is, for quotes and summaries.
    pub fn detail(&self) -> String {
        match self {
            Item::Image(i) => {
                let mut d = format!("image {} {}", i.aspect_ratio, i.format.as_str());
                if !i.inputs.is_empty() {
                    d.push_str(&format!(", {} input image(s)", i.inputs.len()));
                }
                if i.fast {
                    d.push_str(", fast");
                }
                if i.uhd {
                    d.push_str(", uhd");
                }
                d
            }
            Item::Video(v) => {
                let mut d = format!("video {} s {}", v.duration_seconds, v.aspect_ratio);
                if v.first_frame.is_some() {
                    d.push_str(", first frame");
                }
                if v.last_frame.is_some() {
                    d.push_str(", last frame");
                }
                if !v.references.is_empty() {
                    d.push_str(&format!(", {} reference image(s)", v.references.len()));
                }
                if !v.audio.is_empty() {
                    d.push_str(&format!(", {} audio input(s)", v.audio.len()));
                }
                if !v.videos.is_empty() {
                    d.push_str(&format!(", {} input video(s)", v.videos.len()));
                }
                d
            }
            Item::Text(t) => {
                let turns = t.messages.len();
                let mut d = format!(
                    "text, {turns} message{}, about {} input tokens, at most {} output tokens",
                    if turns == 1 { "" } else { "s" },
                    t.input_tokens(),
                    t.effective_max_tokens()
                );
                let images = t.images().count();
                if images > 0 {
                    d.push_str(&format!(", {images} image(s)"));
                }
                if !t.files.is_empty() {
                    d.push_str(&format!(", {} file(s)", t.files.len()));
                }
                d
            }
            Item::Button(b) => {
                let mut d = format!("button `{}` on job {}", b.button, b.parent);
                if b.mask.is_some() {
                    d.push_str(", with a mask");
                }
                d
            }
            Item::Tool(t) => match t.tool {
                Tool::Upscale { scale } => format!("upscale x{scale}"),
                Tool::RemoveBg => "background removal".to_owned(),
            },
        }
    }

    /// Every input this item carries, for display.
    pub fn inputs(&self) -> Vec<(&'static str, &MediaInput)> {
        match self {
            Item::Image(i) => i.inputs.iter().map(|m| ("input image", m)).collect(),
            Item::Video(v) => v
                .first_frame
                .iter()
                .map(|m| ("first frame", m))
                .chain(v.last_frame.iter().map(|m| ("last frame", m)))
                .chain(v.references.iter().map(|m| ("reference image", m)))
                .chain(v.audio.iter().map(|m| ("audio", m)))
                .chain(v.videos.iter().map(|c| ("input video", &c.input)))
                .collect(),
            Item::Text(t) => t.images().map(|m| ("image", m)).collect(),
            Item::Button(b) => b.mask.iter().map(|m| ("mask", m)).collect(),
            Item::Tool(t) => vec![("image", &t.image)],
        }
    }
}

/// A whole request: one provider, one paid call, one or more items.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    pub provider: ProviderId,
    pub items: Vec<Item>,
    /// Where the provider reports the result and how it tags the job (ImaginePro only).
    #[serde(default, skip_serializing_if = "Hooks::is_empty")]
    pub hooks: Hooks,
}

/// What a provider is asked to do besides the work: call a webhook when the job ends, echo a
/// reference of the caller's. Part of the request, so an approval binds them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hooks {
    /// The URL the provider POSTs the finished job to (ImaginePro's `webhookOverride`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
    /// The caller's reference, echoed in every answer about the job (ImaginePro's `ref`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

impl Hooks {
    pub fn is_empty(&self) -> bool {
        self.webhook.is_none() && self.tag.is_none()
    }
}

impl JobSpec {
    /// A request of `items` for `provider`, without hooks.
    pub fn new(provider: ProviderId, items: Vec<Item>) -> JobSpec {
        JobSpec { provider, items, hooks: Hooks::default() }
    }

    /// Video if any item is video (it sets the polling deadline), text for a text job, else
    /// image.
    pub fn kind(&self) -> MediaKind {
        if self.items.iter().any(|i| i.kind() == MediaKind::Video) {
            MediaKind::Video
        } else if self.items.iter().any(|i| i.kind() == MediaKind::Text) {
            MediaKind::Text
        } else {
            MediaKind::Image
        }
    }

    /// The model of the first item: jobs are listed under it.
    pub fn model(&self) -> &str {
        self.items.first().map_or("", Item::model)
    }

    pub fn prompt(&self) -> &str {
        self.items.first().map_or("", Item::prompt)
    }

    /// The local files this request's inputs refer to, each once.
    pub fn file_refs(&self) -> Vec<FileRef> {
        let mut out: Vec<FileRef> = Vec::new();
        for item in &self.items {
            for (_, input) in item.inputs() {
                if let MediaInput::File(f) = input
                    && !out.iter().any(|o| o.sha256 == f.sha256)
                {
                    out.push(f.clone());
                }
            }
        }
        out
    }

    /// A stable hash of the normalised request, used for duplicate detection and approval.
    ///
    /// Inputs count by what they hold (their bytes' sha256 and type), not by where they came
    /// from: a local file and the same bytes sent inline as a `data:` URL are one request. That
    /// is what lets a laptop keep a file by reference in its journal while a team gateway, which
    /// receives the bytes inline, prices the same request; and a file moved or copied elsewhere
    /// is still the same request to the duplicate rule, since the provider would receive the
    /// same bytes.
    pub fn fingerprint(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        inputs_by_content(&mut value);
        let canonical = serde_json::to_vec(&value).unwrap_or_default();
        let mut h = Sha256::new();
        h.update(b"conjure-jobspec-v2\0");
        h.update(&canonical);
        hex::encode(h.finalize())
    }
}

/// Every [`MediaInput::File`] and [`MediaInput::Data`] in a serialised spec replaced by its
/// content alone (`{"kind": "bytes", "mime", "sha256"}`), for [`JobSpec::fingerprint`].
fn inputs_by_content(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let bytes = matches!(map.get("kind").and_then(Value::as_str), Some("file" | "data"))
                && map.contains_key("sha256");
            if bytes {
                let mime = map.get("mime").cloned().unwrap_or(Value::Null);
                let sha256 = map.get("sha256").cloned().unwrap_or(Value::Null);
                *value = serde_json::json!({"kind": "bytes", "mime": mime, "sha256": sha256});
            } else {
                map.values_mut().for_each(inputs_by_content);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(inputs_by_content),
        _ => {}
    }
}

/// A request the catalogue says cannot succeed. Nothing is sent.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpecError {
    #[error("{0}")]
    Catalogue(#[from] crate::catalogue::CatalogueError),
    #[error("The prompt is empty")]
    EmptyPrompt,
    #[error("The request has no items")]
    NoItems,
    #[error("Model `{model}` does not offer aspect `{aspect}`; allowed: {allowed}")]
    Aspect { model: String, aspect: String, allowed: String },
    #[error("Model `{model}` does not offer a duration of {duration} s; allowed: {allowed}")]
    Duration { model: String, duration: u32, allowed: String },
    #[error("Model `{model}` takes at most {max} {what}, got {got}")]
    TooMany { model: String, what: &'static str, max: u32, got: usize },
    #[error("Model `{model}` requires {what}")]
    Requires { model: String, what: &'static str },
    #[error("Model `{model}` does not take {what}")]
    NotSupported { model: String, what: &'static str },
    #[error("Model `{model}`: {rule}")]
    Rule { model: String, rule: &'static str },
    #[error("`{url}` is not allowed: inputs must be https:// URLs or local files")]
    InsecureUrl { url: String },
    #[error("Model `{model}` is a {kind} model; use `conjure {kind}`")]
    KindMismatch { model: String, kind: MediaKind },
    #[error(
        "Model `{model}` writes at most {max} tokens in one answer; `--max-tokens {got}` asks for more"
    )]
    MaxTokens { model: String, max: u64, got: u32 },
    #[error("The conversation is empty: give a prompt, `--messages FILE` or `--continue`")]
    NoMessages,
    #[error("`{what}` must be {range}, got {got}")]
    OutOfRange { what: &'static str, range: &'static str, got: String },
    #[error("A text job is one conversation; it cannot be sent together with other items")]
    MixedText,
    #[error("ImaginePro takes URLs, not uploads: `{input}` is not an https:// URL")]
    UrlOnly { input: String },
    #[error("Lumi Girl's aspect `{aspect}` is not W:H with two positive whole numbers")]
    LumiAspect { aspect: String },
    #[error("{provider} has no webhooks or job tags: `--webhook` and `--tag` are ImaginePro's")]
    NoHooks { provider: ProviderId },
    #[error("The webhook `{url}` is not an http(s) URL")]
    BadWebhook { url: String },
}

impl SpecError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        let models = "see `conjure models MODEL` for what a model takes";
        Some(match self {
            SpecError::Catalogue(e) => return e.hint(),
            SpecError::EmptyPrompt => "describe what to generate".to_owned(),
            SpecError::NoItems => "give at least one item".to_owned(),
            SpecError::Aspect { .. } | SpecError::Duration { .. } => {
                format!("pick one of the allowed values; {models}")
            }
            SpecError::TooMany { .. } => {
                format!("give fewer, or pick a model that takes more; {models}")
            }
            SpecError::Requires { .. } => format!("add it, or pick another model; {models}"),
            SpecError::NotSupported { .. } => {
                format!("leave it out, or pick a model that takes it; {models}")
            }
            SpecError::Rule { .. } => format!("change the inputs to fit the rule; {models}"),
            SpecError::InsecureUrl { .. } => {
                "use the https:// form of the URL, or download the file and pass its path"
                    .to_owned()
            }
            SpecError::KindMismatch { model, kind } => {
                format!("`{model}` is a {kind} model: use `conjure {kind} --model {model}`")
            }
            SpecError::MaxTokens { max, .. } => format!("ask for at most {max}; {models}"),
            SpecError::NoMessages => "for example: `conjure text \"say hello\"`".to_owned(),
            SpecError::OutOfRange { .. } => "pick a value in the range".to_owned(),
            SpecError::MixedText => "send the conversation on its own".to_owned(),
            SpecError::UrlOnly { .. } => "upload the file somewhere it can be fetched over https:// (your own storage, or the URL of an earlier job's output from `conjure status JOB --json`) and pass that URL".to_owned(),
            SpecError::LumiAspect { .. } => {
                "give `--aspect W:H` (e.g. 3:4) or `--ar W:H` in the prompt".to_owned()
            }
            SpecError::NoHooks { .. } => {
                "leave them out; conjure reports the result itself (`conjure wait JOB`)".to_owned()
            }
            SpecError::BadWebhook { .. } => {
                "give the full URL the provider should POST to, e.g. https://example.com/hook"
                    .to_owned()
            }
        })
    }
}

fn check_url(input: &MediaInput) -> Result<(), SpecError> {
    if let MediaInput::Url { url } = input {
        let lower = url.to_ascii_lowercase();
        if !lower.starts_with("https://") {
            return Err(SpecError::InsecureUrl { url: url.clone() });
        }
    }
    Ok(())
}

fn check_aspect(model: &Model, aspect: &str) -> Result<(), SpecError> {
    if aspect == "auto" || model.aspects.iter().any(|a| a == aspect) {
        return Ok(());
    }
    Err(SpecError::Aspect {
        model: model.id.clone(),
        aspect: aspect.to_owned(),
        allowed: model.aspects.join(", "),
    })
}

fn check_count(model: &Model, what: &'static str, max: u32, got: usize) -> Result<(), SpecError> {
    if got > max as usize {
        return Err(SpecError::TooMany { model: model.id.clone(), what, max, got });
    }
    Ok(())
}

/// Checks every item against the catalogue. Item models must already be canonical.
pub fn validate(spec: &JobSpec, catalogue: &Catalogue) -> Result<(), SpecError> {
    if spec.items.is_empty() {
        return Err(SpecError::NoItems);
    }
    if let Some(url) = &spec.hooks.webhook {
        let lower = url.trim().to_ascii_lowercase();
        if !(lower.starts_with("https://") || lower.starts_with("http://")) || url.trim().len() < 9
        {
            return Err(SpecError::BadWebhook { url: url.clone() });
        }
    }
    if spec.provider == ProviderId::ImaginePro {
        return crate::imaginepro::validate(spec);
    }
    if !spec.hooks.is_empty() {
        return Err(SpecError::NoHooks { provider: spec.provider });
    }
    if spec.items.len() > 1 && spec.items.iter().any(|i| i.kind() == MediaKind::Text) {
        return Err(SpecError::MixedText);
    }
    for item in &spec.items {
        let model = catalogue.resolve(spec.provider, Some(item.kind()), item.model())?;
        validate_item(item, model)?;
    }
    Ok(())
}

/// Checks one item against its model.
pub fn validate_item(item: &Item, model: &Model) -> Result<(), SpecError> {
    if let Item::Text(t) = item {
        return validate_text(t, model);
    }
    if item.prompt().trim().is_empty() {
        return Err(SpecError::EmptyPrompt);
    }
    if model.kind != item.kind() {
        return Err(SpecError::KindMismatch { model: model.id.clone(), kind: model.kind });
    }
    for (_, input) in item.inputs() {
        check_url(input)?;
    }
    match item {
        Item::Image(i) => validate_image(i, model),
        Item::Video(v) => validate_video(v, model),
        Item::Text(t) => validate_text(t, model),
        Item::Button(_) | Item::Tool(_) => Err(SpecError::NotSupported {
            model: model.id.clone(),
            what: "button presses or image tools (they are ImaginePro's)",
        }),
    }
}

fn validate_text(t: &TextItem, model: &Model) -> Result<(), SpecError> {
    if model.kind != MediaKind::Text {
        return Err(SpecError::KindMismatch { model: model.id.clone(), kind: model.kind });
    }
    let said = |m: &crate::text::Message| {
        m.content.iter().any(|p| match p {
            crate::text::Part::Text { text } => !text.trim().is_empty(),
            _ => true,
        })
    };
    // A system turn alone asks nothing; an assistant turn last is a prefill, which is a question.
    if !t.messages.iter().any(|m| m.role != Role::System && said(m)) {
        return Err(SpecError::NoMessages);
    }
    for input in t.images() {
        check_url(input)?;
    }
    if t.images().next().is_some() && !model.reads("image") {
        return Err(SpecError::NotSupported {
            model: model.id.clone(),
            what: "images (it is not a vision model)",
        });
    }
    if !t.files.is_empty() && !model.reads("file") {
        return Err(SpecError::NotSupported { model: model.id.clone(), what: "file inputs" });
    }
    for url in &t.files {
        check_url(&MediaInput::Url { url: url.clone() })?;
    }
    if let (Some(max), Some(got)) = (model.max_output_tokens, t.max_tokens)
        && u64::from(got) > max
    {
        return Err(SpecError::MaxTokens { model: model.id.clone(), max, got });
    }
    if t.max_tokens == Some(0) {
        return Err(SpecError::OutOfRange {
            what: "--max-tokens",
            range: "at least 1",
            got: "0".into(),
        });
    }
    if let Some(x) = t.temperature
        && !(0.0..=2.0).contains(&x)
    {
        return Err(SpecError::OutOfRange {
            what: "--temperature",
            range: "between 0 and 2",
            got: x.to_string(),
        });
    }
    if let Some(x) = t.top_p
        && !(x > 0.0 && x <= 1.0)
    {
        return Err(SpecError::OutOfRange {
            what: "--top-p",
            range: "above 0 and at most 1",
            got: x.to_string(),
        });
    }
    Ok(())
}

fn validate_image(i: &ImageItem, model: &Model) -> Result<(), SpecError> {
    check_aspect(model, &i.aspect_ratio)?;
    if i.fast && i.uhd {
        return Err(SpecError::Rule {
            model: model.id.clone(),
            rule: "`--uhd` overrides `--fast`; ask for one of them",
        });
    }
    if i.uhd && !model.uhd {
        return Err(SpecError::NotSupported {
            model: model.id.clone(),
            what: "UHD output (`--uhd`)",
        });
    }
    if i.fast && !model.fast {
        return Err(SpecError::NotSupported {
            model: model.id.clone(),
            what: "fast mode (`--fast` is for models hosted by imgnAI)",
        });
    }
    if model.requires_image && i.inputs.is_empty() {
        return Err(SpecError::Requires {
            model: model.id.clone(),
            what: "an input image (`--ref`)",
        });
    }
    if !i.inputs.is_empty() && model.max_refs == 0 {
        return Err(SpecError::NotSupported {
            model: model.id.clone(),
            what: "input images (it is text-to-image only)",
        });
    }
    check_count(model, "input images", model.max_refs, i.inputs.len())
}

fn validate_video(v: &VideoItem, model: &Model) -> Result<(), SpecError> {
    let rule = |rule: &'static str| Err(SpecError::Rule { model: model.id.clone(), rule });
    check_aspect(model, &v.aspect_ratio)?;
    let durations = model.durations();
    if !durations.contains(&v.duration_seconds) {
        return Err(SpecError::Duration {
            model: model.id.clone(),
            duration: v.duration_seconds,
            allowed: durations.iter().map(|d| format!("{d}")).collect::<Vec<_>>().join(", "),
        });
    }
    let ff = v.first_frame.is_some();
    let lf = v.last_frame.is_some();
    let refs = v.references.len();
    let audio = v.audio.len();
    if ff && !model.first_frame {
        return Err(SpecError::NotSupported { model: model.id.clone(), what: "a first frame" });
    }
    if lf && !model.last_frame {
        return Err(SpecError::NotSupported { model: model.id.clone(), what: "a last frame" });
    }
    if model.requires_image && !ff {
        return Err(SpecError::Requires {
            model: model.id.clone(),
            what: "a first frame (`--first-frame`)",
        });
    }
    if refs > 0 && model.max_refs == 0 {
        return Err(SpecError::NotSupported { model: model.id.clone(), what: "reference images" });
    }
    check_count(model, "reference images", model.max_refs, refs)?;
    if audio > 0 && !model.audio_input {
        return Err(SpecError::NotSupported { model: model.id.clone(), what: "audio inputs" });
    }
    check_count(model, "audio inputs", MAX_AUDIO_INPUTS, audio)?;
    if !v.videos.is_empty() && !model.video_input {
        return Err(SpecError::NotSupported { model: model.id.clone(), what: "input videos" });
    }
    for r in &model.rules {
        match r {
            VideoRule::LfNeedsFf if lf && !ff => {
                return rule("a last frame is allowed only together with a first frame");
            }
            VideoRule::ReferenceNoFfOrLf if refs > 0 && (ff || lf) => {
                return rule("reference images cannot be combined with a first or last frame");
            }
            VideoRule::ReferenceFfOnly if refs > 0 && lf => {
                return rule(
                    "reference images can be combined with a first frame, not a last frame",
                );
            }
            VideoRule::AudioNeedsReferenceImage if audio > 0 && refs == 0 => {
                return rule("audio inputs need at least one reference image (`--ref`)");
            }
            VideoRule::AudioFfOnly if audio > 0 && (lf || refs > 0) => {
                return rule("audio can be combined only with a first frame");
            }
            VideoRule::AudioOrFflfExclusive if audio > 0 && (ff || lf) => {
                return rule("audio cannot be combined with a first or last frame");
            }
            VideoRule::VideoRequired if v.videos.is_empty() => {
                return rule("at least one input video is required");
            }
            _ => {}
        }
    }
    if !model.has_rule(VideoRule::VideoOffsetAllowed)
        && v.videos.iter().any(|c| c.start.is_some() || c.end.is_some())
    {
        return rule("input-video start/end offsets are not allowed on this model");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(u: &str) -> MediaInput {
        MediaInput::Url { url: u.to_owned() }
    }

    fn image(model: &str) -> ImageItem {
        ImageItem {
            model: model.to_owned(),
            prompt: "a cat".to_owned(),
            aspect_ratio: "1:1".to_owned(),
            format: ImageFormat::Png,
            inputs: vec![],
            negative_prompt: None,
            fast: false,
            uhd: false,
        }
    }

    fn video(model: &str, duration: u32) -> VideoItem {
        VideoItem {
            model: model.to_owned(),
            prompt: "waves".to_owned(),
            duration_seconds: duration,
            aspect_ratio: "16:9".to_owned(),
            first_frame: None,
            last_frame: None,
            references: vec![],
            audio: vec![],
            videos: vec![],
        }
    }

    fn check(item: Item) -> Result<(), SpecError> {
        validate(&JobSpec::new(ProviderId::Katana, vec![item]), Catalogue::bundled())
    }

    #[test]
    fn image_rules() {
        assert!(check(Item::Image(image("gpt-image-2"))).is_ok());
        let mut bad = image("gpt-image-2");
        bad.aspect_ratio = "5:2".into();
        assert!(matches!(check(Item::Image(bad)), Err(SpecError::Aspect { .. })));
        assert!(matches!(
            check(Item::Image(image("nano-banana"))),
            Err(SpecError::Requires { .. })
        ));
        let mut refs = image("gen");
        refs.inputs.push(url("https://x/a.png"));
        assert!(matches!(check(Item::Image(refs)), Err(SpecError::NotSupported { .. })));
        let mut many = image("flux-2-pro");
        many.inputs = (0..5).map(|i| url(&format!("https://x/{i}.png"))).collect();
        assert!(matches!(check(Item::Image(many)), Err(SpecError::TooMany { max: 4, got: 5, .. })));
        let mut uhd = image("gen");
        uhd.uhd = true;
        assert!(matches!(check(Item::Image(uhd)), Err(SpecError::NotSupported { .. })));
        for ok in ["neo", "pink-image", "seedream-4-5"] {
            let mut uhd = image(ok);
            uhd.uhd = true;
            assert!(check(Item::Image(uhd)).is_ok(), "{ok} offers UHD");
        }
        let mut fast = image("gpt-image-2");
        fast.fast = true;
        assert!(matches!(check(Item::Image(fast)), Err(SpecError::NotSupported { .. })));
        let mut fast = image("gen");
        fast.fast = true;
        assert!(check(Item::Image(fast.clone())).is_ok());
        fast.uhd = true;
        assert!(matches!(check(Item::Image(fast)), Err(SpecError::Rule { .. })));
        let mut insecure = image("flux-2-pro");
        insecure.inputs.push(url("http://x/a.png"));
        assert!(matches!(check(Item::Image(insecure)), Err(SpecError::InsecureUrl { .. })));
    }

    #[test]
    fn video_rules() {
        assert!(check(Item::Video(video("seedance-2-0-fast", 5))).is_ok());
        assert!(matches!(
            check(Item::Video(video("seedance-2-0-fast", 7))),
            Err(SpecError::Duration { .. })
        ));
        let mut lf_only = video("kling-3-0-kling30", 5);
        lf_only.last_frame = Some(url("https://x/l.png"));
        assert!(matches!(check(Item::Video(lf_only)), Err(SpecError::Rule { .. })));
        let mut refs_ff = video("seedance-2-0", 5);
        refs_ff.first_frame = Some(url("https://x/f.png"));
        refs_ff.references.push(url("https://x/r.png"));
        assert!(matches!(check(Item::Video(refs_ff)), Err(SpecError::Rule { .. })));
        let mut audio = video("kling-3-0-kling30", 5);
        audio.audio.push(url("https://x/a.mp3"));
        assert!(matches!(check(Item::Video(audio)), Err(SpecError::NotSupported { .. })));
        let mut audio_no_ref = video("seedance-2-0", 5);
        audio_no_ref.audio.push(url("https://x/a.mp3"));
        assert!(matches!(check(Item::Video(audio_no_ref)), Err(SpecError::Rule { .. })));
        assert!(matches!(
            check(Item::Video(video("seedance-pro", 5))),
            Err(SpecError::Requires { .. })
        ));
    }

    #[test]
    fn a_file_and_the_same_bytes_inline_are_one_request_and_other_bytes_are_not() {
        let file = |path: &str, sha: &str| {
            MediaInput::File(FileRef {
                path: path.into(),
                mime: "image/png".into(),
                sha256: sha.into(),
                bytes: 3,
            })
        };
        let data = |sha: &str| MediaInput::Data {
            source: "ref.png".into(),
            mime: "image/png".into(),
            base64: "AAAA".into(),
            sha256: sha.into(),
        };
        let with = |input: MediaInput| {
            let mut i = image("gen");
            i.inputs = vec![input];
            JobSpec::new(ProviderId::Katana, vec![Item::Image(i)]).fingerprint()
        };
        let here = with(file("/home/a/ref.png", "ab12"));
        assert_eq!(here, with(file("/tmp/elsewhere.png", "ab12")), "the path is not the request");
        assert_eq!(here, with(data("ab12")), "inline bytes are the same request");
        assert_ne!(here, with(file("/home/a/ref.png", "cd34")), "other bytes are another");
        assert_ne!(here, with(MediaInput::Url { url: "https://example.com/ref.png".into() }));
    }

    #[test]
    fn fingerprint_is_stable_and_sensitive() {
        let a = JobSpec::new(ProviderId::Katana, vec![Item::Image(image("gen"))]);
        let mut b = a.clone();
        assert_eq!(a.fingerprint(), b.fingerprint());
        if let Item::Image(i) = &mut b.items[0] {
            i.prompt.push('!');
        }
        assert_ne!(a.fingerprint(), b.fingerprint());
    }
}
