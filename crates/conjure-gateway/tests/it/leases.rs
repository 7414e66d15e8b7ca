//! Stateless instances on a real Postgres: a stopped instance's jobs in flight are settled by
//! the CLI's rule (and a live instance's are not), and pollers on separate pools (as separate
//! processes have) share the submitted jobs, each poll made once, against the real sandbox.
//!
//! No test waits for a duration to pass as its assertion; loops that wait for an outcome are
//! bounded by a hang guard only.

#![expect(clippy::unwrap_used, reason = "test helpers outside #[test] fns fail loudly too")]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use conjure_app::{App, Config};
use conjure_core::money::CreditPrice;
use conjure_core::{JobId, JobState, JobStore as _, ProviderId};
use conjure_gateway::leases::{self, Instance, Polled};
use conjure_gateway::{Gateway, PgStore, server};
use conjure_providers::registry::ProviderSettings;
use conjure_test::pg::fresh_database;
use conjure_test::{Faults, SandboxConfig, TEST_KEY, TEST_SECRET};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::net::TcpListener;

use conjure_core::policy::SpendRules;
use conjure_gateway::Scope;
use conjure_gateway::member::MemberId;
use conjure_test::store_contract::{order, yes};

use crate::members::{call, image, now};

/// A hang guard, not a speed assertion.
const HANG: Duration = Duration::from_secs(120);

async fn pool(url: &str) -> PgPool {
    PgPoolOptions::new().max_connections(2).connect(url).await.unwrap()
}

/// A job reserved by `owner` (for `member`), then put in `state` as its owner left it.
async fn job(
    store: &PgStore,
    pool: &PgPool,
    state: &str,
    owner: &str,
    member: Option<&str>,
) -> String {
    let approved = yes(order(&format!("{state} by {owner} for {member:?}")));
    let rules = SpendRules::default();
    let record = match member {
        Some(m) => {
            let scope = Scope { member: MemberId(m.to_owned()), project: None };
            store.reserve_scoped(&approved, owner, &rules, &scope, now()).await.unwrap()
        }
        None => store.reserve(&approved, owner, &rules, now()).await.unwrap(),
    };
    sqlx::query("UPDATE jobs SET state = $2 WHERE id = $1")
        .bind(record.id.as_str())
        .bind(state)
        .execute(pool)
        .await
        .unwrap();
    record.id.to_string()
}

async fn state_of(store: &PgStore, id: &str) -> JobState {
    store.get(&JobId::from_stored(id)).await.unwrap().state
}

