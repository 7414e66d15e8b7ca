//! The Katana (imgnAI) translator: conjure's [`JobSpec`] to Katana's wire format and back.
//!
//! Key terms (see `/work/shared/spec/katana-api.md`):
//! - **envelope**: the `{"requests":[...]}` body of a submit, and the `{request_id, status,
//!   requests[], responses[]}` answer shared by submit and poll.
//! - **item**: one entry of `requests[]`; conjure tags them `item-0`, `item-1`, ... and matches
//!   `responses[]` back by that echoed `id`, falling back to position.
//! - **header pair / Bearer**: media calls authenticate with `X-API-Key` + `X-API-Secret`;
//!   balance and `/v1/models` with `Authorization: Bearer key:secret`.
//!
//! [`build_request`], [`parse_envelope`] and [`parse_balance`] are pure and unit-tested. The
//! network half ([`Katana`]) sends a submit exactly once (no retries, no redirects), polls with
//! GET, and downloads signed asset URLs *without* credentials.
//!
//! Not here: validation against the catalogue (`conjure_core::spec::validate`, done before a
//! quote), polling cadence and the "never resend a paid POST" decision (`conjure_core::policy`),
//! text generation and catalogue parsing.

use std::fmt;
use std::fmt::Write as _;
use std::path::Path;

use base64::Engine as _;
use conjure_core::catalogue::ProviderId;
use conjure_core::money::Credits;
use conjure_core::provider::{Asset, Downloaded, RemoteError, RemoteStatus};
use conjure_core::spec::{ImageItem, Item, VideoItem};
use conjure_core::{JobSpec, Provider, ProviderError, Snapshot, WireRequest};
use futures_util::StreamExt as _;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Client, Url};
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt as _;

use crate::credentials::KatanaCredentials;
use crate::error::Error;
use crate::http::{self, DisplaySafeUrl, Failure, HttpOptions};
use crate::secret::Secret;

/// Production API.
pub const DEFAULT_BASE_URL: &str = "https://kat.imgnai.com";
/// The environment variable the CLI reads to point conjure elsewhere (e.g. the sandbox).
pub const BASE_URL_ENV: &str = "CONJURE_KATANA_BASE_URL";
/// Always `wait=false`: how long `wait=true` blocks is undocumented.
pub const SUBMIT_PATH: &str = "/v1/generation-requests?wait=false";
const POLL_PATH: &str = "/v1/generation-requests/";
const BALANCE_PATH: &str = "/v1/me/balance";
const MODELS_PATH: &str = "/v1/models";

/// The configured base URL, or the production default.
pub fn base_url_from_env(env: impl Fn(&str) -> Option<String>) -> String {
    env(BASE_URL_ENV)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned())
}

/// Applies the base URL rules: `https://` as is; `http://` rewritten to `https://` (as the
/// Katana skill does) except on loopback hosts, where the offline sandbox speaks plain HTTP.
/// Userinfo, queries and fragments are refused; a trailing `/` is dropped.
pub fn normalize_base_url(raw: &str) -> Result<Url, Error> {
    let bad = |reason| Error::BaseUrl { url: http::redact_url(raw), reason };
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
    match url.scheme() {
        "https" => {}
        "http" if http::is_loopback(&url) => {}
        "http" => {
            url.set_scheme("https").map_err(|()| bad("it cannot be switched to https"))?;
        }
        _ => return Err(bad("only https:// is supported")),
    }
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&path);
    Ok(url)
}

/// The Katana provider: base URL, credentials (as ready header values) and two HTTP clients.
pub struct Katana {
    base: Url,
    media_headers: HeaderMap,
    bearer: HeaderValue,
    api: Client,
    download: Client,
    options: HttpOptions,
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
    let mut v = HeaderValue::from_str(value.expose()).map_err(|_| Error::InvalidCredential {
        what,
        reason: "it is not a valid HTTP header value",
    })?;
    // Keeps it out of HTTP/2 header compression tables and out of `Debug` output.
    v.set_sensitive(true);
    Ok(v)
}

