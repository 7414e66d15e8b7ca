//! The ImaginePro client against a recording fake: exact paths under `/api/v1`, the Bearer and
//! content-type headers on every call, error classes, exactly one POST per submit, the video
//! poll fallback, prompt expansion, base URL rules, and the key never shown.

use std::time::Duration;

use conjure_core::imaginepro::{MIDJOURNEY, MJ_VIDEO};
use conjure_core::policy::{SubmitVerdict, after_submit_error};
use conjure_core::provider::RemoteStatus;
use conjure_core::spec::{ImageItem, Item, MediaInput, VideoItem};
use conjure_core::{JobSpec, MediaKind, Provider, ProviderError, ProviderId, WireRequest};
use conjure_providers::registry::{self, Connected, Credentials, ProviderSettings};
use conjure_providers::{Error, HttpOptions, ImaginePro, ImagineProKey, Katana};
use serde_json::json;

use crate::fake::{FakeServer, HangUpServer, Recorded, Reply, closed_port_base};
use crate::{creds, options};

/// Distinctive, so that a leak is easy to grep for.
const IP_KEY: &str = "sk-IPLEAKCHECK-5521";
const MESSAGE_ID: &str = "0b6c7e2a-41f5-4c8e-9d1e-3f2a1b0c9d8e";

fn key() -> ImagineProKey {
    ImagineProKey::new(IP_KEY).unwrap()
}

fn client(base: &str) -> ImaginePro {
    ImaginePro::new(base, key(), options()).unwrap()
}

fn assert_no_key(text: &str) {
    assert!(!text.contains(IP_KEY) && !text.contains("IPLEAKCHECK"), "key leaked into: {text}");
}

fn mj_request() -> WireRequest {
    let spec = JobSpec::new(
        ProviderId::ImaginePro,
        vec![Item::Image(ImageItem::new(MIDJOURNEY, "a lighthouse at dusk --ar 16:9"))],
    );
    conjure_providers::registry::build_request(&spec).unwrap()
}

fn video_request() -> WireRequest {
    let url = |u: &str| Some(MediaInput::Url { url: u.to_owned() });
    let spec = JobSpec::new(
        ProviderId::ImaginePro,
        vec![Item::Video(VideoItem {
            model: MJ_VIDEO.to_owned(),
            prompt: "the beam sweeps".to_owned(),
            duration_seconds: 5,
            aspect_ratio: "16:9".to_owned(),
            first_frame: url("https://assets.test/a.png"),
            last_frame: url("https://assets.test/b.png"),
            references: vec![],
            audio: vec![],
            videos: vec![],
        })],
    );
    conjure_providers::registry::build_request(&spec).unwrap()
}

fn accepted() -> serde_json::Value {
    json!({"success": true, "messageId": MESSAGE_ID, "createdAt": "2026-01-01T00:00:00Z"})
}

fn error_body(status: u16, message: &str, error: &str) -> serde_json::Value {
    json!({"message": message, "error": error, "statusCode": status})
}

fn assert_headers(r: &Recorded) {
    assert_eq!(r.header("authorization"), Some(format!("Bearer {IP_KEY}").as_str()));
    assert_eq!(r.header("content-type"), Some("application/json"), "{} {}", r.method, r.path);
    assert_eq!(r.header("x-api-key"), None);
}

#[tokio::test]
async fn submit_sends_one_exact_post() {
    let server = FakeServer::start(vec![Reply::Json(200, accepted())]).await;
    let snap = client(&server.base).submit(&mj_request()).await.unwrap();
    assert_eq!(snap.request_id.as_deref(), Some(MESSAGE_ID));
    assert!(!snap.status.is_terminal());
    let r = server.only();
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/api/v1/nova/imagine"));
    assert_eq!(r.query, None);
    assert_headers(&r);
    assert_eq!(r.json(), json!({"prompt": "a lighthouse at dusk --ar 16:9"}));
}

#[tokio::test]
async fn a_base_url_path_prefix_and_trailing_slash_are_kept_once() {
    let server = FakeServer::start(vec![Reply::Json(200, accepted())]).await;
    client(&format!("{}/proxy/", server.base)).submit(&mj_request()).await.unwrap();
    assert_eq!(server.only().path, "/proxy/api/v1/nova/imagine");
}

