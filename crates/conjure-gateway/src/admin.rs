//! The gateway's members, projects, budgets and keys: what an admin manages, by the CLI
//! (`conjure serve admin ...`, straight on the database) or by the admin HTTP API (with the
//! admin key). Both call these functions, so they behave the same.
//!
//! Key terms: a *member* is a person or an agent spending through the gateway, named by a
//! short id; a *project* is a budget several members' requests can name, once an admin made
//! them its members (`project_members`; anyone else naming it is refused); a *budget* is a
//! rolling window (daily: 24 h, monthly: 30 days) with a limit in credits or dollars, for a
//! member or a project; the *per-request limit* is what a member's wire client may spend on one
//! request without a person approving its quote. Keys are made and checked in [`crate::keys`].
//! No money decision is made here: budgets are checked in the reservation, by
//! `conjure_core::policy`.

use conjure_core::policy::{self, Budget, BudgetWindow, Limit, Spent};
use conjure_core::{Credits, ProviderId, Usd};
use serde::Serialize;
use sqlx::{PgConnection, Row};

use crate::member::MemberId;
use crate::store::{PgStore, PgStoreError, SpentBy};

/// Whose budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BudgetScope {
    Member,
    Project,
}

impl BudgetScope {
    fn as_str(self) -> &'static str {
        match self {
            BudgetScope::Member => "member",
            BudgetScope::Project => "project",
        }
    }
}

/// A member as the gateway keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub id: MemberId,
    /// What one request may cost without a person approving it; `None`: every request needs one.
    pub per_request: Option<Limit>,
    /// The providers the member may spend with; `None`: every provider.
    pub providers: Option<Vec<ProviderId>>,
    pub budgets: Vec<Budget>,
    pub created_at: i64,
}

/// What `member add` records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewMember {
    pub name: String,
    pub budgets: Vec<Budget>,
    pub providers: Option<Vec<ProviderId>>,
    pub per_request: Option<Limit>,
}

/// Whether `name` can be a member's or a project's id: 1-64 of ASCII letters, digits, `.`,
/// `_` and `-` (it appears in URLs, headers and logs).
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn check_name(what: &'static str, name: &str) -> Result<(), PgStoreError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(PgStoreError::BadName { what, name: name.to_owned() })
    }
}

/// `daily` or `monthly`.
pub fn parse_window(s: &str) -> Option<BudgetWindow> {
    match s.trim().to_ascii_lowercase().as_str() {
        "daily" | "day" => Some(BudgetWindow::Day),
        "monthly" | "month" => Some(BudgetWindow::Month),
        _ => None,
    }
}

fn span(window: BudgetWindow) -> &'static str {
    match window {
        BudgetWindow::Day => "daily",
        BudgetWindow::Month => "monthly",
    }
}

/// A limit as (credit tenths, micro-dollars), one of them set.
fn limit_columns(limit: Option<Limit>) -> (Option<i64>, Option<i64>) {
    match limit {
        Some(Limit::Credits(c)) => (Some(c.tenths()), None),
        Some(Limit::Usd(u)) => (None, Some(u.micros())),
        None => (None, None),
    }
}

fn limit_of(credits_tenths: Option<i64>, usd_micros: Option<i64>) -> Option<Limit> {
    match (credits_tenths, usd_micros) {
        (Some(c), _) => Some(Limit::Credits(Credits::from_tenths(c))),
        (None, Some(u)) => Some(Limit::Usd(Usd::from_micros(u))),
        (None, None) => None,
    }
}

/// Adds a member with its budgets.
pub async fn add_member(
    store: &PgStore,
    new: &NewMember,
    now_ms: i64,
) -> Result<Member, PgStoreError> {
    check_name("member", &new.name)?;
    let mut tx = store.pool().begin().await?;
    let (pr_credits, pr_usd) = limit_columns(new.per_request);
    let providers = new
        .providers
        .as_ref()
        .map(|list| list.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(","));
    let inserted = sqlx::query(
        "INSERT INTO members (id, per_request_credits_tenths, per_request_usd_micros, providers, \
             created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&new.name)
    .bind(pr_credits)
    .bind(pr_usd)
    .bind(providers)
    .bind(now_ms)
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(PgStoreError::NameTaken { what: "member", name: new.name.clone() });
    }
    for b in &new.budgets {
        put_budget(&mut tx, BudgetScope::Member, &new.name, b.window, b.limit).await?;
    }
    tx.commit().await?;
    member(store, &MemberId(new.name.clone()))
        .await?
        .ok_or_else(|| PgStoreError::UnknownMember(new.name.clone()))
}

