//! One test per documented exit code not covered elsewhere, plus input errors that name the
//! fix. (3: paid.rs; 4, 5, 8: faults.rs; 6: paid.rs.)

use crate::{ctx, sandbox};

#[test]
fn exit_0_models_lists_every_katana_model() {
    let t = ctx();
    let v = t.run(&["--json", "models"]).json();
    assert_eq!(v["models"].as_array().unwrap().len(), 121);
    let video = t.run(&["--json", "models", "--type", "video"]).json();
    assert_eq!(video["models"].as_array().unwrap().len(), 25);
    let one = t.run(&["--json", "models", "seedance"]).json();
    assert_eq!(one["models"][0]["id"], "seedance-2-0-fast");
    assert_eq!(one["models"][0]["usd"]["per_duration"]["5"], 0.624);
}

#[test]
fn exit_1_unreachable_server_sends_nothing() {
    let mut t = ctx();
    t.env("CONJURE_KATANA_BASE_URL", "http://127.0.0.1:9");
    t.env("KATANA_API_KEY", "k");
    t.env("KATANA_API_SECRET", "s");
    let run = t.run(&["--json", "image", "x", "--yes"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.json()["error"]["hint"].as_str().unwrap().contains("CONJURE_KATANA_BASE_URL"));
}

#[test]
fn exit_2_unknown_model_suggests_names() {
    let t = ctx();
    let run = t.run(&["--json", "image", "x", "--model", "flux-2-pr"]);
    assert_eq!(run.code, 2, "{run:?}");
    let v = run.json();
    assert_eq!(v["error"]["kind"], "invalid_input");
    assert!(v["error"]["message"].as_str().unwrap().contains("did you mean `flux-2-pro`"));
}

#[test]
fn exit_2_catalogue_rules_are_checked_before_anything_is_sent() {
    let t = sandbox();
    let cases: &[&[&str]] = &[
        &["image", "x", "--model", "gpt-image-2", "--aspect", "5:2"],
        &["video", "x", "--model", "kling", "--duration", "7"],
        &["video", "x", "--model", "kling", "--last-frame", "https://example.com/l.png"],
        &["video", "x", "--model", "kling", "--audio", "https://example.com/a.mp3"],
        &["image", "x", "--model", "nano-banana"],
        &["image", "x", "--model", "gen", "--ref", "https://example.com/r.png"],
        &["image", "x", "--model", "flux", "--ref", "http://example.com/r.png"],
        &["image", "x", "--ref", "/no/such/file.png"],
        &["image", "", "--model", "gen"],
    ];
    for args in cases {
        let mut full = vec!["--json"];
        full.extend_from_slice(args);
        full.push("--yes");
        let run = t.run(&full);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(!run.json()["error"]["message"].as_str().unwrap().is_empty());
    }
    assert_eq!(t.stats().submit_posts_received, 0);
}

#[test]
fn exit_2_usage_errors() {
    let t = ctx();
    let run = t.run(&["image"]);
    assert_eq!(run.code, 2, "{run:?}");
    let run = t.run(&["--json", "status", "j_nosuchjob"]);
    assert_eq!(run.code, 2, "{run:?}");
}

#[test]
fn exit_7_missing_or_refused_credentials() {
    let t = ctx();
    let run = t.run(&["--json", "image", "x", "--yes"]);
    assert_eq!(run.code, 7, "{run:?}");
    assert!(run.json()["error"]["hint"].as_str().unwrap().contains("conjure auth katana"));

    let mut t = sandbox();
    t.env("KATANA_API_SECRET", "wrong-secret");
    let run = t.run(&["--json", "image", "x", "--yes"]);
    assert_eq!(run.code, 7, "{run:?}");
    assert_eq!(t.stats().submissions_accepted, 0);
    assert_eq!(t.stats().submit_posts_received, 1);
}

#[test]
fn exit_7_group_readable_secrets_file_is_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let mut t = ctx();
    let file = t.path("katana.env");
    std::fs::write(&file, "KATANA_API_KEY=k\nKATANA_API_SECRET=s\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    t.env("KATANA_SECRETS_FILE", file.to_str().unwrap());
    let run = t.run(&["--json", "image", "x", "--yes"]);
    assert_eq!(run.code, 7, "{run:?}");
    assert!(run.json()["error"]["hint"].as_str().unwrap().contains("chmod 600"));
}

#[test]
fn auth_writes_a_private_file_that_is_then_used() {
    use std::os::unix::fs::PermissionsExt as _;
    let t = sandbox();
    let run = t.run_with_stdin(
        &["auth", "katana"],
        &format!("{}\n{}\n", conjure_test::TEST_KEY, conjure_test::TEST_SECRET),
    );
    assert_eq!(run.code, 0, "{run:?}");
    let path = t.path("config/credentials/katana.env");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // Without the environment variables, the file is used.
    let mut cmd = t.command(&["--json", "balance"]);
    cmd.env_remove("KATANA_API_KEY").env_remove("KATANA_API_SECRET");
    let run = t.run_cmd(cmd);
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn auth_imaginepro_shares_the_file_without_wiping_katana() {
    use std::os::unix::fs::PermissionsExt as _;
    const IP_KEY: &str = "sk-IPLEAK-cli-4410";
    let t = ctx();
    let katana = t.run_with_stdin(
        &["auth", "katana"],
        &format!("{}\n{}\n", conjure_test::TEST_KEY, conjure_test::TEST_SECRET),
    );
    assert_eq!(katana.code, 0, "{katana:?}");
    let run = t.run_with_stdin(&["--json", "auth", "imaginepro"], &format!("{IP_KEY}\n"));
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["provider"], "imaginepro");
    assert!(!run.stdout.contains(IP_KEY) && !run.stderr.contains(IP_KEY), "{run:?}");
    let path = t.path("config/credentials/katana.env");
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("KATANA_API_SECRET=") && text.contains("IMAGINEPRO_API_KEY="), "{text}");
    // `NAME=value` on stdin works too, and replaces the key.
    let run = t.run_with_stdin(&["auth", "imaginepro"], "IMAGINEPRO_API_KEY=sk-second\n");
    assert_eq!(run.code, 0, "{run:?}");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("sk-second") && !text.contains(IP_KEY), "{text}");
    assert!(text.contains("KATANA_API_KEY="), "{text}");
    // Two lines for a one-value provider: refused, nothing echoed.
    let run = t.run_with_stdin(&["auth", "imaginepro"], &format!("{IP_KEY}\nmore\n"));
    assert_eq!(run.code, 7, "{run:?}");
    assert!(!run.stdout.contains(IP_KEY) && !run.stderr.contains(IP_KEY), "{run:?}");
    assert!(run.stderr.contains("$IMAGINEPRO_API_KEY"), "{}", run.stderr);
}

