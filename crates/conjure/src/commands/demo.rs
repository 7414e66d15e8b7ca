//! `conjure demo`: the whole paid path, offline. Starts the sandbox in-process and runs an image,
//! a video and a streamed text answer (Katana), then a Midjourney grid and U1 on it (ImaginePro,
//! a parent and its child job) through the application layer's paid path (quote,
//! approval, reserve, submit, poll, download, summary), with no credentials and no network, then
//! edits the image and the video into a short
//! captioned clip with the local engine. The jobs go to the person's own journal, so `conjure
//! jobs` shows them, in the sandbox ledger: marked `sandbox`, never counted in real totals,
//! budgets or the duplicate rule.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use conjure_app::views::JobView;
use conjure_app::{
    App, ButtonRequest, Destination, ImageRequest, Paid, PayOptions, Progress, Request,
    TextRequest, VideoRequest,
};
use conjure_core::runner::Event;
use conjure_core::text::Delta;
use conjure_core::{Consent, env};
use conjure_sandbox::SandboxConfig;
use serde_json::json;

use crate::commands::{Ctx, report};
use crate::settings::Settings;

/// Try conjure offline: generate an image, a video and a text answer against the built-in sandbox
///
/// Placeholder media, no credentials, no real money; then the two are edited into a captioned
/// clip. The jobs appear in `conjure jobs`, marked sandbox, outside every real total and budget.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Folder for the demo's files.
    #[arg(long = "out-dir", short = 'o', value_name = "DIR", default_value = "conjure-demo")]
    pub out: PathBuf,
    /// Deprecated spelling of --out-dir.
    #[arg(long = "out", value_name = "DIR", hide = true, conflicts_with = "out")]
    pub out_deprecated: Option<PathBuf>,
    /// Instead, show what an agent does: conjure's MCP server driven as an MCP client would
    /// (list, quote, generate without and with the token, wait, fetch, edit), every message shown.
    #[arg(long)]
    pub agent: bool,
}