/// Adds a project with its budgets and its first members (who may name it), in one
/// transaction: an unknown member adds nothing.
pub async fn add_project(
    store: &PgStore,
    name: &str,
    budgets: &[Budget],
    members: &[MemberId],
    now_ms: i64,
) -> Result<(), PgStoreError> {
    check_name("project", name)?;
    let mut tx = store.pool().begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO projects (id, created_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
    )
    .bind(name)
    .bind(now_ms)
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(PgStoreError::NameTaken { what: "project", name: name.to_owned() });
    }
    for b in budgets {
        put_budget(&mut tx, BudgetScope::Project, name, b.window, b.limit).await?;
    }
    for member in members {
        put_project_member(&mut tx, name, member, now_ms).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Lets `member` name `project` (and so spend its budget). Adding a member twice is no change.
pub async fn add_project_member(
    store: &PgStore,
    project: &str,
    member: &MemberId,
    now_ms: i64,
) -> Result<(), PgStoreError> {
    let mut tx = store.pool().begin().await?;
    let found: Option<String> = sqlx::query_scalar("SELECT id FROM projects WHERE id = $1")
        .bind(project)
        .fetch_optional(&mut *tx)
        .await?;
    if found.is_none() {
        return Err(PgStoreError::UnknownProject(project.to_owned()));
    }
    put_project_member(&mut tx, project, member, now_ms).await?;
    tx.commit().await?;
    Ok(())
}

async fn put_project_member(
    conn: &mut PgConnection,
    project: &str,
    member: &MemberId,
    now_ms: i64,
) -> Result<(), PgStoreError> {
    let known: Option<String> = sqlx::query_scalar("SELECT id FROM members WHERE id = $1")
        .bind(member.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    if known.is_none() {
        return Err(PgStoreError::UnknownMember(member.to_string()));
    }
    sqlx::query(
        "INSERT INTO project_members (project_id, member_id, added_at) VALUES ($1, $2, $3) \
         ON CONFLICT (project_id, member_id) DO NOTHING",
    )
    .bind(project)
    .bind(member.as_str())
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(())
}

/// Stops `member` naming `project`; `false` when they were not a member of it. Their jobs
/// already reserved against the project stay counted in its budget.
pub async fn remove_project_member(
    store: &PgStore,
    project: &str,
    member: &MemberId,
) -> Result<bool, PgStoreError> {
    if !project_exists(store, project).await? {
        return Err(PgStoreError::UnknownProject(project.to_owned()));
    }
    let removed =
        sqlx::query("DELETE FROM project_members WHERE project_id = $1 AND member_id = $2")
            .bind(project)
            .bind(member.as_str())
            .execute(store.pool())
            .await?;
    Ok(removed.rows_affected() > 0)
}

/// Whether a member may name a project.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProjectAccess {
    /// The member may spend on it.
    Member,
    /// The project exists; the member is not one of its members.
    NotMember,
    /// There is no such project.
    NoProject,
}

/// What `member` may do with `project`, read in one query.
pub async fn project_access(
    store: &PgStore,
    project: &str,
    member: &MemberId,
) -> Result<ProjectAccess, PgStoreError> {
    let row: Option<bool> = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM project_members m \
                        WHERE m.project_id = p.id AND m.member_id = $2) \
         FROM projects p WHERE p.id = $1",
    )
    .bind(project)
    .bind(member.as_str())
    .fetch_optional(store.pool())
    .await?;
    Ok(match row {
        Some(true) => ProjectAccess::Member,
        Some(false) => ProjectAccess::NotMember,
        None => ProjectAccess::NoProject,
    })
}

/// A project as usage lists it: its members and budgets.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ProjectInfo {
    pub project: String,
    pub members: Vec<String>,
    /// The project's budgets, as `daily: 2000 credits`.
    pub budgets: Vec<String>,
}

