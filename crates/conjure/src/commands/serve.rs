//! `conjure serve`: the team gateway on Postgres (issue 14). The job store, connected and
//! migrated at start; members' Katana wire endpoints, approvals and the admin API
//! (`conjure-gateway`); `GET /healthz`; a graceful stop on SIGTERM or Ctrl-C. And
//! `conjure serve admin ...`: members, projects, keys, budgets and usage, straight on the
//! database (whoever can reach the database is the admin; the admin HTTP API takes the admin
//! key instead).
//!
//! stdout is the one line a script needs, the gateway's base URL (with `--json` one object:
//! status, url, the database redacted); people's notes go to stderr. The database URL is never
//! printed with its password. A new key is printed once, on stdout, and never again.

use std::future::Future;
use std::net::SocketAddr;

use clap::{Args, Subcommand};
use conjure_core::ProviderId;
use conjure_core::env;
use conjure_core::policy::{Budget, Limit};
use conjure_gateway::admin::{self, BudgetScope, NewMember};
use conjure_gateway::member::MemberId;
use conjure_gateway::ratelimit::{self, Rate};
use conjure_gateway::{Gateway, PgStore, keys, logs, server};
use serde_json::json;

use crate::commands::Ctx;
use crate::error::{CliError, Exit};

/// Run the team gateway on a Postgres database, or manage its members (`admin`).
///
/// An HTTP server whose jobs live in a Postgres database every instance shares. Members send
/// Katana's own requests with their gateway key (POST/GET /v1/generation-requests, GET
/// /v1/models, GET /v1/me/balance); the gateway prices each from the catalogue, sends it once
/// with its own Katana credentials within the member's budgets, and answers 402 with an
/// approval link above the member's per-request limit. Members register webhooks at
/// /v1/webhooks (signed, retried, logged); GET /metrics (admin key) is Prometheus text. GET
/// /healthz answers 200 when the database does. Submitted jobs are polled in the background by
/// whichever instance holds their lease, so results are recorded (and webhooks sent) whether or
/// not the member polls, and a killed instance's jobs are finished by another. SIGTERM or Ctrl-C
/// stops it: it stops accepting, finishes the requests in flight, and exits 0.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The Postgres database (postgres://user:password@host:port/database); its tables are
    /// created or brought up to date. Default: CONJURE_DATABASE_URL, which keeps a password out
    /// of the process list.
    #[arg(long, value_name = "URL", global = true)]
    pub database: Option<String>,
    /// Address to listen on (loopback only by default; port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8790")]
    pub addr: SocketAddr,
    /// Deliver webhooks to loopback and private addresses too (refused by default, so that a
    /// member cannot make the gateway call into its own network): for tests, and for receivers
    /// on the gateway's private network.
    #[arg(long)]
    pub allow_private_webhooks: bool,
    /// Seconds an instance stays alive after its last heartbeat, and a claim on a job's
    /// background poll lasts: another instance settles a killed instance's jobs in flight, and
    /// polls its submitted jobs, this long after it stopped.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub lease_seconds: u64,
    /// Where member jobs' output files are kept: the mount point every instance shares (NFS, a
    /// cloud file system, one volume mounted into every container), so that any instance
    /// serves a file whichever instance downloaded it. Default: `<data dir>/outputs`, which
    /// serves only this instance.
    #[arg(long, value_name = "DIR")]
    pub storage: Option<std::path::PathBuf>,
    /// Requests a minute each member may make (`120/min`), counted across every instance; a
    /// member's own rate (`admin member rate-limit`) wins. Over it: 429 with Retry-After.
    /// Default: no limit.
    #[arg(long, value_name = "N/min", value_parser = parse_rate)]
    pub rate_limit: Option<Rate>,
    /// Seconds a request waits for its turn at a provider that allows few requests in flight
    /// per account (Katana: one, across every instance) before it is answered 503 with
    /// Retry-After, nothing sent.
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub turn_wait: u64,
    /// Log lines on stderr (one per request, and the background work's events): `text`, or
    /// `json` (one object a line: time, instance, request id, member, route, status, latency,
    /// job).
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Option<ServeCommand>,
}

