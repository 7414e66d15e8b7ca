//! The CLI's furniture: the catalogue as a chooser (`models`), `help`, shell completions, man
//! pages, `--quiet`, `--color`, `config` and `open`. Each test runs the real binary in its own
//! home; `open` runs against the offline sandbox.

use std::io::Write as _;

use conjure_test::{TEST_KEY, TEST_SECRET, TestContext};
use serde_json::Value;

use crate::{ctx, sandbox};

fn ok(t: &TestContext, args: &[&str]) -> conjure_test::Run {
    let run = t.run(args);
    assert_eq!(run.code, 0, "{args:?}: {run:?}");
    run
}

/// The models of a `--json` listing.
fn listed(t: &TestContext, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["--json", "models"];
    all.extend_from_slice(args);
    ok(t, &all).json()["models"].as_array().unwrap().clone()
}

// ---- models ----

#[test]
fn models_card_shows_every_fact_in_words() {
    let t = ctx();
    let video = ok(&t, &["models", "seedance-2-0-fast"]);
    insta::assert_snapshot!("models-card-video", video.stdout);
    let image = ok(&t, &["models", "gpt2image"]);
    insta::assert_snapshot!("models-card-image", image.stdout);
    let needs = ok(&t, &["models", "kontextpro"]);
    assert!(needs.stdout.contains("Input images   required"), "{}", needs.stdout);
    let text = ok(&t, &["models", "--kind", "text", "naifu"]);
    assert!(text.stdout.contains("Privacy        Private"), "{}", text.stdout);
}

#[test]
fn models_card_names_an_alias_of_several_kinds() {
    let t = ctx();
    let run = ok(&t, &["models", "default"]);
    assert!(run.stdout.starts_with("gen: image model"), "{}", run.stdout);
    assert!(run.stderr.contains("`seedance-2-0-fast` (video; `--kind video`)"), "{}", run.stderr);
    let video = ok(&t, &["models", "--kind", "video", "default"]);
    assert!(video.stdout.starts_with("seedance-2-0-fast: video model"), "{}", video.stdout);
}

#[test]
fn models_unknown_and_other_kind_are_clear_errors() {
    let t = ctx();
    let unknown = t.run(&["models", "flux-2-pr"]);
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("Unknown model `flux-2-pr`; did you mean `flux-2-pro`"),
        "{}",
        unknown.stderr
    );
    let other = t.run(&["models", "--kind", "video", "gpt-image-2"]);
    assert_eq!(other.code, 2);
    assert!(
        other.stderr.contains("`gpt-image-2` names an image model, not a video model"),
        "{}",
        other.stderr
    );
    assert!(other.stderr.contains("hint: drop `--kind`"), "{}", other.stderr);
}

#[test]
fn models_list_has_a_header_and_sorts_by_kind_then_price() {
    let t = ctx();
    let run = ok(&t, &["models"]);
    let mut lines = run.stdout.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("KIND ") && header.contains("PRICE") && header.contains("USD"));
    let kinds: Vec<&str> = lines.filter_map(|l| l.split_whitespace().next()).collect();
    let first = |k: &str| kinds.iter().position(|x| *x == k).unwrap();
    let last = |k: &str| kinds.iter().rposition(|x| *x == k).unwrap();
    assert!(last("image") < first("video") && last("video") < first("text"), "{kinds:?}");
    // Within a kind, by price: the JSON keeps the same order.
    let models = listed(&t, &["--kind", "video"]);
    let cheapest = |m: &Value| {
        m["pricing"]["credits"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_f64().unwrap())
            .fold(f64::MAX, f64::min)
    };
    let prices: Vec<f64> = models.iter().map(cheapest).collect();
    assert!(prices.windows(2).all(|w| w[0] <= w[1]), "{prices:?}");
    let images = listed(&t, &["--kind", "image"]);
    let prices: Vec<f64> =
        images.iter().map(|m| m["pricing"]["credits"].as_f64().unwrap()).collect();
    assert!(prices.windows(2).all(|w| w[0] <= w[1]), "{prices:?}");
    // Dollars for video and images in the human list.
    let video = ok(&t, &["models", "--kind", "video"]);
    let ltx = video.stdout.lines().find(|l| l.contains(" ltx-2-3 ")).unwrap();
    assert!(ltx.contains("from 20 cr/5s") && ltx.contains("$0.1040"), "{ltx}");
    let image = ok(&t, &["models", "--kind", "image"]);
    let gen_line = image.stdout.lines().find(|l| l.contains(" gen ")).unwrap();
    assert!(gen_line.contains("3 cr/image") && gen_line.contains("$0.0156"), "{gen_line}");
}

