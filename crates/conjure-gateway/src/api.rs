//! The gateway's HTTP handlers: Katana's wire endpoints for members, the approve endpoint,
//! and the admin API; and submit's paid path as steps (`clear`, `send`, `run_error`) for
//! the text and ImaginePro endpoints ([`crate::chat`], [`crate::imaginepro`]). Thin: each
//! reads who is calling from the request's extensions (put there by
//! [`crate::keys::authenticate`]), calls the application layer, the store or
//! [`crate::admin`], and answers in the caller's wire shape ([`crate::katana`]).
//!
//! The paid path is the CLI's: the body is parsed and priced from the catalogue like
//! `conjure submit`'s payload ([`conjure_app::App::order`]), approved (a pre-approval limit,
//! or a token a person approved after a 402), reserved for the member and project
//! ([`crate::store::StoreView`]) and sent once by the core's runner with the gateway's own
//! provider credentials. A POST whose answer is lost is `unknown`, never sent again, and
//! answered with the credits it may have cost. Errors are JSON with Katana's `detail`, and an
//! `error` object with a code, a message and a hint saying what to do.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use conjure_app::{App, AppError, ErrorKind};
use conjure_core::approval::{Consent, NeedsApproval, approve};
use conjure_core::policy::{self, Limit, SpendRefusal};
use conjure_core::provider::ProviderError;
use conjure_core::runner::{Event, RunError, Runner};
use conjure_core::spec::InputKind;
use conjure_core::{JobStore as _, ProviderId};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::admin::{self, BudgetScope, NewMember, ProjectAccess};
use crate::katana;
use crate::keys::{self, Admin};
use crate::member::MemberId;
use crate::store::{PgStore, PgStoreError, Scope};
use crate::{approvals, timefmt_now};

/// The header a request names its project with (optional).
pub const PROJECT_HEADER: &str = "x-conjure-project";

/// What every handler shares: the store, the application (catalogue, prices, the gateway's
/// provider credentials) and this instance's owner id (recorded on the jobs it reserves).
#[derive(Clone)]
pub struct Gateway {
    pub store: PgStore,
    pub app: Arc<App>,
    pub owner: Arc<str>,
    /// This instance's counters, served at `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// How webhooks are checked and delivered.
    pub webhooks: crate::webhooks::Config,
    /// How this instance keeps itself alive and shares the polling of jobs.
    pub leases: crate::leases::Config,
    /// Where member jobs' output files are kept ([`crate::storage`]).
    pub storage: crate::storage::Storage,
    /// Turns for providers that allow few requests in flight per account, across instances.
    pub turns: crate::turns::Turns,
    /// Requests a minute per member, shared by every instance.
    pub limits: crate::ratelimit::Limits,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").field("store", &self.store).finish_non_exhaustive()
    }
}

/// A JSON error: Katana's `detail` and our `error {code, message, hint}`.
pub(crate) fn error(status: StatusCode, code: &str, message: &str, hint: Option<&str>) -> Response {
    let body = json!({
        "detail": message,
        "error": {"code": code, "message": message, "hint": hint},
    });
    (status, Json(body)).into_response()
}

