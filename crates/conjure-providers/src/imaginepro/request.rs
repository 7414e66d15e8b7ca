//! The request builder (pure): one [`JobSpec`] is one POST, and the button vocabulary.
//!
//! Bodies are camelCase (`startFrameUrl`, `messageId`) except Flux's snake_case fields, of which
//! conjure sends only `aspect_ratio`, and only for a non-square `--aspect` (otherwise
//! `{prompt, n}`, like the helper).

use conjure_core::imaginepro::{
    FLUX, LUMI_GIRL, MIDJOURNEY, MJ_VIDEO, NANO_BANANA, NANO_BANANA_WIRE_MODEL, lumi_aspect,
    lumi_size,
};
use conjure_core::spec::{Item, Tool};
use conjure_core::{JobSpec, ProviderError, ProviderId, WireRequest};
use serde_json::{Map, Value, json};

/// Where a job's message is polled.
pub const MESSAGE_FETCH_PATH: &str = "/message/fetch/";
/// Where an MJ video job is polled.
pub const VIDEO_FETCH_PATH: &str = "/video/mj/fetch/";
/// The free, synchronous prompt expansion.
pub const PROMPT_EXTEND_PATH: &str = "/tools/prompt-extend";
/// The server-side timeout sent with an MJ video, in seconds (the helper's).
pub const VIDEO_TIMEOUT_SECONDS: u32 = 900;

/// conjure's button names and the wire values they stand for (spec §8). `U1..U4` and `V1..V4`
/// are their own names.
pub const BUTTONS: &[(&str, &str)] = &[
    ("reroll", "🔄"),
    ("zoom-out-2x", "Zoom Out 2x"),
    ("zoom-out-1.5x", "Zoom Out 1.5x"),
    ("vary-strong", "Vary (Strong)"),
    ("vary-subtle", "Vary (Subtle)"),
    ("vary-region", "Vary (Region)"),
    ("pan-left", "⬅️"),
    ("pan-right", "➡️"),
    ("pan-up", "⬆️"),
    ("pan-down", "⬇️"),
    ("make-square", "Make Square"),
    ("upscale-2x", "Upscale (2x)"),
    ("upscale-4x", "Upscale (4x)"),
    ("upscale-creative", "Upscale (Creative)"),
    ("upscale-subtle", "Upscale (Subtle)"),
];

fn grid_button(s: &str) -> Option<String> {
    let upper = s.to_ascii_uppercase();
    let mut c = upper.chars();
    match (c.next(), c.next(), c.next()) {
        (Some('U' | 'V'), Some('1'..='4'), None) => Some(upper),
        _ => None,
    }
}

/// The wire value of a button named `name` (`U1`, `reroll`, ...); a wire value is accepted as
/// itself.
pub fn button_wire(name: &str) -> Option<String> {
    let name = name.trim();
    if let Some(g) = grid_button(name) {
        return Some(g);
    }
    BUTTONS
        .iter()
        .find(|(n, w)| n.eq_ignore_ascii_case(name) || *w == name)
        .map(|(_, w)| (*w).to_owned())
}

/// conjure's name for a wire value, for display (`🔄` is `reroll`); unknown values are shown as
/// they came.
pub fn button_name(wire: &str) -> String {
    if let Some(g) = grid_button(wire) {
        return g;
    }
    BUTTONS
        .iter()
        .find(|(_, w)| *w == wire)
        .map_or_else(|| wire.to_owned(), |(n, _)| (*n).to_owned())
}

/// Where the job `request_id` is polled.
pub fn poll_path(request_id: &str, video: bool) -> String {
    let base = if video { VIDEO_FETCH_PATH } else { MESSAGE_FETCH_PATH };
    format!("{base}{request_id}")
}

fn unsupported(message: impl Into<String>) -> ProviderError {
    ProviderError::Unsupported { message: message.into() }
}

fn url_of(input: &conjure_core::MediaInput) -> Result<String, ProviderError> {
    match input {
        conjure_core::MediaInput::Url { url } => Ok(url.clone()),
        other => Err(unsupported(format!(
            "ImaginePro takes URLs, not uploads: `{}` is not a URL",
            other.describe()
        ))),
    }
}