#[test]
fn models_filter_by_kind() {
    let t = ctx();
    let models = listed(&t, &["--kind", "video"]);
    assert_eq!(models.len(), 25);
    assert!(models.iter().all(|m| m["kind"] == "video"));
    // `--type` is kept as an alias.
    assert_eq!(listed(&t, &["--type", "video"]).len(), 25);
}

#[test]
fn models_filter_needs_image() {
    let t = ctx();
    let models = listed(&t, &["--needs-image"]);
    assert!(!models.is_empty());
    assert!(models.iter().all(|m| m["requires_image"] == true), "{models:?}");
    let ids: Vec<&str> = models.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"nano-banana") && ids.contains(&"kling-2-0"), "{ids:?}");
}

#[test]
fn models_filter_audio_and_sound() {
    let t = ctx();
    let audio = listed(&t, &["--audio"]);
    assert!(!audio.is_empty() && audio.iter().all(|m| m["audio_input"] == true));
    let sound = listed(&t, &["--sound"]);
    assert!(sound.iter().all(|m| m["audio_output"] == true));
    assert!(sound.len() > audio.len(), "every audio-in model here also has sound");
}

#[test]
fn models_filter_uhd() {
    let t = ctx();
    let models = listed(&t, &["--uhd"]);
    assert!(!models.is_empty() && models.iter().all(|m| m["uhd"] == true));
    assert!(models.iter().any(|m| m["id"] == "neo"));
}

#[test]
fn models_filter_max_price_in_dollars_or_credits() {
    let t = ctx();
    let dollars = listed(&t, &["--max-price", "0.05"]);
    assert!(!dollars.is_empty());
    for m in &dollars {
        assert_ne!(m["kind"], "text");
        let usd = &m["usd"];
        let cheapest = usd["per_image"].as_f64().unwrap_or_else(|| {
            usd["per_duration"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_f64().unwrap())
                .fold(f64::MAX, f64::min)
        });
        assert!(cheapest <= 0.05, "{m}");
    }
    assert_eq!(listed(&t, &["--max-price", "$0.05"]).len(), dollars.len());
    let credits = listed(&t, &["--max-price", "20cr", "--kind", "video"]);
    let ids: Vec<&str> = credits.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["ltx-2-3"]);
    let text = t.run(&["models", "--kind", "text", "--max-price", "1"]);
    assert_eq!(text.code, 2);
    assert!(text.stderr.contains("applies to image and video models"), "{}", text.stderr);
    let bad = t.run(&["models", "--max-price", "lots"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("give dollars (`0.50` or `$0.50`) or credits (`120cr`)"),
        "{}",
        bad.stderr
    );
}

