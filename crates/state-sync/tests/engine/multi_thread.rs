//! Smoke tests on a multi-thread runtime.

use crate::prelude::*;

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
