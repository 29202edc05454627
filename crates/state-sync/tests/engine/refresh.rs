//! `refresh`: before start, while running, after stop (LIFE-8, LIFE-9).

use crate::prelude::*;

#[tokio::test(start_paused = true)]
async fn refresh_before_start_fetches_and_applies() {
    let h = Harness::new();
    h.provider.set_revision(3);
    let sync = h.engine();
    sync.refresh().within().await.expect("refresh");
    assert_eq!(h.applier.revisions(), [3]);
    assert_eq!(sync.local_revision(), rev(3));
    assert_eq!(h.bus.subscribe_calls(), 0);
    assert_eq!(sync.lifecycle(), Lifecycle::Idle);
}

#[tokio::test(start_paused = true)]
async fn refresh_after_stop_does_nothing_and_succeeds() {
    let h = Harness::new();
    let sync = h.engine();
    sync.start().within().await.expect("start");
    sync.stop();
    h.provider.set_revision(9);
    sync.refresh().within().await.expect("Ok after stop");
    settle().await;
    assert_eq!(h.provider.calls(), 1, "no fetch after stop");
    assert_eq!(h.applier.revisions(), [0]);
}

#[tokio::test(start_paused = true)]
async fn a_refresh_waiting_for_a_follow_up_resolves_when_stopped() {
    let h = Harness::new();
    let sync = h.engine();
    sync.start().within().await.expect("start");
    let gate = Gate::new();
    h.provider.hold(Some(gate.clone()));
    h.publish(1);
    settle().await;
    let stop = async {
        settle().await;
        sync.stop();
        gate.open();
    };
    // Queued behind the fetch in flight; stop drops the follow-up.
    let (result, ()) = tokio::join!(sync.refresh().within(), stop);
    result.expect("Ok after stop");
    assert_eq!(h.provider.calls(), 2, "the follow-up never ran");
}

#[tokio::test(start_paused = true)]
async fn refresh_reports_the_failure_of_its_fetch() {
    let h = Harness::new();
    let sync = h.engine();
    sync.start().within().await.expect("start");
    h.provider.script([Step::Fail("503".into())]);
    let error = sync.refresh().within().await.expect_err("fetch fails");
    assert!(matches!(error, SyncError::GetSnapshot(_)));
    assert_eq!(sync.lifecycle(), Lifecycle::Running, "still running");
    h.provider.set_revision(1);
    sync.refresh().within().await.expect("next refresh works");
    assert_eq!(sync.local_revision(), rev(1));
}
