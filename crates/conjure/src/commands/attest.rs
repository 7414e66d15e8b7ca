//! `conjure attest`: the confidential-compute proof of an E2EE Private text model.
//!
//! conjure sends a fresh random nonce, saves the raw answer and reports what came back: the
//! status, the top-level fields, and whether the nonce appears in it. The format is
//! undocumented, so the proof itself is not verified here; a proof without the nonce is not
//! fresh (it may be a replay) and the command exits 4 after saving it for inspection.

use std::path::PathBuf;

use clap::Args;

use crate::commands::Ctx;
use crate::error::{CliError, Exit};

/// Fetch the attestation of an E2EE Private text model for a fresh nonce, save the raw answer,
/// and report whether the nonce came back in it (the format is not interpreted).
#[derive(Debug, Args)]
pub struct AttestArgs {
    /// The E2EE Private text model (`conjure models --kind text` shows the privacy tiers).
    pub model: String,
    /// Save the raw answer here (default: a new file in the data directory's attestations/).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Replace the -o file if it exists (never done otherwise).
    #[arg(long)]
    pub force: bool,
}

pub async fn run(ctx: &Ctx, args: &AttestArgs) -> anyhow::Result<()> {
    let view = ctx.app.attest(&args.model, args.output.as_deref(), args.force).await?;
    if ctx.out.json {
        ctx.out.json_value(&view);
    } else {
        ctx.out.line(format!(
            "Attestation of {} ({}): HTTP {}, {}, {} bytes",
            view.model,
            view.privacy,
            view.status,
            view.content_type.as_deref().unwrap_or("no content type"),
            view.bytes
        ));
        let fields = match view.body {
            "object" if view.fields.is_empty() => "an empty JSON object".to_owned(),
            "object" => view.fields.join(", "),
            "not_json" => "not JSON".to_owned(),
            other => format!("a JSON {other}"),
        };
        ctx.out.line(format!("  fields     {fields}"));
        let present =
            if view.nonce_present { "present in the answer" } else { "NOT in the answer" };
        ctx.out.line(format!("  nonce      {} ({present})", view.nonce));
        ctx.out.line(format!("  sha256     {}", view.sha256));
        ctx.out.line(format!("  saved to   {}", view.saved_to));
    }
    if !view.nonce_present {
        let message = format!(
            "The attestation of `{}` is not fresh: the nonce conjure sent does not appear in the answer",
            view.model
        );
        let hint = format!(
            "it may be a cached or replayed proof; the answer is saved in `{}` for inspection; run `conjure attest {}` again, and ask the provider if it persists",
            view.saved_to, view.model
        );
        if ctx.out.json {
            // The report is the one JSON object; the verdict goes to people on stderr.
            ctx.out.important(format!("error: {message}\nhint: {hint}"));
            return Err(CliError::silent(Exit::Provider).into());
        }
        return Err(CliError::new(Exit::Provider, message).hint(hint).into());
    }
    ctx.out.note(
        "The nonce came back, so the proof was made for this request; conjure does not verify the proof itself (its format is undocumented).",
    );
    Ok(())
}