/// The exact request `spec` becomes. Pure; the spec is validated by
/// `conjure_core::imaginepro::validate` first.
pub fn build_request(spec: &JobSpec) -> Result<WireRequest, ProviderError> {
    if spec.provider != ProviderId::ImaginePro {
        return Err(unsupported(format!(
            "A `{}` request cannot be sent to ImaginePro",
            spec.provider
        )));
    }
    let Some(first) = spec.items.first() else {
        return Err(unsupported("The imaginepro request has no items"));
    };
    let (path, body) = match first {
        Item::Image(i) => match i.model.as_str() {
            MIDJOURNEY => ("/nova/imagine", json!({ "prompt": i.prompt })),
            FLUX => {
                let mut body = json!({ "prompt": i.prompt, "n": spec.items.len() });
                // Flux's one snake_case field conjure sends, and only when it is not the default.
                if !matches!(i.aspect_ratio.as_str(), "" | "1:1" | "auto") {
                    body["aspect_ratio"] = i.aspect_ratio.clone().into();
                }
                ("/flux/imagine", body)
            }
            NANO_BANANA => {
                let mut contents = vec![json!({ "type": "text", "text": i.prompt })];
                for input in &i.inputs {
                    contents.push(json!({ "type": "image", "url": url_of(input)? }));
                }
                (
                    "/universal/imagine",
                    json!({ "contents": contents, "model": NANO_BANANA_WIRE_MODEL }),
                )
            }
            LUMI_GIRL => {
                let (width, height) =
                    lumi_size(lumi_aspect(i)).map_err(|e| unsupported(e.to_string()))?;
                (
                    "/universal/zimage",
                    json!({ "prompt": i.prompt, "steps": 4, "width": width, "height": height }),
                )
            }
            other => return Err(unsupported(format!("ImaginePro has no image model `{other}`"))),
        },
        Item::Video(v) if v.model == MJ_VIDEO => {
            let (Some(ff), Some(lf)) = (&v.first_frame, &v.last_frame) else {
                return Err(unsupported("An MJ video needs both a first and a last frame"));
            };
            (
                "/video/mj/generate",
                json!({
                    "prompt": v.prompt,
                    "startFrameUrl": url_of(ff)?,
                    "endFrameUrl": url_of(lf)?,
                    "timeout": VIDEO_TIMEOUT_SECONDS,
                }),
            )
        }
        Item::Video(v) => {
            return Err(unsupported(format!("ImaginePro has no video model `{}`", v.model)));
        }
        Item::Text(_) => return Err(unsupported("ImaginePro does not answer text requests")),
        Item::Button(b) => {
            let mut o = Map::new();
            o.insert("messageId".into(), b.parent_message.clone().into());
            o.insert("button".into(), b.button.clone().into());
            if let Some(mask) = &b.mask {
                o.insert("mask".into(), url_of(mask)?.into());
            }
            if let Some(prompt) = &b.prompt {
                o.insert("prompt".into(), prompt.clone().into());
            }
            ("/nova/button", Value::Object(o))
        }
        Item::Tool(t) => match t.tool {
            Tool::Upscale { scale } => {
                ("/flux/upscale", json!({ "image": url_of(&t.image)?, "scale": scale }))
            }
            Tool::RemoveBg => ("/tools/remove-bg", json!({ "image": url_of(&t.image)? })),
        },
    };
    let mut body = body;
    if let Value::Object(o) = &mut body {
        if let Some(tag) = &spec.hooks.tag {
            o.insert("ref".into(), tag.clone().into());
        }
        if let Some(url) = &spec.hooks.webhook {
            o.insert("webhookOverride".into(), url.trim().into());
        }
    }
    Ok(WireRequest::new("POST", path, body))
}

#[cfg(test)]
mod tests {
    use conjure_core::MediaInput;
    use conjure_core::spec::{ButtonItem, ImageItem, ToolItem, VideoItem};

    use super::*;

    fn url(u: &str) -> MediaInput {
        MediaInput::Url { url: u.to_owned() }
    }

    fn build(items: Vec<Item>) -> WireRequest {
        build_request(&JobSpec::new(ProviderId::ImaginePro, items)).unwrap()
    }