#[tokio::test]
async fn submit_errors_are_classified_and_never_resent() {
    type Check = fn(&ProviderError) -> bool;
    let cases: Vec<(Reply, Check)> = vec![
        (Reply::Json(400, error_body(400, "Prompt is required.", "Bad Request")), |e| {
            *e == ProviderError::Rejected { status: 400, message: "Prompt is required.".into() }
        }),
        (Reply::Json(401, error_body(401, "Unauthorized", "Unauthorized")), |e| {
            matches!(e, ProviderError::Auth { status: 401, message }
                if message.contains("key") && message.contains("credits"))
        }),
        (Reply::Json(404, error_body(404, "Cannot POST", "Not Found")), |e| {
            matches!(e, ProviderError::NotFound { .. })
        }),
        (
            Reply::JsonWithHeaders(429, error_body(429, "slow", "x"), vec![("retry-after", "9")]),
            |e| {
                *e == ProviderError::RateLimited {
                    retry_after: Some(Duration::from_secs(9)),
                    message: "slow".into(),
                }
            },
        ),
        (
            Reply::Json(200, json!({"success": false, "error": "banned prompt"})),
            |e| matches!(e, ProviderError::Rejected { message, .. } if message == "banned prompt"),
        ),
        (Reply::Raw { status: 200, content_type: "text/html", body: b"<html>".to_vec() }, |e| {
            matches!(e, ProviderError::Protocol { .. })
        }),
    ];
    for (reply, check) in cases {
        let server = FakeServer::start(vec![reply.clone()]).await;
        let err = client(&server.base).submit(&mj_request()).await.unwrap_err();
        assert!(check(&err), "{reply:?} -> {err:?}");
        assert_eq!(server.count("POST"), 1, "{reply:?}");
        assert_no_key(&format!("{err} {err:?}"));
    }
}

#[tokio::test]
async fn server_error_on_submit_is_outcome_unknown_and_sent_once() {
    let server = FakeServer::start(vec![Reply::Json(
        500,
        error_body(500, "Internal server error", "Internal Server Error"),
    )])
    .await;
    let err = client(&server.base).submit(&mj_request()).await.unwrap_err();
    assert!(matches!(err, ProviderError::Remote { status: 500, .. }), "{err:?}");
    assert_eq!(after_submit_error(&err), SubmitVerdict::MaybeCharged);
    assert_eq!(server.count("POST"), 1);
}

#[tokio::test]
async fn dropped_connection_on_submit_is_outcome_unknown_and_sent_once() {
    let server = HangUpServer::start().await;
    let err = client(&server.base).submit(&mj_request()).await.unwrap_err();
    assert!(matches!(err, ProviderError::Transport { sent: true, .. }), "{err:?}");
    assert_eq!(after_submit_error(&err), SubmitVerdict::MaybeCharged);
    assert_eq!(server.count(), 1, "the POST must reach the server exactly once");
    assert_no_key(&format!("{err} {err:?}"));
}

#[tokio::test]
async fn timeout_on_submit_is_outcome_unknown_and_sent_once() {
    let server = FakeServer::start(vec![Reply::Hang]).await;
    let opts = HttpOptions { request_timeout: Duration::from_millis(300), ..options() };
    let c = ImaginePro::new(&server.base, key(), opts).unwrap();
    let err = c.submit(&mj_request()).await.unwrap_err();
    let ProviderError::Transport { sent: true, message } = &err else { panic!("{err:?}") };
    assert!(message.contains("timed out"), "{message}");
    assert_eq!(after_submit_error(&err), SubmitVerdict::MaybeCharged);
    assert_eq!(server.count("POST"), 1);
}

#[tokio::test]
async fn refused_connection_is_not_sent() {
    let err = client(&closed_port_base().await).submit(&mj_request()).await.unwrap_err();
    assert!(matches!(err, ProviderError::Transport { sent: false, .. }), "{err:?}");
    assert_eq!(after_submit_error(&err), SubmitVerdict::NotCharged);
}

