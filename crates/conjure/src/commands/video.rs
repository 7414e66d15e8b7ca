//! `conjure video`: generate video clips.

use clap::Args;
use conjure_core::spec::{Item, VideoItem};
use conjure_core::{Catalogue, JobSpec, MediaKind, ProviderId};

use crate::cli::PayArgs;
use crate::commands::{Ctx, pay};
use crate::error::CliError;
use crate::inputs::{self, InputKind};

/// Generate a video. Shows the quote and asks before spending; without a terminal (or with
/// --json) it prints the quote and exits 3 until approved with --approve TOKEN or --yes.
#[derive(Debug, Args, Clone)]
pub struct VideoArgs {
    /// What should happen.
    pub prompt: String,
    /// Model key, legacy key or alias (see `conjure models --type video`).
    #[arg(long, short, default_value = "seedance-2-0-fast")]
    pub model: String,
    /// Length in seconds, from the model's list (default: its shortest).
    #[arg(long, short)]
    pub duration: Option<u32>,
    /// Aspect ratio W:H, from the model's list (default: 16:9, or the model's first).
    #[arg(long, short)]
    pub aspect: Option<String>,
    /// First frame: a local image or an https:// URL.
    #[arg(long, value_name = "PATH|URL")]
    pub first_frame: Option<String>,
    /// Last frame: a local image or an https:// URL (most models need a first frame too).
    #[arg(long, value_name = "PATH|URL")]
    pub last_frame: Option<String>,
    /// Reference image (repeatable).
    #[arg(long = "ref", value_name = "PATH|URL")]
    pub refs: Vec<String>,
    /// Audio input (repeatable; only models that take audio).
    #[arg(long, value_name = "PATH|URL")]
    pub audio: Vec<String>,
    /// Provider.
    #[arg(long, default_value = "katana")]
    pub provider: String,
    #[command(flatten)]
    pub pay: PayArgs,
}

impl VideoArgs {
    /// The normalised request these flags describe.
    pub fn spec(&self) -> Result<JobSpec, CliError> {
        let provider: ProviderId = self.provider.parse()?;
        let model = Catalogue::bundled().resolve(provider, Some(MediaKind::Video), &self.model)?;
        let duration = match self.duration {
            Some(d) => d,
            None => model.durations().first().copied().unwrap_or(5),
        };
        let aspect = match &self.aspect {
            Some(a) => a.trim().to_owned(),
            None if model.aspects.iter().any(|a| a == "16:9") => "16:9".to_owned(),
            None => model.aspects.first().cloned().unwrap_or_else(|| "16:9".to_owned()),
        };
        let image = |v: &String, flag| inputs::resolve(v, InputKind::Image, flag);
        let item = VideoItem {
            model: model.id.clone(),
            prompt: self.prompt.clone(),
            duration_seconds: duration,
            aspect_ratio: aspect,
            first_frame: self
                .first_frame
                .as_ref()
                .map(|v| image(v, "--first-frame"))
                .transpose()?,
            last_frame: self.last_frame.as_ref().map(|v| image(v, "--last-frame")).transpose()?,
            references: self.refs.iter().map(|v| image(v, "--ref")).collect::<Result<_, _>>()?,
            audio: self
                .audio
                .iter()
                .map(|v| inputs::resolve(v, InputKind::Audio, "--audio"))
                .collect::<Result<_, _>>()?,
            videos: Vec::new(),
        };
        Ok(JobSpec { provider, items: vec![Item::Video(item)] })
    }
}

pub async fn run(ctx: &Ctx, args: VideoArgs) -> anyhow::Result<()> {
    let spec = args.spec()?;
    pay::run_and_report(ctx, &spec, &args.pay, None).await
}
