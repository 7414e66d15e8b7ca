//! `conjure serve` with members, the real binary end to end: `conjure serve admin ...` on a
//! real Postgres database (a database per test), two gateway processes in front of the real
//! sandbox (the gateway's Katana credentials are the sandbox's, in the gateway's environment
//! only), and clients speaking raw HTTP with a member's key, as `katana.sh` does, plus conjure's
//! own Katana client pointed at the gateway. The sandbox counts the paid POSTs it received.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Stdio};

use conjure_test::pg::{TestDb, fresh_database};
use conjure_test::{TEST_KEY, TEST_SECRET, TestContext};
use serde_json::{Value, json};

use crate::sandbox;

pub(crate) const PASSWORD: &str = "pw_SENTINEL_members_93b1";

pub(crate) fn database() -> TestDb {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(fresh_database())
}

/// One raw HTTP/1.1 request with a Bearer key: the status and the body as JSON.
pub(crate) fn call(
    base: &str,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let host = base.trim_start_matches("http://");
    let mut conn = TcpStream::connect(host).unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    let auth = key.map(|k| format!("Authorization: Bearer {k}\r\n")).unwrap_or_default();
    write!(
        conn,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, serde_json::from_str(&body).unwrap_or(Value::String(body)))
}

pub(crate) fn image(prompt: &str) -> Value {
    json!({"requests": [{"type": "image", "model": "gpt-image-2", "prompt": prompt, "aspect_ratio": "1:1"}]})
}

/// `conjure serve admin ARGS` on the test database; its exit code, stdout and stderr.
pub(crate) fn admin(t: &TestContext, db: &TestDb, args: &[&str]) -> conjure_test::Run {
    let mut all = vec!["serve", "admin"];
    all.extend_from_slice(args);
    let mut cmd = t.command(&all);
    cmd.env("CONJURE_DATABASE_URL", db.url_with_password(PASSWORD));
    t.run_cmd(cmd)
}

/// Adds member `name` and returns a new key of theirs (shown once, as the admin command prints it).
pub(crate) fn member_key(t: &TestContext, db: &TestDb, name: &str) -> String {
    assert_eq!(admin(t, db, &["member", "add", name]).code, 0);
    admin(t, db, &["key", "create", name]).stdout.trim().to_owned()
}

/// A running `conjure serve`, its URL, and what it printed (read once it stopped).
pub(crate) struct Served {
    pub(crate) child: Child,
    pub(crate) base: String,
}

fn serve(t: &TestContext, db: &TestDb) -> Served {
    serve_with(t, db, &[])
}

