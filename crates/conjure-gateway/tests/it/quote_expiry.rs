//! Quotes that lapse: a 402's quote can be approved and used for
//! [`approvals::QUOTE_LIFETIME`] from when it was quoted. Approving an older one is 410 (quote
//! again); an approved one that lapsed no longer lets its request through; a pending quote holds
//! no money at any age; and the lease sweep settles each lapsed quote once, however many
//! instances sweep at the same moment. The sandbox counts the POSTs: none for a lapsed quote.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use conjure_app::{App, Config};
use conjure_gateway::approvals::{self, QUOTE_LIFETIME};
use conjure_gateway::leases::{self, Instance};
use conjure_gateway::{PgStore, admin, keys};
use conjure_test::Faults;
use conjure_test::pg::fresh_database;
use serde_json::Value;

use crate::members::{Harness, call, image, now};

fn lifetime_ms() -> i64 {
    i64::try_from(QUOTE_LIFETIME.as_millis()).expect("a day in ms")
}

/// The token of a 402 answer's approval link.
fn token_of(answer: &Value) -> String {
    let url = answer["approval_url"].as_str().expect("an approval_url");
    url.rsplit("/approve/").next().expect("a token").to_owned()
}

/// Moves the quote `token` `by_ms` into the past.
async fn age(store_url: &str, token: &str, by_ms: i64) {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(store_url).await.expect("connect");
    let changed =
        sqlx::query("UPDATE pending_quotes SET created_at = created_at - $2 WHERE token = $1")
            .bind(token)
            .bind(by_ms)
            .execute(&mut conn)
            .await
            .expect("age");
    assert_eq!(changed.rows_affected(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lapsed_quote_is_410_quote_again_holds_no_money_and_never_sends() {
    let h = Harness::start(1, Faults::default()).await;
    // No pre-approval: every request is quoted with a 402.
    let alice = h.member("alice", None, Some("1000cr")).await;
    let admin_key = keys::create(&h.store, None, now()).await.expect("admin").expose().to_owned();
    let fox = image("a fox");
    let send = || call(h.addr(), "POST", "/v1/generation-requests", Some(&alice), Some(&fox), &[]);

    let (status, quoted) = send().await;
    assert_eq!(status, 402, "{quoted}");
    let first = token_of(&quoted);

    // A pending quote holds nothing: the balance is the whole budget, the exposure none.
    let (_, balance) = call(h.addr(), "GET", "/v1/me/balance", Some(&alice), None, &[]).await;
    assert_eq!(balance["credits"], "1000.0", "{balance}");
    let (_, usage) = call(h.addr(), "GET", "/admin/usage", Some(&admin_key), None, &[]).await;
    assert_eq!(usage["members"][0]["exposure_jobs"], 0, "{usage}");

    // Past its lifetime, approving it is 410 for the member and the admin alike.
    age(&h.db.url, &first, lifetime_ms() + 1_000).await;
    for key in [&alice, &admin_key] {
        let (status, gone) =
            call(h.addr(), "POST", &format!("/approve/{first}"), Some(key), None, &[]).await;
        assert_eq!(status, 410, "{gone}");
        assert_eq!(gone["error"]["code"], "quote_expired", "{gone}");
        assert!(gone["error"]["hint"].as_str().unwrap().contains("quote again"), "{gone}");
    }

    // The same request again is quoted afresh; approved, then left to lapse, it still sends
    // nothing and is quoted a third time.
    let (status, again) = send().await;
    assert_eq!(status, 402, "{again}");
    let second = token_of(&again);
    assert_ne!(second, first);
    let (status, ok) =
        call(h.addr(), "POST", &format!("/approve/{second}"), Some(&alice), None, &[]).await;
    assert_eq!(status, 200, "{ok}");
    age(&h.db.url, &second, lifetime_ms() + 1_000).await;
    let (status, third) = send().await;
    assert_eq!(status, 402, "an approval that lapsed lets nothing through: {third}");
    let third = token_of(&third);
    assert_eq!(h.posts(), 0);

    // Within its lifetime the approval works, once.
    let (status, ok) =
        call(h.addr(), "POST", &format!("/approve/{third}"), Some(&alice), None, &[]).await;
    assert_eq!(status, 200, "{ok}");
    let (status, answer) = send().await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(h.posts(), 1);

    // The sweep settles the two lapsed quotes, once; a settled quote stays lapsed even if its
    // clock were read otherwise.
    let settled: BTreeSet<String> =
        approvals::expire_due(&h.store, now()).await.expect("sweep").into_iter().collect();
    assert_eq!(settled, [first.clone(), second].into_iter().collect());
    assert!(approvals::expire_due(&h.store, now()).await.expect("sweep").is_empty());
    age(&h.db.url, &first, -(lifetime_ms() + 1_000)).await;
    let (status, gone) =
        call(h.addr(), "POST", &format!("/approve/{first}"), Some(&alice), None, &[]).await;
    assert_eq!(status, 410, "{gone}");
    assert_eq!(h.posts(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_sweeping_at_once_settle_each_lapsed_quote_once() {
    let db = fresh_database().await;
    let setup = PgStore::connect_with(&db.url, 2).await.expect("connect");
    let mut conn = {
        use sqlx::Connection as _;
        sqlx::PgConnection::connect(&db.url).await.expect("connect")
    };
    let new = admin::NewMember { name: "m".into(), ..admin::NewMember::default() };
    admin::add_member(&setup, &new, now()).await.expect("member");
    let now = now();
    // 1,500 lapsed quotes (three sweep batches) and 3 fresh ones.
    sqlx::query(
        "INSERT INTO pending_quotes (token, member_id, body_sha256, quote_json, created_at) \
         SELECT 'cq_old_' || g, 'm', 'h' || g, '{}', $1 - g FROM generate_series(1, 1500) g \
         UNION ALL \
         SELECT 'cq_new_' || g, 'm', 'n' || g, '{}', $2 FROM generate_series(1, 3) g",
    )
    .bind(now - lifetime_ms())
    .bind(now)
    .execute(&mut conn)
    .await
    .expect("quotes");

    let dir = tempfile::tempdir().expect("dir");
    // Each instance on its own pool, as separate processes have.
    let (store_a, store_b) = (
        PgStore::connect_with(&db.url, 2).await.expect("connect"),
        PgStore::connect_with(&db.url, 2).await.expect("connect"),
    );
    let instance = |store: PgStore, name: &str| {
        let app = Arc::new(App::new(Config::new(dir.path().join("d"), dir.path().join("c"))));
        let config = leases::Config::with_lease(Duration::from_secs(60));
        Instance::new(store, app, name, config).expect("instance")
    };
    let (a, b) = (instance(store_a, "a"), instance(store_b, "b"));
    let (from_a, from_b) = tokio::join!(a.expire_quotes(), b.expire_quotes());
    let (from_a, from_b) = (from_a.expect("a"), from_b.expect("b"));
    let a_set: BTreeSet<&String> = from_a.iter().collect();
    let b_set: BTreeSet<&String> = from_b.iter().collect();
    assert!(a_set.is_disjoint(&b_set), "a quote settled by both instances");
    assert_eq!(from_a.len() + from_b.len(), 1500, "a={} b={}", from_a.len(), from_b.len());
    assert!(from_a.iter().chain(&from_b).all(|t| t.starts_with("cq_old_")));
    let open: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pending_quotes WHERE expired_at IS NULL")
            .fetch_one(&mut conn)
            .await
            .expect("count");
    assert_eq!(open, 3, "the fresh quotes stay open");
    assert!(a.expire_quotes().await.expect("again").is_empty());
}
