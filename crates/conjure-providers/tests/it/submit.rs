//! Submits: exact path, headers and body; every failure classified; exactly one POST.

use std::time::Duration;

use conjure_core::catalogue::ProviderId;
use conjure_core::policy::{SubmitVerdict, after_submit_error};
use conjure_core::provider::RemoteStatus;
use conjure_core::spec::{ImageFormat, ImageItem, Item, MediaInput, VideoItem};
use conjure_core::{JobSpec, Provider, ProviderError};
use conjure_providers::{HttpOptions, Katana};
use serde_json::json;

use crate::fake::{FakeServer, HangUpServer, Reply, closed_port_base};
use crate::{KEY, SECRET, assert_no_secret, creds, katana, options};

fn url(u: &str) -> MediaInput {
    MediaInput::Url { url: u.to_owned() }
}

fn image_spec() -> JobSpec {
    JobSpec {
        provider: ProviderId::Katana,
        hooks: conjure_core::spec::Hooks::default(),
        items: vec![Item::Image(ImageItem {
            model: "flux-2-pro".to_owned(),
            prompt: "a lighthouse at dusk".to_owned(),
            aspect_ratio: "16:9".to_owned(),
            format: ImageFormat::Jpeg,
            inputs: vec![url("https://assets.test/ref1.png"), url("https://assets.test/ref2.png")],
            negative_prompt: Some("text, watermark".to_owned()),
            fast: true,
            uhd: false,
        })],
    }
}

fn video_spec() -> JobSpec {
    JobSpec {
        provider: ProviderId::Katana,
        hooks: conjure_core::spec::Hooks::default(),
        items: vec![Item::Video(VideoItem {
            model: "kling-3-0-kling30".to_owned(),
            prompt: "the lighthouse beam sweeps".to_owned(),
            duration_seconds: 10,
            aspect_ratio: "9:16".to_owned(),
            first_frame: Some(url("https://assets.test/ff.png")),
            last_frame: Some(url("https://assets.test/lf.png")),
            references: vec![url("https://assets.test/r.png")],
            audio: vec![url("https://assets.test/a.mp3")],
            videos: vec![],
        })],
    }
}

fn accepted() -> serde_json::Value {
    json!({"request_id":"req_abc","status":"processing","poll_after_seconds":5,
           "requests":[{"id":"item-0"}],"responses":[]})
}

async fn submit_spec(
    server: &FakeServer,
    spec: &JobSpec,
) -> Result<conjure_core::Snapshot, ProviderError> {
    let k = katana(&server.base);
    let wire = conjure_providers::build_request(spec).unwrap();
    k.submit(&wire).await
}

fn assert_submit_shape(server: &FakeServer) -> serde_json::Value {
    let r = server.only();
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/v1/generation-requests");
    assert_eq!(r.query.as_deref(), Some("wait=false"));
    assert_eq!(r.header("x-api-key"), Some(KEY));
    assert_eq!(r.header("x-api-secret"), Some(SECRET));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("authorization"), None, "media calls use the header pair only");
    r.json()
}

#[tokio::test]
async fn image_submit_sends_exact_request() {
    let server = FakeServer::start(vec![Reply::Json(200, accepted())]).await;
    let snap = submit_spec(&server, &image_spec()).await.unwrap();
    assert_eq!(snap.request_id.as_deref(), Some("req_abc"));
    assert_eq!(snap.status, RemoteStatus::Processing);
    assert_eq!(snap.poll_after_seconds, Some(5.0));
    let body = assert_submit_shape(&server);
    assert_eq!(
        body,
        json!({"requests":[{
            "id":"item-0","type":"image","model":"flux-2-pro","prompt":"a lighthouse at dusk",
            "aspect_ratio":"16:9","output_format":"jpeg",
            "image_urls":["https://assets.test/ref1.png","https://assets.test/ref2.png"],
            "negative_prompt":"text, watermark","is_fast":true
        }]})
    );
}

#[tokio::test]
async fn video_submit_sends_frames_references_and_audio() {
    let server = FakeServer::start(vec![Reply::Json(200, accepted())]).await;
    submit_spec(&server, &video_spec()).await.unwrap();
    let body = assert_submit_shape(&server);
    assert_eq!(
        body,
        json!({"requests":[{
            "id":"item-0","type":"video","model":"kling-3-0-kling30",
            "prompt":"the lighthouse beam sweeps","duration_seconds":10,"aspect_ratio":"9:16",
            "video_image_data":{
                "first_frame_image_url":"https://assets.test/ff.png",
                "last_frame_image_url":"https://assets.test/lf.png",
                "reference_image_urls":["https://assets.test/r.png"],
                "audio_input_urls":["https://assets.test/a.mp3"]
            }
        }]})
    );
}

