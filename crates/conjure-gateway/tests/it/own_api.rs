//! conjure's own API (`/conjure/v1/...`) end to end: two gateway instances on one real
//! Postgres database sharing one storage directory, the real sandbox as Katana upstream, and
//! a member's key. The sandbox counts the paid POSTs and the file downloads it served: a quote
//! sends nothing, a token sends one request once, and a file downloaded by one instance is
//! served by the other without a second download.

use std::net::SocketAddr;
use std::time::Duration;

use conjure_app::{App, Config};
use conjure_core::ProviderId;
use conjure_core::money::CreditPrice;
use conjure_gateway::member::MemberId;
use conjure_gateway::storage::Storage;
use conjure_gateway::{Gateway, PgStore, admin, keys, server};
use conjure_providers::registry::ProviderSettings;
use conjure_test::pg::{TestDb, fresh_database};
use conjure_test::{Faults, Sandbox, SandboxConfig, TEST_KEY, TEST_SECRET};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use crate::members::{call, now};

/// A hang guard, not a speed assertion.
const HANG: Duration = Duration::from_secs(60);

struct Own {
    db: TestDb,
    sandbox: Sandbox,
    store: PgStore,
    instances: Vec<SocketAddr>,
    storage: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

fn app(sandbox: &Sandbox, data: &std::path::Path) -> App {
    let mut config = Config::new(data.join("data"), data.join("config"));
    config.providers.insert(
        ProviderId::Katana,
        ProviderSettings {
            base_url: sandbox.base_url(),
            usd_per_credit: Some(CreditPrice::KATANA_REFERENCE),
        },
    );
    config.env.insert("KATANA_API_KEY".into(), TEST_KEY.into());
    config.env.insert("KATANA_API_SECRET".into(), TEST_SECRET.into());
    config.catalogue_check = false;
    // The background poller's waits, scaled down: a job nobody polls finishes in moments.
    config.poll.scale = 0.001;
    App::new(config)
}

impl Own {
    /// `instances` gateways, each with its own data directory and pool, one shared storage.
    async fn start(instances: usize) -> Own {
        let db = fresh_database().await;
        let dir = tempfile::tempdir().expect("temp dir");
        let sandbox = conjure_sandbox::start(SandboxConfig {
            addr: "127.0.0.1:0".parse().expect("addr"),
            keys: vec![conjure_sandbox::ApiKey::new(
                TEST_KEY,
                TEST_SECRET,
                conjure_core::Credits::whole(100_000),
            )],
            faults: Faults::default(),
            media_dir: Some(dir.path().join("media")),
            ..SandboxConfig::default()
        })
        .await
        .expect("sandbox");
        let store = PgStore::connect_with(&db.url, 2).await.expect("connect");
        let storage = dir.path().join("shared");
        let mut addrs = Vec::new();
        for i in 0..instances {
            let pool = PgStore::connect_with(&db.url, 4).await.expect("connect");
            let own = dir.path().join(format!("gw{i}"));
            let gateway = Gateway::new(pool, app(&sandbox, &own), &format!("gw{i}"))
                .with_storage(Storage::new(storage.clone()));
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            addrs.push(listener.local_addr().expect("addr"));
            tokio::spawn(server::serve(listener, gateway, std::future::pending()));
        }
        Own { db, sandbox, store, instances: addrs, storage, _dir: dir }
    }

    async fn member(&self, name: &str) -> String {
        let new = admin::NewMember {
            name: name.to_owned(),
            budgets: Vec::new(),
            providers: None,
            per_request: None,
        };
        admin::add_member(&self.store, &new, now()).await.expect("member");
        let key = keys::create(&self.store, Some(&MemberId(name.to_owned())), now()).await;
        key.expect("key").expose().to_owned()
    }

