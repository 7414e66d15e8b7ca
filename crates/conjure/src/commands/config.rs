//! `conjure config`: the resolved settings and where each came from (a flag, an environment
//! variable, the config file, or the built-in default), and whether each provider's
//! credentials are present and where. Never a credential's value: conjure reads them to check
//! them and reports only their place.
//!
//! `conjure config path` prints where the config file is; `conjure config init` writes a
//! commented one there (`settings::CONFIG_TEMPLATE`), refusing to replace an existing file
//! unless `--force`. Both work whatever the current config file says, so a broken file can be
//! found and replaced.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use conjure_app::views::ConfigView;
use conjure_providers::registry;
use serde_json::json;

use crate::commands::Ctx;
use crate::error::CliError;
use crate::output::Output;
use crate::settings::{CONFIG_TEMPLATE, Paths};

/// Show the resolved settings and where each came from; `init` writes a commented config file.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub action: Option<ConfigAction>,
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Show every setting, its value and its source (the default without a subcommand).
    Show,
    /// Print the path of the config file conjure reads (it may not exist yet).
    Path,
    /// Write a commented config file documenting every setting at the path conjure reads.
    Init(InitArgs),
}

/// Write a commented config file documenting every setting.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Replace an existing config file.
    #[arg(long)]
    pub force: bool,
}

impl ConfigArgs {
    /// `path` and `init` need only where the file is, not what it says.
    pub fn without_settings(&self) -> bool {
        matches!(self.action, Some(ConfigAction::Path | ConfigAction::Init(_)))
    }
}

/// `config path` and `config init`.
pub fn run_paths(out: Output, args: &ConfigArgs) -> anyhow::Result<()> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let paths = Paths::from_env(&env);
    let file = &paths.config_file;
    match &args.action {
        Some(ConfigAction::Init(init)) => {
            write_template(file, init.force)?;
            if out.json {
                out.json_value(&json!({"status": "ok", "path": file}));
            } else {
                out.line(file.display().to_string());
                out.note("Wrote a commented config file: every setting is at its default until you uncomment it.");
            }
        }
        _ if out.json => out.json_value(&json!({"path": file, "exists": file.exists()})),
        _ => out.line(file.display().to_string()),
    }
    Ok(())
}

/// Writes the template through a temp file and a rename, so a reader never sees half a file.
fn write_template(path: &Path, force: bool) -> anyhow::Result<()> {
    if path.exists() && !force {
        return Err(CliError::usage(format!(
            "The config file `{}` already exists",
            path.display()
        ))
        .hint("pass --force to replace it, or edit it")
        .into());
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("Cannot create `{}`", dir.display()))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(CONFIG_TEMPLATE.as_bytes()).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(anyhow::Error::new(e)
            .context(format!("Cannot write the config file `{}`", path.display())));
    }
    Ok(())
}

/// `config` and `config show`.
pub fn run(ctx: &Ctx, args: &ConfigArgs) {
    debug_assert!(!args.without_settings());
    let config = &ctx.app.config;
    let config_file = ctx
        .origins
        .iter()
        .find(|o| o.key == "config_file")
        .and_then(|o| o.value.clone())
        .unwrap_or_default();
    let view = ConfigView {
        config_file_exists: Path::new(&config_file).exists(),
        config_file,
        settings: ctx.origins.clone(),
        credentials: registry::ALL.into_iter().map(|p| config.credentials(p)).collect(),
    };
    if ctx.out.json {
        ctx.out.json_value(&view);
        return;
    }
    let state = if view.config_file_exists {
        "exists"
    } else {
        "not found; `conjure config init` writes a commented one"
    };
    ctx.out.line(format!("Config file: {} ({state})", view.config_file));
    ctx.out.line("");
    ctx.out.line(format!("{:<26} {:<40} FROM", "SETTING", "VALUE"));
    for s in &view.settings {
        let value = s.value.as_deref().unwrap_or("(none)");
        ctx.out.line(format!("{:<26} {value:<40} {}", s.key, s.source));
    }
    ctx.out.line("");
    ctx.out.line(format!("{:<26} {:<40} WHERE", "CREDENTIALS", "STATE"));
    for c in &view.credentials {
        let (state, place) = match (&c.source, &c.problem) {
            (Some(source), _) => ("present", source.to_string()),
            (None, Some(problem)) => ("absent", problem.clone()),
            (None, None) => ("absent", String::new()),
        };
        ctx.out.line(format!("{:<26} {state:<40} {place}", c.provider.as_str()));
    }
}
