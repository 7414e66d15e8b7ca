//! `conjure serve` operated at scale, the real binary end to end on a real Postgres database and
//! the real sandbox: the JSON access log (one line per request, every route, no secret in any
//! output), a graceful stop (SIGTERM) that answers and records the paid POST in flight and
//! leaves no poll lease behind, budgets with three instances and sixteen concurrent clients, and
//! a `kill -9` of one of three instances mid-run after which every accepted job finishes once.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use conjure_test::{Faults, TEST_KEY, TEST_SECRET};
use serde_json::{Value, json};

use crate::serve_members::{PASSWORD, admin, call, database, image, receiver, serve_with};
use crate::{sandbox, sandbox_with};

/// A hang guard, not a speed assertion.
const HANG: Duration = Duration::from_secs(120);

/// The JSON lines of a gateway's output.
fn json_lines(printed: &str) -> Vec<Value> {
    printed
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[test]
fn serve_logs_one_json_line_per_request_on_every_route_and_never_a_secret() {
    let db = database();
    let t = sandbox();
    assert_eq!(admin(&t, &db, &["member", "add", "alice", "--per-request", "1000cr"]).code, 0);
    assert_eq!(admin(&t, &db, &["member", "add", "bob"]).code, 0);
    let alice = admin(&t, &db, &["key", "create", "alice"]).stdout.trim().to_owned();
    let bob = admin(&t, &db, &["key", "create", "bob"]).stdout.trim().to_owned();
    let root = admin(&t, &db, &["key", "create", "--admin"]).stdout.trim().to_owned();
    let rate = admin(&t, &db, &["member", "rate-limit", "bob", "50/min"]);
    assert_eq!(rate.code, 0, "{rate:?}");
    let served = serve_with(
        &t,
        &db,
        &["--log-format", "json", "--allow-private-webhooks", "--rate-limit", "100/min"],
    );
    let base = served.base.clone();
    let mut secrets = vec![
        PASSWORD.to_owned(),
        TEST_KEY.to_owned(),
        TEST_SECRET.to_owned(),
        alice.clone(),
        bob.clone(),
        root.clone(),
    ];

    assert_eq!(call(&base, "GET", "/healthz", None, None).0, 200);
    assert_eq!(call(&base, "GET", "/v1/models", Some(&alice), None).0, 200);
    assert_eq!(call(&base, "GET", "/v1/me/balance", Some(&alice), None).0, 200);
    let (status, sent) =
        call(&base, "POST", "/v1/generation-requests", Some(&alice), Some(&image("logged fox")));
    assert_eq!(status, 200, "{sent}");
    let job = sent["conjure"]["job"].as_str().unwrap().to_owned();
    let polled = format!("/v1/generation-requests/{}", sent["request_id"].as_str().unwrap());
    assert_eq!(call(&base, "GET", &polled, Some(&alice), None).0, 200);
    let (status, quote) =
        call(&base, "POST", "/v1/generation-requests", Some(&bob), Some(&image("bob's fox")));
    assert_eq!(status, 402, "{quote}");
    let url = quote["approval_url"].as_str().unwrap();
    assert_eq!(
        call(&base, "POST", &url[url.find("/approve/").unwrap()..], Some(&bob), None).0,
        200
    );
    let (url, _received) = receiver();
    let (status, hook) =
        call(&base, "POST", "/v1/webhooks", Some(&alice), Some(&json!({"url": url})));
    assert!(status == 200 || status == 201, "{status} {hook}");
    secrets.push(hook["secret"].as_str().expect("a webhook secret").to_owned());
    let hook_id = hook["id"].as_str().unwrap().to_owned();
    assert_eq!(call(&base, "GET", "/v1/webhooks", Some(&alice), None).0, 200);
    assert_eq!(call(&base, "GET", &format!("/v1/webhooks/{hook_id}"), Some(&alice), None).0, 200);
    let deliveries = format!("/v1/webhooks/{hook_id}/deliveries");
    assert_eq!(call(&base, "GET", &deliveries, Some(&alice), None).0, 200);
    let admin_calls: [(&str, &str, Option<Value>); 6] = [
        ("POST", "/admin/members", Some(json!({"name": "carol"}))),
        ("POST", "/admin/projects", Some(json!({"name": "launch"}))),
        (
            "PUT",
            "/admin/budgets",
            Some(json!({"member": "carol", "window": "daily", "limit": "9cr"})),
        ),
        ("GET", "/admin/usage", None),
        ("PUT", "/admin/members/carol/rate-limit", Some(json!({"rate": "5/min"}))),
        ("GET", "/metrics", None),
    ];
    for (method, path, body) in &admin_calls {
        let (status, answer) = call(&base, method, path, Some(&root), body.as_ref());
        assert!((200..300).contains(&status), "{method} {path}: {status} {answer}");
    }
    let (status, made) = call(&base, "POST", "/admin/members/carol/keys", Some(&root), None);
    assert_eq!(status, 201, "{made}");
    secrets.push(made["key"].as_str().unwrap().to_owned());
    let revoke = format!("/admin/keys/{}/revoke", made["prefix"].as_str().unwrap());
    assert_eq!(call(&base, "POST", &revoke, Some(&root), None).0, 200);
    assert_eq!(
        call(&base, "DELETE", &format!("/v1/webhooks/{hook_id}"), Some(&alice), None).0 / 100,
        2
    );
    // A key that is not one, a missing route.
    // The last character changed, whatever it was.
    let last = if alice.ends_with('0') { "1" } else { "0" };
    let wrong = format!("{}{last}", &alice[..alice.len() - 1]);
    assert_ne!(wrong, alice);
    secrets.push(wrong.clone());
    assert_eq!(call(&base, "GET", "/v1/models", Some(&wrong), None).0, 401);
    assert_eq!(call(&base, "GET", "/no/such/route", Some(&alice), None).0, 404);

    let printed = served.stop();
    for secret in &secrets {
        assert!(!printed.contains(secret.as_str()), "a secret in the gateway's output:\n{printed}");
    }
    let lines = json_lines(&printed);
    let requests: Vec<&Value> =
        lines.iter().filter(|l| l["target"] == "conjure_gateway::access").collect();
    assert_eq!(requests.len(), 22, "one line per request:\n{printed}");
    let instance = requests[0]["instance"].as_str().unwrap();
    assert!(instance.starts_with("serve-"), "{instance}");
    for r in &requests {
        for field in
            ["time", "request_id", "member", "method", "route", "status", "latency_ms", "job"]
        {
            assert!(!r[field].is_null(), "{field} missing: {r}");
        }
        assert_eq!(r["instance"], instance);
        assert!(r["request_id"].as_str().unwrap().starts_with("req_"), "{r}");
    }
    let find = |route: &str, member: &str| {
        requests.iter().find(|r| r["route"] == route && r["member"] == member).copied()
    };
    let poll = find("/v1/generation-requests/{id}", "alice").expect("the poll's line");
    assert_eq!((poll["status"].as_u64(), poll["job"].as_str()), (Some(200), Some(job.as_str())));
    let submit = find("/v1/generation-requests", "alice").expect("the submit's line");
    assert_eq!(submit["job"], job.as_str());
    assert_eq!(find("/v1/generation-requests", "bob").expect("402")["status"], 402);
    assert_eq!(find("/admin/usage", "admin").expect("admin")["status"], 200);
    assert_eq!(find("/healthz", "-").expect("healthz")["status"], 200);
    assert_eq!(find("/v1/models", "-").expect("401")["status"], 401);
    assert_eq!(find("(no route)", "-").expect("404")["status"], 404);
    // The background workers log as JSON lines too (every line of stderr is one).
    let other = printed.lines().filter(|l| !l.starts_with('{') && !l.starts_with("http://"));
    for line in other {
        assert!(line.starts_with("conjure serve:"), "not a JSON line: {line}");
    }
}

#[test]
fn serve_a_sigterm_answers_the_paid_post_in_flight_and_leaves_no_poll_lease() {
    let db = database();
    // The upstream takes 1.5 s to answer a POST, and keeps every job processing.
    let t = sandbox_with(Faults { submit_delay_ms: 1500, hold: true, ..Faults::default() });
    assert_eq!(admin(&t, &db, &["member", "add", "ann", "--per-request", "1000cr"]).code, 0);
    let key = admin(&t, &db, &["key", "create", "ann"]).stdout.trim().to_owned();
    // A long lease: a lease left behind by the stopped instance would hold the job for a
    // minute, past the hang guard below.
    let args = ["--lease-seconds", "600"];
    let first = serve_with(&t, &db, &args);
    let base = first.base.clone();
    let client = std::thread::spawn(move || {
        call(&base, "POST", "/v1/generation-requests", Some(&key), Some(&image("stopped midway")))
    });
    let started = Instant::now();
    while t.stats().submit_posts_received < 1 {
        assert!(started.elapsed() < HANG, "the POST never reached the upstream");
        std::thread::sleep(Duration::from_millis(10));
    }
    // SIGTERM while the POST is in flight: the member still gets its answer, recorded.
    let printed = first.stop();
    let (status, sent) = client.join().unwrap();
    assert_eq!(status, 200, "{sent}\n{printed}");
    assert_eq!(sent["status"], "processing", "{sent}");
    assert_eq!(t.stats().submit_posts_received, 1);

    // Another instance polls the job at once (the stopped one released what it held; its
    // job was submitted, not orphaned).
    let polls = t.stats().polls;
    let second = serve_with(&t, &db, &args);
    while t.stats().polls <= polls {
        assert!(started.elapsed() < HANG, "the job was never polled by the other instance");
        std::thread::sleep(Duration::from_millis(20));
    }
    second.stop();
    assert_eq!(t.stats().submit_posts_received, 1, "never sent again");
}

#[test]
fn serve_three_instances_and_sixteen_clients_accept_exactly_what_the_budget_fits() {
    let db = database();
    let t = sandbox_with(Faults { latency_ms: 20, ..Faults::default() });
    assert_eq!(admin(&t, &db, &["member", "add", "probe"]).code, 0);
    let probe = admin(&t, &db, &["key", "create", "probe"]).stdout.trim().to_owned();
    let gateways: Vec<_> = (0..3).map(|_| serve_with(&t, &db, &[])).collect();
    let (status, quote) = call(
        &gateways[0].base,
        "POST",
        "/v1/generation-requests",
        Some(&probe),
        Some(&image("probe")),
    );
    assert_eq!(status, 402, "{quote}");
    let price: conjure_core::Credits = quote["quote"]["credits"].as_str().unwrap().parse().unwrap();
    // Two members sharing a project; the project's budget fits 7 requests, each member's 5.
    let budget = |n: u32| format!("{}cr", price.times(n));
    let mut keys = Vec::new();
    for name in ["ann", "ben"] {
        let added = admin(
            &t,
            &db,
            &["member", "add", name, "--per-request", "1000cr", "--budget", "daily", &budget(5)],
        );
        assert_eq!(added.code, 0, "{added:?}");
        keys.push(admin(&t, &db, &["key", "create", name]).stdout.trim().to_owned());
    }
    let project = ["project", "add", "shared", "--budget", "daily", &budget(7)];
    let members = ["--member", "ann", "--member", "ben"];
    let added = admin(&t, &db, &[&project[..], &members[..]].concat());
    assert_eq!(added.code, 0, "{added:?}");
    let bases: Vec<String> = gateways.iter().map(|g| g.base.clone()).collect();
    let clients: Vec<_> = (0..16)
        .map(|i| {
            let base = bases[i % 3].clone();
            let key = keys[i % 2].clone();
            std::thread::spawn(move || {
                let (status, body) = call_with(
                    &base,
                    "POST",
                    "/v1/generation-requests",
                    Some(&key),
                    Some(&image(&format!("budgeted fox {i}"))),
                    &[("X-Conjure-Project", "shared")],
                );
                (i % 2, status, body)
            })
        })
        .collect();
    let answers: Vec<(usize, u16, Value)> =
        clients.into_iter().map(|c| c.join().unwrap()).collect();
    let accepted = answers.iter().filter(|(_, s, _)| *s == 200).count();
    let refused = answers
        .iter()
        .filter(|(_, s, b)| *s == 403 && b["error"]["code"] == "budget_exceeded")
        .count();
    assert_eq!((accepted, refused), (7, 9), "{answers:?}");
    for member in 0..2 {
        let mine = answers.iter().filter(|(m, s, _)| *m == member && *s == 200).count();
        assert!(mine <= 5, "member {member} got {mine}, above its own budget");
    }
    assert_eq!(t.stats().submit_posts_received, 7, "the upstream got exactly the accepted POSTs");
    let (status, usage) = call(&bases[2], "GET", "/v1/me/balance", Some(&keys[0]), None);
    assert_eq!(status, 200, "{usage}");
    for g in gateways {
        g.stop();
    }
}

#[test]
fn serve_a_kill_9_of_one_of_three_instances_mid_run_loses_no_job_and_sends_none_twice() {
    let db = database();
    // Jobs take a few polls upstream; every request waits 30 ms there.
    let t = sandbox_with(Faults { latency_ms: 30, ..Faults::default() });
    assert_eq!(admin(&t, &db, &["member", "add", "load", "--per-request", "1000cr"]).code, 0);
    let key = admin(&t, &db, &["key", "create", "load"]).stdout.trim().to_owned();
    let args = ["--lease-seconds", "2"];
    let mut gateways: Vec<_> = (0..3).map(|_| serve_with(&t, &db, &args)).collect();
    let bases: Vec<String> = gateways.iter().map(|g| g.base.clone()).collect();
    // Sixteen clients, three requests each, round robin over the instances.
    let clients: Vec<_> = (0..16)
        .map(|c| {
            let bases = bases.clone();
            let key = key.clone();
            std::thread::spawn(move || {
                (0..3)
                    .map(|n| {
                        let base = &bases[(c + n) % 3];
                        let body = image(&format!("fox {c}-{n}"));
                        let sent = std::panic::catch_unwind(|| {
                            call(base, "POST", "/v1/generation-requests", Some(&key), Some(&body))
                        });
                        sent.unwrap_or((0, Value::Null))
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let started = Instant::now();
    while t.stats().submit_posts_received < 8 {
        assert!(started.elapsed() < HANG, "the run never got going");
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut doomed = gateways.remove(0);
    doomed.child.kill().unwrap();
    doomed.child.wait().unwrap();
    let answers: Vec<(u16, Value)> = clients.into_iter().flat_map(|c| c.join().unwrap()).collect();
    let accepted: BTreeSet<String> = answers
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, b)| b["conjure"]["job"].as_str().unwrap().to_owned())
        .collect();
    assert!(accepted.len() >= 16, "most requests go to the live instances: {answers:?}");

    // Every job reaches an end through the survivors, with nobody polling.
    let states = loop {
        let states = job_states(&db);
        if states.values().all(|(s, _)| ["completed", "failed", "unknown"].contains(&s.as_str())) {
            break states;
        }
        assert!(started.elapsed() < HANG, "jobs left unfinished: {states:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    for job in &accepted {
        assert_eq!(states[job].0, "completed", "accepted job {job} did not finish: {states:?}");
    }
    let completed = states.values().filter(|(s, _)| s == "completed").count() as u64;
    let unknown = states.values().filter(|(s, _)| s == "unknown").count() as u64;
    // A job the upstream accepted (its answer, with a request id, recorded) is finished by a
    // survivor whatever moment the kill struck: the answer is recorded in one write, never
    // left half-way for the orphan sweep to call `unknown`.
    for (job, (state, request_id)) in &states {
        if let Some(request_id) = request_id {
            assert_eq!(state, "completed", "job {job} was accepted upstream as {request_id}");
        }
    }
    let request_ids: BTreeSet<&str> = states.values().filter_map(|(_, r)| r.as_deref()).collect();
    assert_eq!(request_ids.len() as u64, completed, "each completed job its own upstream job");
    // Each POST the upstream received is one job's: the completed ones, and at most the
    // `unknown` ones the kill cut off mid-answer.
    let posts = t.stats().submit_posts_received;
    assert!(
        (completed..=completed + unknown).contains(&posts),
        "{posts} POSTs, {completed} completed, {unknown} unknown"
    );
    for g in gateways {
        g.stop();
    }
}

/// [`call`] with extra headers.
fn call_with(
    base: &str,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&Value>,
    extra: &[(&str, &str)],
) -> (u16, Value) {
    use std::io::{Read as _, Write as _};
    let host = base.trim_start_matches("http://");
    let mut conn = std::net::TcpStream::connect(host).unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    if let Some(key) = key {
        head.push_str(&format!("Authorization: Bearer {key}\r\n"));
    }
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    write!(
        conn,
        "{head}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, serde_json::from_str(&body).unwrap_or(Value::String(body)))
}

/// Every job's state and upstream request id, read straight from the database.
fn job_states(db: &conjure_test::pg::TestDb) -> BTreeMap<String, (String, Option<String>)> {
    use sqlx::{Connection as _, Row as _};
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        let rows = sqlx::query("SELECT id, state, request_id FROM jobs")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        rows.iter().map(|r| (r.get(0), (r.get(1), r.get(2)))).collect()
    })
}
