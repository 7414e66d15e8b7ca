//! How long one paid command's money decision takes as the journal grows.
//!
//! Fills a journal with N jobs created in the last hour (the worst case for a daily budget: all
//! of them count), each carrying a 64 KB inline input as jobs sent with a local file stored
//! before files became references, then times `reserve` with a daily budget and the duplicate
//! check on:
//! the token lookup, the duplicate lookup, the budget sum and the insert in one transaction.
//! For comparison it times what the budget cost before `reserve` existed: reading and parsing
//! every job of the journal. Run in release:
//!
//! `cargo run --release -p conjure-journal --example reserve_bench [N...]`

#![allow(clippy::unwrap_used, clippy::print_stdout, reason = "a benchmark that prints")]

use std::time::{Duration, Instant};

use conjure_core::approval::{Consent, Order, approve};
use conjure_core::policy::{Budget, BudgetWindow, Limit, SpendRules};
use conjure_core::spec::{ImageFormat, ImageItem, Item, JobSpec, MediaInput};
use conjure_core::{
    Catalogue, CreditPrice, JobFilter, JobStore as _, ProviderId, Quote, WireRequest,
};
use conjure_journal::Journal;

fn order(prompt: &str, inline: &str) -> Order {
    let spec = JobSpec {
        provider: ProviderId::Katana,
        hooks: conjure_core::spec::Hooks::default(),
        items: vec![Item::Image(ImageItem {
            model: "gpt-image-2".into(),
            prompt: prompt.into(),
            aspect_ratio: "1:1".into(),
            format: ImageFormat::Png,
            inputs: vec![MediaInput::Data {
                source: "sketch.png".into(),
                mime: "image/png".into(),
                base64: inline.to_owned(),
                sha256: "00".repeat(32),
            }],
            negative_prompt: None,
            fast: false,
            uhd: false,
        })],
    };
    let quote =
        Quote::compute(&spec, Catalogue::bundled(), Some(CreditPrice::KATANA_REFERENCE)).unwrap();
    let wire = WireRequest::new(
        "POST",
        "/v1/generation-requests?wait=false",
        serde_json::json!({"inline": inline}),
    );
    Order::new(spec, wire, quote, None, None).unwrap()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![0, 1_000, 10_000] } else { sizes };
    let inline = "A".repeat(64 * 1024);
    let now = 1_790_000_000_000_i64;
    let fill = SpendRules { again: true, ..SpendRules::default() };
    let checked = SpendRules {
        budgets: vec![Budget {
            provider: None,
            window: BudgetWindow::Day,
            limit: Limit::parse("1000000cr").expect("limit"),
        }],
        ..SpendRules::default()
    };
    println!(
        "| jobs in journal | reserve (median of 50) | old budget scan (parse every job) | journal size |"
    );
    println!("|---:|---:|---:|---:|");
    for n in sizes {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.sqlite3");
        let journal = Journal::open(&path).unwrap();
        for i in 0..n {
            let a = approve(order(&format!("filler {i}"), &inline), Some(Consent::Yes)).unwrap();
            journal.reserve(&a, "bench", &fill, now - 3_600_000).await.unwrap();
        }
        let mut times = Vec::new();
        for i in 0..50 {
            let a = approve(order(&format!("timed {i}"), &inline), Some(Consent::Yes)).unwrap();
            let t = Instant::now();
            journal.reserve(&a, "bench", &checked, now).await.unwrap();
            times.push(t.elapsed());
        }
        let t = Instant::now();
        let all = journal.list(JobFilter::All, usize::MAX).await.unwrap();
        let scan = t.elapsed();
        let size = std::fs::metadata(&path).map_or(0, |m| m.len())
            + std::fs::metadata(path.with_extension("sqlite3-wal")).map_or(0, |m| m.len());
        println!(
            "| {n} | {:.2} ms | {:.0} ms ({} jobs) | {:.0} MB |",
            median(times).as_secs_f64() * 1e3,
            scan.as_secs_f64() * 1e3,
            all.len(),
            size as f64 / 1e6
        );
    }
}