#[test]
fn models_provider_flag_behaves_as_before() {
    let t = ctx();
    assert_eq!(listed(&t, &["--provider", "katana"]).len(), 121);
    let ip = t.run(&["models", "--provider", "imaginepro"]);
    assert_eq!(ip.code, 0, "{}", ip.stderr);
    assert!(ip.stdout.contains("mj_imagine_relax"), "{}", ip.stdout);
    assert!(ip.stdout.contains("5 per job"), "{}", ip.stdout);
    assert!(ip.stdout.contains("not published"), "{}", ip.stdout);
    assert!(ip.stderr.contains("usd_per_credit"), "{}", ip.stderr);
    let json = t.run(&["--json", "models", "--provider", "imaginepro"]).json();
    let other = json["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["operation"] == "mj_button_other")
        .unwrap();
    assert_eq!(other["credits"], serde_json::Value::Null, "not published is not zero");
    assert_eq!(other["price_published"], false);
    let unknown = t.run(&["models", "--provider", "nope"]);
    assert_eq!(unknown.code, 2);
    assert!(unknown.stderr.contains("Unknown provider `nope`"), "{}", unknown.stderr);
}

#[test]
fn models_json_keeps_one_object_with_the_catalogue_fields() {
    let t = ctx();
    let v = ok(&t, &["--json", "models", "gen"]).json();
    assert_eq!(v["usd_per_credit"], 0.0052);
    let m = &v["models"][0];
    for field in [
        "provider",
        "kind",
        "id",
        "aliases",
        "pricing",
        "aspects",
        "max_refs",
        "requires_image",
        "first_frame",
        "last_frame",
        "audio_input",
        "audio_output",
        "uhd",
        "fast",
        "rules",
        "usd",
    ] {
        assert!(m.get(field).is_some(), "missing {field}: {m}");
    }
}

// ---- help, completions, man ----

#[test]
fn help_subcommand_matches_help_flags() {
    let t = ctx();
    assert_eq!(ok(&t, &["help"]).stdout, ok(&t, &["--help"]).stdout);
    assert_eq!(ok(&t, &["help", "models"]).stdout, ok(&t, &["models", "--help"]).stdout);
    assert_eq!(
        ok(&t, &["help", "media", "trim"]).stdout,
        ok(&t, &["media", "trim", "--help"]).stdout
    );
}

#[test]
fn completions_are_generated_for_each_shell() {
    let t = ctx();
    for (shell, marker) in [
        ("bash", "complete -F _conjure"),
        ("zsh", "#compdef conjure"),
        ("fish", "complete -c conjure"),
        ("elvish", "edit:completion:arg-completer[conjure]"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let run = ok(&t, &["completions", shell]);
        assert!(run.stdout.contains(marker), "{shell}: no `{marker}`");
        for sub in ["image", "models", "completions", "config", "open"] {
            assert!(run.stdout.contains(sub), "{shell} completion does not mention `{sub}`");
        }
    }
    assert_eq!(t.run(&["completions", "tcsh"]).code, 2);
}

#[test]
fn man_pages_are_generated_from_the_same_definitions() {
    let t = ctx();
    let top = ok(&t, &["man"]);
    assert!(top.stdout.contains(".TH conjure 1"), "{}", &top.stdout[..200.min(top.stdout.len())]);
    for sub in ["image", "models", "completions", "config", "open"] {
        assert!(top.stdout.contains(&format!("conjure\\-{sub}")), "the page lists no {sub}");
    }
    let trim = ok(&t, &["man", "media", "trim"]);
    assert!(trim.stdout.contains(".TH conjure-media-trim 1"), "{}", trim.stdout);
    assert_eq!(t.run(&["man", "nope"]).code, 2);
    let dir = t.path("man");
    ok(&t, &["man", "--dir", dir.to_str().unwrap()]);
    for page in ["conjure.1", "conjure-image.1", "conjure-models.1", "conjure-media-trim.1"] {
        assert!(dir.join(page).is_file(), "{page} not written");
    }
}

// ---- --quiet and --color ----

#[test]
fn quiet_drops_notes_and_keeps_results_and_errors() {
    let t = sandbox();
    let loud = ok(&t, &["image", "a fox", "--model", "gen", "--yes"]);
    assert!(loud.stderr.contains("Summary:"), "{}", loud.stderr);
    let quiet = ok(&t, &["--quiet", "image", "an owl", "--model", "gen", "--yes"]);
    assert!(!quiet.stderr.contains("Summary:"), "{}", quiet.stderr);
    assert!(
        std::path::Path::new(quiet.stdout.trim()).is_file(),
        "the result still prints: {}",
        quiet.stdout
    );
    // On a terminal, progress lines too.
    let tty = t.run_cmd(t.tty_command(&["image", "a bat", "--model", "gen", "--yes"]));
    assert!(tty.stdout.contains("  saved "), "{tty:?}");
    let tty_quiet = t.run_cmd(t.tty_command(&["-q", "image", "a cat", "--model", "gen", "--yes"]));
    assert_eq!(tty_quiet.code, 0, "{tty_quiet:?}");
    assert!(
        !tty_quiet.stdout.contains("  saved ") && !tty_quiet.stdout.contains("Summary:"),
        "{tty_quiet:?}"
    );
    let failed = t.run(&["-q", "models", "nope"]);
    assert_eq!(failed.code, 2);
    assert!(failed.stderr.contains("error: Unknown model `nope`"), "{}", failed.stderr);
}

#[test]
fn color_never_and_no_color_print_no_escapes() {
    let t = ctx();
    // TestContext sets NO_COLOR: auto prints none even on a terminal.
    let run = |args: &[&str], no_color: bool| {
        let mut cmd = t.tty_command(args);
        if !no_color {
            cmd.env_remove("NO_COLOR");
        }
        let run = t.run_cmd(cmd);
        assert_eq!(run.code, 2, "{run:?}");
        format!("{}{}", run.stdout, run.stderr)
    };
    assert!(!run(&["models", "nope"], true).contains('\x1b'));
    assert!(!run(&["--color", "never", "models", "nope"], false).contains('\x1b'));
    assert!(
        run(&["models", "nope"], false).contains("\x1b[31merror:"),
        "auto on a terminal colours"
    );
    assert!(
        run(&["--color", "always", "models", "nope"], true).contains('\x1b'),
        "always wins over NO_COLOR"
    );
    // clap's own help and usage errors follow the flag too.
    let mut help = t.tty_command(&["--color", "never", "models", "--help"]);
    help.env_remove("NO_COLOR");
    let help = t.run_cmd(help);
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("Usage:") && !help.stdout.contains('\x1b'), "{help:?}");
    let mut usage = t.tty_command(&["--color", "never", "models", "--no-such-flag"]);
    usage.env_remove("NO_COLOR");
    let usage = t.run_cmd(usage);
    assert_eq!(usage.code, 2);
    assert!(!format!("{}{}", usage.stdout, usage.stderr).contains('\x1b'), "{usage:?}");
    // Not a terminal: auto is off.
    let piped = t.run(&["models", "nope"]);
    assert!(!piped.stderr.contains('\x1b'));
}

// ---- config ----

fn assert_no_secret(text: &str) {
    for needle in [TEST_KEY, TEST_SECRET, "SENTINEL"] {
        assert!(!text.contains(needle), "a credential value leaked ({needle}):\n{text}");
    }
}

#[test]
fn config_shows_sources_and_never_a_secret() {
    let mut t = ctx();
    std::fs::write(t.path("config").join("config.toml"), "[limits]\nmax_cost = \"2.50\"\n")
        .unwrap();
    t.env("CONJURE_DAILY_BUDGET", "500cr");
    t.env("KATANA_API_KEY", TEST_KEY);
    t.env("KATANA_API_SECRET", TEST_SECRET);
    let human = ok(&t, &["-v", "config"]);
    assert_no_secret(&human.stdout);
    assert_no_secret(&human.stderr);
    let line = |key: &str| {
        human
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("{key} ")))
            .unwrap_or_else(|| panic!("no {key}:\n{}", human.stdout))
            .to_owned()
    };
    assert!(line("limits.max_cost").contains("config file "), "{}", line("limits.max_cost"));
    assert!(line("limits.daily_budget").ends_with("env CONJURE_DAILY_BUDGET"));
    assert!(line("katana.base_url").ends_with("default"));
    assert!(line("data_dir").ends_with("env CONJURE_HOME"));
    assert!(line("log").ends_with("flag -v"));
    assert!(
        line("katana").contains("present")
            && line("katana").contains("env KATANA_API_KEY, KATANA_API_SECRET")
    );
    let json = ok(&t, &["--json", "config"]);
    assert_no_secret(&json.stdout);
    let v = json.json();
    assert_eq!(v["credentials"][0]["present"], true);
    let budget = v["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "limits.daily_budget")
        .unwrap();
    assert_eq!(budget["source"], serde_json::json!({"kind": "env", "var": "CONJURE_DAILY_BUDGET"}));
}