    #[test]
    fn button_vocabulary_round_trips() {
        for (name, wire) in BUTTONS {
            assert_eq!(button_wire(name).as_deref(), Some(*wire), "{name}");
            assert_eq!(button_name(wire), *name);
            assert_eq!(button_wire(wire).as_deref(), Some(*wire), "a wire value is itself");
        }
        for g in ["U1", "U4", "V1", "V3"] {
            assert_eq!(button_wire(&g.to_ascii_lowercase()).as_deref(), Some(g));
            assert_eq!(button_name(g), g);
        }
        assert_eq!(button_wire("reroll").as_deref(), Some("🔄"));
        assert_eq!(button_wire("pan-left").as_deref(), Some("⬅️"));
        assert_eq!(button_wire("U5"), None);
        assert_eq!(button_wire("explode"), None);
        assert_eq!(button_name("Cancel Job"), "Cancel Job");
    }

    #[test]
    fn bodies_and_paths() {
        let mj = build(vec![Item::Image(ImageItem::new("midjourney", "a cat --relax"))]);
        assert_eq!((mj.method.as_str(), mj.path.as_str()), ("POST", "/nova/imagine"));
        assert_eq!(mj.body, json!({ "prompt": "a cat --relax" }));
        let flux = build(vec![Item::Image(ImageItem::new("flux", "a fox")); 3]);
        assert_eq!(flux.path, "/flux/imagine");
        assert_eq!(flux.body, json!({ "prompt": "a fox", "n": 3 }));
        let mut nb = ImageItem::new("nano-banana", "a fox");
        nb.inputs = vec![url("https://x/a.png"), url("https://x/b.png")];
        let nb = build(vec![Item::Image(nb)]);
        assert_eq!(nb.path, "/universal/imagine");
        assert_eq!(
            nb.body,
            json!({ "model": "nano-banana-2", "contents": [
                { "type": "text", "text": "a fox" },
                { "type": "image", "url": "https://x/a.png" },
                { "type": "image", "url": "https://x/b.png" },
            ]})
        );
        let lumi = build(vec![Item::Image(ImageItem::new("lumi-girl", "a girl --ar 2:3"))]);
        assert_eq!(lumi.path, "/universal/zimage");
        assert_eq!(
            lumi.body,
            json!({ "prompt": "a girl --ar 2:3", "steps": 4, "width": 680, "height": 1024 })
        );
        let video = build(vec![Item::Video(VideoItem {
            model: "mj-video".into(),
            prompt: "smooth motion transition".into(),
            duration_seconds: 5,
            aspect_ratio: "1:1".into(),
            first_frame: Some(url("https://x/a.png")),
            last_frame: Some(url("https://x/b.png")),
            references: vec![],
            audio: vec![],
            videos: vec![],
        })]);
        assert_eq!(video.path, "/video/mj/generate");
        assert_eq!(
            video.body,
            json!({ "prompt": "smooth motion transition", "startFrameUrl": "https://x/a.png",
                    "endFrameUrl": "https://x/b.png", "timeout": 900 })
        );
        let press = build(vec![Item::Button(ButtonItem {
            parent: "j1".into(),
            parent_message: "m-1".into(),
            button: "Vary (Region)".into(),
            mask: Some(url("https://x/m.png")),
            prompt: Some("a hat".into()),
        })]);
        assert_eq!(press.path, "/nova/button");
        assert_eq!(
            press.body,
            json!({ "messageId": "m-1", "button": "Vary (Region)", "mask": "https://x/m.png", "prompt": "a hat" })
        );
        let up = build(vec![Item::Tool(ToolItem {
            tool: Tool::Upscale { scale: 3 },
            image: url("https://x/a.png"),
        })]);
        assert_eq!(
            (up.path.as_str(), &up.body),
            ("/flux/upscale", &json!({ "image": "https://x/a.png", "scale": 3 }))
        );
        let bg = build(vec![Item::Tool(ToolItem {
            tool: Tool::RemoveBg,
            image: url("https://x/a.png"),
        })]);
        assert_eq!(
            (bg.path.as_str(), &bg.body),
            ("/tools/remove-bg", &json!({ "image": "https://x/a.png" }))
        );
        assert_eq!(poll_path("m-1", false), "/message/fetch/m-1");
        assert_eq!(poll_path("m-1", true), "/video/mj/fetch/m-1");
    }
}
