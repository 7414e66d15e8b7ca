//! Members end to end: gateway instances (each its own connection pool, as separate processes
//! have) on one real Postgres database, the real sandbox as Katana upstream, and clients
//! speaking raw HTTP with a member's key as `katana.sh` does. The sandbox counts the paid
//! POSTs it received: every test checks how many went upstream.

use std::net::SocketAddr;

use conjure_app::{App, Config};
use conjure_core::ProviderId;
use conjure_core::money::CreditPrice;
use conjure_gateway::member::MemberId;
use conjure_gateway::{Gateway, PgStore, admin, keys, server};
use conjure_providers::registry::ProviderSettings;
use conjure_test::pg::{TestDb, fresh_database};
use conjure_test::{Faults, Sandbox, SandboxConfig, TEST_KEY, TEST_SECRET};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// One request on its own connection, as a raw-HTTP Katana client sends it: the status and
/// the body as JSON.
pub async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&Value>,
    extra: &[(&str, &str)],
) -> (u16, Value) {
    let mut conn = TcpStream::connect(addr).await.expect("connect");
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(key) = key {
        head.push_str(&format!("Authorization: Bearer {key}\r\n"));
    }
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    conn.write_all(head.as_bytes()).await.expect("send");
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.expect("read");
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, serde_json::from_str(&body).unwrap_or(Value::String(body)))
}

pub struct Harness {
    pub db: TestDb,
    pub sandbox: Sandbox,
    pub store: PgStore,
    pub instances: Vec<SocketAddr>,
    _dir: tempfile::TempDir,
}

/// The gateway's application: Katana at the sandbox, with the sandbox's key and secret (the
/// gateway's own credentials; members never see them).
fn app(sandbox: &Sandbox, dir: &std::path::Path) -> App {
    let mut config = Config::new(dir.join("data"), dir.join("config"));
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
    App::new(config)
}

impl Harness {
    /// `instances` gateways, each with its own small pool, on one fresh database.
    pub async fn start(instances: usize, faults: Faults) -> Harness {
        let db = fresh_database().await;
        let dir = tempfile::tempdir().expect("temp dir");
        let sandbox = conjure_sandbox::start(SandboxConfig {
            addr: "127.0.0.1:0".parse().expect("addr"),
            keys: vec![conjure_sandbox::ApiKey::new(
                TEST_KEY,
                TEST_SECRET,
                conjure_core::Credits::whole(100_000),
            )],
            faults,
            media_dir: Some(dir.path().join("media")),
            ..SandboxConfig::default()
        })
        .await
        .expect("sandbox");
        let store = PgStore::connect_with(&db.url, 2).await.expect("connect");
        let mut addrs = Vec::new();
        for i in 0..instances {
            let pool = PgStore::connect_with(&db.url, 4).await.expect("connect");
            let gateway = Gateway::new(pool, app(&sandbox, dir.path()), &format!("gw{i}"));
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            addrs.push(listener.local_addr().expect("addr"));
            tokio::spawn(server::serve(listener, gateway, std::future::pending()));
        }
        Harness { db, sandbox, store, instances: addrs, _dir: dir }
    }

    pub fn addr(&self) -> SocketAddr {
        self.instances[0]
    }

    /// Adds a member with `per_request` pre-approved and a daily budget; returns its key.
    pub async fn member(
        &self,
        name: &str,
        per_request: Option<&str>,
        daily: Option<&str>,
    ) -> String {
        let limit = |s: &str| conjure_core::policy::Limit::parse(s).expect("limit");
        let budgets = daily
            .map(|d| conjure_core::policy::Budget {
                provider: None,
                window: conjure_core::policy::BudgetWindow::Day,
                limit: limit(d),
            })
            .into_iter()
            .collect();
        let new = admin::NewMember {
            name: name.to_owned(),
            budgets,
            providers: None,
            per_request: per_request.map(limit),
        };
        admin::add_member(&self.store, &new, now()).await.expect("member");
        let key = keys::create(&self.store, Some(&MemberId(name.to_owned())), now()).await;
        key.expect("key").expose().to_owned()
    }

