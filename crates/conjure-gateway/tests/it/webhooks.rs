//! Webhooks end to end on a real Postgres and real sockets (127.0.0.1 only): endpoints through
//! the API as members, events through the outbox, deliveries by workers to a receiver that
//! checks every signature with its own HMAC code, retries, several instances, a killed one,
//! the SSRF refusals, member isolation and where secrets may appear.
//!
//! No test waits for a duration to pass as its assertion: retries use millisecond delays, and
//! loops that wait for an outcome are bounded by a hang guard only.

#![expect(clippy::unwrap_used, reason = "test helpers outside #[test] fns fail loudly too")]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use conjure_gateway::PgStore;
use conjure_gateway::member::MemberId;
use conjure_gateway::webhooks::{self, Config, EventType, Worker};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::net::TcpListener;

use conjure_test::pg::fresh_database;

/// A hang guard, not a speed assertion.
const HANG: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------------------------
// The database and the API.

/// A fresh database with the gateway's schema, and the connection string for more pools.
async fn database() -> (PgPool, String) {
    let db = fresh_database().await;
    let store = PgStore::connect(&db.url).await.expect("connect");
    store.close().await;
    let pool = new_pool(&db.url).await;
    // Until 0003 is in the store's migration list (the merge adds it after 0002), apply it here;
    // once it is, the store has applied it and this does nothing.
    let applied: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('webhook_endpoints')::TEXT")
            .fetch_one(&pool)
            .await
            .unwrap();
    if applied.is_none() {
        sqlx::raw_sql(include_str!("../../migrations/0003_webhooks.sql"))
            .execute(&pool)
            .await
            .expect("0003_webhooks.sql applies");
    }
    (pool, db.url)
}

async fn new_pool(url: &str) -> PgPool {
    PgPoolOptions::new().max_connections(8).connect(url).await.expect("pool")
}

/// A test configuration: private addresses allowed (the receiver is on 127.0.0.1), retries
/// after a few milliseconds.
fn config() -> Config {
    Config {
        allow_private: true,
        max_attempts: 5,
        retry_base: Duration::from_millis(5),
        retry_max: Duration::from_millis(20),
        request_timeout: Duration::from_secs(10),
        lease: Duration::from_secs(60),
        batch: 16,
        poll_interval: Duration::from_millis(10),
    }
}

/// Serves `router` on 127.0.0.1; its address.
async fn serve(router: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

/// The webhook API as `member` sees it (the key check's extension put in by a layer), or with
/// no member at all.
async fn api(pool: &PgPool, config: Config, member: Option<&str>) -> Api {
    let mut router = webhooks::router(pool.clone(), config);
    if let Some(m) = member {
        router = router.layer(axum::Extension(MemberId(m.to_owned())));
    }
    Api { base: format!("http://{}", serve(router).await), client: reqwest::Client::new() }
}

struct Api {
    base: String,
    client: reqwest::Client,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, String) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the API answers");
        (response.status().as_u16(), response.text().await.expect("a body"))
    }

    async fn create(&self, body: Value) -> (u16, Value) {
        let (status, text) = self.call(reqwest::Method::POST, "/v1/webhooks", Some(body)).await;
        (status, serde_json::from_str(&text).expect("JSON"))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let (status, text) = self.call(reqwest::Method::GET, path, None).await;
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

/// Records an event for `member` in its own committed transaction; its id.
async fn enqueue(pool: &PgPool, member: &str, event_type: EventType, data: Value) -> String {
    let mut tx = pool.begin().await.unwrap();
    let (id, _) = webhooks::enqueue(&mut tx, &MemberId(member.to_owned()), event_type, &data)
        .await
        .expect("enqueue");
    tx.commit().await.unwrap();
    id
}

async fn statuses(pool: &PgPool) -> BTreeMap<String, i64> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM webhook_deliveries GROUP BY status")
            .fetch_all(pool)
            .await
            .unwrap();
    rows.into_iter().collect()
}

/// Runs `worker` round after round until `done` says so.
async fn until<F: AsyncFn() -> bool>(worker: &Worker, done: F) {
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < HANG, "no progress");
        worker.run_once().await.expect("a round");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The receiver, with a signature check of its own.

