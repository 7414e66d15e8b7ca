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
