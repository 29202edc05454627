//! Stop quiescence: nothing applies after stop; stop cancels work (STOP-1 to STOP-3).

use crate::prelude::*;

#[tokio::test(start_paused = true)]
async fn no_apply_after_stop_when_the_fetch_completes_later() {
    let h = Harness::new();
    h.provider.set_revision(1);
    let sync = h.engine();
    sync.start().within().await.expect("start");
    let gate = Gate::new();
    h.provider.hold(Some(gate.clone()));
    h.publish(2);
    settle().await;
    sync.stop();
    gate.open();
    settle().await;
    tokio::time::sleep(LONG).await;
    assert_eq!(h.applier.calls(), 1);
    assert_eq!(h.applier.revisions(), [1]);
    timeout(LONG, sync.stopped()).await.expect("stopped");
}

#[tokio::test(start_paused = true)]
async fn no_apply_when_the_snapshot_arrives_just_after_stop() {
    let h = Harness::new();
    h.provider.set_revision(1);
    let sync = h.engine();
    sync.start().within().await.expect("start");
    // The provider answers in the same poll in which `stop` is called, so
    // only the gate in front of the applier can drop the snapshot.
    let stopper = sync.clone();
    h.provider.script([Step::Then(
        Arc::new(move || stopper.stop()),
        Box::new(Step::Rev(2)),
    )]);
    h.publish(2);
    settle().await;
    assert_eq!(sync.lifecycle(), Lifecycle::Stopped);
    assert_eq!(h.provider.calls(), 2);
    assert_eq!(h.applier.calls(), 1, "the snapshot after stop is dropped");
    timeout(LONG, sync.stopped()).await.expect("stopped");
}

#[tokio::test(start_paused = true)]
async fn stop_during_a_hung_fetch_lets_stopped_resolve() {
    let h = Harness::new();
    let sync = h.engine();
    sync.start().within().await.expect("start");
    h.provider.script([Step::Hang]);
    h.publish(1);
    settle().await;
    assert_eq!(h.provider.calls(), 2);
    let t0 = Instant::now();
    sync.stop();
    timeout(LONG, sync.stopped())
        .await
        .expect("stopped resolves despite the hung fetch");
    assert_eq!(t0.elapsed(), Duration::ZERO);
    settle().await;
    assert_eq!(alive_tasks(), 0, "the fetch loop is gone");
}

#[test]
fn stop_from_inside_the_applier_does_not_deadlock() {
    deadlock_guard(Duration::from_secs(10), || async {
        let h = Harness::new();
        let sync = h.engine();
        sync.start().within().await.expect("start");
        let stopper = sync.clone();
        h.applier.on_apply(move |r| {
            if r.get() == 2 {
                stopper.stop();
            }
        });
        h.publish(2);
        settle().await;
        assert_eq!(sync.lifecycle(), Lifecycle::Stopped);
        assert_eq!(h.bus.active(), 0);
        timeout(LONG, sync.stopped()).await.expect("stopped");
        h.publish(3);
        settle().await;
        assert_eq!(h.applier.calls(), 2, "nothing after the stop");
    });
}

#[test]
fn an_applier_may_read_the_engine_while_applying() {
    deadlock_guard(Duration::from_secs(10), || async {
        let h = Harness::new();
        let sync = h.engine();
        let reader = sync.clone();
        let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let sink = seen.clone();
        h.applier.on_apply(move |_| {
            sink.lock()
                .push((reader.local_revision().get(), reader.metrics().fetches));
        });
        h.provider.set_revision(4);
        sync.start().within().await.expect("start");
        assert_eq!(*seen.lock(), [(0, 1)]);
    });
}

#[tokio::test(start_paused = true)]
async fn stopped_waits_for_an_apply_in_progress() {
    let h = Harness::new();
    let sync = h.engine();
    sync.start().within().await.expect("start");
    let gate = Gate::new();
    h.applier.hold(Some(gate.clone()));
    h.publish(1);
    settle().await;
    assert_eq!((h.applier.calls(), h.applier.finished()), (2, 1));
    sync.stop();
    let stopped = sync.stopped();
    tokio::pin!(stopped);
    assert!(
        timeout(ms(500), &mut stopped).await.is_err(),
        "stopped must wait for the running apply"
    );
    gate.open();
    timeout(LONG, &mut stopped).await.expect("stopped");
    assert_eq!(h.applier.finished(), 2);
}
