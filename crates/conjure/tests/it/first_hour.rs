//! What a new user meets in the first hour of the paid commands: `-o` names a file, nothing
//! they own is overwritten, everything that can fail locally fails before the quote is
//! approved (and so before any POST), and `--yes` has a cap. Every test counts the POSTs the
//! sandbox received.

use std::path::Path;

use crate::{ctx, sandbox};

fn posts(t: &conjure_test::TestContext) -> u64 {
    t.stats().submit_posts_received
}

fn absolute(path: &str) -> bool {
    Path::new(path).is_absolute()
}

#[test]
fn output_names_the_file_and_never_overwrites_one() {
    let t = sandbox();
    let run = t.run(&["--json", "image", "a fox", "-y", "-o", "fox.png"]);
    assert_eq!(run.code, 0, "{run:?}");
    let fox = t.out_dir().join("fox.png");
    assert!(fox.is_file(), "`-o fox.png` makes the file fox.png");
    assert!(t.out_dir().join("fox.png.json").is_file(), "with its provenance beside it");
    let path = run.json()["outputs"][0]["path"].as_str().unwrap().to_owned();
    assert!(absolute(&path) && path.ends_with("/fox.png"), "{path}");
    let before = std::fs::read(&fox).unwrap();

    // The same name again: refused before the quote is approved, nothing sent.
    let again = t.run(&["--json", "image", "another fox", "-y", "-o", "fox.png"]);
    assert_eq!(again.code, 2, "{again:?}");
    assert_eq!(again.json()["error"]["kind"], "invalid_input");
    assert!(again.json()["error"]["hint"].as_str().unwrap().contains("--force"));
    assert_eq!(posts(&t), 1);
    assert_eq!(std::fs::read(&fox).unwrap(), before);

    // --force replaces it.
    let forced = t.run(&["--json", "image", "another fox", "-y", "-o", "fox.png", "--force"]);
    assert_eq!(forced.code, 0, "{forced:?}");
    assert_eq!(posts(&t), 2);
    assert_ne!(std::fs::read(&fox).unwrap(), before);
}

