//! The ImaginePro network client: sends what [`super::request`] built and reads answers with
//! [`super::response`].
//!
//! It exists so that every ImaginePro call goes out the same careful way Katana's do
//! (`crate::katana`): a submit is exactly one POST (no retries, no redirects; a timeout or a
//! dropped connection after sending is "outcome unknown", never resent); every answer, error
//! bodies included, passes through the [`Redactor`] before anything reads it, so a server that
//! echoes the key cannot leak it; asset downloads carry no credentials.
//!
//! Key terms:
//! - **base URL**: `https://api.imaginepro.ai` or `CONJURE_IMAGINEPRO_BASE_URL`. The client
//!   appends `/api/v1` and the builder's path itself, as the official SDKs do. Unlike Katana's,
//!   a plain `http://` base is refused (not rewritten) unless the host is loopback (the
//!   sandbox): silently switching scheme would hide a typo pointing at the wrong host.
//! - **Bearer**: every request carries `Authorization: Bearer <key>` and
//!   `Content-Type: application/json`, GETs included, because both SDKs send it there too.
//! - **poll fallback** (spec §15.2): a video job is polled at `/video/mj/fetch/{id}`, then at
//!   `/message/fetch/{id}` if the first answers 404; two 404s mean ImaginePro does not know the
//!   id.
//!
//! Not here: request building and answer parsing (pure, in the sibling modules), polling
//! cadence and the decision never to resend a paid POST (`conjure_core::policy`). ImaginePro
//! has no balance endpoint (spec §5.13), so there is no `balance` here.

use std::fmt;
use std::path::Path;
use std::sync::OnceLock;

use conjure_core::catalogue::{MediaKind, ProviderId};
use conjure_core::provider::Downloaded;
use conjure_core::{Provider, ProviderError, Snapshot, WireRequest};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use reqwest::{Client, Method, Url};
use serde_json::{Value, json};

use super::request::{MESSAGE_FETCH_PATH, PROMPT_EXTEND_PATH, VIDEO_FETCH_PATH};
use super::response::{classify_error, parse_message, parse_submit};
use crate::credentials::ImagineProKey;
use crate::error::Error;
use crate::http::{self, DisplaySafeUrl, Failure, HttpOptions};
use crate::redact::Redactor;
use crate::secret::Secret;

/// Production API (without the `/api/v1` prefix, which the client adds).
pub const DEFAULT_BASE_URL: &str = "https://api.imaginepro.ai";
/// The environment variable the CLI reads to point conjure elsewhere (e.g. the sandbox).
pub const BASE_URL_ENV: &str = conjure_core::env::CONJURE_IMAGINEPRO_BASE_URL;
/// Every path the builder makes is relative to this.
pub const API_PREFIX: &str = "/api/v1";

/// The configured base URL, or the production default.
pub fn base_url_from_env(env: impl Fn(&str) -> Option<String>) -> String {
    http::base_url_from(env, BASE_URL_ENV, DEFAULT_BASE_URL)
}

/// Applies the base URL rules ([`http::normalize_base_url`]): a plain `http://` URL is refused
/// unless the host is loopback (the offline sandbox), and so is a trailing `/api/v1`, which
/// conjure adds to every path itself.
pub fn normalize_base_url(raw: &str) -> Result<Url, Error> {
    let url = http::normalize_base_url(raw, http::PlainHttp::Refuse)?;
    // The helper's BASE_URL includes the prefix; pasted here it would double it.
    if url.path().ends_with(API_PREFIX) {
        return Err(Error::BaseUrl {
            url: http::redact_url(raw),
            reason: "leave out `/api/v1`: conjure adds it to every path",
        });
    }
    Ok(url)
}

/// Checks that `id` can stand as one path segment as it is: ImaginePro's ids are UUIDs, so
/// anything that would need escaping (or be resolved as `.`/`..`) is not one of its ids.
fn check_message_id(id: &str) -> Result<(), ProviderError> {
    let odd =
        |c: char| c.is_whitespace() || c.is_control() || matches!(c, '/' | '\\' | '?' | '#' | '%');
    if matches!(id, "" | "." | "..") || id.chars().any(odd) {
        return Err(ProviderError::Unsupported {
            message: format!("`{}` is not an ImaginePro message id", id.escape_debug()),
        });
    }
    Ok(())
}