/// HMAC-SHA256 (RFC 2104), written here rather than taken from the gateway, so that a mistake
/// in the gateway's signing cannot be repeated by its check.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0_u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new().chain_update(&ipad).chain_update(message).finalize();
    Sha256::new().chain_update(&opad).chain_update(inner).finalize().into()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// How far a `webhook-timestamp` may be from the receiver's clock (Standard Webhooks suggests
/// five minutes).
const TOLERANCE_SECS: i64 = 300;

/// Whether the headers carry a valid signature of `body` under `secret` (`whsec_...`).
fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) -> Result<(), String> {
    let header = |name: &str| {
        headers.get(name).and_then(|v| v.to_str().ok()).ok_or(format!("no {name} header"))
    };
    let id = header("webhook-id")?;
    let timestamp = header("webhook-timestamp")?;
    let signatures = header("webhook-signature")?;
    let ts: i64 = timestamp.parse().map_err(|_| "a timestamp that is not a number")?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    if (now - ts).abs() > TOLERANCE_SECS {
        return Err(format!("timestamp {ts} too far from {now}"));
    }
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").ok_or("no whsec_ prefix")?)
        .map_err(|e| e.to_string())?;
    let mut signed = Vec::new();
    signed.extend_from_slice(id.as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(timestamp.as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(body);
    let expected = hmac_sha256(&key, &signed);
    let ok = signatures.split(' ').any(|s| {
        s.strip_prefix("v1,")
            .and_then(|b64| STANDARD.decode(b64).ok())
            .is_some_and(|sig| constant_time_eq(&sig, &expected))
    });
    if ok { Ok(()) } else { Err("no signature matches".into()) }
}

#[test]
fn the_receivers_hmac_matches_the_rfc_4231_vectors() {
    // Test cases 1 and 6 (a key longer than a block).
    let hex = |b: &[u8]| b.iter().fold(String::new(), |hex, x| hex + &format!("{x:02x}"));
    assert_eq!(
        hex(&hmac_sha256(&[0x0b; 20], b"Hi There")),
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
    );
    assert_eq!(
        hex(&hmac_sha256(&[0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First")),
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    );
}

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    id: String,
    body: Vec<u8>,
    verified: Result<(), String>,
}

#[derive(Clone, Default)]
struct Receiver {
    /// The endpoint's secret, once known (the receiver starts before the endpoint exists).
    secret: Arc<Mutex<Option<String>>>,
    got: Arc<Mutex<Vec<Received>>>,
    /// Statuses to answer, in order; 200 once they run out.
    script: Arc<Mutex<Vec<u16>>>,
}

impl Receiver {
    async fn start(script: Vec<u16>) -> (Receiver, SocketAddr) {
        let receiver = Receiver { script: Arc::new(Mutex::new(script)), ..Receiver::default() };
        let router = Router::new()
            .route("/hook", post(receive))
            .route(
                "/moved",
                post(async || (StatusCode::TEMPORARY_REDIRECT, [("location", "/hook")])),
            )
            .route("/stall", post(stall))
            .with_state(receiver.clone());
        (receiver, serve(router).await)
    }

    fn set_secret(&self, secret: &str) {
        *self.secret.lock().unwrap() = Some(secret.to_owned());
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let secret = r.secret.lock().unwrap().clone().unwrap_or_default();
    let verified = verify(&secret, &headers, &body);
    let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    r.got.lock().unwrap().push(Received { id, body: body.to_vec(), verified: verified.clone() });
    if verified.is_err() {
        return StatusCode::BAD_REQUEST;
    }
    let mut script = r.script.lock().unwrap();
    let status = if script.is_empty() { 200 } else { script.remove(0) };
    StatusCode::from_u16(status).unwrap()
}

/// Like `/hook`, but the first request is recorded and then never answered (the sender is
/// stopped while it waits).
async fn stall(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let first = r.got.lock().unwrap().is_empty();
    let status = receive(State(r), headers, body).await;
    if first {
        std::future::pending::<()>().await;
    }
    status
}

/// Registers `http://{addr}/hook` for `member`; the endpoint's id and secret.
async fn register(api: &Api, addr: SocketAddr, receiver: &Receiver) -> String {
    let (status, created) = api.create(json!({"url": format!("http://{addr}/hook")})).await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().expect("a secret").to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    receiver.set_secret(&secret);
    created["id"].as_str().unwrap().to_owned()
}

// ---------------------------------------------------------------------------------------------
// Tests.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_signed_retried_with_one_id_and_logged() {
    let (pool, _) = database().await;
    let (receiver, addr) = Receiver::start(vec![500, 503]).await;
    let alice = api(&pool, config(), Some("alice")).await;
    let endpoint = register(&alice, addr, &receiver).await;

    // An event whose transaction rolls back does not exist, so it is never delivered.
    let mut tx = pool.begin().await.unwrap();
    webhooks::enqueue(&mut tx, &MemberId("alice".into()), EventType::JobFailed, &json!({}))
        .await
        .unwrap();
    tx.rollback().await.unwrap();

    let data = json!({"job_id": "j_1", "state": "completed", "provider": "katana"});
    let id = enqueue(&pool, "alice", EventType::JobSucceeded, data.clone()).await;
    let worker = Worker::new(pool.clone(), config(), None).unwrap();
    until(&worker, async || statuses(&pool).await.get("delivered") == Some(&1)).await;

    let got = receiver.got();
    assert_eq!(got.len(), 3, "two failures then a success: {got:?}");
    for r in &got {
        assert_eq!(r.verified, Ok(()), "{r:?}");
        assert_eq!(r.id, id, "every attempt carries the event's id");
        assert_eq!(r.body, got[0].body, "every attempt sends the same body");
    }
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body["type"], "job.succeeded");
    assert_eq!(body["data"], data);
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'), "{body}");

    let (status, log) = alice.get(&format!("/v1/webhooks/{endpoint}/deliveries")).await;
    assert_eq!(status, 200, "{log}");
    let deliveries = log["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 1, "{log}");
    let d = &deliveries[0];
    assert_eq!(d["event_id"], id.as_str());
    assert_eq!(d["event_type"], "job.succeeded");
    assert_eq!(d["status"], "delivered");
    assert_eq!(d["attempts"], 3);
    assert_eq!(d["next_attempt_at"], Value::Null);
    assert_eq!(d["last_status_code"], 200);
    let codes: Vec<_> =
        d["attempt_log"].as_array().unwrap().iter().map(|a| a["status_code"].clone()).collect();
    assert_eq!(codes, [json!(500), json!(503), json!(200)], "{log}");
    let first_error = d["attempt_log"][0]["error"].as_str().unwrap();
    assert!(first_error.contains("500"), "{first_error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_that_always_fails_stops_after_the_last_attempt() {
    let (pool, _) = database().await;
    let (receiver, addr) = Receiver::start(vec![500; 100]).await;
    let alice = api(&pool, config(), Some("alice")).await;
    let endpoint = register(&alice, addr, &receiver).await;
    enqueue(&pool, "alice", EventType::JobUnknown, json!({"job_id": "j_2"})).await;
    let worker = Worker::new(pool.clone(), config(), None).unwrap();
    until(&worker, async || statuses(&pool).await.get("failed") == Some(&1)).await;
    assert_eq!(receiver.got().len(), 5, "max_attempts POSTs, no more");
    // Nothing is left to do.
    assert!(worker.run_once().await.unwrap().is_empty());
    let (_, log) = alice.get(&format!("/v1/webhooks/{endpoint}/deliveries")).await;
    assert_eq!(log["deliveries"][0]["status"], "failed");
    assert_eq!(log["deliveries"][0]["attempts"], 5);
    assert_eq!(log["deliveries"][0]["attempt_log"].as_array().unwrap().len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_deliver_200_events_exactly_once() {
    let (pool, url) = database().await;
    let (receiver, addr) = Receiver::start(Vec::new()).await;
    let alice = api(&pool, config(), Some("alice")).await;
    register(&alice, addr, &receiver).await;
    let mut ids = Vec::new();
    for i in 0..200 {
        ids.push(
            enqueue(&pool, "alice", EventType::JobSubmitted, json!({"job_id": format!("j_{i}")}))
                .await,
        );
    }
    // Two instances: two pools, two workers, running at once until everything is delivered.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut running = Vec::new();
    for _ in 0..2 {
        let worker = Worker::new(new_pool(&url).await, config(), None).unwrap();
        let mut stopped = stopped.clone();
        running.push(tokio::spawn(worker.run(async move {
            let _ = stopped.wait_for(|s| *s).await;
        })));
    }
    let start = Instant::now();
    while statuses(&pool).await.get("delivered") != Some(&200) {
        assert!(start.elapsed() < HANG, "not delivered: {:?}", statuses(&pool).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(true).unwrap();
    for r in running {
        tokio::time::timeout(HANG, r).await.expect("stopped").unwrap();
    }
    let got = receiver.got();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &got {
        assert_eq!(r.verified, Ok(()));
        *counts.entry(r.id.as_str()).or_default() += 1;
    }
    assert_eq!(got.len(), 200, "each event POSTed once");
    assert!(counts.values().all(|n| *n == 1));
    assert_eq!(counts.keys().copied().collect::<Vec<_>>(), {
        let mut sorted: Vec<&str> = ids.iter().map(String::as_str).collect();
        sorted.sort_unstable();
        sorted
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instances_claims_are_delivered_by_another_after_the_lease() {
    let (pool, url) = database().await;
    let (receiver, addr) = Receiver::start(Vec::new()).await;
    let alice = api(&pool, config(), Some("alice")).await;
    let endpoint = register(&alice, addr, &receiver).await;

    // Instance A claims one event under a long lease, and instance C another under a short one;
    // both are killed (dropped) with their claims in hand, before sending anything.
    let held = enqueue(&pool, "alice", EventType::JobSubmitted, json!({"job_id": "held"})).await;
    let a = Worker::new(new_pool(&url).await, Config { batch: 1, ..config() }, None).unwrap();
    let claims = a.claim().await.unwrap();
    assert_eq!(claims.iter().map(|c| c.event_id.as_str()).collect::<Vec<_>>(), [held.as_str()]);
    drop((claims, a));
    let lost = enqueue(&pool, "alice", EventType::JobSubmitted, json!({"job_id": "lost"})).await;
    let short = Config {
        batch: 1,
        lease: Duration::from_millis(600),
        request_timeout: Duration::from_millis(500),
        ..config()
    };
    let c = Worker::new(new_pool(&url).await, short, None).unwrap();
    let claims = c.claim().await.unwrap();
    assert_eq!(claims.iter().map(|c| c.event_id.as_str()).collect::<Vec<_>>(), [lost.as_str()]);
    drop((claims, c));

    // Instance B delivers the short-leased event once its lease expires, and never touches the
    // one whose lease still holds.
    let b = Worker::new(new_pool(&url).await, config(), None).unwrap();
    let start = Instant::now();
    while receiver.got().is_empty() {
        assert!(start.elapsed() < HANG, "never delivered");
        let attempted = b.run_once().await.unwrap();
        assert!(attempted.iter().all(|a| a.attempt == 2), "{attempted:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got = receiver.got();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].id, lost);
    assert_eq!(got[0].verified, Ok(()));
    assert_eq!(
        statuses(&pool).await,
        BTreeMap::from([("delivered".to_owned(), 1), ("pending".to_owned(), 1)])
    );

    // The log shows the abandoned attempt (started, never finished) and the one that delivered.
    let (_, log) = alice.get(&format!("/v1/webhooks/{endpoint}/deliveries")).await;
    let d = log["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["event_id"] == lost.as_str())
        .unwrap();
    assert_eq!(d["status"], "delivered");
    let attempts = d["attempt_log"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{d}");
    assert_eq!(attempts[0]["finished_at"], Value::Null);
    assert_eq!(attempts[1]["status_code"], 200);
}

const NON_PUBLIC: [&str; 13] = [
    "127.0.0.1",
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.1",
    "192.168.0.10",
    "169.254.169.254",
    "[::1]",
    "[fc00::1]",
    "[fd00::1234]",
    "[fe80::1]",
    "[::ffff:127.0.0.1]",
    "0.0.0.0",
    "100.64.0.1",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_refuses_non_public_addresses() {
    let (pool, _) = database().await;
    let strict = Config { allow_private: false, ..config() };
    let alice = api(&pool, strict, Some("alice")).await;
    for host in NON_PUBLIC.iter().copied().chain(["localhost"]) {
        let (status, answer) =
            alice.create(json!({"url": format!("http://{host}:8080/hook")})).await;
        assert_eq!(status, 422, "{host}: {answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(error.contains("address"), "{host}: {error}");
        assert!(answer["hint"].as_str().unwrap().contains("--allow-private-webhooks"), "{answer}");
    }
    for url in ["ftp://example.com/", "file:///etc/passwd", "not a url", "http://"] {
        let (status, answer) = alice.create(json!({"url": url})).await;
        assert_eq!(status, 422, "{url}: {answer}");
        assert!(answer["hint"].as_str().unwrap().contains("http"), "{answer}");
    }
    // A public literal passes the check (and is only stored: nothing is sent to it here).
    let (status, answer) = alice.create(json!({"url": "https://93.184.215.14/hook"})).await;
    assert_eq!(status, 201, "{answer}");
    let (status, answer) =
        alice.create(json!({"url": "https://[2606:4700:4700::1111]/hook"})).await;
    assert_eq!(status, 201, "{answer}");
    let (_, list) = alice.get("/v1/webhooks").await;
    assert_eq!(list["endpoints"].as_array().unwrap().len(), 2, "only the public ones: {list}");
    let (status, answer) = alice
        .create(json!({"url": "https://93.184.215.14/", "event_types": ["job.exploded"]}))
        .await;
    assert_eq!(status, 422, "{answer}");
    assert!(answer["hint"].as_str().unwrap().contains("job.succeeded"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_refuses_non_public_addresses_registered_earlier() {
    // Registered while private addresses were allowed (or while the name resolved elsewhere);
    // delivered by a worker that refuses them: nothing reaches the receiver.
    let (pool, _) = database().await;
    let (receiver, addr) = Receiver::start(Vec::new()).await;
    let lax = api(&pool, config(), Some("alice")).await;
    for url in [format!("http://{addr}/hook"), format!("http://localhost:{}/hook", addr.port())] {
        let (status, answer) = lax.create(json!({"url": url})).await;
        assert_eq!(status, 201, "{answer}");
    }
    enqueue(&pool, "alice", EventType::JobSucceeded, json!({})).await;
    let strict = Worker::new(
        pool.clone(),
        Config { allow_private: false, max_attempts: 1, ..config() },
        None,
    )
    .unwrap();
    let attempted = strict.run_once().await.unwrap();
    assert_eq!(attempted.len(), 2, "{attempted:?}");
    for a in &attempted {
        let error = a.error.as_deref().unwrap();
        assert!(error.starts_with("Not sent:") && error.contains("loopback"), "{error}");
        assert_eq!(a.status_code, None);
    }
    assert!(receiver.got().is_empty());
    assert_eq!(statuses(&pool).await.get("failed"), Some(&2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_see_only_their_own_endpoints_and_deliveries() {
    let (pool, _) = database().await;
    let (receiver, addr) = Receiver::start(Vec::new()).await;
    let alice = api(&pool, config(), Some("alice")).await;
    let bob = api(&pool, config(), Some("bob")).await;
    let nobody = api(&pool, config(), None).await;
    let endpoint = register(&alice, addr, &receiver).await;
    enqueue(&pool, "alice", EventType::JobSucceeded, json!({})).await;
    // Bob's events go to Bob's endpoints only, and he has none.
    enqueue(&pool, "bob", EventType::JobSucceeded, json!({})).await;
    let worker = Worker::new(pool.clone(), config(), None).unwrap();
    until(&worker, async || statuses(&pool).await.get("delivered") == Some(&1)).await;
    assert_eq!(receiver.got().len(), 1);

    let (_, list) = bob.get("/v1/webhooks").await;
    assert_eq!(list, json!({"endpoints": []}));
    let one = format!("/v1/webhooks/{endpoint}");
    for path in [one.clone(), format!("{one}/deliveries")] {
        let (status, answer) = bob.get(&path).await;
        assert_eq!(status, 404, "{path}: {answer}");
        let (status, _) = nobody.get(&path).await;
        assert_eq!(status, 401, "{path}");
    }
    let (status, _) = bob.call(reqwest::Method::DELETE, &one, None).await;
    assert_eq!(status, 404);
    let (status, answer) = nobody.get("/v1/webhooks").await;
    assert_eq!(status, 401, "{answer}");
    // Still Alice's, with its log.
    let (status, _) = alice.get(&one).await;
    assert_eq!(status, 200);
    let (_, log) = alice.get(&format!("{one}/deliveries")).await;
    assert_eq!(log["deliveries"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_filters_and_deletion_decide_what_is_delivered() {
    let (pool, _) = database().await;
    let (receiver, addr) = Receiver::start(Vec::new()).await;
    let alice = api(&pool, config(), Some("alice")).await;
    let url = format!("http://{addr}/hook");
    let (status, created) =
        alice.create(json!({"url": url, "event_types": ["job.failed", "job.failed"], "description": "failures"})).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["event_types"], json!(["job.failed"]));
    receiver.set_secret(created["secret"].as_str().unwrap());
    let id = created["id"].as_str().unwrap().to_owned();

    enqueue(&pool, "alice", EventType::JobSucceeded, json!({})).await;
    let failed = enqueue(&pool, "alice", EventType::JobFailed, json!({})).await;
    let worker = Worker::new(pool.clone(), config(), None).unwrap();
    until(&worker, async || statuses(&pool).await.get("delivered") == Some(&1)).await;
    assert_eq!(receiver.got().iter().map(|r| r.id.clone()).collect::<Vec<_>>(), [failed]);

    // Deleted with a delivery pending: the delivery is cancelled, the log stays readable.
    enqueue(&pool, "alice", EventType::JobFailed, json!({})).await;
    let (status, _) =
        alice.call(reqwest::Method::DELETE, &format!("/v1/webhooks/{id}"), None).await;
    assert_eq!(status, 204);
    assert!(worker.run_once().await.unwrap().is_empty());
    assert_eq!(receiver.got().len(), 1);
    let (status, _) = alice.get(&format!("/v1/webhooks/{id}")).await;
    assert_eq!(status, 404);
    let (_, log) = alice.get(&format!("/v1/webhooks/{id}/deliveries")).await;
    let statuses: Vec<_> =
        log["deliveries"].as_array().unwrap().iter().map(|d| d["status"].clone()).collect();
    assert_eq!(statuses, [json!("cancelled"), json!("delivered")], "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secret_appears_only_in_the_creation_answer() {
    let (pool, _) = database().await;
    let (receiver, addr) = Receiver::start(vec![500]).await;
    let alice = api(&pool, config(), Some("alice")).await;
    let (_, created) = alice.create(json!({"url": format!("http://{addr}/hook")})).await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    receiver.set_secret(&secret);
    let id = created["id"].as_str().unwrap().to_owned();
    let encoded = secret.strip_prefix("whsec_").unwrap().to_owned();

    enqueue(&pool, "alice", EventType::JobSucceeded, json!({})).await;
    let worker = Worker::new(pool.clone(), config(), None).unwrap();
    let mut seen = vec![format!("{worker:?}")];
    // A claim's Debug (what a log line would print) holds no secret either.
    let claims = worker.claim().await.unwrap();
    seen.push(format!("{claims:?}"));
    for claim in claims {
        seen.push(format!("{:?}", worker.deliver(claim).await.unwrap()));
    }
    until(&worker, async || statuses(&pool).await.get("delivered") == Some(&1)).await;
    for path in [
        "/v1/webhooks".to_owned(),
        format!("/v1/webhooks/{id}"),
        format!("/v1/webhooks/{id}/deliveries"),
        "/v1/webhooks/nope".to_owned(),
    ] {
        seen.push(alice.call(reqwest::Method::GET, &path, None).await.1);
    }
    let (_, refused) = alice.create(json!({"url": "gopher://x"})).await;
    seen.push(refused.to_string());
    for text in &seen {
        assert!(!text.contains(&encoded), "the secret leaked: {text}");
    }
    assert!(seen[0].contains("Worker"), "{}", seen[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_not_followed() {
    let (pool, _) = database().await;
    let (receiver, addr) = Receiver::start(Vec::new()).await;
    let alice = api(&pool, config(), Some("alice")).await;
    let (status, created) = alice.create(json!({"url": format!("http://{addr}/moved")})).await;
    assert_eq!(status, 201, "{created}");
    receiver.set_secret(created["secret"].as_str().unwrap());
    enqueue(&pool, "alice", EventType::JobSucceeded, json!({})).await;
    let worker = Worker::new(pool.clone(), Config { max_attempts: 1, ..config() }, None).unwrap();
    let attempted = worker.run_once().await.unwrap();
    assert_eq!(attempted.len(), 1);
    assert_eq!(attempted[0].status_code, Some(307));
    assert_eq!(attempted[0].outcome, webhooks::Outcome::Failed);
    assert!(
        attempted[0].error.as_deref().unwrap().contains("redirects are not followed"),
        "{attempted:?}"
    );
    assert!(receiver.got().is_empty(), "the redirect's target was not requested");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_reports_into_the_metrics() {
    let (pool, _) = database().await;
    let (receiver, addr) = Receiver::start(vec![500]).await;
    let alice = api(&pool, config(), Some("alice")).await;
    register(&alice, addr, &receiver).await;
    enqueue(&pool, "alice", EventType::JobSucceeded, json!({})).await;
    let metrics = Arc::new(conjure_gateway::metrics::Metrics::new());
    let worker = Worker::new(pool.clone(), config(), Some(metrics.clone())).unwrap();
    until(&worker, async || statuses(&pool).await.get("delivered") == Some(&1)).await;
    let gauges = conjure_gateway::metrics::Gauges::read(&pool).await.unwrap();
    let text = metrics.render(Some(&gauges));
    for line in [
        "conjure_webhook_attempts_total{outcome=\"delivered\"} 1",
        "conjure_webhook_attempts_total{outcome=\"http_error\"} 1",
        "conjure_webhook_deliveries{status=\"delivered\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_shorter_than_a_request_is_refused() {
    let (pool, _) = database().await;
    let short = Config {
        lease: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
        ..config()
    };
    let error = Worker::new(pool, short, None).unwrap_err();
    assert!(error.to_string().contains("lease"), "{error}");
    assert!(error.hint().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_has_a_bounded_number_of_endpoints() {
    let (pool, _) = database().await;
    let alice = api(&pool, config(), Some("alice")).await;
    let bob = api(&pool, config(), Some("bob")).await;
    let max = webhooks::MAX_ENDPOINTS;
    let mut ids = Vec::new();
    for i in 0..max {
        let (status, created) =
            alice.create(json!({"url": format!("http://127.0.0.1:9/{i}")})).await;
        assert_eq!(status, 201, "{created}");
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    let (status, answer) = alice.create(json!({"url": "http://127.0.0.1:9/more"})).await;
    assert_eq!(status, 422, "{answer}");
    assert!(answer["hint"].as_str().unwrap().contains("Delete"), "{answer}");
    // Another member's count is their own; a deletion makes room.
    assert_eq!(bob.create(json!({"url": "http://127.0.0.1:9/bob"})).await.0, 201);
    let (status, _) =
        alice.call(reqwest::Method::DELETE, &format!("/v1/webhooks/{}", ids[0]), None).await;
    assert_eq!(status, 204);
    assert_eq!(alice.create(json!({"url": "http://127.0.0.1:9/more"})).await.0, 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_killed_mid_post_is_covered_by_another_with_the_same_webhook_id() {
    let (pool, url) = database().await;
    let (receiver, addr) = Receiver::start(Vec::new()).await;
    let alice = api(&pool, config(), Some("alice")).await;
    let (status, created) = alice.create(json!({"url": format!("http://{addr}/stall")})).await;
    assert_eq!(status, 201, "{created}");
    receiver.set_secret(created["secret"].as_str().unwrap());
    let endpoint = created["id"].as_str().unwrap().to_owned();
    let id = enqueue(&pool, "alice", EventType::JobSucceeded, json!({})).await;

    // Instance A sends, and is killed while it waits for the answer: nothing is recorded. (Its
    // timeout only has to outlast the few milliseconds between the receipt and the kill; the
    // lease, how long B then waits.)
    let short = Config {
        lease: Duration::from_millis(3500),
        request_timeout: Duration::from_secs(3),
        ..config()
    };
    let a = Worker::new(new_pool(&url).await, short, None).unwrap();
    let running = tokio::spawn(async move { a.run_once().await });
    let start = Instant::now();
    while receiver.got().is_empty() {
        assert!(start.elapsed() < HANG, "A never sent");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    running.abort();
    assert!(running.await.unwrap_err().is_cancelled());

    // Instance B sends it again once A's lease expires, with the same webhook-id.
    let b = Worker::new(new_pool(&url).await, config(), None).unwrap();
    until(&b, async || statuses(&pool).await.get("delivered") == Some(&1)).await;
    let got = receiver.got();
    assert_eq!(got.len(), 2, "at least once: {got:?}");
    assert!(got.iter().all(|r| r.id == id && r.verified == Ok(())), "{got:?}");
    let (_, log) = alice.get(&format!("/v1/webhooks/{endpoint}/deliveries")).await;
    let attempts = log["deliveries"][0]["attempt_log"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{log}");
    assert_eq!(attempts[0]["finished_at"], Value::Null, "{log}");
    assert_eq!(attempts[1]["status_code"], 200, "{log}");
}
