//! The spending ledger (`conjure spend`): what conjure's requests cost, grouped by provider, model
//! or day, and how much of each budget is left.
//!
//! Every job counts by the rules the budgets count by ([`policy::counted`]): settled jobs at the
//! provider's reported charge (or their price where the provider reports none), jobs reserved or
//! running at their quote, jobs being sent or `unknown` as exposure, which the provider may have
//! charged. Credits of different providers never add up, so every row belongs to one provider.
//! Sandbox jobs are placeholder money and are left out.

use std::collections::BTreeMap;

use conjure_core::policy::{self, Budget, BudgetWindow, Counted, Limit};
use conjure_core::store::LedgerEntry;
use conjure_core::{CreditPrice, Credits, JobStore as _, ProviderId, Usd};
use serde::Serialize;

use crate::error::AppError;
use crate::session::{App, Connector, Session};
use crate::timefmt::{now_ms, rfc3339_ms};

/// How rows are grouped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpendBy {
    #[default]
    Provider,
    Model,
    /// The UTC calendar day the job was created.
    Day,
}

/// Credits and, where every job of the cell has a price per credit, dollars.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Amount {
    pub credits: Credits,
    /// Absent when some job of the cell has no dollar price.
    pub usd: Option<Usd>,
}

impl Amount {
    fn add(&mut self, credits: Credits, price: Option<CreditPrice>, first: bool) {
        self.credits += credits;
        self.usd = match (first, self.usd, price) {
            (true, _, Some(p)) => Some(p.usd(credits)),
            (false, Some(u), Some(p)) => Some(u + p.usd(credits)),
            _ => None,
        };
    }
}

/// One row of the report: one provider's jobs in one group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SpendRow {
    pub provider: ProviderId,
    /// The provider, the model or the day (`2026-12-01`), as grouped.
    pub key: String,
    /// Jobs that may have cost money (refusals before acceptance cost nothing and are left out).
    pub jobs: u64,
    /// Settled by the provider.
    pub charged: Amount,
    /// Reserved, or accepted and not finished yet.
    pub reserved: Amount,
    /// Being sent or `unknown`: may have been charged.
    pub unknown: Amount,
    #[serde(skip)]
    seen: [bool; 3],
}

/// A budget and what is left of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BudgetView {
    /// The setting it comes from (`katana.daily_budget`).
    pub setting: String,
    /// The provider it counts, or absent for every provider.
    pub provider: Option<ProviderId>,
    pub window: &'static str,
    pub limit: String,
    /// What counts against it now, in its unit (`$1.20`, `340 credits`); per provider for a
    /// credit budget over every provider.
    pub used: Vec<String>,
    /// What is left, in its unit; absent where a dollar budget cannot be checked.
    pub left: Vec<String>,
    /// Why it cannot be checked, when it cannot.
    pub problem: Option<String>,
}

/// The report.
#[derive(Clone, Debug, Serialize)]
pub struct SpendView {
    /// RFC 3339: the oldest job counted was created at or after this.
    pub since: String,
    pub by: SpendBy,
    pub rows: Vec<SpendRow>,
    /// One row per provider, over every group.
    pub totals: Vec<SpendRow>,
    pub budgets: Vec<BudgetView>,
}

/// Groups the ledger. Pure.
pub fn rows(entries: &[LedgerEntry], by: SpendBy) -> Vec<SpendRow> {
    let mut out: BTreeMap<(ProviderId, String), SpendRow> = BTreeMap::new();
    for e in entries {
        let Some((how, credits)) = policy::counted(e.state, e.has_request_id, e.quoted, e.charged)
        else {
            continue;
        };
        let key = match by {
            SpendBy::Provider => e.provider.as_str().to_owned(),
            SpendBy::Model => e.model.clone(),
            SpendBy::Day => rfc3339_ms(e.created_at)[..10].to_owned(),
        };
        let row = out.entry((e.provider, key.clone())).or_insert_with(|| SpendRow {
            provider: e.provider,
            key,
            jobs: 0,
            charged: Amount::default(),
            reserved: Amount::default(),
            unknown: Amount::default(),
            seen: [false; 3],
        });
        row.jobs += 1;
        let (cell, i) = match how {
            Counted::Charged => (&mut row.charged, 0),
            Counted::Reserved => (&mut row.reserved, 1),
            Counted::Exposure => (&mut row.unknown, 2),
        };
        cell.add(credits, e.usd_per_credit, !row.seen[i]);
        row.seen[i] = true;
    }
    out.into_values().collect()
}