/// The ImaginePro provider: base URL, the Bearer header, and two HTTP clients.
pub struct ImaginePro {
    base: Url,
    bearer: HeaderValue,
    api: Client,
    /// Built on first use (see [`http::download`]).
    download: OnceLock<Client>,
    options: HttpOptions,
    redactor: Redactor,
}

impl fmt::Debug for ImaginePro {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImaginePro")
            .field("base_url", &self.base.as_str())
            .field("key", &"****")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl ImaginePro {
    pub fn new(base_url: &str, key: ImagineProKey, http: HttpOptions) -> Result<Self, Error> {
        let base = normalize_base_url(base_url)?;
        let secret = key.into_secret();
        let bearer = Secret::new(format!("Bearer {}", secret.expose()));
        let bearer = http::sensitive_header(&bearer, ProviderId::ImaginePro, "API key")?;
        let redactor = Redactor::new([&secret]);
        let api = http::api_client(&http, &base)?;
        Ok(ImaginePro { base, bearer, api, download: OnceLock::new(), options: http, redactor })
    }

    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// `path` (relative to `/api/v1`) on this client's base URL.
    fn url(&self, path: &str) -> Result<Url, ProviderError> {
        let base = self.base.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}{API_PREFIX}{path}")).map_err(|e| ProviderError::Unsupported {
            message: format!("Cannot build a URL for `{path}`: {e}"),
        })
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<reqwest::Request, ProviderError> {
        let mut builder = self
            .api
            .request(method, self.url(path)?)
            .header(AUTHORIZATION, self.bearer.clone())
            // On GETs too: both SDKs send it on every request.
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .timeout(self.options.request_timeout);
        if let Some(body) = body {
            let bytes = serde_json::to_vec(body).map_err(|e| ProviderError::Unsupported {
                message: format!("The request body cannot be serialised: {e}"),
            })?;
            builder = builder.body(bytes);
        }
        builder.build().map_err(|e| http::classify(Failure::Transport(e)))
    }

    /// Sends `request` once and returns its redacted JSON body, or the failure classified the
    /// ImaginePro way (its `{message, error, statusCode}` body, 401's two meanings).
    async fn call(&self, request: reqwest::Request) -> Result<Value, ProviderError> {
        let method = request.method().clone();
        let url = DisplaySafeUrl::new(request.url().as_str());
        let transport = |e| self.redactor.error(http::classify(Failure::Transport(e)));
        let response = match self.api.execute(request).await {
            Ok(r) => r,
            Err(e) => {
                let err = transport(e);
                tracing::debug!(%method, %url, error = %err, "request failed");
                return Err(err);
            }
        };
        let status = response.status();
        tracing::debug!(%method, %url, status = status.as_u16(), "response");
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(transport)?;
        if !status.is_success() {
            let code = status.as_u16();
            if !(400..=599).contains(&code) {
                // A redirect the API client does not follow, an informational status.
                return Err(self.redactor.error(http::classify(Failure::Status {
                    status,
                    headers: &headers,
                    body: &body,
                })));
            }
            // Masked before classification, which may cut the text (and a key) in half.
            let text = String::from_utf8_lossy(&body);
            let mut err = classify_error(code, &self.redactor.text(&text));
            if let ProviderError::RateLimited { retry_after, .. } = &mut err {
                *retry_after = headers
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(http::parse_retry_after);
            }
            return Err(self.redactor.error(err));
        }
        match serde_json::from_slice::<Value>(&body) {
            Ok(mut value) => {
                self.redactor.value(&mut value);
                Ok(value)
            }
            Err(e) => Err(self.redactor.error(http::classify(Failure::Unreadable {
                detail: format!(
                    "HTTP {} from {url} is not JSON ({e}): {}",
                    status.as_u16(),
                    http::truncate(&String::from_utf8_lossy(&body), 120)
                ),
            }))),
        }
    }

    async fn fetch(&self, base: &str, id: &str, video: bool) -> Result<Snapshot, ProviderError> {
        let request = self.request(Method::GET, &format!("{base}{id}"), None)?;
        let value = self.call(request).await?;
        parse_message(&value, video)
    }

    /// Expands `prompt` with ImaginePro's free, synchronous `/tools/prompt-extend`.
    pub async fn enhance(&self, prompt: &str) -> Result<String, ProviderError> {
        let request =
            self.request(Method::POST, PROMPT_EXTEND_PATH, Some(&json!({ "prompt": prompt })))?;
        let value = self.call(request).await?;
        value
            .get("prompt")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| ProviderError::Protocol {
                message: "The prompt-extend answer has no `prompt`".to_owned(),
            })
    }
}

