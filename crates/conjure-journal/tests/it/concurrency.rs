//! Two conjure processes on one journal: modelled as two threads with two connections.

use std::sync::Barrier;

use conjure_core::{JobState, JobStore, StoreError};
use conjure_journal::Journal;

use crate::support::{create, journal};

const PER_THREAD: usize = 25;

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(f)
}

#[test]
fn concurrent_transitions_do_not_lose_updates() {
    let f = journal();
    let job = block_on(async {
        let job = create(&f.journal, "polled from two places").await;
        f.journal.transition(&job.id, JobState::Submitted, None).await.unwrap();
        job
    });

    let barrier = Barrier::new(2);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let own = Journal::open(&f.path).unwrap();
                barrier.wait();
                block_on(async {
                    for _ in 0..PER_THREAD {
                        own.transition(&job.id, JobState::Processing, Some("poll")).await.unwrap();
                    }
                });
            });
        }
    });

    let events = block_on(f.journal.events(&job.id)).unwrap();
    // created + submitting + submitted + every processing step from both threads.
    assert_eq!(events.len(), 3 + 2 * PER_THREAD);
    // Each step read the state the previous one wrote: the trail is an unbroken chain.
    for pair in events.windows(2) {
        assert_eq!(pair[0].to, pair[1].from.unwrap());
    }
}

#[test]
fn only_one_of_two_racing_submits_wins() {
    let f = journal();
    let job = block_on(create(&f.journal, "sent once"));

    let barrier = Barrier::new(2);
    let results: Vec<Result<_, StoreError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let own = Journal::open(&f.path).unwrap();
                    barrier.wait();
                    block_on(own.transition(&job.id, JobState::Submitted, None)).map(|r| r.state)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    let won = results.iter().filter(|r| r.is_ok()).count();
    let refused = results.iter().filter(|r| matches!(r, Err(StoreError::Illegal(_)))).count();
    assert_eq!((won, refused), (1, 1), "{results:?}");
    assert_eq!(block_on(f.journal.events(&job.id)).unwrap().len(), 3);
}

/// On a multi-thread runtime journal calls run in place (`block_in_place`), from the runtime's
/// own `block_on` thread and from tasks on its workers alike; one handle shared by many tasks
/// still serialises them on its connection, and nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_from_many_tasks_of_a_multi_thread_runtime_all_land() {
    let f = journal();
    let job = create(&f.journal, "polled by many tasks").await;
    f.journal.transition(&job.id, JobState::Submitted, None).await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let journal = f.journal.clone();
            let id = job.id.clone();
            tokio::spawn(async move {
                for _ in 0..PER_THREAD {
                    journal.transition(&id, JobState::Processing, Some("poll")).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let events = f.journal.events(&job.id).await.unwrap();
    assert_eq!(events.len(), 3 + 8 * PER_THREAD);
    for pair in events.windows(2) {
        assert_eq!(pair[0].to, pair[1].from.unwrap());
    }
}