#[derive(Debug, Subcommand)]
pub enum ServeCommand {
    /// Manage the gateway's members, projects, keys and budgets, on its database.
    Admin(AdminArgs),
}

#[derive(Debug, Args)]
pub struct AdminArgs {
    #[command(subcommand)]
    pub action: AdminAction,
}

#[derive(Debug, Subcommand)]
pub enum AdminAction {
    /// Add members.
    #[command(subcommand)]
    Member(MemberAction),
    /// Add projects (budgets a request names with the X-Conjure-Project header) and their
    /// members.
    #[command(subcommand)]
    Project(ProjectAction),
    /// Make and revoke keys.
    #[command(subcommand)]
    Key(KeyAction),
    /// Set budgets.
    #[command(subcommand)]
    Budget(BudgetAction),
    /// What each member spent in the last day and month, their exposure and key prefixes; and
    /// each project's budgets and members.
    Usage(UsageArgs),
}

#[derive(Debug, Subcommand)]
pub enum MemberAction {
    /// Add a member (a person or an agent spending through the gateway).
    Add(MemberAddArgs),
    /// Set a member's own rate limit, which wins over `conjure serve --rate-limit`.
    RateLimit(MemberRateArgs),
}

#[derive(Debug, Args)]
pub struct MemberRateArgs {
    /// The member.
    pub name: String,
    /// Requests a minute (`30/min`), `none` for no limit, or `default` for the gateway's.
    pub rate: String,
}

/// How `conjure serve` writes its log lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object a line, for log shippers.
    Json,
}

fn parse_rate(text: &str) -> Result<Rate, String> {
    Rate::parse(text).filter(|r| r.0 > 0).ok_or_else(|| {
        format!("`{text}` is not a rate; give it as requests a minute, e.g. `120/min`")
    })
}

/// The log format of a `conjure serve` that runs the gateway (not its `admin` commands).
pub fn log_format(command: &crate::cli::Command) -> Option<LogFormat> {
    match command {
        crate::cli::Command::Serve(crate::cli::Lazy(args)) if args.command.is_none() => {
            Some(args.log_format)
        }
        _ => None,
    }
}

/// The gateway's logging: its access log and background events at least at info, everything
/// else at `level`; as text or JSON lines, on stderr.
pub fn init_logging(level: tracing::Level, format: LogFormat) {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let gateway = LevelFilter::from_level(level).max(LevelFilter::INFO);
    let filter = Targets::new()
        .with_default(LevelFilter::from_level(level))
        .with_target("conjure_gateway", gateway);
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_target(false);
    let layer = match format {
        LogFormat::Text => layer.boxed(),
        LogFormat::Json => layer.with_ansi(false).event_format(logs::JsonLines).boxed(),
    };
    let _ = tracing_subscriber::registry().with(layer.with_filter(filter)).try_init();
}

