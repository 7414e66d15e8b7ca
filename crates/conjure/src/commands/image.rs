//! `conjure image`: generate images.

use clap::Args;
use conjure_app::{ImageRequest, Request};

use crate::cli::{HookArgs, PayArgs};
use crate::commands::{Ctx, gateway};
use crate::error::CliError;

/// Generate images. Shows the quote and asks before spending; without a terminal (or with
/// --json) it prints the quote and exits 3 until approved with --approve TOKEN or --yes.
#[derive(Debug, Args, Clone)]
pub struct ImageArgs {
    /// What to draw.
    pub prompt: String,
    /// Model key, legacy key or alias (see `conjure models --kind image`); default `gen`, or
    /// `midjourney` with `--provider imaginepro` (also flux, nano-banana, lumi-girl).
    #[arg(long, short)]
    pub model: Option<String>,
    /// Aspect ratio W:H, from the model's list (or `auto`). Midjourney: appended as `--ar`.
    #[arg(long, short, default_value = "1:1")]
    pub aspect: String,
    /// Output format (default: from the -o file's extension, else png).
    #[arg(long, value_parser = ["png", "jpeg", "jpg", "webp"])]
    pub format: Option<String>,
    /// Input or reference image: a local file or an https:// URL (repeatable; ImaginePro: URLs,
    /// Nano Banana only).
    #[arg(long = "ref", value_name = "PATH|URL")]
    pub refs: Vec<String>,
    /// What to avoid.
    #[arg(long)]
    pub negative: Option<String>,
    /// Half-resolution output, which the provider calls cheaper (models hosted by imgnAI only;
    /// `conjure models MODEL` says).
    #[arg(long)]
    pub fast: bool,
    /// UHD output (Enhanced Quality on pink-image), on models that offer it.
    #[arg(long)]
    pub uhd: bool,
    /// How many images (each is one priced item of the same request; ImaginePro: Flux, 1 to 4).
    #[arg(long, short = 'n', default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub count: u32,
    /// Midjourney's speed: `fast`, or `relax` (appends ` --relax` to the prompt; cheaper).
    #[arg(long, value_parser = ["fast", "relax"])]
    pub mode: Option<String>,
    /// Expand the prompt first with the provider's free prompt enhancement (ImaginePro); the
    /// quote and the request carry the expanded prompt.
    #[arg(long)]
    pub enhance: bool,
    /// Provider: katana or imaginepro.
    #[arg(long, default_value = "katana")]
    pub provider: String,
    #[command(flatten)]
    pub hooks: HookArgs,
    #[command(flatten)]
    pub pay: PayArgs,
}

impl ImageArgs {
    /// `--format`, else the extension of a single `-o` file when it names an image format.
    fn format(&self) -> &str {
        if let Some(f) = &self.format {
            return f;
        }
        let ext =
            self.pay.output.output.as_deref().and_then(|p| p.extension()).and_then(|e| e.to_str());
        match ext.map(str::to_ascii_lowercase).as_deref() {
            Some("jpg" | "jpeg") => "jpeg",
            Some("webp") => "webp",
            _ => "png",
        }
    }

    /// The request these flags describe.
    pub fn request(&self) -> Result<Request, CliError> {
        Ok(Request::Image(ImageRequest {
            prompt: self.prompt.clone(),
            provider: self.provider.parse()?,
            model: self.model.clone(),
            aspect: self.aspect.clone(),
            format: self.format().to_owned(),
            refs: self.refs.clone(),
            negative: self.negative.clone(),
            fast: self.fast,
            uhd: self.uhd,
            count: self.count,
            mode: self.mode.clone(),
            hooks: self.hooks.hooks(),
        }))
    }
}

pub async fn run(ctx: &Ctx, args: ImageArgs) -> anyhow::Result<()> {
    let mut request = args.request()?;
    if args.enhance && ctx.app.config.gateway.is_some() {
        return Err(CliError::usage("`--enhance` asks the provider directly, not a gateway")
            .hint("write the prompt out in full, or run without --gateway")
            .into());
    }
    if args.enhance
        && let Request::Image(r) = &mut request
    {
        r.prompt = crate::commands::enhance::enhanced(ctx, r.provider, &r.prompt).await?;
    }
    gateway::prepare_and_pay(ctx, request, &args.pay).await
}