pub(crate) fn store_error(e: &PgStoreError) -> Response {
    let status = match e {
        PgStoreError::UnknownMember(_)
        | PgStoreError::UnknownProject(_)
        | PgStoreError::NoKey(_) => StatusCode::NOT_FOUND,
        PgStoreError::NotProjectMember { .. } => StatusCode::FORBIDDEN,
        PgStoreError::BadName { .. } => StatusCode::BAD_REQUEST,
        PgStoreError::NameTaken { .. } => StatusCode::CONFLICT,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    error(status, "store", &e.to_string(), e.hint().as_deref())
}

pub(crate) fn app_error(e: &AppError) -> Response {
    let (status, code) = match e.kind {
        ErrorKind::InvalidInput => (StatusCode::BAD_REQUEST, "invalid_request"),
        ErrorKind::OverBudget => (StatusCode::FORBIDDEN, "budget_exceeded"),
        ErrorKind::ConfirmationRequired => (StatusCode::PAYMENT_REQUIRED, "approval_required"),
        ErrorKind::ProviderFailed => (StatusCode::BAD_GATEWAY, "upstream_failed"),
        ErrorKind::OutcomeUnknown => (StatusCode::BAD_GATEWAY, "outcome_unknown"),
        // The gateway's own provider credentials: the member can do nothing but tell an admin.
        ErrorKind::Credentials => (StatusCode::SERVICE_UNAVAILABLE, "gateway_credentials"),
        ErrorKind::StillPending => (StatusCode::ACCEPTED, "pending"),
        ErrorKind::Error => (StatusCode::INTERNAL_SERVER_ERROR, "gateway_error"),
    };
    error(status, code, &e.message, e.hint.as_deref())
}

fn member_only() -> Response {
    error(
        StatusCode::FORBIDDEN,
        "member_key_required",
        "This endpoint takes a member's key",
        Some("send a member key (`cjm_...`); the admin key is for /admin/ and /approve/"),
    )
}

/// Lets through requests made with the admin key (the key check ran first): the admin API
/// and `/metrics` (spend and job counts are the team's business).
pub async fn admin_only(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if request.extensions().get::<Admin>().is_some() {
        return next.run(request).await;
    }
    error(
        StatusCode::FORBIDDEN,
        "admin_key_required",
        "This endpoint takes the admin key",
        Some("send the admin key (`cja_...`, made with `conjure serve admin key create --admin`)"),
    )
}

/// A raw payload's input: only what a remote client can mean. A path would name a file on
/// the gateway's own disk, so it is refused.
fn remote_input(
    value: &str,
    kind: InputKind,
    path: &str,
) -> Result<conjure_core::MediaInput, AppError> {
    let lower = value.trim().to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("data:") {
        return conjure_app::inputs::resolve(value, kind, path);
    }
    Err(AppError::invalid(format!("`{path}`: the gateway takes https:// or data: URLs only"))
        .hint("send the image as an https:// URL or a data:image/...;base64 URL"))
}

fn project_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get(PROJECT_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
}

fn base_url(headers: &HeaderMap) -> String {
    let host = headers.get("host").and_then(|v| v.to_str().ok()).unwrap_or("localhost");
    format!("http://{host}")
}

/// `POST /v1/generation-requests`: price, approve, reserve for the member, send once (the
/// shared steps: [`clear`], [`send`], [`run_error`]).
pub async fn submit(
    State(gw): State<Gateway>,
    member: Option<Extension<MemberId>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(Extension(member)) = member else { return member_only() };
    let payload: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &format!("The body is not JSON: {e}"),
                Some("send Katana's envelope: {\"requests\": [{\"type\": \"image\", ...}]}"),
            );
        }
    };
    let mut resolve = |path: &str, value: &str, kind: InputKind| remote_input(value, kind, path);
    let spec = match conjure_providers::registry::parse_payload(
        ProviderId::Katana,
        &payload,
        &mut resolve,
    ) {
        Ok(spec) => spec,
        Err(e) => return app_error(&e),
    };
    let cleared = match clear(&gw, &member, &headers, &payload, spec, None).await {
        Ok(c) => c,
        Err(answer) => return answer,
    };
    let sent = match send(&gw, cleared, None).await {
        Ok(sent) => sent,
        Err(answer) => return answer,
    };
    match sent {
        Ok(job) => crate::logs::with_job(
            (StatusCode::OK, Json(katana::envelope(&job))).into_response(),
            &job.id,
        ),
        Err(RunError::Failed { job, .. }) => match gw.store.get(&job).await {
            Ok(record) => crate::logs::with_job(
                (StatusCode::OK, Json(katana::envelope(&record))).into_response(),
                &job,
            ),
            Err(e) => app_error(&AppError::from(e)),
        },
        Err(other) => run_error(other),
    }
}

/// A request the provider refused before accepting it (nothing charged).
pub(crate) fn upstream_refused(cause: &ProviderError) -> Response {
    let message = format!("{cause}; nothing was charged");
    match cause {
        ProviderError::RateLimited { .. } => error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            &message,
            Some("wait, then send it again; the gateway never re-sends a paid request by itself"),
        ),
        ProviderError::Auth { .. } => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "gateway_credentials",
            "The provider refused the gateway's credentials; nothing was charged",
            Some("tell the gateway's admin: its Katana key or secret is wrong or revoked"),
        ),
        _ => error(
            StatusCode::BAD_REQUEST,
            "rejected",
            &message,
            Some("fix the request and send it again"),
        ),
    }
}

pub(crate) fn refused(refusal: &SpendRefusal) -> Response {
    let (status, code, hint) = match refusal {
        SpendRefusal::Duplicate { earlier, .. } => (
            StatusCode::CONFLICT,
            "duplicate",
            format!("the gateway never pays for the same request twice in 24 hours; GET /v1/generation-requests/{earlier} shows the earlier one, or change the request"),
        ),
        SpendRefusal::TokenUsed { job } => (
            StatusCode::CONFLICT,
            "approval_used",
            format!("that approval sent job {job} already; GET /v1/generation-requests/{job} shows it, and sending the request again asks for a new approval"),
        ),
        SpendRefusal::OverBudget { .. } => (
            StatusCode::FORBIDDEN,
            "budget_exceeded",
            "wait for the window to move on, or ask the gateway's admin to raise the budget (`conjure serve admin budget set`); GET /v1/me/balance shows what is left".to_owned(),
        ),
        _ => (StatusCode::FORBIDDEN, "refused", refusal.hint()),
    };
    error(status, code, &refusal.to_string(), Some(&hint))
}

