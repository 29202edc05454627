//! The engine's counters (MET-1).

use crate::prelude::*;

#[tokio::test(start_paused = true)]
async fn metrics_count_what_happened() {
    let h = Harness::new();
    h.provider.set_revision(1);
    let sync = h.engine();
    sync.start().within().await.expect("start");
    let gate = Gate::new();
    h.provider.hold(Some(gate.clone()));
    h.publish(2);
    settle().await;
    h.provider.hold(None);
    h.publish(3);
    h.bus.emit(&json!({"topic": TOPIC, "revision": "03"}));
    assert_eq!(counters(sync.metrics()), [2, 1, 1, 0, 1, 2]);
    gate.open();
    settle().await;
    sync.refresh().within().await.expect("refresh");
    assert_eq!(counters(sync.metrics()), [4, 3, 1, 1, 1, 0]);
}

/// `[fetches, applies, coalesced, stale_skips, protocol_errors, lag]`.
fn counters(m: Metrics) -> [u64; 6] {
    [
        m.fetches,
        m.applies,
        m.coalesced,
        m.stale_skips,
        m.protocol_errors,
        m.lag,
    ]
}

#[tokio::test(start_paused = true)]
async fn the_handle_shows_its_topic_lifecycle_and_revision() {
    let h = Harness::new();
    h.provider.set_revision(7);
    let sync = h.engine();
    assert_eq!(sync.topic(), TOPIC);
    sync.start().within().await.expect("start");
    assert_eq!(
        format!("{sync:?}"),
        format!(
            "RevisionSync {{ topic: {TOPIC:?}, lifecycle: Running, local_revision: Revision(7) }}"
        )
    );
}
