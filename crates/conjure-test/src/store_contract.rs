//! The `JobStore` contract suite: what every store implementation must do, as tests any
//! implementation runs (the SQLite journal today, a Postgres store later).
//!
//! Each case is an `async fn(store, other)` where `other` is a second handle on the same
//! storage (another connection, standing in for another conjure process). An implementation
//! runs them all with [`crate::store_contract_suite!`], which makes one `#[tokio::test]` per
//! case, so a case added here runs everywhere. Times are passed to `reserve` explicitly
//! ([`NOW`]), so window rules are tested without waiting.

use conjure_core::approval::{Approved, Consent, Order, approve};
use conjure_core::job::JobState;
use conjure_core::money::{CreditPrice, Credits, Usd};
use conjure_core::policy::{Budget, BudgetWindow, Limit, SpendRefusal, SpendRules};
use conjure_core::spec::{FileRef, ImageFormat, ImageItem, Item, JobSpec, MediaInput};
use conjure_core::store::{Answer, JobFilter, JobStore, OutputRecord, ReserveError, StoreError};
use conjure_core::{Catalogue, JobId, JobRecord, ProviderId, Quote, WireRequest};
use serde_json::json;

/// The reserving process in these cases.
pub const OWNER: &str = "owner-under-test";
/// A fixed "now" (2026-09-21) for `reserve`.
pub const NOW: i64 = 1_790_000_000_000;
const HOUR: i64 = 3_600_000;

/// Makes one `#[tokio::test]` per contract case. `$open` is evaluated in each test and yields
/// `(guard, store, other)`: something to keep alive (a temp dir), and two handles on one fresh,
/// empty storage.
#[macro_export]
macro_rules! store_contract_suite {
    ($open:expr) => {
        $crate::store_contract_suite!(@cases $open;
            reserve_records_the_intent,
            a_token_is_single_use,
            the_same_request_is_refused_inside_the_window,
            a_request_refused_before_acceptance_is_no_duplicate,
            a_retry_is_not_its_own_duplicate_but_a_second_retry_is,
            the_budget_counts_every_job_that_may_have_cost,
            charges_above_the_quote_count_in_the_budget,
            a_dollar_budget_needs_dollar_prices,
            the_budget_window_is_rolling,
            a_settled_charge_replaces_the_quote,
            monthly_and_per_provider_budgets,
            the_ledger_lists_real_jobs_with_their_money,
            a_batch_line_is_sent_once_whatever_again_says,
            transitions_follow_the_state_machine,
            request_ids_are_set_once,
            an_answer_is_recorded_whole_or_not_at_all,
            snapshots_keep_the_last_reported_charge,
            outputs_and_delivery_are_recorded,
            ids_resolve_from_prefixes_and_request_ids,
            children_are_found_by_their_parent,
            listing_is_newest_first_and_can_show_what_is_outstanding,
            totals_report_charges_and_exposure,
            in_flight_lists_the_jobs_being_sent,
            missing_jobs_are_not_found,
            concurrent_reserves_never_overspend,
            concurrent_duplicates_are_recorded_once,
            sandbox_jobs_are_a_ledger_of_their_own,
            preview_reads_the_facts_without_recording,
            batches_are_journalled_once_and_found_by_prefix,
        );
    };
    (@cases $open:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (_guard, store, other) = $open;
                $crate::store_contract::$case(&store, &other).await;
            }
        )*
    };
}

/// A Katana image request (14 credits) with a URL, a local file and inline data as inputs.
pub fn spec(prompt: &str) -> JobSpec {
    JobSpec {
        provider: ProviderId::Katana,
        hooks: conjure_core::spec::Hooks::default(),
        items: vec![Item::Image(ImageItem {
            model: "gpt-image-2".into(),
            prompt: prompt.into(),
            aspect_ratio: "16:9".into(),
            format: ImageFormat::Webp,
            inputs: vec![
                MediaInput::Url { url: "https://example.com/ref/fox.jpg".into() },
                MediaInput::File(FileRef {
                    path: "/home/u/sketch é.png".into(),
                    mime: "image/png".into(),
                    sha256: "4f0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"
                        .into(),
                    bytes: 68,
                }),
                MediaInput::Data {
                    source: "--ref data URL".into(),
                    mime: "image/png".into(),
                    base64: "iVBORw0KGgo=".into(),
                    sha256: "00".repeat(32),
                },
            ],
            negative_prompt: Some("blurry, \"watermark\"".into()),
            fast: false,
            uhd: false,
        })],
    }
}

/// An order for [`spec`], priced at `price` (no dollar price when `None`).
pub fn order_at(prompt: &str, price: Option<CreditPrice>, retry_of: Option<JobId>) -> Order {
    let spec = spec(prompt);
    let quote = Quote::compute(&spec, Catalogue::bundled(), price).expect("quotable");
    let mut wire = WireRequest::new(
        "POST",
        "/v1/generation-requests?wait=false",
        json!({"requests": [{"model": "gpt-image-2", "prompt": prompt, "strength": 0.1 + 0.2,
            "image_urls": spec.items[0].inputs().iter().map(|(_, m)| m.wire_value()).collect::<Vec<_>>()}]}),
    );
    wire.files = spec.file_refs();
    Order::new(spec, wire, quote, retry_of, None).expect("random bytes")
}

pub fn order(prompt: &str) -> Order {
    order_at(prompt, Some(CreditPrice::KATANA_REFERENCE), None)
}