#[test]
fn config_names_the_credentials_file_written_by_auth_and_not_its_values() {
    let t = ctx();
    let absent = ok(&t, &["config"]);
    assert!(
        absent.stdout.lines().any(|l| l.starts_with("katana ") && l.contains("absent")),
        "{}",
        absent.stdout
    );
    let auth = t.run_with_stdin(&["auth", "katana"], &format!("{TEST_KEY}\n{TEST_SECRET}\n"));
    assert_eq!(auth.code, 0, "{auth:?}");
    let file = t.path("config").join("credentials").join("katana.env");
    for args in [&["config"][..], &["--json", "config"], &["-vv", "config"]] {
        let run = ok(&t, args);
        assert_no_secret(&run.stdout);
        assert_no_secret(&run.stderr);
        assert!(run.stdout.contains(&file.display().to_string()), "{}", run.stdout);
    }
}

#[test]
fn config_init_writes_a_commented_file_and_refuses_to_overwrite() {
    let t = ctx();
    let path = t.path("config").join("config.toml");
    assert_eq!(ok(&t, &["config", "path"]).stdout.trim(), path.display().to_string());
    let init = ok(&t, &["config", "init"]);
    assert_eq!(init.stdout.trim(), path.display().to_string());
    let text = std::fs::read_to_string(&path).unwrap();
    for key in [
        "[katana]",
        "# base_url",
        "# usd_per_credit",
        "[limits]",
        "# max_cost",
        "# daily_budget",
        "[output]",
        "# dir",
    ] {
        assert!(text.contains(key), "the file does not document {key}");
    }
    // The written file is one conjure reads.
    assert!(ok(&t, &["config"]).stdout.contains("(exists)"));
    std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"# mine\n").unwrap();
    let again = t.run(&["config", "init"]);
    assert_eq!(again.code, 2, "{again:?}");
    assert!(
        again.stderr.contains("already exists") && again.stderr.contains("--force"),
        "{}",
        again.stderr
    );
    assert!(std::fs::read_to_string(&path).unwrap().ends_with("# mine\n"), "the file was touched");
    ok(&t, &["config", "init", "--force"]);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    // A broken file can still be found and replaced.
    std::fs::write(&path, "[limits]\nmax_cots = 1\n").unwrap();
    assert_eq!(t.run(&["config"]).code, 2);
    ok(&t, &["config", "path"]);
    ok(&t, &["config", "init", "--force"]);
    assert!(ok(&t, &["config"]).stdout.contains("(exists)"));
}