pub(crate) fn serve_with(t: &TestContext, db: &TestDb, extra: &[&str]) -> Served {
    let mut args = vec!["serve", "--addr", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let mut cmd = t.command(&args);
    cmd.env("CONJURE_DATABASE_URL", db.url_with_password(PASSWORD))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    Served { child, base: line.trim().to_owned() }
}

impl Served {
    /// Stops it (SIGTERM) and returns everything it printed.
    pub(crate) fn stop(mut self) -> String {
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        assert_eq!(self.child.wait().unwrap().code(), Some(0));
        let mut out = String::new();
        self.child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        self.child.stderr.take().unwrap().read_to_string(&mut out).unwrap();
        out
    }
}

#[test]
fn serve_admin_manages_members_keys_budgets_and_usage_on_the_database() {
    let db = database();
    let t = crate::ctx();
    let added = admin(
        &t,
        &db,
        &[
            "member",
            "add",
            "alice",
            "--budget",
            "daily",
            "500cr",
            "--per-request",
            "50cr",
            "--provider",
            "katana",
        ],
    );
    assert_eq!(added.code, 0, "{added:?}");
    assert_eq!(added.stdout.trim(), "alice");
    let again = admin(&t, &db, &["member", "add", "alice"]);
    assert_eq!(again.code, 1, "{again:?}");
    assert!(again.stderr.contains("hint:"), "{again:?}");

    let key = admin(&t, &db, &["key", "create", "alice"]);
    assert_eq!(key.code, 0, "{key:?}");
    let key = key.stdout.trim().to_owned();
    assert!(key.starts_with("cjm_"), "{key}");
    let prefix = &key[..12];

    let set = admin(&t, &db, &["budget", "set", "--member", "alice", "monthly", "$20"]);
    assert_eq!(set.code, 0, "{set:?}");
    let project = admin(
        &t,
        &db,
        &["project", "add", "launch", "--budget", "daily", "100cr", "--member", "alice"],
    );
    assert_eq!(project.code, 0, "{project:?}");
    // Membership: only a project's members may name it.
    let ghost = admin(&t, &db, &["project", "member", "add", "launch", "bob"]);
    assert_eq!(ghost.code, 1, "{ghost:?}");
    assert!(ghost.stderr.contains("hint:"), "{ghost:?}");
    assert_eq!(admin(&t, &db, &["member", "add", "bob"]).code, 0);
    let joined = admin(&t, &db, &["project", "member", "add", "launch", "bob"]);
    assert_eq!(joined.code, 0, "{joined:?}");
    let left = admin(&t, &db, &["--json", "project", "member", "remove", "launch", "alice"]);
    assert_eq!(left.json()["status"], "removed", "{left:?}");
    let nowhere = admin(&t, &db, &["project", "member", "add", "nope", "bob"]);
    assert_eq!(nowhere.code, 1, "{nowhere:?}");
    assert!(nowhere.stderr.contains("project add"), "{nowhere:?}");
    let listed = admin(&t, &db, &["usage"]);
    assert!(
        listed.stdout.contains("project launch  daily: 100 credits  members: bob"),
        "{listed:?}"
    );
    let usage = admin(&t, &db, &["--json", "usage"]);
    assert_eq!(usage.code, 0, "{usage:?}");
    let v = usage.json();
    let alice = &v["members"][0];
    assert_eq!(alice["member"], "alice");
    assert_eq!(alice["per_request"], "50 credits");
    assert_eq!(alice["keys"][0]["prefix"], prefix);
    assert_eq!(alice["projects"], json!([]), "{v}");
    assert_eq!(v["projects"][0]["members"], json!(["bob"]), "{v}");
    assert!(usage.stdout.contains("$20.00"), "{}", usage.stdout);
    assert!(!usage.stdout.contains(&key), "usage shows prefixes only");

    let revoked = admin(&t, &db, &["key", "revoke", prefix]);
    assert_eq!(revoked.code, 0, "{revoked:?}");
    let missing = admin(&t, &db, &["key", "revoke", "cjm_00000000"]);
    assert_eq!(missing.code, 1, "{missing:?}");
    let no_member = admin(&t, &db, &["key", "create", "nobody"]);
    assert_eq!(no_member.code, 1, "{no_member:?}");
    assert!(no_member.stderr.contains("member add"), "{no_member:?}");

    for run in [&added, &set, &project, &usage, &revoked, &missing] {
        assert!(!format!("{}{}", run.stdout, run.stderr).contains(PASSWORD), "{run:?}");
    }
}

#[test]
fn two_gateway_processes_serve_katana_clients_within_one_budget_and_keep_every_secret() {
    let db = database();
    let t = sandbox();
    // Learn one request's price from a quote: a member with nothing pre-approved gets 402.
    assert_eq!(admin(&t, &db, &["member", "add", "probe"]).code, 0);
    let probe = admin(&t, &db, &["key", "create", "probe"]).stdout.trim().to_owned();
    let a = serve(&t, &db);
    let b = serve(&t, &db);
    let (status, quote) =
        call(&a.base, "POST", "/v1/generation-requests", Some(&probe), Some(&image("probe")));
    assert_eq!(status, 402, "{quote}");
    let price: conjure_core::Credits = quote["quote"]["credits"].as_str().unwrap().parse().unwrap();

    // A budget of exactly four requests, 16 clients across the two processes.
    let budget = format!("{}cr", price.times(4));
    let added = admin(
        &t,
        &db,
        &["member", "add", "bots", "--per-request", "1000cr", "--budget", "daily", &budget],
    );
    assert_eq!(added.code, 0, "{added:?}");
    let key = admin(&t, &db, &["key", "create", "bots"]).stdout.trim().to_owned();
    let bases = [a.base.clone(), b.base.clone()];
    let clients: Vec<_> = (0..16)
        .map(|i| {
            let base = bases[i % 2].clone();
            let key = key.clone();
            std::thread::spawn(move || {
                call(
                    &base,
                    "POST",
                    "/v1/generation-requests",
                    Some(&key),
                    Some(&image(&format!("bot fox {i}"))),
                )
            })
        })
        .collect();
    let answers: Vec<(u16, Value)> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let accepted: Vec<&Value> = answers.iter().filter(|(s, _)| *s == 200).map(|(_, b)| b).collect();
    let over = answers.iter().filter(|(s, _)| *s == 403).count();
    assert_eq!((accepted.len(), over), (4, 12), "{answers:?}");
    assert_eq!(t.stats().submit_posts_received, 4, "the upstream got exactly the accepted POSTs");

    // Another member cannot read them; the owner can, from either process.
    let request_id = accepted[0]["request_id"].as_str().unwrap();
    let path = format!("/v1/generation-requests/{request_id}");
    assert_eq!(call(&b.base, "GET", &path, Some(&probe), None).0, 404);
    let (status, polled) = call(&b.base, "GET", &path, Some(&key), None);
    assert_eq!(status, 200, "{polled}");
    let (status, balance) = call(&a.base, "GET", "/v1/me/balance", Some(&key), None);
    assert_eq!(status, 200, "{balance}");
    assert_eq!(balance["credits"], "0.0");

    // 402, approval by the member, and the same request goes through once.
    let approve_body = image("worth approving");
    let (status, quote) =
        call(&a.base, "POST", "/v1/generation-requests", Some(&probe), Some(&approve_body));
    assert_eq!(status, 402, "{quote}");
    let url = quote["approval_url"].as_str().unwrap();
    let approve_path = &url[url.find("/approve/").unwrap()..];
    let (status, approved) = call(&b.base, "POST", approve_path, Some(&probe), None);
    assert_eq!(status, 200, "{approved}");
    let (status, sent) =
        call(&b.base, "POST", "/v1/generation-requests", Some(&probe), Some(&approve_body));
    assert_eq!(status, 200, "{sent}");
    assert_eq!(t.stats().submit_posts_received, 5);

    // conjure's own Katana client, pointed at the gateway with the member's key as its
    // credentials, works unchanged: quote, send once, poll, download.
    assert_eq!(admin(&t, &db, &["member", "add", "cli", "--per-request", "1000cr"]).code, 0);
    let cli_key = admin(&t, &db, &["key", "create", "cli"]).stdout.trim().to_owned();
    let mut cmd =
        t.command(&["--json", "image", "a gateway fox", "--model", "gpt-image-2", "--yes"]);
    cmd.env("CONJURE_KATANA_BASE_URL", &a.base)
        .env("KATANA_API_KEY", &cli_key)
        .env("KATANA_API_SECRET", "unused-by-the-gateway");
    let run = t.run_cmd(cmd);
    assert_eq!(run.code, 0, "{run:?}");
    let done = run.json();
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["outputs"].as_array().map(Vec::len), Some(1), "{done}");
    assert_eq!(t.stats().submit_posts_received, 6);

    // Above the member's pre-approved amount, the same client is told where to approve it.
    let mut cmd = t.command(&["image", "an unapproved fox", "--model", "gpt-image-2", "--yes"]);
    cmd.env("CONJURE_KATANA_BASE_URL", &a.base)
        .env("KATANA_API_KEY", &probe)
        .env("KATANA_API_SECRET", "unused-by-the-gateway");
    let refused = t.run_cmd(cmd);
    assert_ne!(refused.code, 0, "{refused:?}");
    assert!(refused.stderr.contains("/approve/"), "no approval link: {refused:?}");
    assert_eq!(t.stats().submit_posts_received, 6, "nothing sent before approval");

    let printed = format!("{}{}{}", a.stop(), b.stop(), serde_json::to_string(&answers).unwrap());
    for secret in [PASSWORD, TEST_KEY, TEST_SECRET, key.as_str(), probe.as_str(), cli_key.as_str()]
    {
        assert!(!printed.contains(secret), "a secret in the gateway's output or answers");
    }
}