    fn posts(&self) -> u64 {
        self.sandbox.stats().submit_posts_received
    }
}

fn image(prompt: &str) -> Value {
    json!({"type": "image", "prompt": prompt, "model": "gpt-image-2"})
}

/// A file's status and bytes.
async fn bytes(addr: SocketAddr, path: &str, key: &str) -> (u16, Vec<u8>) {
    let response = reqwest::Client::new()
        .get(format!("http://{addr}{path}"))
        .bearer_auth(key)
        .send()
        .await
        .expect("answer");
    let status = response.status().as_u16();
    (status, response.bytes().await.expect("body").to_vec())
}

/// Quotes and spends `request` for `key`; the job as the spend answered it.
async fn quote_and_spend(addr: SocketAddr, key: &str, request: &Value) -> Value {
    let (status, quote) =
        call(addr, "POST", "/conjure/v1/quote", Some(key), Some(&json!({"request": request})), &[])
            .await;
    assert_eq!(status, 200, "{quote}");
    let token = quote["token"].as_str().expect("a token");
    let (status, job) =
        call(addr, "POST", "/conjure/v1/jobs", Some(key), Some(&json!({"token": token})), &[])
            .await;
    assert_eq!(status, 201, "{job}");
    job
}

async fn until_completed(addr: SocketAddr, key: &str, id: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..40 {
        let (status, job) =
            call(addr, "GET", &format!("/conjure/v1/jobs/{id}"), Some(key), None, &[]).await;
        assert_eq!(status, 200, "{job}");
        last = job;
        if last["state"] == "completed" {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never completed: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quote_sends_nothing_its_token_sends_once_and_a_member_sees_only_its_own() {
    let h = Own::start(2).await;
    let (a, b) = (h.instances[0], h.instances[1]);
    let alice = h.member("alice").await;
    let bob = h.member("bob").await;

    let request = image("a lighthouse");
    let (status, quote) =
        call(a, "POST", "/conjure/v1/quote", Some(&alice), Some(&json!({"request": request})), &[])
            .await;
    assert_eq!(status, 200, "{quote}");
    assert_eq!(quote["status"], "quote");
    assert_eq!(quote["quote"]["model"], "gpt-image-2", "{quote}");
    let token = quote["token"].as_str().expect("a token").to_owned();
    assert!(token.starts_with("cq_"), "{quote}");
    assert_eq!(h.posts(), 0, "a quote sends nothing");

    // Another member cannot spend alice's quote.
    let spend = json!({"token": token});
    let (status, body) = call(a, "POST", "/conjure/v1/jobs", Some(&bob), Some(&spend), &[]).await;
    assert_eq!(status, 404, "{body}");
    assert!(body["error"]["hint"].as_str().is_some_and(|h| h.contains("/conjure/v1/quote")));
    // Nor can a token be spent for a request other than the one quoted.
    let other = json!({"token": token, "request": image("a castle")});
    let (status, body) = call(a, "POST", "/conjure/v1/jobs", Some(&alice), Some(&other), &[]).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(h.posts(), 0);

    // Alice's token sends it once, through either instance; the second use names the first job.
    let (status, job) = call(a, "POST", "/conjure/v1/jobs", Some(&alice), Some(&spend), &[]).await;
    assert_eq!(status, 201, "{job}");
    let id = job["id"].as_str().expect("a job id").to_owned();
    assert_eq!(h.posts(), 1);
    let (status, again) =
        call(b, "POST", "/conjure/v1/jobs", Some(&alice), Some(&spend), &[]).await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(again["error"]["code"], "approval_used", "{again}");
    assert_eq!(again["job"], id.as_str(), "{again}");
    assert_eq!(h.posts(), 1, "a used token sends nothing");
    // The token finds its job (for a client whose answer was lost).
    let (status, found) =
        call(b, "GET", &format!("/conjure/v1/jobs?token={token}"), Some(&alice), None, &[]).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["jobs"][0]["id"], id.as_str(), "{found}");

    // Instance A polls it to completion and stores its file; instance B serves that file
    // from the shared directory without downloading it again.
    let done = until_completed(a, &alice, &id).await;
    let url = done["outputs"][0]["url"].as_str().expect("an output url").to_owned();
    assert!(url.ends_with(&format!("/conjure/v1/jobs/{id}/outputs/0")), "{done}");
    assert!(done["snapshot"]["assets"][0]["url"] == url.as_str(), "{done}");
    let stored = h.storage.join("alice").join(&id).join("0.png");
    assert!(stored.is_file(), "A stored the file at {}", stored.display());
    let downloads = h.sandbox.stats().downloads;
    assert_eq!(downloads, 1, "A downloaded it once");
    let (status, from_b) = bytes(b, &format!("/conjure/v1/jobs/{id}/outputs/0"), &alice).await;
    assert_eq!(status, 200);
    assert_eq!(from_b, std::fs::read(&stored).expect("stored file"));
    assert!(from_b.starts_with(b"\x89PNG"), "a PNG");
    assert_eq!(h.sandbox.stats().downloads, downloads, "B served it from the shared storage");
    // Nothing is left half-written.
    let partial = std::fs::read_dir(h.storage.join(".partial")).map_or(0, Iterator::count);
    assert_eq!(partial, 0);

    // Bob sees none of it: not the job, not its files, not in his list.
    for path in [
        format!("/conjure/v1/jobs/{id}"),
        format!("/conjure/v1/jobs/{id}/outputs"),
        format!("/conjure/v1/jobs/{id}/outputs/0"),
    ] {
        let (status, body) = bytes(b, &path, &bob).await;
        assert_eq!(status, 404, "{path}: {}", String::from_utf8_lossy(&body));
        assert!(!String::from_utf8_lossy(&body).contains("lighthouse"));
    }
    let (_, list) = call(b, "GET", "/conjure/v1/jobs", Some(&bob), None, &[]).await;
    assert_eq!(list["jobs"], json!([]), "{list}");
    let (_, list) = call(b, "GET", "/conjure/v1/jobs", Some(&alice), None, &[]).await;
    assert_eq!(list["jobs"].as_array().map(Vec::len), Some(1), "{list}");

    // Her spending counts the job.
    let (status, spend) = call(a, "GET", "/conjure/v1/spend", Some(&alice), None, &[]).await;
    assert_eq!(status, 200, "{spend}");
    assert_eq!(spend["jobs"], 1, "{spend}");
    assert_eq!(spend["member"], "alice");
    assert_eq!(h.posts(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_with_what_to_do_and_nothing_is_sent() {
    let h = Own::start(1).await;
    let a = h.instances[0];
    let alice = h.member("alice").await;
    let cases = [
        json!({"prompt": "the request is not wrapped"}),
        json!({"request": {"type": "image", "prompt": "x", "modle": "gen"}}),
        json!({"request": {"type": "image", "prompt": "x", "refs": ["/etc/hostname"]}}),
        // A path would be read on the gateway's disk: a text's images and message URLs too.
        json!({"request": {"type": "text", "prompt": "x", "images": ["/etc/hostname"]}}),
        json!({"request": {"type": "text", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "x"},
            {"type": "image_url", "image_url": {"url": "/etc/hostname"}}]}]}}),
        json!({"request": {"type": "image", "prompt": "x", "model": "no-such-model"}}),
        json!({"request": image("x"), "project": "nope"}),
    ];
    for body in cases {
        let (status, answer) =
            call(a, "POST", "/conjure/v1/quote", Some(&alice), Some(&body), &[]).await;
        assert_eq!(status, 400, "{body} -> {answer}");
        assert!(answer["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{answer}");
        assert!(answer["error"]["hint"].as_str().is_some_and(|m| !m.is_empty()), "{answer}");
    }
    let (status, answer) = call(
        a,
        "POST",
        "/conjure/v1/jobs",
        Some(&alice),
        Some(&json!({"token": "cq_nonsense"})),
        &[],
    )
    .await;
    assert_eq!(status, 404, "{answer}");
    let (status, answer) =
        call(a, "GET", "/conjure/v1/jobs?limit=many", Some(&alice), None, &[]).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"]["hint"].is_string(), "{answer}");
    // No key: 401 with a hint; the admin key: not a member.
    let (status, answer) = call(a, "GET", "/conjure/v1/jobs", None, None, &[]).await;
    assert_eq!(status, 401, "{answer}");
    let admin = keys::create(&h.store, None, now()).await.expect("admin key");
    let (status, answer) =
        call(a, "GET", "/conjure/v1/jobs", Some(admin.expose()), None, &[]).await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(h.posts(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_public_and_every_path_in_it_answers() {
    let h = Own::start(1).await;
    let a = h.instances[0];
    let alice = h.member("alice").await;
    let (status, doc) = call(a, "GET", "/openapi.json", None, None, &[]).await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["openapi"], "3.1.0");
    let job = quote_and_spend(a, &alice, &image("a kite")).await;
    let id = job["id"].as_str().expect("id").to_owned();
    until_completed(a, &alice, &id).await;
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 6, "{doc}");
    for (path, ops) in paths {
        let concrete = path.replace("{id}", &id).replace("{n}", "0");
        for method in ops.as_object().expect("operations").keys() {
            if path.ends_with("/events") {
                // An endless stream: its head is enough.
                let head = sse_head(a, &concrete, &alice).await;
                assert!(head.starts_with("HTTP/1.1 200"), "{head}");
                assert!(head.contains("text/event-stream"), "{head}");
                continue;
            }
            let (status, answer) = if method == "post" {
                let (status, answer) =
                    call(a, "POST", &concrete, Some(&alice), Some(&json!({})), &[]).await;
                (status, answer.to_string())
            } else {
                assert_eq!(method, "get");
                let (status, body) = bytes(a, &concrete, &alice).await;
                (status, String::from_utf8_lossy(&body).into_owned())
            };
            assert_ne!(status, 404, "{method} {concrete}: {answer}");
            assert_ne!(status, 405, "{method} {concrete}: {answer}");
        }
    }
}

/// The response head of an SSE request (read until the first blank line).
async fn sse_head(addr: SocketAddr, path: &str, key: &str) -> String {
    let mut conn = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nAccept: text/event-stream\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).await.expect("send");
    let mut got = Vec::new();
    let mut buf = [0_u8; 1024];
    tokio::time::timeout(HANG, async {
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = conn.read(&mut buf).await.expect("read");
            assert!(n > 0, "closed");
            got.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("a head");
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stream_the_members_own_job_changes_only() {
    let h = Own::start(1).await;
    let a = h.instances[0];
    let alice = h.member("alice").await;
    let bob = h.member("bob").await;
    let open = |key: String| async move {
        let mut conn = TcpStream::connect(a).await.expect("connect");
        let head = format!(
            "GET /conjure/v1/events HTTP/1.1\r\nHost: {a}\r\nAuthorization: Bearer {key}\r\n\r\n"
        );
        conn.write_all(head.as_bytes()).await.expect("send");
        conn
    };
    let mut alices = open(alice.clone()).await;
    let mut bobs = open(bob.clone()).await;
    // Both streams are open (their heads read) before the job exists.
    for conn in [&mut alices, &mut bobs] {
        let mut buf = [0_u8; 512];
        let n = tokio::time::timeout(HANG, conn.read(&mut buf)).await.expect("head").expect("read");
        assert!(String::from_utf8_lossy(&buf[..n]).contains("200"), "a 200 head");
    }
    let job = quote_and_spend(a, &alice, &image("a comet")).await;
    let id = job["id"].as_str().expect("id").to_owned();
    until_completed(a, &alice, &id).await;
    let mut seen = String::new();
    tokio::time::timeout(HANG, async {
        let mut buf = [0_u8; 4096];
        while !seen.contains("event: job.succeeded") {
            let n = alices.read(&mut buf).await.expect("read");
            assert!(n > 0, "closed");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    })
    .await
    .expect("alice's stream names her job's success");
    assert!(seen.contains(&id), "{seen}");
    // A client reconnecting with the id of the first event it read gets every later one again.
    let first: i64 = seen
        .lines()
        .find_map(|l| l.strip_prefix("id: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("events carry ids");
    let mut resumed = TcpStream::connect(a).await.expect("connect");
    let head = format!(
        "GET /conjure/v1/events HTTP/1.1\r\nHost: {a}\r\nAuthorization: Bearer {alice}\r\nLast-Event-ID: {first}\r\n\r\n"
    );
    resumed.write_all(head.as_bytes()).await.expect("send");
    let mut again = String::new();
    tokio::time::timeout(HANG, async {
        let mut buf = [0_u8; 4096];
        while !again.contains("event: job.succeeded") {
            let n = resumed.read(&mut buf).await.expect("read");
            assert!(n > 0, "closed");
            again.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    })
    .await
    .expect("the resumed stream replays the later events");
    assert!(
        !again.contains(&format!("id: {first}\n")),
        "the event already read is not sent again: {again}"
    );
    assert!(seen.contains("event: job.submitted"), "{seen}");
    // Bob's stream carries nothing of hers (keep-alive comments at most).
    let mut buf = [0_u8; 4096];
    if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(800), bobs.read(&mut buf)).await {
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(!text.contains(&id) && !text.contains("comet"), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_nobody_polls_has_its_files_stored_by_the_instance_that_finishes_it() {
    let h = Own::start(2).await;
    let alice = h.member("alice").await;
    let job = quote_and_spend(h.instances[0], &alice, &image("an unwatched comet")).await;
    let id = job["id"].as_str().expect("id").to_owned();
    // No status request: the background poller of one of the instances finishes the job and
    // downloads its file into the shared directory.
    let stored = h.storage.join("alice").join(&id).join("0.png");
    tokio::time::timeout(HANG, async {
        while !stored.is_file() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the finishing instance stored the file");
    let downloads = h.sandbox.stats().downloads;
    assert_eq!(downloads, 1);
    for addr in &h.instances {
        let (status, body) =
            bytes(*addr, &format!("/conjure/v1/jobs/{id}/outputs/0"), &alice).await;
        assert_eq!(status, 200);
        assert_eq!(body, std::fs::read(&stored).expect("stored"));
    }
    assert_eq!(h.sandbox.stats().downloads, downloads, "served from the shared directory");
    assert_eq!(h.posts(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_token_spent_by_eight_clients_at_once_across_two_instances_sends_once() {
    let h = Own::start(2).await;
    let alice = h.member("alice").await;
    let (status, quote) = call(
        h.instances[0],
        "POST",
        "/conjure/v1/quote",
        Some(&alice),
        Some(&json!({"request": image("a raced token")})),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{quote}");
    let spend = json!({"token": quote["token"]});
    let clients: Vec<_> = (0..8)
        .map(|i| {
            let (addr, key, body) = (h.instances[i % 2], alice.clone(), spend.clone());
            tokio::spawn(async move {
                call(addr, "POST", "/conjure/v1/jobs", Some(&key), Some(&body), &[]).await
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for c in clients {
        statuses.push(c.await.expect("joined").0);
    }
    statuses.sort_unstable();
    assert_eq!(statuses, vec![201, 409, 409, 409, 409, 409, 409, 409], "{statuses:?}");
    assert_eq!(h.posts(), 1);
}

/// A quote of the own API lapses like a 402's: spending it after its lifetime answers 410 and
/// sends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lapsed_quote_token_is_refused_and_sends_nothing() {
    let own = Own::start(1).await;
    let key = own.member("ann").await;
    let addr = own.instances[0];
    let (status, quote) = call(
        addr,
        "POST",
        "/conjure/v1/quote",
        Some(&key),
        Some(&json!({"request": image("an old quote")})),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{quote}");
    let token = quote["token"].as_str().expect("a token");
    let lifetime = i64::try_from(conjure_gateway::approvals::QUOTE_LIFETIME.as_millis()).unwrap();
    {
        use sqlx::Connection as _;
        let mut conn = sqlx::PgConnection::connect(&own.db.url).await.expect("connect");
        sqlx::query("UPDATE pending_quotes SET created_at = created_at - $2 WHERE token = $1")
            .bind(token)
            .bind(lifetime)
            .execute(&mut conn)
            .await
            .expect("age the quote");
    }
    let (status, answer) =
        call(addr, "POST", "/conjure/v1/jobs", Some(&key), Some(&json!({"token": token})), &[])
            .await;
    assert_eq!(status, 410, "{answer}");
    assert_eq!(answer["error"]["code"], "quote_expired", "{answer}");
    assert_eq!(own.posts(), 0, "a lapsed quote sends nothing");
}
