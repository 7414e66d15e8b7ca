//! The HTTP layer every provider shares: client construction, URL redaction, and the one
//! classification of a failed call into [`ProviderError`].
//!
//! Key terms:
//! - **API client**: talks to a provider's API. No redirects (a redirected POST could be sent
//!   to a second place) and no retries of any kind: reqwest 0.13 retries HTTP/2 protocol NACKs
//!   by default, which [`api_client`] switches off so that a paid POST leaves this process at
//!   most once.
//! - **Download client**: fetches signed asset URLs. It follows a few redirects, but only to
//!   `https:` (or loopback `http:`), and never carries credentials.
//! - **Sent**: whether a request may have reached the server. Only a failure to connect proves
//!   it did not; every other transport failure (timeout, reset, truncated body) is reported as
//!   possibly sent, because for a paid call "unknown" must be treated as "maybe charged".
//!
//! Logging: method, redacted URL and status at `debug`; never headers, never bodies.
//!
//! Not here: provider wire formats (see `katana.rs`), and any decision to send again (that is
//! `conjure_core::policy`).

use std::error::Error as StdError;
use std::fmt;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use conjure_core::provider::Downloaded;
use futures_util::StreamExt as _;
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt as _;

use conjure_core::{ProviderError, ProviderId};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Client, StatusCode, Url};

use crate::error::Error;
use crate::redact::Redactor;
use crate::secret::Secret;

/// Timeouts for one provider's clients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpOptions {
    /// TCP + TLS connect.
    pub connect_timeout: Duration,
    /// The longest silence between two reads; applies to downloads as well.
    pub read_timeout: Duration,
    /// Whole-request deadline for API calls (submit, poll, balance). Downloads have none: a
    /// large video may legitimately take minutes while still making progress.
    pub request_timeout: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(120),
        }
    }
}

const USER_AGENT: &str = concat!("conjure/", env!("CARGO_PKG_VERSION"));
const MAX_DOWNLOAD_REDIRECTS: usize = 5;

