//! `GET /llms.txt`: the sandbox's stand-in for the service's plain-text model summary.
//!
//! The real deployment publishes an `llms.txt` that conjure's catalogue snapshot was taken from;
//! a client may keep its digest to notice when the service changed. The sandbox serves a short,
//! clearly labelled summary of the catalogue it serves (model counts per kind, bundled or
//! drifted). It is fixed for a given catalogue, and the `llms-revision N` fault (N > 0) adds a
//! `revision N` line, so the text, and any digest of it, changes exactly when told to. No auth.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use conjure_core::catalogue::MediaKind;

use crate::catalogue::Served;
use crate::state::AppState;

/// The document for `catalogue` at `revision`.
pub(crate) fn document(catalogue: &Served, revision: u32) -> String {
    let count = |kind| catalogue.iter(Some(kind)).count();
    let mut text = String::from(
        "# conjure sandbox: catalogue summary\n\n\
         > This is the offline conjure sandbox, not the Katana service. It serves placeholder \
         media and text and charges only its own play balance.\n\n",
    );
    let _ = writeln!(text, "- image models: {}", count(MediaKind::Image));
    let _ = writeln!(text, "- video models: {}", count(MediaKind::Video));
    let _ = writeln!(text, "- text models: {}", count(MediaKind::Text));
    let _ = writeln!(text, "- models in all: {}", catalogue.iter(None).count());
    text.push_str("\nThe full catalogue with prices: GET /v1/models\n");
    if revision > 0 {
        let _ = writeln!(text, "\nrevision {revision}");
    }
    text
}

pub(crate) async fn llms_txt(State(state): State<Arc<AppState>>) -> Response {
    let body = document(state.catalogue(), state.faults().llms_revision);
    ([(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"))], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_change_the_text_and_zero_is_the_original() {
        let c = Served::bundled();
        let original = document(c, 0);
        assert!(original.starts_with("# conjure sandbox"));
        assert!(original.contains("- image models: 51\n"));
        assert_ne!(original, document(c, 1));
        assert_ne!(document(c, 1), document(c, 2));
        assert_eq!(document(c, 2), document(c, 2));
        assert!(document(c, 2).ends_with("\nrevision 2\n"));
    }
}
