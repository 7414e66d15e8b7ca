//! Plain request types every front end fills in: an image, a video, or a raw provider payload.
//!
//! No clap here: the CLI translates its flags into these, an MCP server deserialises them from
//! JSON (each field has the CLI's default), a batch runner reads them from a file. [`Request::spec`]
//! resolves the model, the inputs (checked by content, see [`crate::inputs`]) and the defaults
//! into the normalised [`JobSpec`] that is quoted, approved and sent.

use conjure_core::imaginepro;
use conjure_core::spec::{
    Hooks, ImageFormat, ImageItem, InputKind, Item, MediaInput, Tool, ToolItem, VideoItem,
};
use conjure_core::text::{Message, Part, Role, TextItem, TextMode};
use conjure_core::{Catalogue, JobSpec, MediaKind, ProviderId};
use conjure_providers::registry;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::inputs;

fn katana() -> ProviderId {
    ProviderId::Katana
}

fn one() -> u32 {
    1
}

/// The model an image request without one uses, per provider.
pub fn default_image_model(provider: ProviderId) -> &'static str {
    match provider {
        ProviderId::Katana => "gen",
        ProviderId::ImaginePro => imaginepro::MIDJOURNEY,
    }
}

/// The model a video request without one uses, per provider.
pub fn default_video_model(provider: ProviderId) -> &'static str {
    match provider {
        ProviderId::Katana => "seedance-2-0-fast",
        ProviderId::ImaginePro => imaginepro::MJ_VIDEO,
    }
}

fn square() -> String {
    "1:1".to_owned()
}

fn png() -> String {
    "png".to_owned()
}

/// `conjure image`: one request of `count` images.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ImageRequest {
    pub prompt: String,
    #[serde(default = "katana")]
    pub provider: ProviderId,
    /// A model key, legacy key or alias (default: the provider's, [`default_image_model`]).
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default = "square")]
    pub aspect: String,
    /// `png`, `jpeg`/`jpg` or `webp`.
    #[serde(default = "png")]
    pub format: String,
    /// Input or reference images: local paths or https:// URLs.
    #[serde(default)]
    pub refs: Vec<String>,
    #[serde(default)]
    pub negative: Option<String>,
    #[serde(default)]
    pub fast: bool,
    #[serde(default)]
    pub uhd: bool,
    #[serde(default = "one")]
    pub count: u32,
    /// Midjourney's speed, `fast` or `relax` (ImaginePro).
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub hooks: Hooks,
}

impl ImageRequest {
    /// An image request with every default.
    pub fn new(prompt: impl Into<String>) -> ImageRequest {
        ImageRequest {
            prompt: prompt.into(),
            provider: katana(),
            model: None,
            aspect: square(),
            format: png(),
            refs: Vec::new(),
            negative: None,
            fast: false,
            uhd: false,
            count: 1,
            mode: None,
            hooks: Hooks::default(),
        }
    }
}

/// `conjure video`: one clip.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VideoRequest {
    pub prompt: String,
    #[serde(default = "katana")]
    pub provider: ProviderId,
    /// A model key or alias (default: the provider's, [`default_video_model`]).
    #[serde(default)]
    pub model: Option<String>,
    /// Seconds, from the model's list (default: its shortest).
    #[serde(default)]
    pub duration: Option<u32>,
    /// `W:H` (default: 16:9, or the model's first).
    #[serde(default)]
    pub aspect: Option<String>,
    #[serde(default)]
    pub first_frame: Option<String>,
    #[serde(default)]
    pub last_frame: Option<String>,
    #[serde(default)]
    pub refs: Vec<String>,
    #[serde(default)]
    pub audio: Vec<String>,
    #[serde(default)]
    pub hooks: Hooks,
}

impl VideoRequest {
    /// A video request with every default.
    pub fn new(prompt: impl Into<String>) -> VideoRequest {
        VideoRequest {
            prompt: prompt.into(),
            provider: katana(),
            model: None,
            duration: None,
            aspect: None,
            first_frame: None,
            last_frame: None,
            refs: Vec::new(),
            audio: Vec::new(),
            hooks: Hooks::default(),
        }
    }
}

