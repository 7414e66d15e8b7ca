//! The tools `conjure mcp` offers: names, descriptions an agent can act on, and JSON Schemas of
//! their arguments.
//!
//! The schemas are written out here rather than derived: the arguments deserialise into
//! `conjure_app::request` types (which carry the CLI's defaults and are not schemars types), and
//! a hand-written schema can say which fields each request `type` needs (`allOf` of
//! `if`/`then`) while keeping the top level a plain object, which is all many clients read.
//! Every schema is checked against the deserialisers by the integration tests.

use serde_json::{Map, Value, json};

/// One tool: name, description, input schema.
pub struct ToolDef {
    pub name: &'static str,
    pub description: &'static str,
    pub schema: Value,
    /// Spends nothing and changes nothing (a hint to clients).
    pub read_only: bool,
}

const PROVIDER: &str = "The provider: `katana` (default; `imaginepro` for `tool` requests) or `imaginepro` (Midjourney, Nano Banana, Flux tools, buttons).";

fn provider() -> Value {
    json!({"type": "string", "enum": ["katana", "imaginepro"], "description": PROVIDER})
}

fn job() -> Value {
    json!({"type": "string", "minLength": 1, "description": "A job id from the journal (or a unique prefix of one), as returned by `generate` or `list_jobs`."})
}

fn wait_seconds() -> Value {
    json!({"type": "integer", "minimum": 0, "maximum": super::MAX_WAIT_SECONDS, "default": super::DEFAULT_WAIT_SECONDS,
        "description": "How long to wait for the result before returning `status: \"still_pending\"` with the job id (the job keeps running and can be collected with `wait_job`). Text answers that stream are always read to the end."})
}

fn strings(description: &str) -> Value {
    json!({"type": "array", "items": {"type": "string"}, "description": description})
}

