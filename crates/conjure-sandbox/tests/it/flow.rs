//! The happy path: submit, poll, complete, download and check what was delivered and charged.

use std::path::Path;
use std::process::Command;

use conjure_core::money::Credits;
use conjure_sandbox::{DEMO_KEY, FAIL_MARKER, Faults};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::{demo_balance, download, image_item, poll, poll_to_end, sandbox, submit_ok};

#[tokio::test]
async fn image_submit_poll_download() {
    let sb = sandbox(Faults::default()).await;
    let mut item = image_item("gpt2image", "16:9", "png");
    item["id"] = json!("item-1");
    let submitted = submit_ok(&sb, &json!({ "requests": [item] })).await;
    assert_eq!(submitted["status"], "processing");
    assert_eq!(submitted["poll_after_seconds"], 1);
    let id = submitted["request_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("req_"));
    // The echo normalises the legacy key and shows preview sizes, not the output's.
    assert_eq!(submitted["requests"][0]["model"], "gpt-image-2");
    assert_eq!(
        (submitted["requests"][0]["width"].as_u64(), submitted["requests"][0]["height"].as_u64()),
        (Some(1024), Some(576))
    );
    assert_eq!(submitted["responses"][0]["status"], "processing");
    assert_eq!(submitted["responses"][0]["id"], "item-1");
    assert_eq!(sb.balance(DEMO_KEY), Some(demo_balance() - Credits::whole(14)));

    // One processing step by default.
    let first: Value = poll(&sb, &id).await.json().await.unwrap();
    assert_eq!(first["status"], "processing");
    let done = poll_to_end(&sb, &id, 1).await;
    assert_eq!(done["status"], "completed");
    let response = &done["responses"][0];
    assert_eq!(response["status"], "completed");
    assert_eq!(response["metadata"]["credits_spent"], 14.0);
    assert_eq!(response["metadata"]["model"], "gpt-image-2");
    let asset = &response["output_assets"][0];
    assert_eq!(asset["kind"], "image");
    assert_eq!(asset["mime_type"], "image/png");
    let (w, h) =
        (asset["width"].as_u64().unwrap() as u32, asset["height"].as_u64().unwrap() as u32);
    assert_eq!((w, h), (768, 432));
    assert_eq!(w * 9, h * 16, "the output keeps the requested aspect");
    let expires = OffsetDateTime::parse(asset["expires_at"].as_str().unwrap(), &Rfc3339).unwrap();
    let hours = (expires - OffsetDateTime::now_utc()).whole_hours();
    assert!((71..=72).contains(&hours), "{hours}");

    let url = asset["original_data_url"].as_str().unwrap();
    assert!(url.starts_with(&sb.base_url()));
    let (mime, bytes) = download(url).await;
    assert_eq!(mime, "image/png");
    let decoded = image::load_from_memory(&bytes).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (w, h));
    let (_, again) = download(asset["url"].as_str().unwrap()).await;
    assert_eq!(bytes, again, "placeholders are deterministic");
    let (_, thumb) = download(asset["thumbnail_image_url"].as_str().unwrap()).await;
    let thumb = image::load_from_memory(&thumb).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (256, 144));

    let stats = sb.stats();
    assert_eq!(
        (stats.submissions_accepted, stats.submit_posts_received, stats.polls, stats.downloads),
        (1, 1, 2, 3)
    );
    assert_eq!(stats.balances[DEMO_KEY], "9986.0");
    sb.shutdown().await;
}

