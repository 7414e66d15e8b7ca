//! `GET /metrics` on a real socket over a real database: the exposition parses back line by
//! line (every sample in a family declared by HELP and TYPE first, label values unescaped to
//! what was observed), and the numbers are the store's and the counters'.

use std::collections::BTreeMap;
use std::sync::Arc;

use conjure_gateway::PgStore;
use conjure_gateway::metrics::{self, Metrics, WebhookAttempt};
use sqlx::postgres::PgPoolOptions;
use tokio::net::TcpListener;

use conjure_test::pg::fresh_database;

/// One sample, parsed.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: String,
}

/// Parses the text exposition format strictly enough to catch what Prometheus would reject:
/// a sample before its family's TYPE, a family declared twice, a HELP or TYPE line without
/// its parts, an unknown type, a badly escaped label value, a value that is not a number.
fn parse(text: &str) -> Vec<Sample> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut helped: Vec<String> = Vec::new();
    let mut samples = Vec::new();
    assert!(text.ends_with('\n'), "the exposition ends with a line feed");
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP name text");
            assert!(!help.is_empty(), "{line}");
            assert!(!helped.contains(&name.to_owned()), "HELP twice: {line}");
            helped.push(name.to_owned());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name type");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            assert!(helped.last().is_some_and(|h| h == name), "HELP then TYPE: {line}");
            assert!(types.insert(name.to_owned(), kind.to_owned()).is_none(), "TYPE twice: {line}");
            continue;
        }
        assert!(!line.starts_with('#') && !line.is_empty(), "unexpected line: {line:?}");
        let sample = parse_sample(line);
        let family =
            family_of(&sample.name, &types).unwrap_or_else(|| panic!("no TYPE before {line}"));
        if types[family] == "counter" {
            assert!(sample.name.ends_with("_total"), "{line}");
        }
        samples.push(sample);
    }
    samples
}

fn family_of<'a>(name: &str, types: &'a BTreeMap<String, String>) -> Option<&'a str> {
    if let Some((family, _)) = types.get_key_value(name) {
        return Some(family);
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
        let base = name.strip_suffix(suffix)?;
        types.get_key_value(base).filter(|(_, t)| *t == "histogram").map(|(f, _)| f.as_str())
    })
}

fn parse_sample(line: &str) -> Sample {
    let name_end = line.find(['{', ' ']).expect("a name");
    let name = &line[..name_end];
    assert!(
        name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
        "metric name {name:?}"
    );
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(after) = rest.strip_prefix('{') {
        let mut chars = after.char_indices().peekable();
        let end;
        loop {
            // label name
            let start = chars.peek().map(|(i, _)| *i).expect("a label");
            let mut key_end = start;
            for (i, c) in chars.by_ref() {
                if c == '=' {
                    key_end = i;
                    break;
                }
                assert!(c.is_ascii_alphanumeric() || c == '_', "label name in {line}");
            }
            let key = &after[start..key_end];
            assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line}");
            let mut value = String::new();
            loop {
                match chars.next().expect("a closing quote").1 {
                    '\\' => match chars.next().expect("an escape").1 {
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        'n' => value.push('\n'),
                        other => panic!("bad escape \\{other} in {line}"),
                    },
                    '"' => break,
                    '\n' => panic!("raw line feed in {line}"),
                    c => value.push(c),
                }
            }
            assert!(labels.insert(key.to_owned(), value).is_none(), "label twice in {line}");
            match chars.next().expect("`,` or `}`") {
                (_, ',') => {}
                (i, '}') => {
                    end = i;
                    break;
                }
                (_, c) => panic!("unexpected {c:?} in {line}"),
            }
        }
        rest = &after[end + 1..];
    }
    let value = rest.strip_prefix(' ').expect("a space before the value");
    assert!(
        value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value),
        "value {value:?} in {line}"
    );
    Sample { name: name.to_owned(), labels, value: value.to_owned() }
}

fn find<'a>(samples: &'a [Sample], name: &str, labels: &[(&str, &str)]) -> Option<&'a str> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && s.labels.len() == labels.len()
                && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value.as_str())
}