/// The client for the provider API at `base`: no redirects, no retries.
///
/// It only ever talks to `base` (redirects are off), so for a plain `http://` base (allowed on
/// loopback only: the sandbox) it loads no TLS roots: reading the system's certificates costs
/// milliseconds on every command, which is most of what conjure adds to a streamed answer's first
/// word.
pub fn api_client(options: &HttpOptions, base: &Url) -> Result<Client, Error> {
    let mut builder = Client::builder().tls_backend_rustls();
    if base.scheme() == "http" {
        builder = builder.tls_certs_only(std::iter::empty());
    }
    builder
        .user_agent(USER_AGENT)
        .connect_timeout(options.connect_timeout)
        .read_timeout(options.read_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .retry(reqwest::retry::never())
        .build()
        .map_err(|source| Error::Client { source })
}

/// `value` as a header value marked sensitive, which keeps it out of HTTP/2 header compression
/// tables and out of `Debug` output.
pub(crate) fn sensitive_header(
    value: &Secret,
    provider: ProviderId,
    what: &'static str,
) -> Result<HeaderValue, Error> {
    let mut v = HeaderValue::from_str(value.expose()).map_err(|_| Error::InvalidCredential {
        provider,
        what,
        reason: "it is not a valid HTTP header value",
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// The client for asset downloads: a few redirects, only to fetchable URLs.
pub fn download_client(options: &HttpOptions) -> Result<Client, Error> {
    let policy = reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() >= MAX_DOWNLOAD_REDIRECTS {
            attempt.error("too many redirects")
        } else if is_fetchable(attempt.url()) {
            attempt.follow()
        } else {
            attempt.error("redirect to a URL that is neither https nor loopback http")
        }
    });
    Client::builder()
        .tls_backend_rustls()
        .user_agent(USER_AGENT)
        .connect_timeout(options.connect_timeout)
        .read_timeout(options.read_timeout)
        .redirect(policy)
        .retry(reqwest::retry::never())
        .build()
        .map_err(|source| Error::Client { source })
}

/// Whether `url`'s host is a loopback address (`127.0.0.0/8`, `::1`, `localhost`).
/// What a provider does with a plain `http://` base URL on a host that is not loopback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlainHttp {
    /// Switch it to `https://` (Katana, as its skill does).
    Upgrade,
    /// Refuse it: the credentials would travel unencrypted (ImaginePro).
    Refuse,
}

/// `var` from `env`, trimmed, else `default`.
pub fn base_url_from(env: impl Fn(&str) -> Option<String>, var: &str, default: &str) -> String {
    env(var)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// The base URL rules every provider shares: `https://` as is; `http://` as is on loopback
/// hosts (the offline sandbox speaks plain HTTP), else as `plain` says. Userinfo, queries and
/// fragments are refused; a trailing `/` is dropped.
pub fn normalize_base_url(raw: &str, plain: PlainHttp) -> Result<Url, Error> {
    let bad = |reason| Error::BaseUrl { url: redact_url(raw), reason };
    let mut url = Url::parse(raw.trim()).map_err(|_| bad("it is not a valid URL"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("it must not contain a user name or password"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("it must not contain a query or fragment"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("it has no host"));
    }
    match (url.scheme(), plain) {
        ("https", _) => {}
        ("http", _) if is_loopback(&url) => {}
        ("http", PlainHttp::Upgrade) => {
            url.set_scheme("https").map_err(|()| bad("it cannot be switched to https"))?;
        }
        ("http", PlainHttp::Refuse) => {
            return Err(bad(
                "plain http:// would send the API key unencrypted; use https:// (http:// is only accepted for loopback hosts)",
            ));
        }
        _ => return Err(bad("only https:// is supported")),
    }
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&path);
    Ok(url)
}

pub fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else { return false };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
        return ip.is_loopback();
    }
    let d = host.trim_end_matches('.').to_ascii_lowercase();
    d == "localhost" || d.ends_with(".localhost")
}

/// `https:` anywhere, `http:` only on loopback (the offline sandbox).
pub fn is_fetchable(url: &Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => is_loopback(url),
        _ => false,
    }
}

/// A URL made safe to print: no userinfo, no query, no fragment (signed asset URLs carry their
/// signature in the query), and `data:` URLs shortened to their media type.
#[derive(Clone, PartialEq, Eq)]
pub struct DisplaySafeUrl(String);