#[derive(Debug, Args)]
pub struct MemberAddArgs {
    /// The member's name: 1-64 ASCII letters, digits, `.`, `_` or `-`.
    pub name: String,
    /// A budget: `daily` or `monthly`, and a limit (`500cr` in credits, `$5` in dollars).
    /// Repeat for several.
    #[arg(long, num_args = 2, value_names = ["WINDOW", "LIMIT"])]
    pub budget: Vec<String>,
    /// A provider the member may spend with (repeat for several); default: every provider.
    #[arg(long, value_name = "PROVIDER")]
    pub provider: Vec<String>,
    /// What one request may cost and be sent without a person approving its quote (`50cr`,
    /// `$0.25`); above it the member's client gets 402 and an approval link. Default: every
    /// request needs approval.
    #[arg(long, value_name = "LIMIT")]
    pub per_request: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ProjectAction {
    /// Add a project with its own budgets and the members who may name it.
    Add(ProjectAddArgs),
    /// Let members name a project (and spend its budget), or stop them.
    #[command(subcommand)]
    Member(ProjectMemberAction),
}

#[derive(Debug, Args)]
pub struct ProjectAddArgs {
    /// The project's name: 1-64 ASCII letters, digits, `.`, `_` or `-`.
    pub name: String,
    /// A budget: `daily` or `monthly`, and a limit (`500cr`, `$5`). Repeat for several.
    #[arg(long, num_args = 2, value_names = ["WINDOW", "LIMIT"])]
    pub budget: Vec<String>,
    /// A member who may name the project (repeat for several); only members may spend its
    /// budget.
    #[arg(long, value_name = "MEMBER")]
    pub member: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum ProjectMemberAction {
    /// Let a member name the project.
    Add(ProjectMemberArgs),
    /// Stop a member naming the project (their jobs so far stay counted in its budget).
    Remove(ProjectMemberArgs),
}

#[derive(Debug, Args)]
pub struct ProjectMemberArgs {
    /// The project.
    pub project: String,
    /// The member.
    pub member: String,
}

#[derive(Debug, Subcommand)]
pub enum KeyAction {
    /// Make a key for MEMBER (or, with --admin, an admin key) and print it once.
    Create(KeyCreateArgs),
    /// Revoke a key by its visible prefix (`cjm_1a2b3c4d`); it is answered 401 from then on.
    Revoke(KeyRevokeArgs),
}

#[derive(Debug, Args)]
pub struct KeyCreateArgs {
    /// The member the key is for.
    #[arg(required_unless_present = "admin", conflicts_with = "admin")]
    pub member: Option<String>,
    /// An admin key, for the admin HTTP API and approving any member's quote.
    #[arg(long)]
    pub admin: bool,
}

#[derive(Debug, Args)]
pub struct KeyRevokeArgs {
    /// The key's visible prefix, as `usage` lists it.
    pub prefix: String,
}

#[derive(Debug, Subcommand)]
pub enum BudgetAction {
    /// Set a member's (or a project's) budget for a window: a limit, or `none` to remove it.
    Set(BudgetSetArgs),
}

#[derive(Debug, Args)]
pub struct BudgetSetArgs {
    /// The member whose budget it is.
    #[arg(long, required_unless_present = "project", conflicts_with = "project")]
    pub member: Option<String>,
    /// The project whose budget it is.
    #[arg(long)]
    pub project: Option<String>,
    /// `daily` or `monthly`.
    pub window: String,
    /// `500cr`, `$5`, or `none`.
    pub limit: String,
}

#[derive(Debug, Args)]
pub struct UsageArgs {
    /// Only this member.
    #[arg(long)]
    pub member: Option<String>,
}

pub async fn run(ctx: &Ctx, args: ServeArgs) -> anyhow::Result<()> {
    let url = database_url(args.database, std::env::var(env::CONJURE_DATABASE_URL).ok())?;
    let store = PgStore::connect(&url).await?;
    if let Some(ServeCommand::Admin(admin)) = args.command {
        let result = run_admin(ctx, &store, admin.action).await;
        store.close().await;
        return result;
    }
    // Checked before the URL is printed: whoever reads the URL may send at once.
    let storage = match &args.storage {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| {
                CliError::usage(format!(
                    "Cannot use `{}` as the output storage: {e}",
                    dir.display()
                ))
                .hint("give --storage a writable directory (the mount point the instances share)")
            })?;
            Some(conjure_gateway::storage::Storage::new(dir.clone()))
        }
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(args.addr).await.map_err(|e| {
        CliError::new(Exit::Other, format!("Cannot listen on `{}`: {e}", args.addr))
            .hint("pick another --addr (port 0 picks a free one)")
    })?;
    let base = format!("http://{}", listener.local_addr()?);
    // The handlers are in place before the URL is printed: whoever reads it may stop the
    // gateway at once, and that stop must be the graceful one.
    let stop = stop_signal();
    if ctx.out.json {
        ctx.out.json_value(&json!({"status": "serving", "url": base, "database": store.target()}));
    } else {
        ctx.out.line(&base);
        ctx.out.note(format!(
            "conjure serve: jobs in {}; health at {base}/healthz. SIGTERM or Ctrl-C stops it.",
            store.target()
        ));
    }
    let hooks = conjure_gateway::webhooks::Config {
        allow_private: args.allow_private_webhooks,
        ..conjure_gateway::webhooks::Config::default()
    };
    let leases = conjure_gateway::leases::Config::with_lease(std::time::Duration::from_secs(
        args.lease_seconds,
    ));
    let owner = instance_owner();
    logs::set_instance(&owner);
    let turns = conjure_gateway::turns::Config {
        max_wait: std::time::Duration::from_secs(args.turn_wait),
        ..conjure_gateway::turns::Config::default()
    };
    let mut gateway = Gateway::new(store, ctx.app.clone(), &owner)
        .with_webhooks(hooks)
        .with_leases(leases)
        .with_turns(turns)
        .with_rate_limit(args.rate_limit);
    if let Some(storage) = storage {
        gateway = gateway.with_storage(storage);
    }
    server::serve(listener, gateway, stop).await?;
    ctx.out.note("conjure serve: stopped");
    Ok(())
}

fn now() -> i64 {
    conjure_app::timefmt::now_ms()
}

fn limit(text: &str, flag: &str) -> Result<Limit, CliError> {
    Limit::parse(text).ok_or_else(|| {
        CliError::usage(format!("`{flag} {text}` is not a limit"))
            .hint("give it in credits (`500cr`) or dollars (`$5`)")
    })
}

/// `--budget WINDOW LIMIT` pairs.
fn budgets(pairs: &[String]) -> Result<Vec<Budget>, CliError> {
    pairs
        .chunks(2)
        .map(|pair| {
            let [window, amount] = pair else {
                return Err(CliError::usage("`--budget` takes a window and a limit"));
            };
            let window = admin::parse_window(window).ok_or_else(|| {
                CliError::usage(format!("Unknown budget window `{window}`"))
                    .hint("use daily or monthly")
            })?;
            Ok(Budget { provider: None, window, limit: limit(amount, "--budget")? })
        })
        .collect()
}

async fn run_admin(ctx: &Ctx, store: &PgStore, action: AdminAction) -> anyhow::Result<()> {
    match action {
        AdminAction::Member(MemberAction::Add(a)) => {
            let providers = if a.provider.is_empty() {
                None
            } else {
                let parsed = a.provider.iter().map(|p| {
                    p.parse::<ProviderId>().map_err(|_| {
                        CliError::usage(format!("Unknown provider `{p}`"))
                            .hint("use katana or imaginepro")
                    })
                });
                Some(parsed.collect::<Result<Vec<_>, _>>()?)
            };
            let per_request = a.per_request.as_deref().map(|l| limit(l, "--per-request"));
            let new = NewMember {
                name: a.name,
                budgets: budgets(&a.budget)?,
                providers,
                per_request: per_request.transpose()?,
            };
            let member = admin::add_member(store, &new, now()).await?;
            if ctx.out.json {
                ctx.out.json_value(&json!({"status": "added", "member": member.id.as_str()}));
            } else {
                ctx.out.line(member.id.as_str());
                ctx.out.note(format!(
                    "Member `{}` added; `conjure serve admin key create {}` makes its key",
                    member.id, member.id
                ));
            }
        }
        AdminAction::Member(MemberAction::RateLimit(a)) => {
            let rate = if a.rate.trim().eq_ignore_ascii_case("default") {
                None
            } else {
                Some(Rate::parse(&a.rate).ok_or_else(|| {
                    CliError::usage(format!("`{}` is not a rate", a.rate))
                        .hint("give it as requests a minute (`30/min`), `none` or `default`")
                })?)
            };
            let member = MemberId(a.name);
            ratelimit::set_member_rate(store, &member, rate).await?;
            let shown = rate.map_or_else(|| "the gateway's default".to_owned(), |r| r.to_string());
            if ctx.out.json {
                ctx.out.json_value(&json!({
                    "status": "set", "member": member.as_str(),
                    "rate": rate.map(|r| r.to_string()),
                }));
            } else {
                ctx.out.note(format!("The rate limit of `{member}` is {shown}"));
            }
        }
        AdminAction::Project(ProjectAction::Add(a)) => {
            let members: Vec<MemberId> = a.member.iter().cloned().map(MemberId).collect();
            admin::add_project(store, &a.name, &budgets(&a.budget)?, &members, now()).await?;
            if ctx.out.json {
                ctx.out.json_value(
                    &json!({"status": "added", "project": a.name, "members": a.member}),
                );
            } else {
                ctx.out.line(&a.name);
                ctx.out.note(format!(
                    "Its members name it with the header `X-Conjure-Project`; \
                     `conjure serve admin project member add {} MEMBER` adds one",
                    a.name
                ));
            }
        }
        AdminAction::Project(ProjectAction::Member(ProjectMemberAction::Add(a))) => {
            let member = MemberId(a.member);
            admin::add_project_member(store, &a.project, &member, now()).await?;
            if ctx.out.json {
                ctx.out.json_value(&json!({
                    "status": "added", "project": a.project, "member": member.as_str(),
                }));
            } else {
                ctx.out.note(format!("`{member}` may now name project `{}`", a.project));
            }
        }
        AdminAction::Project(ProjectAction::Member(ProjectMemberAction::Remove(a))) => {
            let member = MemberId(a.member);
            let removed = admin::remove_project_member(store, &a.project, &member).await?;
            if ctx.out.json {
                ctx.out.json_value(&json!({
                    "status": if removed { "removed" } else { "not_a_member" },
                    "project": a.project, "member": member.as_str(),
                }));
            } else if removed {
                ctx.out.note(format!("`{member}` may no longer name project `{}`", a.project));
            } else {
                ctx.out.note(format!("`{member}` was not a member of project `{}`", a.project));
            }
        }
        AdminAction::Key(KeyAction::Create(a)) => {
            let member = a.member.map(MemberId);
            let key = keys::create(store, member.as_ref(), now()).await?;
            if ctx.out.json {
                ctx.out.json_value(&json!({
                    "status": "created",
                    "member": member.as_ref().map(MemberId::as_str),
                    "admin": member.is_none(),
                    "prefix": key.prefix(),
                    "key": key.expose(),
                }));
            } else {
                ctx.out.line(key.expose());
                ctx.out.note(format!(
                    "Key `{}` made; it is shown only now (the gateway keeps its hash). \
                     `conjure serve admin key revoke {}` revokes it.",
                    key.prefix(),
                    key.prefix()
                ));
            }
        }
        AdminAction::Key(KeyAction::Revoke(a)) => {
            keys::revoke(store, &a.prefix, now()).await?;
            if ctx.out.json {
                ctx.out.json_value(&json!({"status": "revoked", "prefix": a.prefix.trim()}));
            } else {
                ctx.out.note(format!("Key `{}` revoked", a.prefix.trim()));
            }
        }
        AdminAction::Budget(BudgetAction::Set(a)) => {
            let (scope, owner) = match (a.member, a.project) {
                (Some(m), _) => (BudgetScope::Member, m),
                (None, Some(p)) => (BudgetScope::Project, p),
                (None, None) => return Err(CliError::usage("Name --member or --project").into()),
            };
            let window = admin::parse_window(&a.window).ok_or_else(|| {
                CliError::usage(format!("Unknown budget window `{}`", a.window))
                    .hint("use daily or monthly")
            })?;
            let new_limit = if a.limit.trim().eq_ignore_ascii_case("none") {
                None
            } else {
                Some(limit(&a.limit, "budget set")?)
            };
            admin::set_budget(store, scope, &owner, window, new_limit).await?;
            if ctx.out.json {
                ctx.out.json_value(&json!({
                    "status": "set", "owner": owner, "window": a.window,
                    "limit": new_limit.map(|l| l.to_string()),
                }));
            } else {
                let shown = new_limit.map_or_else(|| "none".to_owned(), |l| l.to_string());
                ctx.out.note(format!("The {} budget of `{owner}` is {shown}", a.window));
            }
        }
        AdminAction::Usage(a) => {
            let member = a.member.map(MemberId);
            let sandbox = ctx.app.config.sandbox;
            let usage = admin::usage(store, member.as_ref(), sandbox, now()).await?;
            let mut projects = admin::projects(store).await?;
            if let Some(m) = &member {
                projects.retain(|p| p.members.iter().any(|name| name == m.as_str()));
            }
            if ctx.out.json {
                ctx.out.json_value(&json!({"members": usage, "projects": projects}));
            } else {
                for m in &usage {
                    let windows: Vec<String> = m
                        .windows
                        .iter()
                        .map(|w| {
                            let credits: Vec<String> =
                                w.credits.iter().map(|(p, c)| format!("{c} {p} credits")).collect();
                            let credits = if credits.is_empty() {
                                "0 credits".to_owned()
                            } else {
                                credits.join(", ")
                            };
                            let budget = if w.budgets.is_empty() {
                                String::new()
                            } else {
                                format!(" of {}", w.budgets.join(" and "))
                            };
                            format!("{}: {credits} ({}){budget}", w.window, w.usd)
                        })
                        .collect();
                    let keys: Vec<&str> = m
                        .keys
                        .iter()
                        .map(|k| if k.revoked { "revoked" } else { k.prefix.as_str() })
                        .collect();
                    ctx.out.line(format!(
                        "{}  {} jobs, {} unknown or sending ({} credits)  {}  keys: {}",
                        m.member,
                        m.jobs,
                        m.exposure_jobs,
                        m.exposure_credits,
                        windows.join("; "),
                        if keys.is_empty() { "none".to_owned() } else { keys.join(", ") },
                    ));
                }
                for p in &projects {
                    let budgets = if p.budgets.is_empty() {
                        "no budget".to_owned()
                    } else {
                        p.budgets.join(", ")
                    };
                    let members =
                        if p.members.is_empty() { "none".to_owned() } else { p.members.join(", ") };
                    ctx.out.line(format!("project {}  {budgets}  members: {members}", p.project));
                }
            }
        }
    }
    Ok(())
}

/// This instance's name on the jobs it reserves: its process id and start time, so that two
/// instances (on one host or several) are told apart.
fn instance_owner() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("serve-{}-{:x}", std::process::id(), nanos & 0xffff_ffff)
}

