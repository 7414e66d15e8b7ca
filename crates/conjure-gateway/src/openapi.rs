//! The OpenAPI 3.1 document of conjure's own API ([`crate::own`]), served at
//! `GET /openapi.json` without a key (it holds no secret, and a client generator needs it
//! before it has one).
//!
//! Written by hand with `serde_json` rather than derived: the API is small, and a derive crate
//! would cost more build time than the document has lines. It is kept honest by a test that
//! every route of [`crate::own::routes`] is documented with its methods, nothing else is, and
//! every documented path answers (not 404) on a running gateway.

use axum::Json;
use serde_json::{Value, json};

/// Where the document is served.
pub const PATH: &str = "/openapi.json";

fn error_response(description: &str) -> Value {
    json!({"description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn job_response(description: &str) -> Value {
    json!({"description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}}})
}

fn id_param() -> Value {
    json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"},
        "description": "The gateway's job id (`j_...`) or the provider's request id."})
}

/// The document.
pub fn document() -> Value {
    let common = json!({
        "401": error_response("No key, or a key that is unknown or revoked"),
        "403": error_response("Not a member key"),
    });
    let with = |mut responses: Value| {
        if let (Some(r), Some(c)) = (responses.as_object_mut(), common.as_object()) {
            for (k, v) in c {
                r.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        responses
    };
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "conjure gateway: conjure's own API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Quote, approve and spend through a team's conjure gateway with a member key. A quote sends nothing; POST /conjure/v1/jobs with its token sends the request once. Every error has `error.code`, `error.message` and `error.hint` (what to do next).",
        },
        "security": [{"bearer": []}],
        "paths": {
            "/conjure/v1/quote": {"post": {
                "summary": "Price a request; nothing is sent",
                "operationId": "quote",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/QuoteRequest"}}}},
                "responses": with(json!({
                    "200": {"description": "The quote and the token that approves exactly it",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/QuoteAnswer"}}}},
                    "400": error_response("The request is not valid (the hint says how to fix it)"),
                    "403": error_response("Over a budget, a provider not allowed, or not a member key"),
                    "409": error_response("The same request was sent in the last 24 hours (send `again`)"),
                })),
            }},
            "/conjure/v1/jobs": {
                "get": {
                    "summary": "Your jobs, newest first",
                    "operationId": "listJobs",
                    "parameters": [
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}},
                        {"name": "token", "in": "query", "schema": {"type": "string"}, "description": "Only the job this quote token sent."},
                    ],
                    "responses": with(json!({"200": {"description": "Jobs",
                        "content": {"application/json": {"schema": {"type": "object", "properties": {"jobs": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}}}}}}}})),
                },
                "post": {
                    "summary": "Approve a quote and send it, once",
                    "operationId": "spend",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SpendRequest"}}}},
                    "responses": with(json!({
                        "201": job_response("Sent: the provider accepted it (or answered that it failed)"),
                        "200": {"description": "A text answer that streams: one JSON object a line, `{\"started\": JOB}`, then `{\"answer\": PIECE}` and `{\"reasoning\": PIECE}` verbatim as they arrive, then `{\"job\": Job}`, or `{\"error\": {...}}` (`outcome_unknown`: cut upstream, may have been charged, never sent again). A stream that ends without either was cut on the way: treat the job as unknown.",
                            "content": {"application/x-ndjson": {"schema": {"type": "string"}}}},
                        "403": error_response("Over a budget"),
                        "404": error_response("No quote of yours has this token"),
                        "409": error_response("The token was used already (`job` names the job it sent), or the price changed"),
                        "502": error_response("The provider's answer was lost: the job is `unknown`, may have been charged, and was not sent again"),
                    })),
                },
            },
            "/conjure/v1/jobs/{id}": {"get": {
                "summary": "One of your jobs (polled once upstream while it runs)",
                "operationId": "getJob",
                "parameters": [id_param()],
                "responses": with(json!({"200": job_response("The job"), "404": error_response("No such job of yours")})),
            }},
            "/conjure/v1/jobs/{id}/outputs": {"get": {
                "summary": "The files of one of your jobs",
                "operationId": "listOutputs",
                "parameters": [id_param()],
                "responses": with(json!({"200": {"description": "Files",
                    "content": {"application/json": {"schema": {"type": "object", "properties": {
                        "job": {"type": "string"}, "state": {"type": "string"},
                        "outputs": {"type": "array", "items": {"$ref": "#/components/schemas/Output"}}}}}}},
                    "404": error_response("No such job of yours")})),
            }},
            "/conjure/v1/jobs/{id}/outputs/{n}": {"get": {
                "summary": "Download one file of one of your jobs",
                "operationId": "getOutput",
                "parameters": [id_param(), {"name": "n", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 0}}],
                "responses": with(json!({
                    "200": {"description": "The file's bytes", "content": {"*/*": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}},
                    "404": error_response("No such job or file"),
                    "409": error_response("The job has no files (not completed)"),
                    "502": error_response("The provider would not hand the file over"),
                })),
            }},
            "/conjure/v1/spend": {"get": {
                "summary": "Your spending and what your budgets leave",
                "operationId": "spend_summary",
                "responses": with(json!({"200": {"description": "Spending",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Spend"}}}}})),
            }},
            "/conjure/v1/events": {"get": {
                "summary": "Your jobs' changes as Server-Sent Events",
                "description": "Event names are the webhook event types (`job.submitted`, `job.succeeded`, `job.failed`, `job.unknown`, else `job.updated`); each `data` is `{type, timestamp, data: Job}`.",
                "operationId": "events",
                "parameters": [
                    {"name": "since", "in": "query", "schema": {"type": "integer"}, "description": "Unix milliseconds; default now."},
                    {"name": "Last-Event-ID", "in": "header", "schema": {"type": "string"}, "description": "A reconnecting client's last event id: every later event is sent."},
                ],
                "responses": with(json!({"200": {"description": "An endless event stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}}})),
            }},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "A member key (`cjm_...`)."}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {
                    "detail": {"type": "string"},
                    "error": {"type": "object", "required": ["code", "message"], "properties": {
                        "code": {"type": "string"}, "message": {"type": "string"}, "hint": {"type": ["string", "null"]}}}}},
                "QuoteRequest": {"type": "object", "required": ["request"], "properties": {
                    "request": {"type": "object", "required": ["type"], "description": "conjure's request: the fields of `conjure image`, `conjure video` or `conjure text` (prompt, model, system, messages, history, max_tokens, temperature, top_p, images, files, mode: stream | whole | async), or a `tool` (`{\"type\": \"tool\", \"tool\": \"upscale\" | \"remove-bg\", \"image\": URL, \"scale\": 2..4}`, ImaginePro's, as `conjure upscale URL` and `conjure remove-bg`). Inputs are https:// or data: URLs.",
                        "properties": {"type": {"enum": ["image", "video", "text", "tool"]}, "prompt": {"type": "string"},
                            "provider": {"type": "string", "description": "A provider conjure knows (as `conjure image --provider`)."}, "model": {"type": "string"}}},
                    "project": {"type": "string"},
                    "again": {"type": "boolean", "description": "Send even though the same request was sent in the last 24 hours."}}},
                "QuoteAnswer": {"type": "object", "properties": {
                    "status": {"const": "quote"}, "quote": {"type": "object", "description": "conjure's quote (as `conjure image --dry-run --json` prints it)"},
                    "token": {"type": "string"}, "spend": {"type": "object"}}},
                "SpendRequest": {"type": "object", "required": ["token"], "properties": {
                    "token": {"type": "string"},
                    "request": {"type": "object", "description": "The quoted request again, to have the gateway check it is the same."}}},
                "Output": {"type": "object", "properties": {
                    "index": {"type": "integer"}, "url": {"type": "string"}, "mime": {"type": "string"},
                    "width": {"type": ["integer", "null"]}, "height": {"type": ["integer", "null"]},
                    "duration_seconds": {"type": ["number", "null"]}}},
                "Job": {"type": "object", "properties": {
                    "id": {"type": "string"}, "state": {"type": "string"}, "provider": {"type": "string"},
                    "model": {"type": "string"}, "prompt": {"type": "string"},
                    "quoted_credits": {"type": "number"}, "credits_spent": {"type": ["number", "null"]},
                    "exposure_credits": {"type": ["number", "null"], "description": "What a job whose outcome is unknown may have cost."},
                    "outputs": {"type": "array", "items": {"$ref": "#/components/schemas/Output"}},
                    "snapshot": {"type": "object", "description": "The provider's last answer in conjure's neutral shape; asset URLs are this gateway's."}}},
                "Spend": {"type": "object", "properties": {
                    "member": {"type": "string"}, "windows": {"type": "array"}, "jobs": {"type": "integer"},
                    "exposure": {"type": "object"}, "remaining_credits": {"type": "object"}}},
            },
        },
    })
}

/// `GET /openapi.json`.
pub async fn serve() -> Json<Value> {
    Json(document())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_route_is_documented_with_its_methods_and_nothing_else_is() {
        let doc = document();
        let documented: BTreeSet<(String, String)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, ops)| {
                ops.as_object()
                    .unwrap()
                    .keys()
                    .map(|m| (path.clone(), m.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let routed: BTreeSet<(String, String)> = crate::own::routes()
            .iter()
            .flat_map(|r| r.methods.iter().map(|m| (r.path.to_owned(), (*m).to_owned())))
            .collect();
        assert_eq!(documented, routed);
        assert_eq!(doc["openapi"], "3.1.0");
    }
}