impl DisplaySafeUrl {
    pub fn new(raw: &str) -> DisplaySafeUrl {
        DisplaySafeUrl(redact_url(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DisplaySafeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DisplaySafeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// See [`DisplaySafeUrl`].
pub fn redact_url(raw: &str) -> String {
    let trimmed = raw.trim();
    // `get`, not indexing: byte 5 of a server's string may fall inside a character.
    if trimmed.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("data:")) {
        let head = trimmed.split(',').next().unwrap_or("data:");
        let bytes = trimmed.len() - head.len();
        return format!("{head},… ({bytes} bytes)");
    }
    if let Ok(mut url) = Url::parse(trimmed) {
        let _ = url.set_username("");
        let _ = url.set_password(None);
        url.set_query(None);
        url.set_fragment(None);
        return url.to_string();
    }
    // Unparseable: keep only what is before any query and drop any userinfo.
    let cut = trimmed.find(['?', '#']).unwrap_or(trimmed.len());
    let mut s = trimmed[..cut].to_owned();
    if let Some(scheme_end) = s.find("://") {
        let rest_start = scheme_end + 3;
        let authority_end = s[rest_start..].find('/').map_or(s.len(), |i| rest_start + i);
        if let Some(at) = s[rest_start..authority_end].rfind('@') {
            s.replace_range(rest_start..=rest_start + at, "");
        }
    }
    s
}

/// A call that did not produce a usable answer, before classification.
#[derive(Debug)]
pub enum Failure<'a> {
    /// The server answered with a status the caller does not accept (anything but 2xx).
    Status { status: StatusCode, headers: &'a HeaderMap, body: &'a [u8] },
    /// A 2xx whose body the caller could not understand.
    Unreadable { detail: String },
    /// No complete HTTP answer.
    Transport(reqwest::Error),
}

/// The one place that turns a failed call into a [`ProviderError`].
///
/// 401/403 are `Auth`; 402 ("payment required": no credit left, or x402 without credentials)
/// is `Rejected`, since the request was refused uncharged and the fix is credit, not a key;
/// 429 `RateLimited`, 404 `NotFound`, other 4xx `Rejected`, 5xx `Remote`, and
/// anything else (a 3xx the API client does not follow, a 2xx handed in by mistake) `Protocol`.
pub fn classify(failure: Failure<'_>) -> ProviderError {
    match failure {
        Failure::Status { status, headers, body } => {
            let code = status.as_u16();
            let message = error_message(body);
            match code {
                401 | 403 => ProviderError::Auth { status: code, message },
                429 => ProviderError::RateLimited {
                    retry_after: headers
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_retry_after),
                    message,
                },
                404 => ProviderError::NotFound { message },
                400..=499 => ProviderError::Rejected { status: code, message },
                500..=599 => ProviderError::Remote { status: code, message },
                _ => ProviderError::Protocol {
                    message: format!("unexpected HTTP status {code}: {message}"),
                },
            }
        }
        Failure::Unreadable { detail } => ProviderError::Protocol { message: detail },
        Failure::Transport(err) => {
            // Only a failure to build the request or to connect proves nothing left; a
            // timeout, reset or broken body may come after the server took the request.
            let sent = !(err.is_builder() || err.is_connect());
            let timeout = err.is_timeout();
            let mut message = error_chain(&err.without_url());
            if timeout && !message.contains("timed out") {
                message.push_str(" (timed out)");
            }
            ProviderError::Transport { sent, message }
        }
    }
}

fn error_chain(err: &dyn StdError) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = e.source();
    }
    out
}

/// `Retry-After` as delay-seconds. The HTTP-date form gives `None` (policy then uses its own
/// wait), rather than trusting the two clocks to agree.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

const MAX_RAW_MESSAGE: usize = 300;

/// The human message of an error body: `error` (a string, or an object's `message`), then
/// `message`, then `detail`; else the raw body, truncated.
pub fn error_message(body: &[u8]) -> String {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body)
        && let Some(m) = message_from_value(&value)
    {
        return m;
    }
    let text = String::from_utf8_lossy(body);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        return "(empty response body)".to_owned();
    }
    truncate(&text, MAX_RAW_MESSAGE)
}

/// As [`error_message`], for an already parsed value.
pub fn message_from_value(value: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    let text = |v: &Value| match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        _ => None,
    };
    match value.get("error") {
        Some(Value::Object(o)) => {
            if let Some(m) = o.get("message").and_then(text) {
                return Some(m);
            }
        }
        Some(v) => {
            if let Some(m) = text(v) {
                return Some(m);
            }
        }
        None => {}
    }
    if let Some(m) = value.get("message").and_then(text) {
        return Some(m);
    }
    match value.get("detail") {
        Some(Value::Null) | None => None,
        Some(v) => text(v).or_else(|| Some(truncate(&v.to_string(), MAX_RAW_MESSAGE))),
    }
}

/// Cuts `s` to at most `max` characters, marking the cut.
pub fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// Sends `request` once and returns its JSON body, or the classified failure. Everything the
/// server said (the body, an error message) passes through `redactor` first.
pub async fn execute_json(
    client: &Client,
    request: reqwest::Request,
    redactor: &Redactor,
) -> Result<serde_json::Value, ProviderError> {
    let method = request.method().clone();
    let url = DisplaySafeUrl::new(request.url().as_str());
    let response = match client.execute(request).await {
        Ok(r) => r,
        Err(e) => {
            let err = redactor.error(classify(Failure::Transport(e)));
            tracing::debug!(%method, %url, error = %err, "request failed");
            return Err(err);
        }
    };
    let status = response.status();
    tracing::debug!(%method, %url, status = status.as_u16(), "response");
    let headers = response.headers().clone();
    let body =
        response.bytes().await.map_err(|e| redactor.error(classify(Failure::Transport(e))))?;
    if !status.is_success() {
        return Err(redactor.error(classify(Failure::Status {
            status,
            headers: &headers,
            body: &body,
        })));
    }
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(mut value) => {
            redactor.value(&mut value);
            Ok(value)
        }
        Err(e) => Err(redactor.error(classify(Failure::Unreadable {
            detail: format!(
                "HTTP {} from {url} is not JSON ({e}): {}",
                status.as_u16(),
                truncate(&String::from_utf8_lossy(&body), 120)
            ),
        }))),
    }
}