#[test]
fn sandbox_serve_is_a_working_katana_server() {
    use std::io::BufRead as _;
    let t = ctx();
    let mut cmd = t.command(&[
        "sandbox",
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--key",
        "k1",
        "--balance",
        "100",
    ]);
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    // One commented block per provider, in a form `eval` and `source` accept.
    let printed: Vec<String> = lines.take(7).map(Result::unwrap).collect();
    assert!(printed[0].starts_with("# Katana"), "{printed:?}");
    let url = printed[1].strip_prefix("export CONJURE_KATANA_BASE_URL=").unwrap().to_owned();
    assert_eq!(printed[2], "export KATANA_API_KEY=k1");
    assert!(printed[4].starts_with("# ImaginePro"), "{printed:?}");
    assert_eq!(printed[5], format!("export CONJURE_IMAGINEPRO_BASE_URL={url}"));
    assert_eq!(printed[6], "export IMAGINEPRO_API_KEY=sandbox-imaginepro-key");
    let mut t = t;
    t.env("CONJURE_KATANA_BASE_URL", &url);
    t.env("KATANA_API_KEY", "k1");
    t.env("KATANA_API_SECRET", conjure_sandbox::DEMO_SECRET);
    let run = t.run(&["--json", "image", "served", "--model", "gpt-image-2", "--yes"]);
    let balance = t.run(&["--json", "balance"]);
    let too_much = t.run(&["--json", "video", "x", "--model", "kling", "--yes"]);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(balance.json()["credits"], 86.0);
    // 280 credits against 86 left: the server refuses with 402, nothing is charged.
    assert_eq!(too_much.code, 4, "{too_much:?}");
}