async fn needs_approval(
    gw: &Gateway,
    headers: &HeaderMap,
    member: &MemberId,
    project: Option<&str>,
    body_sha: &str,
    order: &conjure_core::Order,
    limit: Option<Limit>,
) -> Response {
    let quote = &order.quote;
    let quote_json = json!({
        "provider": quote.provider.as_str(),
        "model": quote.model,
        "items": quote.items.len(),
        "credits": katana::credits_str(quote.credits),
        "usd": quote.usd.map(|u| u.to_string()),
    });
    if let Err(e) = approvals::record(
        &gw.store,
        &quote.token,
        member,
        project,
        body_sha,
        &quote_json.to_string(),
        timefmt_now(),
    )
    .await
    {
        return store_error(&e);
    }
    let url = format!("{}/approve/{}", base_url(headers), quote.token);
    let price = match quote.usd {
        Some(u) => format!("{} credits (≈ {u})", quote.credits),
        None => format!("{} credits", quote.credits),
    };
    let why = match limit {
        Some(l) => format!("above what your key may spend without approval ({l})"),
        None => "and your key has no pre-approved amount".to_owned(),
    };
    // The URL is in the message itself: a Katana client shows `detail` and nothing else.
    let message = format!(
        "This request costs {price}, {why}; nothing was sent. To approve it: POST {url} with your key, then send the same request again"
    );
    let body = json!({
        "detail": message,
        "error": {
            "code": "approval_required",
            "message": message,
            "hint": format!("approve it with POST {url} (your key or the admin's) within {} hours, then send the same request again: it goes through once", approvals::QUOTE_LIFETIME.as_secs() / 3600),
        },
        "quote": quote_json,
        "approval_url": url,
        "approve": {"method": "POST", "url": url},
    });
    (StatusCode::PAYMENT_REQUIRED, Json(body)).into_response()
}

/// `POST /approve/{token}`: the member whose quote it is, or an admin, approves it.
pub async fn approve_quote(
    State(gw): State<Gateway>,
    member: Option<Extension<MemberId>>,
    admin: Option<Extension<Admin>>,
    Path(token): Path<String>,
) -> Response {
    let who = match (&member, &admin) {
        (Some(Extension(m)), _) => Some(m),
        (None, Some(_)) => None,
        (None, None) => return member_only(),
    };
    match approvals::approve(&gw.store, &token, who, timefmt_now()).await {
        Ok(approvals::Approval::Approved(p)) => {
            let quote: Value = serde_json::from_str(&p.quote_json).unwrap_or(Value::Null);
            Json(json!({
                "approved": true,
                "member": p.member.as_str(),
                "quote": quote,
                "next": "send the same request again with the same key and project: it goes through once",
            }))
            .into_response()
        }
        Ok(approvals::Approval::Expired(_)) => {
            let hours = approvals::QUOTE_LIFETIME.as_secs() / 3600;
            error(
                StatusCode::GONE,
                "quote_expired",
                &format!(
                    "This quote expired (a quote can be approved and used for {hours} hours); nothing was approved or sent"
                ),
                Some(
                    "quote again: send the same request again, and approve the new approval_url its 402 answer gives",
                ),
            )
        }
        Ok(approvals::Approval::NotFound) => error(
            StatusCode::NOT_FOUND,
            "no_such_quote",
            "No quote with this token for your key",
            Some(
                "use the approval_url of your own 402 answer; a quote of another member is approved by that member or an admin",
            ),
        ),
        Err(e) => store_error(&e),
    }
}

/// `GET /v1/generation-requests/{id}`: the member's own job (by request id or gateway job id),
/// polled once upstream while it runs. Any other member's job is 404, as no job is.
pub async fn poll(
    State(gw): State<Gateway>,
    member: Option<Extension<MemberId>>,
    Path(id): Path<String>,
) -> Response {
    let Some(Extension(member)) = member else { return member_only() };
    let job = match gw.store.member_job(&member, &id).await {
        Ok(Some(job)) => job,
        Ok(None) => {
            return error(
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("No generation request `{id}`"),
                Some("use the request_id your POST was answered with"),
            );
        }
        Err(e) => return store_error(&e),
    };
    let job = refresh(&gw, job).await;
    crate::logs::with_job(Json(katana::envelope(&job)).into_response(), &job.id)
}

