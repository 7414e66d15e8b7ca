//! `conjure doctor`: a healthy setup passes; unsafe credential files, a damaged journal and
//! jobs waiting for a person are reported, with the documented exit codes; secrets never
//! appear in the report.

use conjure_test::{Faults, TEST_KEY, TEST_SECRET};
use serde_json::Value;

use crate::{ctx, sandbox, sandbox_with};

const IMAGE: &[&str] = &["--json", "image", "a lighthouse", "--model", "gen", "--yes"];

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no `{name}` check in {report}"))
}

#[test]
fn a_healthy_setup_passes_and_the_json_has_one_shape() {
    let t = sandbox();
    assert_eq!(t.run(IMAGE).code, 0);
    let run = t.run(&["--json", "doctor"]);
    assert_eq!(run.code, 0, "{run:?}");
    let report = run.json();
    assert_ne!(report["status"], "fail", "{report}");
    for name in [
        "ffmpeg",
        "ffprobe",
        "fonts",
        "credentials.katana",
        "credentials.imaginepro",
        "journal",
        "pending",
        "data_dir",
        "config_dir",
        "disk",
    ] {
        let c = check(&report, name);
        assert!(["ok", "warn"].contains(&c["status"].as_str().unwrap()), "{c}");
        assert!(!c["message"].as_str().unwrap().is_empty(), "{c}");
    }
    assert_eq!(check(&report, "journal")["status"], "ok");
    assert!(check(&report, "journal")["message"].as_str().unwrap().contains("1 job(s)"));
    assert_eq!(check(&report, "credentials.katana")["status"], "ok");
    assert!(
        check(&report, "credentials.katana")["message"]
            .as_str()
            .unwrap()
            .contains("KATANA_API_KEY"),
        "{report}"
    );
    assert_eq!(check(&report, "data_dir")["status"], "ok");
    assert_eq!(report["pending"], serde_json::json!([]));
    assert_eq!(report["unknown_exposure_credits"].as_f64(), Some(0.0), "{report}");

    let human = t.run(&["doctor"]);
    assert_eq!(human.code, 0, "{human:?}");
    assert!(human.stdout.contains("journal"), "{human:?}");
    assert!(human.stderr.contains("0 failed"), "{human:?}");
}

#[cfg(unix)]
#[test]
fn a_credentials_file_others_can_read_fails_and_its_contents_never_show() {
    use std::os::unix::fs::PermissionsExt as _;
    let t = ctx();
    let dir = t.path("config").join("credentials");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("katana.env");
    std::fs::write(&file, format!("KATANA_API_KEY={TEST_KEY}\nKATANA_API_SECRET={TEST_SECRET}\n"))
        .unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let leaks = |run: &conjure_test::Run| {
        for secret in [TEST_KEY, TEST_SECRET, "SENTINEL"] {
            assert!(!run.stdout.contains(secret) && !run.stderr.contains(secret), "{run:?}");
        }
    };

    let run = t.run(&["--json", "doctor"]);
    leaks(&run);
    assert_eq!(run.code, 1, "{run:?}");
    let report = run.json();
    assert_eq!(report["status"], "fail");
    let katana = check(&report, "credentials.katana");
    assert_eq!(katana["status"], "fail", "{katana}");
    assert!(katana["hint"].as_str().is_some(), "{katana}");
    // The file is shared by every provider: none of them can use it while others can read it.
    assert_eq!(check(&report, "credentials.imaginepro")["status"], "fail");
    let human = t.run(&["doctor"]);
    leaks(&human);
    assert_eq!(human.code, 1, "{human:?}");
    assert!(human.stdout.contains("fail  credentials.katana"), "{human:?}");

    // The same file shadowed by the environment is still a secret on disk others can read.
    let mut with_env = ctx();
    with_env.env("KATANA_API_KEY", TEST_KEY);
    with_env.env("KATANA_API_SECRET", TEST_SECRET);
    let dir = with_env.path("config").join("credentials");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&file, dir.join("katana.env")).unwrap();
    std::fs::set_permissions(dir.join("katana.env"), std::fs::Permissions::from_mode(0o644))
        .unwrap();
    let run = with_env.run(&["--json", "doctor"]);
    leaks(&run);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(check(&run.json(), "credentials.katana")["status"], "fail");

    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let run = t.run(&["--json", "doctor"]);
    leaks(&run);
    let report = run.json();
    let katana = check(&report, "credentials.katana");
    assert_eq!(katana["status"], "ok", "{katana}");
    assert!(katana["message"].as_str().unwrap().contains("0600"), "{katana}");
    // ImaginePro has no lines in it: never set up, a warning and not a failure.
    assert_eq!(check(&report, "credentials.imaginepro")["status"], "warn");
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn a_journal_that_breaks_the_rules_fails() {
    let t = sandbox();
    let job = t.run(IMAGE).json()["job_id"].as_str().unwrap().to_owned();
    let conn = rusqlite::Connection::open(t.journal_path()).unwrap();
    conn.execute("UPDATE jobs SET request_id = NULL WHERE id = ?1", [&job]).unwrap();
    drop(conn);
    let run = t.run(&["--json", "doctor"]);
    assert_eq!(run.code, 1, "{run:?}");
    let journal = check(&run.json(), "journal").clone();
    assert_eq!(journal["status"], "fail", "{journal}");
    let details = journal["details"].to_string();
    assert!(details.contains(&job) && details.contains("request id"), "{journal}");
}

#[test]
fn a_journal_that_is_not_a_database_fails() {
    let t = ctx();
    std::fs::write(t.journal_path(), b"this is not an SQLite file, just some bytes in its place")
        .unwrap();
    let run = t.run(&["--json", "doctor"]);
    assert_eq!(run.code, 1, "{run:?}");
    let report = run.json();
    let journal = check(&report, "journal");
    assert_eq!(journal["status"], "fail", "{journal}");
    assert!(journal["hint"].as_str().is_some(), "{journal}");
    assert_eq!(check(&report, "pending")["status"], "warn");
}

#[test]
fn pending_and_unknown_jobs_are_listed_with_what_to_do() {
    let t = sandbox_with(Faults { drop_after_accept: true, ..Faults::default() });
    let unknown = t.run(IMAGE);
    assert_eq!(unknown.code, 5, "{unknown:?}");
    let unknown = unknown.json()["job_id"].as_str().unwrap().to_owned();
    t.sandbox().set_faults(Faults { stale: true, ..Faults::default() });
    let mut args = IMAGE.to_vec();
    args.extend(["--no-wait", "--again"]);
    let running = t.run(&args);
    assert_eq!(running.code, 0, "{running:?}");
    let running = running.json()["job_id"].as_str().unwrap().to_owned();

    let run = t.run(&["--json", "doctor"]);
    // Waiting jobs need a person, but nothing is broken.
    assert_eq!(run.code, 0, "{run:?}");
    let report = run.json();
    assert_eq!(report["status"], "warn");
    let pending = check(&report, "pending");
    assert_eq!(pending["status"], "warn", "{pending}");
    assert!(pending["hint"].as_str().unwrap().contains("dashboard"), "{pending}");
    let details = pending["details"].to_string();
    assert!(details.contains(&unknown) && details.contains(&running), "{pending}");
    let jobs = report["pending"].as_array().unwrap();
    let status = |id: &str| jobs.iter().find(|j| j["job_id"] == id).unwrap()["status"].clone();
    assert_eq!(status(&unknown), "unknown");
    assert!(["submitted", "processing"].contains(&status(&running).as_str().unwrap()));
    assert!(report["unknown_exposure_credits"].as_f64().unwrap() > 0.0, "{report}");
}