/// A budget against the ledger of its window. Pure.
pub fn budget_view(budget: &Budget, entries: &[LedgerEntry], since_ms: i64) -> BudgetView {
    let mut credits: BTreeMap<ProviderId, Credits> = BTreeMap::new();
    let mut usd = Usd::ZERO;
    let mut unpriced = 0_u64;
    for e in entries.iter().filter(|e| e.created_at >= since_ms && budget.applies_to(e.provider)) {
        let Some((_, c)) = policy::counted(e.state, e.has_request_id, e.quoted, e.charged) else {
            continue;
        };
        *credits.entry(e.provider).or_insert(Credits::ZERO) =
            credits.get(&e.provider).copied().unwrap_or(Credits::ZERO) + c;
        match e.usd_per_credit {
            Some(p) => usd = usd + p.usd(c),
            None => unpriced += 1,
        }
    }
    let (used_text, left, problem) = match budget.limit {
        Limit::Credits(max) => {
            let providers: Vec<ProviderId> = match budget.provider {
                Some(p) => vec![p],
                None => credits.keys().copied().collect(),
            };
            let used_of = |p: &ProviderId| credits.get(p).copied().unwrap_or(Credits::ZERO);
            (
                providers.iter().map(|p| format!("{} {p} credits", used_of(p))).collect(),
                providers
                    .iter()
                    .map(|p| format!("{} {p} credits", (max - used_of(p)).max(Credits::ZERO)))
                    .collect(),
                None,
            )
        }
        Limit::Usd(max) if unpriced == 0 => {
            let left = Usd::from_micros((max.micros() - usd.micros()).max(0));
            (vec![usd.to_string()], vec![left.to_string()], None)
        }
        Limit::Usd(_) => (
            vec![usd.to_string()],
            Vec::new(),
            Some(format!(
                "{unpriced} job(s) in its window have no dollar price, so it refuses every request until they leave it; give it in credits, or set usd_per_credit"
            )),
        ),
    };
    BudgetView {
        setting: budget.setting(),
        provider: budget.provider,
        window: budget.window.as_str(),
        limit: budget.limit.to_string(),
        used: used_text,
        left,
        problem,
    }
}