/// A job row with just what the gauges read.
async fn job(
    pool: &sqlx::PgPool,
    id: &str,
    provider: &str,
    state: &str,
    spent_tenths: Option<i64>,
    usd_micros: Option<i64>,
    sandbox: bool,
) {
    sqlx::query(
        "INSERT INTO jobs (id, provider, kind, model, prompt, state, fingerprint, spec_json, \
             wire_json, quote_json, quoted_credits_tenths, credits_spent_tenths, \
             usd_per_credit_micros, created_at, updated_at, sandbox) \
         VALUES ($1, $2, 'image', 'm', 'p', $3, 'f', '{}', '{}', '{}', 10, $4, $5, 0, 0, $6)",
    )
    .bind(id)
    .bind(provider)
    .bind(state)
    .bind(spent_tenths)
    .bind(usd_micros)
    .bind(sandbox)
    .execute(pool)
    .await
    .expect("insert a job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exposition_parses_and_reports_the_store_and_the_counters() {
    let db = fresh_database().await;
    PgStore::connect(&db.url).await.expect("connect").close().await;
    let pool = PgPoolOptions::new().max_connections(4).connect(&db.url).await.unwrap();
    job(&pool, "j_1", "katana", "completed", Some(25), Some(10_000), false).await;
    job(&pool, "j_2", "katana", "completed", Some(15), Some(10_000), false).await;
    job(&pool, "j_3", "katana", "failed", None, Some(10_000), false).await;
    job(&pool, "j_4", "imaginepro", "unknown", None, None, false).await;
    job(&pool, "j_5", "katana", "completed", Some(100), None, true).await;

    let m = Arc::new(Metrics::new());
    m.observe_reservation(true);
    m.observe_reservation(false);
    m.observe_reservation(false);
    m.observe_provider("katana", 0.2);
    m.observe_provider("katana", 3.0);
    // A label value that needs every escape.
    let odd = "we\"ird\\name\nx";
    m.observe_provider(odd, 0.01);
    m.observe_webhook_attempt(WebhookAttempt::Delivered);
    m.observe_webhook_attempt(WebhookAttempt::TransportError);
    m.webhook_deliveries_failed(1);

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, metrics::router(pool, m)).await });
    let response = reqwest::get(format!("http://{addr}/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], metrics::CONTENT_TYPE);
    let text = response.text().await.unwrap();
    let samples = parse(&text);

    let get = |name: &str, labels: &[(&str, &str)]| {
        find(&samples, name, labels)
            .unwrap_or_else(|| panic!("no {name} {labels:?} in\n{text}"))
            .to_owned()
    };
    assert_eq!(get("conjure_database_up", &[]), "1");
    assert_eq!(
        get("conjure_jobs", &[("provider", "katana"), ("state", "completed"), ("ledger", "real")]),
        "2"
    );
    assert_eq!(
        get(
            "conjure_jobs",
            &[("provider", "katana"), ("state", "completed"), ("ledger", "sandbox")]
        ),
        "1"
    );
    assert_eq!(
        get(
            "conjure_jobs",
            &[("provider", "imaginepro"), ("state", "unknown"), ("ledger", "real")]
        ),
        "1"
    );
    assert_eq!(get("conjure_spent_credits", &[("provider", "katana"), ("ledger", "real")]), "4");
    // 4 credits at $0.01 each.
    assert_eq!(get("conjure_spent_usd", &[("provider", "katana"), ("ledger", "real")]), "0.04");
    assert_eq!(
        get("conjure_spent_credits", &[("provider", "katana"), ("ledger", "sandbox")]),
        "10"
    );
    // The unknown job's quote (one credit) may have been charged.
    assert_eq!(
        get("conjure_exposure_credits", &[("provider", "imaginepro"), ("ledger", "real")]),
        "1"
    );
    assert!(
        find(&samples, "conjure_exposure_credits", &[("provider", "katana"), ("ledger", "real")])
            .is_none()
    );
    assert_eq!(get("conjure_reservations_total", &[("outcome", "accepted")]), "1");
    assert_eq!(get("conjure_reservations_total", &[("outcome", "refused")]), "2");
    let h = "conjure_provider_request_duration_seconds";
    assert_eq!(get(&format!("{h}_bucket"), &[("provider", "katana"), ("le", "0.25")]), "1");
    assert_eq!(get(&format!("{h}_bucket"), &[("provider", "katana"), ("le", "5")]), "2");
    assert_eq!(get(&format!("{h}_bucket"), &[("provider", "katana"), ("le", "+Inf")]), "2");
    assert_eq!(get(&format!("{h}_count"), &[("provider", "katana")]), "2");
    assert_eq!(get(&format!("{h}_sum"), &[("provider", "katana")]), "3.2");
    // The odd provider name came back through the escaping unchanged.
    assert_eq!(get(&format!("{h}_count"), &[("provider", odd)]), "1");
    assert_eq!(get("conjure_webhook_attempts_total", &[("outcome", "delivered")]), "1");
    assert_eq!(get("conjure_webhook_attempts_total", &[("outcome", "transport_error")]), "1");
    assert_eq!(get("conjure_webhook_delivery_failures_total", &[]), "1");
    // Without the webhook tables (this database has only the job store's), their gauge is
    // left out rather than failing the scrape.
    assert!(find(&samples, "conjure_webhook_deliveries", &[("status", "pending")]).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_without_the_database_still_reports_the_counters() {
    let db = fresh_database().await;
    PgStore::connect(&db.url).await.expect("connect").close().await;
    let pool = PgPoolOptions::new().max_connections(1).connect(&db.url).await.unwrap();
    pool.close().await;
    let m = Arc::new(Metrics::new());
    m.observe_reservation(true);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, metrics::router(pool, m)).await });
    let text = reqwest::get(format!("http://{addr}/metrics")).await.unwrap().text().await.unwrap();
    let samples = parse(&text);
    assert_eq!(find(&samples, "conjure_database_up", &[]), Some("0"));
    assert_eq!(find(&samples, "conjure_reservations_total", &[("outcome", "accepted")]), Some("1"));
    assert!(!text.contains(&db.name), "no database name in the exposition");
}
