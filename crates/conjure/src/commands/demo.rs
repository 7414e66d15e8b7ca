//! `conjure demo`: the whole paid path, offline. Starts the sandbox in-process and runs an image
//! and a video through quote, approval, submit, poll, download and summary, with no
//! credentials and no network, then edits the two into a short captioned clip with the local
//! engine. Jobs go to a journal inside the output directory so they never mix with real ones.

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

    ctx.out.note("== edit ==");
    let paths: Vec<String> = results
        .iter()
        .filter_map(|r| r["outputs"][0]["path"].as_str().map(str::to_owned))
        .collect();
    let [image_path, video_path] = paths.as_slice() else {
        anyhow::bail!("the demo jobs did not deliver an image and a video");
    };
    let edit_path = std::fs::canonicalize(&args.out)?.join("demo-edit.mp4");
    let report = edit(image_path, video_path, &edit_path)?;
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
            "status": "ok", "jobs": results, "edit": report.output, "out": args.out, "elapsed_seconds": elapsed,
        }));
    }
    ctx.out.note(format!("Demo finished in {elapsed:.1} s. Files are in {}.", args.out.display()));
    Ok(())
}

/// The demo's edit: 2 s of the still with a slow zoom, a 0.5 s crossfade into the clip, a caption.
fn edit(
    image: &str,
    video: &str,
    output: &std::path::Path,
) -> anyhow::Result<conjure_media::RenderReport> {
    let spec = json!({
        "output": { "path": output, "width": 640, "height": 360, "fps": 24 },
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
        .map_err(crate::commands::edit::media_error)?;
    let ff = crate::commands::edit::ffmpeg()?;
    let report = conjure_media::render(&ff, &timeline, &conjure_media::RenderOptions::default())
        .map_err(crate::commands::edit::media_error)?;
    Ok(report)
}
