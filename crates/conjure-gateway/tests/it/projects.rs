//! Project membership through the gateway: only a project's members may name it (the
//! `X-Conjure-Project` header) and so spend its budget, on every paid route (Katana's
//! generation requests, chat completions, ImaginePro). A refused request reaches no upstream:
//! every test counts the POSTs the sandbox received, for both providers.

use conjure_gateway::{admin, keys};
use serde_json::{Value, json};

use crate::chat::Wire;

/// Every paid POST the sandbox received, of both providers.
fn upstream_posts(w: &Wire) -> u64 {
    let s = w.sandbox.stats();
    s.submit_posts_received + s.chat_posts_received + s.imaginepro_posts_received
}

/// A request on behalf of `key`, naming `project`: the status and the body.
async fn call(
    w: &Wire,
    method: reqwest::Method,
    path: &str,
    key: &str,
    project: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, w.url(path)).bearer_auth(key);
    if let Some(p) = project {
        request = request.header("X-Conjure-Project", p);
    }
    if let Some(b) = body {
        request = request.json(b);
    }
    let r = request.send().await.expect("send");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// The three paid routes, each with a body it prices within a 100-credit pre-approval; `n`
/// makes the body new (the same request twice within 24 hours is a duplicate).
fn paid_routes(n: u32) -> [(&'static str, Value); 3] {
    [
        (
            "/v1/generation-requests",
            json!({"requests": [{"type": "image", "model": "gpt-image-2",
                "prompt": format!("a fox, take {n}"), "aspect_ratio": "1:1"}]}),
        ),
        (
            "/v1/chat/completions",
            json!({"model": "q-naifu-a3b", "max_tokens": 200,
                "messages": [{"role": "user", "content": format!("hello, take {n}")}]}),
        ),
        ("/api/v1/nova/imagine", json!({"prompt": format!("a lighthouse, take {n}")})),
    ]
}

async fn jobs_in(w: &Wire, project: &str, member: &str) -> i64 {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(&w.db.url).await.expect("connect");
    sqlx::query_scalar("SELECT count(*) FROM jobs WHERE project_id = $1 AND member_id = $2")
        .bind(project)
        .bind(member)
        .fetch_one(&mut conn)
        .await
        .expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_projects_members_spend_its_budget_on_every_paid_route() {
    let w = Wire::start(conjure_test::Faults::default()).await;
    let alice = w.member("alice", Some("100cr"), Some("1000cr")).await;
    let bob = w.member("bob", Some("100cr"), Some("1000cr")).await;
    let admin_key = keys::create(&w.store, None, conjure_app::timefmt::now_ms()).await;
    let admin_key = admin_key.expect("admin key").expose().to_owned();
    let post = reqwest::Method::POST;

    let project = json!({"name": "launch", "members": ["alice"],
        "budgets": [{"window": "daily", "limit": "1000cr"}]});
    let (status, made) =
        call(&w, post.clone(), "/admin/projects", &admin_key, None, Some(&project)).await;
    assert_eq!(status, 201, "{made}");

    // Bob is not a member: refused on every route, with who can add him; nothing upstream.
    for (path, body) in paid_routes(1) {
        let (status, refused) =
            call(&w, post.clone(), path, &bob, Some("launch"), Some(&body)).await;
        assert_eq!(status, 403, "{path}: {refused}");
        let text = refused.to_string();
        assert!(text.contains("not a member of project `launch`"), "{path}: {text}");
        assert!(
            text.contains("conjure serve admin project member add launch bob"),
            "{path}: {text}"
        );
        assert!(text.contains("not_project_member"), "{path}: {text}");
        // An unknown project stays its own clear error.
        let (status, unknown) = call(&w, post.clone(), path, &bob, Some("nope"), Some(&body)).await;
        assert_eq!(status, 400, "{path}: {unknown}");
        assert!(unknown.to_string().contains("No project `nope`"), "{path}: {unknown}");
    }
    assert_eq!(upstream_posts(&w), 0, "a refused request reaches no provider");
    assert_eq!(jobs_in(&w, "launch", "bob").await, 0);

    // Alice is: each route sends once, recorded against the project.
    for (i, (path, body)) in paid_routes(1).into_iter().enumerate() {
        let (status, sent) =
            call(&w, post.clone(), path, &alice, Some("launch"), Some(&body)).await;
        assert_eq!(status, 200, "{path}: {sent}");
        assert_eq!(upstream_posts(&w), i as u64 + 1, "{path}");
    }
    assert_eq!(jobs_in(&w, "launch", "alice").await, 3);

    // The admin adds Bob and removes Alice: the refusals swap.
    let (status, added) = call(
        &w,
        post.clone(),
        "/admin/projects/launch/members",
        &admin_key,
        None,
        Some(&json!({"member": "bob"})),
    )
    .await;
    assert_eq!(status, 200, "{added}");
    let (status, removed) = call(
        &w,
        reqwest::Method::DELETE,
        "/admin/projects/launch/members/alice",
        &admin_key,
        None,
        None,
    )
    .await;
    assert_eq!((status, &removed["removed"]), (200, &json!(true)), "{removed}");
    for (path, body) in paid_routes(2) {
        let (status, sent) = call(&w, post.clone(), path, &bob, Some("launch"), Some(&body)).await;
        assert_eq!(status, 200, "{path}: {sent}");
        let (status, refused) =
            call(&w, post.clone(), path, &alice, Some("launch"), Some(&body)).await;
        assert_eq!(status, 403, "{path}: {refused}");
    }
    assert_eq!(upstream_posts(&w), 6);
    assert_eq!(jobs_in(&w, "launch", "bob").await, 3);
    assert_eq!(jobs_in(&w, "launch", "alice").await, 3, "her earlier jobs stay counted");

    // Usage lists the project with its members; each member with their projects.
    let (status, usage) =
        call(&w, reqwest::Method::GET, "/admin/usage", &admin_key, None, None).await;
    assert_eq!(status, 200, "{usage}");
    assert_eq!(usage["projects"][0]["project"], "launch", "{usage}");
    assert_eq!(usage["projects"][0]["members"], json!(["bob"]), "{usage}");
    let bob_usage = usage["members"].as_array().unwrap().iter().find(|m| m["member"] == "bob");
    assert_eq!(bob_usage.unwrap()["projects"], json!(["launch"]), "{usage}");

    // A member key cannot manage membership; unknown names are clear errors.
    let (status, _) = call(
        &w,
        post.clone(),
        "/admin/projects/launch/members",
        &bob,
        None,
        Some(&json!({"member": "bob"})),
    )
    .await;
    assert_eq!(status, 403);
    for (path, member) in
        [("/admin/projects/nope/members", "bob"), ("/admin/projects/launch/members", "zed")]
    {
        let body = json!({"member": member});
        let (status, answer) = call(&w, post.clone(), path, &admin_key, None, Some(&body)).await;
        assert_eq!(status, 404, "{path} {member}: {answer}");
        assert!(answer["error"]["hint"].is_string(), "{answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_is_managed_by_name_and_an_unknown_member_adds_no_project() {
    let w = Wire::start(conjure_test::Faults::default()).await;
    w.member("ann", None, None).await;
    w.member("ben", None, None).await;
    let ann = conjure_gateway::member::MemberId("ann".into());
    let ben = conjure_gateway::member::MemberId("ben".into());
    let now = conjure_app::timefmt::now_ms();
    // An unknown member adds no project at all.
    let ghost = conjure_gateway::member::MemberId("ghost".into());
    let err = admin::add_project(&w.store, "p1", &[], &[ann.clone(), ghost], now).await;
    assert!(matches!(err, Err(conjure_gateway::PgStoreError::UnknownMember(_))), "{err:?}");
    assert_eq!(
        admin::project_access(&w.store, "p1", &ann).await.unwrap(),
        admin::ProjectAccess::NoProject
    );

    admin::add_project(&w.store, "p1", &[], std::slice::from_ref(&ann), now)
        .await
        .expect("project");
    assert_eq!(
        admin::project_access(&w.store, "p1", &ann).await.unwrap(),
        admin::ProjectAccess::Member
    );
    assert_eq!(
        admin::project_access(&w.store, "p1", &ben).await.unwrap(),
        admin::ProjectAccess::NotMember
    );
    // Adding twice is no change; removing a non-member says so.
    admin::add_project_member(&w.store, "p1", &ann, now).await.expect("again");
    assert!(!admin::remove_project_member(&w.store, "p1", &ben).await.expect("remove"));
    assert!(admin::remove_project_member(&w.store, "p1", &ann).await.expect("remove"));
    assert_eq!(
        admin::project_access(&w.store, "p1", &ann).await.unwrap(),
        admin::ProjectAccess::NotMember
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrading_keeps_the_members_who_already_spent_on_a_project() {
    use sqlx::Connection as _;
    let w = Wire::start(conjure_test::Faults::default()).await;
    let alice = w.member("alice", Some("100cr"), None).await;
    w.member("bob", Some("100cr"), None).await;
    let now = conjure_app::timefmt::now_ms();
    let alice_id = conjure_gateway::member::MemberId("alice".into());
    admin::add_project(&w.store, "launch", &[], std::slice::from_ref(&alice_id), now)
        .await
        .expect("project");
    let (status, sent) = call(
        &w,
        reqwest::Method::POST,
        "/v1/generation-requests",
        &alice,
        Some("launch"),
        Some(&paid_routes(1)[0].1),
    )
    .await;
    assert_eq!(status, 200, "{sent}");

    // Back to the schema before membership (version 4: the later migrations undone), with Alice's job on the project, as a
    // gateway that ran before this change left it; then a new instance starts on it.
    let mut conn = sqlx::PgConnection::connect(&w.db.url).await.expect("connect");
    for sql in [
        "DROP TABLE rate_limits",
        "ALTER TABLE members DROP COLUMN rate_per_minute",
        "DROP TABLE project_members",
        "DROP INDEX pending_quotes_open",
        "ALTER TABLE pending_quotes DROP COLUMN expired_at",
        "DELETE FROM conjure_migrations WHERE version > 4",
    ] {
        sqlx::query(sql).execute(&mut conn).await.expect(sql);
    }
    let upgraded = conjure_gateway::PgStore::connect(&w.db.url).await.expect("upgraded");
    let members: Vec<String> =
        sqlx::query_scalar("SELECT member_id FROM project_members WHERE project_id = 'launch'")
            .fetch_all(&mut conn)
            .await
            .expect("members");
    assert_eq!(members, ["alice"], "who spent on it keeps it; nobody else is added");
    let bob = conjure_gateway::member::MemberId("bob".into());
    assert_eq!(
        admin::project_access(&upgraded, "launch", &bob).await.expect("access"),
        admin::ProjectAccess::NotMember
    );
}
