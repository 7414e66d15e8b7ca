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
    /// Model key, legacy key or alias (see `conjure models --kind image`).
    #[arg(long, short, default_value = "gen")]
    pub model: String,
    /// Aspect ratio W:H, from the model's list (or `auto`).
    #[arg(long, short, default_value = "1:1")]
    pub aspect: String,
    /// Output format (default: from the -o file's extension, else png).
    #[arg(long, value_parser = ["png", "jpeg", "jpg", "webp"])]
    pub format: Option<String>,
    /// Input or reference image: a local file or an https:// URL (repeatable).
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
        }))
    }
}

pub async fn run(ctx: &Ctx, args: ImageArgs) -> anyhow::Result<()> {
    let order = ctx.app.prepare(&args.request()?)?;
    pay::run(ctx, order, &args.pay).await
}
