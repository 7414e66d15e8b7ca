//! Turns across instances: three gateways on one database, one provider account (the
//! sandbox's key), and a counting proxy between them and the sandbox that records how many paid
//! POSTs were in flight at once. The provider's limit (one, by its capabilities) must hold
//! however the members' requests are spread over the instances; a turn held elsewhere answers
//! 503 with `Retry-After` and sends nothing; a turn whose holder is gone is free at once.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use conjure_app::{App, Config};
use conjure_core::ProviderId;
use conjure_core::money::CreditPrice;
use conjure_gateway::member::MemberId;
use conjure_gateway::turns::{self, Turns};
use conjure_gateway::{Gateway, PgStore, admin, keys, server};
use conjure_providers::registry::ProviderSettings;
use conjure_test::pg::{TestDb, fresh_database};
use conjure_test::{Faults, Sandbox, SandboxConfig, TEST_KEY, TEST_SECRET};
use tokio::net::TcpListener;

use crate::members::{call, image, now};

/// Paid POSTs in flight through the proxy: now, the most at once, and in all.
#[derive(Default)]
struct Gauge {
    now: AtomicU64,
    max: AtomicU64,
    posts: AtomicU64,
}

type ProxyState = (String, reqwest::Client, Arc<Gauge>);

async fn forward(State((upstream, client, gauge)): State<ProxyState>, req: Request) -> Response {
    let paid = req.method() == Method::POST && req.uri().path() == "/v1/generation-requests";
    if paid {
        gauge.posts.fetch_add(1, Ordering::SeqCst);
        let n = gauge.now.fetch_add(1, Ordering::SeqCst) + 1;
        gauge.max.fetch_max(n, Ordering::SeqCst);
    }
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.expect("body");
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut out = client.request(parts.method.clone(), format!("{upstream}{path}")).body(body);
    for (name, value) in &parts.headers {
        if name != axum::http::header::HOST {
            out = out.header(name, value);
        }
    }
    let answer = out.send().await;
    let response = match answer {
        Ok(a) => {
            let status = a.status();
            let headers = a.headers().clone();
            let bytes = a.bytes().await.unwrap_or_default();
            let mut r = Response::new(Body::from(bytes));
            *r.status_mut() = status;
            *r.headers_mut() = headers;
            r
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    if paid {
        gauge.now.fetch_sub(1, Ordering::SeqCst);
    }
    response
}

async fn proxy(upstream: String) -> (String, Arc<Gauge>) {
    let gauge = Arc::new(Gauge::default());
    let state: ProxyState = (upstream, reqwest::Client::new(), Arc::clone(&gauge));
    let app = axum::Router::new().fallback(forward).with_state(state);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), gauge)
}

struct Harness {
    db: TestDb,
    sandbox: Sandbox,
    store: PgStore,
    gauge: Arc<Gauge>,
    instances: Vec<SocketAddr>,
    dir: tempfile::TempDir,
    base_url: String,
}

fn app(base_url: &str, dir: &std::path::Path, max_in_flight: Option<u32>) -> App {
    let mut config = Config::new(dir.join("data"), dir.join("config"));
    config.providers.insert(
        ProviderId::Katana,
        ProviderSettings {
            base_url: base_url.to_owned(),
            usd_per_credit: Some(CreditPrice::KATANA_REFERENCE),
        },
    );
    if let Some(n) = max_in_flight {
        config.max_in_flight.insert(ProviderId::Katana, n);
    }
    config.env.insert("KATANA_API_KEY".into(), TEST_KEY.into());
    config.env.insert("KATANA_API_SECRET".into(), TEST_SECRET.into());
    config.catalogue_check = false;
    App::new(config)
}

impl Harness {
    async fn start(instances: usize, latency_ms: u64, max_in_flight: Option<u32>) -> Harness {
        let db = fresh_database().await;
        let dir = tempfile::tempdir().expect("temp dir");
        let sandbox = conjure_sandbox::start(SandboxConfig {
            keys: vec![conjure_sandbox::ApiKey::new(
                TEST_KEY,
                TEST_SECRET,
                conjure_core::Credits::whole(100_000),
            )],
            faults: Faults { latency_ms, ..Faults::default() },
            media_dir: Some(dir.path().join("media")),
            ..SandboxConfig::default()
        })
        .await
        .expect("sandbox");
        let (base_url, gauge) = proxy(sandbox.base_url()).await;
        let store = PgStore::connect_with(&db.url, 2).await.expect("connect");
        let mut addrs = Vec::new();
        for i in 0..instances {
            let pool = PgStore::connect_with(&db.url, 4).await.expect("connect");
            let gateway =
                Gateway::new(pool, app(&base_url, dir.path(), max_in_flight), &format!("gw{i}"))
                    .with_turns(turns::Config {
                        max_wait: Duration::from_secs(60),
                        ..turns::Config::default()
                    });
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            addrs.push(listener.local_addr().expect("addr"));
            tokio::spawn(server::serve(listener, gateway, std::future::pending()));
        }
        Harness { db, sandbox, store, gauge, instances: addrs, dir, base_url }
    }

    async fn member(&self, name: &str) -> String {
        let new = admin::NewMember {
            name: name.to_owned(),
            per_request: conjure_core::policy::Limit::parse("1000cr"),
            ..admin::NewMember::default()
        };
        admin::add_member(&self.store, &new, now()).await.expect("member");
        let key = keys::create(&self.store, Some(&MemberId(name.to_owned())), now()).await;
        key.expect("key").expose().to_owned()
    }

