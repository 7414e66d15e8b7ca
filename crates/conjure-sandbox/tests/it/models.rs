//! `GET /v1/models` in both shapes.

use serde_json::Value;

use crate::client;

#[tokio::test]
async fn sectioned_without_authorization() {
    let sb = crate::sandbox(conjure_sandbox::Faults::default()).await;
    let body: Value = client()
        .get(format!("{}/v1/models", sb.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for section in ["images", "videos", "text"] {
        assert!(!body[section].as_array().unwrap().is_empty(), "{section}");
    }
    assert!(body["text_pricing"].is_object());
    let image = body["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["public_model_name"] == "gpt-image-2")
        .unwrap();
    assert_eq!(image["credits"], 14.0);
    assert_eq!(image["maximum_reference_images"], 16);
    assert!(image["supported_aspects"].as_array().unwrap().iter().any(|a| a == "16:9"));
    assert!(image["display_name"].is_string());
    let video = body["videos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["public_model_name"] == "ltx-2-3")
        .unwrap();
    assert_eq!(video["video_lengths_and_costs"]["20"], 80.0);
    assert_eq!(video["supports_audio_input"], true);
    assert_eq!(video["supports_video_input"], false);
}

#[tokio::test]
async fn openai_list_with_any_bearer() {
    let sb = crate::sandbox(conjure_sandbox::Faults::default()).await;
    let body: Value = client()
        .get(format!("{}/v1/models", sb.base_url()))
        .bearer_auth("not-even-valid")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["object"], "list");
    let data = body["data"].as_array().unwrap();
    let entry = data.iter().find(|m| m["id"] == "seedance-2-0").unwrap();
    assert_eq!(entry["object"], "model");
    assert_eq!(entry["public_model_name"], "seedance-2-0");
    assert_eq!(entry["video_lengths_and_costs"]["10"], 375.0);
    assert!(data.iter().any(|m| m["id"] == "claude-opus-4-8"));
}
