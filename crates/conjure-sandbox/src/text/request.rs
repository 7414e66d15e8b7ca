//! Reading a `POST /v1/chat/completions` body into a [`ChatRequest`], the way the real service
//! validates it.
//!
//! The conversation becomes a `conjure_core::text::TextItem`, built the way the client builds
//! its own: a string `content` is `Message::text`, a list of parts keeps `text` parts as
//! `Part::Text`, `image_url` parts as `Part::Image` (the URL as given, a `data:` URL included:
//! the sandbox only counts images) and anything else (`input_audio`, ...) as `Part::Raw`. The
//! prompt tokens are then `TextItem::input_tokens()`, the very estimate the client quotes with.
//!
//! Two kinds of refusal, FastAPI style: a body of the wrong shape (not JSON, a field of the
//! wrong type, a message without `role`) is `422 {"detail": …}`; a well-formed request the
//! service cannot serve (an unknown or non-text model, an empty conversation, images or files
//! for a model that does not read them, `max_tokens` above the model's limit, a prompt larger
//! than the context, an image that is neither a URL nor base64) is `400 {"detail": …}`.
//! Pure functions only: no state, no IO.

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use conjure_core::catalogue::{MediaKind, Model};
use conjure_core::spec::MediaInput;
use conjure_core::text::{Message, Part, Role, TextItem, TextMode};
use serde_json::{Map, Value};

use crate::catalogue::Served;

/// A chat request the sandbox will answer.
#[derive(Clone, Debug)]
pub(crate) struct ChatRequest {
    pub model: &'static Model,
    /// The conversation as the client's own type; `model` is the canonical name.
    pub item: TextItem,
    /// Whether the answer streams (`stream: true`).
    pub stream: bool,
    /// `stream_options.include_usage`.
    pub include_usage: bool,
    /// Images in the conversation, in order: the decoded size of inline (`data:` or raw base64)
    /// ones, `None` for URLs.
    pub images: Vec<Option<usize>>,
}

/// Why a request is refused: the status and the `detail` text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub status: StatusCode,
    pub detail: String,
}

fn bad(detail: impl Into<String>) -> Refusal {
    Refusal { status: StatusCode::BAD_REQUEST, detail: detail.into() }
}

fn shape(detail: impl Into<String>) -> Refusal {
    Refusal { status: StatusCode::UNPROCESSABLE_ENTITY, detail: detail.into() }
}

/// Parses and validates a chat body. `asynchronous` is `?wait=false`, which cannot stream.
pub(crate) fn parse(
    body: &[u8],
    catalogue: &'static Served,
    asynchronous: bool,
) -> Result<ChatRequest, Refusal> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| shape(format!("The body is not valid JSON: {e}")))?;
    let Value::Object(obj) = value else {
        return Err(shape("The body must be a JSON object"));
    };
    let name = match obj.get("model") {
        Some(Value::String(name)) => name.as_str(),
        Some(_) => return Err(shape("Field `model` must be a string")),
        None => return Err(shape("Field `model` is required")),
    };
    let model = catalogue.exact(name).ok_or_else(|| bad(format!("no such model: {name}")))?;
    if model.kind != MediaKind::Text {
        return Err(bad(format!(
            "`{name}` is {} model, not a text model; submit it to /v1/generation-requests",
            if model.kind == MediaKind::Image { "an image" } else { "a video" }
        )));
    }

    let (messages, images) = conversation(&obj)?;
    if !images.is_empty() && !model.reads("image") {
        return Err(bad(format!("`{}` does not accept images", model.id)));
    }
    let files = files(&obj)?;
    if !files.is_empty() && !model.reads("file") {
        return Err(bad(format!("`{}` does not accept files", model.id)));
    }

    let max_tokens = max_tokens(&obj)?;
    if let (Some(asked), Some(limit)) = (max_tokens, model.max_output_tokens)
        && u64::from(asked) > limit
    {
        return Err(bad(format!(
            "`max_tokens` {asked} is above the limit of `{}` ({limit} tokens)",
            model.id
        )));
    }
    for field in ["temperature", "top_p", "top_k", "min_p", "repeat_penalty", "presence_penalty"] {
        if obj.get(field).is_some_and(|v| !v.is_null() && !v.is_number()) {
            return Err(shape(format!("Field `{field}` must be a number")));
        }
    }
    let stream = flag(&obj, "stream")?;
    let include_usage = match obj.get("stream_options") {
        None | Some(Value::Null) => false,
        Some(Value::Object(options)) => flag(options, "include_usage")?,
        Some(_) => return Err(shape("Field `stream_options` must be an object")),
    };
    if asynchronous && stream {
        return Err(bad("An async request (`wait=false`) cannot stream; drop `stream` or `wait`"));
    }

    let item = TextItem {
        model: model.id.clone(),
        messages,
        max_tokens,
        temperature: obj.get("temperature").and_then(Value::as_f64),
        top_p: obj.get("top_p").and_then(Value::as_f64),
        files,
        mode: if asynchronous {
            TextMode::Async
        } else if stream {
            TextMode::Stream
        } else {
            TextMode::Whole
        },
        continues: None,
    };
    if let Some(context) = model.context_tokens {
        let needed = item.input_tokens();
        if needed > context {
            return Err(bad(format!(
                "The conversation is about {needed} tokens, more than the context of `{}` \
                 ({context} tokens)",
                model.id
            )));
        }
    }
    Ok(ChatRequest { model, item, stream, include_usage, images })
}

