//! The Katana (imgnAI) provider: a thin translator between conjure's domain and Katana's API.
//!
//! Key terms (see the Katana API notes in the project's shared spec):
//! - **envelope**: the `{"requests":[...]}` body of a submit, and the `{request_id, status,
//!   requests[], responses[]}` answer shared by submit and poll.
//! - **item**: one entry of `requests[]`; conjure tags them `item-0`, `item-1`, ... and matches
//!   `responses[]` back by that echoed `id`, falling back to position.
//! - **header pair / Bearer**: media calls authenticate with `X-API-Key` + `X-API-Secret`;
//!   balance and `/v1/models` with `Authorization: Bearer key:secret`.
//!
//! Modules: [`request`] is the request vocabulary, once (the pure builder, every field name and
//! alias, the inverse parser for raw payloads); [`response`] reads answers (pure). This module is
//! the network half: [`Katana`] sends a submit exactly once (no retries, no redirects), with
//! local input files inlined at that moment; polls with GET; downloads signed asset URLs
//! *without* credentials. Every answer passes through the [`Redactor`] first, so a server that
//! echoes the key or secret cannot leak them.
//!
//! Not here: validation against the catalogue (`conjure_core::spec::validate`, done before a
//! quote), polling cadence and the "never resend a paid POST" decision (`conjure_core::policy`),
//! and catalogue parsing. Text ([`chat`]) goes to `/v1/chat/completions` with the Bearer form,
//! whole, streamed (read as it arrives and handed to the caller piece by piece) or as an async
//! job polled like media.

pub mod catalogue;
pub mod chat;
pub mod request;
pub mod response;

pub use request::{PayloadError, SUBMIT_PATH, build_request, parse_request, vocab, wire_input};
pub use response::{parse_balance, parse_envelope};

use std::fmt;
use std::fmt::Write as _;
use std::path::Path;

use base64::Engine as _;
use conjure_core::catalogue::{MediaKind, ProviderId};
use conjure_core::money::Credits;
use conjure_core::provider::Downloaded;
use conjure_core::{Provider, ProviderError, Snapshot, WireRequest};
use futures_util::StreamExt as _;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Client, Url};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::credentials::KatanaCredentials;
use crate::error::Error;
use crate::http::{self, DisplaySafeUrl, Failure, HttpOptions};
use crate::redact::Redactor;
use crate::secret::Secret;

/// Production API.
pub const DEFAULT_BASE_URL: &str = "https://kat.imgnai.com";
/// The environment variable the CLI reads to point conjure elsewhere (e.g. the sandbox).
pub const BASE_URL_ENV: &str = conjure_core::env::CONJURE_KATANA_BASE_URL;
const POLL_PATH: &str = "/v1/generation-requests/";
const BALANCE_PATH: &str = "/v1/me/balance";
const MODELS_PATH: &str = "/v1/models";

/// The configured base URL, or the production default.
pub fn base_url_from_env(env: impl Fn(&str) -> Option<String>) -> String {
    http::base_url_from(env, BASE_URL_ENV, DEFAULT_BASE_URL)
}

/// Applies the base URL rules ([`http::normalize_base_url`]): a plain `http://` URL on a host
/// that is not loopback is switched to `https://`, as the Katana skill does.
pub fn normalize_base_url(raw: &str) -> Result<Url, Error> {
    http::normalize_base_url(raw, http::PlainHttp::Upgrade)
}

/// The Katana provider: base URL, credentials (as ready header values) and two HTTP clients.
pub struct Katana {
    base: Url,
    media_headers: HeaderMap,
    bearer: HeaderValue,
    api: Client,
    /// Built on first use: building a TLS client reads the system's certificates (milliseconds
    /// each), and a text answer needs no download.
    download: std::sync::OnceLock<Client>,
    options: HttpOptions,
    redactor: Redactor,
}