#[test]
fn the_format_follows_the_name_and_a_mismatch_is_refused() {
    let t = sandbox();
    let run = t.run(&["--json", "image", "a fox", "-y", "-o", "fox.webp"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["outputs"][0]["mime"], "image/webp");
    let bad = t.run(&["--json", "image", "a fox", "-y", "--format", "png", "-o", "fox.jpg"]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert_eq!(posts(&t), 1);
}

#[test]
fn several_files_need_a_pattern_or_a_folder() {
    let t = sandbox();
    let one = t.run(&["--json", "image", "foxes", "-n", "2", "-y", "-o", "fox.png"]);
    assert_eq!(one.code, 2, "{one:?}");
    assert!(one.json()["error"]["hint"].as_str().unwrap().contains("fox-{n}.png"), "{one:?}");
    assert_eq!(posts(&t), 0);

    let run = t.run(&["--json", "image", "foxes", "-n", "2", "-y", "-o", "fox-{n}.png"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(t.out_dir().join("fox-1.png").is_file() && t.out_dir().join("fox-2.png").is_file());

    let dir = t.out_dir().join("renders");
    let run = t.run(&["--json", "image", "more foxes", "-y", "--out-dir", "renders"]);
    assert_eq!(run.code, 0, "{run:?}");
    let path = run.json()["outputs"][0]["path"].as_str().unwrap().to_owned();
    assert!(absolute(&path) && Path::new(&path).starts_with(&dir), "{path}");
    assert_eq!(posts(&t), 2);
}

#[test]
fn the_old_folder_spelling_still_works_with_a_note() {
    let t = sandbox();
    let run = t.run(&["image", "a fox", "-y", "--out", "old"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("--out-dir"), "{}", run.stderr);
    let run = t.run(&["image", "a fox", "-y", "--again", "-o", "renders"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("--out-dir"), "{}", run.stderr);
    assert!(t.out_dir().join("renders").is_dir() && t.out_dir().join("old").is_dir());
}

#[test]
fn an_unusable_output_folder_is_found_before_the_spend() {
    let t = sandbox();
    std::fs::write(t.out_dir().join("taken"), b"a file, not a folder").unwrap();
    let run = t.run(&["--json", "image", "a fox", "-y", "--out-dir", "taken"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.json()["error"]["message"].as_str().unwrap().contains("cannot be used"));
    assert_eq!(posts(&t), 0);
}

#[test]
fn missing_credentials_are_found_before_anyone_is_asked() {
    let mut t = sandbox();
    t.env("KATANA_API_KEY", "");
    t.env("KATANA_API_SECRET", "");
    // At a terminal: no quote put up for a yes that could not be acted on.
    let run = t.run_cmd(t.tty_command(&["image", "a fox"]));
    assert_eq!(run.code, 7, "{run:?}");
    assert!(!run.stdout.contains("[y/N]") && !run.stderr.contains("[y/N]"), "{run:?}");
    // For an agent: no token for a request that could not be sent.
    let run = t.run(&["--json", "image", "a fox"]);
    assert_eq!(run.code, 7, "{run:?}");
    assert_eq!(run.json()["error"]["kind"], "credentials");
    assert_eq!(posts(&t), 0);
}

#[test]
fn yes_has_a_default_cap() {
    let t = sandbox();
    let video = ["--json", "video", "waves", "--model", "kling-o3-4k", "--duration", "15", "-y"];
    let run = t.run(&video);
    assert_eq!(run.code, 6, "{run:?}");
    let err = &run.json()["error"];
    assert_eq!(err["kind"], "over_budget");
    assert!(err["message"].as_str().unwrap().contains("$2.00"), "{err}");
    let hint = err["hint"].as_str().unwrap();
    assert!(hint.contains("--max-cost") && hint.contains("--approve"), "{hint}");
    assert_eq!(posts(&t), 0);

    // A limit named on the command replaces the cap.
    let mut raised = video.to_vec();
    raised.extend(["--max-cost", "8", "--no-wait"]);
    let run = t.run(&raised);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(posts(&t), 1);

    // And the cap is a setting.
    let mut t = sandbox();
    t.env("CONJURE_YES_MAX_COST", "10cr");
    let run = t.run(&["--json", "image", "a fox", "--model", "gpt-image-2", "-y"]);
    assert_eq!(run.code, 6, "{run:?}");
    assert_eq!(posts(&t), 0);
}

#[test]
fn flags_the_model_lacks_are_refused_with_the_reason() {
    let t = sandbox();
    let cases: &[(&[&str], &str)] = &[
        (&["image", "a fox", "--model", "gen", "--uhd", "-y"], "UHD"),
        (&["image", "a fox", "--model", "gpt-image-2", "--fast", "-y"], "fast"),
        (&["image", "a fox", "--model", "gen", "--fast", "--uhd", "-y"], "--uhd"),
        (&["image", "a fox", "--model", "kling", "-y"], "video model"),
    ];
    for (args, reason) in cases {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        let run = t.run(&a);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        let message = run.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(message.contains(reason), "{args:?}: {message}");
    }
    assert_eq!(posts(&t), 0);
    // Where they apply, the quote says what they change.
    let quote = ctx().run(&["quote", "image", "a fox", "--model", "gen", "--fast"]);
    assert_eq!(quote.code, 0, "{quote:?}");
    assert!(quote.stderr.contains("half-resolution"), "{}", quote.stderr);
    let quote = ctx().run(&["quote", "image", "a fox", "--model", "pink", "--uhd"]);
    assert!(quote.stderr.contains("Enhanced Quality"), "{}", quote.stderr);
}

#[test]
fn a_job_collected_later_goes_where_it_was_asked_to() {
    let t = sandbox();
    let run = t.run(&["image", "a fox", "-y", "--no-wait", "-o", "fox.png"]);
    assert_eq!(run.code, 0, "{run:?}");
    let job = run.stdout.trim().to_owned();
    assert!(run.stderr.contains(&format!("`conjure wait {job}`")), "{}", run.stderr);
    // From another folder, with no flags: the name asked for when it was sent.
    std::fs::create_dir_all(t.out_dir().join("elsewhere")).unwrap();
    let mut wait = t.command(&["--json", "wait", &job]);
    wait.current_dir(t.out_dir().join("elsewhere"));
    let waited = t.run_cmd(wait);
    assert_eq!(waited.code, 0, "{waited:?}");
    assert!(t.out_dir().join("fox.png").is_file());
    assert_eq!(
        waited.json()["outputs"][0]["path"].as_str().unwrap(),
        t.out_dir().join("fox.png").canonicalize().unwrap().display().to_string()
    );
    // Fetching again keeps the job's own file as it is ...
    let fetched = t.run(&["fetch", &job]);
    assert_eq!(fetched.code, 0, "{fetched:?}");
    assert!(fetched.stdout.trim().ends_with("/fox.png"), "{}", fetched.stdout);
    // ... but once the person changed it, it is theirs: refused without --force.
    std::fs::write(t.out_dir().join("fox.png"), b"edited by hand").unwrap();
    let fetched = t.run(&["fetch", &job]);
    assert_eq!(fetched.code, 2, "{fetched:?}");
    assert_eq!(std::fs::read(t.out_dir().join("fox.png")).unwrap(), b"edited by hand");
    let fetched = t.run(&["fetch", &job, "--out-dir", "copies"]);
    assert_eq!(fetched.code, 0, "{fetched:?}");
    assert_eq!(posts(&t), 1);
}

#[test]
fn waiting_is_one_live_line_on_a_terminal() {
    let t = crate::sandbox_with(conjure_test::Faults {
        processing_steps: 3,
        ..conjure_test::Faults::default()
    });
    let run = t.run_cmd(t.tty_command(&["image", "a fox", "-y"]));
    assert_eq!(run.code, 0, "{run:?}");
    let screen = format!("{}{}", run.stdout, run.stderr);
    assert!(screen.contains("Ctrl-C is safe: `conjure wait j_"), "{screen}");
    // Redrawn in place (carriage return, clear line), never a new line per poll.
    assert!(screen.contains("\r\x1b[2Kprocessing"), "{screen:?}");
    assert!(!screen.contains("after 0 s"), "{screen:?}");
    // Without a terminal there is no live line at all.
    let plain = t.run(&["image", "another fox", "-y"]);
    assert!(!plain.stderr.contains("Ctrl-C is safe"), "{}", plain.stderr);
}

#[test]
fn a_job_has_one_shape_in_every_command() {
    let t = sandbox();
    let result = t.run(&["--json", "image", "a fox", "-y"]).json();
    let id = result["job_id"].as_str().unwrap().to_owned();
    let status = t.run(&["--json", "status", &id]).json();
    let line = t.run(&["--json", "jobs"]).json()["jobs"][0].clone();
    let waited = t.run(&["--json", "wait", &id, &id]).json();
    assert_eq!(waited["jobs"].as_array().unwrap().len(), 2, "several jobs: one object");
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| !matches!(k.as_str(), "elapsed_seconds" | "refreshed"))
            .cloned()
            .collect();
        k.sort();
        k
    };
    assert_eq!(keys(&result), keys(&status));
    assert_eq!(keys(&result), keys(&line));
    assert_eq!(keys(&result), keys(&waited["jobs"][1]));
    for v in [&result, &status, &line] {
        assert_eq!(v["outputs"], result["outputs"], "outputs are the files everywhere");
        let created = v["created_at"].as_str().unwrap();
        assert!(created.ends_with('Z') && created.contains('T'), "RFC 3339 UTC: {created}");
        assert!(Path::new(v["outputs"][0]["path"].as_str().unwrap()).is_absolute());
    }
}