impl Katana {
    pub fn new(
        base_url: &str,
        creds: KatanaCredentials,
        options: HttpOptions,
    ) -> Result<Katana, Error> {
        let base = normalize_base_url(base_url)?;
        let bearer = Secret::new(format!("Bearer {}", creds.bearer_token().expose()));
        let KatanaCredentials { key, secret } = creds;
        let mut media_headers = HeaderMap::new();
        media_headers.insert(HeaderName::from_static("x-api-key"), sensitive(&key, "API key")?);
        media_headers
            .insert(HeaderName::from_static("x-api-secret"), sensitive(&secret, "API secret")?);
        let bearer = sensitive(&bearer, "API key and secret")?;
        Ok(Katana {
            base,
            media_headers,
            bearer,
            api: http::api_client(&options)?,
            download: http::download_client(&options)?,
            options,
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
        let value = http::execute_json(&self.api, request).await?;
        parse_balance(&value)
    }

    /// The live catalogue (`GET /v1/models`, Bearer form), unparsed: the shape depends on the
    /// Authorization header and is the catalogue's business.
    pub async fn models(&self) -> Result<Value, ProviderError> {
        let request = self.get(self.url(MODELS_PATH)?, self.bearer_headers())?;
        http::execute_json(&self.api, request).await
    }

    async fn download_http(&self, url: &str, dest: &Path) -> Result<Downloaded, ProviderError> {
        let safe = DisplaySafeUrl::new(url);
        let parsed = Url::parse(url).map_err(|_| ProviderError::Protocol {
            message: format!("`{safe}` is not a valid URL"),
        })?;
        if !http::is_fetchable(&parsed) {
            return Err(ProviderError::Unsupported {
                message: format!(
                    "Refusing to download `{safe}`: only https:// (or loopback http://) URLs are fetched"
                ),
            });
        }
        // No credentials: asset URLs are signed, and the asset host is not the API host.
        let response = self
            .download
            .get(parsed)
            .send()
            .await
            .map_err(|e| http::classify(Failure::Transport(e)))?;
        let status = response.status();
        tracing::debug!(method = "GET", url = %safe, status = status.as_u16(), "download response");
        if !status.is_success() {
            let headers = response.headers().clone();
            let body = response.bytes().await.unwrap_or_default();
            return Err(http::classify(Failure::Status { status, headers: &headers, body: &body }));
        }
        let mime =
            response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let mut file = tokio::fs::File::create(dest).await.map_err(|e| local_io(dest, &e))?;
        let mut hasher = Sha256::new();
        let mut bytes: u64 = 0;
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| http::classify(Failure::Transport(e)))?;
            hasher.update(&chunk);
            bytes += chunk.len() as u64;
            file.write_all(&chunk).await.map_err(|e| local_io(dest, &e))?;
        }
        file.flush().await.map_err(|e| local_io(dest, &e))?;
        file.sync_all().await.map_err(|e| local_io(dest, &e))?;
        Ok(Downloaded { bytes, sha256: hex::encode(hasher.finalize()), mime })
    }
}

fn local_io(dest: &Path, e: &std::io::Error) -> ProviderError {
    ProviderError::Local { message: format!("Could not write `{}`: {e}", dest.display()) }
}