fn unknown_job(id: &str, e: &ProviderError) -> ProviderError {
    let said = match e {
        ProviderError::NotFound { message } => format!(" (it said: {message})"),
        _ => String::new(),
    };
    ProviderError::NotFound {
        message: format!(
            "ImaginePro does not know the job `{id}`{said}; check the id (is it from this account?)"
        ),
    }
}

impl Provider for ImaginePro {
    fn id(&self) -> ProviderId {
        ProviderId::ImaginePro
    }

    async fn submit(&self, request: &WireRequest) -> Result<Snapshot, ProviderError> {
        if request.method != "POST" {
            return Err(ProviderError::Unsupported {
                message: format!("ImaginePro submits are POST, not `{}`", request.method),
            });
        }
        if let Some(file) = request.files.first() {
            // The builder refuses local inputs already; this keeps a hand-made request from
            // sending a placeholder where ImaginePro expects a URL.
            return Err(ProviderError::Unsupported {
                message: format!(
                    "ImaginePro takes URLs, not uploads: `{}` is a local file",
                    file.path
                ),
            });
        }
        let http_request = self.request(Method::POST, &request.path, Some(&request.body))?;
        let value = self.call(http_request).await?;
        parse_submit(&value)
    }

    async fn poll(&self, request_id: &str, kind: MediaKind) -> Result<Snapshot, ProviderError> {
        check_message_id(request_id)?;
        let first = if kind == MediaKind::Video {
            match self.fetch(VIDEO_FETCH_PATH, request_id, true).await {
                Err(ProviderError::NotFound { .. }) => {
                    // §15.2: the video path may not serve this job; the message path might.
                    self.fetch(MESSAGE_FETCH_PATH, request_id, true).await
                }
                other => other,
            }
        } else {
            self.fetch(MESSAGE_FETCH_PATH, request_id, false).await
        };
        first.map_err(|e| match e {
            ProviderError::NotFound { .. } => self.redactor.error(unknown_job(request_id, &e)),
            other => other,
        })
    }

    async fn download(&self, url: &str, dest: &Path) -> Result<Downloaded, ProviderError> {
        http::download(&self.download, &self.options, url.trim(), dest, &self.redactor)
            .await
            .map_err(|e| self.redactor.error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_rules() {
        let n = |u: &str| normalize_base_url(u).map(|u| u.to_string());
        assert_eq!(n("https://api.imaginepro.ai").unwrap(), "https://api.imaginepro.ai/");
        assert_eq!(n("https://api.imaginepro.ai/").unwrap(), "https://api.imaginepro.ai/");
        // Loopback and the shared refusals are `http::normalize_base_url`'s (tested with
        // Katana's rules); what differs here is plain http:// elsewhere, and `/api/v1`.
        assert_eq!(n("http://127.0.0.1:8080").unwrap(), "http://127.0.0.1:8080/");
        let e = normalize_base_url("http://api.imaginepro.ai").unwrap_err();
        assert!(matches!(e, Error::BaseUrl { .. }), "{e}");
        assert!(e.to_string().contains("http://"), "{e}");
        let e = normalize_base_url("https://api.imaginepro.ai/api/v1/").unwrap_err();
        assert!(e.to_string().contains("leave out `/api/v1`"), "{e}");
        assert_eq!(base_url_from_env(|_| None), DEFAULT_BASE_URL);
        assert_eq!(base_url_from_env(|_| Some(" ".to_owned())), DEFAULT_BASE_URL);
    }

    #[test]
    fn message_ids_are_checked_not_escaped() {
        assert!(check_message_id("0b6c7e2a-41f5-4c8e-9d1e-3f2a1b0c9d8e").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", "a\tb", "a?b", "a#b", "a%2Fb", "a\\b", "a\nb"] {
            assert!(check_message_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn urls_carry_the_api_prefix() {
        let key = ImagineProKey::new("sk-test-key").unwrap();
        let c = ImaginePro::new("http://127.0.0.1:9/x/", key, HttpOptions::default()).unwrap();
        assert_eq!(
            c.url("/nova/imagine").unwrap().as_str(),
            "http://127.0.0.1:9/x/api/v1/nova/imagine"
        );
        assert!(!format!("{c:?}").contains("sk-test-key"));
    }
}
