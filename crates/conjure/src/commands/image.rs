//! `conjure image`: generate images.

use clap::Args;
use conjure_app::{ImageRequest, Request};

use crate::cli::PayArgs;
use crate::commands::{Ctx, pay};
use crate::error::CliError;

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
    /// The request these flags describe.
    pub fn request(&self) -> Result<Request, CliError> {
        Ok(Request::Image(ImageRequest {
            prompt: self.prompt.clone(),
            provider: self.provider.parse()?,
            model: self.model.clone(),
            aspect: self.aspect.clone(),
            format: self.format.clone(),
            refs: self.refs.clone(),
            negative: self.negative.clone(),
            fast: self.fast,
            uhd: self.uhd,
            count: self.count,
        }))
    }
}

pub async fn run(ctx: &Ctx, args: ImageArgs) -> anyhow::Result<()> {
    let order = ctx.app.prepare(&args.request()?)?;
    pay::run(ctx, order, &args.pay).await
}
