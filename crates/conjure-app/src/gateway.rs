//! The CLI through a team gateway (`--gateway URL`): conjure's own API of `conjure serve`
//! as a [`Provider`], so that a request sent through a gateway takes the same paid path as one
//! sent to a provider: quoted, approved, reserved in the local journal before the one POST,
//! polled, and delivered to disk, with the same exit codes and JSON.
//!
//! - [`GatewayClient::quote`] asks the gateway for its quote of a request (`POST
//!   /conjure/v1/quote`, nothing sent): the price the gateway charges against the member's
//!   budgets, with the gateway's approval token. The front end puts that quote into its local
//!   order, so the person approves the gateway's price, and `--approve TOKEN` takes the token the
//!   gateway issued.
//! - [`GatewayConnector`] connects every provider to the gateway: its [`GatewayProvider`]'s
//!   submit is `POST /conjure/v1/jobs` with the approved token (the gateway sends it upstream
//!   once; a token is used once there too), poll is `GET /conjure/v1/jobs/{id}`, download is
//!   `GET /conjure/v1/jobs/{id}/outputs/{n}`. The member key goes to the gateway's own URLs
//!   only, never elsewhere.
//! - `conjure text` takes the same path, not the gateway's `/v1/chat/completions`: that
//!   endpoint is for clients that cannot approve (a member's pre-approval or a 402), so the
//!   laptop's quote -> approve protocol, its approval token used once and its journal entry
//!   before the spend would each need a second route. Through the own API a text request is
//!   quoted like media (the reserve), and its spend answers with the answer's pieces as JSON
//!   lines, handed to the runner's stream sink verbatim as they arrive, then the finished job;
//!   a stream cut upstream ends with `outcome_unknown`, one cut on the way is the same for the
//!   laptop: the job is `unknown`, the pieces already printed are its partial answer.
//!
//! - [`inline_local_inputs`] turns the local files of a request (`--ref`, `--first-frame`,
//!   `--last-frame`, `--audio`, `--image`) into `data:` URLs before it is quoted: the gateway cannot read
//!   the laptop's disk, and takes inputs inline. A file gets the same checks as on the local path
//!   (content sniffed and decoded, [`crate::inputs::MAX_INLINE_BYTES`]). Only what is sent to
//!   the gateway is inlined: the laptop's order keeps its files by reference, so its journal holds
//!   their hashes, not their bytes, and a request's fingerprint counts an input by its content,
//!   so the gateway's quote of the inlined request binds the same sha256s.
//!   Providers that take URLs only are left alone: they refuse a path with their own hint.
//!
//! The key is a member key (`cjm_...`) from `CONJURE_GATEWAY_KEY`, else conjure's credentials
//! file (`conjure_providers::credentials::conjure_credentials_file`, line
//! `CONJURE_GATEWAY_KEY=...`); never from a flag, so it stays out of the process list.
//!
//! Not here: the money rules (the journal and the gateway's store decide), flags and printing.

use std::path::Path;
use std::sync::{Arc, Mutex};

use conjure_core::provider::{Downloaded, ProviderError, Snapshot};
use conjure_core::text::Delta;
use conjure_core::{MediaKind, Provider, ProviderId, Quote};
use conjure_providers::http::{self, Failure, PlainHttp};
use conjure_providers::secret::Secret;
use futures_util::StreamExt as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt as _;

use crate::config::Config;
use crate::error::{AppError, ErrorKind};
use crate::session::Connector;

/// The environment variable with the member key.
pub const KEY_VAR: &str = conjure_core::env::CONJURE_GATEWAY_KEY;

/// A gateway and the member key to use it with.
#[derive(Clone)]
pub struct GatewayClient {
    base: url::Url,
    key: Secret,
    client: reqwest::Client,
    /// The whole-call deadline of an API call (`CONJURE_HTTP_TIMEOUT`).
    timeout: std::time::Duration,
    /// What the next submit sends: the approved token and the request it was quoted for.
    pending: Arc<Mutex<Option<(String, Value)>>>,
}

impl std::fmt::Debug for GatewayClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayClient").field("base", &self.base.as_str()).finish_non_exhaustive()
    }
}