async fn write_data_url(url: &str, dest: &Path) -> Result<Downloaded, ProviderError> {
    let (data, mime) = decode_data_url(url)?;
    tokio::fs::write(dest, &data).await.map_err(|e| local_io(dest, &e))?;
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

impl Provider for Katana {
    fn id(&self) -> ProviderId {
        ProviderId::Katana
    }

    fn build(&self, spec: &JobSpec) -> Result<WireRequest, ProviderError> {
        build_request(spec)
    }

    async fn submit(&self, request: &WireRequest) -> Result<Snapshot, ProviderError> {
        if request.method != "POST" {
            return Err(ProviderError::Unsupported {
                message: format!("Katana submits are POST, not `{}`", request.method),
            });
        }
        let body = serde_json::to_vec(&request.body).map_err(|e| ProviderError::Unsupported {
            message: format!("The request body cannot be serialised: {e}"),
        })?;
        let http_request = self
            .api
            .post(self.url(&request.path)?)
            .headers(self.media_headers.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(body)
            .timeout(self.options.request_timeout)
            .build()
            .map_err(|e| http::classify(Failure::Transport(e)))?;
        let value = http::execute_json(&self.api, http_request).await?;
        let snapshot = parse_envelope(&value)?;
        if snapshot.request_id.is_none() && !snapshot.status.is_terminal() {
            // Without an id the job can never be polled: report it as unreadable (maybe charged).
            return Err(ProviderError::Protocol {
                message: "The submit answer has no `request_id`".to_owned(),
            });
        }
        Ok(snapshot)
    }

    async fn poll(&self, request_id: &str) -> Result<Snapshot, ProviderError> {
        // `.` and `..` would be resolved as path segments, polling some other resource.
        if matches!(request_id.trim(), "" | "." | "..") {
            return Err(ProviderError::Unsupported {
                message: format!("`{request_id}` is not a request id"),
            });
        }
        let url = self.url(&format!("{POLL_PATH}{}", path_segment(request_id)))?;
        let request = self.get(url, self.media_headers.clone())?;
        let value = http::execute_json(&self.api, request).await?;
        parse_envelope(&value)
    }

    async fn download(&self, url: &str, dest: &Path) -> Result<Downloaded, ProviderError> {
        let trimmed = url.trim();
        if trimmed.len() >= 5 && trimmed[..5].eq_ignore_ascii_case("data:") {
            return write_data_url(trimmed, dest).await;
        }
        self.download_http(trimmed, dest).await
    }
}

/// The submit request for `spec`: `POST /v1/generation-requests?wait=false` with one item per
/// spec item. Never sends `output` (internal to Katana) nor `n` (does not exist).
pub fn build_request(spec: &JobSpec) -> Result<WireRequest, ProviderError> {
    if spec.provider != ProviderId::Katana {
        return Err(ProviderError::Unsupported {
            message: format!("A `{}` request cannot be sent to Katana", spec.provider),
        });
    }
    if spec.items.is_empty() {
        return Err(ProviderError::Unsupported { message: "The request has no items".to_owned() });
    }
    let items = spec
        .items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Item::Image(image) => Ok(image_item(i, image)),
            Item::Video(video) => video_item(i, video),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(WireRequest {
        method: "POST".to_owned(),
        path: SUBMIT_PATH.to_owned(),
        body: json!({ "requests": items }),
    })
}

fn item_id(index: usize) -> String {
    format!("item-{index}")
}

fn image_item(index: usize, i: &ImageItem) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), item_id(index).into());
    o.insert("type".into(), "image".into());
    o.insert("model".into(), i.model.clone().into());
    o.insert("prompt".into(), i.prompt.clone().into());
    o.insert("aspect_ratio".into(), i.aspect_ratio.clone().into());
    o.insert("output_format".into(), i.format.as_str().into());
    if !i.inputs.is_empty() {
        // `image_urls`, not `reference_assets`: image.md says the latter is silently ignored.
        let urls: Vec<Value> = i.inputs.iter().map(|m| m.wire_value().into()).collect();
        o.insert("image_urls".into(), urls.into());
    }
    if let Some(neg) = i.negative_prompt.as_ref().filter(|n| !n.trim().is_empty()) {
        o.insert("negative_prompt".into(), neg.clone().into());
    }
    if i.fast {
        o.insert("is_fast".into(), true.into());
    }
    if i.uhd {
        o.insert("is_uhd".into(), true.into());
    }
    Value::Object(o)
}

fn video_item(index: usize, v: &VideoItem) -> Result<Value, ProviderError> {
    let mut o = Map::new();
    o.insert("id".into(), item_id(index).into());
    o.insert("type".into(), "video".into());
    o.insert("model".into(), v.model.clone().into());
    o.insert("prompt".into(), v.prompt.clone().into());
    o.insert("duration_seconds".into(), v.duration_seconds.into());
    o.insert("aspect_ratio".into(), v.aspect_ratio.clone().into());
    let mut data = Map::new();
    if let Some(ff) = &v.first_frame {
        data.insert("first_frame_image_url".into(), ff.wire_value().into());
    }
    if let Some(lf) = &v.last_frame {
        data.insert("last_frame_image_url".into(), lf.wire_value().into());
    }
    if !v.references.is_empty() {
        let urls: Vec<Value> = v.references.iter().map(|m| m.wire_value().into()).collect();
        data.insert("reference_image_urls".into(), urls.into());
    }
    if !v.audio.is_empty() {
        let urls: Vec<Value> = v.audio.iter().map(|m| m.wire_value().into()).collect();
        data.insert("audio_input_urls".into(), urls.into());
    }
    if !v.videos.is_empty() {
        let mut list = Vec::with_capacity(v.videos.len());
        for clip in &v.videos {
            let mut c = Map::new();
            c.insert("url".into(), clip.input.wire_value().into());
            if let Some(start) = clip.start {
                c.insert("start".into(), offset(start)?);
            }
            if let Some(end) = clip.end {
                // Katana spells the end offset `ends`.
                c.insert("ends".into(), offset(end)?);
            }
            list.push(Value::Object(c));
        }
        data.insert("video_list".into(), list.into());
    }
    // An empty `video_image_data` object is refused by Katana: leave it out entirely.
    if !data.is_empty() {
        o.insert("video_image_data".into(), Value::Object(data));
    }
    Ok(Value::Object(o))
}