/// The text model used when a request names none (a setting: `text.model`).
pub const DEFAULT_TEXT_MODEL: &str = "grok-4-3";

fn default_text_model() -> String {
    DEFAULT_TEXT_MODEL.to_owned()
}

/// `conjure text`: one turn of a conversation.
///
/// The messages sent are, in order: `system` (replacing a system turn the earlier messages
/// begin with), `history` (the turns of a continued conversation, see
/// [`crate::App::conversation`]), `messages` (an OpenAI-style array given whole), then the new
/// user turn: `prompt` with `images`. A request without a prompt sends the messages as they are.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TextRequest {
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default = "katana")]
    pub provider: ProviderId,
    /// A model key or alias.
    #[serde(default = "default_text_model")]
    pub model: String,
    #[serde(default)]
    pub system: Option<String>,
    /// An OpenAI-style `messages` array.
    #[serde(default)]
    pub messages: Option<serde_json::Value>,
    /// Earlier turns of the conversation this continues.
    #[serde(default)]
    pub history: Vec<Message>,
    /// The job the history comes from.
    #[serde(default)]
    pub continues: Option<String>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    /// Images for vision models: local paths or https:// URLs.
    #[serde(default)]
    pub images: Vec<String>,
    /// File URLs for models that read files.
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default)]
    pub mode: TextMode,
}

impl TextRequest {
    /// A streamed question to the default model.
    pub fn new(prompt: impl Into<String>) -> TextRequest {
        TextRequest {
            prompt: Some(prompt.into()),
            provider: katana(),
            model: default_text_model(),
            system: None,
            messages: None,
            history: Vec::new(),
            continues: None,
            max_tokens: None,
            temperature: None,
            top_p: None,
            images: Vec::new(),
            files: Vec::new(),
            mode: TextMode::Stream,
        }
    }
}

/// `conjure upscale URL` and `conjure remove-bg URL`: one image through a provider's tool
/// (ImaginePro's Flux upscale and background removal).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ToolRequest {
    #[serde(default = "imaginepro_id")]
    pub provider: ProviderId,
    pub tool: ToolName,
    /// The image, as a URL the provider can fetch.
    pub image: String,
    /// Upscale factor, 2 to 4 (default 2).
    #[serde(default)]
    pub scale: Option<u8>,
    #[serde(default)]
    pub hooks: Hooks,
}

/// The tools of [`ToolRequest`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ToolName {
    Upscale,
    RemoveBg,
}

fn imaginepro_id() -> ProviderId {
    ProviderId::ImaginePro
}

/// `conjure button JOB BUTTON` (and `conjure upscale JOB --index N`): a Midjourney button
/// pressed on a finished job. Its order needs the journal (the parent's message and buttons):
/// `App::button_order`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ButtonRequest {
    /// The parent: a job id (or unique prefix) from the journal.
    pub job: String,
    /// `U1`..`U4`, `V1`..`V4`, `reroll`, `zoom-out-2x`, ... or the wire value itself.
    pub button: String,
    /// `vary-region` only: the mask image URL.
    #[serde(default)]
    pub mask: Option<String>,
    /// `vary-region` only: what to paint in the masked region.
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub hooks: Hooks,
}

/// `conjure submit`: a provider's own request body, validated and quoted like the rest.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayloadRequest {
    #[serde(default = "katana")]
    pub provider: ProviderId,
    pub payload: serde_json::Value,
}

/// Anything conjure can be asked to pay for.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Request {
    Image(ImageRequest),
    Video(VideoRequest),
    Text(TextRequest),
    Tool(ToolRequest),
    Payload(PayloadRequest),
}

impl Request {
    /// The provider the request is for.
    pub fn provider(&self) -> ProviderId {
        match self {
            Request::Image(r) => r.provider,
            Request::Video(r) => r.provider,
            Request::Text(r) => r.provider,
            Request::Tool(r) => r.provider,
            Request::Payload(r) => r.provider,
        }
    }

