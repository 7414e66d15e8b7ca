//! One module per subcommand, plus the context they share.
//!
//! [`Ctx`] carries the application (its resolved configuration), whether a person can be asked,
//! and the printer. Commands translate flags into the application's plain requests, call it,
//! and print what it returns; the journal and providers are opened by the application on demand,
//! so commands that need neither, such as `models` or a `quote`, work without credentials or a
//! writable home.

pub mod attest;
pub mod auth;
pub mod balance;
pub mod batch;
pub mod button;
pub mod catalogue;
pub mod completions;
pub mod config;
pub mod demo;
pub mod demo_agent;
pub mod doctor;
pub mod edit;
pub mod enhance;
pub mod fetch;
pub mod gateway;
pub mod image;
pub mod jobs;
pub mod man;
pub mod mcp;
pub mod media;
pub mod models;
pub mod open;
pub mod pay;
pub mod quote;
pub mod remove_bg;
pub mod report;
pub mod retry;
pub mod sandbox;
pub mod serve;
pub mod spend;
pub mod status;
pub mod submit;
pub mod text;
pub mod upscale;
pub mod video;
pub mod wait;

use conjure_app::App;
use conjure_app::views::SettingView;

use crate::cli::{Command, Lazy};
use crate::output::Output;

/// What every command gets.
pub struct Ctx {
    pub app: App,
    /// Stdin and stderr are terminals: a person can be asked to approve.
    pub interactive: bool,
    pub out: Output,
    /// Every setting's value and where it came from (`conjure config`).
    pub origins: Vec<SettingView>,
}

/// A command that ran before settings were resolved, or one that needs them.
pub enum Early {
    Done(anyhow::Result<()>),
    Later(Box<Command>),
}

/// Runs the commands that must work whatever the environment and config file say: shell
/// completions, man pages, and the config file's path and template.
pub fn without_settings(command: Command, out: Output) -> Early {
    match command {
        Command::Completions(Lazy(args)) => {
            completions::run(out, &args);
            Early::Done(Ok(()))
        }
        Command::Man(Lazy(args)) => Early::Done(man::run(out, &args)),
        Command::Config(Lazy(args)) if args.without_settings() => {
            Early::Done(config::run_paths(out, &args))
        }
        other => Early::Later(Box::new(other)),
    }
}

/// Waits for Ctrl-C; never completes when the handler cannot be installed.
///
/// The handler is installed when this is called, not when the future is first polled: a
/// command that streams an answer may be busy printing before it polls the interrupt, and a
/// Ctrl-C in that window must stop it the documented way (job kept, exit 5), not kill it.
pub fn ctrl_c() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let installed = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    async move {
        #[cfg(unix)]
        if let Some(mut signal) = installed {
            if signal.recv().await.is_some() {
                return;
            }
            std::future::pending::<()>().await;
        }
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Whether `command` sends one paid request and waits for it (see `main`'s runtime).
pub fn one_request(command: &Command) -> bool {
    matches!(
        command,
        Command::Image(_)
            | Command::Video(_)
            | Command::Text(_)
            | Command::Button(_)
            | Command::Upscale(_)
            | Command::RemoveBg(_)
            | Command::Enhance(_)
            | Command::Submit(_)
    )
}

/// The paid commands that cannot go through a team gateway yet: with one configured they are
/// refused rather than sent to the provider behind the person's back.
fn not_through_a_gateway(command: &Command) -> Option<&'static str> {
    Some(match command {
        Command::Button(_) => "button",
        Command::Upscale(Lazy(args)) if !upscale::is_url(&args.target) => "upscale JOB",
        Command::Submit(_) => "submit",
        Command::Batch(_) => "batch",
        Command::Retry(_) => "retry",
        _ => return None,
    })
}

/// Runs one parsed command.
pub async fn dispatch(ctx: &Ctx, command: Command) -> anyhow::Result<()> {
    if ctx.app.config.gateway.is_some()
        && let Some(name) = not_through_a_gateway(&command)
    {
        return Err(crate::error::CliError::usage(format!(
            "`conjure {name}` does not go through a team gateway yet; nothing was sent"
        ))
        .hint("`image`, `video`, `text`, `upscale URL` and `remove-bg` do; run it without --gateway and with CONJURE_GATEWAY unset to send it with your own provider credentials")
        .into());
    }
    match command {
        Command::Image(Lazy(args)) => image::run(ctx, args).await,
        Command::Video(Lazy(args)) => video::run(ctx, args).await,
        Command::Text(Lazy(args)) => text::run(ctx, args).await,
        Command::Button(Lazy(args)) => button::run(ctx, args).await,
        Command::Upscale(Lazy(args)) => upscale::run(ctx, args).await,
        Command::RemoveBg(Lazy(args)) => remove_bg::run(ctx, args).await,
        Command::Enhance(Lazy(args)) => enhance::run(ctx, args).await,
        Command::Submit(Lazy(args)) => submit::run(ctx, args).await,
        Command::Quote(Lazy(args)) => quote::run(ctx, args).await,
        Command::Status(Lazy(args)) => status::run(ctx, args).await,
        Command::Wait(Lazy(args)) => wait::run(ctx, args).await,
        Command::Fetch(Lazy(args)) => fetch::run(ctx, args).await,
        Command::Jobs(Lazy(args)) => jobs::run(ctx, &args).await,
        Command::Retry(Lazy(args)) => retry::run(ctx, args).await,
        Command::Models(Lazy(args)) => models::run(ctx, &args).await,
        Command::Balance(Lazy(args)) => balance::run(ctx, args).await,
        Command::Spend(Lazy(args)) => spend::run(ctx, &args).await,
        Command::Batch(Lazy(args)) => batch::run(ctx, &args).await,
        Command::Catalogue(Lazy(args)) => catalogue::run(ctx, &args).await,
        Command::Attest(Lazy(args)) => attest::run(ctx, &args).await,
        Command::Auth(Lazy(args)) => auth::run(ctx, &args),
        Command::Sandbox(Lazy(args)) => sandbox::run(ctx, args).await,
        Command::Demo(Lazy(args)) => demo::run(ctx, args).await,
        Command::Edit(Lazy(args)) => edit::run(ctx, &args),
        Command::Media(Lazy(args)) => media::run(ctx, args),
        Command::Open(Lazy(args)) => open::run(ctx, &args).await,
        Command::Doctor(Lazy(args)) => doctor::run(ctx, &args).await,
        Command::Mcp(Lazy(args)) => mcp::run(ctx, args).await,
        Command::Serve(Lazy(args)) => serve::run(ctx, args).await,
        Command::Config(Lazy(args)) => {
            config::run(ctx, &args);
            Ok(())
        }
        Command::Completions(_) | Command::Man(_) => {
            unreachable!("run before settings are resolved")
        }
    }
}
