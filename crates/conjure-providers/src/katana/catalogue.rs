//! Katana's free, read-only endpoints about the service itself: the catalogue (`/v1/models`),
//! its freshness marker (`/llms.txt`) and the confidential-compute proof of E2EE text models
//! (`/v1/text/attestation`).
//!
//! Why a second client: `/v1/models` answers without credentials (in its sectioned shape) and
//! `/llms.txt` needs none, so a person without a key can still refresh the catalogue and check
//! whether it is stale. [`KatanaPublic`] is that client; it sends `Authorization` only when it
//! was given credentials, and never the media header pair. The attestation needs the Bearer
//! credential, so it is a method of [`Katana`] itself.
//!
//! Answers are returned raw (a JSON value, or bytes): what they mean is `conjure-core`'s and
//! `conjure-app`'s business. The attestation format is undocumented, so nothing here interprets
//! it. Every answer still passes through the [`Redactor`] first.
//!
//! Not here: caching, hashing, deciding whether the catalogue is stale (`conjure-app`), reading
//! the catalogue (`conjure_core::catalogue::live`).

use std::fmt;

use conjure_core::ProviderError;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Client, Url};
use serde_json::Value;

use super::{Katana, MODELS_PATH, normalize_base_url, sensitive};
use crate::credentials::KatanaCredentials;
use crate::error::Error;
use crate::http::{self, DisplaySafeUrl, Failure, HttpOptions};
use crate::redact::Redactor;
use crate::secret::Secret;

/// Where Katana publishes the text its catalogue is generated from.
pub const LLMS_PATH: &str = "/llms.txt";
/// The confidential-compute proof of an E2EE text model.
pub const ATTESTATION_PATH: &str = "/v1/text/attestation";

/// An answer kept as the server sent it (after redaction).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawAnswer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// A Katana client for the endpoints that work with or without credentials.
pub struct KatanaPublic {
    base: Url,
    bearer: Option<HeaderValue>,
    api: Client,
    options: HttpOptions,
    redactor: Redactor,
}

impl fmt::Debug for KatanaPublic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KatanaPublic")
            .field("base_url", &self.base.as_str())
            .field("credentials", &self.bearer.as_ref().map(|_| "****"))
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl KatanaPublic {
    /// A client for `base_url` (the same rules as [`Katana::new`]); with `creds`, catalogue
    /// requests carry the Bearer credential.
    pub fn new(
        base_url: &str,
        creds: Option<&KatanaCredentials>,
        options: HttpOptions,
    ) -> Result<KatanaPublic, Error> {
        let base = normalize_base_url(base_url)?;
        let (bearer, redactor) = match creds {
            Some(c) => {
                let token = c.bearer_token();
                let header = Secret::new(format!("Bearer {}", token.expose()));
                (
                    Some(sensitive(&header, "API key and secret")?),
                    Redactor::new([&c.key, &c.secret, &token]),
                )
            }
            None => (None, Redactor::default()),
        };
        let api = http::api_client(&options, &base)?;
        Ok(KatanaPublic { base, bearer, api, options, redactor })
    }

    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// Whether requests carry credentials (the catalogue then answers in its list shape).
    pub fn authenticated(&self) -> bool {
        self.bearer.is_some()
    }

    /// The live catalogue (`GET /v1/models`), unparsed.
    pub async fn models(&self) -> Result<Value, ProviderError> {
        let mut headers = HeaderMap::new();
        if let Some(b) = &self.bearer {
            headers.insert(AUTHORIZATION, b.clone());
        }
        let request = get(&self.api, join(&self.base, MODELS_PATH)?, headers, &self.options)?;
        http::execute_json(&self.api, request, &self.redactor).await
    }

    /// The bytes of `<base>/llms.txt`, exactly as served. Sent without credentials: it is
    /// public, and a secret not sent is a secret not leaked.
    pub async fn llms_txt(&self) -> Result<Vec<u8>, ProviderError> {
        let request =
            get(&self.api, join(&self.base, LLMS_PATH)?, HeaderMap::new(), &self.options)?;
        // Not redacted: nothing was sent to echo, and the bytes are hashed as served.
        execute_raw(&self.api, request, &Redactor::default()).await.map(|a| a.body)
    }
}

impl Katana {
    /// The attestation of E2EE text model `model` for `nonce` (64 hex characters), as sent
    /// (`GET /v1/text/attestation?model=…&nonce=…`, Bearer form).
    pub async fn attestation(&self, model: &str, nonce: &str) -> Result<RawAnswer, ProviderError> {
        let mut url = join(&self.base, ATTESTATION_PATH)?;
        url.query_pairs_mut().append_pair("model", model).append_pair("nonce", nonce);
        let request = get(&self.api, url, self.bearer_headers(), &self.options)?;
        execute_raw(&self.api, request, &self.redactor).await
    }
}