pub fn yes(order: Order) -> Approved {
    approve(order, Some(Consent::Yes)).expect("approved")
}

fn by_token(order: Order) -> Approved {
    let token = order.quote.token.clone();
    approve(order, Some(Consent::Token(token))).expect("approved")
}

fn rules() -> SpendRules {
    SpendRules::default()
}

fn budget(limit: &str) -> SpendRules {
    windowed(limit, BudgetWindow::Day, None)
}

fn windowed(limit: &str, window: BudgetWindow, provider: Option<ProviderId>) -> SpendRules {
    let limit = Limit::parse(limit).expect("limit");
    SpendRules { budgets: vec![Budget { provider, window, limit }], ..SpendRules::default() }
}

async fn reserve<S: JobStore>(store: &S, approved: &Approved, rules: &SpendRules) -> JobRecord {
    store.reserve(approved, OWNER, rules, NOW).await.expect("reserved")
}

async fn refusal<S: JobStore>(
    store: &S,
    approved: &Approved,
    rules: &SpendRules,
    now: i64,
) -> SpendRefusal {
    match store.reserve(approved, OWNER, rules, now).await {
        Err(ReserveError::Refused(r)) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Walks a job through `states`.
async fn walk<S: JobStore>(store: &S, id: &JobId, states: &[JobState]) {
    for &to in states {
        store.transition(id, to, None).await.expect("legal transition");
    }
}

fn output(index: usize, path: &str) -> OutputRecord {
    OutputRecord {
        index,
        path: path.into(),
        url: "https://cdn.example.com/y.webp".into(),
        mime: "image/webp".into(),
        width: Some(1792),
        height: Some(1024),
        duration_seconds: Some(5.041_666),
        sha256: "ab".repeat(32),
        bytes: 123_456,
        expires_at: Some("2026-07-01T00:00:00Z".into()),
    }
}

pub async fn reserve_records_the_intent<S: JobStore>(store: &S, other: &S) {
    let mut o = order("a red fox in snow");
    o.deliver_to = Some(r#"{"destination":{"file":"/home/u/fox é.png"},"force":false}"#.into());
    let deliver_to = o.deliver_to.clone();
    let (spec, wire) = (o.spec.clone(), o.wire.clone());
    let job = reserve(store, &yes(o), &rules()).await;
    assert!(JobId::parse(job.id.as_str()).is_some(), "{}", job.id);
    assert_eq!(job.state, JobState::Submitting, "reserved and about to be sent, in one commit");
    assert_eq!(job.provider, ProviderId::Katana);
    assert_eq!(job.model, "gpt-image-2");
    assert_eq!(job.prompt, "a red fox in snow");
    assert_eq!(job.fingerprint, spec.fingerprint());
    assert_eq!(job.spec, spec);
    assert_eq!(job.wire, wire, "the wire request, file references and float included");
    assert_eq!(job.quoted_credits, Credits::whole(14));
    assert_eq!(job.quoted_usd, Some(Usd::from_micros(72_800)));
    assert_eq!(job.owner.as_deref(), Some(OWNER));
    assert_eq!(job.created_at, NOW);
    assert_eq!((job.request_id, job.credits_spent, job.error), (None, None, None));
    assert!(job.outputs.is_empty() && job.delivered_at.is_none());
    assert_eq!(job.deliver_to, deliver_to);
    assert!(!job.sandbox);
    // Committed: another handle sees it, the same as this one.
    let seen = other.get(&job.id).await.expect("visible to another handle");
    assert_eq!(
        serde_json::to_value(&seen).ok(),
        serde_json::to_value(store.get(&job.id).await.ok()).ok()
    );
    assert_eq!(seen.spec.fingerprint(), job.fingerprint, "same bytes back, same fingerprint");
    let events = store.events(&job.id).await.expect("events");
    let trail: Vec<_> = events.iter().map(|e| (e.from, e.to, e.at)).collect();
    assert_eq!(
        trail,
        [(None, JobState::Quoted, NOW), (Some(JobState::Quoted), JobState::Submitting, NOW)]
    );
}

pub async fn a_token_is_single_use<S: JobStore>(store: &S, other: &S) {
    let o = order("one token, one send");
    let token = o.quote.token.clone();
    let first = reserve(store, &by_token(o.clone()), &rules()).await;
    // Even with --again, and from another process, the token is spent.
    let again = SpendRules { again: true, ..rules() };
    let r = refusal(other, &by_token(o.clone()), &again, NOW).await;
    assert_eq!(r, SpendRefusal::TokenUsed { job: first.id.clone() }, "{token}");
    // A new quote of the same request has a new token, which works with --again.
    let requoted = order("one token, one send");
    assert!(store.reserve(&by_token(requoted), OWNER, &again, NOW).await.is_ok());
    assert_eq!(store.list(JobFilter::All, 10).await.expect("list").len(), 2);
}

pub async fn the_same_request_is_refused_inside_the_window<S: JobStore>(store: &S, other: &S) {
    let first = reserve(store, &yes(order("the same request")), &rules()).await;
    store.set_request_id(&first.id, "req_1").await.expect("request id");
    walk(store, &first.id, &[JobState::Submitted, JobState::Completed]).await;
    let r = refusal(other, &yes(order("the same request")), &rules(), NOW + HOUR).await;
    assert_eq!(
        r,
        SpendRefusal::Duplicate {
            earlier: first.id.clone(),
            state: JobState::Completed,
            minutes_ago: 60
        }
    );
    assert!(r.hint().contains("--again"));
    // Another request is not a duplicate; --again sends it anyway; after 24 h it is new again.
    assert!(store.reserve(&yes(order("another request")), OWNER, &rules(), NOW).await.is_ok());
    let again = SpendRules { again: true, ..rules() };
    assert!(store.reserve(&yes(order("the same request")), OWNER, &again, NOW).await.is_ok());
    let later = NOW + 49 * HOUR;
    assert!(store.reserve(&yes(order("the same request")), OWNER, &rules(), later).await.is_ok());
}

pub async fn a_request_refused_before_acceptance_is_no_duplicate<S: JobStore>(
    store: &S,
    _other: &S,
) {
    let first = reserve(store, &yes(order("refused at the door")), &rules()).await;
    walk(store, &first.id, &[JobState::Rejected]).await;
    let second = reserve(store, &yes(order("refused at the door")), &rules()).await;
    // A reservation in flight blocks a second one: the first is about to be sent.
    let r = refusal(store, &yes(order("refused at the door")), &rules(), NOW).await;
    assert!(
        matches!(r, SpendRefusal::Duplicate { ref earlier, state: JobState::Submitting, .. } if *earlier == second.id),
        "{r:?}"
    );
    // A reservation whose process died before sending is released as failed: no duplicate.
    walk(store, &second.id, &[JobState::Failed]).await;
    assert!(store.reserve(&yes(order("refused at the door")), OWNER, &rules(), NOW).await.is_ok());
}

pub async fn a_retry_is_not_its_own_duplicate_but_a_second_retry_is<S: JobStore>(
    store: &S,
    other: &S,
) {
    let first = reserve(store, &yes(order("maybe charged")), &rules()).await;
    walk(store, &first.id, &[JobState::Unknown]).await;
    let retry =
        order_at("maybe charged", Some(CreditPrice::KATANA_REFERENCE), Some(first.id.clone()));
    let second = reserve(store, &yes(retry), &rules()).await;
    assert_eq!(second.retry_of.as_ref(), Some(&first.id));
    let retry =
        order_at("maybe charged", Some(CreditPrice::KATANA_REFERENCE), Some(first.id.clone()));
    let r = refusal(other, &yes(retry), &rules(), NOW).await;
    assert!(
        matches!(r, SpendRefusal::Duplicate { ref earlier, .. } if *earlier == second.id),
        "{r:?}"
    );
}

pub async fn the_budget_counts_every_job_that_may_have_cost<S: JobStore>(store: &S, other: &S) {
    let rules = budget("30cr");
    let a = reserve(store, &yes(order("a")), &rules).await;
    let b = reserve(other, &yes(order("b")), &rules).await;
    // 14 + 14 reserved: a third 14 would make 42.
    let r = refusal(store, &yes(order("c")), &rules, NOW).await;
    assert!(matches!(r, SpendRefusal::OverBudget { .. }), "{r:?}");
    // Still being sent, or unknown: still counted.
    walk(store, &b.id, &[JobState::Unknown]).await;
    assert!(matches!(
        refusal(store, &yes(order("c")), &rules, NOW).await,
        SpendRefusal::OverBudget { .. }
    ));
    // Refused before acceptance costs nothing: room for one more.
    walk(store, &a.id, &[JobState::Rejected]).await;
    assert!(store.reserve(&yes(order("c")), OWNER, &rules, NOW).await.is_ok());
    let spent = store.spent_since(NOW - HOUR).await.expect("spent");
    assert_eq!(spent.provider(ProviderId::Katana).credits, Credits::whole(28));
}

pub async fn charges_above_the_quote_count_in_the_budget<S: JobStore>(store: &S, _other: &S) {
    let rules = budget("30cr");
    let a = reserve(store, &yes(order("overcharged")), &rules).await;
    store.set_request_id(&a.id, "req_over").await.expect("request id");
    store.record_snapshot(&a.id, &json!({}), Some(Credits::whole(20))).await.expect("snapshot");
    walk(store, &a.id, &[JobState::Submitted, JobState::Completed]).await;
    let spent = store.spent_since(NOW - HOUR).await.expect("spent").provider(ProviderId::Katana);
    assert_eq!(spent.credits, Credits::whole(20));
    // Dollars follow the charge at the job's own price: 20 x $0.0052.
    assert_eq!(spent.usd, Usd::from_micros(104_000));
    assert!(matches!(
        refusal(store, &yes(order("next")), &rules, NOW).await,
        SpendRefusal::OverBudget { .. }
    ));
    assert!(store.reserve(&yes(order("next")), OWNER, &budget("34cr"), NOW).await.is_ok());
}

pub async fn a_dollar_budget_needs_dollar_prices<S: JobStore>(store: &S, _other: &S) {
    let unpriced = order_at("no price", None, None);
    let r = refusal(store, &yes(unpriced), &budget("5.00"), NOW).await;
    assert!(matches!(r, SpendRefusal::NoDollarPrice { .. }), "{r:?}");
    // In credits it works, and that unpriced job then makes dollar budgets uncheckable.
    reserve(store, &yes(order_at("no price", None, None)), &budget("100cr")).await;
    let r = refusal(store, &yes(order("priced")), &budget("5.00"), NOW).await;
    assert!(matches!(r, SpendRefusal::NoDollarPrice { .. }), "{r:?}");
    assert_eq!(
        store.spent_since(0).await.expect("spent").provider(ProviderId::Katana).unpriced_jobs,
        1
    );
}

pub async fn a_settled_charge_replaces_the_quote<S: JobStore>(store: &S, _other: &S) {
    // A reserve (14) settled to a smaller charge (4), like a text answer shorter than its ceiling.
    let rules = budget("30cr");
    let a = reserve(store, &yes(order("settles low")), &rules).await;
    store.set_request_id(&a.id, "req_low").await.expect("request id");
    store.record_snapshot(&a.id, &json!({}), Some(Credits::whole(4))).await.expect("snapshot");
    walk(store, &a.id, &[JobState::Submitted]).await;
    // Not settled yet: the quote still counts.
    let spent = store.spent_since(NOW - HOUR).await.expect("spent").provider(ProviderId::Katana);
    assert_eq!(spent.credits, Credits::whole(14));
    walk(store, &a.id, &[JobState::Completed]).await;
    let spent = store.spent_since(NOW - HOUR).await.expect("spent").provider(ProviderId::Katana);
    assert_eq!(spent.credits, Credits::whole(4));
    assert_eq!(spent.usd, Usd::from_micros(20_800));
    // 4 + 14 + 14 = 32 > 30, but 4 + 14 = 18 leaves room for one.
    reserve(store, &yes(order("second")), &rules).await;
    assert!(matches!(
        refusal(store, &yes(order("third")), &rules, NOW).await,
        SpendRefusal::OverBudget { .. }
    ));
}

pub async fn monthly_and_per_provider_budgets<S: JobStore>(store: &S, other: &S) {
    let old = NOW - 10 * 24 * HOUR;
    store.reserve(&yes(order("last week")), OWNER, &rules(), old).await.expect("reserved");
    let month = windowed("20cr", BudgetWindow::Month, Some(ProviderId::Katana));
    // The daily window does not see it; the monthly one does, from either process.
    assert!(store.reserve(&yes(order("today")), OWNER, &budget("14cr"), NOW).await.is_ok());
    let r = refusal(other, &yes(order("one more")), &month, NOW).await;
    assert!(matches!(r, SpendRefusal::OverBudget { .. }), "{r:?}");
    assert!(r.to_string().contains("30 days"), "{r}");
    // A budget for another provider does not count these.
    let theirs = windowed("1cr", BudgetWindow::Month, Some(ProviderId::ImaginePro));
    assert!(other.reserve(&yes(order("one more")), OWNER, &theirs, NOW).await.is_ok());
}

pub async fn the_ledger_lists_real_jobs_with_their_money<S: JobStore>(store: &S, _other: &S) {
    let old = reserve(store, &yes(order("old")), &rules()).await;
    let a = store.reserve(&yes(order("a")), OWNER, &rules(), NOW + 1).await.expect("a");
    store.set_request_id(&a.id, "req_a").await.expect("request id");
    store.record_snapshot(&a.id, &json!({}), Some(Credits::whole(12))).await.expect("snapshot");
    walk(store, &a.id, &[JobState::Submitted, JobState::Completed]).await;
    let sandbox = SpendRules { sandbox: true, ..rules() };
    store.reserve(&yes(order("play")), OWNER, &sandbox, NOW + 2).await.expect("sandbox");
    let ledger = store.ledger(NOW).await.expect("ledger");
    let ids: Vec<&JobId> = ledger.iter().map(|e| &e.id).collect();
    assert_eq!(ids, [&old.id, &a.id], "oldest first, sandbox jobs left out");
    let e = &ledger[1];
    assert_eq!(
        (e.provider, e.state, e.has_request_id),
        (ProviderId::Katana, JobState::Completed, true)
    );
    assert_eq!((e.quoted, e.charged), (Credits::whole(14), Some(Credits::whole(12))));
    assert_eq!(e.usd_per_credit, Some(CreditPrice::KATANA_REFERENCE));
    assert_eq!(e.model, "gpt-image-2");
    assert!(store.ledger(NOW + 2).await.expect("ledger").is_empty());
}

pub async fn a_batch_line_is_sent_once_whatever_again_says<S: JobStore>(store: &S, other: &S) {
    use conjure_core::batch::{BatchLine, BatchLink};
    let link = |lines: &[u32]| BatchLink {
        batch: "b0123456789ab".to_owned(),
        lines: lines.iter().map(|l| BatchLine { line: *l, items: 1 }).collect(),
    };
    let with = |prompt: &str, lines: &[u32]| {
        let mut o = order(prompt);
        o.batch = Some(link(lines));
        yes(o)
    };
    let again = SpendRules { again: true, ..rules() };
    let first = reserve(store, &with("line one", &[1, 2]), &again).await;
    // Another run of the batch, another process: line 2 is taken, even with --again.
    let r = refusal(other, &with("line two", &[2]), &again, NOW).await;
    assert!(
        matches!(r, SpendRefusal::LineSent { line: 2, ref job, .. } if *job == first.id),
        "{r:?}"
    );
    reserve(other, &with("line three", &[3]), &again).await;
    // A call refused before acceptance frees its lines.
    walk(store, &first.id, &[JobState::Rejected]).await;
    reserve(other, &with("line two", &[2]), &again).await;
}

pub async fn the_budget_window_is_rolling<S: JobStore>(store: &S, _other: &S) {
    let old = NOW - 25 * HOUR;
    store.reserve(&yes(order("yesterday")), OWNER, &rules(), old).await.expect("reserved");
    let spent = store.spent_since(NOW - 24 * HOUR).await.expect("spent");
    assert_eq!(spent.provider(ProviderId::Katana).credits, Credits::ZERO);
    assert!(store.reserve(&yes(order("today")), OWNER, &budget("14cr"), NOW).await.is_ok());
}

pub async fn transitions_follow_the_state_machine<S: JobStore>(store: &S, _other: &S) {
    let job = reserve(store, &yes(order("a lighthouse")), &rules()).await;
    let err = store.transition(&job.id, JobState::Expired, Some("should not stick")).await;
    match err {
        Err(StoreError::Illegal(i)) => {
            assert_eq!((i.from, i.to), (JobState::Submitting, JobState::Expired));
        }
        other => panic!("expected an illegal transition, got {other:?}"),
    }
    let after = store.get(&job.id).await.expect("get");
    assert_eq!((after.state, after.error.as_deref()), (JobState::Submitting, None));
    let steps = [
        (JobState::Unknown, Some("connection reset after the request was sent")),
        (JobState::Processing, Some("")),
        (JobState::Processing, None),
        (JobState::Completed, None),
    ];
    let mut last = job.clone();
    for (to, note) in steps {
        last = store.transition(&job.id, to, note).await.expect("legal");
        assert_eq!(last.state, to);
    }
    // The note stays until another replaces it; an empty note is no note.
    assert_eq!(last.error.as_deref(), Some("connection reset after the request was sent"));
    let trail: Vec<_> =
        store.events(&job.id).await.expect("events").into_iter().map(|e| (e.from, e.to)).collect();
    assert_eq!(trail.len(), 6);
    assert_eq!(trail[1], (Some(JobState::Quoted), JobState::Submitting));
    assert_eq!(trail[5], (Some(JobState::Processing), JobState::Completed));
}

pub async fn request_ids_are_set_once<S: JobStore>(store: &S, _other: &S) {
    let job = reserve(store, &yes(order("one payment, one id")), &rules()).await;
    store.set_request_id(&job.id, "req_1").await.expect("set");
    store.set_request_id(&job.id, "req_1").await.expect("the same answer read twice");
    let err = store.set_request_id(&job.id, "req_2").await.expect_err("a second id is refused");
    assert!(err.to_string().contains("req_1"), "{err}");
    assert_eq!(store.get(&job.id).await.expect("get").request_id.as_deref(), Some("req_1"));
}

pub async fn an_answer_is_recorded_whole_or_not_at_all<S: JobStore>(store: &S, other: &S) {
    let snapshot = json!({"status": "pending", "request_id": "req_a", "credits_spent": 14.0});
    let answer = |request_id, to, note| Answer {
        request_id,
        snapshot: &snapshot,
        credits_spent: Some(Credits::whole(14)),
        to,
        note,
    };
    // Accepted: the id, the answer, its charge and the move, all at once.
    let job = reserve(store, &yes(order("an accepted answer")), &rules()).await;
    let got = store.record_answer(&job.id, answer(Some("req_a"), JobState::Submitted, None)).await;
    let got = got.expect("recorded");
    let seen = other.get(&job.id).await.expect("get");
    for record in [&got, &seen] {
        assert_eq!(record.state, JobState::Submitted);
        assert_eq!(record.request_id.as_deref(), Some("req_a"));
        assert_eq!(record.credits_spent, Some(Credits::whole(14)));
        assert_eq!(record.last_snapshot.as_ref(), Some(&snapshot));
    }
    let trail = store.events(&job.id).await.expect("events");
    assert_eq!(
        trail.last().map(|e| (e.from, e.to)),
        Some((Some(JobState::Submitting), JobState::Submitted))
    );

    // A stream's checkpoint recorded the same id already: not a change.
    let job = reserve(store, &yes(order("a streamed answer")), &rules()).await;
    store.set_request_id(&job.id, "req_s").await.expect("checkpoint");
    let got = store.record_answer(&job.id, answer(Some("req_s"), JobState::Completed, None)).await;
    assert_eq!(got.expect("recorded").state, JobState::Completed);

    // A refusal needs no id, and keeps its reasons.
    let job = reserve(store, &yes(order("a refused answer")), &rules()).await;
    let got = store.record_answer(&job.id, answer(None, JobState::Rejected, Some("nsfw"))).await;
    let got = got.expect("recorded");
    assert_eq!(
        (got.state, got.request_id, got.error.as_deref()),
        (JobState::Rejected, None, Some("nsfw"))
    );

    // Any refused part leaves the job exactly as it was: no new id, no answer, no charge.
    let illegal =
        reserve(store, &yes(order("an answer the state machine refuses")), &rules()).await;
    let err =
        store.record_answer(&illegal.id, answer(Some("req_b"), JobState::Expired, None)).await;
    assert!(matches!(err, Err(StoreError::Illegal(_))), "{err:?}");
    let second = reserve(store, &yes(order("an answer naming a second id")), &rules()).await;
    store.set_request_id(&second.id, "req_c").await.expect("checkpoint");
    let err =
        store.record_answer(&second.id, answer(Some("req_d"), JobState::Submitted, None)).await;
    assert!(err.expect_err("a second id is refused").to_string().contains("req_c"));
    for (job, request_id) in [(&illegal, None), (&second, Some("req_c"))] {
        let seen = other.get(&job.id).await.expect("get");
        assert_eq!(seen.state, JobState::Submitting, "{job:?}");
        assert_eq!(seen.request_id.as_deref(), request_id);
        assert_eq!((seen.credits_spent, seen.last_snapshot), (None, None));
        assert_eq!(store.events(&job.id).await.expect("events").len(), 2, "quoted, submitting");
    }
}

pub async fn snapshots_keep_the_last_reported_charge<S: JobStore>(store: &S, _other: &S) {
    let job = reserve(store, &yes(order("a heron")), &rules()).await;
    let first = json!({"status": "completed", "credits_spent": 14.0, "assets": []});
    store.record_snapshot(&job.id, &first, Some(Credits::whole(14))).await.expect("snapshot");
    let later = json!({"status": "completed", "assets": [{"url": "https://x/y.webp"}]});
    store.record_snapshot(&job.id, &later, None).await.expect("snapshot");
    let got = store.get(&job.id).await.expect("get");
    assert_eq!(got.credits_spent, Some(Credits::whole(14)));
    assert_eq!(got.last_snapshot, Some(later));
}

pub async fn outputs_and_delivery_are_recorded<S: JobStore>(store: &S, other: &S) {
    let job = reserve(store, &yes(order("a clip")), &rules()).await;
    store.set_request_id(&job.id, "req_clip").await.expect("request id");
    walk(store, &job.id, &[JobState::Submitted, JobState::Completed]).await;
    // Finished but not on disk: outstanding.
    let pending = other.list(JobFilter::Pending, 10).await.expect("list");
    assert!(pending.iter().any(|j| j.id == job.id && j.is_undelivered()));
    let mut out = output(0, "/home/u/a clip.webp");
    let second = output(1, "/home/u/b.webp");
    store.record_delivery(&job.id, &[out.clone(), second.clone()]).await.expect("delivered");
    // Fetched again: the same files, described as they are now.
    out.sha256 = "11".repeat(32);
    store.record_delivery(&job.id, std::slice::from_ref(&out)).await.expect("delivered again");
    let got = store.get(&job.id).await.expect("get");
    assert_eq!(got.outputs, vec![out, second]);
    assert!(got.delivered_at.is_some() && !got.is_undelivered());
    assert!(other.list(JobFilter::Pending, 10).await.expect("list").is_empty());
}

pub async fn ids_resolve_from_prefixes_and_request_ids<S: JobStore>(store: &S, _other: &S) {
    let a = reserve(store, &yes(order("a")), &rules()).await;
    let b = reserve(store, &yes(order("b")), &rules()).await;
    store.set_request_id(&b.id, "gen_77").await.expect("request id");
    assert_eq!(store.resolve(a.id.as_str()).await.expect("exact"), a.id);
    assert_eq!(store.resolve(&format!(" {} ", a.id)).await.expect("trimmed"), a.id);
    assert_eq!(store.resolve("gen_77").await.expect("request id"), b.id);
    let common =
        a.id.as_str().chars().zip(b.id.as_str().chars()).take_while(|(x, y)| x == y).count();
    assert_eq!(store.resolve(&a.id.as_str()[..=common]).await.expect("prefix"), a.id);
    match store.resolve(&a.id.as_str()[..common]).await {
        Err(StoreError::Ambiguous { total, candidates, .. }) => {
            assert_eq!(total, 2);
            assert_eq!(candidates.len(), 2);
        }
        other => panic!("expected ambiguity, got {other:?}"),
    }
    for missing in ["j%", "x_", "gen_7", "  "] {
        assert!(matches!(store.resolve(missing).await, Err(StoreError::NotFound(_))), "{missing}");
    }
    for i in 0..11 {
        reserve(store, &yes(order(&format!("job {i}"))), &rules()).await;
    }
    match store.resolve("j_").await {
        Err(StoreError::Ambiguous { total: 13, candidates, .. }) => {
            assert_eq!(candidates.len(), 10);
        }
        other => panic!("expected ambiguity over 13 jobs, got {other:?}"),
    }
}

pub async fn children_are_found_by_their_parent<S: JobStore>(store: &S, _other: &S) {
    let parent = reserve(store, &yes(order("grid")), &rules()).await;
    assert!(store.children(&parent.id).await.expect("children").is_empty());
    let mut kids = Vec::new();
    for (n, at) in [(1, NOW + 1), (2, NOW + 2)] {
        let mut o = order(&format!("press {n}"));
        o.parent = Some(parent.id.clone());
        kids.push(store.reserve(&yes(o), OWNER, &rules(), at).await.expect("reserved"));
    }
    reserve(store, &yes(order("unrelated")), &rules()).await;
    let found = store.children(&parent.id).await.expect("children");
    let ids: Vec<&JobId> = found.iter().map(|j| &j.id).collect();
    assert_eq!(ids, kids.iter().map(|k| &k.id).collect::<Vec<_>>(), "oldest first");
    assert!(found.iter().all(|j| j.parent.as_ref() == Some(&parent.id)));
    assert!(store.children(&kids[0].id).await.expect("children").is_empty());
}

pub async fn listing_is_newest_first_and_can_show_what_is_outstanding<S: JobStore>(
    store: &S,
    _other: &S,
) {
    let mut ids = Vec::new();
    for (i, p) in ["a", "b", "c", "d"].iter().enumerate() {
        let at = NOW + i as i64 * 1_000;
        ids.push(store.reserve(&yes(order(p)), OWNER, &rules(), at).await.expect("reserved").id);
    }
    // a: completed and delivered; b: unknown; c: failed before acceptance; d: quoted.
    walk(store, &ids[0], &[JobState::Completed]).await;
    store.record_delivery(&ids[0], &[]).await.expect("delivered");
    walk(store, &ids[1], &[JobState::Unknown]).await;
    walk(store, &ids[2], &[JobState::Failed]).await;
    let listed = |jobs: Vec<JobRecord>| jobs.into_iter().map(|j| j.id).collect::<Vec<_>>();
    let all = listed(store.list(JobFilter::All, 10).await.expect("list"));
    assert_eq!(all, vec![ids[3].clone(), ids[2].clone(), ids[1].clone(), ids[0].clone()]);
    assert_eq!(listed(store.list(JobFilter::All, 2).await.expect("list")).len(), 2);
    let pending = listed(store.list(JobFilter::Pending, 10).await.expect("list"));
    assert_eq!(pending, vec![ids[3].clone(), ids[1].clone()]);
    assert!(store.list(JobFilter::All, 0).await.expect("list").is_empty());
}

pub async fn totals_report_charges_and_exposure<S: JobStore>(store: &S, _other: &S) {
    assert!(store.totals().await.expect("totals").is_empty());
    let a = reserve(store, &yes(order("a")), &rules()).await;
    let b = reserve(store, &yes(order("b")), &rules()).await;
    reserve(store, &yes(order("c")), &rules()).await;
    store
        .record_snapshot(&a.id, &json!({}), Some(Credits::from_tenths(135)))
        .await
        .expect("snapshot");
    walk(store, &a.id, &[JobState::Submitted, JobState::Completed]).await;
    walk(store, &b.id, &[JobState::Unknown]).await;
    let totals = store.totals().await.expect("totals");
    assert_eq!(totals.len(), 1);
    let t = &totals[0];
    assert_eq!((t.provider, t.jobs), (ProviderId::Katana, 3));
    assert_eq!(t.quoted, Credits::whole(42));
    assert_eq!(t.spent, Credits::from_tenths(135));
    assert_eq!(t.exposure, Credits::whole(28), "the unknown job and the one being sent");
}

pub async fn sandbox_jobs_are_a_ledger_of_their_own<S: JobStore>(store: &S, other: &S) {
    let sandbox = SpendRules { sandbox: true, ..budget("30cr") };
    let real = budget("20cr");
    let demo = reserve(store, &yes(order("the same request")), &sandbox).await;
    assert!(demo.sandbox);
    // A sandbox job is no duplicate and no spending for a real request ...
    let job = reserve(other, &yes(order("the same request")), &real).await;
    assert!(!job.sandbox);
    // ... nor a real job for the sandbox: 14 + 14 fits its 30, though 14 + 14 + 14 would not.
    reserve(store, &yes(order("another demo")), &sandbox).await;
    let r = refusal(store, &yes(order("a third demo")), &sandbox, NOW).await;
    assert!(matches!(r, SpendRefusal::OverBudget { .. }), "{r:?}");
    let r = refusal(other, &yes(order("a second real")), &real, NOW).await;
    assert!(matches!(r, SpendRefusal::OverBudget { .. }), "{r:?}");
    assert_eq!(
        store.spent_since(NOW - HOUR).await.expect("spent").provider(ProviderId::Katana).credits,
        Credits::whole(14),
        "real money only"
    );
    let totals = store.totals().await.expect("totals");
    assert_eq!((totals.len(), totals[0].jobs), (1, 1));
    // All are listed, each marked.
    let listed = store.list(JobFilter::All, 10).await.expect("list");
    assert_eq!(listed.iter().filter(|j| j.sandbox).count(), 2);
    assert!(store.get(&demo.id).await.expect("get").sandbox);
}

pub async fn in_flight_lists_the_jobs_being_sent<S: JobStore>(store: &S, _other: &S) {
    let a = reserve(store, &yes(order("sending")), &rules()).await;
    let b = reserve(store, &yes(order("accepted")), &rules()).await;
    let c = reserve(store, &yes(order("done")), &rules()).await;
    walk(store, &b.id, &[JobState::Submitted]).await;
    walk(store, &c.id, &[JobState::Failed]).await;
    let in_flight = store.in_flight().await.expect("in flight");
    let seen: Vec<_> = in_flight.iter().map(|j| (j.id.clone(), j.state, j.owner.clone())).collect();
    assert_eq!(seen, vec![(a.id, JobState::Submitting, Some(OWNER.to_owned()))]);
}

pub async fn missing_jobs_are_not_found<S: JobStore>(store: &S, _other: &S) {
    let missing = JobId::from_stored("j_zzzzzzzzzz");
    assert!(matches!(store.get(&missing).await, Err(StoreError::NotFound(_))));
    assert!(matches!(
        store.transition(&missing, JobState::Submitting, None).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(store.set_request_id(&missing, "r").await, Err(StoreError::NotFound(_))));
    assert!(matches!(
        store.record_snapshot(&missing, &json!({}), None).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.record_delivery(&missing, &[output(0, "p")]).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(store.events(&missing).await, Err(StoreError::NotFound(_))));
}

pub async fn concurrent_reserves_never_overspend<S: JobStore>(store: &S, other: &S) {
    // Eight different requests of 14 credits at once against a budget that fits three.
    let rules = budget("42cr");
    let handles = [store, other];
    let results = futures_util::future::join_all(
        (0..8)
            .map(|i| {
                let s = handles[i % 2];
                let approved = yes(order(&format!("racing request {i}")));
                let rules = rules.clone();
                async move { s.reserve(&approved, OWNER, &rules, NOW).await }
            })
            .collect::<Vec<_>>(),
    )
    .await;
    let reserved = results.iter().filter(|r| r.is_ok()).count();
    let over = results
        .iter()
        .filter(|r| matches!(r, Err(ReserveError::Refused(SpendRefusal::OverBudget { .. }))))
        .count();
    assert_eq!((reserved, over), (3, 5), "{results:?}");
}

pub async fn concurrent_duplicates_are_recorded_once<S: JobStore>(store: &S, other: &S) {
    let a = yes(order("clicked twice"));
    let b = yes(order("clicked twice"));
    let rules = rules();
    let (ra, rb) =
        tokio::join!(store.reserve(&a, OWNER, &rules, NOW), other.reserve(&b, OWNER, &rules, NOW));
    let ok = usize::from(ra.is_ok()) + usize::from(rb.is_ok());
    assert_eq!(ok, 1, "{ra:?} {rb:?}");
    assert_eq!(store.list(JobFilter::All, 10).await.expect("list").len(), 1);
}

pub async fn preview_reads_the_facts_without_recording<S: JobStore>(store: &S, other: &S) {
    let daily = budget("30cr");
    let o = order("looked at before approving");
    let token = o.quote.token.clone();
    let facts = store.preview(&o, Some(&token), &daily, NOW).await.expect("preview");
    assert_eq!(
        (facts.token_used_by, facts.same_request, facts.batch_line_sent),
        (None, None, None)
    );
    assert!(store.list(JobFilter::All, 10).await.expect("list").is_empty(), "nothing recorded");
    // Once another process has reserved it, the preview sees what `reserve` would.
    let job = reserve(other, &by_token(o.clone()), &daily).await;
    let facts = store.preview(&o, Some(&token), &daily, NOW).await.expect("preview");
    assert_eq!(facts.token_used_by.as_ref(), Some(&job.id));
    assert_eq!(facts.same_request.map(|e| (e.id, e.state)), Some((job.id, JobState::Submitting)));
    let day = facts.spent.get(&BudgetWindow::Day).expect("the day window a budget counts");
    assert_eq!(day.provider(ProviderId::Katana).credits, Credits::whole(14));
    // With --again the duplicate is not looked up; without a budget no window is.
    let again = SpendRules { again: true, ..rules() };
    let facts = store.preview(&o, None, &again, NOW).await.expect("preview");
    assert_eq!((facts.token_used_by, facts.same_request), (None, None));
    assert!(facts.spent.is_empty());
}

pub async fn batches_are_journalled_once_and_found_by_prefix<S: JobStore>(store: &S, other: &S) {
    use conjure_core::batch::{BatchLine, BatchLink, BatchPlan};
    const ID: &str = "b0123456789ab";
    let plan = |id: &str, prompt: &str| BatchPlan {
        id: id.to_owned(),
        source: "spring é.jsonl".to_owned(),
        lines: [(1, json!({"prompt": prompt})), (2, json!({"prompt": "b", "strength": 0.1 + 0.2}))]
            .into_iter()
            .collect(),
        created_at: NOW,
    };
    let first = plan(ID, "a");
    store.record_batch(&first).await.expect("recorded");
    // The same batch run again, from another process: the plan stays as first journalled.
    other.record_batch(&plan(ID, "changed")).await.expect("kept");
    assert_eq!(other.batch(ID).await.expect("exact id"), first);
    assert_eq!(store.batch("b0123").await.expect("unique prefix").id, ID);
    store.record_batch(&plan("b0123ffffffff", "another")).await.expect("recorded");
    assert!(matches!(store.batch("b0123").await, Err(StoreError::Ambiguous { total: 2, .. })));
    assert_eq!(store.batch(ID).await.expect("an exact id is never ambiguous").id, ID);
    for missing in ["b9", "b_", "%"] {
        assert!(matches!(store.batch(missing).await, Err(StoreError::NotFound(_))), "{missing}");
    }
    // The jobs sending its lines, oldest first, each with its link; by exact id only.
    let with = |prompt: &str, line: u32| {
        let mut o = order(prompt);
        o.batch =
            Some(BatchLink { batch: ID.to_owned(), lines: vec![BatchLine { line, items: 1 }] });
        yes(o)
    };
    let one = store.reserve(&with("line one", 1), OWNER, &rules(), NOW).await.expect("reserved");
    let two =
        other.reserve(&with("line two", 2), OWNER, &rules(), NOW + 1).await.expect("reserved");
    reserve(store, &yes(order("not in the batch")), &rules()).await;
    let jobs = store.batch_jobs(ID).await.expect("batch jobs");
    assert_eq!(jobs.iter().map(|j| &j.id).collect::<Vec<_>>(), [&one.id, &two.id]);
    assert_eq!(jobs[1].batch.as_ref().map(|b| b.lines[0].line), Some(2));
    assert!(store.batch_jobs("b0123").await.expect("batch jobs").is_empty());
}
