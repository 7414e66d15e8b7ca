//! The typed JSON shape of every result, one struct per schema, so that `--json` output (and
//! an MCP server's answers) cannot drift between commands. The CLI's snapshots pin them.
//!
//! - [`JobView`]: a job, wherever one is printed (results, `status`, each line of `jobs`).
//! - [`QuoteView`]: a quote or a `confirmation_required` answer, with the exact request.
//! - [`JobsView`]: the journal (`jobs`), with totals and what uncertain jobs may have cost.
//! - [`BalanceView`]: a provider balance.
//! - [`ModelsView`]: the catalogue with dollar prices (`models`); the refresh, diff, staleness
//!   check and attestation views live with their operations in `catalogue` and `attest`.
//! - [`ConfigView`]: the resolved settings, where each came from, and whether credentials are
//!   present (`config`); never a credential's value.
//! - [`OpenView`]: a job's delivered files (`open`).
//! - [`ErrorView`]: any failure, with the exit code's `kind`.
//!
//! Times are RFC 3339 in UTC everywhere and file paths are absolute. Dollars are at the job's own quoted price per credit,
//! absent when the provider has no dollar price. Inline data in a request body is shortened to
//! its size; credentials never appear (headers are shown as `****`).

use std::collections::BTreeMap;
use std::time::Duration;

use conjure_core::catalogue::{Model, Pricing};
use conjure_core::spec::FILE_REF_PREFIX;
use conjure_core::store::ProviderTotals;
use conjure_core::{
    CreditPrice, Credits, JobId, JobRecord, JobState, MediaKind, OutputRecord, ProviderId, Quote,
    Usd, WireRequest,
};
use conjure_providers::registry;
use serde::Serialize;
use serde_json::Value;

use crate::deliver::job_usd;
use crate::timefmt::{rfc3339_ms, seconds_until};

/// One output file.
#[derive(Clone, Debug, Serialize)]
pub struct OutputView {
    pub path: String,
    pub url: String,
    pub mime: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_seconds: Option<f64>,
    pub sha256: String,
    pub expires_at: Option<String>,
}

impl From<&OutputRecord> for OutputView {
    fn from(o: &OutputRecord) -> Self {
        OutputView {
            path: o.path.clone(),
            url: o.url.clone(),
            mime: o.mime.clone(),
            width: o.width,
            height: o.height,
            duration_seconds: o.duration_seconds,
            sha256: o.sha256.clone(),
            expires_at: o.expires_at.clone(),
        }
    }
}

/// Warnings a result must carry: a charge above the quote.
fn warnings(job: &JobRecord) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(extra) = job.charged_above_quote() {
        out.push(format!(
            "the provider charged {} credits, {extra} more than the quote of {}",
            job.credits(),
            job.quoted_credits
        ));
    }
    if let Some(text) = text_answer(job) {
        out.extend(text.warnings);
    }
    out
}

/// A job, the one shape every command prints it in: a result (`image`, `video`, `submit`,
/// `retry`, `wait`, `fetch`), `status`, and each line of `jobs`.
///
/// `credits` is what the provider reported as charged, else the quote (`charged_credits` is the
/// report alone, `null` until there is one); `usd` is at the job's own quoted price per credit.
/// `elapsed_seconds` is in results only, `refreshed` in `status` only.
#[derive(Clone, Debug, Serialize)]
pub struct JobView {
    pub job_id: JobId,
    pub provider: ProviderId,
    pub kind: MediaKind,
    pub model: String,
    pub prompt: String,
    pub status: JobState,
    pub request_id: Option<String>,
    pub credits: Credits,
    pub usd: Option<Usd>,
    pub quoted_credits: Credits,
    pub quoted_usd: Option<Usd>,
    pub charged_credits: Option<Credits>,
    pub created_at: String,
    pub error: Option<String>,
    pub retry_of: Option<JobId>,
    pub outputs: Vec<OutputView>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub undelivered: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elapsed_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refreshed: Option<bool>,
    /// Sent to the offline sandbox (`conjure demo`): placeholder media, no real money, not in
    /// the totals or budgets.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub sandbox: bool,
    /// A text job's answer and what it cost (absent for media).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub text: Option<TextView>,
    /// The job this one was made from by a button press (ImaginePro).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<JobId>,
    /// The button pressed on the parent (`U1`, `reroll`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub button: Option<String>,
    /// The buttons this job's result offers, by the names `conjure button` takes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<String>,
    /// The reference given with `--tag`, echoed by the provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Parent, children and buttons with what they made (`status` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lineage: Option<crate::lineage::LineageView>,
}

/// Tokens a text job used.
#[derive(Clone, Debug, Serialize)]
pub struct UsageView {
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
}

