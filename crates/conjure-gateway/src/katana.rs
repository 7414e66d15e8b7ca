//! Katana's wire shapes, as the gateway answers them: pure functions from what the store
//! holds to the JSON an existing Katana client reads (the envelope of submit and poll, the
//! model list, the balance), and the hash that binds an approval to a request body.
//!
//! The envelope is rendered from the job's record and the provider's last answer (the core's
//! provider-neutral `Snapshot`), not passed through: the gateway answers for jobs whose upstream
//! answer was lost (`unknown`, with the credits it may have cost) as for any other, and the
//! gateway's own job id stands in for a request id the provider never gave. Everything outside
//! Katana's own fields is under `conjure`.

use conjure_core::catalogue::Catalogue;
use conjure_core::provider::{Asset, RemoteError, Snapshot};
use conjure_core::{Credits, JobRecord, JobState, ProviderId, policy};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// The Katana status a client sees for a job in `state`. `unknown` is not Katana's: a client
/// treats it as still running (bounded by its own hard stop), and it is the truth.
pub fn wire_status(state: JobState) -> &'static str {
    match state {
        JobState::Quoted | JobState::Submitting | JobState::Submitted | JobState::Processing => {
            "processing"
        }
        JobState::Completed => "completed",
        JobState::Partial => "partial_failure",
        JobState::Failed => "failed",
        JobState::Rejected => "rejected",
        JobState::Unknown => "unknown",
        JobState::Expired => "expired",
    }
}

fn asset_json(a: &Asset) -> Value {
    json!({
        "kind": a.kind,
        "mime_type": a.mime,
        "original_data_url": a.url,
        "url": a.fallback_url.as_deref().unwrap_or(&a.url),
        "thumbnail_image_url": "",
        "thumbnail_silent_video_mp4_url": "",
        "final_frame_image_url": "",
        "width": a.width,
        "height": a.height,
        "duration_seconds": a.duration_seconds,
        "expires_at": a.expires_at,
    })
}

fn error_json(e: &RemoteError) -> Value {
    json!({"code": e.code, "message": e.message, "retryable": e.retryable})
}

/// The submit/poll envelope for `job` (see the Katana contract, section 8).
pub fn envelope(job: &JobRecord) -> Value {
    let snapshot: Option<Snapshot> =
        job.last_snapshot.as_ref().and_then(|v| serde_json::from_value(v.clone()).ok());
    let status = wire_status(job.state);
    let requests: Vec<Value> =
        job.wire.body.get("requests").and_then(Value::as_array).cloned().unwrap_or_default();
    let empty = Snapshot::new(None, conjure_core::provider::RemoteStatus::Processing);
    let snap = snapshot.as_ref().unwrap_or(&empty);
    let responses: Vec<Value> = (0..requests.len().max(1))
        .map(|i| {
            let mut assets: Vec<Value> =
                snap.assets.iter().filter(|a| a.item == i).map(asset_json).collect();
            // A text job's answer (async text, spec §7.4) is its one asset.
            if let (0, Some(text)) = (i, &snap.text) {
                assets.push(crate::chat::text_asset(text));
            }
            let error = snap
                .errors
                .iter()
                .find(|e| e.item == Some(i) || (e.item.is_none() && i == 0))
                .map(error_json);
            let item_status = if error.is_some() && assets.is_empty() && job.state.is_terminal() {
                if job.state == JobState::Rejected { "rejected" } else { "failed" }
            } else {
                status
            };
            json!({
                "id": requests.get(i).and_then(|r| r.get("id")).cloned(),
                "status": item_status,
                "error": error,
                "metadata": {
                    "model": snap.model.as_deref().unwrap_or(&job.model),
                    // The charge is reported for the whole request; it is shown once.
                    "credits_spent": if i == 0 { job.credits_spent.map(Credits::as_f64) } else { None },
                },
                "output_assets": assets,
            })
        })
        .collect();
    let exposure = policy::is_exposure(job.state).then(|| credits_str(job.quoted_credits));
    json!({
        "request_id": job.request_id.clone().unwrap_or_else(|| job.id.to_string()),
        "status": status,
        "poll_after_seconds": snap.poll_after_seconds,
        "created_at": conjure_app::timefmt::rfc3339_millis(job.created_at),
        "updated_at": conjure_app::timefmt::rfc3339_millis(job.updated_at),
        "requests": requests,
        "responses": responses,
        "conjure": {
            "job": job.id.as_str(),
            "state": job.state.as_str(),
            "quoted_credits": credits_str(job.quoted_credits),
            "quoted_usd": job.quoted_usd.map(|u| u.to_string()),
            "credits_spent": job.credits_spent.map(credits_str),
            "exposure_credits": exposure,
            "note": job.error,
        },
    })
}

