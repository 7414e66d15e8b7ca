//! `conjure submit`: send a raw Katana `requests[]` envelope, validated and quoted like the rest.
//!
//! The envelope is read into conjure's typed items (every documented field and alias is
//! understood), so it gets the same catalogue checks, quote and approval as `image`/`video`,
//! and the body actually sent is the normalised one shown by `--dry-run`. Fields conjure does
//! not understand are refused by name rather than dropped, and `output` is refused as the
//! provider documents it as internal.

use std::path::PathBuf;

use clap::Args;
use conjure_core::spec::{ImageFormat, ImageItem, Item, VideoClipInput, VideoItem};
use conjure_core::{Catalogue, JobSpec, MediaInput, MediaKind, ProviderId};
use serde_json::{Map, Value};

use crate::cli::PayArgs;
use crate::commands::{Ctx, pay};
use crate::error::CliError;
use crate::inputs::{self, InputKind};

/// Send a raw Katana request envelope (`{"requests":[...]}`) from a JSON file (`-` for stdin).
#[derive(Debug, Args, Clone)]
pub struct SubmitArgs {
    /// The JSON payload file, or `-` to read standard input.
    pub payload: PathBuf,
    #[command(flatten)]
    pub pay: PayArgs,
}

impl SubmitArgs {
    pub fn spec(&self) -> Result<JobSpec, CliError> {
        let text = if self.payload.as_os_str() == "-" {
            std::io::read_to_string(std::io::stdin())
                .map_err(|e| CliError::usage(format!("Cannot read the payload from stdin: {e}")))?
        } else {
            std::fs::read_to_string(&self.payload).map_err(|e| {
                CliError::usage(format!("Cannot read `{}`: {e}", self.payload.display()))
            })?
        };
        let value: Value = serde_json::from_str(&text).map_err(|e| {
            CliError::usage(format!("The payload is not valid JSON: {e}"))
                .hint("it must be an object like {\"requests\":[{\"type\":\"image\",\"model\":\"gen\",\"prompt\":\"...\"}]}")
        })?;
        parse_envelope(&value)
    }
}

pub async fn run(ctx: &Ctx, args: SubmitArgs) -> anyhow::Result<()> {
    let spec = args.spec()?;
    pay::run_and_report(ctx, &spec, &args.pay, None).await
}

fn err(path: &str, message: impl std::fmt::Display) -> CliError {
    CliError::usage(format!("`{path}`: {message}"))
}

/// Reads a Katana envelope into a [`JobSpec`].
pub fn parse_envelope(value: &Value) -> Result<JobSpec, CliError> {
    let obj = value.as_object().ok_or_else(|| err("$", "the payload must be a JSON object"))?;
    for key in obj.keys() {
        match key.as_str() {
            "requests" | "client_request_id" => {}
            "output" => {
                return Err(err(
                    "output",
                    "this field is internal to the provider and must not be sent",
                ));
            }
            other => return Err(err(other, "unknown top-level field; only `requests` is sent")),
        }
    }
    let requests = obj
        .get("requests")
        .and_then(Value::as_array)
        .ok_or_else(|| err("requests", "a non-empty array of items is required"))?;
    if requests.is_empty() {
        return Err(err("requests", "a non-empty array of items is required"));
    }
    let items = requests
        .iter()
        .enumerate()
        .map(|(i, item)| parse_item(&format!("requests[{i}]"), item))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(JobSpec { provider: ProviderId::Katana, items })
}

fn parse_item(path: &str, value: &Value) -> Result<Item, CliError> {
    let obj = value.as_object().ok_or_else(|| err(path, "each item must be an object"))?;
    let kind = obj
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| err(&format!("{path}.type"), "required: `image` or `video`"))?;
    match kind {
        "image" => parse_image(path, obj).map(Item::Image),
        "video" => parse_video(path, obj).map(Item::Video),
        "text" => Err(err(&format!("{path}.type"), "text is not sent through this endpoint")),
        other => Err(err(&format!("{path}.type"), format!("`{other}` is not `image` or `video`"))),
    }
}

fn string(path: &str, obj: &Map<String, Value>, key: &str) -> Result<Option<String>, CliError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(err(&format!("{path}.{key}"), "must be a string")),
    }
}

