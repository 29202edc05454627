//! Snapshots older than an announced revision: the bounded refetch (GATE-5).

use crate::prelude::*;

#[tokio::test(start_paused = true)]
async fn a_provider_one_fetch_behind_converges() {
    let h = Harness::new();
    h.provider.set_revision(1);
    h.provider.set_mode(Mode::LagOneFetch);
    let sync = h.engine();
    sync.start().within().await.expect("start");
    h.publish(2);
    settle().await;
    assert_eq!(h.applier.revisions(), [1, 2]);
    assert_eq!(h.provider.calls(), 3, "stale answer, then one refetch");
    let m = sync.metrics();
    assert_eq!((m.stale_skips, m.lag), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn a_stuck_provider_is_refetched_a_bounded_number_of_times() {
    let h = Harness::new();
    h.provider.set_mode(Mode::Stuck(1));
    let sync = h.engine();
    sync.start().within().await.expect("start");
    h.bus.emit(&event(TOPIC, 5));
    settle().await;
    tokio::time::sleep(LONG).await;
    assert_eq!(h.provider.calls(), 1 + (1 + 3), "the fetch and 3 refetches");
    let m = sync.metrics();
    assert_eq!((m.stale_skips, m.lag), (4, 4));
    // A newer announcement earns a new budget.
    h.bus.emit(&event(TOPIC, 6));
    settle().await;
    assert_eq!(h.provider.calls(), 1 + 4 + 4);
}

#[tokio::test(start_paused = true)]
async fn max_stale_refetches_zero_turns_refetching_off() {
    let h = Harness::new();
    h.provider.set_mode(Mode::Stuck(1));
    let sync = h.builder().max_stale_refetches(0).build();
    sync.start().within().await.expect("start");
    h.bus.emit(&event(TOPIC, 5));
    settle().await;
    assert_eq!(h.provider.calls(), 2);
}
