//! `conjure serve`: the team gateway on Postgres (issue 14). So far: the job store, connected
//! and migrated at start, `GET /healthz` answered from it, and a graceful stop on SIGTERM or
//! Ctrl-C. The member, job and provider APIs come later, in `conjure-gateway`.
//!
//! stdout is the one line a script needs, the gateway's base URL (with `--json` one object:
//! status, url, the database redacted); people's notes go to stderr. The database URL is never
//! printed with its password.

use std::future::Future;
use std::net::SocketAddr;

use clap::Args;
use conjure_core::env;
use conjure_gateway::{Gateway, PgStore, server};
use serde_json::json;

use crate::commands::Ctx;
use crate::error::{CliError, Exit};

/// Run the team gateway on a Postgres database (in progress: health checks so far).
///
/// An HTTP server whose jobs live in a Postgres database every instance shares. So far it
/// answers GET /healthz (200 when the database answers, 503 when it does not). SIGTERM or
/// Ctrl-C stops it: it stops accepting, finishes the requests in flight, and exits 0.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The Postgres database (postgres://user:password@host:port/database); its tables are
    /// created or brought up to date. Default: CONJURE_DATABASE_URL, which keeps a password out
    /// of the process list.
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,
    /// Address to listen on (loopback only by default; port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8790")]
    pub addr: SocketAddr,
}

pub async fn run(ctx: &Ctx, args: ServeArgs) -> anyhow::Result<()> {
    let url = database_url(args.database, std::env::var(env::CONJURE_DATABASE_URL).ok())?;
    let store = PgStore::connect(&url).await?;
    let listener = tokio::net::TcpListener::bind(args.addr).await.map_err(|e| {
        CliError::new(Exit::Other, format!("Cannot listen on `{}`: {e}", args.addr))
            .hint("pick another --addr (port 0 picks a free one)")
    })?;
    let base = format!("http://{}", listener.local_addr()?);
    if ctx.out.json {
        ctx.out.json_value(&json!({"status": "serving", "url": base, "database": store.target()}));
    } else {
        ctx.out.line(&base);
        ctx.out.note(format!(
            "conjure serve: jobs in {}; health at {base}/healthz. SIGTERM or Ctrl-C stops it.",
            store.target()
        ));
    }
    let gateway = Gateway::new(store, ctx.app.clone(), &instance_owner());
    server::serve(listener, gateway, stop_signal()).await?;
    ctx.out.note("conjure serve: stopped");
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