pub async fn run(ctx: &Ctx, mut args: DemoArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    if let Some(dir) = args.out_deprecated.take() {
        ctx.out.warn("--out is deprecated and goes away in the next release; use --out-dir");
        args.out = dir;
    }
    let sandbox = conjure_sandbox::start(SandboxConfig::default()).await?;
    std::fs::create_dir_all(&args.out)?;

    // The demo's own world: the in-process sandbox (its base URLs and placeholder credentials,
    // never the user's), the sandbox ledger of the user's journal, none of the user's limits.
    let mut env = ctx.app.config.env.clone();
    env.retain(|k, _| {
        !k.starts_with("KATANA_") && k != env::IMAGINEPRO_API_KEY && !k.ends_with("_BASE_URL")
    });
    for name in [env::CONJURE_MAX_COST, env::CONJURE_DAILY_BUDGET] {
        env.remove(name);
    }
    for (name, value) in
        sandbox.exports(conjure_sandbox::DEMO_KEY).unwrap_or_default().into_iter().chain(
            sandbox.imaginepro_exports(conjure_sandbox::IMAGINEPRO_DEMO_KEY).unwrap_or_default(),
        )
    {
        env.insert(name.to_owned(), value);
    }
    if args.agent {
        // The agent's files go where the demo's do (its tools take no folder of their own).
        env.insert(
            env::CONJURE_OUT_DIR.to_owned(),
            std::path::absolute(&args.out)?.display().to_string(),
        );
    }
    let mut config = Settings::from_env(env, false)?.config;
    config.max_cost = None;
    config.budgets.clear();
    config.sandbox = true;
    let app = App::new(config);
    if args.agent {
        let result = crate::commands::demo_agent::run(ctx, app, &sandbox, &args.out).await?;
        sandbox.shutdown().await;
        if ctx.out.json {
            ctx.out.json_value(&json!({"status": "ok", "agent": result}));
        } else if let Some(path) = result["edit"]["edit"]["output"].as_str() {
            ctx.out.line(path);
        }
        ctx.out.note(format!(
            "\nDemo finished in {:.1} s. Register conjure with your agent: `claude mcp add conjure -- conjure mcp` (README, \"For agents: MCP\").",
            started.elapsed().as_secs_f64()
        ));
        return Ok(());
    }
    let session = app.session().await?;
    let human = ctx.out.human();

    ctx.out.note(format!(
        "conjure demo: offline sandbox at {} (placeholder media, no real charges)\n",
        sandbox.base_url()
    ));
    let options = PayOptions {
        again: true,
        destination: Some(Destination::Dir(args.out.clone())),
        ..PayOptions::default()
    };
    let requests = [
        (
            "image",
            Request::Image(ImageRequest {
                model: Some("gpt-image-2".into()),
                aspect: "16:9".into(),
                ..ImageRequest::new("a lighthouse on a cliff at dawn, watercolor")
            }),
        ),
        (
            "video",
            Request::Video(VideoRequest {
                model: Some("seedance-2-0-fast".into()),
                duration: Some(5),
                aspect: Some("16:9".into()),
                ..VideoRequest::new("waves rolling under the lighthouse, slow camera push")
            }),
        ),
    ];

    let mut results = Vec::new();
    for (label, request) in requests {
        ctx.out.note(format!("== {label} =="));
        let order = app.prepare(&request)?;
        results.extend(pay_media(ctx, &app, &session, order, &options).await?);
        ctx.out.note("");
    }
    // Text: a question whose answer streams as it arrives (on stderr here: stdout lists files).
    ctx.out.note("== text ==");
    let order = app.prepare(&Request::Text(TextRequest {
        model: "grok-4-3".into(),
        ..TextRequest::new("Write a one-line caption for a lighthouse at dawn")
    }))?;
    human.quote(&order.quote, app.config.price(order.spec.provider));
    ctx.out.note("Approved (sandbox credits, no real money). The answer, as it arrives:");
    let progress = report::observer(human, true);
    let observer = |p: Progress<'_>| match p {
        Progress::Job(Event::Streamed { delta: Delta::Answer(a), .. }) => human.note_raw(a),
        Progress::Job(Event::Streamed { delta: Delta::Started { .. }, .. }) => {}
        other => progress(other),
    };
    let paid = app
        .pay(&session, order, &options, Some(Consent::Yes), &observer, std::future::pending())
        .await?;
    if let Paid::Done(done) = paid {
        human.note_raw("\n");
        let view = JobView::new(&done.job, &[], done.elapsed);
        report::text_summary(human, &done.job, &view, done.elapsed);
        results.push(serde_json::to_value(view)?);
    }
    ctx.out.note("");
    // ImaginePro: a Midjourney grid, then U1 on its first image, a child job of the grid.
    ctx.out.note("== imaginepro: midjourney grid, then U1 ==");
    let order = app.prepare(&Request::Image(ImageRequest {
        provider: conjure_core::ProviderId::ImaginePro,
        ..ImageRequest::new("a lighthouse on a cliff at dawn, watercolor --ar 16:9")
    }))?;
    let Some(grid) = pay_media(ctx, &app, &session, order, &options).await? else {
        anyhow::bail!("the demo's Midjourney grid did not finish");
    };
    let parent = grid["job_id"].as_str().unwrap_or_default().to_owned();
    results.push(grid);
    let press = ButtonRequest {
        job: parent.clone(),
        button: "U1".into(),
        mask: None,
        prompt: None,
        hooks: conjure_core::spec::Hooks::default(),
    };
    let order = app.button_order(&session, &press).await?;
    if let Some(child) = pay_media(ctx, &app, &session, order, &options).await? {
        ctx.out.note(format!(
            "Lineage: {parent} (grid)\n  └─ U1 → {} (upscaled; `conjure status` shows it)",
            child["job_id"].as_str().unwrap_or_default()
        ));
        results.push(child);
    }
    ctx.out.note("");
    sandbox.shutdown().await;

    ctx.out.note("== edit ==");
    let paths: Vec<String> = results
        .iter()
        .filter(|r| r["kind"] != "text" && r["provider"] == "katana")
        .filter_map(|r| r["outputs"][0]["path"].as_str().map(str::to_owned))
        .collect();
    let [image_path, video_path] = paths.as_slice() else {
        anyhow::bail!("the demo jobs did not deliver an image and a video");
    };
    let edit_path = std::fs::canonicalize(&args.out)?.join("demo-edit.mp4");
    let report = edit(&app.config, image_path, video_path, &edit_path)?;
    ctx.out.note(format!(
        "Edited {:.2} s ({} frames, {}x{}) in {} segment(s): the image zooms, crossfades into the video, captioned.",
        report.duration, report.frames, report.width, report.height, report.segments
    ));
    if !ctx.out.json {
        ctx.out.line(report.output.display().to_string());
    }

    let elapsed = started.elapsed().as_secs_f64();
    if ctx.out.json {
        ctx.out.json_value(&json!({
            "status": "ok", "jobs": results, "edit": report.output, "out": std::fs::canonicalize(&args.out)?, "elapsed_seconds": elapsed,
        }));
    }
    let quoted = |p: &str| format!("'{}'", p.replace('\'', "'\\''"));
    ctx.out.note(format!(
        "Demo finished in {elapsed:.1} s. Files are in {}.\n\nNext:\n  \
         1. conjure jobs --tree\n     the demo's jobs, in your journal, marked sandbox (no real money), U1 under its grid\n  \
         2. conjure auth katana && conjure image \"a red fox in snow\" -o fox.png\n     \
         a real quote, shown and asked about before anything is spent\n  \
         3. conjure media text {} --text \"Hello 👋 你好\" -o hello.mp4\n     \
         finish media locally, free (`conjure media --help`, `conjure edit --example`)",
        args.out.display(),
        quoted(video_path),
    ));
    Ok(())
}