    /// The normalised request: model resolved, inputs read and checked, defaults applied.
    pub fn spec(&self) -> Result<JobSpec, AppError> {
        self.spec_in(Catalogue::bundled())
    }

    /// [`Request::spec`] with models resolved in `catalogue` (the one in use, `App::catalogue`).
    pub fn spec_in(&self, catalogue: &Catalogue) -> Result<JobSpec, AppError> {
        let provider = self.provider();
        if !registry::capabilities(provider).implemented {
            return Err(AppError::invalid(format!(
                "conjure cannot send requests to {provider} yet"
            ))
            .hint(format!(
                "{}; `conjure models` lists what it offers",
                registry::sendable_hint()
            )));
        }
        match self {
            Request::Image(r) => image_spec(r, catalogue),
            Request::Video(r) => video_spec(r, catalogue),
            Request::Text(r) => text_spec(r, catalogue),
            Request::Tool(r) => tool_spec(r),
            Request::Payload(r) => {
                let caps = registry::capabilities(r.provider);
                let mut resolve = |path: &str, value: &str, kind: InputKind| {
                    resolve_input(value, kind, path, caps.inline_inputs)
                };
                registry::parse_payload(r.provider, &r.payload, &mut resolve)
            }
        }
    }
}

/// An input value. A provider without inline inputs (ImaginePro) takes URLs only, fetched by
/// the provider itself, so a local path is refused before it is read, and `http://` passes
/// (no credential of ours goes with it; see `conjure_core::imaginepro`).
pub(crate) fn resolve_input(
    value: &str,
    kind: InputKind,
    flag: &str,
    inline: bool,
) -> Result<MediaInput, AppError> {
    if !inline {
        let v = value.trim();
        let lower = v.to_ascii_lowercase();
        if (lower.starts_with("https://") || lower.starts_with("http://")) && v.len() > 8 {
            return Ok(MediaInput::Url { url: v.to_owned() });
        }
        return Err(AppError::invalid(format!(
            "`{flag} {value}`: ImaginePro takes image URLs, not uploads"
        ))
        .hint("put the file somewhere ImaginePro can fetch it (your own storage, or the URL of an earlier job's output: `conjure status JOB --json`) and pass that https:// URL"));
    }
    inputs::resolve(value, kind, flag)
}

fn image_spec(r: &ImageRequest, catalogue: &Catalogue) -> Result<JobSpec, AppError> {
    if r.provider == ProviderId::ImaginePro {
        return imaginepro_image_spec(r);
    }
    if r.mode.is_some() {
        return Err(AppError::invalid("`--mode` is Midjourney's (ImaginePro)")
            .hint("leave it out, or use `--provider imaginepro --model midjourney`"));
    }
    let caps = registry::capabilities(r.provider);
    let name = r.model.as_deref().unwrap_or(default_image_model(r.provider));
    let model = catalogue
        .resolve(r.provider, Some(MediaKind::Image), name)
        .map_err(|e| other_provider(e, name))?;
    let format = ImageFormat::parse(&r.format).ok_or_else(|| {
        AppError::invalid(format!("Unknown format `{}`", r.format)).hint("use png, jpeg or webp")
    })?;
    if !(1..=10).contains(&r.count) {
        return Err(AppError::invalid(format!("`--count {}` is out of range", r.count))
            .hint("ask for 1 to 10 images per request"));
    }
    let inputs = r
        .refs
        .iter()
        .map(|v| resolve_input(v, InputKind::Image, "--ref", caps.inline_inputs))
        .collect::<Result<Vec<_>, _>>()?;
    let item = ImageItem {
        model: model.id.clone(),
        prompt: r.prompt.clone(),
        aspect_ratio: r.aspect.trim().to_owned(),
        format,
        inputs,
        negative_prompt: r.negative.clone().filter(|n| !n.trim().is_empty()),
        fast: r.fast,
        uhd: r.uhd,
    };
    Ok(image_job(r, item))
}