/// One webhook delivery as the receiver read it: its headers (names lower-cased) and body.
pub(crate) struct Delivery {
    pub(crate) headers: std::collections::HashMap<String, String>,
    pub(crate) body: Vec<u8>,
}

/// A webhook receiver on loopback answering 200 to everything; what it received comes out of
/// the channel.
pub(crate) fn receiver() -> (String, std::sync::mpsc::Receiver<Delivery>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let mut reader = BufReader::new(conn);
            let mut headers = std::collections::HashMap::new();
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            loop {
                line.clear();
                reader.read_line(&mut line).unwrap();
                let Some((name, value)) = line.trim_end().split_once(':') else { break };
                headers.insert(name.to_ascii_lowercase(), value.trim().to_owned());
            }
            let length = headers.get("content-length").map_or(0, |l| l.parse().unwrap());
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let mut conn = reader.into_inner();
            conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .unwrap();
            if tx.send(Delivery { headers, body }).is_err() {
                return;
            }
        }
    });
    (url, rx)
}

/// HMAC-SHA256 (RFC 2104), written here so that the check does not share the gateway's code.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    use sha2::{Digest as _, Sha256};
    let mut k = [0_u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| k.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize().to_vec()
}

/// Whether `delivery` carries a Standard Webhooks signature of its body under `secret`.
fn signed_by(delivery: &Delivery, secret: &str) -> bool {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    let h = |name: &str| delivery.headers.get(name).cloned().unwrap_or_default();
    let key = STANDARD.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let mut signed = format!("{}.{}.", h("webhook-id"), h("webhook-timestamp")).into_bytes();
    signed.extend_from_slice(&delivery.body);
    let expected = hmac_sha256(&key, &signed);
    h("webhook-signature")
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .any(|b64| STANDARD.decode(b64).is_ok_and(|sig| sig == expected))
}

