//! `conjure demo`: the whole paid path, offline. Starts the sandbox in-process and runs an image
//! and a video through quote, approval, submit, poll, download and summary, with no
//! credentials and no network. Jobs go to a journal inside the output directory so they never
//! mix with real ones.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use conjure_sandbox::SandboxConfig;
use serde_json::json;

use crate::cli::PayArgs;
use crate::commands::pay::{self, Outcome};
use crate::commands::{Ctx, image, report, video};
use crate::output::Output;

/// Try conjure offline: generate an image and a video against the built-in sandbox.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the demo's files go.
    #[arg(long, short = 'o', default_value = "conjure-demo")]
    pub out: PathBuf,
}

pub async fn run(ctx: &Ctx, args: DemoArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let sandbox = conjure_sandbox::start(SandboxConfig::default()).await?;
    std::fs::create_dir_all(&args.out)?;

    let mut settings = ctx.settings.clone();
    settings.katana_base_url = sandbox.base_url();
    settings.data_dir = args.out.join(".journal");
    settings.interactive = false;
    let mut env = settings.env.clone();
    env.retain(|k, _| !k.starts_with("KATANA_"));
    env.insert("KATANA_API_KEY".into(), conjure_sandbox::DEMO_KEY.into());
    env.insert("KATANA_API_SECRET".into(), conjure_sandbox::DEMO_SECRET.into());
    settings.env = env;
    let demo = Ctx { settings, out: Output { json: false, color: ctx.out.color } };

    ctx.out.note(format!(
        "conjure demo: offline sandbox at {} (placeholder media, no real charges)\n",
        sandbox.base_url()
    ));
    let pay = PayArgs { yes: true, again: true, out: Some(args.out.clone()), ..PayArgs::default() };

    let image = image::ImageArgs {
        prompt: "a lighthouse on a cliff at dawn, watercolor".into(),
        model: "gpt-image-2".into(),
        aspect: "16:9".into(),
        format: "png".into(),
        refs: vec![],
        negative: None,
        fast: false,
        uhd: false,
        count: 1,
        provider: "katana".into(),
        pay: pay.clone(),
    };
    let video = video::VideoArgs {
        prompt: "waves rolling under the lighthouse, slow camera push".into(),
        model: "seedance-2-0-fast".into(),
        duration: Some(5),
        aspect: Some("16:9".into()),
        first_frame: None,
        last_frame: None,
        refs: vec![],
        audio: vec![],
        provider: "katana".into(),
        pay: pay.clone(),
    };

    let mut results = Vec::new();
    for (label, spec) in [("image", image.spec()?), ("video", video.spec()?)] {
        ctx.out.note(format!("== {label} =="));
        // Show the quote a person would approve; the demo approves it (sandbox credits).
        if let Outcome::Quoted { quote, .. } =
            pay::run_paid(&demo, &spec, &PayArgs { dry_run: true, ..pay.clone() }, None).await?
        {
            demo.out.quote(&quote, Some(demo.settings.katana_price));
            ctx.out.note("Approved (sandbox credits, no real money).");
        }
        match pay::run_paid(&demo, &spec, &pay, None).await? {
            Outcome::Done { job, outputs, elapsed } => {
                report::summary(&demo, &job, &outputs, elapsed);
                for o in &outputs {
                    if !ctx.out.json {
                        ctx.out.line(&o.path);
                    }
                }
                let view =
                    serde_json::to_value(report::job_result(&demo, &job, &outputs, elapsed))?;
                results.push(view);
            }
            Outcome::Quoted { .. } | Outcome::Submitted { .. } => {}
        }
        ctx.out.note("");
    }
    sandbox.shutdown().await;
    let elapsed = started.elapsed().as_secs_f64();
    if ctx.out.json {
        ctx.out.json_value(&json!({ "status": "ok", "jobs": results, "out": args.out, "elapsed_seconds": elapsed }));
    }
    ctx.out.note(format!("Demo finished in {elapsed:.1} s. Files are in {}.", args.out.display()));
    Ok(())
}
