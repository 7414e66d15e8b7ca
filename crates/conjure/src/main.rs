//! The `conjure` binary: parse, resolve settings, run one command, map the outcome to the
//! documented exit code.

mod cli;
mod commands;
mod error;
mod output;
mod settings;

fn main() {
    commands::report::init_local_offset();
    let cli = cli::Cli::parse_args();
    let out =
        output::Output::new(cli.global.json, cli.global.quiet, cli.global.color, cli.global.events);
    match commands::serve::log_format(&cli.command) {
        Some(format) => commands::serve::init_logging(log_level(cli.global.verbose), format),
        None => init_logging(cli.global.verbose, cli.global.events),
    }
    let code = match run(cli, out) {
        Ok(()) => error::Exit::Ok,
        Err(err) => {
            if !err.is_silent() {
                out.error(&err);
            }
            err.exit
        }
    };
    std::process::exit(code as i32);
}

fn run(cli: cli::Cli, out: output::Output) -> Result<(), error::CliError> {
    // Completions, man pages and the config file's path work whatever the config file says.
    let command = match commands::without_settings(cli.command, out) {
        commands::Early::Done(result) => return result.map_err(error::classify),
        commands::Early::Later(command) => command,
    };
    let settings = settings::Settings::resolve(&cli.global)?;
    let ctx = commands::Ctx {
        app: conjure_app::App::new(settings.config),
        interactive: settings.interactive,
        out,
        origins: settings.origins,
    };
    // A command that sends one request and waits for its answer runs on this thread alone: no
    // worker to wake for each chunk of the answer. Servers and batches get two workers.
    let mut builder = if commands::one_request(&command) {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut multi = tokio::runtime::Builder::new_multi_thread();
        multi.worker_threads(2);
        multi
    };
    let runtime = builder.enable_all().build().map_err(|e| {
        error::CliError::new(error::Exit::Other, format!("Cannot start the runtime: {e}"))
    })?;
    runtime.block_on(commands::dispatch(&ctx, *command)).map_err(error::classify)
}

/// The level `-v` and `CONJURE_LOG` ask for (warnings by default).
fn log_level(verbose: u8) -> tracing::Level {
    match (verbose, std::env::var(conjure_core::env::CONJURE_LOG).ok().as_deref()) {
        (0, Some("debug")) | (2.., _) => tracing::Level::DEBUG,
        (0, Some("info")) | (1, _) => tracing::Level::INFO,
        _ => tracing::Level::WARN,
    }
}

fn init_logging(verbose: u8, events: bool) {
    let level = log_level(verbose);
    let logs = tracing_subscriber::fmt().with_max_level(level).with_target(false);
    if events {
        // Every stderr line is an event: each log record becomes a `log` event.
        logs.with_writer(output::EventLog::default).with_ansi(false).without_time().init();
    } else {
        logs.with_writer(std::io::stderr).init();
    }
}