/// The gateway's application: Katana at the sandbox with its credentials, polling cadence
/// scaled down so that a job is due again a millisecond after its last poll.
fn app(base_url: String, dir: &std::path::Path) -> App {
    let mut config = Config::new(dir.join("data"), dir.join("config"));
    config.providers.insert(
        ProviderId::Katana,
        ProviderSettings { base_url, usd_per_credit: Some(CreditPrice::KATANA_REFERENCE) },
    );
    config.env.insert("KATANA_API_KEY".into(), TEST_KEY.into());
    config.env.insert("KATANA_API_SECRET".into(), TEST_SECRET.into());
    config.catalogue_check = false;
    config.poll.scale = 0.001;
    App::new(config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_instances_jobs_in_flight_are_settled_and_a_live_ones_are_not() {
    let db = fresh_database().await;
    let store = PgStore::connect(&db.url).await.unwrap();
    let pool = pool(&db.url).await;
    let alice = conjure_gateway::admin::NewMember {
        name: "alice".into(),
        budgets: Vec::new(),
        providers: None,
        per_request: None,
    };
    conjure_gateway::admin::add_member(&store, &alice, now()).await.unwrap();
    // `gone` beat once and expired; `live` is beating; `never` never had a row.
    sqlx::query("INSERT INTO instances VALUES ('gone', 0, 0, 1)").execute(&pool).await.unwrap();
    leases::heartbeat(&pool, "live", Duration::from_secs(3600)).await.unwrap();
    let gone_sending = job(&store, &pool, "submitting", "gone", Some("alice")).await;
    let gone_reserved = job(&store, &pool, "quoted", "gone", None).await;
    let gone_polling = job(&store, &pool, "processing", "gone", None).await;
    let never_sending = job(&store, &pool, "submitting", "never", None).await;
    let live_sending = job(&store, &pool, "submitting", "live", Some("alice")).await;
    let live_reserved = job(&store, &pool, "quoted", "live", None).await;

    let settled = leases::settle_orphans(&store).await.unwrap();
    let settled: BTreeMap<String, JobState> =
        settled.into_iter().map(|(id, s)| (id.to_string(), s)).collect();
    let expected: BTreeMap<String, JobState> = [
        (gone_reserved.clone(), JobState::Failed),
        (gone_sending.clone(), JobState::Unknown),
        (never_sending.clone(), JobState::Unknown),
    ]
    .into_iter()
    .collect();
    assert_eq!(settled, expected);
    assert_eq!(state_of(&store, &gone_sending).await, JobState::Unknown);
    assert_eq!(state_of(&store, &gone_reserved).await, JobState::Failed);
    assert_eq!(state_of(&store, &gone_polling).await, JobState::Processing, "not in flight");
    assert_eq!(state_of(&store, &live_sending).await, JobState::Submitting, "a live instance's");
    assert_eq!(state_of(&store, &live_reserved).await, JobState::Quoted, "a live instance's");

    // Through the store's transition: the trail says why, and the member's webhooks hear of it.
    let unknown = store.get(&JobId::from_stored(gone_sending.as_str())).await.unwrap();
    assert!(unknown.error.as_deref().unwrap().contains("may have been charged"), "{unknown:?}");
    let events: Vec<String> =
        sqlx::query_scalar("SELECT event_type FROM webhook_events WHERE member_id = 'alice'")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(events, ["job.unknown"]);

    // A second sweep (another instance's, say) finds nothing left to do.
    assert!(leases::settle_orphans(&store).await.unwrap().is_empty());

    // An instance's row lives from its registration to its graceful stop.
    let dir = tempfile::tempdir().unwrap();
    let config = leases::Config::with_lease(Duration::from_secs(60));
    let me = Instance::new(store.clone(), Arc::new(app(String::new(), dir.path())), "me", config)
        .unwrap();
    assert!(!leases::is_alive(&pool, "me").await.unwrap());
    me.register().await.unwrap();
    assert!(leases::is_alive(&pool, "me").await.unwrap());
    me.deregister().await.unwrap();
    assert!(!leases::is_alive(&pool, "me").await.unwrap());
    assert!(!leases::is_alive(&pool, "gone").await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pollers_on_separate_pools_poll_each_job_once_per_round_to_completion() {
    let db = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    // Each job answers `processing` to two polls, then completes.
    let faults = Faults { processing_steps: 2, ..Faults::default() };
    let sandbox = conjure_sandbox::start(SandboxConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
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
    .unwrap();
    let app = || app(sandbox.base_url(), dir.path());

    // A gateway that takes the members' requests but polls nothing in the background.
    let store = PgStore::connect_with(&db.url, 4).await.unwrap();
    let quiet = leases::Config { poll: false, ..leases::Config::default() };
    let gateway = Gateway::new(store.clone(), app(), "front").with_leases(quiet);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(server::serve(listener, gateway, std::future::pending()));
    conjure_gateway::admin::add_member(
        &store,
        &conjure_gateway::admin::NewMember {
            name: "bots".into(),
            budgets: Vec::new(),
            providers: None,
            per_request: conjure_core::policy::Limit::parse("1000cr"),
        },
        now(),
    )
    .await
    .unwrap();
    let member = conjure_gateway::member::MemberId("bots".into());
    let key = conjure_gateway::keys::create(&store, Some(&member), now()).await.unwrap();
    let key = key.expose().to_owned();
    let jobs = 8;
    for i in 0..jobs {
        let body = image(&format!("polled fox {i}"));
        let (status, sent) =
            call(addr, "POST", "/v1/generation-requests", Some(&key), Some(&body), &[]).await;
        assert_eq!(status, 200, "{sent}");
    }
    assert_eq!(sandbox.stats().submit_posts_received, jobs);
    let polls_before = sandbox.stats().polls;

    // Two pollers, each on a pool of its own, racing round after round.
    let config = leases::Config { batch: 4, ..leases::Config::with_lease(Duration::from_secs(60)) };
    let poller = |owner: &str| {
        let url = db.url.clone();
        let config = config.clone();
        let app = Arc::new(app());
        let owner = owner.to_owned();
        async move {
            let store = PgStore::connect_with(&url, 4).await.unwrap();
            Instance::new(store, app, &owner, config).unwrap()
        }
    };
    let (a, b) = (poller("poller-a").await, poller("poller-b").await);
    let started = Instant::now();
    let mut polls: BTreeMap<String, Vec<Polled>> = BTreeMap::new();
    loop {
        let (from_a, from_b) = tokio::join!(a.poll_round(), b.poll_round());
        let round: Vec<_> = from_a.unwrap().into_iter().chain(from_b.unwrap()).collect();
        let ids: Vec<String> = round.iter().map(|o| o.job.to_string()).collect();
        let distinct: BTreeSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len(), "a job claimed twice in one round: {round:?}");
        for outcome in round {
            assert_ne!(outcome.polled, Polled::Lost, "no lease expires in this test");
            polls.entry(outcome.job.to_string()).or_default().push(outcome.polled);
        }
        let left = store.list(conjure_core::store::JobFilter::All, 100).await.unwrap();
        if left.iter().all(|j| j.state.is_terminal()) {
            break;
        }
        assert!(started.elapsed() < HANG, "jobs still pending: {polls:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // Every job completed; every poll made is one the sandbox received, and one the trail
    // recorded: two `processing` answers, then one completion, per job.
    let made: usize = polls
        .values()
        .flatten()
        .filter(|p| matches!(p, Polled::Finished | Polled::Pending { .. }))
        .count();
    assert_eq!(sandbox.stats().polls - polls_before, made as u64, "{polls:?}");
    assert_eq!(polls.len(), jobs as usize);
    for job in store.list(conjure_core::store::JobFilter::All, 100).await.unwrap() {
        assert_eq!(job.state, JobState::Completed, "{job:?}");
        let trail = store.events(&job.id).await.unwrap();
        let to = |s: JobState| trail.iter().filter(|e| e.to == s).count();
        assert_eq!((to(JobState::Processing), to(JobState::Completed)), (2, 1), "{trail:?}");
        let mine = &polls[job.id.as_str()];
        assert_eq!(mine.iter().filter(|p| **p == Polled::Finished).count(), 1, "{mine:?}");
    }
    // Nothing was sent again by anyone.
    assert_eq!(sandbox.stats().submit_posts_received, jobs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_lease_keeps_other_pollers_off_until_it_expires_and_a_lost_one_writes_nothing() {
    let db = fresh_database().await;
    let store = PgStore::connect(&db.url).await.unwrap();
    let pool = pool(&db.url).await;
    let id = job(&store, &pool, "processing", "gone", None).await;
    // The state a killed instance leaves: its claim on the job, expiring in an hour.
    sqlx::query(
        "UPDATE jobs SET request_id = 'req_held', poll_lease_token = 'poll_dead', \
             poll_lease_until = (extract(epoch from clock_timestamp()) * 1000)::BIGINT + 3600000 \
         WHERE id = $1",
    )
    .bind(&id)
    .execute(&pool)
    .await
    .unwrap();
    // Polling goes nowhere real: the provider is unreachable, and a poll is free to fail.
    let dir = tempfile::tempdir().unwrap();
    let app = Arc::new(app("http://127.0.0.1:9".into(), dir.path()));
    let config = leases::Config::with_lease(Duration::from_secs(60));
    let other = Instance::new(store.clone(), app, "other", config).unwrap();
    assert!(other.poll_round().await.unwrap().is_empty(), "a held lease is not claimed");

    // A write under a token that is not the lease's changes nothing and says so.
    let stale = store.leased("poll_not_mine");
    let job_id = JobId::from_stored(id.as_str());
    assert!(stale.transition(&job_id, JobState::Completed, None).await.is_err());
    assert!(stale.record_snapshot(&job_id, &serde_json::json!({"x": 1}), None).await.is_err());
    assert!(stale.lost());
    let unchanged = store.get(&job_id).await.unwrap();
    assert_eq!((unchanged.state, unchanged.last_snapshot), (JobState::Processing, None));

    // Once the lease has expired, the job is another poller's.
    sqlx::query("UPDATE jobs SET poll_lease_until = 0 WHERE id = $1")
        .bind(&id)
        .execute(&pool)
        .await
        .unwrap();
    let taken = other.poll_round().await.unwrap();
    assert_eq!(taken.len(), 1, "{taken:?}");
    assert_eq!(taken[0].job.as_str(), id);
    assert!(matches!(taken[0].polled, Polled::Pending { .. } | Polled::RetryAfter(_)), "{taken:?}");
    let (holder, next): (Option<String>, Option<i64>) =
        sqlx::query_as("SELECT poll_lease_token, next_poll_at FROM jobs WHERE id = $1")
            .bind(&id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(holder, None, "the round released its claim");
    assert!(next.is_some(), "and said when the job is due again");
}