/// `GET /v1/models`: Katana's models, as the OpenAI-style list an authenticated client gets.
pub async fn models(State(gw): State<Gateway>) -> Response {
    Json(katana::models(gw.app.catalogue())).into_response()
}

/// `GET /v1/me/balance`: what the member's budgets leave. `credits` is Katana's (what a Katana
/// client reads); `conjure.providers` has every provider the member may spend with, each in
/// its own credits, and `conjure.usd_left` what the dollar budgets leave across providers.
pub async fn balance(State(gw): State<Gateway>, member: Option<Extension<MemberId>>) -> Response {
    let Some(Extension(member)) = member else { return member_only() };
    let profile = match admin::member(&gw.store, &member).await {
        Ok(Some(m)) => m,
        Ok(None) => return store_error(&PgStoreError::UnknownMember(member.to_string())),
        Err(e) => return store_error(&e),
    };
    let now = timefmt_now();
    let spent = match admin::window_spent(&gw.store, &member, gw.app.config.sandbox, now).await {
        Ok(s) => s,
        Err(e) => return store_error(&e),
    };
    let price = gw.app.config.price(ProviderId::Katana);
    let left = policy::remaining_credits(&profile.budgets, &spent, ProviderId::Katana, price);
    let budgets: Vec<String> =
        profile.budgets.iter().map(|b| format!("{}: {}", b.window.as_str(), b.limit)).collect();
    let usage = match admin::usage(&gw.store, Some(&member), gw.app.config.sandbox, now).await {
        Ok(mut list) if !list.is_empty() => list.remove(0),
        Ok(_) => return store_error(&PgStoreError::UnknownMember(member.to_string())),
        Err(e) => return store_error(&e),
    };
    let exposure = match admin::exposure_by_provider(&gw.store, &member).await {
        Ok(e) => e,
        Err(e) => return store_error(&e),
    };
    let mut body = katana::balance(left, &budgets, usage.exposure_jobs, usage.exposure_credits);
    body["conjure"]["providers"] = providers_balance(&gw, &profile, &spent, &exposure);
    body["conjure"]["usd_left"] =
        usd_left(&profile.budgets, &spent).map_or(Value::Null, |u| json!(u.to_string()));
    Json(body).into_response()
}

/// The balance per provider the member may spend with, each in its own credits (a credit
/// budget holds for each provider's credits separately; a dollar budget for all together):
/// what the budgets leave (`null`: nothing here limits it in credits), what each window
/// counted, and the jobs of unknown outcome with the credits they may have cost.
fn providers_balance(
    gw: &Gateway,
    profile: &admin::Member,
    spent: &std::collections::BTreeMap<policy::BudgetWindow, policy::Spent>,
    exposure: &std::collections::BTreeMap<String, (i64, conjure_core::Credits)>,
) -> Value {
    let allowed = profile
        .providers
        .clone()
        .unwrap_or_else(|| vec![ProviderId::Katana, ProviderId::ImaginePro]);
    let mut out = serde_json::Map::new();
    for provider in allowed {
        let price = gw.app.config.price(provider);
        let left = policy::remaining_credits(&profile.budgets, spent, provider, price);
        let counted: serde_json::Map<String, Value> = policy::BudgetWindow::ALL
            .into_iter()
            .map(|w| {
                let s = spent.get(&w).map(|s| s.provider(provider)).unwrap_or_default();
                (
                    w.as_str().to_owned(),
                    json!({"credits": katana::credits_str(s.credits), "usd": s.usd.to_string()}),
                )
            })
            .collect();
        let (jobs, credits) = exposure.get(provider.as_str()).copied().unwrap_or_default();
        out.insert(
            provider.as_str().to_owned(),
            json!({
                "credits_left": left.map(katana::credits_str),
                "spent": counted,
                "exposure": {"jobs": jobs, "credits": katana::credits_str(credits)},
            }),
        );
    }
    Value::Object(out)
}

/// The least any dollar budget leaves, every provider's spending counted; `None` without one.
fn usd_left(
    budgets: &[policy::Budget],
    spent: &std::collections::BTreeMap<policy::BudgetWindow, policy::Spent>,
) -> Option<conjure_core::Usd> {
    budgets
        .iter()
        .filter_map(|b| match b.limit {
            Limit::Usd(max) => {
                let used = spent.get(&b.window).map_or(0, |s| {
                    s.by_provider
                        .iter()
                        .filter(|(p, _)| b.applies_to(**p))
                        .map(|(_, ps)| ps.usd.micros())
                        .sum()
                });
                Some((max.micros() - used).max(0))
            }
            Limit::Credits(_) => None,
        })
        .min()
        .map(conjure_core::Usd::from_micros)
}

