//! `conjure auth PROVIDER`: store a provider's credentials in conjure's own credentials file
//! (0600). What is asked for, and where it is stored, is the provider registry's business.
//!
//! Values are read without echo on a terminal, or as lines (or `NAME=VALUE` lines) from
//! standard input, never from arguments, so they stay out of shell history and other
//! processes' view of argv.

use std::io::{BufRead as _, IsTerminal as _};

use clap::Args;
use conjure_core::ProviderId;
use conjure_providers::registry::{self, CredentialField};
use serde_json::json;

use crate::commands::Ctx;
use crate::error::{CliError, Exit};

/// Save provider credentials (read without echo, or from stdin; never from arguments).
#[derive(Debug, Args)]
pub struct AuthArgs {
    /// The provider: `katana` (API key and secret) or `imaginepro` (API key).
    pub provider: String,
}

fn credentials_error(e: &conjure_providers::Error) -> CliError {
    let mut err = CliError::new(Exit::Credentials, e.to_string());
    err.hint = e.hint();
    err
}

pub fn run(ctx: &Ctx, args: &AuthArgs) -> anyhow::Result<()> {
    let provider: ProviderId = args.provider.parse()?;
    let fields = registry::credential_fields(provider);
    if fields.is_empty() {
        return Err(
            credentials_error(&conjure_providers::Error::UnsupportedProvider { provider }).into()
        );
    }
    let values = if std::io::stdin().is_terminal() {
        fields
            .iter()
            .map(|f| rpassword::prompt_password(format!("{provider} {}: ", f.label)))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        read_stdin(provider, fields)?
    };
    let values: Vec<String> = values.iter().map(|v| v.trim().to_owned()).collect();
    let path = registry::save_credentials(provider, &ctx.app.config.config_dir, &values)
        .map_err(|e| credentials_error(&e))?;
    if ctx.out.json {
        ctx.out.json_value(&json!({ "status": "ok", "provider": provider, "path": path }));
    } else {
        ctx.out.line(path.display().to_string());
        let names: Vec<&str> = fields.iter().map(|f| f.env).collect();
        // Only Katana has a second file (its skill's) that is looked at first.
        let when = match provider {
            ProviderId::Katana => format!(
                "when {} are unset and no other credentials file is configured",
                names.join("/")
            ),
            ProviderId::ImaginePro => format!("when {} is unset", names.join("/")),
        };
        ctx.out.note(format!("Saved (mode 600). conjure uses it {when}."));
    }
    Ok(())
}

/// One line per value, in order, or `NAME=VALUE` lines.
fn read_stdin(provider: ProviderId, fields: &[CredentialField]) -> Result<Vec<String>, CliError> {
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
    if let Some(values) = fields.iter().map(|f| named(f.env)).collect::<Option<Vec<_>>>() {
        return Ok(values);
    }
    if lines.len() == fields.len()
        && lines.iter().all(|l| !fields.iter().any(|f| l.starts_with(&format!("{}=", f.env))))
    {
        return Ok(lines);
    }
    let labels: Vec<&str> = fields.iter().map(|f| f.label).collect();
    let lines =
        if fields.len() == 1 { "one line".to_owned() } else { format!("{} lines", fields.len()) };
    let pattern = vec!["%s\\n"; fields.len()].concat();
    let vars: Vec<String> = fields.iter().map(|f| format!("\"${}\"", f.env)).collect();
    Err(CliError::new(
        Exit::Credentials,
        format!("Expected the {} on {lines} of stdin", labels.join(" and ")),
    )
    .hint(format!("printf '{pattern}' {} | conjure auth {provider}", vars.join(" "))))
}