/// Credits as Katana writes a balance: a decimal string with one decimal place (`"20814.0"`).
pub fn credits_str(c: Credits) -> String {
    let t = c.tenths();
    let sign = if t < 0 { "-" } else { "" };
    format!("{sign}{}.{}", t.unsigned_abs() / 10, t.unsigned_abs() % 10)
}

/// `GET /v1/me/balance`: the member's remaining budget in Katana credits (`null` when no
/// budget limits the member), with the budgets it was computed from and the member's exposure:
/// jobs whose outcome is unknown (or still being sent) and the credits they may have cost,
/// already counted in what is left.
pub fn balance(
    remaining: Option<Credits>,
    budgets: &[String],
    exposure_jobs: i64,
    exposure: Credits,
) -> Value {
    json!({
        "credits": remaining.map(credits_str),
        "conjure": {
            "meaning": "what your gateway budgets leave you to spend, not the provider account's balance",
            "budgets": budgets,
            "exposure": {"jobs": exposure_jobs, "credits": credits_str(exposure)},
        },
    })
}

/// `GET /v1/models` for an authenticated client: the OpenAI-style list, Katana's models only.
pub fn models(catalogue: &Catalogue) -> Value {
    let data: Vec<Value> = catalogue
        .models()
        .iter()
        .filter(|m| m.provider == ProviderId::Katana)
        .map(|m| {
            json!({
                "id": m.id,
                "object": "model",
                "owned_by": m.creator.as_deref().unwrap_or("imgnai"),
                "public_model_name": m.id,
                "display_name": m.id,
                "type": m.kind.to_string(),
                "supported_aspects": m.aspects,
            })
        })
        .collect();
    json!({"object": "list", "data": data})
}

/// What an approval binds: the member, the project and the request body (as parsed JSON, so
/// the same request sent with other whitespace is the same request).
pub fn body_hash(member: &str, project: Option<&str>, body: &Value) -> String {
    let mut h = Sha256::new();
    h.update(b"conjure-gateway-body-v1\0");
    h.update(member.as_bytes());
    h.update(b"\0");
    h.update(project.unwrap_or("").as_bytes());
    h.update(b"\0");
    h.update(body.to_string().as_bytes());
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balances_are_decimal_strings_with_one_place() {
        assert_eq!(credits_str(Credits::whole(20814)), "20814.0");
        assert_eq!(credits_str(Credits::from_tenths(12345)), "1234.5");
        assert_eq!(credits_str(Credits::ZERO), "0.0");
        assert_eq!(balance(None, &[], 0, Credits::ZERO)["credits"], Value::Null);
        let b = balance(Some(Credits::whole(3)), &[], 1, Credits::whole(14));
        assert_eq!(b["credits"], "3.0");
        assert_eq!(b["conjure"]["exposure"]["credits"], "14.0");
    }

    #[test]
    fn statuses_follow_the_contract() {
        assert_eq!(wire_status(JobState::Submitting), "processing");
        assert_eq!(wire_status(JobState::Partial), "partial_failure");
        assert_eq!(wire_status(JobState::Unknown), "unknown");
    }

    #[test]
    fn the_body_hash_binds_member_project_and_body() {
        let body = json!({"requests": [{"type": "image", "prompt": "a"}]});
        let same =
            serde_json::from_str::<Value>(r#"{ "requests" : [ {"type":"image","prompt":"a"} ] }"#)
                .unwrap();
        let h = body_hash("alice", None, &body);
        assert_eq!(h, body_hash("alice", None, &same));
        assert_ne!(h, body_hash("bob", None, &body));
        assert_ne!(h, body_hash("alice", Some("p"), &body));
        assert_ne!(h, body_hash("alice", None, &json!({"requests": []})));
    }

    #[test]
    fn the_model_list_is_katanas() {
        let list = models(Catalogue::bundled());
        let data = list["data"].as_array().unwrap();
        assert!(data.iter().any(|m| m["id"] == "gpt-image-2"), "{list}");
        assert!(data.iter().all(|m| m["object"] == "model"));
    }
}
