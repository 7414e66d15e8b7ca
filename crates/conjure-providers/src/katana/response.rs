//! Reading Katana's answers: the envelope shared by submit and poll, and the balance.
//!
//! Both are pure. [`parse_envelope`] applies the outcome rules of the API notes (a `completed`
//! without output is a failure; `partial_failure` with some output is partial), matches
//! `responses[]` to items by the echoed `id` and then by position, sums `credits_spent` exactly,
//! and never takes dimensions from the `requests[]` echo. Unknown statuses stay non-terminal.

use conjure_core::money::Credits;
use conjure_core::provider::{Asset, RemoteError, RemoteStatus};
use conjure_core::{ProviderError, Snapshot};
use serde_json::Value;

use crate::http;

fn protocol(message: impl Into<String>) -> ProviderError {
    ProviderError::Protocol { message: message.into() }
}

fn map_status(s: &str) -> RemoteStatus {
    match s.trim().to_ascii_lowercase().as_str() {
        "processing" => RemoteStatus::Processing,
        "queued" => RemoteStatus::Queued,
        "completed" => RemoteStatus::Completed,
        "partial_failure" => RemoteStatus::Partial,
        "failed" => RemoteStatus::Failed,
        "rejected" => RemoteStatus::Rejected,
        _ => RemoteStatus::Other(s.to_owned()),
    }
}

