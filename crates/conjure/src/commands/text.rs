//! `conjure text`: ask a text model, on the same quote -> approve path as media.

use std::io::Read as _;
use std::path::PathBuf;

use clap::Args;
use conjure_app::{Request, TextRequest};
use conjure_core::text::TextMode;

use crate::cli::{ApprovalArgs, OutputArgs, PayArgs};
use crate::commands::{Ctx, gateway, pay};
use crate::error::CliError;

/// Ask a text model. Shows the quote and asks before spending; the answer streams to stdout
///
/// The answer is printed on stdout as it arrives (reasoning on stderr), then a summary of what it
/// cost. Text is billed by tokens: a reserve (at least 10 credits) is taken up front and the
/// unused part refunded; the quote shows the reserve, the expected charge and the worst case.
/// Without a terminal (or with --json) it prints the quote and exits 3 until approved with
/// --approve TOKEN or --yes.
#[derive(Debug, Args, Clone)]
pub struct TextArgs {
    /// The question; `-` reads it from stdin. Optional with --messages or --continue.
    pub prompt: Option<String>,
    /// Model key or alias (default: text.model in the config, else grok-4-3; see `conjure
    /// models --kind text`).
    #[arg(long, short)]
    pub model: Option<String>,
    /// A system message, first in the conversation.
    #[arg(long, value_name = "TEXT")]
    pub system: Option<String>,
    /// The conversation so far, as an OpenAI-style JSON array of messages.
    #[arg(long, value_name = "FILE")]
    pub messages: Option<PathBuf>,
    /// Continue the last text conversation, or the one of job JOB (`--continue=JOB`): its
    /// messages and answer are sent before the new question.
    #[arg(
        long = "continue",
        value_name = "JOB",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = ""
    )]
    pub continue_from: Option<String>,
    /// The most tokens the answer may have (default: the provider's, 16000). A large value
    /// raises the up-front reserve.
    #[arg(long, value_name = "N")]
    pub max_tokens: Option<u32>,
    /// Sampling temperature, 0 to 2.
    #[arg(long, value_name = "F")]
    pub temperature: Option<f64>,
    /// Nucleus sampling, above 0 and at most 1.
    #[arg(long, value_name = "F")]
    pub top_p: Option<f64>,
    /// An image for vision models: a local file or an https:// URL (repeatable).
    #[arg(long, value_name = "PATH|URL")]
    pub image: Vec<String>,
    /// A file for models that read files: an https:// URL (repeatable).
    #[arg(long, value_name = "URL")]
    pub file: Vec<String>,
    /// Wait for the whole answer instead of streaming it.
    #[arg(long, conflicts_with = "async_")]
    pub no_stream: bool,
    /// Send it as an async job and poll for the answer like media (with --no-wait, collect
    /// it later with `conjure wait`).
    #[arg(long = "async")]
    pub async_: bool,
    #[command(flatten)]
    pub approval: ApprovalArgs,
    /// With --async: return at once with the job id.
    #[arg(long, requires = "async_")]
    pub no_wait: bool,
    /// Provider.
    #[arg(long, default_value = "katana")]
    pub provider: String,
}

impl TextArgs {
    fn pay_args(&self) -> PayArgs {
        PayArgs {
            approval: self.approval.clone(),
            no_wait: self.no_wait,
            output: OutputArgs::default(),
        }
    }

    fn mode(&self) -> TextMode {
        if self.async_ {
            TextMode::Async
        } else if self.no_stream {
            TextMode::Whole
        } else {
            TextMode::Stream
        }
    }

    fn prompt(&self) -> Result<Option<String>, CliError> {
        match self.prompt.as_deref() {
            Some("-") => {
                let mut text = String::new();
                std::io::stdin().read_to_string(&mut text).map_err(|e| {
                    CliError::usage(format!("Cannot read the prompt from stdin: {e}"))
                })?;
                Ok(Some(text))
            }
            other => Ok(other.map(str::to_owned)),
        }
    }

    fn messages(&self) -> Result<Option<serde_json::Value>, CliError> {
        let Some(path) = &self.messages else { return Ok(None) };
        let text = std::fs::read_to_string(path).map_err(|e| {
            CliError::usage(format!("Cannot read the messages file `{}`: {e}", path.display()))
                .hint("give a readable JSON file holding an array of messages")
        })?;
        serde_json::from_str(&text).map(Some).map_err(|e| {
            CliError::usage(format!("`{}` is not JSON: {e}", path.display())).hint(
                "the file must hold an array like [{\"role\": \"user\", \"content\": \"hello\"}]",
            )
        })
    }
}

pub async fn run(ctx: &Ctx, args: TextArgs) -> anyhow::Result<()> {
    if ctx.app.config.gateway.is_none() {
        let order = order(ctx, &args).await?;
        return pay::run(ctx, order, &args.pay_args()).await;
    }
    // Through a team gateway: local images travel inline, the gateway quotes and sends it.
    let request = Request::Text(request(ctx, &args).await?);
    gateway::prepare_and_pay(ctx, request, &args.pay_args()).await
}

/// The priced order these flags describe (reads the journal for `--continue`).
pub async fn order(ctx: &Ctx, args: &TextArgs) -> anyhow::Result<conjure_core::Order> {
    Ok(ctx.app.prepare(&Request::Text(request(ctx, args).await?))?)
}

/// The request these flags describe (reads the journal for `--continue`).
async fn request(ctx: &Ctx, args: &TextArgs) -> anyhow::Result<TextRequest> {
    let mut request = TextRequest {
        prompt: args.prompt()?,
        provider: args.provider.parse().map_err(CliError::from)?,
        model: args.model.clone().unwrap_or_else(|| ctx.app.config.text_model.clone()),
        system: args.system.clone(),
        messages: args.messages()?,
        max_tokens: args.max_tokens,
        temperature: args.temperature,
        top_p: args.top_p,
        images: args.image.clone(),
        files: args.file.clone(),
        mode: args.mode(),
        ..TextRequest::new("")
    };
    if let Some(job) = &args.continue_from {
        let session = ctx.app.session().await?;
        let named = Some(job.as_str()).filter(|j| !j.is_empty());
        let (history, from) = ctx.app.conversation(&session, named).await?;
        request.history = history;
        request.continues = Some(from.id.to_string());
        if args.model.is_none() {
            // A conversation goes on with the model it had, unless told otherwise.
            request.model.clone_from(&from.model);
        }
    }
    Ok(request)
}