/// Streams the asset at `url` (`https:`, or loopback `http:`) into `dest`, without credentials:
/// asset URLs are signed, and the asset host is not the API host. The download client in `cell`
/// is built on first use (building a TLS client reads the system's certificates, milliseconds
/// each, and a text answer needs no download). An error body passes through `redactor`.
pub(crate) async fn download(
    cell: &OnceLock<Client>,
    options: &HttpOptions,
    url: &str,
    dest: &Path,
    redactor: &Redactor,
) -> Result<Downloaded, ProviderError> {
    let safe = DisplaySafeUrl::new(url);
    let parsed = Url::parse(url)
        .map_err(|_| ProviderError::Protocol { message: format!("`{safe}` is not a valid URL") })?;
    if !is_fetchable(&parsed) {
        return Err(ProviderError::Unsupported {
            message: format!(
                "Refusing to download `{safe}`: only https:// (or loopback http://) URLs are fetched"
            ),
        });
    }
    // No credentials: asset URLs are signed, and the asset host is not the API host.
    let client = if let Some(c) = cell.get() {
        c
    } else {
        let built = download_client(options).map_err(|e| ProviderError::Local {
            message: format!("Cannot start an HTTP client: {e}"),
        })?;
        cell.get_or_init(|| built)
    };
    let response = client.get(parsed).send().await.map_err(|e| classify(Failure::Transport(e)))?;
    let status = response.status();
    tracing::debug!(method = "GET", url = %safe, status = status.as_u16(), "download response");
    if !status.is_success() {
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap_or_default();
        let e = classify(Failure::Status { status, headers: &headers, body: &body });
        return Err(redactor.error(e));
    }
    let mime =
        response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut file = tokio::fs::File::create(dest).await.map_err(|e| local_io(dest, &e))?;
    let mut hasher = Sha256::new();
    let mut bytes: u64 = 0;
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| classify(Failure::Transport(e)))?;
        hasher.update(&chunk);
        bytes += chunk.len() as u64;
        file.write_all(&chunk).await.map_err(|e| local_io(dest, &e))?;
    }
    file.flush().await.map_err(|e| local_io(dest, &e))?;
    file.sync_all().await.map_err(|e| local_io(dest, &e))?;
    Ok(Downloaded { bytes, sha256: hex::encode(hasher.finalize()), mime })
}