fn non_empty_str(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// A wire number or decimal string as exact credits; values finer than 0.1 are rounded.
fn credits_of(v: &Value) -> Option<Credits> {
    match v {
        Value::Number(n) => {
            n.to_string().parse::<Credits>().ok().or_else(|| n.as_f64().map(Credits::from_f64))
        }
        Value::String(s) => s.parse::<Credits>().ok().or_else(|| {
            s.trim().parse::<f64>().ok().filter(|f| f.is_finite()).map(Credits::from_f64)
        }),
        _ => None,
    }
}

fn remote_error(item: Option<usize>, v: &Value) -> Option<RemoteError> {
    match v {
        Value::String(s) if !s.trim().is_empty() => {
            Some(RemoteError { item, code: None, message: s.clone(), retryable: None })
        }
        Value::Object(o) => {
            let code = non_empty_str(o.get("code"));
            let message = non_empty_str(o.get("message"))
                .or_else(|| non_empty_str(o.get("detail")))
                .or_else(|| code.clone())
                .unwrap_or_else(|| http::truncate(&v.to_string(), 300));
            Some(RemoteError {
                item,
                code,
                message,
                retryable: o.get("retryable").and_then(Value::as_bool),
            })
        }
        _ => None,
    }
}

fn item_index(response: &Value, echo: &[Value], position: usize) -> usize {
    if let Some(id) = response.get("id").and_then(Value::as_str) {
        if let Some(i) = echo.iter().position(|e| e.get("id").and_then(Value::as_str) == Some(id)) {
            return i;
        }
        if let Some(n) = id.strip_prefix("item-").and_then(|n| n.parse().ok()) {
            return n;
        }
    }
    position
}

fn dimension(v: Option<&Value>) -> Option<u32> {
    v.and_then(Value::as_u64).and_then(|n| u32::try_from(n).ok()).filter(|n| *n > 0)
}

fn parse_asset(item: usize, a: &Value) -> Option<Asset> {
    let original = non_empty_str(a.get("original_data_url"));
    let compressed = non_empty_str(a.get("url"));
    let (url, fallback_url) = match (original, compressed) {
        (Some(o), Some(c)) if o == c => (o, None),
        (Some(o), c) => (o, c),
        (None, Some(c)) => (c, None),
        (None, None) => return None,
    };
    let mime = non_empty_str(a.get("mime_type")).unwrap_or_default();
    let kind = non_empty_str(a.get("kind"))
        .or_else(|| mime.split('/').next().filter(|k| !k.is_empty()).map(str::to_owned))
        .unwrap_or_default();
    Some(Asset {
        item,
        kind,
        mime,
        url,
        fallback_url,
        width: dimension(a.get("width")),
        height: dimension(a.get("height")),
        duration_seconds: a.get("duration_seconds").and_then(Value::as_f64),
        expires_at: non_empty_str(a.get("expires_at")),
    })
}

/// Reads a submit or poll answer.
///
/// Outcome rules (spec §9): `completed` with no asset is a failure; `partial_failure` with at
/// least one asset is `Partial`, with none a failure; a failure without any stated reason gets
/// a generic one so that reports never say nothing. Unknown status strings stay non-terminal.
/// Dimensions come from `output_assets` only: the `requests[]` echo holds preview sizes.
pub fn parse_envelope(value: &Value) -> Result<Snapshot, ProviderError> {
    let obj = value.as_object().ok_or_else(|| protocol("The answer is not a JSON object"))?;
    let request_id = match obj.get("request_id") {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let status_text = obj
        .get("status")
        .and_then(Value::as_str)
        .ok_or_else(|| protocol("The answer has no `status`"))?;
    let mut status = map_status(status_text);
    let poll_after_seconds = match obj.get("poll_after_seconds") {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    let empty = Vec::new();
    let echo = match obj.get("requests") {
        Some(Value::Array(a)) => a,
        None | Some(Value::Null) => &empty,
        Some(_) => return Err(protocol("`requests` is not a list")),
    };
    let responses = match obj.get("responses") {
        Some(Value::Array(a)) => a,
        None | Some(Value::Null) => &empty,
        Some(_) => return Err(protocol("`responses` is not a list")),
    };

    let mut assets = Vec::new();
    let mut errors = Vec::new();
    let mut credits: Option<Credits> = None;
    let mut model: Option<String> = None;
    let mut text: Option<conjure_core::text::TextAnswer> = None;
    for (position, response) in responses.iter().enumerate() {
        let item = item_index(response, echo, position);
        let before = errors.len();
        if let Some(list) = response.get("output_assets").and_then(Value::as_array) {
            for a in list {
                if let Some(content) = a.get("content").and_then(Value::as_str) {
                    // An async text answer (spec §7.4): usage under the asset's metadata or the
                    // response's.
                    let t = text.get_or_insert_with(Default::default);
                    t.answer.push_str(content);
                    if let Some(r) = a.get("reasoning_content").and_then(Value::as_str) {
                        t.reasoning.push_str(r);
                    }
                    let usage = [a.pointer("/metadata/usage"), response.pointer("/metadata/usage")]
                        .into_iter()
                        .flatten()
                        .find_map(super::chat::usage_of);
                    if usage.is_some() {
                        t.usage = usage;
                    }
                    t.finish_reason = non_empty_str(a.get("finish_reason"));
                    continue;
                }
                match parse_asset(item, a) {
                    Some(asset) => assets.push(asset),
                    None => errors.push(RemoteError {
                        item: Some(item),
                        code: None,
                        message: "An output has neither `original_data_url` nor `url`".to_owned(),
                        retryable: None,
                    }),
                }
            }
        }
        if let Some(e) = response.get("error").and_then(|e| remote_error(Some(item), e)) {
            errors.push(e);
        }
        let item_status = response.get("status").and_then(Value::as_str).map(map_status);
        if matches!(item_status, Some(RemoteStatus::Failed | RemoteStatus::Rejected))
            && errors.len() == before
        {
            errors.push(RemoteError {
                item: Some(item),
                code: None,
                message: format!(
                    "Item {item} {} without a stated reason",
                    status_word(item_status.as_ref())
                ),
                retryable: None,
            });
        }
        if let Some(meta) = response.get("metadata") {
            if let Some(c) = meta.get("credits_spent").and_then(credits_of) {
                // Checked: an absurd charge must not panic (debug) or wrap to a negative sum
                // (release) while it is added up.
                let sum = credits.unwrap_or(Credits::ZERO).tenths().checked_add(c.tenths());
                let sum = sum.ok_or_else(|| {
                    protocol("The items' `credits_spent` add up to more than conjure can count")
                })?;
                credits = Some(Credits::from_tenths(sum));
            }
            if model.is_none() {
                model = non_empty_str(meta.get("model"));
            }
        }
    }
    if model.is_none() {
        model = echo.first().and_then(|e| non_empty_str(e.get("model")));
    }
    if let Some(e) = obj.get("error").and_then(|e| remote_error(None, e)) {
        errors.push(e);
    }

    if credits.is_none() {
        credits = text.as_ref().and_then(|t| t.usage.as_ref()).and_then(|u| u.credits_charged);
    }
    match status {
        RemoteStatus::Completed | RemoteStatus::Partial if assets.is_empty() && text.is_none() => {
            errors.push(RemoteError {
                item: None,
                code: None,
                message: format!("The job ended as `{status_text}` but returned no output"),
                retryable: None,
            });
            status = RemoteStatus::Failed;
        }
        RemoteStatus::Failed | RemoteStatus::Rejected if errors.is_empty() => {
            errors.push(RemoteError {
                item: None,
                code: None,
                message: format!("The job ended as `{status_text}` without a stated reason"),
                retryable: None,
            });
        }
        _ => {}
    }

    Ok(Snapshot {
        request_id,
        status,
        poll_after_seconds,
        progress: None,
        assets,
        credits_spent: credits,
        errors,
        model,
        buttons: Vec::new(),
        text,
    })
}

fn status_word(s: Option<&RemoteStatus>) -> &'static str {
    match s {
        Some(RemoteStatus::Rejected) => "was rejected",
        _ => "failed",
    }
}

/// Reads `{"credits":"20814.0"}` exactly (a decimal string; a JSON number is accepted too).
pub fn parse_balance(value: &Value) -> Result<Credits, ProviderError> {
    let raw = match value.get("credits") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(protocol("The balance answer has no `credits`")),
    };
    raw.parse::<Credits>()
        .map_err(|e| protocol(format!("The balance `{raw}` cannot be read exactly: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn completed() -> Value {
        json!({
            "request_id": "req_123",
            "status": "completed",
            "poll_after_seconds": null,
            "requests": [{"id":"item-0","type":"image","model":"gpt-image-2","width":512,"height":512}],
            "responses": [{
                "id": "item-0",
                "status": "completed",
                "metadata": {"credits_spent": 38.5, "model": "gpt-image-2"},
                "output_assets": [{
                    "kind": "image", "mime_type": "image/png",
                    "original_data_url": "https://k.imgnai.com/full.png?sig=1",
                    "url": "https://k.imgnai.com/small.jpg?sig=2",
                    "width": 1024, "height": 1536,
                    "expires_at": "2026-08-04T10:00:00Z"
                }]
            }]
        })
    }

    #[test]
    fn completed_envelope() {
        let s = parse_envelope(&completed()).unwrap();
        assert_eq!(s.request_id.as_deref(), Some("req_123"));
        assert_eq!(s.status, RemoteStatus::Completed);
        assert_eq!(s.poll_after_seconds, None);
        assert_eq!(s.credits_spent, Some(Credits::from_tenths(385)));
        assert_eq!(s.model.as_deref(), Some("gpt-image-2"));
        assert!(s.errors.is_empty());
        assert_eq!(
            s.assets,
            vec![Asset {
                item: 0,
                kind: "image".to_owned(),
                mime: "image/png".to_owned(),
                url: "https://k.imgnai.com/full.png?sig=1".to_owned(),
                fallback_url: Some("https://k.imgnai.com/small.jpg?sig=2".to_owned()),
                width: Some(1024),
                height: Some(1536),
                duration_seconds: None,
                expires_at: Some("2026-08-04T10:00:00Z".to_owned()),
            }]
        );
    }

    #[test]
    fn an_absurd_charge_is_a_protocol_error_not_an_overflow() {
        // Found by fuzzing (tests/it/fuzz.rs): two items whose charges add up past i64 tenths
        // panicked in debug builds and wrapped to a negative charge in release builds.
        let mut v = completed();
        let item = v["responses"][0].clone();
        v["responses"] = json!([item.clone(), item]);
        v["responses"][0]["metadata"]["credits_spent"] = json!(922_337_203_685_477_581_u64);
        v["responses"][1]["metadata"]["credits_spent"] = json!(1);
        assert!(matches!(parse_envelope(&v), Err(ProviderError::Protocol { .. })));
        v["responses"][0]["metadata"]["credits_spent"] = json!(1e300);
        assert!(matches!(parse_envelope(&v), Err(ProviderError::Protocol { .. })));
    }

    #[test]
    fn missing_original_data_url_falls_back_to_url() {
        let mut v = completed();
        v["responses"][0]["output_assets"][0].as_object_mut().unwrap().remove("original_data_url");
        let s = parse_envelope(&v).unwrap();
        assert_eq!(s.assets[0].url, "https://k.imgnai.com/small.jpg?sig=2");
        assert_eq!(s.assets[0].fallback_url, None);
        // Dimensions never come from the requests[] echo.
        v["responses"][0]["output_assets"][0].as_object_mut().unwrap().remove("width");
        let s = parse_envelope(&v).unwrap();
        assert_eq!(s.assets[0].width, None);
    }

    #[test]
    fn completed_without_assets_is_a_failure() {
        let mut v = completed();
        v["responses"][0]["output_assets"] = json!([]);
        let s = parse_envelope(&v).unwrap();
        assert_eq!(s.status, RemoteStatus::Failed);
        assert_eq!(s.errors.len(), 1);
        assert!(s.errors[0].message.contains("no output"), "{:?}", s.errors);
    }

    #[test]
    fn partial_failure_with_one_asset_and_id_matching() {
        let v = json!({
            "request_id": "r", "status": "partial_failure",
            "requests": [{"id":"item-0","model":"gen"},{"id":"item-1","model":"gen"}],
            "responses": [
                {"id":"item-1","status":"failed","metadata":{"credits_spent":0},
                 "error":{"code":"content_blocked","message":"blocked","retryable":false}},
                {"id":"item-0","status":"completed","metadata":{"credits_spent":"14.0"},
                 "output_assets":[{"kind":"image","mime_type":"image/png","original_data_url":"https://a/0.png"}]}
            ]
        });
        let s = parse_envelope(&v).unwrap();
        assert_eq!(s.status, RemoteStatus::Partial);
        assert_eq!(s.assets.len(), 1);
        assert_eq!(s.assets[0].item, 0);
        assert_eq!(
            s.errors,
            vec![RemoteError {
                item: Some(1),
                code: Some("content_blocked".to_owned()),
                message: "blocked".to_owned(),
                retryable: Some(false)
            }]
        );
        assert_eq!(s.credits_spent, Some(Credits::whole(14)));

        let mut none = v.clone();
        none["responses"][1]["output_assets"] = json!([]);
        assert_eq!(parse_envelope(&none).unwrap().status, RemoteStatus::Failed);
    }

    #[test]
    fn responses_without_ids_match_by_index() {
        let v = json!({"request_id":"r","status":"completed","responses":[
            {"output_assets":[{"url":"https://a/0.png"}]},
            {"output_assets":[{"url":"https://a/1.png","mime_type":"image/webp"}]}
        ]});
        let s = parse_envelope(&v).unwrap();
        assert_eq!(s.assets.iter().map(|a| a.item).collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(s.assets[1].kind, "image");
        assert_eq!(s.credits_spent, None);
    }

    #[test]
    fn failed_with_bare_string_error_and_top_level_error() {
        let v = json!({"request_id":"r","status":"failed",
            "error":"upstream_error",
            "responses":[{"status":"failed","error":"generation_timed_out"}]});
        let s = parse_envelope(&v).unwrap();
        assert_eq!(s.status, RemoteStatus::Failed);
        let messages: Vec<_> = s.errors.iter().map(|e| (e.item, e.message.as_str())).collect();
        assert_eq!(messages, vec![(Some(0), "generation_timed_out"), (None, "upstream_error")]);
    }

    #[test]
    fn timed_out_error_object_keeps_code_and_retryable() {
        let v = json!({"request_id":"r","status":"failed","responses":[{"status":"failed",
            "error":{"code":"generation_timed_out","message":"timed out","retryable":true,
                     "details":{"timeout_seconds":600}}}]});
        let e = &parse_envelope(&v).unwrap().errors[0];
        assert_eq!(e.code.as_deref(), Some("generation_timed_out"));
        assert_eq!(e.retryable, Some(true));
    }

    #[test]
    fn rejected_without_reason_gets_one() {
        let v = json!({"request_id":"r","status":"rejected"});
        let s = parse_envelope(&v).unwrap();
        assert_eq!(s.status, RemoteStatus::Rejected);
        assert_eq!(s.errors.len(), 1);
        let v = json!({"status":"rejected","error":{"message":"prompt violates policy"}});
        let s = parse_envelope(&v).unwrap();
        assert_eq!(s.errors[0].message, "prompt violates policy");
        assert_eq!(s.request_id, None);
    }

    #[test]
    fn unknown_and_queued_statuses_are_not_terminal() {
        for (text, expected) in [
            ("processing", RemoteStatus::Processing),
            ("queued", RemoteStatus::Queued),
            ("warming_up", RemoteStatus::Other("warming_up".to_owned())),
        ] {
            let s = parse_envelope(&json!({"request_id":"r","status":text,"poll_after_seconds":4}))
                .unwrap();
            assert_eq!(s.status, expected);
            assert!(!s.status.is_terminal());
            assert_eq!(s.poll_after_seconds, Some(4.0));
        }
    }

    #[test]
    fn legacy_model_echo_reports_canonical_name() {
        // Sent the legacy key `gpt2image`; the answer names the canonical one.
        let mut v = completed();
        v["requests"][0]["model"] = json!("gpt2image");
        v["responses"][0]["metadata"]["model"] = json!("gpt-image-2");
        assert_eq!(parse_envelope(&v).unwrap().model.as_deref(), Some("gpt-image-2"));
        // No metadata model: the requests[] echo is used.
        v["responses"][0]["metadata"].as_object_mut().unwrap().remove("model");
        v["requests"][0]["model"] = json!("pink-image");
        assert_eq!(parse_envelope(&v).unwrap().model.as_deref(), Some("pink-image"));
    }

    #[test]
    fn video_asset_duration_and_credit_sum() {
        let v = json!({"request_id":"r","status":"completed","responses":[
            {"id":"item-0","metadata":{"credits_spent":0.1},"output_assets":[{"kind":"video","mime_type":"video/mp4",
              "original_data_url":"https://a/v.mp4","url":"https://a/v.mp4","duration_seconds":5.04,
              "width":1280,"height":720}]},
            {"id":"item-1","metadata":{"credits_spent":0.2},"output_assets":[{"url":"https://a/w.mp4"}]}
        ]});
        let s = parse_envelope(&v).unwrap();
        assert_eq!(s.assets[0].duration_seconds, Some(5.04));
        assert_eq!(s.assets[0].fallback_url, None);
        assert_eq!(s.credits_spent, Some(Credits::from_tenths(3)));
    }

    #[test]
    fn malformed_envelopes_are_protocol_errors() {
        for v in
            [json!([]), json!({"request_id":"r"}), json!({"status":"completed","responses":{}})]
        {
            assert!(matches!(parse_envelope(&v), Err(ProviderError::Protocol { .. })), "{v}");
        }
    }

    #[test]
    fn balance_is_exact() {
        assert_eq!(
            parse_balance(&json!({"credits":"20814.0"})).unwrap(),
            Credits::from_tenths(208_140)
        );
        assert_eq!(
            parse_balance(&json!({"credits":"1234.5"})).unwrap(),
            Credits::from_tenths(12_345)
        );
        assert_eq!(parse_balance(&json!({"credits":200.0})).unwrap(), Credits::whole(200));
        assert!(matches!(
            parse_balance(&json!({"credits":"12.34"})),
            Err(ProviderError::Protocol { .. })
        ));
        assert!(matches!(parse_balance(&json!({})), Err(ProviderError::Protocol { .. })));
    }
}