impl<C: Connector> App<C> {
    /// The ledger since `since_ms` (by default the last 30 days), grouped `by`, with every
    /// configured budget.
    pub async fn spend(
        &self,
        session: &Session,
        since_ms: Option<i64>,
        by: SpendBy,
    ) -> Result<SpendView, AppError> {
        let now = now_ms();
        let since = since_ms.unwrap_or_else(|| BudgetWindow::Month.since(now));
        // The budgets need their own windows, which may reach further back than the report.
        let oldest = self
            .config
            .budgets
            .iter()
            .map(|b| b.window.since(now))
            .chain([since])
            .min()
            .unwrap_or(since);
        let entries = session.journal.ledger(oldest).await?;
        let shown: Vec<LedgerEntry> =
            entries.iter().filter(|e| e.created_at >= since).cloned().collect();
        Ok(SpendView {
            since: rfc3339_ms(since),
            by,
            rows: rows(&shown, by),
            totals: rows(&shown, SpendBy::Provider),
            budgets: self
                .config
                .budgets
                .iter()
                .map(|b| budget_view(b, &entries, b.window.since(now)))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use conjure_core::catalogue::MediaKind;
    use conjure_core::{JobId, JobState};

    use super::*;

    fn entry(
        provider: ProviderId,
        model: &str,
        state: JobState,
        quoted: i64,
        charged: Option<i64>,
        at: i64,
    ) -> LedgerEntry {
        LedgerEntry {
            id: JobId::compose(at, 1),
            provider,
            kind: MediaKind::Image,
            model: model.to_owned(),
            state,
            has_request_id: !matches!(
                state,
                JobState::Quoted | JobState::Submitting | JobState::Rejected
            ),
            created_at: at,
            quoted: Credits::whole(quoted),
            charged: charged.map(Credits::whole),
            usd_per_credit: (provider == ProviderId::Katana)
                .then_some(CreditPrice::KATANA_REFERENCE),
        }
    }

    const DAY: i64 = 86_400_000;

    fn ledger() -> Vec<LedgerEntry> {
        use JobState::*;
        use ProviderId::{ImaginePro, Katana};
        vec![
            entry(Katana, "gpt-image-2", Completed, 14, Some(14), DAY),
            entry(Katana, "gpt-image-2", Completed, 14, Some(10), 2 * DAY),
            entry(Katana, "flux", Unknown, 6, None, 2 * DAY + 1),
            entry(Katana, "flux", Rejected, 6, None, 2 * DAY + 2),
            entry(ImaginePro, "midjourney", Completed, 8, None, 2 * DAY + 3),
            entry(ImaginePro, "midjourney", Processing, 8, None, 2 * DAY + 4),
        ]
    }

    #[test]
    fn rows_group_per_provider_and_count_like_the_budgets() {
        let r = rows(&ledger(), SpendBy::Provider);
        assert_eq!(r.len(), 2);
        let (k, i) = (&r[0], &r[1]);
        assert_eq!((k.provider, k.jobs), (ProviderId::Katana, 3), "the refusal cost nothing");
        assert_eq!(k.charged.credits, Credits::whole(24));
        assert_eq!(k.charged.usd, Some(Usd::from_micros(124_800)));
        assert_eq!(k.unknown.credits, Credits::whole(6));
        assert_eq!(k.reserved, Amount::default());
        assert_eq!((i.provider, i.jobs), (ProviderId::ImaginePro, 2));
        assert_eq!(i.charged.credits, Credits::whole(8));
        assert_eq!(i.charged.usd, None, "no price per credit");
        assert_eq!(i.reserved.credits, Credits::whole(8));
    }

    #[test]
    fn rows_by_model_and_by_day() {
        let by_model = rows(&ledger(), SpendBy::Model);
        let keys: Vec<(&str, u64)> = by_model.iter().map(|r| (r.key.as_str(), r.jobs)).collect();
        assert_eq!(keys, [("flux", 1), ("gpt-image-2", 2), ("midjourney", 2)]);
        let by_day = rows(&ledger(), SpendBy::Day);
        let keys: Vec<(ProviderId, &str)> =
            by_day.iter().map(|r| (r.provider, r.key.as_str())).collect();
        assert_eq!(
            keys,
            [
                (ProviderId::Katana, "1970-01-02"),
                (ProviderId::Katana, "1970-01-03"),
                (ProviderId::ImaginePro, "1970-01-03")
            ]
        );
    }

    #[test]
    fn budgets_show_what_is_left_in_their_unit() {
        let katana = Budget {
            provider: Some(ProviderId::Katana),
            window: BudgetWindow::Day,
            limit: Limit::parse("50cr").unwrap(),
        };
        // Since day 2: 10 charged + 6 unknown.
        let v = budget_view(&katana, &ledger(), 2 * DAY);
        assert_eq!(v.setting, "katana.daily_budget");
        assert_eq!(
            (v.used.clone(), v.left.clone()),
            (vec!["16 katana credits".to_owned()], vec!["34 katana credits".to_owned()])
        );
        let all_usd = Budget {
            provider: None,
            window: BudgetWindow::Month,
            limit: Limit::parse("1.00").unwrap(),
        };
        let v = budget_view(&all_usd, &ledger(), 0);
        assert!(v.left.is_empty() && v.problem.is_some(), "{v:?}");
        let katana_usd = Budget { provider: Some(ProviderId::Katana), ..all_usd };
        let v = budget_view(&katana_usd, &ledger(), 0);
        assert_eq!(v.used, ["$0.1560"]);
        assert_eq!(v.left, ["$0.8440"]);
    }
}