#[tokio::test]
async fn jpeg_and_webp_outputs_decode_at_their_aspect() {
    let sb = sandbox(Faults { processing_steps: 0, ..Faults::default() }).await;
    let body = json!({ "requests": [
        image_item("flux-2-pro", "9:16", "jpg"),
        image_item("gen", "auto", "webp"),
        { "type": "image", "model": "gen", "prompt": "fast", "aspect_ratio": "4:3", "is_fast": true },
    ]});
    let id = submit_ok(&sb, &body).await["request_id"].as_str().unwrap().to_owned();
    let done = poll_to_end(&sb, &id, 1).await;
    assert_eq!(done["status"], "completed");
    let expected = [
        ("image/jpeg", image::ImageFormat::Jpeg, 432, 768),
        ("image/webp", image::ImageFormat::WebP, 768, 768),
        ("image/png", image::ImageFormat::Png, 384, 288),
    ];
    for (response, (mime, format, w, h)) in
        done["responses"].as_array().unwrap().iter().zip(expected)
    {
        let asset = &response["output_assets"][0];
        assert_eq!(asset["mime_type"], mime);
        assert_eq!((asset["width"].as_u64(), asset["height"].as_u64()), (Some(w), Some(h)));
        let (served, bytes) = download(asset["original_data_url"].as_str().unwrap()).await;
        assert_eq!(served, mime);
        assert_eq!(image::guess_format(&bytes).unwrap(), format);
        let decoded = image::load_from_memory(&bytes).unwrap();
        assert_eq!((u64::from(decoded.width()), u64::from(decoded.height())), (w, h));
    }
    assert_eq!(sb.balance(DEMO_KEY), Some(demo_balance() - Credits::whole(8 + 3 + 3)));
}

fn ffprobe(path: &Path) -> Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream=codec_type,codec_name,width,height,pix_fmt",
        ])
        .args(["-of", "json"])
        .arg(path)
        .output()
        .expect("ffprobe is installed");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[tokio::test]
async fn video_is_an_mp4_of_the_requested_length() {
    let sb = sandbox(Faults { processing_steps: 0, ..Faults::default() }).await;
    let body = json!({ "requests": [
        { "type": "video", "model": "seedance2fast", "prompt": "waves on a beach", "duration_seconds": 5, "aspect_ratio": "16:9" },
        { "type": "video", "model": "kling-1-6", "prompt": "a silent film", "duration_seconds": 5, "aspect_ratio": "9:16" },
    ]});
    let submitted = submit_ok(&sb, &body).await;
    assert_eq!(submitted["requests"][0]["model"], "seedance-2-0-fast");
    assert_eq!(
        (submitted["requests"][0]["width"].as_u64(), submitted["requests"][0]["height"].as_u64()),
        (Some(1280), Some(720))
    );
    assert_eq!(sb.balance(DEMO_KEY), Some(demo_balance() - Credits::whole(120 + 130)));
    let id = submitted["request_id"].as_str().unwrap();
    let done = poll_to_end(&sb, id, 1).await;
    assert_eq!(done["status"], "completed");
    let dir = tempfile::tempdir().unwrap();
    for (i, (w, h, audio)) in [(640, 360, true), (360, 640, false)].into_iter().enumerate() {
        let asset = &done["responses"][i]["output_assets"][0];
        assert_eq!(asset["kind"], "video");
        assert_eq!(asset["mime_type"], "video/mp4");
        assert_eq!(asset["duration_seconds"], 5);
        assert_eq!((asset["width"].as_u64(), asset["height"].as_u64()), (Some(w), Some(h)));
        let (mime, bytes) = download(asset["original_data_url"].as_str().unwrap()).await;
        assert_eq!(mime, "video/mp4");
        let moov = find(&bytes, b"moov").unwrap();
        let mdat = find(&bytes, b"mdat").unwrap();
        assert!(moov < mdat, "faststart puts the index first");
        let path = dir.path().join(format!("{i}.mp4"));
        std::fs::write(&path, &bytes).unwrap();
        let probe = ffprobe(&path);
        let duration: f64 = probe["format"]["duration"].as_str().unwrap().parse().unwrap();
        assert!((duration - 5.0).abs() < 0.1, "duration {duration}");
        let streams = probe["streams"].as_array().unwrap();
        let video = streams.iter().find(|s| s["codec_type"] == "video").unwrap();
        assert_eq!(video["codec_name"], "h264");
        assert_eq!(video["pix_fmt"], "yuv420p");
        assert_eq!((video["width"].as_u64(), video["height"].as_u64()), (Some(w), Some(h)));
        assert_eq!(streams.iter().any(|s| s["codec_type"] == "audio"), audio);
        // The second download is served from the cache, byte for byte.
        let (_, again) = download(asset["url"].as_str().unwrap()).await;
        assert_eq!(bytes, again);
        let (_, frame) = download(asset["final_frame_image_url"].as_str().unwrap()).await;
        let frame = image::load_from_memory(&frame).unwrap();
        assert_eq!((u64::from(frame.width()), u64::from(frame.height())), (w, h));
    }
}