fn flag(obj: &Map<String, Value>, name: &str) -> Result<bool, Refusal> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(shape(format!("Field `{name}` must be true or false"))),
    }
}

/// `max_completion_tokens`, or its older name `max_tokens`: a positive whole number.
fn max_tokens(obj: &Map<String, Value>) -> Result<Option<u32>, Refusal> {
    for field in ["max_completion_tokens", "max_tokens"] {
        match obj.get(field) {
            None | Some(Value::Null) => {}
            Some(v) => {
                let n = v
                    .as_i64()
                    .ok_or_else(|| shape(format!("Field `{field}` must be a whole number")))?;
                if n < 1 {
                    return Err(bad(format!("`{field}` must be at least 1")));
                }
                return Ok(Some(u32::try_from(n).unwrap_or(u32::MAX)));
            }
        }
    }
    Ok(None)
}

/// `files: [{url}]` (a bare string is taken as the URL).
fn files(obj: &Map<String, Value>) -> Result<Vec<String>, Refusal> {
    match obj.get("files") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(list)) => list
            .iter()
            .map(|f| match f {
                Value::String(url) => Ok(url.clone()),
                Value::Object(o) => o
                    .get("url")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| shape("Each `files` entry needs a string `url`")),
                _ => Err(shape("Each `files` entry must be an object with `url`")),
            })
            .collect(),
        Some(_) => Err(shape("Field `files` must be a list")),
    }
}

/// The messages (or the bare `prompt`), and the images they carry.
fn conversation(obj: &Map<String, Value>) -> Result<(Vec<Message>, Vec<Option<usize>>), Refusal> {
    let mut images = Vec::new();
    let messages = match (obj.get("messages"), obj.get("prompt")) {
        (Some(Value::Array(list)), _) => list
            .iter()
            .enumerate()
            .map(|(i, m)| message(i, m, &mut images))
            .collect::<Result<Vec<_>, _>>()?,
        (Some(Value::Null) | None, Some(Value::String(prompt))) => {
            vec![Message::text(Role::User, prompt.clone())]
        }
        (Some(Value::Null) | None, Some(Value::Null) | None) => Vec::new(),
        (Some(Value::Null) | None, Some(_)) => {
            return Err(shape("Field `prompt` must be a string"));
        }
        (Some(_), _) => return Err(shape("Field `messages` must be a list")),
    };
    let empty = messages.iter().all(|m| {
        m.content.iter().all(|p| matches!(p, Part::Text { text } if text.trim().is_empty()))
    });
    if empty {
        return Err(bad("The conversation is empty: give `messages` (or a `prompt`) with content"));
    }
    Ok((messages, images))
}

fn message(
    index: usize,
    value: &Value,
    images: &mut Vec<Option<usize>>,
) -> Result<Message, Refusal> {
    let at = |what: &str| shape(format!("messages[{index}]: {what}"));
    let Value::Object(obj) = value else {
        return Err(at("each message must be an object"));
    };
    let role = match obj.get("role") {
        Some(Value::String(role)) => Role::parse(role).ok_or_else(|| {
            at(&format!("unknown role `{role}`; use system, developer, user, assistant or tool"))
        })?,
        Some(_) => return Err(at("`role` must be a string")),
        None => return Err(at("`role` is required")),
    };
    match obj.get("content") {
        Some(Value::String(text)) => Ok(Message::text(role, text.clone())),
        // An assistant turn that only called tools.
        None | Some(Value::Null) => Ok(Message { role, content: Vec::new(), plain: false }),
        Some(Value::Array(parts)) => {
            let content = parts
                .iter()
                .map(|p| part(p, images).map_err(|e| e.unwrap_or_else(|what| at(&what))))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Message { role, content, plain: false })
        }
        Some(_) => Err(at("`content` must be a string or a list of parts")),
    }
}

/// One content part. `Err(Err(what))` is a shape error for the caller to place; an image that
/// is not base64 is a finished 400 (`Err(Ok(refusal))`).
fn part(value: &Value, images: &mut Vec<Option<usize>>) -> Result<Part, Result<Refusal, String>> {
    let shape_err = |what: &str| Err(Err(what.to_owned()));
    let Value::Object(obj) = value else {
        return shape_err("each content part must be an object");
    };
    match obj.get("type").and_then(Value::as_str) {
        Some("text") => match obj.get("text") {
            Some(Value::String(text)) => Ok(Part::Text { text: text.clone() }),
            _ => shape_err("a `text` part needs a string `text`"),
        },
        Some("image_url") => {
            let url = match obj.get("image_url") {
                Some(Value::String(url)) => url.as_str(),
                Some(Value::Object(o)) => o.get("url").and_then(Value::as_str).unwrap_or(""),
                _ => "",
            };
            if url.trim().is_empty() {
                return shape_err("an `image_url` part needs `image_url.url`");
            }
            images.push(inline_size(url).map_err(Ok)?);
            Ok(Part::Image { input: MediaInput::Url { url: url.to_owned() } })
        }
        Some(_) => Ok(Part::Raw { value: value.clone() }),
        None => shape_err("each content part needs a string `type`"),
    }
}