#[tokio::test]
async fn image_poll_reads_the_message_with_headers_on_get() {
    let server = FakeServer::start(vec![Reply::Json(
        200,
        json!({"messageId": MESSAGE_ID, "status": "DONE", "progress": 100,
               "images": ["https://cdn.test/1.png", "https://cdn.test/2.png"],
               "buttons": ["U1", "🔄"]}),
    )])
    .await;
    let snap = client(&server.base).poll(MESSAGE_ID, MediaKind::Image).await.unwrap();
    assert_eq!(snap.status, RemoteStatus::Completed);
    assert_eq!(snap.assets.len(), 2);
    let r = server.only();
    assert_eq!(r.method, "GET");
    assert_eq!(r.path, format!("/api/v1/message/fetch/{MESSAGE_ID}"));
    assert_headers(&r);
    assert!(r.body.is_empty());
}

#[tokio::test]
async fn video_poll_uses_the_video_path() {
    let server = FakeServer::start(vec![Reply::Json(
        200,
        json!({"status": "DONE", "progress": 100, "videoUrl": "https://cdn.test/v.mp4"}),
    )])
    .await;
    let snap = client(&server.base).poll(MESSAGE_ID, MediaKind::Video).await.unwrap();
    assert_eq!(snap.assets[0].kind, "video");
    let r = server.only();
    assert_eq!(r.path, format!("/api/v1/video/mj/fetch/{MESSAGE_ID}"));
    assert_headers(&r);
}

#[tokio::test]
async fn video_poll_falls_back_to_the_message_path_on_404() {
    let server = FakeServer::start(vec![
        Reply::Json(404, error_body(404, "Not found", "Not Found")),
        Reply::Json(200, json!({"status": "PROCESSING", "progress": "40"})),
    ])
    .await;
    let snap = client(&server.base).poll(MESSAGE_ID, MediaKind::Video).await.unwrap();
    assert_eq!((snap.status, snap.progress), (RemoteStatus::Processing, Some(40)));
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        [
            format!("/api/v1/video/mj/fetch/{MESSAGE_ID}"),
            format!("/api/v1/message/fetch/{MESSAGE_ID}")
        ]
    );
}

#[tokio::test]
async fn a_job_unknown_on_every_path_says_so() {
    let server = FakeServer::start(vec![
        Reply::Json(404, error_body(404, "Message not found", "Not Found")),
        Reply::Json(404, error_body(404, "Message not found", "Not Found")),
        Reply::Json(404, error_body(404, "Message not found", "Not Found")),
    ])
    .await;
    let c = client(&server.base);
    for kind in [MediaKind::Video, MediaKind::Image] {
        let err = c.poll(MESSAGE_ID, kind).await.unwrap_err();
        let ProviderError::NotFound { message } = &err else { panic!("{err:?}") };
        assert!(message.contains("does not know the job"), "{message}");
        assert!(message.contains(MESSAGE_ID) && message.contains("check the id"), "{message}");
    }
    assert_eq!(server.count("GET"), 3, "two paths for the video, one for the image");
}

#[tokio::test]
async fn poll_errors_other_than_404_do_not_fall_back() {
    let server = FakeServer::start(vec![Reply::Json(500, error_body(500, "boom", "x"))]).await;
    let err = client(&server.base).poll(MESSAGE_ID, MediaKind::Video).await.unwrap_err();
    assert!(matches!(err, ProviderError::Remote { status: 500, .. }), "{err:?}");
    assert_eq!(server.count("GET"), 1);
}

