//! `conjure mcp`: conjure as an MCP server over stdio, for agents (Claude Code, Claude Desktop,
//! OpenClaw, any MCP client).
//!
//! Every tool calls `conjure_app::App`, the same application the CLI's commands call, with the
//! settings resolved exactly as the CLI resolves them (config file, environment, credentials).
//! Nothing here prints: stdout carries MCP messages only (rmcp writes them), logs go to stderr.
//!
//! Money: `generate` follows the approval-token protocol of `--approve`. Without a token that
//! was issued for exactly the same request, nothing is sent and the quote comes back as
//! `confirmation_required`; a token works once (the journal's `reserve` consumes it). There is
//! no `--yes` for agents. Waiting is bounded by `wait_seconds`: when it runs out the job stays
//! in the journal, resumable by `wait_job` or `conjure wait`, like any CLI job.
//!
//! With a team gateway configured (`CONJURE_GATEWAY` or the config's `[gateway]`), `quote` and
//! `generate` go through it as the CLI's commands do (`commands::gateway`): the gateway prices
//! the request and issues the token, the job is reserved in the local journal before the one
//! POST to the gateway, and `job_status`, `wait_job` and `fetch_job` follow the job there. A
//! Midjourney button press does not go through a gateway yet and is refused, nothing sent.
//!
//! Errors are tool results with `isError: true` whose content is the CLI's `--json` error
//! (`{"status":"error","error":{kind,message,hint},...}`); protocol errors are kept for
//! unknown tools.

mod schema;

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use conjure_app::views::{ErrorView, JobView, QuoteView, RequestView};
use conjure_app::{App, AppError, ButtonRequest, Connector, ErrorKind, Paid, PayOptions, Request};
use conjure_core::approval::{Consent, Order};
use conjure_core::spec::Item;
use conjure_core::text::TextMode;
use conjure_core::{JobFilter, JobStore as _, MediaKind, ProviderId};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt as _};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::commands::{Ctx, gateway};
use crate::error::CliError;

/// How long `generate` and `wait_job` wait by default before answering `still_pending`.
pub const DEFAULT_WAIT_SECONDS: u64 = 60;
/// The longest wait a tool call may ask for.
pub const MAX_WAIT_SECONDS: u64 = 600;

/// Run conjure as an MCP server over stdio (for agents: Claude Code, Claude Desktop, OpenClaw).
///
/// Register it with `claude mcp add conjure -- conjure mcp`. Paid tools need the approval token
/// of a quote the person agreed to; settings and credentials are read as for every command.
/// stdout carries MCP messages only; logs go to stderr.
#[derive(Debug, Args)]
pub struct McpArgs {}

pub async fn run(ctx: &Ctx, _args: McpArgs) -> anyhow::Result<()> {
    Box::pin(serve_io(ctx.app.clone(), rmcp::transport::stdio())).await
}

/// Serves `app` over `io` (stdin/stdout for `conjure mcp`, an in-memory pipe for
/// `conjure demo --agent`) until the client goes away.
pub async fn serve_io<IO, E, A>(app: App, io: IO) -> anyhow::Result<()>
where
    IO: rmcp::transport::IntoTransport<RoleServer, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    let server = Server { app: Arc::new(app) };
    let service = server.serve(io).await.map_err(|e| {
        CliError::new(crate::error::Exit::Other, format!("MCP session failed to start: {e}"))
    })?;
    service.waiting().await.map_err(|e| {
        CliError::new(crate::error::Exit::Other, format!("MCP session ended abnormally: {e}"))
    })?;
    Ok(())
}

/// The server: the application, shared by concurrent tool calls.
#[derive(Clone)]
struct Server {
    app: Arc<App>,
}

impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("conjure", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "conjure makes images, videos and text with paid generative-media APIs (Katana, ImaginePro). \
                 Paid requests need the person's agreement: call `quote` (or `generate` without a token), show the \
                 quote, and only after they agree call `generate` with its `approval_token`. Everything else is free.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(schema::tools().into_iter().map(tool).collect()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        schema::tools().into_iter().find(|t| t.name == name).map(tool)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if !schema::tools().iter().any(|t| t.name == request.name) {
            return Err(ErrorData::invalid_params(
                format!("Unknown tool `{}`", request.name),
                None,
            ));
        }
        let args = request.arguments.unwrap_or_default();
        tracing::debug!(tool = %request.name, "tool call");
        let result = match self.call(&request.name, args).await {
            Ok(value) => CallToolResult::structured(value),
            Err(e) => CallToolResult::structured_error(error_json(&e)),
        };
        Ok(result.into())
    }
}