#[tokio::test]
async fn failed_items_are_refunded() {
    let sb = sandbox(Faults { fail_rate: 1.0, processing_steps: 0, ..Faults::default() }).await;
    let submitted =
        submit_ok(&sb, &json!({ "requests": [image_item("gpt-image-2", "1:1", "png")] })).await;
    assert_eq!(sb.balance(DEMO_KEY), Some(demo_balance() - Credits::whole(14)));
    let done = poll_to_end(&sb, submitted["request_id"].as_str().unwrap(), 1).await;
    assert_eq!(done["status"], "failed");
    let error = &done["responses"][0]["error"];
    assert_eq!(error["code"], "upstream_error");
    assert_eq!(error["retryable"], false);
    assert_eq!(done["responses"][0]["output_assets"], json!([]));
    assert_eq!(sb.balance(DEMO_KEY), Some(demo_balance()));
    // Polling again does not refund twice.
    poll_to_end(&sb, submitted["request_id"].as_str().unwrap(), 1).await;
    assert_eq!(sb.balance(DEMO_KEY), Some(demo_balance()));
}

#[tokio::test]
async fn partial_failure_charges_only_the_delivered_item() {
    let sb = sandbox(Faults { processing_steps: 0, ..Faults::default() }).await;
    let mut failing = image_item("gen", "1:1", "png");
    failing["prompt"] = json!(format!("a broken item {FAIL_MARKER}"));
    let body = json!({ "requests": [image_item("flux-2-pro", "1:1", "png"), failing] });
    let submitted = submit_ok(&sb, &body).await;
    assert_eq!(sb.balance(DEMO_KEY), Some(demo_balance() - Credits::whole(8 + 3)));
    let id = submitted["request_id"].as_str().unwrap();
    let done = poll_to_end(&sb, id, 1).await;
    assert_eq!(done["status"], "partial_failure");
    assert_eq!(done["responses"][0]["status"], "completed");
    assert_eq!(done["responses"][1]["status"], "failed");
    assert_eq!(done["responses"][1]["metadata"]["credits_spent"], 0.0);
    assert_eq!(sb.balance(DEMO_KEY), Some(demo_balance() - Credits::whole(8)));
    // A failed item has no assets to download.
    let missing =
        crate::client().get(format!("{}/assets/{id}/1.png", sb.base_url())).send().await.unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn unknown_and_foreign_jobs_are_not_found() {
    let sb = sandbox(Faults::default()).await;
    let response = poll(&sb, "req_doesnotexist").await;
    assert_eq!(response.status(), 404);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({ "detail": "Not found" }));
    let asset = crate::client()
        .get(format!("{}/assets/req_nope/0.png", sb.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(asset.status(), 404);
}

#[tokio::test]
async fn stats_endpoint_matches_the_handle() {
    let sb = sandbox(Faults::default()).await;
    submit_ok(&sb, &json!({ "requests": [image_item("gen", "1:1", "png")] })).await;
    let stats: conjure_sandbox::Stats = crate::client()
        .get(format!("{}/_sandbox/stats", sb.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats, sb.stats());
    assert_eq!(stats.submissions_accepted, 1);
}