/// The member key: the environment, else conjure's credentials file.
fn member_key(config: &Config) -> Result<Secret, AppError> {
    let missing = || {
        AppError::new(ErrorKind::Credentials, "No member key for the gateway").hint(format!(
            "set {KEY_VAR} to the key the gateway's admin gave you (`cjm_...`), or put `{KEY_VAR}=...` in `{}` (mode 600)",
            conjure_providers::credentials::conjure_credentials_file(&config.config_dir).display()
        ))
    };
    if let Some(k) = config.env.get(KEY_VAR).map(|k| k.trim()).filter(|k| !k.is_empty()) {
        return Ok(Secret::new(k));
    }
    let path = conjure_providers::credentials::conjure_credentials_file(&config.config_dir);
    let Ok(text) = std::fs::read_to_string(&path) else { return Err(missing()) };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if std::fs::metadata(&path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0) {
            return Err(AppError::new(
                ErrorKind::Credentials,
                format!("`{}` can be read by other users; its keys are not used", path.display()),
            )
            .hint(format!("run `chmod 600 {}`", path.display())));
        }
    }
    let values = conjure_providers::credentials::parse_env_file(&text).map_err(|line| {
        AppError::new(
            ErrorKind::Credentials,
            format!("`{}` line {line} is not KEY=VALUE", path.display()),
        )
        .hint("fix or remove that line")
    })?;
    values
        .get(KEY_VAR)
        .map(|k| k.trim())
        .filter(|k| !k.is_empty())
        .map(Secret::new)
        .ok_or_else(missing)
}

