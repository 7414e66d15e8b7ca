//! `conjure video`: generate video clips.

use clap::Args;
use conjure_app::{Request, VideoRequest};

use crate::cli::{HookArgs, PayArgs};
use crate::commands::{Ctx, gateway};
use crate::error::CliError;

/// Generate a video. Shows the quote and asks before spending; without a terminal (or with
/// --json) it prints the quote and exits 3 until approved with --approve TOKEN or --yes.
#[derive(Debug, Args, Clone)]
pub struct VideoArgs {
    /// What should happen.
    pub prompt: String,
    /// Model key, legacy key or alias (see `conjure models --kind video`); default
    /// `seedance-2-0-fast`, or `mj-video` with `--provider imaginepro`.
    #[arg(long, short)]
    pub model: Option<String>,
    /// Length in seconds, from the model's list (default: its shortest).
    #[arg(long, short)]
    pub duration: Option<u32>,
    /// Aspect ratio W:H, from the model's list (default: 16:9, or the model's first).
    #[arg(long, short)]
    pub aspect: Option<String>,
    /// First frame: a local image or an https:// URL (ImaginePro: a URL, required).
    #[arg(long, value_name = "PATH|URL")]
    pub first_frame: Option<String>,
    /// Last frame: a local image or an https:// URL (most models need a first frame too;
    /// ImaginePro: a URL, required).
    #[arg(long, value_name = "PATH|URL")]
    pub last_frame: Option<String>,
    /// Reference image (repeatable).
    #[arg(long = "ref", value_name = "PATH|URL")]
    pub refs: Vec<String>,
    /// Audio input (repeatable; only models that take audio).
    #[arg(long, value_name = "PATH|URL")]
    pub audio: Vec<String>,
    /// Provider: katana or imaginepro.
    #[arg(long, default_value = "katana")]
    pub provider: String,
    #[command(flatten)]
    pub hooks: HookArgs,
    #[command(flatten)]
    pub pay: PayArgs,
}

impl VideoArgs {
    /// The request these flags describe.
    pub fn request(&self) -> Result<Request, CliError> {
        Ok(Request::Video(VideoRequest {
            prompt: self.prompt.clone(),
            provider: self.provider.parse()?,
            model: self.model.clone(),
            duration: self.duration,
            aspect: self.aspect.clone(),
            first_frame: self.first_frame.clone(),
            last_frame: self.last_frame.clone(),
            refs: self.refs.clone(),
            audio: self.audio.clone(),
            hooks: self.hooks.hooks(),
        }))
    }
}

pub async fn run(ctx: &Ctx, args: VideoArgs) -> anyhow::Result<()> {
    gateway::prepare_and_pay(ctx, args.request()?, &args.pay).await
}