fn offset(seconds: f64) -> Result<Value, ProviderError> {
    serde_json::Number::from_f64(seconds).map(Value::Number).ok_or_else(|| {
        ProviderError::Unsupported { message: format!("`{seconds}` is not a valid video offset") }
    })
}

fn protocol(message: impl Into<String>) -> ProviderError {
    ProviderError::Protocol { message: message.into() }
}

fn map_status(s: &str) -> RemoteStatus {
    match s.trim().to_ascii_lowercase().as_str() {
        "processing" => RemoteStatus::Processing,
        "queued" => RemoteStatus::Queued,
        "completed" => RemoteStatus::Completed,
        "partial_failure" => RemoteStatus::Partial,
        "failed" => RemoteStatus::Failed,
        "rejected" => RemoteStatus::Rejected,
        _ => RemoteStatus::Other(s.to_owned()),
    }
}

fn non_empty_str(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// A wire number or decimal string as exact credits; values finer than 0.1 are rounded.
fn credits_of(v: &Value) -> Option<Credits> {
    match v {
        Value::Number(n) => {
            n.to_string().parse::<Credits>().ok().or_else(|| n.as_f64().map(Credits::from_f64))
        }
        Value::String(s) => s.parse::<Credits>().ok().or_else(|| {
            s.trim().parse::<f64>().ok().filter(|f| f.is_finite()).map(Credits::from_f64)
        }),
        _ => None,
    }
}

fn remote_error(item: Option<usize>, v: &Value) -> Option<RemoteError> {
    match v {
        Value::String(s) if !s.trim().is_empty() => {
            Some(RemoteError { item, code: None, message: s.clone(), retryable: None })
        }
        Value::Object(o) => {
            let code = non_empty_str(o.get("code"));
            let message = non_empty_str(o.get("message"))
                .or_else(|| non_empty_str(o.get("detail")))
                .or_else(|| code.clone())
                .unwrap_or_else(|| http::truncate(&v.to_string(), 300));
            Some(RemoteError {
                item,
                code,
                message,
                retryable: o.get("retryable").and_then(Value::as_bool),
            })
        }
        _ => None,
    }
}

fn item_index(response: &Value, echo: &[Value], position: usize) -> usize {
    if let Some(id) = response.get("id").and_then(Value::as_str) {
        if let Some(i) = echo.iter().position(|e| e.get("id").and_then(Value::as_str) == Some(id)) {
            return i;
        }
        if let Some(n) = id.strip_prefix("item-").and_then(|n| n.parse().ok()) {
            return n;
        }
    }
    position
}

fn dimension(v: Option<&Value>) -> Option<u32> {
    v.and_then(Value::as_u64).and_then(|n| u32::try_from(n).ok()).filter(|n| *n > 0)
}

fn parse_asset(item: usize, a: &Value) -> Option<Asset> {
    let original = non_empty_str(a.get("original_data_url"));
    let compressed = non_empty_str(a.get("url"));
    let (url, fallback_url) = match (original, compressed) {
        (Some(o), Some(c)) if o == c => (o, None),
        (Some(o), c) => (o, c),
        (None, Some(c)) => (c, None),
        (None, None) => return None,
    };
    let mime = non_empty_str(a.get("mime_type")).unwrap_or_default();
    let kind = non_empty_str(a.get("kind"))
        .or_else(|| mime.split('/').next().filter(|k| !k.is_empty()).map(str::to_owned))
        .unwrap_or_default();
    Some(Asset {
        item,
        kind,
        mime,
        url,
        fallback_url,
        width: dimension(a.get("width")),
        height: dimension(a.get("height")),
        duration_seconds: a.get("duration_seconds").and_then(Value::as_f64),
        expires_at: non_empty_str(a.get("expires_at")),
    })
}

/// Reads a submit or poll answer.
///
/// Outcome rules (spec §9): `completed` with no asset is a failure; `partial_failure` with at
/// least one asset is `Partial`, with none a failure; a failure without any stated reason gets
/// a generic one so that reports never say nothing. Unknown status strings stay non-terminal.
/// Dimensions come from `output_assets` only: the `requests[]` echo holds preview sizes.
pub fn parse_envelope(value: &Value) -> Result<Snapshot, ProviderError> {
    let obj = value.as_object().ok_or_else(|| protocol("The answer is not a JSON object"))?;
    let request_id = match obj.get("request_id") {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let status_text = obj
        .get("status")
        .and_then(Value::as_str)
        .ok_or_else(|| protocol("The answer has no `status`"))?;
    let mut status = map_status(status_text);
    let poll_after_seconds = match obj.get("poll_after_seconds") {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    let empty = Vec::new();
    let echo = match obj.get("requests") {
        Some(Value::Array(a)) => a,
        None | Some(Value::Null) => &empty,
        Some(_) => return Err(protocol("`requests` is not a list")),
    };
    let responses = match obj.get("responses") {
        Some(Value::Array(a)) => a,
        None | Some(Value::Null) => &empty,
        Some(_) => return Err(protocol("`responses` is not a list")),
    };

    let mut assets = Vec::new();
    let mut errors = Vec::new();
    let mut credits: Option<Credits> = None;
    let mut model: Option<String> = None;
    for (position, response) in responses.iter().enumerate() {
        let item = item_index(response, echo, position);
        let before = errors.len();
        if let Some(list) = response.get("output_assets").and_then(Value::as_array) {
            for a in list {
                match parse_asset(item, a) {
                    Some(asset) => assets.push(asset),
                    None => errors.push(RemoteError {
                        item: Some(item),
                        code: None,
                        message: "An output has neither `original_data_url` nor `url`".to_owned(),
                        retryable: None,
                    }),
                }
            }
        }
        if let Some(e) = response.get("error").and_then(|e| remote_error(Some(item), e)) {
            errors.push(e);
        }
        let item_status = response.get("status").and_then(Value::as_str).map(map_status);
        if matches!(item_status, Some(RemoteStatus::Failed | RemoteStatus::Rejected))
            && errors.len() == before
        {
            errors.push(RemoteError {
                item: Some(item),
                code: None,
                message: format!(
                    "Item {item} {} without a stated reason",
                    status_word(item_status.as_ref())
                ),
                retryable: None,
            });
        }
        if let Some(meta) = response.get("metadata") {
            if let Some(c) = meta.get("credits_spent").and_then(credits_of) {
                credits = Some(credits.unwrap_or(Credits::ZERO) + c);
            }
            if model.is_none() {
                model = non_empty_str(meta.get("model"));
            }
        }
    }
    if model.is_none() {
        model = echo.first().and_then(|e| non_empty_str(e.get("model")));
    }
    if let Some(e) = obj.get("error").and_then(|e| remote_error(None, e)) {
        errors.push(e);
    }

    match status {
        RemoteStatus::Completed | RemoteStatus::Partial if assets.is_empty() => {
            errors.push(RemoteError {
                item: None,
                code: None,
                message: format!("The job ended as `{status_text}` but returned no output"),
                retryable: None,
            });
            status = RemoteStatus::Failed;
        }
        RemoteStatus::Failed | RemoteStatus::Rejected if errors.is_empty() => {
            errors.push(RemoteError {
                item: None,
                code: None,
                message: format!("The job ended as `{status_text}` without a stated reason"),
                retryable: None,
            });
        }
        _ => {}
    }

    Ok(Snapshot {
        request_id,
        status,
        poll_after_seconds,
        progress: None,
        assets,
        credits_spent: credits,
        errors,
        model,
        buttons: Vec::new(),
    })
}

fn status_word(s: Option<&RemoteStatus>) -> &'static str {
    match s {
        Some(RemoteStatus::Rejected) => "was rejected",
        _ => "failed",
    }
}

/// Reads `{"credits":"20814.0"}` exactly (a decimal string; a JSON number is accepted too).
pub fn parse_balance(value: &Value) -> Result<Credits, ProviderError> {
    let raw = match value.get("credits") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(protocol("The balance answer has no `credits`")),
    };
    raw.parse::<Credits>()
        .map_err(|e| protocol(format!("The balance `{raw}` cannot be read exactly: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use conjure_core::spec::{ImageFormat, MediaInput, VideoClipInput};

    fn url(u: &str) -> MediaInput {
        MediaInput::Url { url: u.to_owned() }
    }

    fn data(mime: &str, b64: &str) -> MediaInput {
        MediaInput::Data {
            source: "local.png".to_owned(),
            mime: mime.to_owned(),
            base64: b64.to_owned(),
            sha256: "00".repeat(32),
        }
    }

    fn image(model: &str) -> ImageItem {
        ImageItem {
            model: model.to_owned(),
            prompt: "a red fox".to_owned(),
            aspect_ratio: "1:1".to_owned(),
            format: ImageFormat::Png,
            inputs: vec![],
            negative_prompt: None,
            fast: false,
            uhd: false,
        }
    }

    fn video() -> VideoItem {
        VideoItem {
            model: "seedance-2-0-fast".to_owned(),
            prompt: "waves".to_owned(),
            duration_seconds: 5,
            aspect_ratio: "16:9".to_owned(),
            first_frame: None,
            last_frame: None,
            references: vec![],
            audio: vec![],
            videos: vec![],
        }
    }

    fn spec(items: Vec<Item>) -> JobSpec {
        JobSpec { provider: ProviderId::Katana, items }
    }

    #[test]
    fn plain_image_always_sends_aspect_and_format() {
        let w = build_request(&spec(vec![Item::Image(image("gpt-image-2"))])).unwrap();
        assert_eq!(w.method, "POST");
        assert_eq!(w.path, "/v1/generation-requests?wait=false");
        assert_eq!(
            w.body,
            json!({"requests":[{"id":"item-0","type":"image","model":"gpt-image-2",
                "prompt":"a red fox","aspect_ratio":"1:1","output_format":"png"}]})
        );
    }

    #[test]
    fn image_with_refs_negative_and_fast() {
        let mut i = image("nano-banana-2");
        i.inputs = vec![url("https://x.test/a.png"), data("image/png", "iVBORw==")];
        i.negative_prompt = Some("blurry".to_owned());
        i.fast = true;
        i.format = ImageFormat::Webp;
        let mut second = image("gen");
        second.uhd = true;
        second.negative_prompt = Some("  ".to_owned());
        let w = build_request(&spec(vec![Item::Image(i), Item::Image(second)])).unwrap();
        assert_eq!(
            w.body,
            json!({"requests":[
                {"id":"item-0","type":"image","model":"nano-banana-2","prompt":"a red fox",
                 "aspect_ratio":"1:1","output_format":"webp",
                 "image_urls":["https://x.test/a.png","data:image/png;base64,iVBORw=="],
                 "negative_prompt":"blurry","is_fast":true},
                {"id":"item-1","type":"image","model":"gen","prompt":"a red fox",
                 "aspect_ratio":"1:1","output_format":"png","is_uhd":true}
            ]})
        );
        let text = w.body.to_string();
        for banned in ["reference_assets", "\"output\"", "\"n\"", "is_uhd\":false"] {
            assert!(!text.contains(banned), "{banned} in {text}");
        }
    }

    #[test]
    fn video_with_frames_refs_audio_and_clips() {
        let mut v = video();
        v.first_frame = Some(url("https://x.test/ff.png"));
        v.last_frame = Some(data("image/jpeg", "/9j/"));
        v.references = vec![url("https://x.test/r1.png"), url("https://x.test/r2.png")];
        v.audio = vec![url("https://x.test/a.mp3")];
        v.videos = vec![
            VideoClipInput { input: url("https://x.test/v.mp4"), start: Some(1.5), end: Some(4.0) },
            VideoClipInput { input: url("https://x.test/w.mp4"), start: None, end: None },
        ];
        let w = build_request(&spec(vec![Item::Video(v)])).unwrap();
        assert_eq!(
            w.body,
            json!({"requests":[{"id":"item-0","type":"video","model":"seedance-2-0-fast",
            "prompt":"waves","duration_seconds":5,"aspect_ratio":"16:9",
            "video_image_data":{
                "first_frame_image_url":"https://x.test/ff.png",
                "last_frame_image_url":"data:image/jpeg;base64,/9j/",
                "reference_image_urls":["https://x.test/r1.png","https://x.test/r2.png"],
                "audio_input_urls":["https://x.test/a.mp3"],
                "video_list":[{"url":"https://x.test/v.mp4","start":1.5,"ends":4.0},
                              {"url":"https://x.test/w.mp4"}]
            }}]})
        );
    }

    #[test]
    fn empty_video_image_data_is_omitted() {
        let w = build_request(&spec(vec![Item::Video(video())])).unwrap();
        assert_eq!(
            w.body,
            json!({"requests":[{"id":"item-0","type":"video","model":"seedance-2-0-fast",
                "prompt":"waves","duration_seconds":5,"aspect_ratio":"16:9"}]})
        );
    }

    #[test]
    fn other_provider_or_no_items_is_unsupported() {
        let s = JobSpec { provider: ProviderId::ImaginePro, items: vec![] };
        assert!(matches!(build_request(&s), Err(ProviderError::Unsupported { .. })));
        assert!(matches!(build_request(&spec(vec![])), Err(ProviderError::Unsupported { .. })));
    }

    fn completed() -> Value {
        json!({
            "request_id": "req_123",
            "status": "completed",
            "poll_after_seconds": null,
            "requests": [{"id":"item-0","type":"image","model":"gpt-image-2","width":512,"height":512}],
            "responses": [{
                "id": "item-0",
                "status": "completed",
                "metadata": {"credits_spent": 38.5, "model": "gpt-image-2"},
                "output_assets": [{
                    "kind": "image", "mime_type": "image/png",
                    "original_data_url": "https://k.imgnai.com/full.png?sig=1",
                    "url": "https://k.imgnai.com/small.jpg?sig=2",
                    "width": 1024, "height": 1536,
                    "expires_at": "2026-08-04T10:00:00Z"
                }]
            }]
        })
    }

    #[test]
    fn completed_envelope() {
        let s = parse_envelope(&completed()).unwrap();
        assert_eq!(s.request_id.as_deref(), Some("req_123"));
        assert_eq!(s.status, RemoteStatus::Completed);
        assert_eq!(s.poll_after_seconds, None);
        assert_eq!(s.credits_spent, Some(Credits::from_tenths(385)));
        assert_eq!(s.model.as_deref(), Some("gpt-image-2"));
        assert!(s.errors.is_empty());
        assert_eq!(
            s.assets,
            vec![Asset {
                item: 0,
                kind: "image".to_owned(),
                mime: "image/png".to_owned(),
                url: "https://k.imgnai.com/full.png?sig=1".to_owned(),
                fallback_url: Some("https://k.imgnai.com/small.jpg?sig=2".to_owned()),
                width: Some(1024),
                height: Some(1536),
                duration_seconds: None,
                expires_at: Some("2026-08-04T10:00:00Z".to_owned()),
            }]
        );
    }

    #[test]
    fn missing_original_data_url_falls_back_to_url() {
        let mut v = completed();
        v["responses"][0]["output_assets"][0].as_object_mut().unwrap().remove("original_data_url");
        let s = parse_envelope(&v).unwrap();
        assert_eq!(s.assets[0].url, "https://k.imgnai.com/small.jpg?sig=2");
        assert_eq!(s.assets[0].fallback_url, None);
        // Dimensions never come from the requests[] echo.
        v["responses"][0]["output_assets"][0].as_object_mut().unwrap().remove("width");
        let s = parse_envelope(&v).unwrap();
        assert_eq!(s.assets[0].width, None);
    }

    #[test]
    fn completed_without_assets_is_a_failure() {
        let mut v = completed();
        v["responses"][0]["output_assets"] = json!([]);
        let s = parse_envelope(&v).unwrap();
        assert_eq!(s.status, RemoteStatus::Failed);
        assert_eq!(s.errors.len(), 1);
        assert!(s.errors[0].message.contains("no output"), "{:?}", s.errors);
    }

    #[test]
    fn partial_failure_with_one_asset_and_id_matching() {
        let v = json!({
            "request_id": "r", "status": "partial_failure",
            "requests": [{"id":"item-0","model":"gen"},{"id":"item-1","model":"gen"}],
            "responses": [
                {"id":"item-1","status":"failed","metadata":{"credits_spent":0},
                 "error":{"code":"content_blocked","message":"blocked","retryable":false}},
                {"id":"item-0","status":"completed","metadata":{"credits_spent":"14.0"},
                 "output_assets":[{"kind":"image","mime_type":"image/png","original_data_url":"https://a/0.png"}]}
            ]
        });
        let s = parse_envelope(&v).unwrap();
        assert_eq!(s.status, RemoteStatus::Partial);
        assert_eq!(s.assets.len(), 1);
        assert_eq!(s.assets[0].item, 0);
        assert_eq!(
            s.errors,
            vec![RemoteError {
                item: Some(1),
                code: Some("content_blocked".to_owned()),
                message: "blocked".to_owned(),
                retryable: Some(false)
            }]
        );
        assert_eq!(s.credits_spent, Some(Credits::whole(14)));

        let mut none = v.clone();
        none["responses"][1]["output_assets"] = json!([]);
        assert_eq!(parse_envelope(&none).unwrap().status, RemoteStatus::Failed);
    }

    #[test]
    fn responses_without_ids_match_by_index() {
        let v = json!({"request_id":"r","status":"completed","responses":[
            {"output_assets":[{"url":"https://a/0.png"}]},
            {"output_assets":[{"url":"https://a/1.png","mime_type":"image/webp"}]}
        ]});
        let s = parse_envelope(&v).unwrap();
        assert_eq!(s.assets.iter().map(|a| a.item).collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(s.assets[1].kind, "image");
        assert_eq!(s.credits_spent, None);
    }

    #[test]
    fn failed_with_bare_string_error_and_top_level_error() {
        let v = json!({"request_id":"r","status":"failed",
            "error":"upstream_error",
            "responses":[{"status":"failed","error":"generation_timed_out"}]});
        let s = parse_envelope(&v).unwrap();
        assert_eq!(s.status, RemoteStatus::Failed);
        let messages: Vec<_> = s.errors.iter().map(|e| (e.item, e.message.as_str())).collect();
        assert_eq!(messages, vec![(Some(0), "generation_timed_out"), (None, "upstream_error")]);
    }

    #[test]
    fn timed_out_error_object_keeps_code_and_retryable() {
        let v = json!({"request_id":"r","status":"failed","responses":[{"status":"failed",
            "error":{"code":"generation_timed_out","message":"timed out","retryable":true,
                     "details":{"timeout_seconds":600}}}]});
        let e = &parse_envelope(&v).unwrap().errors[0];
        assert_eq!(e.code.as_deref(), Some("generation_timed_out"));
        assert_eq!(e.retryable, Some(true));
    }

    #[test]
    fn rejected_without_reason_gets_one() {
        let v = json!({"request_id":"r","status":"rejected"});
        let s = parse_envelope(&v).unwrap();
        assert_eq!(s.status, RemoteStatus::Rejected);
        assert_eq!(s.errors.len(), 1);
        let v = json!({"status":"rejected","error":{"message":"prompt violates policy"}});
        let s = parse_envelope(&v).unwrap();
        assert_eq!(s.errors[0].message, "prompt violates policy");
        assert_eq!(s.request_id, None);
    }

    #[test]
    fn unknown_and_queued_statuses_are_not_terminal() {
        for (text, expected) in [
            ("processing", RemoteStatus::Processing),
            ("queued", RemoteStatus::Queued),
            ("warming_up", RemoteStatus::Other("warming_up".to_owned())),
        ] {
            let s = parse_envelope(&json!({"request_id":"r","status":text,"poll_after_seconds":4}))
                .unwrap();
            assert_eq!(s.status, expected);
            assert!(!s.status.is_terminal());
            assert_eq!(s.poll_after_seconds, Some(4.0));
        }
    }

    #[test]
    fn legacy_model_echo_reports_canonical_name() {
        // Sent the legacy key `gpt2image`; the answer names the canonical one.
        let mut v = completed();
        v["requests"][0]["model"] = json!("gpt2image");
        v["responses"][0]["metadata"]["model"] = json!("gpt-image-2");
        assert_eq!(parse_envelope(&v).unwrap().model.as_deref(), Some("gpt-image-2"));
        // No metadata model: the requests[] echo is used.
        v["responses"][0]["metadata"].as_object_mut().unwrap().remove("model");
        v["requests"][0]["model"] = json!("pink-image");
        assert_eq!(parse_envelope(&v).unwrap().model.as_deref(), Some("pink-image"));
    }

    #[test]
    fn video_asset_duration_and_credit_sum() {
        let v = json!({"request_id":"r","status":"completed","responses":[
            {"id":"item-0","metadata":{"credits_spent":0.1},"output_assets":[{"kind":"video","mime_type":"video/mp4",
              "original_data_url":"https://a/v.mp4","url":"https://a/v.mp4","duration_seconds":5.04,
              "width":1280,"height":720}]},
            {"id":"item-1","metadata":{"credits_spent":0.2},"output_assets":[{"url":"https://a/w.mp4"}]}
        ]});
        let s = parse_envelope(&v).unwrap();
        assert_eq!(s.assets[0].duration_seconds, Some(5.04));
        assert_eq!(s.assets[0].fallback_url, None);
        assert_eq!(s.credits_spent, Some(Credits::from_tenths(3)));
    }

    #[test]
    fn malformed_envelopes_are_protocol_errors() {
        for v in
            [json!([]), json!({"request_id":"r"}), json!({"status":"completed","responses":{}})]
        {
            assert!(matches!(parse_envelope(&v), Err(ProviderError::Protocol { .. })), "{v}");
        }
    }

    #[test]
    fn balance_is_exact() {
        assert_eq!(
            parse_balance(&json!({"credits":"20814.0"})).unwrap(),
            Credits::from_tenths(208_140)
        );
        assert_eq!(
            parse_balance(&json!({"credits":"1234.5"})).unwrap(),
            Credits::from_tenths(12_345)
        );
        assert_eq!(parse_balance(&json!({"credits":200.0})).unwrap(), Credits::whole(200));
        assert!(matches!(
            parse_balance(&json!({"credits":"12.34"})),
            Err(ProviderError::Protocol { .. })
        ));
        assert!(matches!(parse_balance(&json!({})), Err(ProviderError::Protocol { .. })));
    }

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
