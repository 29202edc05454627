//! `start`: subscribe first, then the initial refresh; rejection and rollback (LIFE-1 to LIFE-6).

use crate::prelude::*;

#[tokio::test(start_paused = true)]
async fn start_subscribes_then_fetches_and_resolves_after_the_apply() {
    let h = Harness::new();
    h.provider.set_revision(5);
    h.provider
        .script([Step::After(ms(10), Box::new(Step::Rev(5)))]);
    h.applier.slow(Some(ms(10)));
    let sync = h.engine();
    sync.start().within().await.expect("start");
    assert_eq!(h.log.entries(), ["subscribe", "fetch#1", "apply:5"]);
    assert_eq!(
        h.applier.finished(),
        1,
        "start resolves after the apply finished"
    );
    assert_eq!(h.applier.revisions(), [5]);
    assert_eq!(sync.local_revision(), rev(5));
    assert_eq!(sync.lifecycle(), Lifecycle::Running);
    assert_eq!(h.bus.active(), 1);
    assert!(h.errors.all().is_empty());
}

#[tokio::test(start_paused = true)]
async fn start_applies_a_first_snapshot_at_revision_zero() {
    let h = Harness::new();
    let sync = h.engine();
    sync.start().within().await.expect("start");
    assert_eq!(h.applier.revisions(), [0]);
    assert_eq!(sync.local_revision(), rev(0));
    assert_eq!(sync.metrics().applies, 1);
}

#[tokio::test(start_paused = true)]
async fn start_rejects_when_subscribe_fails_and_can_be_retried() {
    let h = Harness::new();
    h.bus.fail_next_subscribe("no event bus");
    let sync = h.engine();
    let error = sync.start().within().await.expect_err("subscribe fails");
    assert!(matches!(error, SyncError::Subscribe(_)), "{error:?}");
    assert_eq!(error.phase(), Phase::Subscribe);
    assert_eq!(h.errors.phases(), [Phase::Subscribe]);
    assert_eq!(h.errors.all()[0].topic, TOPIC);
    assert_eq!(h.errors.all()[0].local_revision, None);
    assert_eq!(h.provider.calls(), 0, "no fetch without a subscription");
    assert_eq!(h.bus.active(), 0);
    assert_eq!(sync.lifecycle(), Lifecycle::Idle);

    sync.start().within().await.expect("a later start succeeds");
    assert_eq!(h.bus.subscribe_calls(), 2);
    assert_eq!(h.bus.active(), 1);
    assert_eq!(sync.lifecycle(), Lifecycle::Running);
}

/// Starts with a failing initial refresh, checks the rollback, then starts
/// again successfully.
async fn failed_initial_refresh_rolls_back(h: &Harness, phase: Phase) -> SyncError {
    h.provider.set_revision(3);
    let sync = h.engine();
    let error = sync
        .start()
        .within()
        .await
        .expect_err("initial refresh fails");
    assert_eq!(error.phase(), phase, "{error:?}");
    assert_eq!(h.errors.phases(), [phase], "reported once");
    assert_eq!(h.bus.subscribe_calls(), 1);
    assert_eq!(
        h.bus.unsubscribe_calls(),
        1,
        "the failed start unsubscribed"
    );
    assert_eq!(h.bus.active(), 0);
    assert_eq!(sync.lifecycle(), Lifecycle::Idle);
    // Events after the rollback are not listened to.
    h.bus.emit(&event(TOPIC, 9));
    settle().await;
    let calls = h.provider.calls();

    sync.start().within().await.expect("a later start succeeds");
    assert_eq!(h.provider.calls(), calls + 1);
    assert_eq!(h.bus.active(), 1);
    assert_eq!(sync.local_revision(), rev(3));
    assert_eq!(sync.lifecycle(), Lifecycle::Running);
    error
}

#[tokio::test(start_paused = true)]
async fn start_rejects_and_unsubscribes_when_the_initial_fetch_fails() {
    let h = Harness::new();
    h.provider.script([Step::Fail("backend down".into())]);
    let error = failed_initial_refresh_rolls_back(&h, Phase::GetSnapshot).await;
    assert!(matches!(error, SyncError::GetSnapshot(_)));
}

#[tokio::test(start_paused = true)]
async fn start_rejects_and_unsubscribes_when_the_initial_snapshot_is_invalid() {
    let h = Harness::new();
    h.provider
        .script([Step::Raw(json!({"revision": "01", "data": {}}))]);
    let error = failed_initial_refresh_rolls_back(&h, Phase::Protocol).await;
    assert!(matches!(error, SyncError::Protocol(_)));
}

#[tokio::test(start_paused = true)]
async fn start_rejects_and_unsubscribes_when_the_initial_apply_fails() {
    let h = Harness::new();
    h.applier.fail_next("disk full");
    let error = failed_initial_refresh_rolls_back(&h, Phase::Apply).await;
    assert!(matches!(error, SyncError::Apply(_)));
}