/// A Katana catalogue miss for a name that is ImaginePro's says which `--provider` it needs.
fn other_provider(e: conjure_core::catalogue::CatalogueError, name: &str) -> AppError {
    let ours = imaginepro::IMAGE_MODELS.iter().chain([&imaginepro::MJ_VIDEO]);
    let mut err = AppError::from(e);
    if ours.into_iter().any(|m| m.eq_ignore_ascii_case(name.trim())) {
        err = err.hint(format!("`{name}` is ImaginePro's: add `--provider imaginepro`"));
    }
    err
}

/// `r.count` copies of `item`, one request, with `r`'s hooks.
fn image_job(r: &ImageRequest, item: ImageItem) -> JobSpec {
    JobSpec {
        provider: r.provider,
        items: vec![Item::Image(item); r.count as usize],
        hooks: r.hooks.clone(),
    }
}

/// An ImaginePro image: the model by its own name, Midjourney's mode and `--aspect` written into
/// the prompt (the text sent is what the quote is priced from), URL references for Nano Banana.
fn imaginepro_image_spec(r: &ImageRequest) -> Result<JobSpec, AppError> {
    let model = r.model.as_deref().unwrap_or(imaginepro::MIDJOURNEY).trim().to_ascii_lowercase();
    let model = match model.as_str() {
        "mj" => imaginepro::MIDJOURNEY.to_owned(),
        "nano" | "nanobanana" | "nano-banana-2" => imaginepro::NANO_BANANA.to_owned(),
        "lumi" | "lumigirl" => imaginepro::LUMI_GIRL.to_owned(),
        _ => model,
    };
    let aspect = r.aspect.trim();
    let default_aspect = aspect == "1:1" || aspect == "auto";
    let mut prompt = r.prompt.clone();
    if model == imaginepro::MIDJOURNEY {
        if let Some(mode) = &r.mode {
            let mode = imaginepro::Mode::parse(mode).ok_or_else(|| {
                AppError::invalid(format!("Unknown mode `{mode}`"))
                    .hint("use `--mode fast` or `--mode relax`")
            })?;
            prompt = imaginepro::apply_mode(&prompt, mode);
        }
        if !default_aspect {
            match imaginepro::prompt_aspect(&prompt) {
                None => prompt = format!("{} --ar {aspect}", prompt.trim_end()),
                Some(typed) if typed == aspect => {}
                Some(typed) => {
                    return Err(AppError::invalid(format!(
                        "`--aspect {aspect}` and `--ar {typed}` in the prompt disagree"
                    ))
                    .hint("give the aspect once"));
                }
            }
        }
    } else if r.mode.is_some() {
        return Err(AppError::invalid(format!("`--mode` is Midjourney's; `{model}` has no modes"))
            .hint("leave it out, or use `--model midjourney`"));
    } else if !default_aspect && model != imaginepro::LUMI_GIRL && model != imaginepro::FLUX {
        return Err(AppError::invalid(format!("`{model}` takes no `--aspect`"))
            .hint("describe the shape in the prompt, or use midjourney, flux or lumi-girl"));
    }
    if r.count > 1 && model != imaginepro::FLUX {
        return Err(AppError::invalid(format!(
            "`{model}` makes one job per request; `--count` is Flux's"
        ))
        .hint("leave out `--count` (a Midjourney job is already a grid of 4)"));
    }
    if r.format != "png" {
        return Err(AppError::invalid("ImaginePro picks the output format itself")
            .hint("leave out `--format`; convert afterwards with `conjure media convert`"));
    }
    let inputs = r
        .refs
        .iter()
        .map(|v| resolve_input(v, InputKind::Image, "--ref", false))
        .collect::<Result<Vec<_>, _>>()?;
    let item = ImageItem {
        model,
        prompt,
        aspect_ratio: aspect.to_owned(),
        format: ImageFormat::Png,
        inputs,
        negative_prompt: r.negative.clone().filter(|n| !n.trim().is_empty()),
        fast: r.fast,
        uhd: r.uhd,
    };
    Ok(image_job(r, item))
}

