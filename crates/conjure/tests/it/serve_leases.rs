//! `conjure serve` instances are stateless, the real binary end to end: a gateway process is
//! killed (SIGKILL: no graceful stop, its heartbeat row and its poll lease left behind) while a
//! member's job is still running upstream (the sandbox holds it `processing`); another
//! `conjure serve` on the same database finishes the job with no client polling, the member's
//! webhook hears of it, and the sandbox received exactly one paid POST. And one killed while
//! its paid POST is unanswered: another instance settles the job as `unknown` (it may have
//! been charged) once the dead one's heartbeat has run out, and nothing is sent again.

use std::time::{Duration, Instant};

use conjure_test::Faults;
use serde_json::{Value, json};

use crate::sandbox_with;
use crate::serve_members::{Delivery, admin, call, database, image, receiver, serve_with};

/// A hang guard, not a speed assertion.
const HANG: Duration = Duration::from_secs(120);

#[test]
fn serve_a_killed_instances_pending_job_is_finished_by_another_without_any_client_polling() {
    let db = database();
    let t = sandbox_with(Faults { hold: true, ..Faults::default() });
    assert_eq!(admin(&t, &db, &["member", "add", "patient", "--per-request", "1000cr"]).code, 0);
    let key = admin(&t, &db, &["key", "create", "patient"]).stdout.trim().to_owned();
    // A short lease, so that the survivor takes the job over soon after the kill.
    let args = ["--allow-private-webhooks", "--lease-seconds", "2"];
    let doomed = serve_with(&t, &db, &args);

    let (url, received) = receiver();
    let (status, endpoint) =
        call(&doomed.base, "POST", "/v1/webhooks", Some(&key), Some(&json!({"url": url})));
    assert!(status == 200 || status == 201, "{status} {endpoint}");
    let (status, sent) = call(
        &doomed.base,
        "POST",
        "/v1/generation-requests",
        Some(&key),
        Some(&image("a fox that outlives its gateway")),
    );
    assert_eq!(status, 200, "{sent}");
    let path = format!("/v1/generation-requests/{}", sent["request_id"].as_str().unwrap());
    assert_eq!(t.stats().submit_posts_received, 1);

    // The instance polls the job in the background (nobody asks it to): the sandbox sees polls.
    let started = Instant::now();
    while t.stats().polls < 2 {
        assert!(started.elapsed() < HANG, "the gateway never polled the job by itself");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut doomed = doomed;
    doomed.child.kill().unwrap();
    doomed.child.wait().unwrap();

    // The job may now finish upstream; only a live gateway can notice.
    t.sandbox().set_faults(Faults { hold: false, ..t.sandbox().faults() });
    let survivor = serve_with(&t, &db, &args);
    let mut events: Vec<(String, Delivery)> = Vec::new();
    while !events.iter().any(|(kind, _)| kind == "job.succeeded") {
        assert!(started.elapsed() < HANG, "the job was never finished: {:?}", {
            events.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>()
        });
        if let Ok(d) = received.recv_timeout(Duration::from_millis(200)) {
            let body: Value = serde_json::from_slice(&d.body).unwrap();
            events.push((body["type"].as_str().unwrap().to_owned(), d));
        }
    }

    // Recorded as completed in the shared database: the member reads it from the survivor
    // (a finished job is answered from the store, not polled again).
    let polls = t.stats().polls;
    let (status, shown) = call(&survivor.base, "GET", &path, Some(&key), None);
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["status"], "completed", "{shown}");
    assert_eq!(t.stats().polls, polls, "the member's read did not poll upstream");
    assert_eq!(t.stats().submit_posts_received, 1, "never sent again by either instance");
    survivor.stop();
}

#[test]
fn serve_a_job_whose_instance_died_mid_submit_becomes_unknown_through_another_instance() {
    let db = database();
    // The upstream accepts and charges the POST, then takes a minute to answer it.
    let t = sandbox_with(Faults { submit_delay_ms: 60_000, ..Faults::default() });
    assert_eq!(admin(&t, &db, &["member", "add", "unlucky", "--per-request", "1000cr"]).code, 0);
    let key = admin(&t, &db, &["key", "create", "unlucky"]).stdout.trim().to_owned();
    let args = ["--allow-private-webhooks", "--lease-seconds", "2"];
    let doomed = serve_with(&t, &db, &args);
    let (url, received) = receiver();
    let (status, endpoint) =
        call(&doomed.base, "POST", "/v1/webhooks", Some(&key), Some(&json!({"url": url})));
    assert!(status == 200 || status == 201, "{status} {endpoint}");

    // The client's request is cut off by the kill: it is sent from a thread of its own, which
    // is left to see its connection reset.
    let host = doomed.base.trim_start_matches("http://").to_owned();
    let body = image("a fox sent into the void").to_string();
    let auth = key.clone();
    std::thread::spawn(move || {
        use std::io::{Read as _, Write as _};
        let Ok(mut conn) = std::net::TcpStream::connect(&host) else { return };
        let _ = write!(
            conn,
            "POST /v1/generation-requests HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\
             Authorization: Bearer {auth}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let _ = conn.read_to_end(&mut Vec::new());
    });
    let started = Instant::now();
    while t.stats().submit_posts_received < 1 {
        assert!(started.elapsed() < HANG, "the POST never reached the upstream");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut doomed = doomed;
    doomed.child.kill().unwrap();
    doomed.child.wait().unwrap();

    let survivor = serve_with(&t, &db, &args);
    let unknown = loop {
        assert!(started.elapsed() < HANG, "the dead instance's job was never settled");
        if let Ok(d) = received.recv_timeout(Duration::from_millis(200)) {
            let body: Value = serde_json::from_slice(&d.body).unwrap();
            if body["type"] == "job.unknown" {
                break body;
            }
        }
    };
    assert!(
        unknown["data"]["note"].as_str().unwrap_or_default().contains("may have been charged"),
        "{unknown}"
    );
    assert_eq!(t.stats().submit_posts_received, 1, "never sent again");
    survivor.stop();
}