/// Shows `order`'s quote, approves it (sandbox credits), sends it, prints its summary and files;
/// the result's JSON view once it is done.
async fn pay_media(
    ctx: &Ctx,
    app: &App,
    session: &conjure_app::Session,
    order: conjure_core::Order,
    options: &PayOptions,
) -> anyhow::Result<Option<serde_json::Value>> {
    let human = ctx.out.human();
    // Show the quote a person would approve; the demo approves it (sandbox credits).
    human.quote(&order.quote, app.config.price(order.spec.provider));
    ctx.out.note("Approved (sandbox credits, no real money).");
    let observer = report::observer(human, false);
    let paid = app
        .pay(session, order, options, Some(Consent::Yes), &observer, std::future::pending())
        .await?;
    let Paid::Done(done) = paid else { return Ok(None) };
    report::summary(human, &done.job, &done.outputs, done.elapsed);
    for o in &done.outputs {
        if !ctx.out.json {
            ctx.out.line(&o.path);
        }
    }
    Ok(Some(serde_json::to_value(JobView::new(&done.job, &done.outputs, done.elapsed))?))
}

/// The demo's edit: 2 s of the still with a slow zoom, a 0.5 s crossfade into the clip, a caption.
fn edit(
    config: &conjure_app::Config,
    image: &str,
    video: &str,
    output: &std::path::Path,
) -> anyhow::Result<conjure_media::RenderReport> {
    let spec = json!({
        "output": { "path": output, "overwrite": true, "width": 640, "height": 360, "fps": 24 },
        "clips": [
            { "src": image, "duration": 2.0, "motion": "zoom-in", "fit": "cover",
              "transition": { "type": "fade", "duration": 0.5 } },
            { "src": video, "from": 0.0, "to": 3.0, "fit": "cover" }
        ],
        "texts": [
            { "text": "conjure demo: generated, then edited", "start": 0.3, "end": 4.2,
              "position": "bottom", "box": true, "size": 24 }
        ]
    });
    let timeline = conjure_media::Timeline::parse(&spec.to_string(), false)
        .map_err(crate::error::CliError::from)?;
    let ff = crate::commands::edit::ffmpeg(config)?;
    let report = conjure_media::render(&ff, &timeline, &conjure_media::RenderOptions::default())
        .map_err(crate::error::CliError::from)?;
    Ok(report)
}