/// A budget as the admin API takes it: `{"window": "daily", "limit": "500cr"}`.
#[derive(Debug, Deserialize)]
pub struct BudgetBody {
    pub window: String,
    /// `500cr`, `$2.50`; `null` removes the window's budget (`budget set` only).
    pub limit: Option<String>,
}

fn parse_budgets(list: &[BudgetBody]) -> Result<Vec<policy::Budget>, Box<Response>> {
    list.iter()
        .map(|b| {
            let window = admin::parse_window(&b.window).ok_or_else(|| {
                bad_boxed(&format!("Unknown budget window `{}`", b.window), "use daily or monthly")
            })?;
            let limit = b.limit.as_deref().and_then(Limit::parse).ok_or_else(|| {
                bad_boxed(
                    "A budget needs a limit",
                    "give it as `500cr` (credits) or `$2.50` (dollars)",
                )
            })?;
            Ok(policy::Budget { provider: None, window, limit })
        })
        .collect()
}

fn bad(message: &str, hint: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "invalid_request", message, Some(hint))
}

fn bad_boxed(message: &str, hint: &str) -> Box<Response> {
    Box::new(bad(message, hint))
}

/// `POST /admin/members`.
#[derive(Debug, Deserialize)]
pub struct MemberBody {
    pub name: String,
    #[serde(default)]
    pub budgets: Vec<BudgetBody>,
    pub providers: Option<Vec<String>>,
    pub per_request: Option<String>,
}

pub async fn admin_add_member(State(gw): State<Gateway>, Json(body): Json<MemberBody>) -> Response {
    let budgets = match parse_budgets(&body.budgets) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let providers = match &body.providers {
        Some(list) => {
            match list.iter().map(|p| p.parse::<ProviderId>()).collect::<Result<Vec<_>, _>>() {
                Ok(l) => Some(l),
                Err(_) => {
                    return bad("Unknown provider in `providers`", "use katana or imaginepro");
                }
            }
        }
        None => None,
    };
    let per_request = match body.per_request.as_deref().map(Limit::parse) {
        Some(None) => return bad("`per_request` is not a limit", "give it as `50cr` or `$0.25`"),
        Some(l) => l,
        None => None,
    };
    let new = NewMember { name: body.name, budgets, providers, per_request };
    match admin::add_member(&gw.store, &new, timefmt_now()).await {
        Ok(m) => (StatusCode::CREATED, Json(json!({"member": m.id.as_str()}))).into_response(),
        Err(e) => store_error(&e),
    }
}

/// `POST /admin/projects`.
#[derive(Debug, Deserialize)]
pub struct ProjectBody {
    pub name: String,
    #[serde(default)]
    pub budgets: Vec<BudgetBody>,
    /// The members who may name it (more later with `POST /admin/projects/{name}/members`).
    #[serde(default)]
    pub members: Vec<String>,
}

pub async fn admin_add_project(
    State(gw): State<Gateway>,
    Json(body): Json<ProjectBody>,
) -> Response {
    let budgets = match parse_budgets(&body.budgets) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let members: Vec<MemberId> = body.members.iter().cloned().map(MemberId).collect();
    match admin::add_project(&gw.store, &body.name, &budgets, &members, timefmt_now()).await {
        Ok(()) => {
            (StatusCode::CREATED, Json(json!({"project": body.name, "members": body.members})))
                .into_response()
        }
        Err(e) => store_error(&e),
    }
}

/// `POST /admin/projects/{name}/members`: `{"member": NAME}`.
#[derive(Debug, Deserialize)]
pub struct ProjectMemberBody {
    pub member: String,
}

pub async fn admin_add_project_member(
    State(gw): State<Gateway>,
    Path(project): Path<String>,
    Json(body): Json<ProjectMemberBody>,
) -> Response {
    let member = MemberId(body.member);
    match admin::add_project_member(&gw.store, &project, &member, timefmt_now()).await {
        Ok(()) => Json(json!({"project": project, "member": member.as_str(), "added": true}))
            .into_response(),
        Err(e) => store_error(&e),
    }
}

/// `DELETE /admin/projects/{name}/members/{member}`.
pub async fn admin_remove_project_member(
    State(gw): State<Gateway>,
    Path((project, member)): Path<(String, String)>,
) -> Response {
    match admin::remove_project_member(&gw.store, &project, &MemberId(member.clone())).await {
        Ok(removed) => {
            Json(json!({"project": project, "member": member, "removed": removed})).into_response()
        }
        Err(e) => store_error(&e),
    }
}

