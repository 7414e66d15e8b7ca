//! One module per subcommand, plus the context they share.
//!
//! [`Ctx`] carries the application (its resolved configuration), whether a person can be asked,
//! and the printer. Commands translate flags into the application's plain requests, call it,
//! and print what it returns; the journal and providers are opened by the application on demand,
//! so commands that need neither, such as `models` or a `quote`, work without credentials or a
//! writable home.

pub mod auth;
pub mod balance;
pub mod demo;
pub mod edit;
pub mod fetch;
pub mod image;
pub mod jobs;
pub mod media;
pub mod models;
pub mod pay;
pub mod quote;
pub mod report;
pub mod retry;
pub mod sandbox;
pub mod status;
pub mod submit;
pub mod video;
pub mod wait;

use conjure_app::App;

use crate::cli::Command;
use crate::output::Output;

/// What every command gets.
pub struct Ctx {
    pub app: App,
    /// Stdin and stderr are terminals: a person can be asked to approve.
    pub interactive: bool,
    pub out: Output,
}

/// Waits for Ctrl-C; never completes when the handler cannot be installed.
pub async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Runs one parsed command.
pub async fn dispatch(ctx: &Ctx, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Image(args) => image::run(ctx, args).await,
        Command::Video(args) => video::run(ctx, args).await,
        Command::Submit(args) => submit::run(ctx, args).await,
        Command::Quote(args) => quote::run(ctx, args),
        Command::Status(args) => status::run(ctx, args).await,
        Command::Wait(args) => wait::run(ctx, args).await,
        Command::Fetch(args) => fetch::run(ctx, args).await,
        Command::Jobs(args) => jobs::run(ctx, &args).await,
        Command::Retry(args) => retry::run(ctx, args).await,
        Command::Models(args) => models::run(ctx, &args),
        Command::Balance(args) => balance::run(ctx, args).await,
        Command::Auth(args) => auth::run(ctx, &args),
        Command::Sandbox(args) => sandbox::run(ctx, args).await,
        Command::Demo(args) => demo::run(ctx, args).await,
        Command::Edit(args) => edit::run(ctx, &args),
        Command::Media(args) => media::run(ctx, args),
    }
}
