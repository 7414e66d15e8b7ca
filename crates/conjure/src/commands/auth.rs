//! `conjure auth katana`: store Katana credentials in conjure's own credentials file (0600).
//!
//! The key and secret are read without echo on a terminal, or as two lines (or `KEY=VALUE`
//! lines) from standard input, never from arguments, so they stay out of shell history and
//! other processes' view of argv.

use std::io::{BufRead as _, IsTerminal as _};

use clap::{Args, ValueEnum};
use conjure_providers::credentials::{
    KatanaCredentials, conjure_credentials_file, write_credentials_file,
};
use serde_json::json;

use crate::commands::Ctx;
use crate::error::{CliError, Exit};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AuthProvider {
    Katana,
}

/// Save provider credentials (read without echo, or from stdin; never from arguments).
#[derive(Debug, Args)]
pub struct AuthArgs {
    pub provider: AuthProvider,
}

pub fn run(ctx: &Ctx, args: &AuthArgs) -> anyhow::Result<()> {
    let AuthProvider::Katana = args.provider;
    let (key, secret) = if std::io::stdin().is_terminal() {
        let key = rpassword::prompt_password("Katana API key: ")?;
        let secret = rpassword::prompt_password("Katana API secret: ")?;
        (key, secret)
    } else {
        read_stdin()?
    };
    let creds = KatanaCredentials::new(key.trim(), secret.trim()).map_err(|e| {
        let hint = e.hint();
        let mut err = CliError::new(Exit::Credentials, e.to_string());
        err.hint = hint;
        err
    })?;
    let path = conjure_credentials_file(&ctx.app.config.config_dir);
    write_credentials_file(&path, &creds).map_err(|e| CliError::new(Exit::Other, e.to_string()))?;
    if ctx.out.json {
        ctx.out.json_value(&json!({ "status": "ok", "provider": "katana", "path": path }));
    } else {
        ctx.out.line(path.display().to_string());
        ctx.out.note(
            "Saved (mode 600). conjure uses it when KATANA_API_KEY/KATANA_API_SECRET are unset and no secrets file exists at KATANA_SECRETS_FILE or ~/.openclaw/secrets/katana.env.",
        );
    }
    Ok(())
}

/// Two lines (key, then secret), or `KATANA_API_KEY=` / `KATANA_API_SECRET=` lines.
fn read_stdin() -> Result<(String, String), CliError> {
    let mut lines = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| CliError::usage(format!("Cannot read stdin: {e}")))?;
        let line = line.trim().to_owned();
        if !line.is_empty() && !line.starts_with('#') {
            lines.push(line);
        }
    }
    let named = |name: &str| {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix('=')).map(str::to_owned))
    };
    if let (Some(k), Some(s)) = (named("KATANA_API_KEY"), named("KATANA_API_SECRET")) {
        return Ok((k, s));
    }
    match lines.as_slice() {
        [k, s] if !k.contains('=') => Ok((k.clone(), s.clone())),
        _ => Err(CliError::new(
            Exit::Credentials,
            "Expected the key and the secret on two lines of stdin",
        )
        .hint("printf '%s\\n%s\\n' \"$KEY\" \"$SECRET\" | conjure auth katana")),
    }
}