/// Every project with its members and budgets, by name.
pub async fn projects(store: &PgStore) -> Result<Vec<ProjectInfo>, PgStoreError> {
    let rows = sqlx::query(
        "SELECT p.id, coalesce(array_agg(m.member_id ORDER BY m.member_id) \
                    FILTER (WHERE m.member_id IS NOT NULL), '{}') \
         FROM projects p LEFT JOIN project_members m ON m.project_id = p.id \
         GROUP BY p.id ORDER BY p.id",
    )
    .fetch_all(store.pool())
    .await?;
    let mut conn = store.pool().acquire().await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let project: String = r.try_get(0)?;
        let budgets = budgets_of(&mut conn, BudgetScope::Project, &project)
            .await?
            .iter()
            .map(|b| format!("{}: {}", span(b.window), b.limit))
            .collect();
        out.push(ProjectInfo { project, members: r.try_get(1)?, budgets });
    }
    Ok(out)
}

/// Sets (or, with `limit` `None`, removes every unit of) a member's or a project's budget for
/// `window`. The owner's row is locked first, as a reservation locks it: a reservation sees
/// the budget wholly before or wholly after the change.
pub async fn set_budget(
    store: &PgStore,
    scope: BudgetScope,
    owner: &str,
    window: BudgetWindow,
    limit: Option<Limit>,
) -> Result<(), PgStoreError> {
    let mut tx = store.pool().begin().await?;
    let lock = match scope {
        BudgetScope::Member => "SELECT id FROM members WHERE id = $1 FOR UPDATE",
        BudgetScope::Project => "SELECT id FROM projects WHERE id = $1 FOR UPDATE",
    };
    let found: Option<String> =
        sqlx::query_scalar(lock).bind(owner).fetch_optional(&mut *tx).await?;
    if found.is_none() {
        return Err(match scope {
            BudgetScope::Member => PgStoreError::UnknownMember(owner.to_owned()),
            BudgetScope::Project => PgStoreError::UnknownProject(owner.to_owned()),
        });
    }
    match limit {
        Some(limit) => put_budget(&mut tx, scope, owner, window, limit).await?,
        None => {
            sqlx::query("DELETE FROM budgets WHERE scope = $1 AND owner_id = $2 AND span = $3")
                .bind(scope.as_str())
                .bind(owner)
                .bind(span(window))
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Sets a member's per-request pre-approval limit (`None`: every request needs approval).
pub async fn set_per_request(
    store: &PgStore,
    member: &MemberId,
    limit: Option<Limit>,
) -> Result<(), PgStoreError> {
    let (credits, usd) = limit_columns(limit);
    let changed = sqlx::query(
        "UPDATE members SET per_request_credits_tenths = $2, per_request_usd_micros = $3 \
         WHERE id = $1",
    )
    .bind(member.as_str())
    .bind(credits)
    .bind(usd)
    .execute(store.pool())
    .await?;
    if changed.rows_affected() == 0 {
        return Err(PgStoreError::UnknownMember(member.to_string()));
    }
    Ok(())
}

async fn put_budget(
    conn: &mut PgConnection,
    scope: BudgetScope,
    owner: &str,
    window: BudgetWindow,
    limit: Limit,
) -> Result<(), PgStoreError> {
    let (unit, amount) = match limit {
        Limit::Credits(c) => ("credits", c.tenths()),
        Limit::Usd(u) => ("usd", u.micros()),
    };
    sqlx::query(
        "INSERT INTO budgets (scope, owner_id, span, unit, amount) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (scope, owner_id, span, unit) DO UPDATE SET amount = excluded.amount",
    )
    .bind(scope.as_str())
    .bind(owner)
    .bind(span(window))
    .bind(unit)
    .bind(amount.max(0))
    .execute(conn)
    .await?;
    Ok(())
}

/// A member's or a project's budgets, for every provider.
pub(crate) async fn budgets_of(
    conn: &mut PgConnection,
    scope: BudgetScope,
    owner: &str,
) -> Result<Vec<Budget>, PgStoreError> {
    let rows = sqlx::query(
        "SELECT span, unit, amount FROM budgets WHERE scope = $1 AND owner_id = $2 \
         ORDER BY span, unit",
    )
    .bind(scope.as_str())
    .bind(owner)
    .fetch_all(conn)
    .await?;
    let mut out = Vec::new();
    for r in rows {
        let span: String = r.try_get(0)?;
        let unit: String = r.try_get(1)?;
        let amount: i64 = r.try_get(2)?;
        let window = parse_window(&span).unwrap_or(BudgetWindow::Day);
        let limit = if unit == "usd" {
            Limit::Usd(Usd::from_micros(amount))
        } else {
            Limit::Credits(Credits::from_tenths(amount))
        };
        out.push(Budget { provider: None, window, limit });
    }
    Ok(out)
}

/// The member `id`, or `None`.
pub async fn member(store: &PgStore, id: &MemberId) -> Result<Option<Member>, PgStoreError> {
    let mut conn = store.pool().acquire().await?;
    let row = sqlx::query(
        "SELECT per_request_credits_tenths, per_request_usd_micros, providers, created_at \
         FROM members WHERE id = $1",
    )
    .bind(id.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let providers: Option<String> = row.try_get(2)?;
    let providers = providers.map(|list| {
        list.split(',').filter(|p| !p.is_empty()).filter_map(|p| p.parse().ok()).collect()
    });
    let budgets = budgets_of(&mut conn, BudgetScope::Member, id.as_str()).await?;
    Ok(Some(Member {
        id: id.clone(),
        per_request: limit_of(row.try_get(0)?, row.try_get(1)?),
        providers,
        budgets,
        created_at: row.try_get(3)?,
    }))
}

/// Whether the project `id` exists.
pub async fn project_exists(store: &PgStore, id: &str) -> Result<bool, PgStoreError> {
    let found: Option<String> = sqlx::query_scalar("SELECT id FROM projects WHERE id = $1")
        .bind(id)
        .fetch_optional(store.pool())
        .await?;
    Ok(found.is_some())
}

/// What one window of a scope's budgets has counted.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct WindowUsage {
    pub window: &'static str,
    /// Credits at risk (see `conjure_core::policy::money_at_risk`), per provider.
    pub credits: std::collections::BTreeMap<String, Credits>,
    pub usd: Usd,
    /// The budgets of this window, as limits (`500 credits`, `$2.00`).
    pub budgets: Vec<String>,
}

/// A member's spending, as `usage` shows it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct MemberUsage {
    pub member: String,
    pub per_request: Option<String>,
    pub providers: Option<Vec<String>>,
    pub windows: Vec<WindowUsage>,
    pub jobs: i64,
    /// Jobs whose outcome is unknown or still being sent, and the credits they may have cost.
    pub exposure_jobs: i64,
    pub exposure_credits: Credits,
    pub keys: Vec<KeyInfo>,
    /// The projects the member may name.
    pub projects: Vec<String>,
}

/// A key as usage lists it: only its visible prefix.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct KeyInfo {
    pub prefix: String,
    pub revoked: bool,
}

/// What one member's jobs count in each window, on `sandbox`'s ledger.
pub async fn window_spent(
    store: &PgStore,
    member: &MemberId,
    sandbox: bool,
    now_ms: i64,
) -> Result<std::collections::BTreeMap<BudgetWindow, Spent>, PgStoreError> {
    let mut conn = store.pool().acquire().await?;
    let mut out = std::collections::BTreeMap::new();
    for window in [BudgetWindow::Day, BudgetWindow::Month] {
        let by = SpentBy::Member(member.as_str());
        out.insert(
            window,
            crate::store::spent_since(&mut conn, window.since(now_ms), sandbox, by).await?,
        );
    }
    Ok(out)
}

/// A member's jobs whose outcome is unknown or still being sent, per provider: how many, and
/// the credits (in that provider's own credits) they may have cost.
pub async fn exposure_by_provider(
    store: &PgStore,
    member: &MemberId,
) -> Result<std::collections::BTreeMap<String, (i64, Credits)>, PgStoreError> {
    let exposure: Vec<&'static str> = conjure_core::JobState::ALL
        .into_iter()
        .filter(|s| policy::is_exposure(*s))
        .map(conjure_core::JobState::as_str)
        .collect();
    let rows = sqlx::query(
        "SELECT provider, count(*), coalesce(sum(quoted_credits_tenths), 0)::BIGINT FROM jobs \
         WHERE member_id = $1 AND state = ANY($2) GROUP BY provider",
    )
    .bind(member.as_str())
    .bind(&exposure)
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, (r.try_get(1)?, Credits::from_tenths(r.try_get(2)?)))))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(PgStoreError::from)
}