/// `request` with every local-file input replaced by a `data:` URL of its bytes, checked as a
/// local input is (kind, header, size cap). URLs and `data:` values pass unchanged; so does
/// every input of a provider that takes URLs only (its own check refuses a path, with its hint).
pub fn inline_local_inputs(request: &mut crate::Request) -> Result<(), AppError> {
    use base64::Engine as _;
    use conjure_core::spec::{InputKind, MediaInput};
    let inline = |value: &mut String, kind: InputKind, flag: &str| -> Result<(), AppError> {
        let lower = value.trim().to_ascii_lowercase();
        if lower.contains("://") || lower.starts_with("data:") {
            return Ok(());
        }
        let MediaInput::File(file) = crate::inputs::resolve(value, kind, flag)? else {
            return Ok(());
        };
        let bytes = std::fs::read(&file.path).map_err(|e| {
            AppError::invalid(format!("`{flag} {value}`: cannot read the file: {e}"))
                .hint("check the path, or pass an https:// URL")
        })?;
        // Read twice: what is inlined must be what was checked.
        if !file.holds(&bytes) {
            return Err(AppError::invalid(format!("`{flag} {value}` changed while it was read"))
                .hint("run the command again once the file is written"));
        }
        let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
        *value = format!("data:{};base64,{b64}", file.mime);
        Ok(())
    };
    match request {
        crate::Request::Image(r) => {
            if !conjure_providers::registry::capabilities(r.provider).inline_inputs {
                return Ok(());
            }
            for v in &mut r.refs {
                inline(v, InputKind::Image, "--ref")?;
            }
        }
        crate::Request::Video(r) => {
            if !conjure_providers::registry::capabilities(r.provider).inline_inputs {
                return Ok(());
            }
            if let Some(v) = &mut r.first_frame {
                inline(v, InputKind::Image, "--first-frame")?;
            }
            if let Some(v) = &mut r.last_frame {
                inline(v, InputKind::Image, "--last-frame")?;
            }
            for v in &mut r.refs {
                inline(v, InputKind::Image, "--ref")?;
            }
            for v in &mut r.audio {
                inline(v, InputKind::Audio, "--audio")?;
            }
        }
        crate::Request::Text(r) => {
            if !conjure_providers::registry::capabilities(r.provider).inline_inputs {
                return Ok(());
            }
            for v in &mut r.images {
                inline(v, InputKind::Image, "--image")?;
            }
            // The conversation `--continue` carries: its earlier images are local files by
            // reference, read again and sent only if they still have the bytes first sent.
            for part in r.history.iter_mut().flat_map(|m| &mut m.content) {
                if let conjure_core::text::Part::Image { input } = part
                    && let MediaInput::File(file) = input
                {
                    *input = inline_earlier(file)?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// An image of an earlier turn, kept by reference, as inline bytes for the gateway: only if the
/// file still holds what was sent then.
fn inline_earlier(
    file: &conjure_core::spec::FileRef,
) -> Result<conjure_core::spec::MediaInput, AppError> {
    use base64::Engine as _;
    let gone = |why: &str| {
        AppError::invalid(format!(
            "An image of the conversation, `{}`, {why}; nothing was sent",
            file.path
        ))
        .hint("continue without it (start a new conversation), or put the file back as it was")
    };
    let bytes = std::fs::read(&file.path).map_err(|_| gone("cannot be read any more"))?;
    if !file.holds(&bytes) {
        return Err(gone("has changed since it was sent"));
    }
    Ok(conjure_core::spec::MediaInput::Data {
        source: file.path.clone(),
        mime: file.mime.clone(),
        base64: base64::engine::general_purpose::STANDARD.encode(&bytes),
        sha256: file.sha256.clone(),
    })
}

/// The error a gateway answered with, as the application's error (and so the CLI's exit code).
fn answered(status: u16, body: &Value) -> AppError {
    let code = body["error"]["code"].as_str().unwrap_or("");
    let message = body["error"]["message"]
        .as_str()
        .or_else(|| body["detail"].as_str())
        .map_or_else(|| format!("The gateway answered HTTP {status}"), str::to_owned);
    let kind = match code {
        "budget_exceeded" | "refused" => ErrorKind::OverBudget,
        "unauthorized" | "member_key_required" => ErrorKind::Credentials,
        "approval_required" => ErrorKind::ConfirmationRequired,
        "outcome_unknown" => ErrorKind::OutcomeUnknown,
        "gateway_credentials" | "upstream_failed" | "rate_limited" | "rejected" => {
            ErrorKind::ProviderFailed
        }
        _ if (400..500).contains(&status) => ErrorKind::InvalidInput,
        _ => ErrorKind::Error,
    };
    let mut err = AppError::new(kind, format!("The gateway: {message}"));
    if let Some(hint) = body["error"]["hint"].as_str() {
        err = err.hint(hint);
    }
    err
}

/// An error answer as the runner's provider error: refusals before anything was sent are
/// `Rejected` (nothing charged); an answer that says the job's outcome is unknown, or that the
/// token already sent a job, is a request that may have cost money.
fn provider_error(status: u16, headers: &reqwest::header::HeaderMap, body: &[u8]) -> ProviderError {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let code = value["error"]["code"].as_str().unwrap_or("");
    let message = http::error_message(body);
    match code {
        "outcome_unknown" | "approval_used" => {
            ProviderError::Transport { sent: true, message: format!("the gateway: {message}") }
        }
        "budget_exceeded" | "refused" | "duplicate" | "quote_changed" | "no_such_quote"
        | "token_mismatch" => ProviderError::Rejected { status, message },
        _ => http::classify(Failure::Status {
            status: reqwest::StatusCode::from_u16(status)
                .unwrap_or(reqwest::StatusCode::BAD_GATEWAY),
            headers,
            body,
        }),
    }
}

impl GatewayClient {
    /// A client of the gateway at `url` (https://, or http:// on loopback), with the member key
    /// from `config`.
    pub fn new(url: &str, config: &Config) -> Result<GatewayClient, AppError> {
        let base = http::normalize_base_url(url, PlainHttp::Refuse).map_err(|e| {
            AppError::invalid(format!("The gateway URL is not usable: {e}"))
                .hint("give --gateway (or CONJURE_GATEWAY) as https://HOST[:PORT]; http:// only for a gateway on this machine")
        })?;
        let key = member_key(config)?;
        let client = http::api_client(&config.http, &base)
            .map_err(|e| AppError::other(format!("Cannot start an HTTP client: {e}")))?;
        let timeout = config.http.request_timeout;
        Ok(GatewayClient { base, key, client, timeout, pending: Arc::new(Mutex::new(None)) })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base.as_str().trim_end_matches('/'))
    }

    /// Whether `url` is on this gateway (the only place the member key is sent).
    fn ours(&self, url: &str) -> bool {
        url::Url::parse(url).is_ok_and(|u| {
            u.scheme() == self.base.scheme()
                && u.host_str() == self.base.host_str()
                && u.port_or_known_default() == self.base.port_or_known_default()
        })
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(u16, reqwest::header::HeaderMap, Vec<u8>), ProviderError> {
        let response = request
            .bearer_auth(self.key.expose())
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| http::classify(Failure::Transport(e)))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(|e| http::classify(Failure::Transport(e)))?;
        Ok((status, headers, body.to_vec()))
    }

    /// The gateway's quote of `request` (conjure's request JSON): nothing is sent upstream.
    pub async fn quote(&self, request: &Value, again: bool) -> Result<Quote, AppError> {
        let body = json!({"request": request, "again": again});
        let (status, _, bytes) = self
            .send(self.client.post(self.url("/conjure/v1/quote")).json(&body))
            .await
            .map_err(|e| {
                AppError::new(ErrorKind::Error, format!("Cannot reach the gateway: {e}"))
                    .hint("check --gateway (or CONJURE_GATEWAY) and that the gateway is running; nothing was sent")
            })?;
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status != 200 {
            return Err(answered(status, &value));
        }
        serde_json::from_value(value["quote"].clone()).map_err(|e| {
            AppError::other(format!("The gateway's quote is not one this conjure reads: {e}"))
                .hint("use a conjure of the gateway's version")
        })
    }

    /// What the next submit sends: the approved `token` and the `request` it was quoted for.
    pub fn prepare_submit(&self, token: &str, request: Value) {
        if let Ok(mut p) = self.pending.lock() {
            *p = Some((token.trim().to_owned(), request));
        }
    }

    fn snapshot_of(value: &Value) -> Result<Snapshot, ProviderError> {
        serde_json::from_value(value["snapshot"].clone()).map_err(|e| ProviderError::Protocol {
            message: format!("the gateway's job has no readable snapshot: {e}"),
        })
    }
}

/// Connects every provider through one gateway.
#[derive(Clone, Debug)]
pub struct GatewayConnector(pub GatewayClient);

impl Connector for GatewayConnector {
    type Provider = GatewayProvider;

    fn connect(&self, _config: &Config, provider: ProviderId) -> Result<GatewayProvider, AppError> {
        Ok(GatewayProvider { client: self.0.clone(), id: provider })
    }
}

/// One provider, reached through the gateway.
#[derive(Clone, Debug)]
pub struct GatewayProvider {
    client: GatewayClient,
    id: ProviderId,
}

impl GatewayProvider {
    /// The one POST of an approved quote (`POST /conjure/v1/jobs`). A job answers with its
    /// JSON; a text answer that streams comes as JSON lines (see the gateway's `own` module),
    /// each piece handed to `sink` verbatim as it arrives, then the finished job. Once the
    /// gateway has taken the request every failure is `sent: true`: the money may be spent.
    async fn spend(
        &self,
        sink: &(dyn Fn(Delta<'_>) + Send + Sync),
    ) -> Result<Snapshot, ProviderError> {
        let pending = self.client.pending.lock().ok().and_then(|mut p| p.take());
        let Some((token, request)) = pending else {
            return Err(ProviderError::Local {
                message: "no approved gateway quote to send; nothing was sent".into(),
            });
        };
        let body = json!({"token": token, "request": request});
        let url = self.client.url("/conjure/v1/jobs");
        let request =
            self.client.client.post(url).json(&body).bearer_auth(self.client.key.expose());
        // The deadline covers the answer's head; a streamed answer may take longer than that.
        let response = match tokio::time::timeout(self.client.timeout, request.send()).await {
            Ok(sent) => sent.map_err(|e| http::classify(Failure::Transport(e)))?,
            Err(_) => {
                return Err(ProviderError::Transport {
                    sent: true,
                    message: format!(
                        "the gateway did not answer within {} s",
                        self.client.timeout.as_secs()
                    ),
                });
            }
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let lost = |e: &dyn std::fmt::Display| ProviderError::Transport {
            sent: true,
            message: format!("the gateway's answer was cut ({e})"),
        };
        let streamed = headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-ndjson"));
        if !streamed {
            let read = tokio::time::timeout(self.client.timeout, response.bytes()).await;
            let bytes = match read {
                Ok(Ok(b)) => b,
                Ok(Err(e)) if status == 201 => return Err(lost(&e)),
                Ok(Err(e)) => return Err(http::classify(Failure::Transport(e))),
                Err(_) => return Err(lost(&"no whole answer in time")),
            };
            if status != 201 {
                return Err(provider_error(status, &headers, &bytes));
            }
            let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
                // The gateway took it (201): what it said is lost, the money may be spent.
                ProviderError::Transport {
                    sent: true,
                    message: format!("the gateway's answer is not JSON ({e})"),
                }
            })?;
            return GatewayClient::snapshot_of(&value)
                .map_err(|e| ProviderError::Transport { sent: true, message: e.to_string() });
        }
        let mut stream = response.bytes_stream();
        let mut buf: Vec<u8> = Vec::new();
        loop {
            while let Some(end) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=end).collect();
                let value: Value = serde_json::from_slice(&line).map_err(|e| lost(&e))?;
                if let Some(id) = value["started"].as_str() {
                    sink(Delta::Started { request_id: id });
                } else if let Some(piece) = value["answer"].as_str() {
                    sink(Delta::Answer(piece));
                } else if let Some(piece) = value["reasoning"].as_str() {
                    sink(Delta::Reasoning(piece));
                } else if value.get("job").is_some() {
                    return GatewayClient::snapshot_of(&value["job"]).map_err(|e| {
                        ProviderError::Transport { sent: true, message: e.to_string() }
                    });
                } else if value.get("error").is_some() {
                    return Err(ProviderError::Transport {
                        sent: true,
                        message: format!("the gateway: {}", http::error_message(&line)),
                    });
                }
            }
            match stream.next().await {
                Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
                Some(Err(e)) => return Err(lost(&e)),
                None => return Err(lost(&"it ended before the job's outcome")),
            }
        }
    }
}

impl Provider for GatewayProvider {
    fn id(&self) -> ProviderId {
        self.id
    }

    async fn submit(
        &self,
        _request: &conjure_core::provider::WireRequest,
    ) -> Result<Snapshot, ProviderError> {
        self.spend(&|_| {}).await
    }

    async fn submit_streaming(
        &self,
        _request: &conjure_core::provider::WireRequest,
        sink: &(dyn Fn(Delta<'_>) + Send + Sync),
    ) -> Result<Snapshot, ProviderError> {
        self.spend(sink).await
    }

    async fn poll(&self, request_id: &str, _kind: MediaKind) -> Result<Snapshot, ProviderError> {
        let url = self.client.url(&format!("/conjure/v1/jobs/{request_id}"));
        let (status, headers, bytes) = self.client.send(self.client.client.get(url)).await?;
        if status != 200 {
            return Err(provider_error(status, &headers, &bytes));
        }
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| ProviderError::Protocol {
            message: format!("the gateway's answer is not JSON ({e})"),
        })?;
        GatewayClient::snapshot_of(&value)
    }

    async fn download(&self, url: &str, dest: &Path) -> Result<Downloaded, ProviderError> {
        if !self.client.ours(url) {
            return Err(ProviderError::Unsupported {
                message: format!(
                    "Refusing to send the member key to `{}`, which is not the gateway",
                    http::redact_url(url)
                ),
            });
        }
        let response = self
            .client
            .client
            .get(url)
            .bearer_auth(self.client.key.expose())
            .send()
            .await
            .map_err(|e| http::classify(Failure::Transport(e)))?;
        let status = response.status();
        if !status.is_success() {
            let headers = response.headers().clone();
            let body = response.bytes().await.unwrap_or_default();
            return Err(provider_error(status.as_u16(), &headers, &body));
        }
        let mime = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let local = |e: std::io::Error| ProviderError::Local {
            message: format!("Could not write `{}`: {e}", dest.display()),
        };
        let mut file = tokio::fs::File::create(dest).await.map_err(local)?;
        let mut hasher = Sha256::new();
        let mut bytes: u64 = 0;
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| http::classify(Failure::Transport(e)))?;
            hasher.update(&chunk);
            bytes += chunk.len() as u64;
            file.write_all(&chunk).await.map_err(local)?;
        }
        file.flush().await.map_err(local)?;
        file.sync_all().await.map_err(local)?;
        Ok(Downloaded { bytes, sha256: hex::encode(hasher.finalize()), mime })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_answers_map_to_the_clis_error_kinds() {
        let e = |code: &str, status| {
            answered(status, &json!({"error": {"code": code, "message": "m", "hint": "h"}})).kind
        };
        assert_eq!(e("budget_exceeded", 403), ErrorKind::OverBudget);
        assert_eq!(e("unauthorized", 401), ErrorKind::Credentials);
        assert_eq!(e("duplicate", 409), ErrorKind::InvalidInput);
        assert_eq!(e("outcome_unknown", 502), ErrorKind::OutcomeUnknown);
        let err = answered(
            403,
            &json!({"error": {"code": "budget_exceeded", "message": "over", "hint": "wait"}}),
        );
        assert_eq!(err.hint.as_deref(), Some("wait"));
    }

    #[test]
    fn a_conversations_earlier_images_travel_inline_only_while_unchanged() {
        use conjure_core::spec::{FileRef, MediaInput};
        use conjure_core::text::{Message, Part, Role};
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("seen.png");
        std::fs::write(&p, crate::inputs::tests::png()).unwrap();
        let file = FileRef {
            path: p.to_str().unwrap().to_owned(),
            mime: "image/png".into(),
            sha256: hex::encode(Sha256::digest(crate::inputs::tests::png())),
            bytes: crate::inputs::tests::png().len() as u64,
        };
        let with_history = || {
            let mut text = crate::TextRequest::new("and this one?");
            text.history = vec![Message {
                role: Role::User,
                content: vec![Part::Image { input: MediaInput::File(file.clone()) }],
                plain: false,
            }];
            crate::Request::Text(text)
        };
        let mut request = with_history();
        inline_local_inputs(&mut request).unwrap();
        let crate::Request::Text(r) = &request else { unreachable!() };
        let Part::Image { input: MediaInput::Data { sha256, base64, .. } } =
            &r.history[0].content[0]
        else {
            panic!("inlined: {:?}", r.history[0].content[0]);
        };
        assert_eq!(sha256, &file.sha256);
        let decoded = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, base64);
        assert_eq!(decoded.unwrap(), crate::inputs::tests::png());
        // Changed since it was sent: refused with what to do, not sent as it is now.
        std::fs::write(&p, b"other bytes").unwrap();
        let err = inline_local_inputs(&mut with_history()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInput);
        assert!(err.message.contains("changed"), "{}", err.message);
        assert!(err.hint.is_some());
    }

    #[test]
    fn local_inputs_travel_inline_checked_and_urls_pass_unchanged() {
        use crate::inputs::tests::{png, wav};
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.png");
        std::fs::write(&p, png()).unwrap();
        let w = dir.path().join("a.wav");
        std::fs::write(&w, wav()).unwrap();
        let path = p.to_str().unwrap().to_owned();
        let mut image = crate::ImageRequest::new("x");
        image.refs = vec![path.clone(), "https://example.com/r.png".into()];
        let mut request = crate::Request::Image(image);
        inline_local_inputs(&mut request).unwrap();
        let crate::Request::Image(r) = &request else { unreachable!() };
        let inline = r.refs[0].strip_prefix("data:image/png;base64,").expect("a data URL");
        let decoded = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, inline);
        assert_eq!(decoded.unwrap(), png());
        assert_eq!(r.refs[1], "https://example.com/r.png");

        let mut video = crate::VideoRequest::new("waves");
        video.first_frame = Some(path.clone());
        video.audio = vec![w.to_str().unwrap().to_owned()];
        let mut request = crate::Request::Video(video);
        inline_local_inputs(&mut request).unwrap();
        let crate::Request::Video(r) = &request else { unreachable!() };
        assert!(r.first_frame.as_deref().unwrap().starts_with("data:image/png;base64,"));
        assert!(r.audio[0].starts_with("data:audio/wav;base64,"));

        // Checked as a local input is: a WAV given as an image is refused, naming the flag.
        let mut text = crate::TextRequest::new("what is this?");
        text.images = vec![w.to_str().unwrap().to_owned()];
        let err = inline_local_inputs(&mut crate::Request::Text(text)).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInput);
        assert!(err.message.contains("--image"), "{}", err.message);

        // A provider that takes URLs only keeps the path (its own check refuses it).
        let mut image = crate::ImageRequest::new("x");
        image.provider = ProviderId::ImaginePro;
        image.refs = vec![path.clone()];
        let mut request = crate::Request::Image(image);
        inline_local_inputs(&mut request).unwrap();
        let crate::Request::Image(r) = &request else { unreachable!() };
        assert_eq!(r.refs[0], path);
    }

    #[test]
    fn an_answer_that_may_have_cost_money_is_never_a_refusal() {
        let h = reqwest::header::HeaderMap::new();
        for code in ["outcome_unknown", "approval_used"] {
            let body = json!({"error": {"code": code, "message": "m"}}).to_string();
            assert!(
                matches!(
                    provider_error(409, &h, body.as_bytes()),
                    ProviderError::Transport { sent: true, .. }
                ),
                "{code}"
            );
        }
        let body = json!({"error": {"code": "budget_exceeded", "message": "m"}}).to_string();
        assert!(matches!(provider_error(403, &h, body.as_bytes()), ProviderError::Rejected { .. }));
    }
}
