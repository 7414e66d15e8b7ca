//! The `echo-credentials` fault: a careless server that repeats the caller's credentials in its
//! error messages.
//!
//! Real services do this (a debug message left in, a framework that echoes the request), and a
//! client that prints, logs or journals a provider's error text verbatim then leaks the key and
//! secret. With the fault on, the sandbox puts the raw `X-API-Key`, `X-API-Secret` and
//! `Authorization` header values the request carried into the human message fields of every
//! non-2xx answer (`detail`, `message`, `error` or `error.message`), and the poll handler puts
//! them into failed items' `error.message`. Nothing else in a successful body changes.
//!
//! Non-2xx answers are rewritten in one middleware rather than in each handler, so every error
//! path (auth, validation, 402, 404, 429, the injected 500, framework rejections, the fallback)
//! echoes without being told to. The fault is read when the request arrives. Nothing here logs
//! the values.

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_LENGTH;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{Map, Value};

use crate::state::AppState;

/// Error bodies are a few hundred bytes; anything larger is left alone rather than buffered.
const ERROR_BODY_LIMIT: usize = 1024 * 1024;

/// The credential headers, in the order they are echoed.
const ECHOED: [&str; 3] = ["X-API-Key", "X-API-Secret", "Authorization"];

/// The sentence naming every credential header the request carried, with its raw value, or
/// `None` when it carried none.
pub(crate) fn carried(headers: &HeaderMap) -> Option<String> {
    let parts: Vec<String> = ECHOED
        .iter()
        .filter_map(|label| {
            let value = headers.get(*label)?;
            Some(format!("{label} `{}`", String::from_utf8_lossy(value.as_bytes())))
        })
        .collect();
    (!parts.is_empty()).then(|| format!("the request carried {}", parts.join(", ")))
}

/// `message` with the echo appended, the way a careless server formats it.
pub(crate) fn with_echo(message: &str, carried: &str) -> String {
    if message.is_empty() { carried.to_owned() } else { format!("{message} ({carried})") }
}

/// Middleware: appends the credentials to non-2xx bodies while the fault is on.
pub(crate) async fn layer(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let echo = if state.faults().echo_credentials { carried(request.headers()) } else { None };
    let response = next.run(request).await;
    match echo {
        Some(echo) if !response.status().is_success() => rewrite(response, &echo).await,
        _ => response,
    }
}

async fn rewrite(response: Response, carried: &str) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = match to_bytes(body, ERROR_BODY_LIMIT).await {
        Ok(bytes) => bytes,
        // The body cannot be put back; the echo alone still makes the point.
        Err(_) => axum::body::Bytes::new(),
    };
    let rewritten = match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(mut obj)) => {
            echo_in_messages(&mut obj, carried);
            serde_json::to_vec(&Value::Object(obj)).unwrap_or_else(|_| bytes.to_vec())
        }
        _ => with_echo(String::from_utf8_lossy(&bytes).trim(), carried).into_bytes(),
    };
    // The length changed; hyper computes it again from the new body.
    parts.headers.remove(CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(rewritten))
}

/// Appends the echo to every message field of an error body (`detail`, `message`, `error` as a
/// string or `error.message`); a body with none of them gets one.
fn echo_in_messages(obj: &mut Map<String, Value>, carried: &str) {
    let mut echoed = false;
    let mut append = |value: &mut Value| {
        if let Value::String(text) = value {
            *text = with_echo(text, carried);
            echoed = true;
        }
    };
    for field in ["detail", "message"] {
        if let Some(value) = obj.get_mut(field) {
            append(value);
        }
    }
    match obj.get_mut("error") {
        Some(Value::Object(error)) => {
            if let Some(message) = error.get_mut("message") {
                append(message);
            }
        }
        Some(value) => append(value),
        None => {}
    }
    if !echoed {
        let field = if obj.contains_key("detail") { "message" } else { "detail" };
        obj.insert(field.into(), Value::String(carried.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use axum::http::header::AUTHORIZATION;
    use serde_json::json;

    #[test]
    fn names_only_the_headers_present() {
        let mut h = HeaderMap::new();
        assert_eq!(carried(&h), None);
        h.insert("x-api-key", HeaderValue::from_static(" k "));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer k:s"));
        assert_eq!(
            carried(&h).as_deref(),
            Some("the request carried X-API-Key ` k `, Authorization `Bearer k:s`")
        );
    }

    #[test]
    fn every_message_shape_gets_the_echo() {
        let mut detail = json!({ "detail": "Not found" });
        echo_in_messages(detail.as_object_mut().unwrap(), "E");
        assert_eq!(detail, json!({ "detail": "Not found (E)" }));
        let mut nested = json!({ "error": { "code": "x", "message": "boom" }, "message": "m" });
        echo_in_messages(nested.as_object_mut().unwrap(), "E");
        assert_eq!(
            nested,
            json!({ "error": { "code": "x", "message": "boom (E)" }, "message": "m (E)" })
        );
        let mut bare = json!({ "error": "bad" });
        echo_in_messages(bare.as_object_mut().unwrap(), "E");
        assert_eq!(bare, json!({ "error": "bad (E)" }));
        let mut none = json!({ "code": 3 });
        echo_in_messages(none.as_object_mut().unwrap(), "E");
        assert_eq!(none, json!({ "code": 3, "detail": "E" }));
    }
}