#[tokio::test]
async fn odd_ids_are_refused_without_a_request() {
    let server = FakeServer::start(vec![]).await;
    let c = client(&server.base);
    for id in ["", ".", "..", "a/b", "../x", "a b", "a\nb", "a?b=1", "a#b", "a%2F"] {
        let err = c.poll(id, MediaKind::Image).await.unwrap_err();
        assert!(matches!(err, ProviderError::Unsupported { .. }), "{id:?}: {err:?}");
    }
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn enhance_posts_the_prompt_and_reads_the_answer() {
    let server = FakeServer::start(vec![
        Reply::Json(200, json!({"prompt": "a lighthouse at dusk, volumetric light"})),
        Reply::Json(400, error_body(400, "Prompt is required.", "Bad Request")),
        Reply::Json(200, json!({"other": 1})),
    ])
    .await;
    let c = client(&server.base);
    assert_eq!(c.enhance("a lighthouse").await.unwrap(), "a lighthouse at dusk, volumetric light");
    let err = c.enhance("").await.unwrap_err();
    assert_eq!(err, ProviderError::Rejected { status: 400, message: "Prompt is required.".into() });
    assert!(matches!(c.enhance("x").await, Err(ProviderError::Protocol { .. })));
    let first = server.requests().into_iter().next().unwrap();
    assert_eq!(
        (first.method.as_str(), first.path.as_str()),
        ("POST", "/api/v1/tools/prompt-extend")
    );
    assert_headers(&first);
    assert_eq!(first.json(), json!({"prompt": "a lighthouse"}));
}

/// A server that echoes the key back in every kind of answer.
#[tokio::test]
async fn an_echoed_key_never_reaches_an_error_or_an_answer() {
    let echo = format!("invalid key {IP_KEY} (Bearer {IP_KEY})");
    let long = format!("{}{IP_KEY}", "x".repeat(290));
    for status in [400, 401, 404, 429, 500, 503] {
        let server = FakeServer::start(vec![
            Reply::Json(status, error_body(status, &echo, &echo)),
            Reply::Json(status, json!({"error": echo})),
            Reply::Raw { status, content_type: "text/plain", body: long.clone().into_bytes() },
            Reply::Json(status, error_body(status, &echo, "x")),
        ])
        .await;
        let c = client(&server.base);
        for _ in 0..3 {
            let e = c.submit(&mj_request()).await.unwrap_err();
            assert_no_key(&format!("{e} {e:?}"));
        }
        let e = c.enhance("p").await.unwrap_err();
        assert_no_key(&format!("{e} {e:?}"));
    }
    let server = FakeServer::start(vec![
        Reply::Json(404, error_body(404, &echo, "x")),
        Reply::Json(404, error_body(404, &echo, "x")),
        Reply::Json(200, json!({"status": "FAIL", "error": echo, "prompt": echo})),
        Reply::Json(200, json!({"prompt": echo})),
    ])
    .await;
    let c = client(&server.base);
    let e = c.poll(MESSAGE_ID, MediaKind::Video).await.unwrap_err();
    assert_no_key(&format!("{e} {e:?}"));
    let snap = c.poll(MESSAGE_ID, MediaKind::Image).await.unwrap();
    assert_no_key(&serde_json::to_string(&snap).unwrap());
    assert_no_key(&c.enhance("p").await.unwrap());
}

#[tokio::test]
async fn downloads_carry_no_credentials() {
    let server = FakeServer::start(vec![Reply::Raw {
        status: 200,
        content_type: "image/png",
        body: b"png-bytes".to_vec(),
    }])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.png");
    let got = client("https://api.imaginepro.ai")
        .download(&format!("{}/cdn/1.png", server.base), &dest)
        .await
        .unwrap();
    assert_eq!(got.bytes, 9);
    assert_eq!(got.mime.as_deref(), Some("image/png"));
    assert_eq!(std::fs::read(&dest).unwrap(), b"png-bytes");
    let r = server.only();
    assert_eq!(r.header("authorization"), None);
    let err = client("https://api.imaginepro.ai")
        .download("http://cdn.example.com/1.png", &dest)
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Unsupported { .. }), "{err:?}");
}

