//! The answer parsers (pure): the submit envelope, the message object, and error bodies.

use conjure_core::provider::{Asset, RemoteError, RemoteStatus};
use conjure_core::{ProviderError, Snapshot};
use serde_json::Value;

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned).filter(|s| !s.is_empty())
}

fn empty(request_id: Option<String>, status: RemoteStatus) -> Snapshot {
    Snapshot::new(request_id, status)
}

/// The answer to a paid POST: `{success, messageId, createdAt, error?}`. A `success: false`
/// with no `messageId` made no job.
pub fn parse_submit(body: &Value) -> Result<Snapshot, ProviderError> {
    let success = body.get("success").and_then(Value::as_bool);
    match (success, text(body, "messageId")) {
        (Some(false), None) => Err(ProviderError::Rejected {
            status: 200,
            message: text(body, "error").unwrap_or_else(|| "success: false".to_owned()),
        }),
        (_, Some(id)) => Ok(empty(Some(id), RemoteStatus::Queued)),
        (_, None) => Err(ProviderError::Protocol {
            message: "the submit answer has no `messageId`".to_owned(),
        }),
    }
}

fn status(s: &str) -> RemoteStatus {
    match s.to_ascii_uppercase().as_str() {
        "QUEUED" | "SUBMITTED" => RemoteStatus::Queued,
        "PROCESSING" => RemoteStatus::Processing,
        "DONE" => RemoteStatus::Completed,
        "FAIL" | "FAILED" => RemoteStatus::Failed,
        _ => RemoteStatus::Other(s.to_owned()),
    }
}

/// `progress` as a number or a numeric string, clamped to 0..=100.
fn progress(v: Option<&Value>) -> Option<u8> {
    let n = match v? {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().trim_end_matches('%').parse::<f64>().ok()?,
        _ => return None,
    };
    if !n.is_finite() {
        return None;
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "clamped to 0..=100"
    )]
    Some(n.clamp(0.0, 100.0) as u8)
}

fn mime_for(url: &str, video: bool) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url).to_ascii_lowercase();
    let ext = path.rsplit_once('.').map_or("", |(_, e)| e);
    match ext {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        _ if video => "video/mp4",
        _ => "image/png",
    }
    .to_owned()
}

/// The URLs to download, best first: for video `videoUrl` else `results[].url` by index; then
/// `images`, else `uri`; `originalUrl` (valid 24 h) only when there is nothing else.
fn urls(body: &Value, video: bool) -> Vec<String> {
    let mut out = Vec::new();
    if video {
        if let Some(u) = text(body, "videoUrl") {
            out.push(u);
        } else if let Some(results) = body.get("results").and_then(Value::as_array) {
            let mut r: Vec<(i64, String)> = results
                .iter()
                .filter_map(|x| {
                    Some((x.get("index").and_then(Value::as_i64).unwrap_or(0), text(x, "url")?))
                })
                .collect();
            r.sort_by_key(|(i, _)| *i);
            out.extend(r.into_iter().map(|(_, u)| u));
        }
    }
    if out.is_empty()
        && let Some(images) = body.get("images").and_then(Value::as_array)
    {
        out.extend(
            images.iter().filter_map(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned),
        );
    }
    if out.is_empty()
        && let Some(u) = text(body, "uri")
    {
        out.push(u);
    }
    if out.is_empty()
        && let Some(u) = text(body, "originalUrl")
    {
        out.push(u);
    }
    out
}

