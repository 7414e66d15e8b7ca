//! The response envelope shared by submit and poll (§8 of the Katana contract), and the sizes
//! and asset names it refers to.
//!
//! Sizes come in two kinds, as on the real service: the `requests[]` echo carries nominal
//! *preview* sizes (long side 1024 for pictures, 1280 for video) while `output_assets[]` carries
//! the *actual* size of the placeholder (long side 768 for pictures, 384 with `is_fast`, 1536
//! with `is_uhd`; 640 for video). A client that reads sizes from the echo gets them wrong, which
//! is the point. Assets are named `{item}.{ext}`, `{item}-thumb.png` and `{item}-final.png`
//! under `/assets/{request_id}/`.
//!
//! `credits_spent` is what each item was charged, the injected overcharge included, and a failed
//! item's `error.message` repeats the poll's credentials when the echo-credentials fault asks.
//!
//! An async text job (`POST /v1/chat/completions?wait=false`) has the same envelope with one
//! response: while processing, `credits_spent` is the reserve held; once completed it is the
//! charge, and the one `output_assets[]` entry is `{kind: "text", mime_type: "text/plain",
//! content, reasoning_content?, finish_reason, metadata: {usage}}`, the usage object being the
//! one a synchronous call returns.

use conjure_core::catalogue::MediaKind;
use conjure_core::money::Credits;
use serde_json::{Map, Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::echo::with_echo;
use crate::media::image;
use crate::state::{Job, JobItem, Phase, Work};
use crate::submit::PlannedItem;
use crate::text::TextJob;

const IMAGE_LONG: u32 = 768;
const VIDEO_LONG: u32 = 640;
const THUMB_LONG: u32 = 256;
const PREVIEW_IMAGE_LONG: u32 = 1024;
const PREVIEW_VIDEO_LONG: u32 = 1280;
/// Outputs are kept for at most 72 h.
const RETENTION: Duration = Duration::hours(72);

/// The actual output size of an item.
pub(crate) fn output_size(item: &PlannedItem) -> (u32, u32) {
    let long = match item.kind {
        MediaKind::Video => VIDEO_LONG,
        _ if item.uhd => IMAGE_LONG * 2,
        _ if item.fast => IMAGE_LONG / 2,
        _ => IMAGE_LONG,
    };
    image::size_for(item.aspect, long)
}

/// The nominal size shown in the `requests[]` echo.
fn preview_size(item: &PlannedItem) -> (u32, u32) {
    let long = if item.kind == MediaKind::Video { PREVIEW_VIDEO_LONG } else { PREVIEW_IMAGE_LONG };
    image::size_for(item.aspect, long)
}

pub(crate) fn thumbnail_size(item: &PlannedItem) -> (u32, u32) {
    image::size_for(item.aspect, THUMB_LONG)
}

/// Which file of an item an asset URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AssetPart {
    Main,
    Thumbnail,
    FinalFrame,
}

/// The file name of an item's main output.
pub(crate) fn main_file(index: usize, item: &PlannedItem) -> String {
    let ext = if item.kind == MediaKind::Video { "mp4" } else { image::extension(item.format) };
    format!("{index}.{ext}")
}

/// Reads an asset file name back into the item index and the part.
pub(crate) fn parse_asset(file: &str) -> Option<(usize, AssetPart)> {
    let (stem, ext) = file.rsplit_once('.')?;
    let (index, part) = match stem.split_once('-') {
        Some((i, "thumb")) if ext == "png" => (i, AssetPart::Thumbnail),
        Some((i, "final")) if ext == "png" => (i, AssetPart::FinalFrame),
        Some(_) => return None,
        None => (stem, AssetPart::Main),
    };
    Some((index.parse().ok()?, part))
}