/// `GET /admin/projects`: every project with its members and budgets.
pub async fn admin_projects(State(gw): State<Gateway>) -> Response {
    match admin::projects(&gw.store).await {
        Ok(list) => Json(json!({"projects": list})).into_response(),
        Err(e) => store_error(&e),
    }
}

/// `POST /admin/members/{name}/keys`: a new key, in the answer only.
pub async fn admin_create_key(State(gw): State<Gateway>, Path(name): Path<String>) -> Response {
    match keys::create(&gw.store, Some(&MemberId(name.clone())), timefmt_now()).await {
        Ok(key) => (
            StatusCode::CREATED,
            Json(json!({"member": name, "key": key.expose(), "prefix": key.prefix(),
                "note": "shown once: the gateway keeps only its hash"})),
        )
            .into_response(),
        Err(e) => store_error(&e),
    }
}

/// `POST /admin/keys/{prefix}/revoke`.
pub async fn admin_revoke_key(State(gw): State<Gateway>, Path(prefix): Path<String>) -> Response {
    match keys::revoke(&gw.store, &prefix, timefmt_now()).await {
        Ok(()) => Json(json!({"revoked": prefix})).into_response(),
        Err(e) => store_error(&e),
    }
}

/// `PUT /admin/budgets`: `{"member": NAME | "project": NAME, "window": ..., "limit": ... | null}`.
#[derive(Debug, Deserialize)]
pub struct SetBudgetBody {
    pub member: Option<String>,
    pub project: Option<String>,
    pub window: String,
    pub limit: Option<String>,
}

pub async fn admin_set_budget(
    State(gw): State<Gateway>,
    Json(body): Json<SetBudgetBody>,
) -> Response {
    let (scope, owner) = match (&body.member, &body.project) {
        (Some(m), None) => (BudgetScope::Member, m),
        (None, Some(p)) => (BudgetScope::Project, p),
        _ => return bad("Name a member or a project, not both", "send `member` or `project`"),
    };
    let Some(window) = admin::parse_window(&body.window) else {
        return bad(&format!("Unknown budget window `{}`", body.window), "use daily or monthly");
    };
    let limit = match body.limit.as_deref().map(Limit::parse) {
        Some(None) => {
            return bad(
                "`limit` is not a limit",
                "give it as `500cr` or `$2.50`, or null to remove it",
            );
        }
        Some(l) => l,
        None => None,
    };
    match admin::set_budget(&gw.store, scope, owner, window, limit).await {
        Ok(()) => Json(json!({"ok": true})).into_response(),
        Err(e) => store_error(&e),
    }
}

/// `GET /admin/usage`.
pub async fn admin_usage(State(gw): State<Gateway>) -> Response {
    let now = timefmt_now();
    let members = match admin::usage(&gw.store, None, gw.app.config.sandbox, now).await {
        Ok(list) => list,
        Err(e) => return store_error(&e),
    };
    match admin::projects(&gw.store).await {
        Ok(projects) => Json(json!({"members": members, "projects": projects})).into_response(),
        Err(e) => store_error(&e),
    }
}

// The paid path of `submit`, as steps, for the other wire endpoints (text in `crate::chat`,
// ImaginePro in `crate::imaginepro`): each builds its spec from its own wire shape, then
// clears, sends and answers errors here, so that every spending rule stays in one place.

/// An input given to a wire endpoint: https:// or data: only (see `remote_input`).
pub(crate) fn remote(
    value: &str,
    kind: InputKind,
    path: &str,
) -> Result<conjure_core::MediaInput, AppError> {
    remote_input(value, kind, path)
}

/// The answer for a request that is not what the application layer takes.
pub(crate) fn invalid(e: &AppError) -> Response {
    app_error(e)
}

/// The answer for a request made with the admin key (or none) to a member's endpoint.
pub(crate) fn members_only() -> Response {
    member_only()
}

/// A member's order cleared for its one POST: approved, and the rules, scope and provider it
/// is reserved and sent with.
pub(crate) struct Cleared {
    pub approved: conjure_core::approval::Approved,
    pub rules: policy::SpendRules,
    pub scope: Scope,
    pub connected: conjure_providers::registry::Connected,
}

