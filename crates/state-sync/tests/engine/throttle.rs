//! Debounce and throttle, on virtual time (THR-1, THR-2).

use crate::prelude::*;

/// Offsets of the provider's calls from `t0`, in milliseconds.
fn call_offsets(h: &Harness, t0: Instant) -> Vec<u64> {
    h.provider
        .call_times()
        .iter()
        .filter(|t| **t >= t0)
        .map(|t| u64::try_from((*t - t0).as_millis()).expect("small"))
        .collect()
}

/// Publishes a new revision at each offset (ms from `t0`).
async fn publish_at(h: &Harness, t0: Instant, offsets: impl IntoIterator<Item = u64>) {
    for offset in offsets {
        tokio::time::sleep_until(t0 + ms(offset)).await;
        let r = h.provider.revision() + 1;
        h.publish(r);
    }
}

#[tokio::test(start_paused = true)]
async fn debounce_fetches_once_after_the_quiet_period() {
    let h = Harness::new();
    let sync = h.builder().throttle(Throttle::debounce(ms(50))).build();
    sync.start().within().await.expect("start is not debounced");
    let t0 = Instant::now() + ms(1000);
    publish_at(&h, t0, [0, 10, 20, 30]).await;
    tokio::time::sleep(ms(40)).await;
    assert_eq!(
        call_offsets(&h, t0),
        Vec::<u64>::new(),
        "still quiet-waiting"
    );
    tokio::time::sleep(LONG).await;
    assert_eq!(
        call_offsets(&h, t0),
        [80],
        "one fetch, 50 ms after the last event"
    );
    assert_eq!(h.applier.revisions(), [0, 4]);
}

#[tokio::test(start_paused = true)]
async fn throttle_fetches_on_leading_and_trailing_edges() {
    let h = Harness::new();
    let sync = h.builder().throttle(Throttle::throttle(ms(100))).build();
    sync.start().within().await.expect("start");
    let t0 = Instant::now() + ms(1000);
    publish_at(&h, t0, (0..=250).step_by(10)).await;
    publish_at(&h, t0, [450]).await;
    tokio::time::sleep(LONG).await;
    assert_eq!(call_offsets(&h, t0), [0, 100, 200, 300, 450]);
    assert_eq!(sync.local_revision(), rev(27));
}

#[tokio::test(start_paused = true)]
async fn throttle_with_the_leading_edge_only() {
    let h = Harness::new();
    let sync = h
        .builder()
        .throttle(Throttle::Throttle {
            interval: ms(100),
            leading: true,
            trailing: false,
        })
        .build();
    sync.start().within().await.expect("start");
    let t0 = Instant::now() + ms(1000);
    publish_at(&h, t0, (0..=90).step_by(10)).await;
    tokio::time::sleep(LONG).await;
    assert_eq!(call_offsets(&h, t0), [0]);
    // The dropped events still count as announced.
    assert_eq!(sync.local_revision(), rev(1));
    assert_eq!(sync.metrics().lag, 9);
}

#[tokio::test(start_paused = true)]
async fn throttle_with_the_trailing_edge_only() {
    let h = Harness::new();
    let sync = h
        .builder()
        .throttle(Throttle::Throttle {
            interval: ms(100),
            leading: false,
            trailing: true,
        })
        .build();
    sync.start().within().await.expect("start");
    let t0 = Instant::now() + ms(1000);
    publish_at(&h, t0, (0..=90).step_by(10)).await;
    tokio::time::sleep(LONG).await;
    assert_eq!(call_offsets(&h, t0), [100]);
    assert_eq!(sync.local_revision(), rev(10));
}

#[tokio::test(start_paused = true)]
async fn stop_cancels_a_pending_throttle_timer() {
    let h = Harness::new();
    let sync = h.builder().throttle(Throttle::debounce(ms(50))).build();
    sync.start().within().await.expect("start");
    h.publish(1);
    settle().await;
    assert_eq!(alive_tasks(), 1, "the debounce timer");
    sync.stop();
    settle().await;
    assert_eq!(alive_tasks(), 0, "stop cancelled the timer");
    tokio::time::sleep(LONG).await;
    assert_eq!(h.provider.calls(), 1, "no fetch after stop");
}

#[tokio::test(start_paused = true)]
async fn a_window_is_idle_only_with_no_fetch_and_no_timer_pending() {
    let h = Harness::new();
    let sync = h.builder().throttle(Throttle::debounce(ms(50))).build();
    assert!(sync.is_idle(), "nothing to do before start");
    let gate = Gate::new();
    h.provider.hold(Some(gate.clone()));
    let start = tokio::spawn({
        let sync = sync.clone();
        async move { sync.start().await }
    });
    settle().await;
    assert!(!sync.is_idle(), "the initial refresh is in flight");
    gate.open();
    h.provider.hold(None);
    start.await.expect("joined").expect("start");
    assert!(sync.is_idle());
    h.publish(1);
    settle().await;
    assert!(!sync.is_idle(), "the debounce timer is armed");
    tokio::time::sleep(LONG).await;
    assert!(sync.is_idle());
    assert_eq!(h.applier.revisions(), [0, 1]);
}