/// Every member's (or one member's) spending, keys and exposure.
pub async fn usage(
    store: &PgStore,
    only: Option<&MemberId>,
    sandbox: bool,
    now_ms: i64,
) -> Result<Vec<MemberUsage>, PgStoreError> {
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT id FROM members WHERE $1::TEXT IS NULL OR id = $1 ORDER BY id")
            .bind(only.map(MemberId::as_str))
            .fetch_all(store.pool())
            .await?;
    if let Some(id) = only
        && ids.is_empty()
    {
        return Err(PgStoreError::UnknownMember(id.to_string()));
    }
    let mut out = Vec::new();
    for id in ids {
        let id = MemberId(id);
        let Some(m) = member(store, &id).await? else { continue };
        let spent = window_spent(store, &id, sandbox, now_ms).await?;
        let windows = spent
            .iter()
            .map(|(window, s)| WindowUsage {
                window: span(*window),
                credits: s
                    .by_provider
                    .iter()
                    .map(|(p, ps)| (p.as_str().to_owned(), ps.credits))
                    .collect(),
                usd: s.by_provider.values().fold(Usd::ZERO, |a, ps| a + ps.usd),
                budgets: m
                    .budgets
                    .iter()
                    .filter(|b| b.window == *window)
                    .map(|b| b.limit.to_string())
                    .collect(),
            })
            .collect();
        let exposure: Vec<&'static str> = conjure_core::JobState::ALL
            .into_iter()
            .filter(|s| policy::is_exposure(*s))
            .map(conjure_core::JobState::as_str)
            .collect();
        let row = sqlx::query(
            "SELECT count(*), count(*) FILTER (WHERE state = ANY($2)), \
                    coalesce(sum(quoted_credits_tenths) FILTER (WHERE state = ANY($2)), 0)::BIGINT \
             FROM jobs WHERE member_id = $1",
        )
        .bind(id.as_str())
        .bind(&exposure)
        .fetch_one(store.pool())
        .await?;
        let keys = sqlx::query(
            "SELECT prefix, revoked_at IS NOT NULL FROM api_keys WHERE member_id = $1 \
             ORDER BY created_at, prefix",
        )
        .bind(id.as_str())
        .fetch_all(store.pool())
        .await?
        .iter()
        .map(|r| Ok(KeyInfo { prefix: r.try_get(0)?, revoked: r.try_get(1)? }))
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let projects: Vec<String> = sqlx::query_scalar(
            "SELECT project_id FROM project_members WHERE member_id = $1 ORDER BY project_id",
        )
        .bind(id.as_str())
        .fetch_all(store.pool())
        .await?;
        out.push(MemberUsage {
            member: id.to_string(),
            per_request: m.per_request.map(|l| l.to_string()),
            providers: m
                .providers
                .as_ref()
                .map(|list| list.iter().map(|p| p.as_str().to_owned()).collect()),
            windows,
            jobs: row.try_get(0)?,
            exposure_jobs: row.try_get(1)?,
            exposure_credits: Credits::from_tenths(row.try_get(2)?),
            keys,
            projects,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_and_plain() {
        for ok in ["alice", "ci-bot_2", "team.a", &"x".repeat(64)] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "a b", "ä", "a/b", &"x".repeat(65), "a:b"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn windows_parse_and_limits_round_trip_through_columns() {
        assert_eq!(parse_window("Daily"), Some(BudgetWindow::Day));
        assert_eq!(parse_window("monthly"), Some(BudgetWindow::Month));
        assert_eq!(parse_window("weekly"), None);
        for limit in ["120cr", "$2.50"] {
            let limit = Limit::parse(limit);
            let (c, u) = limit_columns(limit);
            assert_eq!(limit_of(c, u), limit);
        }
        assert_eq!(limit_of(None, None), None);
    }
}
