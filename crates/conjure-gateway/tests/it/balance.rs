//! `GET /v1/me/balance` for a member who spends with both providers: Katana's `credits` as a
//! Katana client reads it, and under `conjure.providers` each provider the member may spend
//! with, in its own credits (what is left, what each window counted, the exposure), with
//! `conjure.usd_left` for dollar budgets, which count every provider together.

use serde_json::{Value, json};

use crate::chat::Wire;

fn tenths(v: &Value) -> i64 {
    let s = v.as_str().unwrap_or_else(|| panic!("a credit string, not {v}"));
    let (whole, tenth) = s.split_once('.').expect("one decimal");
    whole.parse::<i64>().expect("whole") * 10 + tenth.parse::<i64>().expect("tenth")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_balance_shows_each_provider_a_member_spends_with() {
    let w = Wire::start(conjure_test::Faults::default()).await;
    let both = w.member("both", Some("100cr"), Some("100cr")).await;
    let image = json!({"requests": [{"type": "image", "model": "gpt-image-2",
        "prompt": "a fox", "aspect_ratio": "1:1"}]});
    let (status, sent) = w.post("/v1/generation-requests", &both, &image).await;
    assert_eq!(status, 200, "{sent}");
    let (status, sent) =
        w.post("/api/v1/nova/imagine", &both, &json!({"prompt": "a lighthouse"})).await;
    assert_eq!(status, 200, "{sent}");

    let (status, balance) = w.get("/v1/me/balance", &both).await;
    assert_eq!(status, 200, "{balance}");
    let providers = &balance["conjure"]["providers"];
    let katana = &providers["katana"];
    let imaginepro = &providers["imaginepro"];
    // Katana's figure is what a Katana client reads; a credit budget holds for each provider's
    // credits separately, so ImaginePro's spending leaves Katana's untouched and has its own.
    assert_eq!(balance["credits"], katana["credits_left"], "{balance}");
    let katana_spent = tenths(&katana["spent"]["daily"]["credits"]);
    assert!(katana_spent > 0, "{balance}");
    assert_eq!(tenths(&katana["credits_left"]), 1000 - katana_spent, "{balance}");
    assert_eq!(imaginepro["spent"]["daily"]["credits"], "10.0", "{balance}");
    assert_eq!(imaginepro["credits_left"], "90.0", "{balance}");
    for p in [katana, imaginepro] {
        assert_eq!(p["exposure"], json!({"jobs": 0, "credits": "0.0"}), "{balance}");
    }
    assert_eq!(balance["conjure"]["usd_left"], Value::Null, "no dollar budget: {balance}");

    // A member limited to Katana with a dollar budget sees only Katana, and the dollars left.
    let k = w.member("k-only", Some("100cr"), None).await;
    let k_id = conjure_gateway::member::MemberId("k-only".into());
    conjure_gateway::admin::set_budget(
        &w.store,
        conjure_gateway::admin::BudgetScope::Member,
        k_id.as_str(),
        conjure_core::policy::BudgetWindow::Month,
        conjure_core::policy::Limit::parse("$5"),
    )
    .await
    .expect("budget");
    sqlx::query("UPDATE members SET providers = 'katana' WHERE id = 'k-only'")
        .execute(&mut {
            use sqlx::Connection as _;
            sqlx::PgConnection::connect(&w.db.url).await.expect("connect")
        })
        .await
        .expect("providers");
    let (status, sent) = w.post("/v1/generation-requests", &k, &image).await;
    assert_eq!(status, 200, "{sent}");
    let (_, balance) = w.get("/v1/me/balance", &k).await;
    let providers = balance["conjure"]["providers"].as_object().expect("providers");
    assert_eq!(providers.keys().collect::<Vec<_>>(), ["katana"], "{balance}");
    let usd_left = balance["conjure"]["usd_left"].as_str().expect("dollars left");
    assert!(usd_left.starts_with("$4.9"), "{balance}");
    assert!(
        providers["katana"]["spent"]["monthly"]["usd"].as_str().unwrap().starts_with("$0.0"),
        "{balance}"
    );
}