fn tool(def: schema::ToolDef) -> Tool {
    let schema = match def.schema {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let mut annotations = ToolAnnotations::new().read_only(def.read_only);
    if def.name == "generate" {
        annotations = annotations.destructive(false);
        annotations.open_world_hint = Some(true);
    }
    let mut t = Tool::new(def.name, def.description, schema);
    t.annotations = Some(annotations);
    t
}

/// A failure as the CLI's `--json` prints it.
fn error_json(e: &CliError) -> Value {
    serde_json::to_value(ErrorView::new(
        e.exit.kind(),
        &e.message,
        e.hint.as_deref(),
        e.job_id.as_deref(),
        e.request_id.as_deref(),
        e.answer.as_deref(),
    ))
    .unwrap_or_else(|_| json!({"status": "error"}))
}

/// The tool's arguments, or an `invalid_input` error naming what is wrong.
fn parse<T: DeserializeOwned>(tool: &str, args: Map<String, Value>) -> Result<T, CliError> {
    serde_json::from_value(Value::Object(args)).map_err(|e| {
        CliError::from(
            AppError::invalid(format!("Invalid arguments for `{tool}`: {e}"))
                .hint(format!("the input schema of `{tool}` lists its fields (tools/list)")),
        )
    })
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Value, CliError> {
    serde_json::to_value(value).map_err(|e| {
        CliError::from(AppError::other(format!("Cannot write the result as JSON: {e}")))
    })
}

fn wait_for(seconds: Option<u64>) -> Duration {
    Duration::from_secs(seconds.unwrap_or(DEFAULT_WAIT_SECONDS).min(MAX_WAIT_SECONDS))
}

/// Progress is not reported to the client; it goes to the debug log (stderr).
#[expect(clippy::needless_pass_by_value, reason = "the signature `App`'s observers have")]
fn observer(p: conjure_app::Progress<'_>) {
    tracing::debug!(?p, "progress");
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelsArgs {
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    filter: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JobArgs {
    job: String,
    #[serde(default)]
    wait_seconds: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListArgs {
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    pending: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderArgs {
    #[serde(default)]
    provider: Option<ProviderId>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpendArgs {
    #[serde(default)]
    since: Option<String>,
    #[serde(default)]
    by: Option<conjure_app::spend::SpendBy>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnhanceArgs {
    prompt: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EditArgs {
    timeline: Value,
    #[serde(default)]
    output: Option<std::path::PathBuf>,
    #[serde(default)]
    overwrite: bool,
    #[serde(default)]
    check: bool,
    #[serde(default)]
    no_smart: bool,
}

/// What `quote` and `generate` are asked to price: a request, or a button press (whose order
/// needs the journal).
enum Asked {
    Request(Request),
    Button(ButtonRequest),
}

/// `generate`'s own arguments, taken out before the request is read.
struct PayArgs {
    token: Option<String>,
    wait: Duration,
    again: bool,
}

fn take_pay_args(tool: &str, args: &mut Map<String, Value>) -> Result<PayArgs, CliError> {
    let bad = |field: &str, what: &str| {
        CliError::from(
            AppError::invalid(format!("Invalid arguments for `{tool}`: `{field}` must be {what}"))
                .hint(format!("the input schema of `{tool}` lists its fields (tools/list)")),
        )
    };
    let token = match args.remove("approval_token") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => return Err(bad("approval_token", "a string")),
    };
    let wait = match args.remove("wait_seconds") {
        None | Some(Value::Null) => None,
        Some(v) => {
            Some(v.as_u64().ok_or_else(|| bad("wait_seconds", "a whole number of seconds"))?)
        }
    };
    let again = match args.remove("again") {
        None | Some(Value::Null) => false,
        Some(v) => v.as_bool().ok_or_else(|| bad("again", "true or false"))?,
    };
    Ok(PayArgs { token, wait: wait_for(wait), again })
}

fn asked(tool: &str, mut args: Map<String, Value>) -> Result<Asked, CliError> {
    if args.get("type").and_then(Value::as_str) == Some("button") {
        args.remove("type");
        return parse(tool, args).map(Asked::Button);
    }
    if !args.contains_key("type") {
        return Err(AppError::invalid(format!(
            "Invalid arguments for `{tool}`: `type` is missing"
        ))
        .hint("`type` is one of image, video, text, tool, button, payload")
        .into());
    }
    parse(tool, args).map(Asked::Request)
}

/// The request `asked` for, to send through a team gateway: a Midjourney button press needs
/// the parent job's message, which only the gateway's own record has; refused, nothing sent.
fn through_gateway(asked: Asked) -> Result<Request, CliError> {
    match asked {
        Asked::Request(r) => Ok(r),
        Asked::Button(_) => Err(AppError::invalid(
            "A Midjourney button press does not go through a team gateway yet; nothing was sent",
        )
        .hint("press it with `conjure button` on a machine without a gateway configured (unset CONJURE_GATEWAY and the config's [gateway]) to spend with its own provider credentials")
        .into()),
    }
}

impl Server {
    async fn call(&self, name: &str, args: Map<String, Value>) -> Result<Value, CliError> {
        let app = &*self.app;
        match name {
            "list_models" => list_models(app, &parse(name, args)?),
            "quote" => {
                let asked = asked(name, args)?;
                if let Some(url) = &app.config.gateway {
                    let priced = gateway::priced(app, url, through_gateway(asked)?, false).await?;
                    return self.quote_json(&priced.order, "quote", None);
                }
                let order = self.order(asked).await?;
                self.quote_json(&order, "quote", None)
            }
            "generate" => {
                let mut args = args;
                let pay = take_pay_args(name, &mut args)?;
                let asked = asked(name, args)?;
                if let Some(url) = &app.config.gateway {
                    let request = through_gateway(asked)?;
                    let priced = gateway::priced(app, url, request, pay.again).await?;
                    let token = pay.token.as_deref().filter(|t| priced.order.accepts(t));
                    let through = priced.app(token);
                    return Box::pin(self.generate(&through, priced.order, pay)).await;
                }
                let order = self.order(asked).await?;
                self.generate(app, order, pay).await
            }
            "job_status" | "wait_job" | "fetch_job" => {
                let a: JobArgs = parse(name, args)?;
                match gateway::app_for(&app.config)? {
                    Some(through) => Box::pin(self.job(&through, name, a)).await,
                    None => self.job(app, name, a).await,
                }
            }
            "list_jobs" => {
                let a: ListArgs = parse(name, args)?;
                let session = app.session().await?;
                let filter = if a.pending { JobFilter::Pending } else { JobFilter::All };
                to_json(&app.list(&session, filter, a.limit.unwrap_or(20).clamp(1, 1000)).await?)
            }
            "balance" => {
                let a: ProviderArgs = parse(name, args)?;
                to_json(&app.balance(a.provider.unwrap_or(ProviderId::Katana)).await?)
            }
            "spend" => {
                let a: SpendArgs = parse(name, args)?;
                let since = match &a.since {
                    None => None,
                    Some(text) => Some(
                        conjure_app::timefmt::parse_since(text, conjure_app::timefmt::now_ms())
                            .ok_or_else(|| {
                                AppError::invalid(format!("`{text}` is not a time `since` understands"))
                                    .hint("give a UTC date (2026-11-01), a UTC time (2026-11-01T09:00:00Z) or a span back from now (7d, 12h)")
                            })?,
                    ),
                };
                let session = app.session().await?;
                to_json(&app.spend(&session, since, a.by.unwrap_or_default()).await?)
            }
            "doctor" => to_json(&app.doctor().await),
            "enhance_prompt" => {
                let a: EnhanceArgs = parse(name, args)?;
                let enhanced = app.enhance(ProviderId::ImaginePro, &a.prompt).await?;
                Ok(json!({"status": "ok", "prompt": a.prompt, "enhanced": enhanced}))
            }
            "edit_media" => edit(&app.config, parse(name, args)?).await,
            "media" => media(&app.config, name, args).await,
            _ => Err(AppError::invalid(format!("Unknown tool `{name}`")).into()),
        }
    }

    async fn order(&self, asked: Asked) -> Result<Order, CliError> {
        match asked {
            Asked::Request(r) => Ok(self.app.prepare(&r)?),
            Asked::Button(b) => {
                let session = self.app.session().await?;
                Ok(self.app.button_order(&session, &b).await?)
            }
        }
    }

    /// A quote as `conjure quote --json` prints it, with what to do next.
    fn quote_json(
        &self,
        order: &Order,
        status: &'static str,
        note: Option<&str>,
    ) -> Result<Value, CliError> {
        let provider = order.spec.provider;
        let base_url = self.app.config.provider(provider).base_url;
        let request = RequestView::new(provider, &order.wire, &base_url);
        let mut value = to_json(&QuoteView { status, quote: &order.quote, request })?;
        if let Value::Object(m) = &mut value {
            m.insert("approval_token".to_owned(), Value::String(order.quote.token.clone()));
            let mut next = format!(
                "Nothing was sent. Show this quote to the person; if they agree to pay it, call `generate` with the same arguments and \"approval_token\": \"{}\"",
                order.quote.token
            );
            if let Some(note) = note {
                next = format!("{note}. {next}");
            }
            m.insert("next".to_owned(), Value::String(next));
        }
        Ok(value)
    }

    /// The paid path with the token protocol: a token not issued for this very request is
    /// treated as no token (the new quote comes back), never as consent.
    /// `app` is this machine's providers, or a team gateway as every provider.
    async fn generate<C: Connector>(
        &self,
        app: &App<C>,
        order: Order,
        pay: PayArgs,
    ) -> Result<Value, CliError> {
        let note = match &pay.token {
            Some(t) if !order.accepts(t) => Some(
                "The approval_token was not issued for this request (the arguments, the price or the total differ)",
            ),
            _ => None,
        };
        let consent = pay.token.filter(|_| note.is_none()).map(Consent::Token);
        let options = PayOptions { again: pay.again, ..PayOptions::default() };
        // Cutting a streamed answer short leaves its job `unknown` (maybe charged): it is read
        // to the end whatever `wait_seconds` says.
        let streams = order
            .spec
            .items
            .iter()
            .any(|i| matches!(i, Item::Text(t) if t.mode != TextMode::Async));
        let wait = pay.wait;
        let interrupt = async move {
            if streams {
                std::future::pending::<()>().await;
            } else {
                tokio::time::sleep(wait).await;
            }
        };
        let session = app.session().await?;
        let paid = app.pay(&session, order, &options, consent, &observer, interrupt).await;
        match paid {
            Ok(Paid::NeedsApproval(order)) => {
                self.quote_json(&order, "confirmation_required", note)
            }
            Ok(Paid::Submitted(job)) => to_json(&JobView::of(&job)),
            Ok(Paid::Done(done)) => to_json(&JobView::new(&done.job, &done.outputs, done.elapsed)),
            Err(e) => self.finished(&session, Err(e)).await,
        }
    }

    /// `job_status`, `wait_job` or `fetch_job` (`name`) with `app`: this machine's providers,
    /// or the team gateway the job was sent through.
    async fn job<C: Connector>(
        &self,
        app: &App<C>,
        name: &str,
        a: JobArgs,
    ) -> Result<Value, CliError> {
        let session = app.session().await?;
        match name {
            "job_status" => to_json(&app.status(&session, &a.job, true).await?),
            "wait_job" => {
                let wait = wait_for(a.wait_seconds);
                let done = app
                    .wait(&session, &a.job, None, false, &observer, tokio::time::sleep(wait))
                    .await;
                self.finished(&session, done).await
            }
            _ => {
                let done = app.fetch(&session, &a.job, None, false, &observer).await?;
                to_json(&JobView::new(&done.job, &done.outputs, done.elapsed))
            }
        }
    }

    /// A job's result, or `still_pending` (not an error: the job runs on) when the wait ran out.
    async fn finished(
        &self,
        session: &conjure_app::Session,
        done: Result<conjure_app::Done, AppError>,
    ) -> Result<Value, CliError> {
        match done {
            Ok(done) => to_json(&JobView::new(&done.job, &done.outputs, done.elapsed)),
            Err(e) if e.kind == ErrorKind::StillPending && e.job.is_some() => {
                let Some(id) = e.job.clone() else { return Err(e.into()) };
                let job = session.journal.get(&id).await.map_err(AppError::from)?;
                let view = JobView::of(&job);
                Ok(json!({
                    "status": "still_pending",
                    "job_id": id.to_string(),
                    "request_id": job.request_id,
                    "hint": format!("the job continues at the provider; call `wait_job` with \"job\": \"{id}\" to collect it"),
                    "job": to_json(&view)?,
                }))
            }
            Err(e) => Err(e.into()),
        }
    }
}

fn list_models(app: &App, a: &ModelsArgs) -> Result<Value, CliError> {
    let provider: ProviderId =
        a.provider.as_deref().unwrap_or("katana").parse().map_err(CliError::from)?;
    if provider == ProviderId::ImaginePro {
        return to_json(&crate::commands::models::imaginepro_view(app, a.filter.as_deref()));
    }
    let kind: Option<MediaKind> =
        a.kind.as_deref().map(str::parse).transpose().map_err(CliError::from)?;
    let filter =
        a.filter.as_deref().map(|f| f.trim().to_ascii_lowercase()).filter(|f| !f.is_empty());
    let price = app.config.price(provider);
    let mut models: Vec<_> = app
        .catalogue()
        .iter(Some(provider), kind)
        .filter(|m| {
            filter.as_deref().is_none_or(|f| {
                m.id.to_ascii_lowercase().contains(f)
                    || m.aliases.iter().any(|a| a.to_ascii_lowercase().contains(f))
                    || m.legacy_key.as_deref().is_some_and(|k| k.to_ascii_lowercase().contains(f))
            })
        })
        .collect();
    models.sort_by(|a, b| (a.kind, a.min_credits(), &a.id).cmp(&(b.kind, b.min_credits(), &b.id)));
    if models.is_empty() {
        return Err(AppError::invalid(format!("No {provider} models match"))
            .hint("loosen the filters; `list_models` without `kind` and `filter` lists every model")
            .into());
    }
    to_json(&conjure_app::views::ModelsView {
        usd_per_credit: price.map(|p| p.micros_per_credit() as f64 / 1e6),
        refreshed_at: app.refreshed().map(conjure_app::catalogue::Refreshed::fetched_at),
        models: models.iter().map(|m| conjure_app::views::ModelView::new(m, price)).collect(),
    })
}

/// `conjure edit` for agents: the timeline given inline, rendered on a blocking thread.
async fn edit(config: &conjure_app::Config, a: EditArgs) -> Result<Value, CliError> {
    use conjure_media::{MediaError, RenderOptions, Timeline};
    let text = a.timeline.to_string();
    let mut timeline = Timeline::parse(&text, false)?;
    if let Some(out) = a.output {
        timeline.output.path = out;
    }
    // Only the caller's explicit `overwrite` (here or in the timeline) replaces a file.
    timeline.output.overwrite |= a.overwrite;
    timeline.validate().map_err(MediaError::from)?;
    let ff = crate::commands::edit::ffmpeg(config)?;
    let job = tokio::task::spawn_blocking(move || {
        if a.check {
            let (frames, fps, segments) = conjure_media::plan_summary(&ff, &timeline, None)?;
            return Ok(json!({"status": "ok", "frames": frames, "fps": fps, "segments": segments}));
        }
        let opts = RenderOptions {
            progress: None,
            probing: None,
            keep_temp: false,
            full_render: a.no_smart,
        };
        let mut report = conjure_media::render(&ff, &timeline, &opts)?;
        if let Ok(abs) = std::path::absolute(&report.output) {
            report.output = abs;
        }
        Ok::<_, MediaError>(json!({"status": "ok", "edit": report}))
    });
    match job.await {
        Ok(result) => Ok(result?),
        Err(e) => Err(AppError::other(format!("The render stopped: {e}")).into()),
    }
}

/// `conjure media` for agents: one `Op` as JSON, run on a blocking thread.
async fn media(
    config: &conjure_app::Config,
    tool: &str,
    mut args: Map<String, Value>,
) -> Result<Value, CliError> {
    use conjure_media::ops::RunOptions;
    use conjure_media::{LazyFfmpeg, Op};
    let overwrite = match args.remove("overwrite") {
        None | Some(Value::Null) => false,
        Some(v) => v.as_bool().ok_or_else(|| {
            CliError::from(AppError::invalid(format!(
                "Invalid arguments for `{tool}`: `overwrite` must be true or false"
            )))
        })?,
    };
    let op: Op = parse(tool, args)?;
    let ff = LazyFfmpeg::with_capabilities_cache(crate::commands::edit::capabilities_cache(config));
    let job = tokio::task::spawn_blocking(move || {
        let opts = RunOptions { overwrite, progress: None };
        op.run_with(&ff, &opts).map(|outcome| (op.name(), outcome))
    });
    match job.await {
        Ok(result) => {
            let (name, outcome) = result?;
            let outcome = crate::commands::media::absolute(outcome);
            Ok(json!({"status": "ok", "op": name, "result": to_json(&outcome)?}))
        }
        Err(e) => Err(AppError::other(format!("The step stopped: {e}")).into()),
    }
}
