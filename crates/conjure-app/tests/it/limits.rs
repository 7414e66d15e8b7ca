//! Spending rules through the application's paid path, with the real journal.

use conjure_app::{App, ErrorKind, ImageRequest, PayOptions, Request};
use conjure_core::policy::Limit;
use conjure_core::{JobFilter, JobStore as _, ProviderId};
use conjure_providers::ProviderSettings;

use crate::config;

/// Pays `order` with `--yes` and returns the refusal.
async fn refusal(
    app: &App,
    session: &conjure_app::Session,
    order: &conjure_core::Order,
    options: &PayOptions,
) -> conjure_app::AppError {
    app.pay(
        session,
        order.clone(),
        options,
        Some(conjure_core::Consent::Yes),
        &|_| {},
        std::future::pending(),
    )
    .await
    .unwrap_err()
}

#[tokio::test]
async fn a_dollar_limit_without_a_dollar_price_refuses_before_anything_else() {
    let (_dir, mut config) = config();
    config.providers.insert(
        ProviderId::Katana,
        ProviderSettings { base_url: "http://127.0.0.1:9".into(), usd_per_credit: None },
    );
    let app = App::new(config);
    let order = app.prepare(&Request::Image(ImageRequest::new("a fox"))).unwrap();
    assert_eq!(order.quote.usd, None);
    let session = app.session().await.unwrap();
    let options = PayOptions { max_cost: Limit::parse("1.00"), ..PayOptions::default() };
    let err = refusal(&app, &session, &order, &options).await;
    assert_eq!(err.kind, ErrorKind::OverBudget, "{err:?}");
    assert!(err.message.contains("no dollar price"), "{}", err.message);
    assert!(err.hint.as_deref().unwrap().contains("usd_per_credit"), "{err:?}");
    // The same through the daily budget.
    let mut budgeted = app.config.clone();
    budgeted.budgets = vec![conjure_core::policy::Budget {
        provider: None,
        window: conjure_core::policy::BudgetWindow::Day,
        limit: Limit::parse("5.00").unwrap(),
    }];
    let app = App::new(budgeted);
    let err = refusal(&app, &session, &order, &PayOptions::default()).await;
    assert_eq!(err.kind, ErrorKind::OverBudget, "{err:?}");
    // Refused before credentials were looked for, and nothing recorded.
    assert!(session.journal.list(JobFilter::All, 10).await.unwrap().is_empty());
}