fn flag(path: &str, obj: &Map<String, Value>, keys: &[&str]) -> Result<bool, CliError> {
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

fn model(path: &str, obj: &Map<String, Value>, kind: MediaKind) -> Result<String, CliError> {
    let name =
        string(path, obj, "model")?.ok_or_else(|| err(&format!("{path}.model"), "required"))?;
    let model = Catalogue::bundled().resolve(ProviderId::Katana, Some(kind), &name)?;
    Ok(model.id.clone())
}

fn input(path: &str, value: &Value, kind: InputKind) -> Result<MediaInput, CliError> {
    let s = value
        .as_str()
        .ok_or_else(|| err(path, "must be a string (an https:// URL or a data: URL)"))?;
    inputs::resolve(s, kind, path)
}

fn input_list(
    path: &str,
    obj: &Map<String, Value>,
    keys: &[&str],
    kind: InputKind,
) -> Result<Vec<MediaInput>, CliError> {
    let mut out = Vec::new();
    for key in keys {
        match obj.get(*key) {
            None | Some(Value::Null) => {}
            Some(Value::Array(list)) => {
                for (i, v) in list.iter().enumerate() {
                    out.push(input(&format!("{path}.{key}[{i}]"), v, kind)?);
                }
            }
            Some(v @ Value::String(_)) => out.push(input(&format!("{path}.{key}"), v, kind)?),
            Some(_) => return Err(err(&format!("{path}.{key}"), "must be a list of URLs")),
        }
    }
    Ok(out)
}

fn check_fields(path: &str, obj: &Map<String, Value>, allowed: &[&str]) -> Result<(), CliError> {
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

const IMAGE_FIELDS: &[&str] = &[
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

fn parse_image(path: &str, obj: &Map<String, Value>) -> Result<ImageItem, CliError> {
    check_fields(path, obj, IMAGE_FIELDS)?;
    let format = match string(path, obj, "output_format")? {
        None => ImageFormat::Png,
        Some(f) => ImageFormat::parse(&f)
            .ok_or_else(|| err(&format!("{path}.output_format"), "use png, jpeg or webp"))?,
    };
    Ok(ImageItem {
        model: model(path, obj, MediaKind::Image)?,
        prompt: string(path, obj, "prompt")?.unwrap_or_default(),
        aspect_ratio: string(path, obj, "aspect_ratio")?.unwrap_or_else(|| "1:1".to_owned()),
        format,
        inputs: input_list(
            path,
            obj,
            &[
                "image_urls",
                "input_images",
                "input_image_urls",
                "image_url",
                "input_image_url",
                "input_image",
                "input_image_b64",
            ],
            InputKind::Image,
        )?,
        negative_prompt: string(path, obj, "negative_prompt")?,
        fast: flag(path, obj, &["is_fast", "fast_mode"])?,
        uhd: flag(path, obj, &["is_uhd", "uhd_mode"])?,
    })
}

const VIDEO_FIELDS: &[&str] = &[
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

const VIDEO_DATA_FIELDS: &[&str] = &[
    "first_frame_image_url",
    "last_frame_image_url",
    "reference_image_urls",
    "audio_input_urls",
    "video_list",
];

fn parse_video(path: &str, obj: &Map<String, Value>) -> Result<VideoItem, CliError> {
    check_fields(path, obj, VIDEO_FIELDS)?;
    let duration = obj.get("duration_seconds").and_then(Value::as_u64).ok_or_else(|| {
        err(&format!("{path}.duration_seconds"), "required: a whole number of seconds")
    })?;
    let empty = Map::new();
    let data_path = format!("{path}.video_image_data");
    let data = match obj.get("video_image_data") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(m)) if m.is_empty() => {
            return Err(err(&data_path, "must not be empty; leave it out instead"));
        }
        Some(Value::Object(m)) => m,
        Some(_) => return Err(err(&data_path, "must be an object")),
    };
    check_fields(&data_path, data, VIDEO_DATA_FIELDS)?;
    let mut first = input_list(
        path,
        obj,
        &["image_url", "input_image_url", "input_image", "input_image_b64"],
        InputKind::Image,
    )?;
    first.extend(input_list(&data_path, data, &["first_frame_image_url"], InputKind::Image)?);
    if first.len() > 1 {
        return Err(err(
            path,
            "more than one first frame is given (top-level image aliases and first_frame_image_url)",
        ));
    }
    let mut last = input_list(&data_path, data, &["last_frame_image_url"], InputKind::Image)?;
    let mut references = input_list(path, obj, &["reference_image_urls"], InputKind::Image)?;
    references.extend(input_list(&data_path, data, &["reference_image_urls"], InputKind::Image)?);
    let audio = input_list(&data_path, data, &["audio_input_urls"], InputKind::Audio)?;
    let mut videos = Vec::new();
    if let Some(list) = data.get("video_list") {
        let entries = list
            .as_array()
            .ok_or_else(|| err(&format!("{data_path}.video_list"), "must be a list"))?;
        for (i, v) in entries.iter().enumerate() {
            let p = format!("{data_path}.video_list[{i}]");
            let url = v.get("url").ok_or_else(|| err(&p, "each entry needs a `url`"))?;
            videos.push(VideoClipInput {
                input: input(&format!("{p}.url"), url, InputKind::Video)?,
                start: v.get("start").and_then(Value::as_f64),
                end: v.get("ends").and_then(Value::as_f64),
            });
        }
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
    use serde_json::json;

    #[test]
    fn envelope_with_aliases_normalises() {
        let spec = parse_envelope(&json!({"requests":[
            {"type":"image","model":"gpt2image","prompt":"p","input_images":["https://x/a.png"],"output_format":"jpg"},
            {"type":"video","model":"seedance","prompt":"v","duration_seconds":5,"image_url":"https://x/f.png"}
        ]}))
        .unwrap();
        let Item::Image(i) = &spec.items[0] else { panic!() };
        assert_eq!(i.model, "gpt-image-2");
        assert_eq!(i.format, ImageFormat::Jpeg);
        assert_eq!(i.inputs.len(), 1);
        let Item::Video(v) = &spec.items[1] else { panic!() };
        assert_eq!(v.model, "seedance-2-0-fast");
        assert!(v.first_frame.is_some());
    }

    #[test]
    fn bad_envelopes_name_the_field() {
        let e = parse_envelope(
            &json!({"requests":[{"type":"image","model":"gen","prompt":"p"}],"output":{}}),
        )
        .unwrap_err();
        assert!(e.message.contains("`output`"));
        let e = parse_envelope(&json!({"requests":[{"type":"image","model":"gen","prompt":"p","reference_assets":[]}]})).unwrap_err();
        assert!(e.message.contains("requests[0].reference_assets"), "{}", e.message);
        let e = parse_envelope(&json!({"requests":[{"type":"video","model":"ltx","prompt":"p","duration_seconds":5,"video_image_data":{}}]})).unwrap_err();
        assert!(e.message.contains("must not be empty"));
        let e = parse_envelope(&json!({"requests":[]})).unwrap_err();
        assert!(e.message.contains("non-empty"));
    }
}
