//! Many connections reserving at once, as several gateway instances would: the ledger lock
//! makes the budget hold exactly, with no reservation failing for any other reason.

use conjure_core::JobStore;
use conjure_core::policy::{Budget, BudgetWindow, Limit, SpendRefusal, SpendRules};
use conjure_core::store::ReserveError;
use conjure_core::{Credits, ProviderId};
use conjure_gateway::PgStore;
use conjure_test::store_contract::{NOW, OWNER, order, yes};

use conjure_test::pg::fresh_database;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_instances_racing_never_overspend() {
    let db = fresh_database().await;
    let mut instances = Vec::new();
    for _ in 0..4 {
        instances.push(PgStore::connect_with(&db.url, 3).await.expect("connect"));
    }
    // 32 different requests of 14 credits against a daily budget that fits exactly 5.
    let rules = SpendRules {
        budgets: vec![Budget {
            provider: None,
            window: BudgetWindow::Day,
            limit: Limit::parse("70cr").expect("limit"),
        }],
        ..SpendRules::default()
    };
    let attempts = (0..32).map(|i| {
        let store = instances[i % instances.len()].clone();
        let approved = yes(order(&format!("racing request {i}")));
        let rules = rules.clone();
        tokio::spawn(async move { store.reserve(&approved, OWNER, &rules, NOW).await })
    });
    let results: Vec<_> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(|joined| joined.expect("no panic"))
        .collect();
    let reserved = results.iter().filter(|r| r.is_ok()).count();
    let over = results
        .iter()
        .filter(|r| matches!(r, Err(ReserveError::Refused(SpendRefusal::OverBudget { .. }))))
        .count();
    assert_eq!((reserved, over), (5, 27), "{results:?}");
    let spent = instances[0].spent_since(NOW - 1).await.expect("spent");
    assert_eq!(spent.provider(ProviderId::Katana).credits, Credits::whole(70));
}

/// Members and a project shared by them, reserving at once from three instances: each
/// member's budget and the project's hold together (their rows locked in one order, so the
/// racing transactions queue instead of deadlocking), and each member's jobs carry the member.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_and_their_shared_project_hold_their_budgets_under_racing_reservations() {
    use conjure_gateway::Scope;
    use conjure_gateway::admin::{self, NewMember};
    use conjure_gateway::member::MemberId;

    let db = fresh_database().await;
    let mut instances = Vec::new();
    for _ in 0..3 {
        instances.push(PgStore::connect_with(&db.url, 3).await.expect("connect"));
    }
    let daily = |limit: &str| Budget {
        provider: None,
        window: BudgetWindow::Day,
        limit: Limit::parse(limit).expect("limit"),
    };
    // Every request costs 14 credits: each member may send 3, the project 5 in all.
    for name in ["ann", "ben"] {
        let new =
            NewMember { name: name.into(), budgets: vec![daily("42cr")], ..NewMember::default() };
        admin::add_member(&instances[0], &new, NOW).await.expect("member");
    }
    let members = [MemberId("ann".into()), MemberId("ben".into())];
    admin::add_project(&instances[0], "shared", &[daily("70cr")], &members, NOW)
        .await
        .expect("project");
    let attempts = (0..24).map(|i| {
        let store = instances[i % instances.len()].clone();
        let member = if i % 2 == 0 { "ann" } else { "ben" };
        let scope = Scope { member: MemberId(member.into()), project: Some("shared".into()) };
        let approved = yes(order(&format!("shared request {i}")));
        tokio::spawn(async move {
            let r =
                store.reserve_scoped(&approved, OWNER, &SpendRules::default(), &scope, NOW).await;
            (member, r)
        })
    });
    let results: Vec<_> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(|joined| joined.expect("no panic"))
        .collect();
    let reserved: Vec<&str> = results.iter().filter(|(_, r)| r.is_ok()).map(|(m, _)| *m).collect();
    let over = results
        .iter()
        .filter(|(_, r)| matches!(r, Err(ReserveError::Refused(SpendRefusal::OverBudget { .. }))))
        .count();
    assert_eq!((reserved.len(), over), (5, 19), "{results:?}");
    for member in ["ann", "ben"] {
        let n = reserved.iter().filter(|m| **m == member).count();
        assert!(n <= 3, "{member} reserved {n}, above its own budget");
        let spent = admin::window_spent(&instances[1], &MemberId(member.into()), false, NOW)
            .await
            .expect("spent");
        let credits = spent[&BudgetWindow::Day].provider(ProviderId::Katana).credits;
        assert_eq!(credits, Credits::whole(14 * n as i64), "{member}");
    }
    // The whole ledger holds exactly what the project allowed.
    let spent = instances[2].spent_since(NOW - 1).await.expect("spent");
    assert_eq!(spent.provider(ProviderId::Katana).credits, Credits::whole(70));
}

/// The store itself refuses a member who names a project they do not belong to, whatever
/// handler asked, and records nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reservation_for_a_project_the_member_is_not_in_is_refused_by_the_store() {
    use conjure_gateway::admin::{self, NewMember};
    use conjure_gateway::member::MemberId;
    use conjure_gateway::{PgStoreError, Scope};

    let db = fresh_database().await;
    let store = PgStore::connect_with(&db.url, 2).await.expect("connect");
    for name in ["ann", "ben"] {
        let new = NewMember { name: name.into(), ..NewMember::default() };
        admin::add_member(&store, &new, NOW).await.expect("member");
    }
    admin::add_project(&store, "anns", &[], &[MemberId("ann".into())], NOW).await.expect("project");
    let scope = Scope { member: MemberId("ben".into()), project: Some("anns".into()) };
    let approved = yes(order("ben names ann's project"));
    let refused = store
        .reserve_scoped(&approved, OWNER, &SpendRules::default(), &scope, NOW)
        .await
        .expect_err("not a member");
    let ReserveError::Store(refused) = refused else { panic!("refused by the store: {refused:?}") };
    let expected =
        PgStoreError::NotProjectMember { member: "ben".into(), project: "anns".into() }.to_string();
    assert!(refused.to_string().contains(&expected), "{refused}");
    let hint = refused.hint().expect("a hint");
    assert!(hint.contains("project member add anns ben"), "{hint}");
    let jobs: i64 = {
        use sqlx::Connection as _;
        let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
        sqlx::query_scalar("SELECT count(*) FROM jobs").fetch_one(&mut conn).await.expect("count")
    };
    assert_eq!(jobs, 0, "a refused reservation records no job");
    // Ann, a member, reserves.
    let scope = Scope { member: MemberId("ann".into()), project: Some("anns".into()) };
    store
        .reserve_scoped(&yes(order("ann's own")), OWNER, &SpendRules::default(), &scope, NOW)
        .await
        .expect("a member reserves");
}
