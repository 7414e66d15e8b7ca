//! Secrets never leak: not in stdout, stderr (at debug logging), the journal, sidecars or errors.

use conjure_test::{Faults, TEST_KEY, TEST_SECRET, TestContext};

use crate::sandbox_with;

fn assert_clean(t: &TestContext, text: &str, what: &str) {
    for needle in [TEST_KEY, TEST_SECRET, "SENTINEL"] {
        assert!(!text.contains(needle), "{what} contains a secret ({needle}):\n{text}");
    }
    let _ = t;
}

fn scan_files(t: &TestContext) {
    for path in t.all_files() {
        let bytes = std::fs::read(&path).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert_clean(t, &text, &path.display().to_string());
    }
}

#[test]
fn secrets_stay_out_of_every_output_and_file() {
    let mut t = sandbox_with(Faults::default());
    t.env("CONJURE_LOG", "debug");
    let mut outputs = vec![
        t.run(&["-vv", "--json", "image", "a fox", "--model", "gen", "--yes"]),
        t.run(&["-vv", "image", "a fox", "--model", "gen"]),
        t.run(&["-vv", "--json", "balance"]),
        t.run(&["-vv", "--json", "quote", "image", "a fox"]),
        t.run(&["-vv", "--json", "jobs"]),
    ];
    t.sandbox().set_faults(Faults { submit_500: true, ..Faults::default() });
    outputs.push(t.run(&["-vv", "--json", "image", "an owl", "--yes"]));
    t.sandbox().set_faults(Faults { drop_after_accept: true, ..Faults::default() });
    outputs.push(t.run(&["-vv", "--json", "image", "a bat", "--yes"]));
    for run in &outputs {
        assert_clean(&t, &run.stdout, "stdout");
        assert_clean(&t, &run.stderr, "stderr");
    }
    // Debug logging really was on, so the check above means something.
    assert!(outputs[0].stderr.contains("DEBUG"), "{}", outputs[0].stderr);
    scan_files(&t);
}

#[test]
fn refused_credentials_do_not_echo_the_secret() {
    let mut t = sandbox_with(Faults::default());
    t.env("KATANA_API_SECRET", "ts_SENTINEL_WRONG_SECRET");
    let run = t.run(&["-vv", "--json", "image", "a fox", "--yes"]);
    assert_eq!(run.code, 7);
    assert!(!run.stdout.contains("ts_SENTINEL_WRONG_SECRET"));
    assert!(!run.stderr.contains("ts_SENTINEL_WRONG_SECRET"));
    assert_clean(&t, &run.stdout, "stdout");
    assert_clean(&t, &run.stderr, "stderr");
}

#[test]
fn insecure_file_error_does_not_print_its_contents() {
    use std::os::unix::fs::PermissionsExt as _;
    let mut t = crate::ctx();
    let file = t.path("katana.env");
    std::fs::write(&file, format!("KATANA_API_KEY={TEST_KEY}\nKATANA_API_SECRET={TEST_SECRET}\n"))
        .unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    t.env("KATANA_SECRETS_FILE", file.to_str().unwrap());
    let run = t.run(&["--json", "image", "x", "--yes"]);
    assert_eq!(run.code, 7);
    assert_clean(&t, &run.stdout, "stdout");
    assert_clean(&t, &run.stderr, "stderr");
}

#[test]
fn auth_takes_no_secrets_in_arguments() {
    let t = crate::ctx();
    let run = t.run(&["auth", "katana", "--secret", "x"]);
    assert_eq!(run.code, 2);
}
