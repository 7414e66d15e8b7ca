//! `conjure serve`, the real binary against the real Postgres the test script starts
//! (`CONJURE_TEST_DATABASE_URL`; a database per test): it answers `/healthz`, stops cleanly on
//! SIGTERM, and never prints the database's password.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Stdio};

use conjure_test::pg::{TestDb, fresh_database};

use crate::ctx;

const PASSWORD: &str = "pw_SENTINEL_serve_41c7";

fn database() -> TestDb {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(fresh_database())
}

/// One request on its own connection: the status code and the body.
fn get(base: &str, path: &str) -> (u16, String) {
    let host = base.trim_start_matches("http://");
    let mut conn = TcpStream::connect(host).unwrap();
    write!(conn, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
    (status, answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default())
}

/// Sends `signal` (a `kill` name) to `child`.
fn signal(child: &Child, signal: &str) {
    let sent = std::process::Command::new("kill")
        .args([format!("-{signal}"), child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

#[test]
fn serve_answers_healthz_and_stops_on_sigterm() {
    let db = database();
    let t = ctx();
    let mut cmd = t.command(&["serve", "--addr", "127.0.0.1:0"]);
    cmd.env("CONJURE_DATABASE_URL", db.url_with_password(PASSWORD))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut base = String::new();
    stdout.read_line(&mut base).unwrap();
    let base = base.trim().to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{base:?}");
    let (status, body) = get(&base, "/healthz");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""status":"ok""#), "{body}");
    signal(&child, "TERM");
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("conjure serve: stopped"), "{stderr}");
    assert!(stderr.contains(":****@"), "the database is named, redacted: {stderr}");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(!format!("{base}{rest}{stderr}").contains(PASSWORD));
}

#[test]
fn serve_json_names_the_url_and_the_database_redacted() {
    let db = database();
    let t = ctx();
    let mut cmd = t.command(&["serve", "--json", "--addr", "127.0.0.1:0", "--database"]);
    cmd.arg(db.url_with_password(PASSWORD)).stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    signal(&child, "INT");
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["status"], "serving");
    assert!(v["url"].as_str().unwrap().starts_with("http://127.0.0.1:"), "{v}");
    let database = v["database"].as_str().unwrap();
    assert!(database.contains(":****@") && database.contains(&db.name), "{v}");
    assert!(!line.contains(PASSWORD));
}

#[test]
fn serve_needs_a_database_and_never_prints_its_password() {
    let t = ctx();
    let run = t.run(&["serve"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("CONJURE_DATABASE_URL"), "{run:?}");
    // Nothing listens on port 1: refused at once, and named only redacted.
    let url = format!("postgres://conjure:{PASSWORD}@127.0.0.1:1/jobs");
    let run = t.run(&["serve", "--addr", "127.0.0.1:0", "--database", &url]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("postgres://conjure:****@127.0.0.1:1/jobs"), "{run:?}");
    assert!(run.stderr.contains("hint:"), "{run:?}");
    assert!(!format!("{}{}", run.stdout, run.stderr).contains(PASSWORD), "{run:?}");
}