/// A local write failure while saving a download.
pub(crate) fn local_io(dest: &Path, e: &std::io::Error) -> ProviderError {
    ProviderError::Local { message: format!("Could not write `{}`: {e}", dest.display()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn status(code: u16, headers: &HeaderMap, body: &str) -> ProviderError {
        classify(Failure::Status {
            status: StatusCode::from_u16(code).unwrap(),
            headers,
            body: body.as_bytes(),
        })
    }

    #[test]
    fn statuses_map_to_classes() {
        let h = HeaderMap::new();
        for code in [401, 403] {
            assert!(matches!(status(code, &h, ""), ProviderError::Auth { .. }), "{code}");
        }
        assert!(matches!(status(402, &h, ""), ProviderError::Rejected { status: 402, .. }));
        assert!(matches!(status(404, &h, ""), ProviderError::NotFound { .. }));
        assert!(matches!(status(422, &h, ""), ProviderError::Rejected { status: 422, .. }));
        assert!(matches!(status(400, &h, ""), ProviderError::Rejected { status: 400, .. }));
        assert!(matches!(status(500, &h, ""), ProviderError::Remote { status: 500, .. }));
        assert!(matches!(status(503, &h, ""), ProviderError::Remote { status: 503, .. }));
        assert!(matches!(status(302, &h, ""), ProviderError::Protocol { .. }));
    }

    #[test]
    fn retry_after_seconds_or_none() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(
            status(429, &h, "{}"),
            ProviderError::RateLimited {
                retry_after: Some(Duration::from_secs(7)),
                message: "{}".to_owned()
            }
        );
        h.insert(RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert!(matches!(
            status(429, &h, ""),
            ProviderError::RateLimited { retry_after: None, .. }
        ));
        assert!(matches!(
            status(429, &HeaderMap::new(), ""),
            ProviderError::RateLimited { retry_after: None, .. }
        ));
    }

    #[test]
    fn error_body_message_order() {
        assert_eq!(error_message(br#"{"error":"boom","message":"m","detail":"d"}"#), "boom");
        assert_eq!(error_message(br#"{"error":{"message":"inner","code":"x"}}"#), "inner");
        assert_eq!(error_message(br#"{"message":"m","detail":"d"}"#), "m");
        assert_eq!(
            error_message(br#"{"detail":"Missing API credentials"}"#),
            "Missing API credentials"
        );
        assert_eq!(
            error_message(br#"{"detail":[{"msg":"field required"}]}"#),
            r#"[{"msg":"field required"}]"#
        );
        assert_eq!(error_message(b"<html>  Bad\n gateway </html>"), "<html> Bad gateway </html>");
        assert_eq!(error_message(b""), "(empty response body)");
        let long = "x".repeat(1000);
        let m = error_message(long.as_bytes());
        assert_eq!(m.chars().count(), MAX_RAW_MESSAGE + 1);
        assert!(m.ends_with('…'));
    }

    #[test]
    fn redaction_takes_any_string() {
        // Found by fuzzing (tests/it/fuzz.rs): a URL whose fifth byte is inside a character
        // panicked; asset URLs come from the server, so one bad answer crashed the download.
        assert_eq!(redact_url("\u{fe68}\u{11c50}"), "\u{fe68}\u{11c50}");
        assert_eq!(redact_url("日本/x?sig=1"), "日本/x");
        assert_eq!(redact_url("DATA:image/png,AAAA"), "DATA:image/png,… (5 bytes)");
    }

    #[test]
    fn redaction_strips_userinfo_query_and_data() {
        assert_eq!(
            redact_url("https://user:pw@k.imgnai.com/a/b.png?sig=SECRET&exp=1#frag"),
            "https://k.imgnai.com/a/b.png"
        );
        assert_eq!(redact_url("data:image/png;base64,AAAA"), "data:image/png;base64,… (5 bytes)");
        assert_eq!(redact_url("not a url://u:p@h/x?sig=1"), "not a url://h/x");
        assert_eq!(
            DisplaySafeUrl::new("http://127.0.0.1:8080/x?k=v").to_string(),
            "http://127.0.0.1:8080/x"
        );
    }

    #[test]
    fn loopback_detection() {
        for u in [
            "http://127.0.0.1:1/",
            "http://127.8.9.1/",
            "http://[::1]:80/",
            "http://localhost/",
            "http://LOCALHOST./",
        ] {
            assert!(is_loopback(&Url::parse(u).unwrap()), "{u}");
        }
        for u in ["http://10.0.0.1/", "http://example.com/", "http://localhost.example.com/"] {
            assert!(!is_loopback(&Url::parse(u).unwrap()), "{u}");
        }
        assert!(is_fetchable(&Url::parse("https://example.com/").unwrap()));
        assert!(!is_fetchable(&Url::parse("http://example.com/").unwrap()));
        assert!(!is_fetchable(&Url::parse("file:///etc/passwd").unwrap()));
    }
}