/// A message object (a poll answer) as a [`Snapshot`]; `video` for `/video/mj/fetch`.
pub fn parse_message(body: &Value, video: bool) -> Result<Snapshot, ProviderError> {
    let Some(s) = body.get("status").and_then(Value::as_str) else {
        return Err(ProviderError::Protocol { message: "the message has no `status`".to_owned() });
    };
    let mut snap = empty(text(body, "messageId"), status(s));
    snap.progress = progress(body.get("progress"));
    snap.buttons = body
        .get("buttons")
        .and_then(Value::as_array)
        .map(|b| b.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    match snap.status {
        RemoteStatus::Completed => {
            let kind = if video { "video" } else { "image" };
            snap.assets = urls(body, video)
                .into_iter()
                .map(|url| Asset {
                    item: 0,
                    kind: kind.to_owned(),
                    mime: mime_for(&url, video),
                    url,
                    fallback_url: None,
                    width: None,
                    height: None,
                    duration_seconds: None,
                    expires_at: None,
                })
                .collect();
            if snap.assets.is_empty() {
                return Err(ProviderError::Protocol {
                    message: "the job is DONE but its message has no image or video URL".to_owned(),
                });
            }
        }
        RemoteStatus::Failed => snap.errors.push(RemoteError {
            item: None,
            code: None,
            message: text(body, "error")
                .unwrap_or_else(|| "the job failed; ImaginePro gave no reason".to_owned()),
            retryable: None,
        }),
        _ => {}
    }
    Ok(snap)
}

/// The parent a message was made from by a button press (`originatingMessageId`, which one
/// docs table spells `originalMessageId`).
pub fn originating_message(body: &Value) -> Option<String> {
    text(body, "originatingMessageId").or_else(|| text(body, "originalMessageId"))
}

/// A non-2xx answer, from its `{message, error, statusCode}` body (or its raw text).
pub fn classify_error(status: u16, body: &str) -> ProviderError {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| {
            match v.get("message") {
                Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                Some(Value::Array(a)) => {
                    Some(a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("; "))
                }
                _ => None,
            }
            .or_else(|| text(v, "error"))
        })
        .unwrap_or_else(|| {
            let t = body.trim();
            if t.is_empty() { format!("HTTP {status}") } else { t.chars().take(300).collect() }
        });
    match status {
        400 | 402..=403 | 405..=428 | 430..=499 => ProviderError::Rejected { status, message },
        401 => ProviderError::Auth {
            status,
            message: format!(
                "{message} (ImaginePro answers 401 both for a wrong key and for too few credits: check the key with `conjure auth imaginepro`, and the account's credits)"
            ),
        },
        404 => ProviderError::NotFound { message },
        429 => ProviderError::RateLimited { retry_after: None, message },
        _ => ProviderError::Remote { status, message },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn submit_envelope() {
        let ok = parse_submit(
            &json!({"success": true, "messageId": "m-1", "createdAt": "2026-01-01T00:00:00Z"}),
        )
        .unwrap();
        assert_eq!(ok.request_id.as_deref(), Some("m-1"));
        assert!(!ok.status.is_terminal());
        assert!(matches!(
            parse_submit(&json!({"success": false, "error": "bad prompt"})),
            Err(ProviderError::Rejected { message, .. }) if message == "bad prompt"
        ));
        assert!(matches!(
            parse_submit(&json!({"success": true})),
            Err(ProviderError::Protocol { .. })
        ));
    }

    #[test]
    fn statuses_and_progress() {
        let at =
            |s: &str, p: Value| parse_message(&json!({"status": s, "progress": p}), false).unwrap();
        assert_eq!(at("QUEUED", json!(0)).status, RemoteStatus::Queued);
        assert_eq!(at("SUBMITTED", json!(0)).status, RemoteStatus::Queued);
        let p = at("PROCESSING", json!("42"));
        assert_eq!((p.status, p.progress), (RemoteStatus::Processing, Some(42)));
        assert_eq!(at("PROCESSING", json!(57.5)).progress, Some(57));
        assert_eq!(at("PROCESSING", json!(140)).progress, Some(100));
        let odd = at("WARMING_UP", json!(null));
        assert!(!odd.status.is_terminal() && odd.progress.is_none());
        let fail =
            parse_message(&json!({"status": "FAIL", "error": "banned word"}), false).unwrap();
        assert_eq!(fail.status, RemoteStatus::Failed);
        assert_eq!(fail.errors[0].message, "banned word");
        assert!(parse_message(&json!({"progress": 3}), false).is_err());
    }

    #[test]
    fn done_assets_prefer_images_then_uri_then_original() {
        let grid = parse_message(
            &json!({"messageId": "m", "status": "DONE", "progress": 100,
                    "images": ["https://c/1.png", "https://c/2.png"], "uri": "https://c/u.png",
                    "originalUrl": "https://discord/o.png", "buttons": ["U1", "🔄"]}),
            false,
        )
        .unwrap();
        let urls: Vec<&str> = grid.assets.iter().map(|a| a.url.as_str()).collect();
        assert_eq!(urls, ["https://c/1.png", "https://c/2.png"]);
        assert_eq!(grid.buttons, ["U1", "🔄"]);
        let uri = parse_message(
            &json!({"status": "DONE", "uri": "https://c/u.webp", "originalUrl": "https://d/o.png"}),
            false,
        )
        .unwrap();
        assert_eq!(
            (uri.assets[0].url.as_str(), uri.assets[0].mime.as_str()),
            ("https://c/u.webp", "image/webp")
        );
        let last =
            parse_message(&json!({"status": "DONE", "originalUrl": "https://d/o.png"}), false)
                .unwrap();
        assert_eq!(last.assets[0].url, "https://d/o.png");
        assert!(parse_message(&json!({"status": "DONE"}), false).is_err());
        let video = parse_message(
            &json!({"status": "DONE", "results": [{"url": "https://c/b.mp4", "index": 1}, {"url": "https://c/a.mp4", "index": 0}], "uri": "https://c/poster.png"}),
            true,
        )
        .unwrap();
        let urls: Vec<&str> = video.assets.iter().map(|a| a.url.as_str()).collect();
        assert_eq!(urls, ["https://c/a.mp4", "https://c/b.mp4"]);
        assert_eq!(video.assets[0].kind, "video");
        let v =
            parse_message(&json!({"status": "DONE", "videoUrl": "https://c/v.mp4"}), true).unwrap();
        assert_eq!(v.assets[0].mime, "video/mp4");
        assert_eq!(
            originating_message(&json!({"originatingMessageId": "p"})).as_deref(),
            Some("p")
        );
        assert_eq!(originating_message(&json!({"originalMessageId": "q"})).as_deref(), Some("q"));
    }

    #[test]
    fn error_bodies_are_classified() {
        let body = |m: &str, s: u16| {
            json!({"message": m, "error": "Bad Request", "statusCode": s}).to_string()
        };
        assert_eq!(
            classify_error(400, &body("prompt is required", 400)),
            ProviderError::Rejected { status: 400, message: "prompt is required".into() }
        );
        let auth = classify_error(401, &body("Unauthorized", 401));
        assert!(
            matches!(&auth, ProviderError::Auth { message, .. } if message.contains("too few credits"))
        );
        assert!(matches!(
            classify_error(404, &body("Message not found", 404)),
            ProviderError::NotFound { .. }
        ));
        assert!(
            matches!(classify_error(500, "<html>oops</html>"), ProviderError::Remote { status: 500, message } if message.contains("oops"))
        );
        assert!(matches!(classify_error(503, ""), ProviderError::Remote { status: 503, .. }));
        assert!(matches!(
            classify_error(429, &body("slow down", 429)),
            ProviderError::RateLimited { .. }
        ));
        let only_error = classify_error(400, &json!({"error": "Bad Request"}).to_string());
        assert!(
            matches!(only_error, ProviderError::Rejected { message, .. } if message == "Bad Request")
        );
    }
}