    /// `n` different requests at once, spread over the instances; their statuses.
    async fn burst(&self, key: &str, n: usize, tag: &str) -> Vec<u16> {
        let sends = (0..n).map(|i| {
            let addr = self.instances[i % self.instances.len()];
            let key = key.to_owned();
            let body = image(&format!("{tag} {i}"));
            tokio::spawn(async move {
                call(addr, "POST", "/v1/generation-requests", Some(&key), Some(&body), &[]).await
            })
        });
        futures_util::future::join_all(sends)
            .await
            .into_iter()
            .map(|r| {
                let (status, body) = r.expect("no panic");
                assert!(status == 200, "{status} {body}");
                status
            })
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_never_have_two_paid_posts_in_flight_on_one_account() {
    // Each POST takes 150 ms upstream: without turns, twelve at once over three instances overlap.
    let h = Harness::start(3, 150, None).await;
    let key = h.member("ann").await;
    let statuses = h.burst(&key, 12, "one at a time").await;
    assert_eq!(statuses.len(), 12);
    assert_eq!(h.gauge.posts.load(Ordering::SeqCst), 12);
    assert_eq!(h.sandbox.stats().submit_posts_received, 12);
    assert_eq!(h.gauge.max.load(Ordering::SeqCst), 1, "two paid POSTs overlapped");
    assert_eq!(h.gauge.now.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_limit_of_two_is_held_across_instances() {
    let h = Harness::start(3, 150, Some(2)).await;
    let key = h.member("ann").await;
    h.burst(&key, 12, "two at a time").await;
    assert_eq!(h.sandbox.stats().submit_posts_received, 12);
    let max = h.gauge.max.load(Ordering::SeqCst);
    assert!((1..=2).contains(&max), "{max} paid POSTs in flight at once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_held_elsewhere_is_waited_for_then_answered_503_with_retry_after() {
    let h = Harness::start(0, 0, None).await;
    let key = h.member("ann").await;
    // Another instance (its own pool) holds the account's only turn.
    let other = PgStore::connect_with(&h.db.url, 2).await.expect("connect");
    let other_app = Arc::new(app(&h.base_url, h.dir.path(), None));
    let holder = Turns::new(&other, other_app, turns::Config::default());
    let held = holder.take(ProviderId::Katana).await.expect("a turn").expect("Katana takes turns");

    let pool = PgStore::connect_with(&h.db.url, 4).await.expect("connect");
    let gateway = Gateway::new(pool, app(&h.base_url, h.dir.path(), None), "impatient").with_turns(
        turns::Config { max_wait: Duration::from_millis(300), ..turns::Config::default() },
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(server::serve(listener, gateway, std::future::pending()));

    let (status, body) = raw_post(addr, &key, &image("waits its turn")).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("Retry-After: ") || body.contains("retry-after: "), "{body}");
    assert!(body.contains("provider_busy"), "{body}");
    assert!(body.contains("nothing was reserved or sent"), "{body}");
    assert!(!body.contains(TEST_KEY), "{body}");
    assert_eq!(h.sandbox.stats().submit_posts_received, 0);
    // Nothing was reserved either: the same request goes through once the turn is free.
    held.release().await;
    let (status, body) = call(
        addr,
        "POST",
        "/v1/generation-requests",
        Some(&key),
        Some(&image("waits its turn")),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(h.sandbox.stats().submit_posts_received, 1);

    // A holder that goes away without releasing (a cancelled request, a killed instance) takes
    // its lock with its connection: the next request does not wait for it.
    let held = holder.take(ProviderId::Katana).await.expect("a turn").expect("a turn");
    drop(held);
    let (status, body) = call(
        addr,
        "POST",
        "/v1/generation-requests",
        Some(&key),
        Some(&image("after a dropped turn")),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(h.sandbox.stats().submit_posts_received, 2);
}

/// A POST whose whole answer (status line and headers included) is returned as text.
async fn raw_post(addr: SocketAddr, key: &str, body: &serde_json::Value) -> (u16, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let body = body.to_string();
    let head = format!(
        "POST /v1/generation-requests HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.expect("send");
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.expect("read");
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    (status, answer)
}

/// A client that hangs up while its paid POST is in flight upstream: the gateway still reads
/// the answer and records it (the job is not left `submitting`, which only an instance's death
/// would settle, and then as `unknown`), and frees the turn for the next request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_hanging_up_mid_post_leaves_the_job_recorded_and_the_turn_free() {
    use tokio::io::AsyncWriteExt as _;
    let h = Harness::start(1, 0, None).await;
    h.sandbox.set_faults(Faults { submit_delay_ms: 1000, ..Faults::default() });
    let key = h.member("ann").await;
    let body = image("a fox nobody waits for").to_string();
    let addr = h.instances[0];
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /v1/generation-requests HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.expect("send");
    let hang = std::time::Instant::now() + Duration::from_secs(60);
    while h.gauge.posts.load(Ordering::SeqCst) < 1 {
        assert!(std::time::Instant::now() < hang, "the POST never went upstream");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(conn);
    let db = sqlx::PgPool::connect(&h.db.url).await.expect("connect");
    let state = loop {
        let state: String =
            sqlx::query_scalar("SELECT state FROM jobs").fetch_one(&db).await.expect("one job");
        if state != "submitting" && state != "quoted" {
            break state;
        }
        assert!(std::time::Instant::now() < hang, "the job stayed {state}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(state == "submitted" || state == "processing" || state == "completed", "{state}");
    h.sandbox.set_faults(Faults::default());
    let (status, body) = call(
        addr,
        "POST",
        "/v1/generation-requests",
        Some(&key),
        Some(&image("the next fox")),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(h.sandbox.stats().submit_posts_received, 2);
}
