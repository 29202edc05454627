//! The hot path: events that are ignored, or that join a follow-up
//! already queued, are decided without the machine's lock — and count,
//! and are covered, exactly as if the machine had decided them.

use crate::prelude::*;

#[tokio::test(start_paused = true)]
async fn a_burst_from_several_threads_joins_one_follow_up_and_is_counted_whole() {
    let h = Harness::new();
    h.provider.set_revision(1);
    let sync = h.engine();
    sync.start().within().await.expect("start");
    let gate = Gate::new();
    h.provider.hold(Some(gate.clone()));
    h.publish(2);
    settle().await;
    // The fetch is in flight; the next event queues its follow-up, and
    // every later one joins it from a thread of its own.
    h.publish(3);
    const THREADS: u64 = 4;
    const EACH: u64 = 2_500;
    let last = 3 + THREADS * EACH;
    h.provider.set_revision(last);
    let handler = h.bus.handler();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let handler = handler.clone();
            s.spawn(move || {
                for i in 0..EACH {
                    handler(&event(TOPIC, 4 + t + THREADS * i));
                    // Old and foreign events are ignored on the way.
                    handler(&event(TOPIC, 1));
                    handler(&event("other", 1_000_000));
                }
            });
        }
    });
    gate.open();
    sync.refresh().within().await.expect("refresh");
    settle().await;
    assert_eq!(sync.local_revision(), rev(last));
    let m = sync.metrics();
    assert_eq!(
        m.fetches, 3,
        "the start's, the one in flight, one follow-up"
    );
    assert_eq!(
        m.coalesced,
        1 + THREADS * EACH + 1,
        "every event, and the refresh"
    );
    assert_eq!(m.lag, 0);
}

#[tokio::test(start_paused = true)]
async fn an_event_after_the_follow_up_began_gets_a_follow_up_of_its_own() {
    let h = Harness::new();
    h.provider.set_revision(1);
    let sync = h.engine();
    sync.start().within().await.expect("start");
    let gate = Gate::new();
    h.provider.hold(Some(gate.clone()));
    h.publish(2);
    settle().await;
    h.publish(3);
    h.publish(4);
    // The fetch for 2 answers with 2 (stale for 4): the follow-up begins
    // and hangs, serving what the source had when it began.
    h.provider.set_revision(2);
    gate.open();
    settle().await;
    let second = Gate::new();
    h.provider.hold(Some(second.clone()));
    settle().await;
    // Heard while that follow-up is in flight: it must be fetched again.
    h.publish(5);
    second.open();
    h.provider.hold(None);
    settle().await;
    sync.refresh().within().await.expect("refresh");
    assert_eq!(sync.local_revision(), rev(5));
}

#[tokio::test(start_paused = true)]
async fn the_lag_counts_what_joined_the_follow_up() {
    let h = Harness::new();
    h.provider.set_revision(1);
    let sync = h.engine();
    sync.start().within().await.expect("start");
    let gate = Gate::new();
    h.provider.hold(Some(gate.clone()));
    h.publish(2);
    settle().await;
    h.publish(3);
    for r in 4..=40 {
        h.publish(r);
    }
    assert_eq!(sync.metrics().lag, 39, "announced 40, at 1");
    gate.open();
    sync.refresh().within().await.expect("refresh");
    assert_eq!(sync.metrics().lag, 0);
}

#[tokio::test(start_paused = true)]
async fn what_joined_the_follow_up_is_fetched_even_without_stale_refetches() {
    let h = Harness::new();
    h.provider.set_revision(1);
    let sync = h.builder().max_stale_refetches(0).build();
    sync.start().within().await.expect("start");
    // The fetch event 2 starts serves 3, once let go.
    let gate = Gate::new();
    h.provider
        .script([Step::Gated(gate.clone(), Box::new(Step::Rev(3)))]);
    h.bus.emit(&event(TOPIC, 2));
    settle().await;
    // 3 queues the follow-up; 4 to 10 join it without the machine.
    for r in 3..=10 {
        h.bus.emit(&event(TOPIC, r));
    }
    h.provider.set_revision(10);
    gate.open();
    settle().await;
    // Only the follow-up knows of 10: the fetch served 3, and stale
    // refetches are off.
    assert_eq!(h.applier.revisions(), [1, 3, 10]);
    let m = sync.metrics();
    assert_eq!((m.fetches, m.coalesced, m.lag), (3, 8, 0));
}

#[tokio::test(start_paused = true)]
async fn the_handler_of_a_dropped_engine_hears_nothing() {
    let h = Harness::new();
    h.provider.set_revision(1);
    let filtered = Arc::new(AtomicUsize::new(0));
    let count = filtered.clone();
    let sync = h
        .builder()
        .should_refresh(move |_| {
            count.fetch_add(1, Ordering::SeqCst);
            true
        })
        .build();
    sync.start().within().await.expect("start");
    let handler = h.bus.handler();
    h.provider.set_revision(2);
    handler(&event(TOPIC, 2));
    settle().await;
    assert_eq!(filtered.load(Ordering::SeqCst), 1);
    drop(sync);
    settle().await;
    // The transport still holds the handler; the engine is gone.
    handler(&event(TOPIC, 3));
    assert_eq!(filtered.load(Ordering::SeqCst), 1);
    assert_eq!(h.provider.calls(), 2);
}