#[tokio::test]
async fn server_error_is_remote_maybe_charged_and_sent_once() {
    let server = FakeServer::start(vec![Reply::Json(500, json!({"detail":"internal boom"}))]).await;
    let err = submit_spec(&server, &image_spec()).await.unwrap_err();
    assert_eq!(err, ProviderError::Remote { status: 500, message: "internal boom".to_owned() });
    assert_eq!(after_submit_error(&err), SubmitVerdict::MaybeCharged);
    assert_eq!(server.count("POST"), 1);
    assert_no_secret(&format!("{err} {err:?}"));
}

#[tokio::test]
async fn dropped_connection_is_transport_sent_and_sent_once() {
    let server = HangUpServer::start().await;
    let k = katana(&server.base);
    let err =
        k.submit(&conjure_providers::build_request(&image_spec()).unwrap()).await.unwrap_err();
    assert!(matches!(err, ProviderError::Transport { sent: true, .. }), "{err:?}");
    assert_eq!(after_submit_error(&err), SubmitVerdict::MaybeCharged);
    assert_eq!(server.count(), 1, "the POST must reach the server exactly once");
    assert_no_secret(&format!("{err} {err:?}"));
}

#[tokio::test]
async fn timeout_is_transport_sent_and_sent_once() {
    let server = FakeServer::start(vec![Reply::Hang]).await;
    let opts = HttpOptions { request_timeout: Duration::from_millis(300), ..options() };
    let k = Katana::new(&server.base, creds(), opts).unwrap();
    let err =
        k.submit(&conjure_providers::build_request(&image_spec()).unwrap()).await.unwrap_err();
    let ProviderError::Transport { sent: true, message } = &err else { panic!("{err:?}") };
    assert!(message.contains("timed out"), "{message}");
    assert_eq!(server.count("POST"), 1);
    assert_no_secret(&format!("{err} {err:?}"));
}

#[tokio::test]
async fn refused_connection_is_transport_not_sent() {
    let base = closed_port_base().await;
    let k = katana(&base);
    let err =
        k.submit(&conjure_providers::build_request(&image_spec()).unwrap()).await.unwrap_err();
    assert!(matches!(err, ProviderError::Transport { sent: false, .. }), "{err:?}");
    assert_eq!(after_submit_error(&err), SubmitVerdict::NotCharged);
    assert_no_secret(&format!("{err} {err:?}"));
}

#[tokio::test]
async fn client_errors_are_classified_and_never_resent() {
    let cases = [
        (Reply::Json(401, json!({"detail":"Invalid API credentials"})), "auth"),
        (Reply::Json(402, json!({"error":"payment required"})), "payment"),
        (Reply::Json(422, json!({"error":{"message":"bad aspect"}})), "rejected"),
        (
            Reply::JsonWithHeaders(
                429,
                json!({"message":"slow down"}),
                vec![("retry-after", "12")],
            ),
            "rate",
        ),
        (
            Reply::Raw { status: 200, content_type: "text/html", body: b"<html>".to_vec() },
            "protocol",
        ),
    ];
    for (reply, kind) in cases {
        let server = FakeServer::start(vec![reply]).await;
        let err = submit_spec(&server, &image_spec()).await.unwrap_err();
        match kind {
            "auth" => assert!(matches!(err, ProviderError::Auth { .. }), "{err:?}"),
            "payment" => assert_eq!(
                err,
                ProviderError::Rejected { status: 402, message: "payment required".to_owned() }
            ),
            "rejected" => assert_eq!(
                err,
                ProviderError::Rejected { status: 422, message: "bad aspect".to_owned() }
            ),
            "rate" => assert_eq!(
                err,
                ProviderError::RateLimited {
                    retry_after: Some(Duration::from_secs(12)),
                    message: "slow down".to_owned()
                }
            ),
            _ => assert!(matches!(err, ProviderError::Protocol { .. }), "{err:?}"),
        }
        assert_eq!(server.count("POST"), 1, "{kind}");
        assert_no_secret(&format!("{err} {err:?}"));
    }
}

#[tokio::test]
async fn terminal_rejection_in_the_envelope_is_a_snapshot() {
    let server = FakeServer::start(vec![Reply::Json(
        200,
        json!({"request_id":"req_x","status":"rejected",
               "responses":[{"id":"item-0","status":"rejected","error":"Invalid base64 data"}]}),
    )])
    .await;
    let snap = submit_spec(&server, &image_spec()).await.unwrap();
    assert_eq!(snap.status, RemoteStatus::Rejected);
    assert_eq!(snap.errors[0].message, "Invalid base64 data");
}

#[tokio::test]
async fn accepted_without_request_id_is_protocol() {
    let server = FakeServer::start(vec![Reply::Json(200, json!({"status":"processing"}))]).await;
    let err = submit_spec(&server, &image_spec()).await.unwrap_err();
    assert!(matches!(err, ProviderError::Protocol { .. }), "{err:?}");
    assert_eq!(after_submit_error(&err), SubmitVerdict::MaybeCharged);
}
