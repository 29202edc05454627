//! Driver tests: the [`RevisionSync`] handle on tokio, with in-test doubles
//! for the transport, the provider and the applier (see `support`).
//!
//! Every test runs on paused virtual time (current-thread runtime) except the
//! multi-thread smoke tests; nothing sleeps in real time.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use state_sync::retry::RetryPolicy;
use state_sync::{
    Lifecycle, Metrics, Phase, Revision, RevisionSync, SyncError, Throttle, with_retry,
};
use support::{
    Gate, Harness, LONG, Log, Mode, RealWithin, Recorder, Step, TOPIC, Within, alive_tasks,
    deadlock_guard, event, event_from, ms, settle,
};
use tokio::time::{Instant, timeout};

fn rev(n: u64) -> Revision {
    Revision::new(n)
}

// ---------------------------------------------------------------------------
// start

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

// ---------------------------------------------------------------------------
// refresh

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

// ---------------------------------------------------------------------------
// coalescing

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

// ---------------------------------------------------------------------------
// revision gate

#[tokio::test(start_paused = true)]
async fn snapshots_not_newer_than_local_are_skipped() {
    let h = Harness::new();
    h.provider.set_revision(5);
    let sync = h.engine();
    sync.start().within().await.expect("start");
    h.provider.script([Step::Rev(5), Step::Rev(3)]);
    sync.refresh().within().await.expect("same revision");
    sync.refresh().within().await.expect("older revision");
    assert_eq!(h.applier.revisions(), [5]);
    assert_eq!(sync.metrics().stale_skips, 2);
    h.provider.set_revision(6);
    sync.refresh().within().await.expect("newer");
    assert_eq!(h.applier.revisions(), [5, 6]);
}

#[tokio::test(start_paused = true)]
async fn events_not_newer_than_local_are_ignored() {
    let h = Harness::new();
    h.provider.set_revision(5);
    let sync = h.engine();
    sync.start().within().await.expect("start");
    for r in [5, 4, 0] {
        h.bus.emit(&event(TOPIC, r));
    }
    settle().await;
    assert_eq!(h.provider.calls(), 1, "no fetch for old news");
    h.publish(6);
    settle().await;
    assert_eq!(h.provider.calls(), 2);
    assert_eq!(sync.local_revision(), rev(6));
}

#[tokio::test(start_paused = true)]
async fn events_for_other_topics_are_ignored() {
    let h = Harness::new();
    let sync = h.engine();
    sync.start().within().await.expect("start");
    h.provider.set_revision(7);
    h.bus.emit(&event("auth-state", 7));
    settle().await;
    assert_eq!(h.provider.calls(), 1);
    assert!(h.errors.all().is_empty(), "another topic is not an error");
    h.bus.emit(&event(TOPIC, 7));
    settle().await;
    assert_eq!(sync.local_revision(), rev(7));
}

