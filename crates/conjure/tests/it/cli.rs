//! Snapshots of what people and agents read: every command's `--help`, and the human and JSON
//! forms of quotes, listings and errors. Temp paths and ids are filtered out.

use crate::{ctx, sandbox};

const COMMANDS: &[&[&str]] = &[
    &[],
    &["image"],
    &["video"],
    &["submit"],
    &["quote"],
    &["quote", "image"],
    &["status"],
    &["wait"],
    &["fetch"],
    &["jobs"],
    &["retry"],
    &["models"],
    &["catalogue"],
    &["catalogue", "check"],
    &["attest"],
    &["balance"],
    &["auth"],
    &["sandbox"],
    &["sandbox", "serve"],
    &["demo"],
    &["edit"],
    &["media"],
    &["media", "trim"],
    &["media", "audio"],
    &["media", "convert"],
    &["open"],
    &["mcp"],
    &["serve"],
    &["config"],
    &["config", "init"],
    &["doctor"],
    &["completions"],
    &["man"],
];

#[test]
fn help_of_every_command() {
    let t = ctx();
    for cmd in COMMANDS {
        let mut args: Vec<&str> = cmd.to_vec();
        args.push("--help");
        let run = t.run(&args);
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
        let name =
            if cmd.is_empty() { "help".to_owned() } else { format!("help-{}", cmd.join("-")) };
        insta::assert_snapshot!(name, run.stdout);
    }
}

/// `text` with every RFC 3339 time (`2026-11-30T21:09:48Z`, `...48.123+01:00`) as `[TIME]`.
fn without_times(text: &str) -> String {
    let b = text.as_bytes();
    let digits =
        |at: usize, n: usize| b.get(at..at + n).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let is = |at: usize, c: u8| b.get(at) == Some(&c);
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        let date = digits(i, 4) && is(i + 4, b'-') && digits(i + 5, 2) && is(i + 7, b'-');
        if date && digits(i + 8, 2) && is(i + 10, b'T') && digits(i + 11, 2) && digits(i + 17, 2) {
            let mut end = i + 19;
            if is(end, b'.') {
                end += 1;
                while digits(end, 1) {
                    end += 1;
                }
            }
            if is(end, b'Z') {
                end += 1;
            } else if (is(end, b'+') || is(end, b'-')) && digits(end + 1, 2) && digits(end + 4, 2) {
                end += 6;
            }
            out.push_str("[TIME]");
            i = end;
        } else {
            let len = text[i..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&text[i..i + len]);
            i += len;
        }
    }
    out
}

fn filtered(text: &str, t: &conjure_test::TestContext) -> String {
    let root = t.root.path().display().to_string();
    let mut out = without_times(&text.replace(&root, "[TMP]"));
    if let Ok(base) =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| t.sandbox().base_url()))
    {
        out = out.replace(&base, "[SANDBOX]");
    }
    let mut cleaned = String::new();
    for word in out.split_inclusive(|c: char| {
        c.is_whitespace() || c == '"' || c == '/' || c == '-' || c == ')'
    }) {
        let core = word.trim_end_matches(|c: char| {
            c.is_whitespace() || c == '"' || c == '/' || c == '-' || c == ')'
        });
        let tail = &word[core.len()..];
        if core.starts_with("j_") && core.len() == 12 {
            cleaned.push_str("[JOB]");
        } else if let Some(at) = core.find("cq_").filter(|at| core.len() >= at + 35) {
            // Approval tokens carry a fresh nonce each time.
            cleaned.push_str(&core[..at]);
            cleaned.push_str("[TOKEN]");
            cleaned.push_str(&core[at + 35..]);
        } else if core.starts_with("req_") {
            cleaned.push_str("[REQ]");
        } else {
            cleaned.push_str(core);
        }
        cleaned.push_str(tail);
    }
    cleaned
}