/// A text job's answer, verbatim, and its billing: the reserve taken up front, the charge, the
/// refund (`None` until the provider reports them).
#[derive(Clone, Debug, Serialize)]
pub struct TextView {
    pub answer: String,
    pub reasoning: String,
    pub usage: UsageView,
    pub credits_reserved: Option<Credits>,
    pub credits_charged: Option<Credits>,
    pub credits_refunded: Option<Credits>,
    /// The privacy tier: as the provider reported it, else the catalogue's.
    pub privacy: Option<String>,
    pub finish_reason: Option<String>,
    /// The answer stopped short: the stream was cut (the job is then `unknown`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
}

/// The text answer recorded for `job`, whole or partial.
pub fn text_answer(job: &JobRecord) -> Option<conjure_core::text::TextAnswer> {
    let v = job.last_snapshot.as_ref()?.get("text")?;
    serde_json::from_value(v.clone()).ok()
}

impl TextView {
    /// `None` for media jobs. A text job without an answer yet has an empty one.
    pub fn of(job: &JobRecord) -> Option<TextView> {
        if job.kind != MediaKind::Text {
            return None;
        }
        let text = text_answer(job).unwrap_or_default();
        let usage = text.usage.clone().unwrap_or_default();
        let privacy = usage.privacy_mode.clone().or_else(|| {
            conjure_core::Catalogue::bundled()
                .resolve(job.provider, Some(MediaKind::Text), &job.model)
                .ok()
                .and_then(|m| m.privacy)
                .map(|p| p.label().to_owned())
        });
        Some(TextView {
            answer: text.answer,
            reasoning: text.reasoning,
            usage: UsageView {
                prompt_tokens: usage.prompt_tokens,
                completion_tokens: usage.completion_tokens,
            },
            credits_reserved: usage.credits_reserved,
            credits_charged: usage.credits_charged,
            credits_refunded: usage.credits_refunded,
            privacy,
            finish_reason: text.finish_reason,
            partial: text.partial,
        })
    }
}

impl JobView {
    /// The job as the journal has it, with its delivered outputs.
    pub fn of(job: &JobRecord) -> JobView {
        let credits = job.credits();
        JobView {
            job_id: job.id.clone(),
            provider: job.provider,
            kind: job.kind,
            model: job.model.clone(),
            prompt: job.prompt.clone(),
            status: job.state,
            request_id: job.request_id.clone(),
            credits,
            usd: job_usd(job, credits),
            quoted_credits: job.quoted_credits,
            quoted_usd: job.quoted_usd,
            charged_credits: job.credits_spent,
            created_at: rfc3339_ms(job.created_at),
            error: job.error.clone(),
            retry_of: job.retry_of.clone(),
            outputs: job.outputs.iter().map(OutputView::from).collect(),
            undelivered: job.is_undelivered(),
            hint: attention(job),
            warnings: warnings(job),
            elapsed_seconds: None,
            refreshed: None,
            sandbox: job.sandbox,
            text: TextView::of(job),
            parent: job.parent.clone(),
            button: crate::lineage::pressed(job),
            buttons: crate::lineage::offered(job)
                .iter()
                .map(|w| conjure_providers::imaginepro::button_name(w))
                .collect(),
            tag: job.spec.hooks.tag.clone(),
            lineage: None,
        }
    }

    /// A result: the job with the files just delivered and how long it took.
    pub fn new(job: &JobRecord, outputs: &[OutputRecord], elapsed: Duration) -> JobView {
        JobView {
            outputs: outputs.iter().map(OutputView::from).collect(),
            elapsed_seconds: Some((elapsed.as_secs_f64() * 10.0).round() / 10.0),
            ..JobView::of(job)
        }
    }
}

/// The exact request a quote is for: `method, url, headers, body`.
#[derive(Clone, Debug, Serialize)]
pub struct RequestView {
    pub method: String,
    pub url: String,
    pub headers: BTreeMap<&'static str, &'static str>,
    pub body: Value,
}

impl RequestView {
    pub fn new(provider: ProviderId, wire: &WireRequest, base_url: &str) -> RequestView {
        let mut headers: BTreeMap<&'static str, &'static str> =
            registry::auth_headers(provider, wire).iter().map(|h| (*h, "****")).collect();
        headers.insert("Content-Type", "application/json");
        RequestView {
            method: wire.method.clone(),
            url: registry::request_url(provider, base_url, wire),
            headers,
            body: shorten(&wire.body, wire),
        }
    }
}