fn tool_spec(r: &ToolRequest) -> Result<JobSpec, AppError> {
    if r.provider != ProviderId::ImaginePro {
        return Err(AppError::invalid(format!("{} has no image tools", r.provider))
            .hint("use `--provider imaginepro`"));
    }
    let tool = match r.tool {
        ToolName::Upscale => Tool::Upscale { scale: r.scale.unwrap_or(2) },
        ToolName::RemoveBg if r.scale.is_some() => {
            return Err(
                AppError::invalid("`--scale` is for `conjure upscale`").hint("leave it out")
            );
        }
        ToolName::RemoveBg => Tool::RemoveBg,
    };
    let image = resolve_input(&r.image, InputKind::Image, "IMAGE", false)?;
    Ok(JobSpec {
        provider: r.provider,
        items: vec![Item::Tool(ToolItem { tool, image })],
        hooks: r.hooks.clone(),
    })
}

fn video_spec(r: &VideoRequest, catalogue: &Catalogue) -> Result<JobSpec, AppError> {
    if r.provider == ProviderId::ImaginePro {
        return imaginepro_video_spec(r);
    }
    let caps = registry::capabilities(r.provider);
    let name = r.model.as_deref().unwrap_or(default_video_model(r.provider));
    let model = catalogue
        .resolve(r.provider, Some(MediaKind::Video), name)
        .map_err(|e| other_provider(e, name))?;
    let duration = r.duration.unwrap_or_else(|| model.durations().first().copied().unwrap_or(5));
    let aspect = match &r.aspect {
        Some(a) => a.trim().to_owned(),
        None if model.aspects.iter().any(|a| a == "16:9") => "16:9".to_owned(),
        None => model.aspects.first().cloned().unwrap_or_else(|| "16:9".to_owned()),
    };
    let input = |v: &String, kind, flag| resolve_input(v, kind, flag, caps.inline_inputs);
    let item = VideoItem {
        model: model.id.clone(),
        prompt: r.prompt.clone(),
        duration_seconds: duration,
        aspect_ratio: aspect,
        first_frame: r
            .first_frame
            .as_ref()
            .map(|v| input(v, InputKind::Image, "--first-frame"))
            .transpose()?,
        last_frame: r
            .last_frame
            .as_ref()
            .map(|v| input(v, InputKind::Image, "--last-frame"))
            .transpose()?,
        references: r
            .refs
            .iter()
            .map(|v| input(v, InputKind::Image, "--ref"))
            .collect::<Result<_, _>>()?,
        audio: r
            .audio
            .iter()
            .map(|v| input(v, InputKind::Audio, "--audio"))
            .collect::<Result<_, _>>()?,
        videos: Vec::new(),
    };
    Ok(JobSpec { provider: r.provider, items: vec![Item::Video(item)], hooks: r.hooks.clone() })
}

/// An MJ video: a prompt between two frames, both URLs.
fn imaginepro_video_spec(r: &VideoRequest) -> Result<JobSpec, AppError> {
    let model = r.model.as_deref().unwrap_or(imaginepro::MJ_VIDEO).trim().to_ascii_lowercase();
    if r.duration.is_some() || r.aspect.is_some() {
        return Err(AppError::invalid("An MJ video takes no `--duration` or `--aspect`")
            .hint("leave them out; the frames set the shape"));
    }
    let frame = |v: &Option<String>, flag: &str| {
        v.as_ref().map(|v| resolve_input(v, InputKind::Image, flag, false)).transpose()
    };
    let item = VideoItem {
        model,
        prompt: r.prompt.clone(),
        duration_seconds: 0,
        aspect_ratio: String::new(),
        first_frame: frame(&r.first_frame, "--first-frame")?,
        last_frame: frame(&r.last_frame, "--last-frame")?,
        references: r
            .refs
            .iter()
            .map(|v| resolve_input(v, InputKind::Image, "--ref", false))
            .collect::<Result<_, _>>()?,
        audio: r
            .audio
            .iter()
            .map(|v| resolve_input(v, InputKind::Audio, "--audio", false))
            .collect::<Result<_, _>>()?,
        videos: Vec::new(),
    };
    Ok(JobSpec { provider: r.provider, items: vec![Item::Video(item)], hooks: r.hooks.clone() })
}