fn join(base: &Url, path: &str) -> Result<Url, ProviderError> {
    let base = base.as_str().trim_end_matches('/');
    Url::parse(&format!("{base}{path}")).map_err(|e| ProviderError::Unsupported {
        message: format!("Cannot build a URL for `{path}`: {e}"),
    })
}

fn get(
    client: &Client,
    url: Url,
    headers: HeaderMap,
    options: &HttpOptions,
) -> Result<reqwest::Request, ProviderError> {
    client
        .get(url)
        .headers(headers)
        .timeout(options.request_timeout)
        .build()
        .map_err(|e| http::classify(Failure::Transport(e)))
}

/// Sends `request` once and returns the body as bytes, or the classified failure. A UTF-8 body
/// has every secret masked; other bytes are returned as they came.
async fn execute_raw(
    client: &Client,
    request: reqwest::Request,
    redactor: &Redactor,
) -> Result<RawAnswer, ProviderError> {
    let url = DisplaySafeUrl::new(request.url().as_str());
    let response = client
        .execute(request)
        .await
        .map_err(|e| redactor.error(http::classify(Failure::Transport(e))))?;
    let status = response.status();
    tracing::debug!(method = "GET", %url, status = status.as_u16(), "response");
    let headers = response.headers().clone();
    let body = response
        .bytes()
        .await
        .map_err(|e| redactor.error(http::classify(Failure::Transport(e))))?;
    if !status.is_success() {
        return Err(redactor.error(http::classify(Failure::Status {
            status,
            headers: &headers,
            body: &body,
        })));
    }
    let body = match std::str::from_utf8(&body) {
        Ok(text) => redactor.text(text).into_owned().into_bytes(),
        Err(_) => body.to_vec(),
    };
    Ok(RawAnswer {
        status: status.as_u16(),
        content_type: headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned),
        body,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::http::{HeaderMap as AxHeaders, Uri};
    use axum::routing::get as route;

    use super::*;

    type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

    async fn serve() -> (String, Seen) {
        let seen: Seen = Arc::default();
        let record = |seen: Seen| {
            move |uri: Uri, headers: AxHeaders| {
                let seen = seen.clone();
                async move {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    seen.lock().unwrap().push((uri.to_string(), auth));
                    match uri.path() {
                        "/llms.txt" => "# Katana\n".to_owned(),
                        "/v1/models" => r#"{"object":"list","data":[]}"#.to_owned(),
                        _ => format!(
                            r#"{{"echo":"{}","key":"k_SENTINEL_123"}}"#,
                            uri.query().unwrap_or("")
                        ),
                    }
                }
            }
        };
        let app = Router::new()
            .route("/llms.txt", route(record(seen.clone())))
            .route("/v1/models", route(record(seen.clone())))
            .route("/v1/text/attestation", route(record(seen.clone())));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (base, seen)
    }

    #[tokio::test]
    async fn public_endpoints_send_credentials_only_where_needed() {
        let (base, seen) = serve().await;
        let creds = KatanaCredentials::new("k_SENTINEL_123", "s:SENTINEL").unwrap();
        let anonymous = KatanaPublic::new(&base, None, HttpOptions::default()).unwrap();
        assert!(!anonymous.authenticated());
        anonymous.models().await.unwrap();
        let with = KatanaPublic::new(&base, Some(&creds), HttpOptions::default()).unwrap();
        with.models().await.unwrap();
        assert_eq!(with.llms_txt().await.unwrap(), b"# Katana\n");
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen[0], ("/v1/models".to_owned(), None));
        assert_eq!(seen[1].1.as_deref(), Some("Bearer k_SENTINEL_123:s:SENTINEL"));
        assert_eq!(seen[2], ("/llms.txt".to_owned(), None));
        assert!(!format!("{with:?}").contains("SENTINEL"));
    }

    #[tokio::test]
    async fn attestation_sends_model_and_nonce_and_masks_echoes() {
        let (base, seen) = serve().await;
        let creds = KatanaCredentials::new("k_SENTINEL_123", "s:SENTINEL").unwrap();
        let k = Katana::new(&base, creds, HttpOptions::default()).unwrap();
        let nonce = "ab".repeat(32);
        let answer = k.attestation("glm-5-private", &nonce).await.unwrap();
        assert_eq!(answer.status, 200);
        let body = String::from_utf8(answer.body).unwrap();
        assert!(body.contains(&nonce), "{body}");
        assert!(!body.contains("SENTINEL"), "{body}");
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen[0].0, format!("/v1/text/attestation?model=glm-5-private&nonce={nonce}"));
        assert!(seen[0].1.as_deref().is_some_and(|a| a.starts_with("Bearer ")));
    }
}