/// The database from `--database`, else from the environment.
fn database_url(flag: Option<String>, from_env: Option<String>) -> Result<String, CliError> {
    flag.or(from_env).filter(|url| !url.trim().is_empty()).ok_or_else(|| {
        CliError::usage("No database to keep the gateway's jobs in").hint(format!(
            "give --database postgres://user@host/db, or set {}",
            env::CONJURE_DATABASE_URL
        ))
    })
}

/// Resolves on SIGTERM (how service managers and orchestrators stop a process) or Ctrl-C. Both
/// handlers are installed at once, before the server starts.
fn stop_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let interrupt = crate::commands::ctrl_c();
    async move {
        #[cfg(unix)]
        if let Some(mut term) = term {
            tokio::select! {
                _ = term.recv() => {}
                () = interrupt => {}
            }
            return;
        }
        interrupt.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_wins_over_the_environment_and_one_is_needed() {
        let url = |s: &str| Some(s.to_owned());
        assert_eq!(
            database_url(url("postgres://a/x"), url("postgres://b/y")).unwrap(),
            "postgres://a/x"
        );
        assert_eq!(database_url(None, url("postgres://b/y")).unwrap(), "postgres://b/y");
        for (flag, from_env) in [(None, None), (None, url(" ")), (url(""), None)] {
            let err = database_url(flag, from_env).unwrap_err();
            assert_eq!(err.exit, Exit::Usage);
            assert!(err.hint.unwrap().contains(env::CONJURE_DATABASE_URL));
        }
    }
}