/// What `submit` checks before its POST, for the spec another wire endpoint built from
/// `payload` (a button press's `parent` recorded on it): the member and project, the provider
/// allowed to the member, the price, the consent (a token approved after a 402, or the member's pre-approval), and, when neither
/// covers it, a 402 with the quote (unless the budgets would refuse it anyway). `Err` is the
/// answer to send; nothing was reserved or sent.
pub(crate) async fn clear(
    gw: &Gateway,
    member: &MemberId,
    headers: &HeaderMap,
    payload: &Value,
    spec: conjure_core::JobSpec,
    parent: Option<conjure_core::JobId>,
) -> Result<Cleared, Response> {
    let project = project_of(headers);
    let profile = match admin::member(&gw.store, member).await {
        Ok(Some(m)) => m,
        Ok(None) => return Err(store_error(&PgStoreError::UnknownMember(member.to_string()))),
        Err(e) => return Err(store_error(&e)),
    };
    if let Some(p) = &project {
        check_project(gw, p, member).await?;
    }
    let provider = spec.provider;
    if !policy::provider_allowed(profile.providers.as_deref(), provider) {
        return Err(error(
            StatusCode::FORBIDDEN,
            "provider_not_allowed",
            &format!("Your key may not spend with {provider}; nothing was sent"),
            Some(&format!(
                "ask the gateway's admin to allow it (`conjure serve admin member add ... --provider {provider}`)"
            )),
        ));
    }
    let mut order = gw.app.order(spec, None).map_err(|e| app_error(&e))?;
    // A button press is its parent's child (its lineage, and its webhook's).
    order.parent = parent;
    let body_sha = katana::body_hash(member.as_str(), project.as_deref(), payload);
    let consent = match approvals::approved_token(&gw.store, member, &body_sha, timefmt_now()).await
    {
        Ok(Some(token)) => Some(Consent::Token(token)),
        Ok(None) if policy::preapproved(&order.quote, profile.per_request) => Some(Consent::Yes),
        Ok(None) => None,
        Err(e) => return Err(store_error(&e)),
    };
    let rules = gw.app.rules(&conjure_app::PayOptions::default());
    let scope = Scope { member: member.clone(), project };
    let approved = match approve(order, consent) {
        Ok(a) => a,
        Err(NeedsApproval::Missing(order) | NeedsApproval::TokenMismatch(order)) => {
            match gw.store.preview_scoped(&order, &rules, &scope, timefmt_now()).await {
                Ok(Ok(())) => {}
                Ok(Err(refusal)) => return Err(refused(&refusal)),
                Err(e) => return Err(store_error(&e)),
            }
            let project = scope.project.as_deref();
            let limit = profile.per_request;
            return Err(
                needs_approval(gw, headers, member, project, &body_sha, &order, limit).await
            );
        }
    };
    let connected = gw.app.connect(provider).map_err(|e| {
        let hint = format!(
            "the gateway has no {provider} credentials; its admin sets them where the gateway runs (`conjure auth {provider}`, or the provider's environment variables)"
        );
        error(StatusCode::SERVICE_UNAVAILABLE, "gateway_credentials", &e.message, Some(&hint))
    })?;
    Ok(Cleared { approved, rules, scope, connected })
}

/// Refuses a project the member may not name: an unknown one (400) or one they are not a
/// member of (403, saying who can add them). Nothing is priced, reserved or sent.
async fn check_project(gw: &Gateway, project: &str, member: &MemberId) -> Result<(), Response> {
    match admin::project_access(&gw.store, project, member).await {
        Ok(ProjectAccess::Member) => Ok(()),
        Ok(ProjectAccess::NotMember) => Err(error(
            StatusCode::FORBIDDEN,
            "not_project_member",
            &format!(
                "You are not a member of project `{project}`, so you may not spend its budget; nothing was sent"
            ),
            Some(&format!(
                "ask the gateway's admin to add you (`conjure serve admin project member add {project} {member}`, or POST /admin/projects/{project}/members), or leave the X-Conjure-Project header out"
            )),
        )),
        Ok(ProjectAccess::NoProject) => Err(error(
            StatusCode::BAD_REQUEST,
            "unknown_project",
            &format!("No project `{project}` in the gateway; nothing was sent"),
            Some("check the X-Conjure-Project header, or leave it out"),
        )),
        Err(e) => Err(store_error(&e)),
    }
}