/// A body with inline data and local-file references shown as `data:<mime>;base64,…<N bytes>`.
pub fn shorten(body: &Value, wire: &WireRequest) -> Value {
    match body {
        Value::String(s) if s.starts_with(FILE_REF_PREFIX) => match wire.file_for(s) {
            Some(f) => Value::String(format!("data:{};base64,…<{} bytes>", f.mime, f.bytes)),
            None => Value::String(s.clone()),
        },
        Value::String(s) if s.starts_with("data:") => {
            let (head, data) = s.split_once(',').unwrap_or((s.as_str(), ""));
            Value::String(format!("{head},…<{} bytes>", data.len() / 4 * 3))
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| shorten(v, wire)).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), shorten(v, wire))).collect())
        }
        other => other.clone(),
    }
}

/// A quote (`"status": "quote"`) or a request for approval (`"confirmation_required"`).
#[derive(Clone, Debug, Serialize)]
pub struct QuoteView<'a> {
    pub status: &'static str,
    pub quote: &'a Quote,
    pub request: RequestView,
}

/// What `conjure jobs --pending` and `status` say about a job that needs attention.
pub fn attention(job: &JobRecord) -> Option<String> {
    let id = &job.id;
    if job.is_undelivered() {
        let expiry = job
            .last_snapshot
            .as_ref()
            .and_then(|s| s.get("assets"))
            .and_then(Value::as_array)
            .and_then(|a| {
                a.iter().filter_map(|x| x.get("expires_at").and_then(Value::as_str)).min()
            })
            .map(str::to_owned);
        return Some(match expiry.as_deref().and_then(|e| seconds_until(e).map(|s| (e, s))) {
            Some((e, s)) if s <= 0 => format!(
                "finished but never saved; the provider's links expired at {e}, so the result is probably lost (`conjure fetch {id}` tries once more)"
            ),
            _ => format!("finished but never saved; `conjure fetch {id}` downloads it"),
        });
    }
    match job.state {
        JobState::Unknown => Some(format!(
            "may have been charged; check the provider's dashboard. `conjure retry {id}` sends it again after a new approval"
        )),
        JobState::Submitting => Some("being sent by another conjure process".to_owned()),
        JobState::Quoted => {
            Some("reserved by another conjure process, about to be sent".to_owned())
        }
        JobState::Submitted | JobState::Processing => {
            Some(format!("running at the provider; `conjure wait {id}` collects it"))
        }
        JobState::Expired => Some(crate::expiry::expired_hint(job)),
        _ => None,
    }
}

/// Money per provider over the whole journal.
#[derive(Clone, Debug, Serialize)]
pub struct TotalsView {
    pub provider: ProviderId,
    pub jobs: u64,
    pub quoted_credits: Credits,
    /// What the provider reported as charged.
    pub charged_credits: Credits,
    /// At the configured price; absent without one.
    pub charged_usd: Option<Usd>,
    /// What `unknown` jobs and jobs still being sent may have cost on top.
    pub exposure_credits: Credits,
}

impl TotalsView {
    pub fn new(t: &ProviderTotals, price: Option<CreditPrice>) -> TotalsView {
        TotalsView {
            provider: t.provider,
            jobs: t.jobs,
            quoted_credits: t.quoted,
            charged_credits: t.spent,
            charged_usd: price.map(|p| p.usd(t.spent)),
            exposure_credits: t.exposure,
        }
    }
}

/// The journal (`conjure jobs`).
#[derive(Clone, Debug, Serialize)]
pub struct JobsView {
    pub jobs: Vec<JobView>,
    pub totals: Vec<TotalsView>,
    /// The sum of every provider's `exposure_credits`.
    pub unknown_exposure_credits: Credits,
}

/// A provider's balance.
#[derive(Clone, Debug, Serialize)]
pub struct BalanceView {
    pub provider: ProviderId,
    pub credits: Credits,
    pub usd: Option<Usd>,
}

/// Dollars for a model's unit prices, at the configured price per credit.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum ModelUsd {
    PerImage { per_image: Usd },
    PerDuration { per_duration: BTreeMap<String, Usd> },
    PerMillionTokens { per_million_input_tokens: Usd, per_million_output_tokens: Usd },
}

/// Where a setting's value came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SettingSource {
    /// Built in.
    Default,
    /// The config file.
    File { path: String },
    /// An environment variable.
    Env { var: String },
    /// A command-line flag.
    Flag { flag: String },
}

impl std::fmt::Display for SettingSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SettingSource::Default => f.write_str("default"),
            SettingSource::File { path } => write!(f, "config file {path}"),
            SettingSource::Env { var } => write!(f, "env {var}"),
            SettingSource::Flag { flag } => write!(f, "flag {flag}"),
        }
    }
}

/// One resolved setting: its config-file key (or name), its value (`null` when unset) and
/// where it came from.
#[derive(Clone, Debug, Serialize)]
pub struct SettingView {
    pub key: String,
    pub value: Option<String>,
    pub source: SettingSource,
}