/// The decoded size of an inline image, `None` for an `http(s)` URL. Anything else must be
/// base64 (in a `data:` URL or raw); a local path or `file://` fails as on the real service.
fn inline_size(url: &str) -> Result<Option<usize>, Refusal> {
    let url = url.trim();
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        return Ok(None);
    }
    let invalid = || bad(INVALID_BASE64);
    let data = match url.strip_prefix("data:") {
        Some(rest) => rest.split_once(";base64,").ok_or_else(invalid)?.1,
        None => url,
    };
    let bytes =
        STANDARD.decode(data).or_else(|_| STANDARD_NO_PAD.decode(data)).map_err(|_| invalid())?;
    if bytes.is_empty() {
        return Err(invalid());
    }
    Ok(Some(bytes.len()))
}

/// The real service's words for an image it cannot read.
pub(crate) const INVALID_BASE64: &str = "Invalid base64 data";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(body: &Value) -> Result<ChatRequest, Refusal> {
        parse(body.to_string().as_bytes(), Served::bundled(), false)
    }

    #[test]
    fn messages_become_the_clients_text_item() {
        let req = run(&json!({
            "model": "grok-4-3",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAECAw=="}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                    {"type": "input_audio", "input_audio": {"data": "AA==", "format": "wav"}},
                ]},
            ],
            "max_tokens": 100,
        }))
        .unwrap();
        assert_eq!(req.model.id, "grok-4-3");
        assert_eq!(req.images, vec![Some(4), None]);
        assert_eq!(req.item.messages[0], Message::text(Role::System, "be brief"));
        let user = &req.item.messages[1];
        assert!(!user.plain);
        assert!(matches!(&user.content[1], Part::Image { input: MediaInput::Url { url } }
            if url == "data:image/png;base64,AAECAw=="));
        assert!(matches!(&user.content[3], Part::Raw { .. }));
        assert_eq!(req.item.max_tokens, Some(100));
        assert_eq!(req.item.mode, TextMode::Whole);
        assert!(!req.stream);
    }

    #[test]
    fn a_bare_prompt_is_one_user_message() {
        let req = run(&json!({"model": "deepseek-v4-flash", "prompt": "hi", "stream": true,
            "stream_options": {"include_usage": true}, "max_completion_tokens": 5}))
        .unwrap();
        assert_eq!(req.item.messages, vec![Message::text(Role::User, "hi")]);
        assert!(req.stream && req.include_usage);
        assert_eq!(req.item.max_tokens, Some(5));
    }

    #[test]
    fn refusals() {
        let status = |body: Value| run(&body).unwrap_err();
        let hi = json!([{"role": "user", "content": "hi"}]);
        let r = status(json!({"model": "nope", "messages": hi}));
        assert_eq!((r.status, r.detail.as_str()), (StatusCode::BAD_REQUEST, "no such model: nope"));
        assert_eq!(
            status(json!({"model": "grok", "messages": hi})).status,
            StatusCode::BAD_REQUEST
        );
        let r = status(json!({"model": "gpt-image-2", "messages": hi}));
        assert!(r.detail.contains("image model"), "{}", r.detail);
        assert_eq!(status(json!({"messages": hi})).status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            status(json!({"model": "grok-4-3", "messages": []})).status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(status(json!({"model": "grok-4-3"})).status, StatusCode::BAD_REQUEST);
        let image = json!([{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}]);
        let r = status(json!({"model": "qwen3-7-max", "messages": image}));
        assert!(r.detail.contains("does not accept images"), "{}", r.detail);
        let local = json!([{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "/tmp/x.png"}}]}]);
        let r = status(json!({"model": "grok-4-3", "messages": local}));
        assert_eq!((r.status, r.detail.as_str()), (StatusCode::BAD_REQUEST, INVALID_BASE64));
        let r = status(
            json!({"model": "grok-4-3", "messages": hi, "files": [{"url": "https://x/y.pdf"}]}),
        );
        assert!(r.detail.contains("does not accept files"), "{}", r.detail);
        let r = status(json!({"model": "kimi-k2-6", "messages": hi, "max_tokens": 16_385}));
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.detail.contains("16384"), "{}", r.detail);
        assert_eq!(
            status(json!({"model": "grok-4-3", "messages": hi, "max_tokens": 0})).status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status(json!({"model": "grok-4-3", "messages": hi, "stream": "yes"})).status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        let r = parse(
            json!({"model": "grok-4-3", "messages": hi, "stream": true}).to_string().as_bytes(),
            Served::bundled(),
            true,
        )
        .unwrap_err();
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
    }
}