    pub fn posts(&self) -> u64 {
        self.sandbox.stats().submit_posts_received
    }
}

pub fn now() -> i64 {
    conjure_app::timefmt::now_ms()
}

pub fn image(prompt: &str) -> Value {
    json!({"requests": [{"type": "image", "model": "gpt-image-2", "prompt": prompt, "aspect_ratio": "1:1"}]})
}

/// Every text value of the gateway's tables, for looking for secrets in them.
pub async fn all_rows(store_url: &str) -> String {
    use sqlx::{Connection as _, Row as _};
    let mut conn = sqlx::PgConnection::connect(store_url).await.expect("connect");
    let mut out = String::new();
    for table in
        ["members", "api_keys", "jobs", "job_events", "pending_quotes", "approvals", "budgets"]
    {
        let rows = sqlx::query(&format!("SELECT row_to_json(t)::TEXT FROM {table} t"))
            .fetch_all(&mut conn)
            .await
            .expect("select");
        for r in rows {
            out.push_str(&r.get::<String, _>(0));
            out.push('\n');
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_reads_only_its_own_jobs_and_bad_keys_get_401s_that_say_what_to_do() {
    let h = Harness::start(1, Faults::default()).await;
    let alice = h.member("alice", Some("100cr"), Some("1000cr")).await;
    let bob = h.member("bob", Some("100cr"), None).await;

    let (status, sent) =
        call(h.addr(), "POST", "/v1/generation-requests", Some(&alice), Some(&image("a fox")), &[])
            .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["status"], "processing", "{sent}");
    let request_id = sent["request_id"].as_str().expect("a request id").to_owned();
    let job = sent["conjure"]["job"].as_str().expect("a job").to_owned();
    assert_eq!(h.posts(), 1);

    // The owner polls it to completion (the sandbox finishes after a few polls).
    let mut last = Value::Null;
    for _ in 0..20 {
        let (status, polled) = call(
            h.addr(),
            "GET",
            &format!("/v1/generation-requests/{request_id}"),
            Some(&alice),
            None,
            &[],
        )
        .await;
        assert_eq!(status, 200, "{polled}");
        last = polled;
        if last["status"] == "completed" {
            break;
        }
    }
    assert_eq!(last["status"], "completed", "{last}");
    let asset = &last["responses"][0]["output_assets"][0];
    assert!(
        asset["original_data_url"].as_str().is_some_and(|u| u.starts_with("http://127.0.0.1")),
        "{last}"
    );

    // Another member's key finds nothing, by request id or by job id.
    for id in [&request_id, &job] {
        let (status, body) =
            call(h.addr(), "GET", &format!("/v1/generation-requests/{id}"), Some(&bob), None, &[])
                .await;
        assert_eq!(status, 404, "{body}");
        assert!(!body.to_string().contains("a fox"), "{body}");
    }

    // No key, a wrong key, a revoked key: 401, Katana's `detail`, and a hint.
    // The last character changed, whatever it was.
    let last = if alice.ends_with('0') { "1" } else { "0" };
    let wrong = format!("{}{last}", &alice[..alice.len() - 1]);
    assert_ne!(wrong, alice);
    for key in [None, Some("nonsense"), Some(wrong.as_str())] {
        let (status, body) = call(h.addr(), "GET", "/v1/me/balance", key, None, &[]).await;
        assert_eq!(status, 401, "{body}");
        assert!(body["detail"].as_str().is_some_and(|d| d.contains("API credentials")), "{body}");
        assert!(body["error"]["hint"].as_str().is_some_and(|h| h.contains("key")), "{body}");
    }
    keys::revoke(&h.store, keys::prefix_of(&bob).expect("prefix"), now()).await.expect("revoke");
    let (status, body) = call(
        h.addr(),
        "GET",
        &format!("/v1/generation-requests/{request_id}"),
        Some(&bob),
        None,
        &[],
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("revoked"), "{body}");

    // Katana's header pair works too (X-API-Key, with any X-API-Secret).
    let (status, body) = call(
        h.addr(),
        "GET",
        &format!("/v1/generation-requests/{job}"),
        None,
        None,
        &[("X-API-Key", &alice), ("X-API-Secret", "unused")],
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // A path would name a file on the gateway's own disk: refused, nothing read or sent.
    let local = json!({"requests": [{"type": "image", "model": "nano-banana", "prompt": "edit",
        "aspect_ratio": "1:1", "image_urls": ["/etc/hostname"]}]});
    let (status, body) =
        call(h.addr(), "POST", "/v1/generation-requests", Some(&alice), Some(&local), &[]).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("https://"), "{body}");

    // The keys and the provider's secret are nowhere in the database.
    let rows = all_rows(&h.db.url).await;
    for secret in [alice.as_str(), bob.as_str(), TEST_KEY, TEST_SECRET] {
        assert!(!rows.contains(secret), "a secret in the database");
    }
    assert!(rows.contains(keys::prefix_of(&alice).unwrap()), "the prefix is kept");
    assert_eq!(h.posts(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn above_the_limit_402_then_approval_then_the_same_request_goes_through_once() {
    let h = Harness::start(1, Faults::default()).await;
    let alice = h.member("alice", Some("0.1cr"), None).await;
    let bob = h.member("bob", Some("0.1cr"), None).await;
    let body = image("an expensive owl");

    let (status, quote) =
        call(h.addr(), "POST", "/v1/generation-requests", Some(&alice), Some(&body), &[]).await;
    assert_eq!(status, 402, "{quote}");
    assert_eq!(quote["error"]["code"], "approval_required");
    assert!(quote["quote"]["credits"].as_str().is_some(), "{quote}");
    let url = quote["approval_url"].as_str().expect("a link").to_owned();
    let path = url
        .split_once("127.0.0.1")
        .and_then(|(_, p)| p.split_once('/'))
        .map(|(_, p)| format!("/{p}"))
        .expect("a path");
    assert!(path.starts_with("/approve/cq_"), "{path}");
    assert_eq!(h.posts(), 0, "nothing is sent before approval");

    // Sending it again before approval: still 402. Another member cannot approve it.
    let (status, _) =
        call(h.addr(), "POST", "/v1/generation-requests", Some(&alice), Some(&body), &[]).await;
    assert_eq!(status, 402);
    let (status, denied) = call(h.addr(), "POST", &path, Some(&bob), None, &[]).await;
    assert_eq!(status, 404, "{denied}");

    let (status, approved) = call(h.addr(), "POST", &path, Some(&alice), None, &[]).await;
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["approved"], true);

    // The approval binds the body: another request still needs its own.
    let (status, _) = call(
        h.addr(),
        "POST",
        "/v1/generation-requests",
        Some(&alice),
        Some(&image("another owl")),
        &[],
    )
    .await;
    assert_eq!(status, 402);
    // And another member sending the same body gets nothing from it.
    let (status, _) =
        call(h.addr(), "POST", "/v1/generation-requests", Some(&bob), Some(&body), &[]).await;
    assert_eq!(status, 402);
    assert_eq!(h.posts(), 0);

    let (status, sent) =
        call(h.addr(), "POST", "/v1/generation-requests", Some(&alice), Some(&body), &[]).await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(h.posts(), 1);

    // Nobody is asked to approve what the budget would refuse anyway: 403, not 402.
    let poor = h.member("dave", None, Some("1cr")).await;
    let (status, refused) =
        call(h.addr(), "POST", "/v1/generation-requests", Some(&poor), Some(&body), &[]).await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["error"]["code"], "budget_exceeded");

    // The approval was used: the same request again is not sent a second time.
    let (status, again) =
        call(h.addr(), "POST", "/v1/generation-requests", Some(&alice), Some(&body), &[]).await;
    assert!(status == 402 || status == 409, "{status} {again}");
    assert_eq!(h.posts(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_and_sixteen_clients_never_overspend_one_members_budget() {
    let h = Harness::start(3, Faults::default()).await;
    // Learn the price of one request from a quote (a member with nothing pre-approved).
    let probe = h.member("probe", None, None).await;
    let (status, quote) =
        call(h.addr(), "POST", "/v1/generation-requests", Some(&probe), Some(&image("probe")), &[])
            .await;
    assert_eq!(status, 402, "{quote}");
    let price: conjure_core::Credits = quote["quote"]["credits"].as_str().unwrap().parse().unwrap();
    // A budget that fits exactly five requests.
    let budget = format!("{}cr", price.times(5));
    let key = h.member("team-bot", Some("1000cr"), Some(&budget)).await;

    let clients = (0..16).map(|i| {
        let addr = h.instances[i % h.instances.len()];
        let key = key.clone();
        tokio::spawn(async move {
            call(
                addr,
                "POST",
                "/v1/generation-requests",
                Some(&key),
                Some(&image(&format!("racing fox {i}"))),
                &[],
            )
            .await
        })
    });
    let answers: Vec<(u16, Value)> = futures_util::future::join_all(clients)
        .await
        .into_iter()
        .map(|r| r.expect("no panic"))
        .collect();
    let accepted = answers.iter().filter(|(s, _)| *s == 200).count();
    let over = answers
        .iter()
        .filter(|(s, b)| *s == 403 && b["error"]["code"] == "budget_exceeded")
        .count();
    assert_eq!((accepted, over), (5, 11), "{answers:?}");
    assert_eq!(h.posts(), 5, "the upstream received exactly the accepted POSTs");

    let (status, balance) =
        call(h.instances[2], "GET", "/v1/me/balance", Some(&key), None, &[]).await;
    assert_eq!(status, 200, "{balance}");
    assert_eq!(balance["credits"], "0.0", "{balance}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_whose_answer_is_lost_is_unknown_with_its_exposure_and_never_sent_again() {
    let faults = Faults { drop_after_accept: true, ..Faults::default() };
    let h = Harness::start(1, faults).await;
    let key = h.member("alice", Some("100cr"), None).await;
    let body = image("a lost fox");
    let (status, lost) =
        call(h.addr(), "POST", "/v1/generation-requests", Some(&key), Some(&body), &[]).await;
    assert_eq!(status, 502, "{lost}");
    assert_eq!(lost["status"], "unknown");
    assert_eq!(lost["error"]["code"], "outcome_unknown");
    let exposure = lost["conjure"]["exposure_credits"].as_str().expect("exposure").to_owned();
    assert_ne!(exposure, "0.0");
    assert_eq!(h.posts(), 1);

    let job = lost["request_id"].as_str().unwrap();
    let (status, shown) =
        call(h.addr(), "GET", &format!("/v1/generation-requests/{job}"), Some(&key), None, &[])
            .await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["status"], "unknown");
    assert_eq!(shown["conjure"]["exposure_credits"], exposure.as_str());

    // The client retries the same body: refused as the same request, not sent.
    let (status, again) =
        call(h.addr(), "POST", "/v1/generation-requests", Some(&key), Some(&body), &[]).await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(again["error"]["code"], "duplicate");
    assert_eq!(h.posts(), 1);

    // The member sees it in the balance too.
    let (status, balance) = call(h.addr(), "GET", "/v1/me/balance", Some(&key), None, &[]).await;
    assert_eq!(status, 200, "{balance}");
    assert_eq!(balance["conjure"]["exposure"]["jobs"], 1, "{balance}");
    assert_eq!(balance["conjure"]["exposure"]["credits"], exposure.as_str(), "{balance}");
    let usage =
        admin::usage(&h.store, Some(&MemberId("alice".into())), false, now()).await.unwrap();
    assert_eq!(usage[0].exposure_jobs, 1);
    assert_eq!(usage[0].exposure_credits.to_string(), exposure.trim_end_matches(".0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_needs_the_admin_key_and_models_and_balance_speak_katana() {
    let h = Harness::start(1, Faults::default()).await;
    let admin_key = keys::create(&h.store, None, now()).await.unwrap().expose().to_owned();
    let (status, made) = call(h.addr(), "POST", "/admin/members", Some(&admin_key), Some(&json!({
        "name": "carol", "per_request": "50cr", "providers": ["katana"],
        "budgets": [{"window": "daily", "limit": "200cr"}, {"window": "monthly", "limit": "$5"}],
    })), &[]).await;
    assert_eq!(status, 201, "{made}");
    let (status, key) =
        call(h.addr(), "POST", "/admin/members/carol/keys", Some(&admin_key), None, &[]).await;
    assert_eq!(status, 201, "{key}");
    let carol = key["key"].as_str().unwrap().to_owned();
    assert!(carol.starts_with("cjm_"));

    // A member's key is not the admin's, and the other way round.
    let (status, _) = call(h.addr(), "GET", "/admin/usage", Some(&carol), None, &[]).await;
    assert_eq!(status, 403);
    let (status, _) = call(h.addr(), "GET", "/v1/me/balance", Some(&admin_key), None, &[]).await;
    assert_eq!(status, 403);

    let (status, balance) = call(h.addr(), "GET", "/v1/me/balance", Some(&carol), None, &[]).await;
    assert_eq!(status, 200, "{balance}");
    assert_eq!(balance["credits"], "200.0", "{balance}");
    let (status, set) = call(
        h.addr(),
        "PUT",
        "/admin/budgets",
        Some(&admin_key),
        Some(&json!({"member": "carol", "window": "daily", "limit": "80cr"})),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{set}");
    let (_, balance) = call(h.addr(), "GET", "/v1/me/balance", Some(&carol), None, &[]).await;
    assert_eq!(balance["credits"], "80.0", "{balance}");

    let (status, models) = call(h.addr(), "GET", "/v1/models", Some(&carol), None, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(models["object"], "list");
    assert!(models["data"].as_array().unwrap().iter().any(|m| m["id"] == "gpt-image-2"));

    // A project with its own budget: a request naming it counts there too.
    let (status, _) = call(
        h.addr(),
        "POST",
        "/admin/projects",
        Some(&admin_key),
        Some(&json!({"name": "launch", "budgets": [{"window": "daily", "limit": "0.1cr"}],
            "members": ["carol"]})),
        &[],
    )
    .await;
    assert_eq!(status, 201);
    let (status, refused) = call(
        h.addr(),
        "POST",
        "/v1/generation-requests",
        Some(&carol),
        Some(&image("for launch")),
        &[("X-Conjure-Project", "launch")],
    )
    .await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["error"]["code"], "budget_exceeded");
    let (status, unknown) = call(
        h.addr(),
        "POST",
        "/v1/generation-requests",
        Some(&carol),
        Some(&image("for launch")),
        &[("X-Conjure-Project", "nope")],
    )
    .await;
    assert_eq!(status, 400, "{unknown}");
    assert_eq!(h.posts(), 0);

    let (status, revoked) = call(
        h.addr(),
        "POST",
        &format!("/admin/keys/{}/revoke", key["prefix"].as_str().unwrap()),
        Some(&admin_key),
        None,
        &[],
    )
    .await;
    assert_eq!(status, 200, "{revoked}");
    let (status, _) = call(h.addr(), "GET", "/v1/models", Some(&carol), None, &[]).await;
    assert_eq!(status, 401);
    let (status, usage) = call(h.addr(), "GET", "/admin/usage", Some(&admin_key), None, &[]).await;
    assert_eq!(status, 200);
    assert!(!usage.to_string().contains(&carol), "{usage}");
}