#[test]
fn a_members_job_reaches_their_webhook_signed_and_metrics_take_the_admin_key() {
    let db = database();
    let t = sandbox();
    assert_eq!(admin(&t, &db, &["member", "add", "hooks", "--per-request", "1000cr"]).code, 0);
    let key = admin(&t, &db, &["key", "create", "hooks"]).stdout.trim().to_owned();
    assert_eq!(admin(&t, &db, &["member", "add", "other"]).code, 0);
    let other = admin(&t, &db, &["key", "create", "other"]).stdout.trim().to_owned();
    let admin_key = admin(&t, &db, &["key", "create", "--admin"]).stdout.trim().to_owned();
    let gw = serve_with(&t, &db, &["--allow-private-webhooks"]);

    let (url, received) = receiver();
    let (status, endpoint) =
        call(&gw.base, "POST", "/v1/webhooks", Some(&key), Some(&json!({"url": url})));
    assert!(status == 200 || status == 201, "{status} {endpoint}");
    let secret = endpoint["secret"].as_str().unwrap().to_owned();
    let (status, listed) = call(&gw.base, "GET", "/v1/webhooks", Some(&other), None);
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["endpoints"].as_array().map(Vec::len), Some(0), "another member's hooks");

    let (status, sent) =
        call(&gw.base, "POST", "/v1/generation-requests", Some(&key), Some(&image("hooked fox")));
    assert_eq!(status, 200, "{sent}");
    let path = format!("/v1/generation-requests/{}", sent["request_id"].as_str().unwrap());
    let mut events = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let seen = |events: &[(String, Delivery)], kind: &str| events.iter().any(|(t, _)| t == kind);
    while !(seen(&events, "job.submitted") && seen(&events, "job.succeeded")) {
        assert!(std::time::Instant::now() < deadline, "events missing: {:?}", {
            events.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>()
        });
        // The member polls as a Katana client does; each poll records what the job did.
        call(&gw.base, "GET", &path, Some(&key), None);
        if let Ok(d) = received.recv_timeout(std::time::Duration::from_millis(500)) {
            let body: Value = serde_json::from_slice(&d.body).unwrap();
            events.push((body["type"].as_str().unwrap().to_owned(), d));
        }
    }
    for (_, d) in &events {
        assert!(signed_by(d, &secret), "a delivery whose signature does not verify");
        assert!(!signed_by(d, "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="), "any key");
    }
    assert_eq!(t.stats().submit_posts_received, 1);

    let (status, _) = call(&gw.base, "GET", "/metrics", Some(&key), None);
    assert_eq!(status, 403, "a member key does not read the team's metrics");
    let (status, metrics) = call(&gw.base, "GET", "/metrics", Some(&admin_key), None);
    assert_eq!(status, 200);
    let text = metrics.as_str().unwrap_or_default();
    assert!(text.contains(r#"conjure_reservations_total{outcome="accepted"} 1"#), "{text}");
    let printed = gw.stop();
    for secret in [PASSWORD, key.as_str(), secret.as_str(), admin_key.as_str()] {
        assert!(!printed.contains(secret), "a secret in the gateway's output");
    }
}