#[test]
fn quote_human_and_json() {
    let t = ctx();
    let human =
        t.run(&["quote", "video", "waves at dusk", "--model", "seedance-hd", "--duration", "10"]);
    assert_eq!(human.code, 0, "{human:?}");
    insta::assert_snapshot!(
        "quote-video-human",
        format!("stdout:\n{}\nstderr:\n{}", human.stdout, human.stderr)
    );
    let args = ["--json", "image", "a \"quoted\" fox: 100%", "--count", "2", "--model", "pink"];
    // Credentials are checked before a quote is put up for approval: nothing to approve
    // that could not be sent.
    let missing = t.run(&args);
    assert_eq!(missing.code, 7, "{missing:?}");
    let t = sandbox();
    let json = t.run(&args);
    assert_eq!(json.code, 3, "{json:?}");
    insta::assert_snapshot!("confirmation-required-json", filtered(&json.stdout, &t));
}

#[test]
fn models_human_listing() {
    let t = ctx();
    let run = t.run(&["models", "--type", "video"]);
    assert_eq!(run.code, 0);
    insta::assert_snapshot!("models-video", run.stdout);
}

#[test]
fn error_human_and_json() {
    let t = ctx();
    let human = t.run(&["image", "x", "--model", "nope"]);
    insta::assert_snapshot!(
        "error-unknown-model-human",
        format!("code {}\nstdout:\n{}\nstderr:\n{}", human.code, human.stdout, human.stderr)
    );
    let json = t.run(&["--json", "video", "x", "--model", "kling", "--duration", "7"]);
    insta::assert_snapshot!("error-duration-json", format!("code {}\n{}", json.code, json.stdout));
}

#[test]
fn result_human_and_json() {
    let t = sandbox();
    let json = t.run(&["--json", "image", "a fox", "--model", "gen", "--yes"]);
    assert_eq!(json.code, 0, "{json:?}");
    let mut v = json.json();
    v["elapsed_seconds"] = serde_json::json!(0.0);
    v["outputs"][0]["expires_at"] = serde_json::json!("[EXPIRES]");
    insta::assert_snapshot!(
        "result-json",
        filtered(&serde_json::to_string_pretty(&v).unwrap(), &t)
    );
    // `status` and `jobs` of the same job: one schema each, times in RFC 3339.
    let job = v["job_id"].as_str().unwrap().to_owned();
    let mut status = t.run(&["--json", "status", &job, "--offline"]).json();
    status["created_at"] = serde_json::json!("[TIME]");
    status["outputs"][0]["expires_at"] = serde_json::json!("[EXPIRES]");
    insta::assert_snapshot!(
        "status-json",
        filtered(&serde_json::to_string_pretty(&status).unwrap(), &t)
    );
    let mut jobs = t.run(&["--json", "jobs"]).json();
    jobs["jobs"][0]["created_at"] = serde_json::json!("[TIME]");
    insta::assert_snapshot!(
        "jobs-json",
        filtered(&serde_json::to_string_pretty(&jobs).unwrap(), &t)
    );
    let human = t.run(&["image", "an owl", "--model", "gen", "--yes"]);
    assert_eq!(human.code, 0, "{human:?}");
    let stderr: String = human
        .stderr
        .lines()
        .map(|l| {
            if l.starts_with("Summary:") {
                l.rsplit_once(" · ").map_or(l, |(a, _)| a).rsplit_once(" · ").map_or(l, |(a, _)| a)
            } else {
                l
            }
        })
        .filter(|l| !l.starts_with("Provider links expire"))
        .collect::<Vec<_>>()
        .join("\n");
    insta::assert_snapshot!(
        "result-human",
        filtered(&format!("stdout:\n{}\nstderr:\n{stderr}", human.stdout), &t)
    );
}

#[test]
fn the_readme_documents_every_environment_variable() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    for name in conjure_core::env::ALL {
        assert!(readme.contains(&format!("`{name}`")), "README does not document `{name}`");
    }
    // The media library reads its own two (it does not depend on the core): the same names.
    assert_eq!(conjure_media::Tool::Ffmpeg.override_var(), conjure_core::env::CONJURE_FFMPEG);
    assert_eq!(conjure_media::Tool::Ffprobe.override_var(), conjure_core::env::CONJURE_FFPROBE);
}
