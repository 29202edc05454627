//! The retry wrapper under the engine (RETRY-1, RETRY-2).

use crate::prelude::*;

#[tokio::test(start_paused = true)]
async fn the_engine_with_retry_converges_after_transient_failures() {
    let h = Harness::new();
    h.provider.set_revision(4);
    h.provider
        .script([Step::Fail("busy".into()), Step::Fail("busy".into())]);
    let retries = Arc::new(AtomicUsize::new(0));
    let counted = retries.clone();
    let policy = RetryPolicy::default().on_retry(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
    });
    let sync = h.builder_with(|p| with_retry(p, policy)).build();
    let t0 = Instant::now();
    sync.start()
        .within()
        .await
        .expect("start succeeds on the third attempt");
    assert!(t0.elapsed() >= ms(150), "backed off: {:?}", t0.elapsed());
    assert_eq!(h.provider.calls(), 3);
    assert_eq!(retries.load(Ordering::SeqCst), 2);
    assert!(
        h.errors.all().is_empty(),
        "transient failures are not reported"
    );
    assert_eq!(h.applier.revisions(), [4]);
    assert_eq!(sync.metrics().fetches, 1, "one fetch cycle");
}

#[tokio::test(start_paused = true)]
async fn a_burst_during_retry_backoff_coalesces() {
    let h = Harness::new();
    h.provider.set_revision(1);
    let sync = h
        .builder_with(|p| with_retry(p, RetryPolicy::default()))
        .build();
    sync.start().within().await.expect("start");
    h.provider.script([Step::Fail("busy".into())]);
    h.publish(2);
    settle().await;
    assert_eq!(h.provider.calls(), 2, "first attempt failed, backing off");
    for r in 3..=100 {
        h.publish(r);
    }
    tokio::time::sleep(LONG).await;
    // The retry after the backoff already reads revision 100, the newest
    // the burst announced: no follow-up is needed (CO-2).
    assert_eq!(sync.metrics().fetches - 1, 1, "one cycle, no follow-up");
    assert_eq!(sync.metrics().coalesced, 98);
    assert_eq!(h.provider.calls(), 1 + 2);
    assert_eq!(h.applier.revisions(), [1, 100]);
}

#[tokio::test(start_paused = true)]
async fn stop_during_retry_backoff_cancels_the_wait() {
    let h = Harness::new();
    let policy = RetryPolicy::default().base_delay(Duration::from_secs(1));
    let sync = h.builder_with(|p| with_retry(p, policy)).build();
    sync.start().within().await.expect("start");
    h.provider.set_mode(Mode::Failing);
    h.publish(1);
    settle().await;
    assert_eq!(h.provider.calls(), 2);
    let t0 = Instant::now();
    sync.stop();
    timeout(LONG, sync.stopped()).await.expect("stopped");
    assert_eq!(t0.elapsed(), Duration::ZERO, "did not sit out the backoff");
    h.provider.set_mode(Mode::Current);
    tokio::time::sleep(LONG).await;
    assert_eq!(h.provider.calls(), 2, "no attempt after stop");
    assert_eq!(h.applier.calls(), 1);
    assert!(h.errors.all().is_empty());
}