impl fmt::Debug for Katana {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Katana")
            .field("base_url", &self.base.as_str())
            .field("credentials", &"****")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

fn sensitive(value: &Secret, what: &'static str) -> Result<HeaderValue, Error> {
    http::sensitive_header(value, ProviderId::Katana, what)
}

impl Katana {
    pub fn new(
        base_url: &str,
        creds: KatanaCredentials,
        options: HttpOptions,
    ) -> Result<Katana, Error> {
        let base = normalize_base_url(base_url)?;
        let token = creds.bearer_token();
        let bearer = Secret::new(format!("Bearer {}", token.expose()));
        let redactor = Redactor::new([&creds.key, &creds.secret, &token]);
        let KatanaCredentials { key, secret } = creds;
        let mut media_headers = HeaderMap::new();
        media_headers.insert(HeaderName::from_static("x-api-key"), sensitive(&key, "API key")?);
        media_headers
            .insert(HeaderName::from_static("x-api-secret"), sensitive(&secret, "API secret")?);
        let bearer = sensitive(&bearer, "API key and secret")?;
        let api = http::api_client(&options, &base)?;
        Ok(Katana {
            base,
            media_headers,
            bearer,
            api,
            download: std::sync::OnceLock::new(),
            options,
            redactor,
        })
    }

    pub fn base_url(&self) -> &Url {
        &self.base
    }

    fn url(&self, path_and_query: &str) -> Result<Url, ProviderError> {
        let base = self.base.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}{path_and_query}")).map_err(|e| ProviderError::Unsupported {
            message: format!("Cannot build a URL for `{path_and_query}`: {e}"),
        })
    }

    fn get(&self, url: Url, headers: HeaderMap) -> Result<reqwest::Request, ProviderError> {
        self.api
            .get(url)
            .headers(headers)
            .timeout(self.options.request_timeout)
            .build()
            .map_err(|e| http::classify(Failure::Transport(e)))
    }

    fn bearer_headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, self.bearer.clone());
        h
    }

    /// The account's credit balance (`GET /v1/me/balance`, Bearer form).
    pub async fn balance(&self) -> Result<Credits, ProviderError> {
        let request = self.get(self.url(BALANCE_PATH)?, self.bearer_headers())?;
        let value = http::execute_json(&self.api, request, &self.redactor).await?;
        parse_balance(&value)
    }

    /// The live catalogue (`GET /v1/models`, Bearer form), unparsed: the shape depends on the
    /// Authorization header and is the catalogue's business.
    pub async fn models(&self) -> Result<Value, ProviderError> {
        let request = self.get(self.url(MODELS_PATH)?, self.bearer_headers())?;
        http::execute_json(&self.api, request, &self.redactor).await
    }
}

async fn write_data_url(url: &str, dest: &Path) -> Result<Downloaded, ProviderError> {
    let (data, mime) = decode_data_url(url)?;
    tokio::fs::write(dest, &data).await.map_err(|e| http::local_io(dest, &e))?;
    Ok(Downloaded { bytes: data.len() as u64, sha256: hex::encode(Sha256::digest(&data)), mime })
}

/// Decodes a `data:` URL into its bytes and media type.
pub fn decode_data_url(url: &str) -> Result<(Vec<u8>, Option<String>), ProviderError> {
    let bad = |why: &str| ProviderError::Protocol {
        message: format!("`{}` is not a usable data: URL ({why})", http::redact_url(url)),
    };
    let rest = url
        .get(5..)
        .filter(|_| url[..5].eq_ignore_ascii_case("data:"))
        .ok_or_else(|| bad("no data: prefix"))?;
    let (meta, payload) = rest.split_once(',').ok_or_else(|| bad("no comma"))?;
    let mut parts = meta.split(';');
    let mime = parts.next().map(str::trim).filter(|m| !m.is_empty()).map(str::to_owned);
    let is_base64 = parts.any(|p| p.trim().eq_ignore_ascii_case("base64"));
    let data = if is_base64 {
        let compact: String = payload.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let lenient = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new()
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
        );
        lenient
            .decode(&compact)
            .or_else(|_| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(compact.trim_end_matches('='))
            })
            .map_err(|_| bad("invalid base64"))?
    } else {
        percent_decode(payload)
    };
    Ok((data, mime))
}

fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