#[test]
fn base_url_rules_and_debug() {
    let e = ImaginePro::new("http://api.imaginepro.ai", key(), options()).unwrap_err();
    assert!(matches!(e, Error::BaseUrl { .. }), "{e}");
    assert!(e.hint().unwrap().contains("https://"));
    let e = ImaginePro::new(&format!("https://u:{IP_KEY}@x.test"), key(), options()).unwrap_err();
    assert_no_key(&format!("{e} {e:?}"));
    let c = ImaginePro::new("https://api.imaginepro.ai/", key(), options()).unwrap();
    assert_eq!(c.base_url().as_str(), "https://api.imaginepro.ai/");
    let text = format!("{c:?} {c:#?} {:?}", key());
    assert_no_key(&text);
    assert!(text.contains("****"));
    assert!(ImaginePro::new("http://localhost:8080", key(), options()).is_ok());
}

#[tokio::test]
async fn the_registry_connects_and_routes_imaginepro() {
    let server = FakeServer::start(vec![
        Reply::Json(200, accepted()),
        Reply::Json(200, json!({"prompt": "more"})),
    ])
    .await;
    let settings = ProviderSettings { base_url: server.base.clone(), usd_per_credit: None };
    let connected = registry::connect(
        ProviderId::ImaginePro,
        &settings,
        Credentials::ImaginePro(key()),
        options(),
    )
    .unwrap();
    assert!(matches!(connected, Connected::ImaginePro(_)));
    assert_no_key(&format!("{connected:?}"));
    connected.submit(&video_request()).await.unwrap();
    assert_eq!(connected.enhance("less").await.unwrap(), "more");
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/api/v1/video/mj/generate", "/api/v1/tools/prompt-extend"]);
    let e = connected.balance().await.unwrap_err();
    assert!(
        matches!(&e, ProviderError::Unsupported { message } if message.contains("no balance")),
        "{e:?}"
    );
    // Katana does not enhance prompts; mismatched credentials are refused without values.
    let katana =
        Connected::Katana(Katana::new("https://kat.imgnai.com", creds(), options()).unwrap());
    let e = katana.enhance("x").await.unwrap_err();
    assert!(matches!(&e, ProviderError::Unsupported { message } if message.contains("ImaginePro")));
    let e =
        registry::connect(ProviderId::Katana, &settings, Credentials::ImaginePro(key()), options())
            .unwrap_err();
    assert_no_key(&format!("{e} {e:?}"));
}

#[tokio::test]
async fn the_registry_reads_env_first_then_the_shared_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = registry::save_credentials(ProviderId::ImaginePro, dir.path(), &[IP_KEY.to_owned()])
        .unwrap();
    registry::save_credentials(
        ProviderId::Katana,
        dir.path(),
        &[crate::KEY.to_owned(), crate::SECRET.to_owned()],
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let env = |n: &str| (n == "IMAGINEPRO_API_KEY").then(|| "sk-from-env".to_owned());
    let (c, src) =
        registry::load_credentials(ProviderId::ImaginePro, env, None, dir.path()).unwrap();
    assert_eq!(src, conjure_providers::CredentialSource::Environment);
    let Credentials::ImaginePro(k) = c else { panic!("{c:?}") };
    assert_eq!(k.secret().expose(), "sk-from-env");
    let (c, src) =
        registry::load_credentials(ProviderId::ImaginePro, |_| None, None, dir.path()).unwrap();
    assert_eq!(src, conjure_providers::CredentialSource::ConjureFile(path));
    assert_no_key(&format!("{c:?}"));
    let (c, _) =
        registry::load_credentials(ProviderId::Katana, |_| None, None, dir.path()).unwrap();
    assert!(matches!(c, Credentials::Katana(_)));
}

#[tokio::test]
async fn a_request_with_local_files_or_not_post_is_refused_unsent() {
    let server = FakeServer::start(vec![]).await;
    let c = client(&server.base);
    let mut wire = mj_request();
    wire.files.push(conjure_core::FileRef {
        path: "/tmp/in.png".to_owned(),
        mime: "image/png".to_owned(),
        sha256: "00".to_owned(),
        bytes: 1,
    });
    let err = c.submit(&wire).await.unwrap_err();
    assert!(matches!(&err, ProviderError::Unsupported { message } if message.contains("URLs")));
    let mut get = mj_request();
    get.method = "GET".to_owned();
    assert!(matches!(c.submit(&get).await, Err(ProviderError::Unsupported { .. })));
    assert!(server.requests().is_empty());
}