/// Whether a provider's credentials are present, and where conjure found them. Never a value.
#[derive(Clone, Debug, Serialize)]
pub struct CredentialsView {
    pub provider: ProviderId,
    pub present: bool,
    /// Where they were found (an environment variable pair or a file).
    pub source: Option<SettingSource>,
    /// Why they are absent or unusable (names files and variables, never values).
    pub problem: Option<String>,
}

/// The resolved configuration (`conjure config`).
#[derive(Clone, Debug, Serialize)]
pub struct ConfigView {
    /// The config file conjure reads, and whether it exists.
    pub config_file: String,
    pub config_file_exists: bool,
    pub settings: Vec<SettingView>,
    pub credentials: Vec<CredentialsView>,
}

/// A job's delivered files (`conjure open`): absolute paths, and whether a viewer was started.
#[derive(Clone, Debug, Serialize)]
pub struct OpenView {
    pub job_id: JobId,
    pub status: JobState,
    pub paths: Vec<String>,
    /// Files recorded as delivered that are no longer on disk.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    pub opened: bool,
}

/// One model: every catalogue field, plus `usd` when a dollar price is known.
#[derive(Clone, Debug, Serialize)]
pub struct ModelView<'a> {
    #[serde(flatten)]
    pub model: &'a Model,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usd: Option<ModelUsd>,
}

impl<'a> ModelView<'a> {
    pub fn new(model: &'a Model, price: Option<CreditPrice>) -> ModelView<'a> {
        let usd = price.map(|p| match &model.pricing {
            Pricing::PerItem { credits } => ModelUsd::PerImage { per_image: p.usd(*credits) },
            Pricing::PerDuration { credits } => ModelUsd::PerDuration {
                per_duration: credits.iter().map(|(d, c)| (d.to_string(), p.usd(*c))).collect(),
            },
            Pricing::PerMillionTokens { input, output, .. } => ModelUsd::PerMillionTokens {
                per_million_input_tokens: p.usd(*input),
                per_million_output_tokens: p.usd(*output),
            },
        });
        ModelView { model, usd }
    }
}

/// The catalogue (`conjure models`): `usd_per_credit` (absent without a price) and the models.
#[derive(Clone, Debug, Serialize)]
pub struct ModelsView<'a> {
    pub usd_per_credit: Option<f64>,
    /// When the catalogue listed was refreshed from the provider; absent for the built-in one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refreshed_at: Option<String>,
    pub models: Vec<ModelView<'a>>,
}

/// ImaginePro's operations (`conjure models --provider imaginepro`): priced per operation, some
/// not at all.
#[derive(Clone, Debug, Serialize)]
pub struct OperationsView {
    pub provider: conjure_core::ProviderId,
    /// Absent: ImaginePro publishes no dollar price per credit and none is configured.
    pub usd_per_credit: Option<f64>,
    pub operations: Vec<OperationView>,
}

/// One priced operation.
#[derive(Clone, Debug, Serialize)]
pub struct OperationView {
    pub operation: String,
    pub model: Option<String>,
    pub method: String,
    pub path: String,
    pub alt_path: Option<String>,
    /// `None`: not published (and not configured).
    pub credits: Option<Credits>,
    pub unit: conjure_core::catalogue::imaginepro::Unit,
    /// ImaginePro publishes this price (else it is from `[imaginepro.prices]`, or unknown).
    pub price_published: bool,
    pub notes: String,
}

/// The error part of an [`ErrorView`].
#[derive(Clone, Debug, Serialize)]
pub struct ErrorDetail<'a> {
    /// One of the documented kinds (`invalid_input`, `outcome_unknown`, ...).
    pub kind: &'a str,
    pub message: &'a str,
    pub hint: Option<&'a str>,
}

/// A failure: `{"status":"error","error":{kind, message, hint},"job_id"?,"request_id"?}`.
#[derive(Clone, Debug, Serialize)]
pub struct ErrorView<'a> {
    pub status: &'static str,
    pub error: ErrorDetail<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<&'a str>,
    /// The provider's request id, when the provider accepted the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<&'a str>,
    /// What arrived of a text answer before the failure (a stream cut midway), verbatim.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<&'a str>,
}

impl<'a> ErrorView<'a> {
    pub fn new(
        kind: &'a str,
        message: &'a str,
        hint: Option<&'a str>,
        job_id: Option<&'a str>,
        request_id: Option<&'a str>,
        answer: Option<&'a str>,
    ) -> ErrorView<'a> {
        ErrorView {
            status: "error",
            error: ErrorDetail { kind, message, hint },
            job_id,
            request_id,
            answer,
        }
    }
}