impl Katana {
    /// The POST for `request`, with its local files inlined and the headers its endpoint takes:
    /// the header pair for media, Bearer for text.
    async fn post(&self, request: &WireRequest) -> Result<reqwest::Request, ProviderError> {
        if request.method != "POST" {
            return Err(ProviderError::Unsupported {
                message: format!("Katana submits are POST, not `{}`", request.method),
            });
        }
        // Local files are read now, and only if they still hash to what was quoted.
        let body = crate::inline::materialize(request).await?;
        let body = serde_json::to_vec(&body).map_err(|e| ProviderError::Unsupported {
            message: format!("The request body cannot be serialised: {e}"),
        })?;
        let headers =
            if is_chat(request) { self.bearer_headers() } else { self.media_headers.clone() };
        let mut builder = self
            .api
            .post(self.url(&request.path)?)
            .headers(headers)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(body);
        if !is_stream(request) {
            // A stream may run as long as the model writes; silence is bounded by the read
            // timeout instead.
            builder = builder.timeout(self.options.request_timeout);
        }
        builder.build().map_err(|e| http::classify(Failure::Transport(e)))
    }

    /// Sends a streamed chat request and reads it to its end, handing pieces to `sink`.
    async fn stream_chat(
        &self,
        request: &WireRequest,
        sink: &(dyn Fn(conjure_core::text::Delta<'_>) + Send + Sync),
    ) -> Result<Snapshot, ProviderError> {
        let http_request = self.post(request).await?;
        let url = DisplaySafeUrl::new(http_request.url().as_str());
        let response = self
            .api
            .execute(http_request)
            .await
            .map_err(|e| self.redactor.error(http::classify(Failure::Transport(e))))?;
        let status = response.status();
        tracing::debug!(method = "POST", %url, status = status.as_u16(), "response");
        if !status.is_success() {
            let headers = response.headers().clone();
            let body = response.bytes().await.unwrap_or_default();
            let e = http::classify(Failure::Status { status, headers: &headers, body: &body });
            return Err(self.redactor.error(e));
        }
        let event_stream = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if !event_stream {
            // A server may answer a stream request whole; read it as such.
            let body = response
                .bytes()
                .await
                .map_err(|e| self.redactor.error(http::classify(Failure::Transport(e))))?;
            let mut value: Value = serde_json::from_slice(&body).map_err(|e| {
                ProviderError::Protocol { message: format!("The chat answer is not JSON: {e}") }
            })?;
            self.redactor.value(&mut value);
            return chat::parse_completion(&value);
        }
        let mut decoder = chat::SseDecoder::default();
        let mut chat = chat::ChatStream::default();
        let mut bytes = response.bytes_stream();
        let mut cut = None;
        while let Some(piece) = bytes.next().await {
            match piece {
                Ok(piece) => {
                    for data in decoder.feed(&piece) {
                        chat.event(&self.redactor.text(&data), sink);
                    }
                }
                Err(e) => {
                    cut = Some(self.redactor.error(http::classify(Failure::Transport(e))));
                    break;
                }
            }
        }
        for data in decoder.finish() {
            chat.event(&self.redactor.text(&data), sink);
        }
        let partial = chat.partial();
        chat.finish(cut).map_err(|e| partial_error(e, &partial))
    }
}

/// A stream that ended without its charge: the error names how far the answer came, so the
/// caller can keep it (the runner journals the pieces it was handed).
fn partial_error(e: ProviderError, partial: &conjure_core::text::TextAnswer) -> ProviderError {
    match e {
        ProviderError::Transport { sent, message } => ProviderError::Transport {
            sent,
            message: format!(
                "{message}; {} characters of the answer arrived",
                partial.answer.chars().count()
            ),
        },
        other => other,
    }
}

fn is_chat(request: &WireRequest) -> bool {
    request.path.starts_with(chat::CHAT_PATH)
}

fn is_stream(request: &WireRequest) -> bool {
    request.body.get("stream").and_then(Value::as_bool) == Some(true)
}

impl Provider for Katana {
    fn id(&self) -> ProviderId {
        ProviderId::Katana
    }

    async fn submit(&self, request: &WireRequest) -> Result<Snapshot, ProviderError> {
        if is_stream(request) {
            return self.stream_chat(request, &|_| {}).await;
        }
        let http_request = self.post(request).await?;
        let value = http::execute_json(&self.api, http_request, &self.redactor).await?;
        let snapshot = if is_chat(request) && !request.path.contains("wait=false") {
            chat::parse_completion(&value)?
        } else {
            parse_envelope(&value)?
        };
        if snapshot.request_id.is_none() && !snapshot.status.is_terminal() {
            // Without an id the job can never be polled: report it as unreadable (maybe charged).
            return Err(ProviderError::Protocol {
                message: "The submit answer has no `request_id`".to_owned(),
            });
        }
        Ok(snapshot)
    }

    async fn submit_streaming(
        &self,
        request: &WireRequest,
        sink: &(dyn Fn(conjure_core::text::Delta<'_>) + Send + Sync),
    ) -> Result<Snapshot, ProviderError> {
        if is_stream(request) {
            self.stream_chat(request, sink).await
        } else {
            self.submit(request).await
        }
    }

    async fn poll(&self, request_id: &str, _: MediaKind) -> Result<Snapshot, ProviderError> {
        // `.` and `..` would be resolved as path segments, polling some other resource.
        if matches!(request_id.trim(), "" | "." | "..") {
            return Err(ProviderError::Unsupported {
                message: format!("`{request_id}` is not a request id"),
            });
        }
        let url = self.url(&format!("{POLL_PATH}{}", path_segment(request_id)))?;
        let request = self.get(url, self.media_headers.clone())?;
        let value = http::execute_json(&self.api, request, &self.redactor).await?;
        parse_envelope(&value)
    }

    async fn download(&self, url: &str, dest: &Path) -> Result<Downloaded, ProviderError> {
        let trimmed = url.trim();
        if trimmed.len() >= 5 && trimmed[..5].eq_ignore_ascii_case("data:") {
            return write_data_url(trimmed, dest).await;
        }
        http::download(&self.download, &self.options, trimmed, dest, &self.redactor)
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
        assert_eq!(n("https://kat.imgnai.com").unwrap(), "https://kat.imgnai.com/");
        assert_eq!(n("http://devkat.imgnai.com/").unwrap(), "https://devkat.imgnai.com/");
        assert_eq!(n("http://127.0.0.1:8080").unwrap(), "http://127.0.0.1:8080/");
        assert_eq!(n("http://[::1]:9/").unwrap(), "http://[::1]:9/");
        assert_eq!(n("http://localhost:9/prefix/").unwrap(), "http://localhost:9/prefix");
        assert!(n("ftp://x").is_err());
        assert!(n("https://u:p@x").is_err());
        assert!(n("https://x/?a=1").is_err());
        assert!(n("nonsense").is_err());
        let e = normalize_base_url("https://user:hunter2@x").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert_eq!(base_url_from_env(|_| None), DEFAULT_BASE_URL);
        assert_eq!(
            base_url_from_env(|_| Some("http://127.0.0.1:1".to_owned())),
            "http://127.0.0.1:1"
        );
    }

    #[test]
    fn data_urls_decode() {
        let (bytes, mime) = decode_data_url("data:image/png;base64,aGVsbG8=").unwrap();
        assert_eq!(bytes, b"hello");
        assert_eq!(mime.as_deref(), Some("image/png"));
        assert_eq!(decode_data_url("data:;base64,aGVsbG8").unwrap().0, b"hello");
        assert_eq!(decode_data_url("data:text/plain,a%20b").unwrap().0, b"a b");
        assert!(decode_data_url("data:image/png;base64,@@@").is_err());
        assert!(decode_data_url("data:nocomma").is_err());
    }

    #[test]
    fn poll_ids_are_path_escaped() {
        assert_eq!(path_segment("req_1-a.b~"), "req_1-a.b~");
        assert_eq!(path_segment("../x?y"), "..%2Fx%3Fy");
    }
}
