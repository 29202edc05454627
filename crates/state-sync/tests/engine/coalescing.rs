//! Coalescing: bursts cost at most one queued refresh, and no update is lost (CO-1, CO-2).

use crate::prelude::*;

#[tokio::test(start_paused = true)]
async fn requests_during_a_fetch_queue_one_follow_up() {
    let h = Harness::new();
    h.provider.set_revision(1);
    let sync = h.engine();
    sync.start().within().await.expect("start");
    let gate = Gate::new();
    h.provider.hold(Some(gate.clone()));
    h.publish(2);
    settle().await;
    assert_eq!(h.provider.calls(), 2, "the event's fetch is in flight");
    h.provider.hold(None);
    h.publish(3);
    h.publish(4);
    let refreshes: Vec<_> = (0..3)
        .map(|_| {
            let s = sync.clone();
            tokio::spawn(async move { s.refresh().within().await })
        })
        .collect();
    settle().await;
    assert_eq!(h.provider.calls(), 2, "nothing runs in parallel");
    gate.open();
    for r in refreshes {
        r.await.expect("join").expect("refresh");
    }
    settle().await;
    assert_eq!(h.provider.calls(), 3, "one follow-up for five requests");
    assert_eq!(h.applier.revisions(), [1, 2, 4]);
    let m = sync.metrics();
    assert_eq!((m.fetches, m.coalesced), (3, 5));
}

#[tokio::test(start_paused = true)]
async fn a_burst_of_1000_invalidations_costs_at_most_two_fetches() {
    let h = Harness::new();
    let sync = h.engine();
    sync.start().within().await.expect("start");
    let before = h.provider.calls();
    let gate = Gate::new();
    h.provider.hold(Some(gate.clone()));
    h.publish(1);
    settle().await;
    h.provider.hold(None);
    for r in 2..=1000 {
        h.publish(r);
    }
    gate.open();
    timeout(LONG, h.applier.wait_for(1000))
        .await
        .expect("catches up");
    settle().await;
    let fetches = h.provider.calls() - before;
    assert!(fetches <= 2, "{fetches} fetches for 1000 events");
    assert_eq!(sync.local_revision(), rev(1000));
    assert_eq!(sync.metrics().coalesced, 999);
}

#[tokio::test(start_paused = true)]
async fn refresh_during_a_fetch_resolves_after_a_fetch_that_began_after_it() {
    let h = Harness::new();
    h.provider.set_revision(1);
    let sync = h.engine();
    sync.start().within().await.expect("start");
    let gate = Gate::new();
    h.provider.hold(Some(gate.clone()));
    h.publish(2); // the in-flight fetch reads revision 2
    settle().await;
    h.provider.hold(None);
    h.provider.set_revision(3); // the source moves on
    h.provider
        .script([Step::After(ms(10), Box::new(Step::Rev(3)))]);
    let refresh = async {
        let result = sync.refresh().within().await;
        (result, sync.local_revision(), h.provider.calls())
    };
    let release = async {
        settle().await;
        gate.open();
    };
    let ((result, local, calls), ()) = tokio::join!(refresh, release);
    result.expect("refresh");
    assert_eq!(calls, 3, "a fetch began after the refresh was issued");
    assert_eq!(local, rev(3), "the refresh sees the newer data");
}
