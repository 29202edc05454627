//! Errors: phases, contexts, panicking ports and hooks (ERR-1 to ERR-4).

use crate::prelude::*;

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

/// A subscriber that panics — while building its future, or inside it —
/// fails the start with a subscribe error (TR-3) instead of unwinding into
/// the caller; a later start works.
#[tokio::test(start_paused = true)]
async fn a_panicking_subscriber_fails_the_start_and_a_later_start_works() {
    use futures::future::BoxFuture;
    use state_sync::{InvalidationHandler, InvalidationSubscriber, PortError, Subscription};

    /// Panics on its first call, inside the future on its second, then
    /// subscribes through the harness's bus.
    struct Panicky(AtomicUsize, Arc<crate::support::Bus>);
    impl InvalidationSubscriber for Panicky {
        fn subscribe(
            &self,
            handler: InvalidationHandler,
        ) -> BoxFuture<'_, Result<Subscription, PortError>> {
            match self.0.fetch_add(1, Ordering::SeqCst) {
                0 => panic!("subscriber bug"),
                1 => Box::pin(async { panic!("subscriber future bug") }),
                _ => self.1.subscribe(handler),
            }
        }
    }
    let h = Harness::new();
    let sync = RevisionSync::builder(
        TOPIC,
        Panicky(AtomicUsize::new(0), h.bus.clone()),
        h.provider.clone(),
        h.applier.clone(),
    )
    .on_error(h.errors.hook())
    .build();
    for bug in ["subscriber bug", "subscriber future bug"] {
        let err = sync.start().within().await.expect_err(bug);
        assert_eq!(err.phase(), Phase::Subscribe);
        assert!(err.to_string().contains(bug), "{err}");
        assert_eq!(sync.lifecycle(), Lifecycle::Idle, "rolled back");
    }
    sync.start()
        .within()
        .await
        .expect("the third subscribe works");
    h.publish(1);
    settle().await;
    assert_eq!(sync.local_revision(), rev(1));
    let phases: Vec<Phase> = h.errors.all().iter().map(|c| c.phase).collect();
    assert_eq!(phases, [Phase::Subscribe, Phase::Subscribe]);
}

/// An unsubscribe that panics does not unwind out of `stop` (or a drop):
/// the engine still ends stopped, and applies nothing more.
#[tokio::test(start_paused = true)]
async fn a_panicking_unsubscribe_does_not_break_stop() {
    let h = Harness::new();
    h.bus.on_unsubscribe(|| panic!("unsubscribe bug"));
    let sync = h.engine();
    sync.start().within().await.expect("start");
    sync.stop();
    assert_eq!(sync.lifecycle(), Lifecycle::Stopped);
    assert_eq!(h.bus.unsubscribe_calls(), 1);
    assert_eq!(h.bus.active(), 0);
    let applied = h.applier.finished();
    h.publish(1);
    settle().await;
    assert_eq!(h.applier.finished(), applied, "nothing applied after stop");
    // A subscription dropped by a dropped engine does not unwind either.
    let dropped = h.engine();
    dropped.start().within().await.expect("start");
    drop(dropped);
    assert_eq!(h.bus.unsubscribe_calls(), 2);
}