// ---- open ----

#[test]
fn open_prints_absolute_paths_of_a_finished_job_and_spends_nothing() {
    let t = sandbox();
    let done = ok(&t, &["--json", "image", "a fox", "--model", "gen", "--yes"]).json();
    let job = done["job_id"].as_str().unwrap();
    let posts = t.stats().submit_posts_received;
    let run = ok(&t, &["open", job]);
    let paths: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(paths.len(), 1, "{run:?}");
    assert!(
        std::path::Path::new(paths[0]).is_absolute() && std::path::Path::new(paths[0]).is_file()
    );
    assert_eq!(paths[0], done["outputs"][0]["path"].as_str().unwrap());
    let v = ok(&t, &["--json", "open", &job[..6]]).json();
    assert_eq!(v["job_id"], job);
    assert_eq!(v["paths"][0], paths[0]);
    assert_eq!(v["opened"], false);
    assert_eq!(t.stats().submit_posts_received, posts, "open sent a request");
}

#[test]
fn open_uses_the_system_viewer_on_a_terminal() {
    let mut t = sandbox();
    let done = ok(&t, &["--json", "image", "a fox", "--model", "gen", "--yes"]).json();
    let job = done["job_id"].as_str().unwrap().to_owned();
    let bin = t.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = t.path("viewer.log");
    let viewer = bin.join("xdg-open");
    std::fs::write(&viewer, format!("#!/bin/sh\necho \"$1\" >> '{}'\n", log.display())).unwrap();
    let mut perms = std::fs::metadata(&viewer).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&viewer, perms).unwrap();
    t.env("PATH", &format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()));
    let run = t.run_cmd(t.tty_command(&["open", &job]));
    assert_eq!(run.code, 0, "{run:?}");
    let opened = std::fs::read_to_string(&log).unwrap();
    assert_eq!(opened.trim(), done["outputs"][0]["path"].as_str().unwrap());
}

#[test]
fn open_without_delivered_outputs_gives_a_hint() {
    let t = sandbox();
    let submitted =
        ok(&t, &["--json", "image", "a fox", "--model", "gen", "--yes", "--no-wait"]).json();
    let job = submitted["job_id"].as_str().unwrap();
    let run = t.run(&["open", job]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("has no delivered outputs"), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("hint: running at the provider; `conjure wait {job}`")),
        "{}",
        run.stderr
    );
    // Delivered, then deleted: the hint is `conjure fetch`.
    let done = ok(&t, &["--json", "wait", job]).json();
    std::fs::remove_file(done["outputs"][0]["path"].as_str().unwrap()).unwrap();
    let gone = t.run(&["open", job]);
    assert_eq!(gone.code, 2, "{gone:?}");
    assert!(gone.stderr.contains(&format!("`conjure fetch {job}`")), "{}", gone.stderr);
}
