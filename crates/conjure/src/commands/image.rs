//! `conjure image`: generate images.

use clap::Args;
use conjure_core::spec::{ImageFormat, ImageItem, Item};
use conjure_core::{Catalogue, JobSpec, MediaKind, ProviderId};

use crate::cli::PayArgs;
use crate::commands::{Ctx, pay};
use crate::error::CliError;
use crate::inputs::{self, InputKind};

/// Generate images. Shows the quote and asks before spending; without a terminal (or with
/// --json) it prints the quote and exits 3 until approved with --approve TOKEN or --yes.
#[derive(Debug, Args, Clone)]
pub struct ImageArgs {
    /// What to draw.
    pub prompt: String,
    /// Model key, legacy key or alias (see `conjure models --type image`).
    #[arg(long, short, default_value = "gen")]
    pub model: String,
    /// Aspect ratio W:H, from the model's list (or `auto`).
    #[arg(long, short, default_value = "1:1")]
    pub aspect: String,
    /// Output format.
    #[arg(long, default_value = "png", value_parser = ["png", "jpeg", "jpg", "webp"])]
    pub format: String,
    /// Input or reference image: a local file or an https:// URL (repeatable).
    #[arg(long = "ref", value_name = "PATH|URL")]
    pub refs: Vec<String>,
    /// What to avoid.
    #[arg(long)]
    pub negative: Option<String>,
    /// Cheaper half-resolution output (imgnAI-hosted models only).
    #[arg(long)]
    pub fast: bool,
    /// UHD output.
    #[arg(long)]
    pub uhd: bool,
    /// How many images (each is one priced item of the same request).
    #[arg(long, short = 'n', default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub count: u32,
    /// Provider.
    #[arg(long, default_value = "katana")]
    pub provider: String,
    #[command(flatten)]
    pub pay: PayArgs,
}

impl ImageArgs {
    /// The normalised request these flags describe.
    pub fn spec(&self) -> Result<JobSpec, CliError> {
        let provider: ProviderId = self.provider.parse()?;
        let model = Catalogue::bundled().resolve(provider, Some(MediaKind::Image), &self.model)?;
        let format = ImageFormat::parse(&self.format)
            .ok_or_else(|| CliError::usage(format!("Unknown format `{}`", self.format)))?;
        let inputs = self
            .refs
            .iter()
            .map(|r| inputs::resolve(r, InputKind::Image, "--ref"))
            .collect::<Result<Vec<_>, _>>()?;
        let item = ImageItem {
            model: model.id.clone(),
            prompt: self.prompt.clone(),
            aspect_ratio: self.aspect.trim().to_owned(),
            format,
            inputs,
            negative_prompt: self.negative.clone().filter(|n| !n.trim().is_empty()),
            fast: self.fast,
            uhd: self.uhd,
        };
        Ok(JobSpec { provider, items: vec![Item::Image(item); self.count as usize] })
    }
}

pub async fn run(ctx: &Ctx, args: ImageArgs) -> anyhow::Result<()> {
    let spec = args.spec()?;
    pay::run_and_report(ctx, &spec, &args.pay, None).await
}