fn text_spec(r: &TextRequest, catalogue: &Catalogue) -> Result<JobSpec, AppError> {
    let caps = registry::capabilities(r.provider);
    let model = catalogue.resolve(r.provider, Some(MediaKind::Text), &r.model)?;
    let mut messages = r.history.clone();
    if let Some(raw) = &r.messages {
        let mut image = |url: &str| {
            resolve_input(url, InputKind::Image, "--messages", caps.inline_inputs)
                .map_err(|e| e.message)
        };
        let given = conjure_providers::katana::chat::parse_messages(raw, &mut image).map_err(
            |e| {
                AppError::invalid(format!("The messages are not usable: {e}")).hint(
                    "give a JSON array of {\"role\": \"user\"|\"assistant\"|\"system\", \"content\": \"...\"} objects",
                )
            },
        )?;
        messages.extend(given);
    }
    if let Some(system) = r.system.as_deref().filter(|s| !s.trim().is_empty()) {
        if messages.first().is_some_and(|m| m.role == Role::System) {
            messages.remove(0);
        }
        messages.insert(0, Message::text(Role::System, system));
    }
    let prompt = r.prompt.as_deref().filter(|p| !p.trim().is_empty());
    let images = r
        .images
        .iter()
        .map(|v| resolve_input(v, InputKind::Image, "--image", caps.inline_inputs))
        .collect::<Result<Vec<_>, _>>()?;
    match prompt {
        Some(p) if images.is_empty() => messages.push(Message::text(Role::User, p)),
        Some(p) => {
            let mut content = vec![Part::Text { text: p.to_owned() }];
            content.extend(images.into_iter().map(|input| Part::Image { input }));
            messages.push(Message { role: Role::User, content, plain: false });
        }
        None if r.continues.is_some() && r.messages.is_none() => {
            return Err(AppError::invalid("`--continue` needs the next question")
                .hint("add it, e.g. `conjure text --continue \"and then?\"`"));
        }
        None if !images.is_empty() => {
            return Err(AppError::invalid("`--image` needs a question to go with it").hint(
                "add a prompt, e.g. `conjure text \"what is in this picture?\" --image cat.png`",
            ));
        }
        None => {}
    }
    let item = TextItem {
        model: model.id.clone(),
        messages,
        max_tokens: r.max_tokens,
        temperature: r.temperature,
        top_p: r.top_p,
        files: r.files.iter().map(|f| f.trim().to_owned()).collect(),
        mode: r.mode,
        continues: r.continues.clone(),
    };
    Ok(JobSpec::new(r.provider, vec![Item::Text(item)]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_deserialise_with_the_cli_defaults() {
        let r: Request =
            serde_json::from_value(serde_json::json!({"type": "image", "prompt": "a fox"}))
                .unwrap();
        assert_eq!(r, Request::Image(ImageRequest::new("a fox")));
        let r: Request =
            serde_json::from_value(serde_json::json!({"type": "video", "prompt": "waves"}))
                .unwrap();
        assert_eq!(r, Request::Video(VideoRequest::new("waves")));
        assert!(
            serde_json::from_value::<Request>(
                serde_json::json!({"type": "image", "prompt": "x", "modle": "gen"})
            )
            .is_err()
        );
    }

    #[test]
    fn specs_resolve_models_and_defaults() {
        let spec = Request::Image(ImageRequest {
            model: Some("flux".into()),
            count: 2,
            ..ImageRequest::new("x")
        })
        .spec()
        .unwrap();
        assert_eq!(spec.items.len(), 2);
        assert_eq!(spec.model(), "flux-2-pro");
        let spec =
            Request::Video(VideoRequest { model: Some("kling".into()), ..VideoRequest::new("x") })
                .spec()
                .unwrap();
        let Item::Video(v) = &spec.items[0] else { panic!() };
        assert_eq!((v.duration_seconds, v.aspect_ratio.as_str()), (5, "16:9"));
        let e =
            Request::Image(ImageRequest { count: 0, ..ImageRequest::new("x") }).spec().unwrap_err();
        assert!(e.message.contains("out of range"));
    }

    fn mj(prompt: &str) -> ImageRequest {
        ImageRequest { provider: ProviderId::ImaginePro, ..ImageRequest::new(prompt) }
    }

    fn prompt_of(spec: &JobSpec) -> &str {
        spec.items[0].prompt()
    }

    #[test]
    fn imaginepro_images_write_mode_and_aspect_into_the_prompt() {
        let spec = imaginepro_image_spec(&mj("a fox")).unwrap();
        assert_eq!((spec.model(), prompt_of(&spec)), ("midjourney", "a fox"));
        let r = ImageRequest { mode: Some("relax".into()), aspect: "16:9".into(), ..mj("a fox ") };
        assert_eq!(prompt_of(&imaginepro_image_spec(&r).unwrap()), "a fox --relax --ar 16:9");
        // Typed once, not twice; typed differently, refused.
        let r = ImageRequest {
            mode: Some("relax".into()),
            aspect: "16:9".into(),
            ..mj("a fox --relax --ar 16:9")
        };
        assert_eq!(prompt_of(&imaginepro_image_spec(&r).unwrap()), "a fox --relax --ar 16:9");
        let r = ImageRequest { aspect: "16:9".into(), ..mj("a fox --ar 4:3") };
        assert!(imaginepro_image_spec(&r).unwrap_err().message.contains("disagree"));
        // Flux batches; other models make one job; --mode is Midjourney's.
        let r = ImageRequest { model: Some("flux".into()), count: 3, ..mj("a fox") };
        assert_eq!(imaginepro_image_spec(&r).unwrap().items.len(), 3);
        let r = ImageRequest { count: 2, ..mj("a fox") };
        assert!(imaginepro_image_spec(&r).is_err());
        let r = ImageRequest { model: Some("flux".into()), mode: Some("fast".into()), ..mj("x") };
        assert!(imaginepro_image_spec(&r).is_err());
        let r = ImageRequest { model: Some("nano".into()), ..mj("x") };
        assert_eq!(imaginepro_image_spec(&r).unwrap().model(), "nano-banana");
    }

    #[test]
    fn imaginepro_inputs_are_urls_and_local_paths_are_refused_unread() {
        let r = ImageRequest {
            model: Some("nano-banana".into()),
            refs: vec!["http://example.com/a.png".into(), "/no/such/file.png".into()],
            ..mj("x")
        };
        let e = imaginepro_image_spec(&r).unwrap_err();
        assert!(
            e.message.contains("/no/such/file.png") && e.message.contains("not uploads"),
            "{e:?}"
        );
        let r = ImageRequest { refs: vec!["http://example.com/a.png".into()], ..r };
        let spec = imaginepro_image_spec(&r).unwrap();
        let Item::Image(i) = &spec.items[0] else { panic!() };
        assert_eq!(i.inputs, vec![MediaInput::Url { url: "http://example.com/a.png".into() }]);
        let tool = ToolRequest {
            provider: ProviderId::ImaginePro,
            tool: ToolName::Upscale,
            image: "https://example.com/a.png".into(),
            scale: None,
            hooks: Hooks { webhook: None, tag: Some("t".into()) },
        };
        let spec = tool_spec(&tool).unwrap();
        assert_eq!(spec.hooks.tag.as_deref(), Some("t"));
        assert!(matches!(
            &spec.items[0],
            Item::Tool(ToolItem { tool: Tool::Upscale { scale: 2 }, .. })
        ));
        assert!(
            tool_spec(&ToolRequest { tool: ToolName::RemoveBg, scale: Some(2), ..tool }).is_err()
        );
    }
}
