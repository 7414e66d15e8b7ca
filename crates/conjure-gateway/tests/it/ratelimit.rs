//! Rate limits per member across instances: two gateways on one database share each member's
//! count, so a member gets the rate from the whole gateway, exactly, even when its requests
//! arrive at once; a member's own rate (set through the admin API) wins over the default; a
//! refusal is 429 with `Retry-After` and says what to do.

use std::net::SocketAddr;

use conjure_gateway::member::MemberId;
use conjure_gateway::ratelimit::Rate;
use conjure_gateway::{Gateway, PgStore, admin, keys, server};
use conjure_test::pg::{TestDb, fresh_database};
use serde_json::json;
use tokio::net::TcpListener;

use crate::members::{call, now};

struct Harness {
    _db: TestDb,
    store: PgStore,
    instances: Vec<SocketAddr>,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn start(instances: usize, default: Option<Rate>) -> Harness {
        let db = fresh_database().await;
        let dir = tempfile::tempdir().expect("temp dir");
        let store = PgStore::connect_with(&db.url, 2).await.expect("connect");
        let mut addrs = Vec::new();
        for i in 0..instances {
            let pool = PgStore::connect_with(&db.url, 4).await.expect("connect");
            let app = conjure_app::App::new(conjure_app::Config::new(
                dir.path().join("data"),
                dir.path().join("config"),
            ));
            let gateway = Gateway::new(pool, app, &format!("gw{i}")).with_rate_limit(default);
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            addrs.push(listener.local_addr().expect("addr"));
            tokio::spawn(server::serve(listener, gateway, std::future::pending()));
        }
        Harness { _db: db, store, instances: addrs, _dir: dir }
    }

    async fn member(&self, name: &str) -> String {
        let new = admin::NewMember { name: name.to_owned(), ..admin::NewMember::default() };
        admin::add_member(&self.store, &new, now()).await.expect("member");
        let key = keys::create(&self.store, Some(&MemberId(name.to_owned())), now()).await;
        key.expect("key").expose().to_owned()
    }

    /// `n` GETs of `/v1/models` with `key` at once, spread over the instances: how many passed,
    /// and one refusal's body (if any was refused).
    async fn burst(&self, key: &str, n: usize) -> (usize, Option<serde_json::Value>) {
        let sends = (0..n).map(|i| {
            let addr = self.instances[i % self.instances.len()];
            let key = key.to_owned();
            tokio::spawn(
                async move { call(addr, "GET", "/v1/models", Some(&key), None, &[]).await },
            )
        });
        let mut passed = 0;
        let mut refused = None;
        for r in futures_util::future::join_all(sends).await {
            let (status, body) = r.expect("no panic");
            match status {
                200 => passed += 1,
                429 => refused = Some(body),
                other => panic!("{other}: {body}"),
            }
        }
        (passed, refused)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_members_rate_holds_exactly_across_instances_for_requests_at_once() {
    let h = Harness::start(2, Rate::parse("5/min")).await;
    let ann = h.member("ann").await;
    let ben = h.member("ben").await;
    let (passed, refused) = h.burst(&ann, 16).await;
    assert_eq!(passed, 5, "a burst of the rate, no more, from both instances together");
    let refused = refused.expect("a refusal");
    assert_eq!(refused["error"]["code"], "rate_limit_exceeded", "{refused}");
    assert!(refused["detail"].as_str().unwrap().contains("5/min"), "{refused}");
    assert!(refused["error"]["hint"].as_str().unwrap().contains("rate-limit"), "{refused}");
    assert!(!refused.to_string().contains(&ann), "{refused}");
    // Every member has a count of its own.
    assert_eq!(h.burst(&ben, 5).await.0, 5);
    // The admin key is not limited.
    let admin_key = keys::create(&h.store, None, now()).await.expect("admin key");
    for _ in 0..8 {
        let (status, body) =
            call(h.instances[1], "GET", "/admin/usage", Some(admin_key.expose()), None, &[]).await;
        assert_eq!(status, 200, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_carries_retry_after_and_a_members_own_rate_wins_over_the_default() {
    let h = Harness::start(2, Rate::parse("3/min")).await;
    let ann = h.member("ann").await;
    assert_eq!(h.burst(&ann, 3).await.0, 3);
    // The raw answer: 429 and when to come back (one interval of 20 s, give or take the ms
    // that passed).
    let (status, head) = raw_get(h.instances[0], &ann).await;
    assert_eq!(status, 429, "{head}");
    let retry: u64 = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("retry-after: ").map(str::to_owned))
        .and_then(|v| v.trim().parse().ok())
        .expect("a Retry-After header");
    assert!((19..=20).contains(&retry), "{retry}");

    // The admin raises ann's rate (no limit), through the admin API of either instance.
    let admin_key = keys::create(&h.store, None, now()).await.expect("admin key");
    let admin_key = admin_key.expose();
    let addr = h.instances[1];
    let put = |rate: serde_json::Value| {
        let body = json!({"rate": rate});
        async move {
            call(addr, "PUT", "/admin/members/ann/rate-limit", Some(admin_key), Some(&body), &[])
                .await
        }
    };
    let (status, body) = put(json!("none")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(h.burst(&ann, 12).await, (12, None));
    // A rate of its own below the default, then back to the default.
    let (status, body) = put(json!("1/min")).await;
    assert_eq!((status, &body["rate"]), (200, &json!("1/min")), "{body}");
    let (passed, _) = h.burst(&ann, 4).await;
    assert!(passed <= 1, "{passed}");
    assert_eq!(put(json!(null)).await.0, 200);
    let (status, body) = put(json!("fast")).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["hint"].as_str().unwrap().contains("30/min"), "{body}");
    let (status, _) = call(
        h.instances[0],
        "PUT",
        "/admin/members/nobody/rate-limit",
        Some(admin_key),
        Some(&json!({"rate": "5/min"})),
        &[],
    )
    .await;
    assert_eq!(status, 404);
    // A member's key cannot change rates.
    let bob = h.member("bob").await;
    let (status, _) = call(
        h.instances[0],
        "PUT",
        "/admin/members/bob/rate-limit",
        Some(&bob),
        Some(&json!({"rate": "none"})),
        &[],
    )
    .await;
    assert_eq!(status, 403);
}

async fn raw_get(addr: SocketAddr, key: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "GET /v1/models HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {key}\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).await.expect("send");
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.expect("read");
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    (status, answer)
}