#[tokio::test(start_paused = true)]
async fn start_is_idempotent() {
    let h = Harness::new();
    h.provider.set_revision(2);
    h.provider
        .script([Step::After(ms(20), Box::new(Step::Rev(2)))]);
    let sync = h.engine();
    // Two concurrent calls: the second waits for the first.
    let (a, b) = tokio::join!(sync.start().within(), sync.start().within());
    a.expect("first start");
    b.expect("second start waits for the first");
    // A call after the start is a no-op.
    sync.start().within().await.expect("third start");
    assert_eq!(h.bus.subscribe_calls(), 1);
    assert_eq!(h.provider.calls(), 1);
    assert_eq!(h.applier.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn concurrent_start_shares_the_failure() {
    let h = Harness::new();
    h.provider
        .script([Step::After(ms(20), Box::new(Step::Fail("nope".into())))]);
    let sync = h.engine();
    let (a, b) = tokio::join!(sync.start().within(), sync.start().within());
    assert!(matches!(a, Err(SyncError::GetSnapshot(_))), "{a:?}");
    assert!(matches!(b, Err(SyncError::GetSnapshot(_))), "{b:?}");
    assert_eq!(h.bus.active(), 0);
    assert_eq!(h.errors.phases(), [Phase::GetSnapshot]);
}

#[tokio::test(start_paused = true)]
async fn start_after_stop_rejects_without_subscribing() {
    let h = Harness::new();
    let sync = h.engine();
    sync.stop();
    let error = sync.start().within().await.expect_err("stopped for good");
    assert_eq!(error, SyncError::Stopped);
    assert_eq!(h.errors.phases(), [Phase::Start]);
    assert_eq!(h.bus.subscribe_calls(), 0);
    assert_eq!(h.provider.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn stop_is_idempotent_and_unsubscribes() {
    let h = Harness::new();
    let sync = h.engine();
    sync.start().within().await.expect("start");
    assert_eq!(h.bus.active(), 1);
    sync.stop();
    assert_eq!(h.bus.active(), 0);
    sync.stop();
    assert_eq!(h.bus.unsubscribe_calls(), 1);
    assert_eq!(sync.lifecycle(), Lifecycle::Stopped);
    timeout(LONG, sync.stopped()).await.expect("stopped");
}

#[tokio::test(start_paused = true)]
async fn stop_during_subscribe_fails_start_and_leaves_nothing_subscribed() {
    let h = Harness::new();
    let gate = Gate::new();
    h.bus.hold_subscribe(Some(gate.clone()));
    let sync = h.engine();
    let stop = async {
        settle().await;
        sync.stop();
        gate.open();
    };
    let (result, ()) = tokio::join!(sync.start().within(), stop);
    assert_eq!(result, Err(SyncError::StoppedDuringStart));
    assert_eq!(h.bus.subscribe_calls(), 1);
    assert_eq!(h.bus.active(), 0, "the late subscription was dropped");
    assert_eq!(h.provider.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn stop_during_a_subscribe_that_never_completes_fails_start_at_once() {
    let h = Harness::new();
    let gate = Gate::new();
    h.bus.hold_subscribe(Some(gate.clone()));
    let sync = h.engine();
    let stop = async {
        settle().await;
        sync.stop();
    };
    let (result, ()) = tokio::join!(sync.start().within(), stop);
    assert_eq!(result, Err(SyncError::StoppedDuringStart));
    assert_eq!(sync.lifecycle(), Lifecycle::Stopped);
    // The subscribe completes long after: what it subscribed is released.
    tokio::time::sleep(LONG).await;
    gate.open();
    settle().await;
    assert_eq!(h.bus.subscribe_calls(), 1);
    assert_eq!(h.bus.active(), 0, "the late subscription was released");
    assert_eq!(h.provider.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_start_dropped_after_subscribing_leaves_the_initial_refresh_running() {
    let h = Harness::new();
    h.provider.set_revision(4);
    let gate = Gate::new();
    h.provider.hold(Some(gate.clone()));
    let sync = h.engine();
    {
        let start = sync.start();
        tokio::pin!(start);
        assert!(futures::poll!(&mut start).is_pending(), "refreshing");
        settle().await;
        assert_eq!(h.provider.calls(), 1, "the initial refresh is in flight");
        // Dropped here: subscribing is over, so nothing is rolled back.
    }
    assert_eq!(sync.lifecycle(), Lifecycle::Starting);
    gate.open();
    settle().await;
    assert_eq!(sync.lifecycle(), Lifecycle::Running);
    assert_eq!(sync.local_revision(), rev(4));
    sync.start().within().await.expect("already running");
    assert_eq!(h.bus.subscribe_calls(), 1);
    assert_eq!(h.bus.active(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_start_dropped_while_subscribing_does_not_block_the_next_start() {
    let h = Harness::new();
    let gate = Gate::new();
    h.bus.hold_subscribe(Some(gate.clone()));
    let sync = h.engine();
    let waiter = sync.start();
    tokio::pin!(waiter);
    {
        let start = sync.start();
        tokio::pin!(start);
        assert!(futures::poll!(&mut start).is_pending(), "subscribing");
        assert!(futures::poll!(&mut waiter).is_pending(), "waits for it");
        // Dropped here, as a `select!` or a timeout would.
    }
    assert_eq!(sync.lifecycle(), Lifecycle::Idle);
    assert!(matches!(
        waiter.within().await,
        Err(SyncError::Abandoned(_))
    ));
    gate.open();
    sync.start().within().await.expect("a later start succeeds");
    assert_eq!(h.bus.subscribe_calls(), 2);
    assert_eq!(h.bus.active(), 1);
    assert_eq!(sync.lifecycle(), Lifecycle::Running);
}
