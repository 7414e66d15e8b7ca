//! `GET /v1/models`: the served catalogue (bundled, or drifted under the `catalogue-drift`
//! fault, see [`crate::catalogue`]) in the two shapes the real service answers with.
//!
//! Without an `Authorization` header the body is sectioned (`images`, `videos`, `text`,
//! `text_pricing`); with any `Authorization` header, valid or not, it is an OpenAI-style
//! `{object:"list", data:[…]}`. Both carry the same entry fields, named as on the wire.

use conjure_core::catalogue::{MAX_AUDIO_INPUTS, MediaKind, Model, Pricing};
use serde_json::{Map, Value, json};

use crate::catalogue::Served;

fn display_name(id: &str) -> String {
    id.split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map_or_else(String::new, |c| c.to_ascii_uppercase().to_string() + chars.as_str())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn entry(m: &Model) -> Map<String, Value> {
    let mut e = Map::new();
    e.insert("public_model_name".into(), m.id.clone().into());
    e.insert("display_name".into(), display_name(&m.id).into());
    e.insert("type".into(), m.kind.as_str().into());
    if let Some(legacy) = &m.legacy_key {
        e.insert("legacy_model_name".into(), legacy.clone().into());
    }
    if let Some(creator) = &m.creator {
        e.insert("creator".into(), creator.clone().into());
    }
    e.insert("premium_only".into(), false.into());
    match &m.pricing {
        Pricing::PerItem { credits } => {
            e.insert("credits".into(), json!(credits));
        }
        Pricing::PerDuration { credits } => {
            let table: Map<String, Value> =
                credits.iter().map(|(d, c)| (d.to_string(), json!(c))).collect();
            e.insert("credits".into(), json!(m.min_credits()));
            e.insert("video_lengths_and_costs".into(), Value::Object(table));
        }
        Pricing::PerMillionTokens { input, output, .. } => {
            e.insert("credits".into(), json!({ "input": input, "output": output }));
        }
    }
    if m.kind != MediaKind::Text {
        e.insert("supported_aspects".into(), json!(m.aspects));
        e.insert("maximum_reference_images".into(), m.max_refs.into());
        e.insert("multi_image_inputs_allowed".into(), m.max_refs.into());
        e.insert("requires_input_image".into(), m.requires_image.into());
    }
    if m.kind == MediaKind::Video {
        let audio_cap = if m.audio_input { MAX_AUDIO_INPUTS } else { 0 };
        e.insert("supports_audio_input".into(), m.audio_input.into());
        e.insert("supports_video_input".into(), m.video_input.into());
        e.insert("maximum_reference_audio_files".into(), audio_cap.into());
        e.insert("maximum_reference_videos".into(), u32::from(m.video_input).into());
        e.insert("supports_first_frame".into(), m.first_frame.into());
        e.insert("supports_last_frame".into(), m.last_frame.into());
        e.insert("audio_output".into(), m.audio_output.into());
        e.insert("custom_rules".into(), json!(m.rules));
        e.insert("recommended_polling".into(), 10.into());
        e.insert("request_timeout_seconds".into(), 6000.into());
    } else if m.kind == MediaKind::Image {
        e.insert("supports_audio_input".into(), false.into());
        e.insert("supports_video_input".into(), false.into());
        e.insert("recommended_polling".into(), 5.into());
        e.insert("request_timeout_seconds".into(), 600.into());
    } else {
        if let Some(ctx) = m.context_tokens {
            e.insert("context_length".into(), ctx.into());
        }
        // Field names of our own (the real ones are not known); clients may ignore them.
        if let Some(max) = m.max_output_tokens {
            e.insert("max_output_tokens".into(), max.into());
        }
        if !m.text_inputs.is_empty() {
            e.insert("input_modalities".into(), json!(m.text_inputs));
        }
        if let Some(privacy) = m.privacy {
            e.insert("privacy_mode".into(), privacy.label().into());
        }
        e.insert("request_timeout_seconds".into(), 600.into());
    }
    e
}

fn text_pricing(m: &Model) -> Option<Value> {
    match &m.pricing {
        Pricing::PerMillionTokens { input, output, cache_read, cache_write } => Some(json!({
            "input_per_million": input,
            "output_per_million": output,
            "cache_read_per_million": cache_read,
            "cache_write_per_million": cache_write,
        })),
        _ => None,
    }
}

/// The body for a request without `Authorization`.
pub(crate) fn sectioned(catalogue: &Served) -> Value {
    let section = |k| catalogue.iter(Some(k)).map(|m| Value::Object(entry(m))).collect::<Vec<_>>();
    let pricing: Map<String, Value> = catalogue
        .iter(Some(MediaKind::Text))
        .filter_map(|m| text_pricing(m).map(|p| (m.id.clone(), p)))
        .collect();
    json!({
        "images": section(MediaKind::Image),
        "videos": section(MediaKind::Video),
        "text": section(MediaKind::Text),
        "text_pricing": pricing,
    })
}

/// The body for a request with an `Authorization` header.
pub(crate) fn openai_list(catalogue: &Served) -> Value {
    let data: Vec<Value> = catalogue
        .iter(None)
        .map(|m| {
            let mut e = entry(m);
            e.insert("id".into(), m.id.clone().into());
            e.insert("object".into(), "model".into());
            e.insert("created".into(), 0.into());
            e.insert(
                "owned_by".into(),
                m.creator.clone().unwrap_or_else(|| "imgnai".to_owned()).into(),
            );
            Value::Object(e)
        })
        .collect();
    json!({ "object": "list", "data": data })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_shapes_list_the_catalogue() {
        let c = Served::bundled();
        let s = sectioned(c);
        assert_eq!(s["images"].as_array().unwrap().len(), 51);
        assert_eq!(s["videos"].as_array().unwrap().len(), 25);
        let video = s["videos"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["public_model_name"] == "seedance-2-0")
            .unwrap();
        assert_eq!(video["video_lengths_and_costs"]["10"], 375.0);
        assert_eq!(video["supports_audio_input"], true);
        let list = openai_list(c);
        assert_eq!(list["object"], "list");
        assert_eq!(list["data"].as_array().unwrap().len(), 121);
        assert_eq!(display_name("gpt-image-2"), "Gpt Image 2");
    }
}