/// RFC 3339 in UTC with whole seconds.
pub(crate) fn timestamp(t: OffsetDateTime) -> String {
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

fn poll_after(value: Option<u32>) -> Value {
    value.map_or(Value::Null, Value::from)
}

fn echo(item: &PlannedItem) -> Value {
    let (w, h) = preview_size(item);
    let mut echo = item.echo.clone();
    echo.insert("width".into(), w.into());
    echo.insert("height".into(), h.into());
    Value::Object(echo)
}

fn with_id(item: &PlannedItem, mut obj: Map<String, Value>) -> Value {
    if let Some(id) = &item.client_id {
        obj.insert("id".into(), Value::String(id.clone()));
    }
    Value::Object(obj)
}

fn metadata(item: &PlannedItem, credits: Credits) -> Value {
    json!({ "credits_spent": credits, "model": item.model.id })
}

/// The answer to a submission that failed validation: nothing was charged, nothing to poll.
pub(crate) fn rejected(request_id: &str, items: &[PlannedItem], now: OffsetDateTime) -> Value {
    let now_s = timestamp(now);
    let first = items.iter().find_map(|i| i.invalid.clone()).unwrap_or_default();
    let responses: Vec<Value> = items
        .iter()
        .map(|item| {
            let (code, message) = match &item.invalid {
                Some(reason) => ("invalid_request", reason.clone()),
                None => ("batch_rejected", "Another item of this request was rejected".to_owned()),
            };
            let body = json!({
                "status": "rejected",
                "started_at": now_s,
                "completed_at": now_s,
                "error": { "code": code, "message": message, "retryable": false },
                "metadata": metadata(item, Credits::ZERO),
                "output_assets": [],
            });
            with_id(item, body.as_object().cloned().unwrap_or_default())
        })
        .collect();
    json!({
        "request_id": request_id,
        "status": "rejected",
        "poll_after_seconds": null,
        "created_at": now_s,
        "updated_at": now_s,
        "error": { "code": "invalid_request", "message": first, "retryable": false },
        "requests": items.iter().map(echo).collect::<Vec<_>>(),
        "responses": responses,
    })
}

/// The envelope of an accepted job, as submit and poll return it. `credentials` is the sentence
/// to put in failed items' messages under the echo-credentials fault, if any.
pub(crate) fn render(
    job: &Job,
    base_url: &str,
    poll_after_secs: Option<u32>,
    credentials: Option<&str>,
) -> Value {
    let created = timestamp(job.created_at);
    let (status, requests, responses) = match &job.work {
        Work::Media(items) => {
            let status = match job.phase {
                Phase::Processing => "processing",
                Phase::Done { .. } => {
                    let failed = items.iter().filter(|i| i.fails).count();
                    if failed == 0 {
                        "completed"
                    } else if failed == items.len() {
                        "failed"
                    } else {
                        "partial_failure"
                    }
                }
            };
            let responses: Vec<Value> = items
                .iter()
                .enumerate()
                .map(|(i, item)| response(job, i, item, base_url, &created, credentials))
                .collect();
            (status, items.iter().map(|i| echo(&i.plan)).collect(), responses)
        }
        Work::Text(text) => {
            let status = match job.phase {
                Phase::Processing => "processing",
                Phase::Done { .. } => "completed",
            };
            (status, vec![text.echo()], vec![text_response(job, text, &created)])
        }
    };
    json!({
        "request_id": job.id,
        "status": status,
        "poll_after_seconds": poll_after(poll_after_secs),
        "created_at": created,
        "updated_at": timestamp(job.updated_at),
        "requests": requests,
        "responses": responses,
    })
}

fn text_response(job: &Job, text: &TextJob, started: &str) -> Value {
    let model = text.model.id.as_str();
    match job.phase {
        Phase::Processing => json!({
            "status": "processing",
            "started_at": started,
            "metadata": { "credits_spent": text.usage.reserved, "model": model },
            "output_assets": [],
        }),
        Phase::Done { completed_at } => {
            let mut asset = json!({
                "kind": "text",
                "mime_type": "text/plain",
                "content": text.reply.content,
                "finish_reason": text.reply.finish_reason,
                "metadata": { "usage": text.usage.to_json() },
            });
            if let (Some(reasoning), Value::Object(obj)) = (&text.reply.reasoning, &mut asset) {
                obj.insert("reasoning_content".into(), reasoning.clone().into());
            }
            json!({
                "status": "completed",
                "started_at": started,
                "completed_at": timestamp(completed_at),
                "metadata": { "credits_spent": text.usage.charged, "model": model },
                "output_assets": [asset],
            })
        }
    }
}

/// The message of a failed item.
const UPSTREAM_FAILED: &str = "The upstream provider failed to generate this item \
    (sandbox fault injection); its credits were refunded";

fn response(
    job: &Job,
    index: usize,
    item: &JobItem,
    base_url: &str,
    started: &str,
    credentials: Option<&str>,
) -> Value {
    let plan = &item.plan;
    let body = match job.phase {
        Phase::Processing => json!({
            "status": "processing",
            "started_at": started,
            "metadata": metadata(plan, item.charged),
            "output_assets": [],
        }),
        Phase::Done { completed_at } if item.fails => json!({
            "status": "failed",
            "started_at": started,
            "completed_at": timestamp(completed_at),
            "error": {
                "code": "upstream_error",
                "message": credentials
                    .map_or_else(|| UPSTREAM_FAILED.to_owned(), |c| with_echo(UPSTREAM_FAILED, c)),
                "retryable": false,
            },
            // Net of the refund, which the sandbox makes at once.
            "metadata": metadata(plan, Credits::ZERO),
            "output_assets": [],
        }),
        Phase::Done { completed_at } => json!({
            "status": "completed",
            "started_at": started,
            "completed_at": timestamp(completed_at),
            "metadata": metadata(plan, item.charged),
            "output_assets": [asset(job, index, plan, base_url, completed_at)],
        }),
    };
    with_id(plan, body.as_object().cloned().unwrap_or_default())
}

fn asset(
    job: &Job,
    index: usize,
    plan: &PlannedItem,
    base_url: &str,
    completed_at: OffsetDateTime,
) -> Value {
    let dir = format!("{base_url}/assets/{}", job.id);
    let url = format!("{dir}/{}", main_file(index, plan));
    let thumb = format!("{dir}/{index}-thumb.png");
    let (width, height) = output_size(plan);
    let mut asset = json!({
        "kind": plan.kind.as_str(),
        "original_data_url": url,
        "url": url,
        "thumbnail_image_url": thumb,
        "thumbnail_silent_video_mp4_url": "",
        "final_frame_image_url": "",
        "width": width,
        "height": height,
        "expires_at": timestamp(completed_at + RETENTION),
        "metadata": { "tags": [] },
    });
    if let Value::Object(obj) = &mut asset {
        if plan.kind == MediaKind::Video {
            obj.insert("mime_type".into(), "video/mp4".into());
            obj.insert("final_frame_image_url".into(), format!("{dir}/{index}-final.png").into());
            obj.insert("duration_seconds".into(), plan.duration.unwrap_or_default().into());
        } else {
            obj.insert("mime_type".into(), image::mime(plan.format).into());
        }
    }
    asset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_names_round_trip() {
        assert_eq!(parse_asset("0.png"), Some((0, AssetPart::Main)));
        assert_eq!(parse_asset("12.mp4"), Some((12, AssetPart::Main)));
        assert_eq!(parse_asset("3-thumb.png"), Some((3, AssetPart::Thumbnail)));
        assert_eq!(parse_asset("3-final.png"), Some((3, AssetPart::FinalFrame)));
        assert_eq!(parse_asset("3-final.jpg"), None);
        assert_eq!(parse_asset("x.png"), None);
        assert_eq!(parse_asset("../etc"), None);
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let t = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        assert_eq!(timestamp(t), "2023-11-14T22:13:20Z");
    }
}