/// Reserves a cleared order for its member and sends it once through the core's runner, in
/// the provider's turn (see [`crate::turns`]); `observer` sees the pieces of a streamed answer
/// as they arrive. The outer error is an answer for the member when the request never reached
/// the runner (no turn came: nothing was sent) or its task ended abnormally.
pub(crate) async fn send(
    gw: &Gateway,
    cleared: Cleared,
    observer: Option<Observer>,
) -> Result<Result<conjure_core::JobRecord, RunError>, Response> {
    let Cleared { approved, rules, scope, connected } = cleared;
    let provider = conjure_core::provider::Provider::id(&connected);
    // The turn, the reservation, the one POST and the recording of its answer run as a task of
    // their own: a client that hangs up cancels its request's future, and a POST cut off there
    // would leave its job `submitting` (exposure nobody settles while this instance lives) and
    // its answer unread. The task finishes whatever the client does.
    let paid = tokio::spawn({
        let gw = gw.clone();
        async move {
            // The provider's in-flight rule across every instance: held from before the
            // reservation until the POST's answer is recorded (the CLI's order), so a refusal
            // here sent nothing.
            let turn = match gw.turns.take(provider).await {
                Ok(turn) => turn,
                Err(e) => {
                    let retry = gw.turns.config().retry.max(std::time::Duration::from_secs(1));
                    return Err(e.answer(retry));
                }
            };
            let quiet = |_: Event<'_>| {};
            let scoped = gw.store.scoped(scope);
            let runner = Runner {
                provider: &connected,
                store: &scoped,
                policy: gw.app.config.poll.for_provider(provider),
                owner: &gw.owner,
                observer: observer.as_deref().unwrap_or(&quiet),
            };
            let started = std::time::Instant::now();
            let sent = runner.submit(approved, &rules, timefmt_now()).await;
            if let Some(turn) = turn {
                turn.release().await;
            }
            let reserved = !matches!(sent, Err(RunError::Refused(_)));
            gw.metrics.observe_reservation(reserved);
            if reserved {
                // The reservation and the one POST, as the member waits for them.
                gw.metrics.observe_provider(provider.as_str(), started.elapsed().as_secs_f64());
            }
            Ok(sent)
        }
    });
    match paid.await {
        Ok(sent) => sent,
        Err(e) => {
            tracing::error!(error = %e, "a paid request's task ended abnormally");
            Err(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "gateway_error",
                "The gateway failed while handling this request; it may have been sent",
                Some(
                    "do not send it again blindly: GET /v1/me/balance and the gateway's admin (`conjure serve admin usage`) show what is known",
                ),
            ))
        }
    }
}

/// What a paid request's runner tells as it goes (a streamed answer's pieces).
pub(crate) type Observer = Arc<dyn Fn(Event<'_>) + Send + Sync>;

/// The answer to a send that stopped short, as `submit` gives it. A job the provider ran and
/// failed (`RunError::Failed`) is answered by the caller, in its wire's shape.
pub(crate) fn run_error(e: RunError) -> Response {
    match e {
        RunError::Refused(refusal) => refused(&refusal),
        RunError::Unknown { job, error: cause, quoted } => {
            let (message, conjure) = unknown_outcome(&job, &cause, quoted);
            let body = json!({
                "detail": message,
                "request_id": job.as_str(),
                "status": "unknown",
                "error": {
                    "code": "outcome_unknown",
                    "message": message,
                    "retryable": false,
                    "hint": unknown_hint(&job),
                },
                "conjure": conjure,
            });
            (StatusCode::BAD_GATEWAY, Json(body)).into_response()
        }
        RunError::Rejected { error: cause, .. } => upstream_refused(&cause),
        other => app_error(&AppError::from(other)),
    }
}

/// What a member is told of a POST whose answer was lost: the message, and the `conjure`
/// object with the job, its state and its exposure.
pub(crate) fn unknown_outcome(
    job: &conjure_core::JobId,
    cause: &ProviderError,
    quoted: conjure_core::Credits,
) -> (String, Value) {
    let message = format!(
        "The upstream answer to this request was lost ({cause}); it may have been charged up to {quoted} credits and was not sent again"
    );
    let conjure = json!({"job": job.as_str(), "state": "unknown", "exposure_credits": katana::credits_str(quoted)});
    (message, conjure)
}

/// What to do about a job whose outcome is unknown.
pub(crate) fn unknown_hint(job: &conjure_core::JobId) -> String {
    format!(
        "do not send it again blindly: GET /v1/generation-requests/{job} shows what is known; the gateway's admin can check the provider's dashboard"
    )
}

/// The member's job as the provider says it now: a job still running is polled once upstream
/// (the runner records the answer; a failed poll leaves it as it was), as `poll` does.
pub(crate) async fn refresh(gw: &Gateway, job: conjure_core::JobRecord) -> conjure_core::JobRecord {
    if job.state.is_terminal() || job.request_id.is_none() {
        return job;
    }
    let Ok(connected) = gw.app.connect(job.provider) else { return job };
    let quiet = |_: Event<'_>| {};
    let runner = Runner {
        provider: &connected,
        store: &gw.store,
        policy: gw.app.config.poll.for_provider(job.provider),
        owner: &gw.owner,
        observer: &quiet,
    };
    let _ = runner.poll_once(&job.id).await;
    match gw.store.get(&job.id).await {
        Ok(fresh) => fresh,
        Err(_) => job,
    }
}