/// The properties of a paid request (`quote` and `generate`), every `type` at once.
fn request_properties() -> Map<String, Value> {
    let props = json!({
        "type": {"type": "string", "enum": ["image", "video", "text", "tool", "button", "payload"],
            "description": "What to make: `image`, `video`, `text` (an answer from a language model), `tool` (ImaginePro upscale or background removal of an image URL), `button` (press a Midjourney button such as U1 or V2 on a finished ImaginePro job; a new paid job), `payload` (the provider's own request body, as is)."},
        "prompt": {"type": "string", "description": "image, video: required, what to make. text: the question (the new user turn). button `vary-region`: what to paint in the mask."},
        "provider": provider(),
        "model": {"type": "string", "description": "A model key or alias from `list_models` (default: image `gen` on Katana or `midjourney` on ImaginePro; video `seedance-2-0-fast` or `mj-video`; text `grok-4-3`)."},
        "aspect": {"type": "string", "pattern": "^(auto|[0-9]+:[0-9]+)$", "description": "image, video: aspect ratio `W:H` (image default `1:1`; video default 16:9 or the model's first)."},
        "format": {"type": "string", "enum": ["png", "jpeg", "jpg", "webp"], "default": "png", "description": "image: the file format (Katana)."},
        "refs": strings("image, video: input or reference images, local paths or https:// URLs (ImaginePro takes URLs only)."),
        "negative": {"type": "string", "description": "image: what to leave out."},
        "fast": {"type": "boolean", "default": false, "description": "image: the model's fast variant, where it has one."},
        "uhd": {"type": "boolean", "default": false, "description": "image: ultra-high definition, where the model offers it."},
        "count": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1, "description": "image: how many images in the one request (each is paid)."},
        "mode": {"type": "string", "enum": ["fast", "relax", "stream", "whole", "async"], "description": "image on ImaginePro Midjourney: speed `fast` or `relax`. text: how the answer comes back, `stream` (default), `whole` or `async`."},
        "duration": {"type": "integer", "minimum": 1, "description": "video: seconds, from the model's list (default: its shortest)."},
        "first_frame": {"type": "string", "description": "video: the first frame, a local path or https:// URL."},
        "last_frame": {"type": "string", "description": "video: the last frame, a local path or https:// URL."},
        "audio": strings("video: audio inputs, local paths or https:// URLs, for models that take sound."),
        "system": {"type": "string", "description": "text: the system prompt."},
        "messages": {"type": "array", "items": {"type": "object"}, "description": "text: an OpenAI-style messages array, sent before `prompt`."},
        "max_tokens": {"type": "integer", "minimum": 1, "description": "text: the most tokens the answer may have (bounds the reserve)."},
        "temperature": {"type": "number", "minimum": 0, "description": "text: sampling temperature."},
        "top_p": {"type": "number", "minimum": 0, "maximum": 1, "description": "text: nucleus sampling."},
        "images": strings("text: images for vision models, local paths or https:// URLs."),
        "files": strings("text: file URLs for models that read files."),
        "tool": {"type": "string", "enum": ["upscale", "remove-bg"], "description": "tool: which one."},
        "image": {"type": "string", "description": "tool: the image, as a URL the provider can fetch (an earlier job's output `url`)."},
        "scale": {"type": "integer", "minimum": 2, "maximum": 4, "description": "tool `upscale`: the factor (default 2)."},
        "job": job(),
        "button": {"type": "string", "description": "button: `U1`..`U4`, `V1`..`V4`, `reroll`, `zoom-out-2x`, `zoom-out-1.5x`, `vary-strong`, `vary-subtle`, `vary-region`, `pan-left|right|up|down`, `make-square`; only those the parent job offers (its `buttons`)."},
        "mask": {"type": "string", "description": "button `vary-region`: the mask image URL."},
        "payload": {"type": "object", "description": "payload: the provider's own request body, e.g. Katana's {\"requests\":[{\"type\":\"image\",\"model\":\"gen\",\"prompt\":\"...\"}]}."},
        "hooks": {"type": "object", "additionalProperties": false, "properties": {
            "webhook": {"type": "string", "description": "A URL the provider POSTs the finished job to (ImaginePro)."},
            "tag": {"type": "string", "description": "Your reference, echoed by the provider (ImaginePro)."}}}
    });
    match props {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Which fields each request `type` requires.
fn request_rules() -> Value {
    let rule = |ty: &str, required: &[&str]| json!({"if": {"properties": {"type": {"const": ty}}, "required": ["type"]}, "then": {"required": required}});
    json!([
        rule("image", &["prompt"]),
        rule("video", &["prompt"]),
        rule("tool", &["tool", "image"]),
        rule("button", &["job", "button"]),
        rule("payload", &["payload"]),
    ])
}

fn request_schema(extra: &[(&str, Value)]) -> Value {
    let mut props = request_properties();
    for (k, v) in extra {
        props.insert((*k).to_owned(), v.clone());
    }
    json!({
        "type": "object",
        "properties": props,
        "required": ["type"],
        "allOf": request_rules(),
        "additionalProperties": false
    })
}

fn object(properties: &Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
}

/// `edit_media`'s input: the timeline of `conjure edit` (its shipped JSON Schema, whose `$defs`
/// move to the top so that its `#/$defs/...` references still resolve), an output path, and
/// `overwrite`.
fn edit_schema() -> Value {
    let mut timeline: Value = serde_json::from_str(crate::commands::edit::SCHEMA)
        .unwrap_or_else(|_| json!({"type": "object"}));
    let defs = timeline.as_object_mut().and_then(|t| {
        t.remove("$schema");
        t.remove("$id");
        t.remove("$defs")
    });
    let mut schema = object(
        &json!({
            "timeline": timeline,
            "output": {"type": "string", "description": "Where to write the result (.mp4); replaces the timeline's `output.path`. Relative paths are against the server's working folder."},
            "overwrite": {"type": "boolean", "default": false, "description": "Replace the output if it exists. Without it an existing file is never replaced (a source is never replaced at all)."},
            "check": {"type": "boolean", "default": false, "description": "Only check the timeline and its sources; render nothing."},
            "no_smart": {"type": "boolean", "default": false, "description": "Re-encode every frame, even where the sources match the output and the smart render would copy the frames the edit leaves alone."}
        }),
        &["timeline"],
    );
    if let (Some(defs), Some(s)) = (defs, schema.as_object_mut()) {
        s.insert("$defs".to_owned(), defs);
    }
    schema
}

/// The operations of `conjure media`, by the names `Op` takes in `op`.
pub const MEDIA_OPS: [&str; 31] = [
    "trim",
    "join",
    "split",
    "crop",
    "resize",
    "pad",
    "reframe",
    "fade",
    "speed",
    "reverse",
    "color",
    "blur",
    "text",
    "overlay",
    "side-by-side",
    "subtitles",
    "audio-replace",
    "audio-extract",
    "audio-remove",
    "audio-volume",
    "audio-loudnorm",
    "audio-mix",
    "audio-fade",
    "audio-delay",
    "convert",
    "thumbnail",
    "frames",
    "sheet",
    "slideshow",
    "metadata",
    "",
];

/// `media`'s input: one `conjure_media::Op` (tagged by `op`) plus `overwrite`. The fields
/// common to every step are described; the others are the step's own, as `conjure media OP
/// --help` lists its flags (snake_case), so further properties are allowed here and checked by
/// the step itself (unknown ones are refused with the list of expected ones).
fn media_schema() -> Value {
    let ops: Vec<&str> = MEDIA_OPS.iter().copied().filter(|o| !o.is_empty()).collect();
    json!({
        "type": "object",
        "required": ["op"],
        "properties": {
            "op": {"type": "string", "enum": ops, "description": "The step."},
            "input": {"type": "string", "description": "The source file (steps on one file)."},
            "inputs": strings("The source files (join, sheet, slideshow, audio-mix)."),
            "output": {"type": "string", "description": "The file written (split and frames: a pattern with `{n}`, or a folder). Relative paths are against the server's working folder."},
            "overwrite": {"type": "boolean", "default": false, "description": "Replace the output if it exists. Without it an existing file is never replaced (an input never is)."},
            "encoding": {"type": "object", "additionalProperties": false, "properties": {
                "codec": {"type": "string", "enum": ["h264", "h265", "vp9", "av1"]},
                "preset": {"type": "string"},
                "crf": {"type": "integer", "minimum": 0, "maximum": 63},
                "hardware": {"type": "string", "enum": ["nvenc", "qsv", "vaapi"]}}}
        },
        "additionalProperties": true
    })
}

/// Every tool, in the order they are listed.
pub fn tools() -> Vec<ToolDef> {
    vec![
        ToolDef {
            name: "list_models",
            description: "List the models and prices of a provider's catalogue. Katana: every model with its price in credits (and USD when a price per credit is known), inputs and options. ImaginePro: its priced operations. Free; sends nothing.",
            schema: object(
                &json!({
                    "provider": provider(),
                    "kind": {"type": "string", "enum": ["image", "video", "text"], "description": "Only models that make this (Katana)."},
                    "filter": {"type": "string", "description": "Only models whose key, name or alias contains this (case-insensitive)."}
                }),
                &[],
            ),
            read_only: true,
        },
        ToolDef {
            name: "quote",
            description: "Price a request without sending it: the quote (credits, USD when known, per item), its single-use `approval_token`, and the exact HTTP request that would be sent. Show the quote to the person; only when they agree, call `generate` with the same arguments and that `approval_token`. Free; sends nothing.",
            schema: request_schema(&[]),
            read_only: true,
        },
        ToolDef {
            name: "generate",
            description: "Make an image, video, text answer, tool result or button press: a PAID request. Without `approval_token`, or with one that was not issued for exactly these arguments, nothing is sent and the answer is `status: \"confirmation_required\"` with the quote and its token: show the quote to the person and call again with the same arguments and the token only if they agree to pay. With the token, the request is sent exactly once (a token works once) and the job is returned: job id, request id, saved file paths, dimensions or duration, credits and USD. If it takes longer than `wait_seconds`, the answer is `status: \"still_pending\"` with the job id; collect it with `wait_job`. The job is journalled and survives this server.",
            schema: request_schema(&[
                (
                    "approval_token",
                    json!({"type": "string", "description": "The `approval_token` of a quote of exactly this request, after the person agreed to pay it."}),
                ),
                ("wait_seconds", wait_seconds()),
                (
                    "again",
                    json!({"type": "boolean", "default": false, "description": "Send even though the same request was sent in the last 24 hours (it is paid again)."}),
                ),
            ]),
            read_only: false,
        },
        ToolDef {
            name: "job_status",
            description: "What is known about a job: state, files, credits, request id, parent and children, the buttons it offers. Asks the provider once (free) while the job runs.",
            schema: object(&json!({"job": job()}), &["job"]),
            read_only: true,
        },
        ToolDef {
            name: "wait_job",
            description: "Wait for a running job (at most `wait_seconds`) and download its files. Free: nothing is sent again. Returns the job, or `status: \"still_pending\"`.",
            schema: object(&json!({"job": job(), "wait_seconds": wait_seconds()}), &["job"]),
            read_only: false,
        },
        ToolDef {
            name: "list_jobs",
            description: "The journal, newest first, with spending totals per provider.",
            schema: object(
                &json!({
                    "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 20, "description": "How many jobs."},
                    "pending": {"type": "boolean", "default": false, "description": "Only jobs still running, in an unknown state, or not yet downloaded."}
                }),
                &[],
            ),
            read_only: true,
        },
        ToolDef {
            name: "fetch_job",
            description: "Download a finished job's files again (free), to where they were saved.",
            schema: object(&json!({"job": job()}), &["job"]),
            read_only: false,
        },
        ToolDef {
            name: "balance",
            description: "A provider's credit balance (free).",
            schema: object(&json!({"provider": provider()}), &[]),
            read_only: true,
        },
        ToolDef {
            name: "spend",
            description: "What conjure's requests cost, from the journal: per provider (or model, or day) what was charged, what is reserved and what may have been charged (unknown), with what is left of every budget. Free; reads the journal only.",
            schema: object(
                &json!({
                    "since": {"type": "string", "description": "Count jobs created since then: a UTC date (2026-11-01), a UTC time (2026-11-01T09:00:00Z) or a span back from now (7d, 12h). Default: the last 30 days."},
                    "by": {"type": "string", "enum": ["provider", "model", "day"], "description": "How rows are grouped (default provider)."}
                }),
                &[],
            ),
            read_only: true,
        },
        ToolDef {
            name: "doctor",
            description: "Check that conjure is ready: ffmpeg and its features, fonts, credentials (present, where, file mode; never their values), the journal's integrity, jobs waiting for a person (unknown outcomes, unsaved results), folders and disk space. Each check is ok, warn or fail with what to do. Free; sends nothing.",
            schema: object(&json!({}), &[]),
            read_only: true,
        },
        ToolDef {
            name: "enhance_prompt",
            description: "Expand a short prompt into a detailed one with ImaginePro's prompt enhancement (free; no job).",
            schema: object(
                &json!({"prompt": {"type": "string", "minLength": 1, "description": "The prompt to expand."}}),
                &["prompt"],
            ),
            read_only: true,
        },
        ToolDef {
            name: "edit_media",
            description: "Render an edit locally with ffmpeg (free): clips (images or videos, e.g. generated files), transitions, captions, overlays and music, from a timeline. Returns the output path, duration, frames, width and height. An existing output is never replaced unless `overwrite` is true.",
            schema: edit_schema(),
            read_only: false,
        },
        ToolDef {
            name: "media",
            description: "One local post-production step with ffmpeg (free): trim, join, crop, resize, reframe, fade, speed, text, overlay, subtitles, audio, convert, thumbnail, frames, slideshow, ... Give `op` and the step's fields in snake_case, as `conjure media OP --help` lists its flags, e.g. {\"op\":\"trim\",\"input\":\"in.mp4\",\"output\":\"cut.mp4\",\"start\":1.5,\"end\":4} or {\"op\":\"crop\",\"input\":\"in.png\",\"output\":\"square.png\",\"aspect\":\"1:1\"}. An unknown field is refused with the list of the step's fields. An existing output is never replaced unless `overwrite` is true.",
            schema: media_schema(),
            read_only: false,
        },
    ]
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use conjure_app::{ButtonRequest, Request};
    use serde_json::{Value, json};

    use super::*;

    /// The fields a `deny_unknown_fields` type expects, from serde's error for an unknown one.
    fn expected_fields<T: serde::de::DeserializeOwned>(value: Value) -> BTreeSet<String> {
        let err = serde_json::from_value::<T>(value).err().expect("refused").to_string();
        names(&err)
    }

    /// The names in serde's "expected `a`", "expected `a` or `b`", "expected one of `a`, `b`".
    fn names(err: &str) -> BTreeSet<String> {
        let list = err.split("expected ").nth(1).unwrap_or_else(|| panic!("{err}"));
        let list = list.strip_prefix("one of ").unwrap_or(list);
        list.split(", ")
            .flat_map(|f| f.split(" or "))
            .map(|f| f.trim_matches(|c| c == '`' || c == ' ').to_owned())
            .collect()
    }

    #[test]
    fn the_request_schema_names_every_field_the_requests_take() {
        let props: BTreeSet<String> = request_properties().keys().cloned().collect();
        // Front-end internals of `text --continue`, not for agents.
        let internal = ["history", "continues"];
        let mut taken = BTreeSet::new();
        for (ty, required) in [
            ("image", json!({"prompt": "x"})),
            ("video", json!({"prompt": "x"})),
            ("text", json!({})),
            ("tool", json!({"tool": "upscale", "image": "https://x/y.png"})),
            ("payload", json!({"payload": {}})),
        ] {
            let mut v = required;
            v["type"] = json!(ty);
            v["zz_unknown"] = json!(1);
            for f in expected_fields::<Request>(v) {
                assert!(
                    props.contains(&f) || internal.contains(&f.as_str()),
                    "{ty}: `{f}` is not in the schema"
                );
                taken.insert(f);
            }
        }
        for f in
            expected_fields::<ButtonRequest>(json!({"job": "j", "button": "U1", "zz_unknown": 1}))
        {
            assert!(props.contains(&f), "button: `{f}` is not in the schema");
            taken.insert(f);
        }
        taken.insert("type".to_owned());
        for p in &props {
            assert!(taken.contains(p), "the schema offers `{p}`, which no request takes");
        }
    }

    #[test]
    fn the_media_ops_are_the_ones_op_takes() {
        let want: BTreeSet<String> =
            MEDIA_OPS.iter().filter(|o| !o.is_empty()).map(|o| (*o).to_owned()).collect();
        let err = serde_json::from_value::<conjure_media::Op>(json!({"op": "zz"}))
            .expect_err("refused")
            .to_string();
        assert_eq!(names(&err), want);
    }

    #[test]
    fn the_encoding_schema_is_op_encoding() {
        let schema = media_schema();
        let props = schema["properties"]["encoding"]["properties"].as_object().expect("object");
        let want: BTreeSet<String> = props.keys().cloned().collect();
        let got = expected_fields::<conjure_media::ops::OpEncoding>(json!({"zz": 1}));
        assert_eq!(got, want);
        for codec in props["codec"]["enum"].as_array().expect("enum") {
            serde_json::from_value::<conjure_media::Codec>(codec.clone()).expect("a codec");
        }
    }

    /// Every `$ref` points into the schema's own `$defs`, and every tool's schema is an object.
    #[test]
    fn every_schema_is_an_object_and_its_refs_resolve() {
        fn refs(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    if let Some(Value::String(r)) = m.get("$ref") {
                        out.push(r.clone());
                    }
                    m.values().for_each(|v| refs(v, out));
                }
                Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        for tool in tools() {
            assert_eq!(tool.schema["type"], "object", "{}", tool.name);
            let mut found = Vec::new();
            refs(&tool.schema, &mut found);
            for r in found {
                let name =
                    r.strip_prefix("#/$defs/").unwrap_or_else(|| panic!("{}: {r}", tool.name));
                assert!(
                    tool.schema["$defs"][name].is_object(),
                    "{}: {r} does not resolve",
                    tool.name
                );
            }
        }
    }
}