#[tokio::test(start_paused = true)]
async fn should_refresh_false_prevents_the_fetch() {
    let h = Harness::new();
    let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let log = seen.clone();
    let sync = h
        .builder()
        .should_refresh(move |e| {
            log.lock()
                .push((e.revision.get(), e.source_id.map(str::to_owned)));
            e.source_id != Some("window:self")
        })
        .build();
    sync.start().within().await.expect("start");
    h.provider.set_revision(6);
    h.bus.emit(&event_from(TOPIC, 6, "window:self"));
    settle().await;
    assert_eq!(h.provider.calls(), 1, "own change filtered out");
    h.provider.set_revision(7);
    h.bus.emit(&event_from(TOPIC, 7, "window:other"));
    settle().await;
    assert_eq!(h.provider.calls(), 2);
    assert_eq!(sync.local_revision(), rev(7));
    assert_eq!(
        *seen.lock(),
        [
            (6, Some("window:self".to_owned())),
            (7, Some("window:other".to_owned()))
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_panicking_should_refresh_is_reported_and_the_engine_keeps_working() {
    let h = Harness::new();
    let sync = h
        .builder()
        .should_refresh(|e| {
            assert!(e.revision.get() != 6, "filter bug");
            true
        })
        .build();
    sync.start().within().await.expect("start");
    let payload = event_from(TOPIC, 6, "window:a");
    h.provider.set_revision(6);
    h.bus.emit(&payload);
    settle().await;
    assert_eq!(h.provider.calls(), 1, "no refresh for the event");
    let errors = h.errors.all();
    assert_eq!(errors.len(), 1);
    let ctx = &errors[0];
    assert_eq!(ctx.phase, Phase::Invalidation);
    assert_eq!(ctx.topic, TOPIC);
    assert_eq!(ctx.event_revision, Some(rev(6)));
    assert_eq!(ctx.local_revision, Some(rev(0)));
    assert_eq!(ctx.source_event.as_ref(), Some(&payload));
    assert_eq!(ctx.source_id.as_deref(), Some("window:a"));
    assert!(ctx.message.contains("filter bug"), "{}", ctx.message);

    h.publish(7);
    settle().await;
    assert_eq!(sync.local_revision(), rev(7));
}

// ---------------------------------------------------------------------------
// stale refetch

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

// ---------------------------------------------------------------------------
// stop quiescence

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

// ---------------------------------------------------------------------------
// errors

#[tokio::test(start_paused = true)]
async fn garbage_events_are_reported_once_each_and_the_engine_keeps_working() {
    let h = Harness::new();
    let sync = h.engine();
    sync.start().within().await.expect("start");
    let garbage = [
        json!(42),
        json!("app-config"),
        json!(null),
        json!(["app-config", "1"]),
        json!({"topic": TOPIC, "revision": 5}),
        json!({"topic": "   ", "revision": "5"}),
        json!({"topic": "", "revision": "5"}),
        json!({"topic": TOPIC, "revision": "01"}),
        json!({"topic": TOPIC, "revision": "18446744073709551616"}),
        json!({"topic": TOPIC}),
        json!({"revision": "5"}),
    ];
    for (i, payload) in garbage.iter().enumerate() {
        h.bus.emit(payload);
        let errors = h.errors.all();
        assert_eq!(errors.len(), i + 1, "one report for {payload}");
        let ctx = &errors[i];
        assert_eq!(ctx.phase, Phase::Protocol, "{payload}");
        assert_eq!(ctx.topic, TOPIC);
        assert_eq!(ctx.source_event.as_ref(), Some(payload));
        assert!(matches!(ctx.error, Some(SyncError::Protocol(_))));
    }
    settle().await;
    assert_eq!(h.provider.calls(), 1, "garbage never fetches");
    assert_eq!(sync.metrics().protocol_errors, garbage.len() as u64);
    h.publish(5);
    settle().await;
    assert_eq!(sync.local_revision(), rev(5));
    assert_eq!(h.errors.all().len(), garbage.len());
}

#[tokio::test(start_paused = true)]
async fn a_panicking_on_error_hook_is_caught() {
    let h = Harness::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let sync = RevisionSync::builder(TOPIC, h.bus.clone(), h.provider.clone(), h.applier.clone())
        .on_error(move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
            panic!("hook bug");
        })
        .build();
    sync.start().within().await.expect("start");
    h.bus.emit(&json!({"topic": TOPIC, "revision": "x"}));
    h.provider.script([Step::Fail("down".into())]);
    h.publish(1);
    settle().await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    h.publish(2);
    settle().await;
    assert_eq!(sync.local_revision(), rev(2), "still alive");
}

#[tokio::test(start_paused = true)]
async fn a_failed_event_refresh_does_not_disable_the_engine() {
    let h = Harness::new();
    let sync = h.engine();
    sync.start().within().await.expect("start");
    h.provider.script([Step::Fail("timeout".into())]);
    h.publish(1);
    settle().await;
    assert_eq!(h.errors.phases(), [Phase::GetSnapshot]);
    assert_eq!(sync.local_revision(), rev(0));
    h.publish(2);
    settle().await;
    assert_eq!(sync.local_revision(), rev(2));
    assert_eq!(sync.lifecycle(), Lifecycle::Running);
}

#[tokio::test(start_paused = true)]
async fn error_contexts_carry_the_revisions_involved() {
    let h = Harness::new();
    h.provider.set_revision(3);
    let sync = h.engine();
    sync.start().within().await.expect("start");

    h.applier.fail_next("disk full");
    h.publish(4);
    settle().await;
    h.provider.script([Step::Raw(json!({"revision": "5"}))]);
    h.publish(5);
    settle().await;
    h.provider.script([Step::Fail("gone".into())]);
    h.publish(6);
    settle().await;

    let errors = h.errors.all();
    let phases: Vec<_> = errors.iter().map(|c| c.phase).collect();
    assert_eq!(phases, [Phase::Apply, Phase::Protocol, Phase::GetSnapshot]);
    for ctx in &errors {
        assert_eq!(ctx.topic, TOPIC);
        assert_eq!(ctx.local_revision, Some(rev(3)));
        assert_eq!(ctx.attempt, None, "no retry wrapper");
        assert_eq!(ctx.error.as_ref().map(SyncError::phase), Some(ctx.phase));
    }
    assert_eq!(errors[0].snapshot_revision, Some(rev(4)));
    assert_eq!(errors[1].snapshot_revision, Some(rev(5)));
    assert!(errors[1].message.contains("data"), "{}", errors[1].message);
    assert_eq!(sync.metrics().protocol_errors, 1);
}

#[tokio::test(start_paused = true)]
async fn a_retry_wrapper_that_gives_up_reports_its_attempts() {
    let h = Harness::new();
    let sync = h
        .builder_with(|p| with_retry(p, RetryPolicy::default()))
        .build();
    sync.start().within().await.expect("start");
    h.provider.set_mode(Mode::Failing);
    h.publish(1);
    tokio::time::sleep(LONG).await;
    assert_eq!(h.provider.calls(), 1 + 3);
    let errors = h.errors.all();
    assert_eq!(errors.len(), 1, "reported once, when the wrapper gives up");
    assert_eq!(errors[0].phase, Phase::GetSnapshot);
    assert_eq!(errors[0].attempt, Some(3));
    assert_eq!(errors[0].will_retry, Some(false));
}

// ---------------------------------------------------------------------------
// metrics

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

// ---------------------------------------------------------------------------
// retry

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
    assert_eq!(sync.metrics().fetches - 1, 2, "the cycle and one follow-up");
    assert_eq!(h.provider.calls(), 1 + 2 + 1);
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

// ---------------------------------------------------------------------------
// throttle and debounce

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

// ---------------------------------------------------------------------------
// multi-thread runtime

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn engines_converge_on_a_multi_thread_runtime() {
    const ENGINES: usize = 8;
    const EMITTERS: usize = 4;
    const PER_EMITTER: usize = 250;
    let h = Arc::new(Harness::new());
    let engines: Vec<(RevisionSync<Value>, Arc<Recorder>)> = (0..ENGINES)
        .map(|_| {
            let applier = Arc::new(Recorder::new(Log::default()));
            let sync =
                RevisionSync::builder(TOPIC, h.bus.clone(), h.provider.clone(), applier.clone())
                    .on_error(h.errors.hook())
                    .build();
            (sync, applier)
        })
        .collect();
    let starts: Vec<_> = engines
        .iter()
        .map(|(sync, _)| {
            let sync = sync.clone();
            tokio::spawn(async move { sync.start().real_within().await })
        })
        .collect();
    for s in starts {
        s.await.expect("join").expect("start");
    }
    let emitters: Vec<_> = (0..EMITTERS)
        .map(|_| {
            let h = h.clone();
            tokio::spawn(async move {
                for i in 0..PER_EMITTER {
                    let r = h.provider.bump();
                    h.bus.emit(&event(TOPIC, r));
                    if i % 16 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();
    for e in emitters {
        e.await.expect("emitter");
    }
    let last = (EMITTERS * PER_EMITTER) as u64;
    assert_eq!(h.provider.revision(), last);
    for (sync, applier) in &engines {
        timeout(Duration::from_secs(30), applier.wait_for(last))
            .await
            .expect("converges");
        // The applier has run; a refresh resolves only after a cycle that
        // began after it, so the engine has recorded the apply by then.
        sync.refresh().real_within().await.expect("refresh");
        assert_eq!(sync.local_revision(), rev(last));
        let revisions = applier.revisions();
        assert!(
            revisions.windows(2).all(|w| w[0] < w[1]),
            "applies strictly increase: {revisions:?}"
        );
        assert_eq!(applier.max_running(), 1, "never applied concurrently");
    }
    for (sync, _) in &engines {
        sync.stop();
        timeout(Duration::from_secs(30), sync.stopped())
            .await
            .expect("stopped");
    }
    assert_eq!(h.bus.active(), 0);
    assert!(h.errors.all().is_empty(), "{:?}", h.errors.all());
}

/// A failed start unsubscribes from inside the fetch loop, after the core
/// already considers the loop finished. A refresh in that gap starts a new
/// loop; when the old one then publishes "loop finished", `stopped` must
/// still wait for the new loop's apply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loop_started_while_a_failed_start_rolls_back_keeps_stopped_waiting() {
    let h = Harness::new();
    h.provider.script([Step::Fail("down".into())]);
    let sync = h.engine();
    let (in_hook_tx, mut in_hook) = tokio::sync::mpsc::unbounded_channel();
    let (release, release_rx) = std::sync::mpsc::channel::<()>();
    let release_rx = parking_lot::Mutex::new(release_rx);
    h.bus.on_unsubscribe(move || {
        let _ = in_hook_tx.send(());
        // Blocks this worker thread inside the old loop's unsubscribe.
        let _ = release_rx.lock().recv();
    });
    let starting = {
        let s = sync.clone();
        tokio::spawn(async move { s.start().real_within().await })
    };
    in_hook
        .recv()
        .real_within()
        .await
        .expect("the failed start unsubscribes");

    let gate = Gate::new();
    h.applier.hold(Some(gate.clone()));
    let (applying_tx, mut applying) = tokio::sync::mpsc::unbounded_channel();
    h.applier.on_apply(move |_| {
        let _ = applying_tx.send(());
    });
    let refreshing = {
        let s = sync.clone();
        tokio::spawn(async move { s.refresh().real_within().await })
    };
    applying
        .recv()
        .real_within()
        .await
        .expect("the new loop is applying");
    release.send(()).expect("release the old loop");
    let outcome = starting.real_within().await.expect("join");
    assert!(
        matches!(outcome, Err(SyncError::GetSnapshot(_))),
        "{outcome:?}"
    );

    sync.stop();
    let stopped = sync.stopped();
    tokio::pin!(stopped);
    assert!(
        futures::poll!(&mut stopped).is_pending(),
        "an apply is still running"
    );
    gate.open();
    timeout(Duration::from_secs(30), stopped)
        .await
        .expect("stopped");
    refreshing
        .real_within()
        .await
        .expect("join")
        .expect("refresh");
    assert_eq!(h.applier.finished(), 1);
}

/// A port that panics must not wedge the engine: the panic becomes an error
/// of its phase and the next refresh works.
#[tokio::test(start_paused = true)]
async fn panicking_ports_become_errors_and_the_engine_keeps_working() {
    use futures::future::BoxFuture;
    use serde_json::{Value, json};
    use state_sync::{PortError, SnapshotApplier, SnapshotEnvelope, SnapshotProvider};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Panics on the first call (while building the future), then serves.
    struct Provider(AtomicU32);
    impl SnapshotProvider for Provider {
        fn get_snapshot(&self) -> BoxFuture<'_, Result<Value, PortError>> {
            let n = self.0.fetch_add(1, Ordering::SeqCst);
            if n == 1 {
                panic!("provider bug");
            }
            Box::pin(async move { Ok(json!({"revision": (n + 1).to_string(), "data": n})) })
        }
    }
    /// Panics inside its future on the second apply.
    struct Applier(AtomicU32);
    impl SnapshotApplier<Value> for Applier {
        fn apply(&self, _: SnapshotEnvelope<Value>) -> BoxFuture<'_, Result<(), PortError>> {
            let n = self.0.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                if n == 1 {
                    panic!("applier bug");
                }
                Ok(())
            })
        }
    }
    let phases = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let seen = phases.clone();
    struct NoEvents;
    impl state_sync::InvalidationSubscriber for NoEvents {
        fn subscribe(
            &self,
            _: state_sync::InvalidationHandler,
        ) -> BoxFuture<'_, Result<state_sync::Subscription, PortError>> {
            Box::pin(async { Ok(state_sync::Subscription::noop()) })
        }
    }
    let sync = state_sync::RevisionSync::builder(
        "t",
        NoEvents,
        Provider(AtomicU32::new(0)),
        Applier(AtomicU32::new(0)),
    )
    .on_error(move |ctx| seen.lock().push((ctx.phase, ctx.message.clone())))
    .build();
    // Without the guard a panic kills the fetch loop and these would hang.
    let bounded = |f| tokio::time::timeout(std::time::Duration::from_secs(60), f);
    sync.start().await.expect("first fetch and apply work");
    let err = bounded(sync.refresh())
        .await
        .expect("no hang")
        .expect_err("the provider panics");
    assert_eq!(err.phase(), state_sync::Phase::GetSnapshot);
    let err = bounded(sync.refresh())
        .await
        .expect("no hang")
        .expect_err("the applier panics");
    assert_eq!(err.phase(), state_sync::Phase::Apply);
    bounded(sync.refresh())
        .await
        .expect("no hang")
        .expect("the engine still works");
    assert_eq!(sync.local_revision().get(), 4);
    let phases = phases.lock().clone();
    assert!(phases[0].1.contains("provider bug"), "{phases:?}");
    assert!(phases[1].1.contains("applier bug"), "{phases:?}");
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
