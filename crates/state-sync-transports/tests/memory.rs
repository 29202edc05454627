//! Tests of the in-process transport.

mod common;

use std::sync::Arc;

use common::{Engine, Recorder, converge, garbage};
use parking_lot::Mutex;
use serde_json::{Value, json};
use state_sync::source::SourceOfTruth;
use state_sync::{
    InvalidationSubscriber, Phase, PortError, Revision, SnapshotProvider, Subscription, SyncError,
};
use state_sync_transports::memory::Bus;

#[tokio::test(start_paused = true)]
async fn delivers_synchronously_in_subscription_order() {
    let bus = Bus::new();
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut subscriptions = Vec::new();
    for i in 0..3 {
        let order = order.clone();
        let handler = Arc::new(move |p: &Value| order.lock().push((i, p.clone())));
        subscriptions.push(bus.window("t").subscribe(handler).await.expect("subscribe"));
    }
    bus.emit(&json!({"n": 1}));
    // Delivered before `emit` returned, without yielding to the runtime.
    assert_eq!(
        *order.lock(),
        [
            (0, json!({"n": 1})),
            (1, json!({"n": 1})),
            (2, json!({"n": 1}))
        ]
    );
    assert_eq!(bus.active_subscriptions(), 3);
}

#[tokio::test(start_paused = true)]
async fn unsubscribe_stops_delivery_and_frees_the_subscription() {
    let bus = Bus::new();
    let recorder = Recorder::default();
    let subscription = bus
        .window("t")
        .subscribe(recorder.handler())
        .await
        .expect("subscribe");
    bus.emit(&json!(1));
    subscription.unsubscribe();
    assert_eq!(bus.active_subscriptions(), 0);
    bus.emit(&json!(2));
    assert_eq!(recorder.seen(), [json!(1)]);
    bus.settle().await;
    assert_eq!(bus.active_subscriptions(), 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_subscription_unsubscribes() {
    let bus = Bus::new();
    let recorder = Recorder::default();
    let subscription = bus
        .window("t")
        .subscribe(recorder.handler())
        .await
        .expect("subscribe");
    assert_eq!(bus.active_subscriptions(), 1);
    drop(subscription);
    assert_eq!(bus.active_subscriptions(), 0);
    bus.emit(&json!(1));
    assert!(recorder.seen().is_empty());
}

#[tokio::test(start_paused = true)]
async fn unsubscribing_during_an_emit_skips_the_removed_handler() {
    let bus = Bus::new();
    let second: Arc<Mutex<Option<Subscription>>> = Arc::default();
    let slot = second.clone();
    let first = bus
        .window("t")
        .subscribe(Arc::new(move |_: &Value| drop(slot.lock().take())))
        .await
        .expect("subscribe");
    let recorder = Recorder::default();
    *second.lock() = Some(
        bus.window("t")
            .subscribe(recorder.handler())
            .await
            .expect("subscribe"),
    );
    bus.emit(&json!(1));
    assert!(recorder.seen().is_empty(), "removed before its turn came");
    assert_eq!(bus.active_subscriptions(), 1);
    drop(first);
}

#[tokio::test(start_paused = true)]
async fn reentrant_emit_is_delivered_nested() {
    let bus = Bus::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    let (inner_bus, inner_log) = (bus.clone(), log.clone());
    let _first = bus
        .window("t")
        .subscribe(Arc::new(move |p: &Value| {
            inner_log.lock().push(format!("first {p}"));
            if *p == json!("outer") {
                inner_bus.emit(&json!("inner"));
            }
        }))
        .await
        .expect("subscribe");
    let second_log = log.clone();
    let _second = bus
        .window("t")
        .subscribe(Arc::new(move |p: &Value| {
            second_log.lock().push(format!("second {p}"))
        }))
        .await
        .expect("subscribe");
    bus.emit(&json!("outer"));
    assert_eq!(
        *log.lock(),
        [
            r#"first "outer""#,
            r#"first "inner""#,
            r#"second "inner""#,
            r#"second "outer""#
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn late_subscriber_gets_no_replay() {
    let bus = Bus::new();
    let early = Recorder::default();
    let _early = bus
        .window("t")
        .subscribe(early.handler())
        .await
        .expect("subscribe");
    bus.emit(&json!(1));
    let late = Recorder::default();
    let _late = bus
        .window("t")
        .subscribe(late.handler())
        .await
        .expect("subscribe");
    assert!(late.seen().is_empty());
    bus.emit(&json!(2));
    assert_eq!(early.seen(), [json!(1), json!(2)]);
    assert_eq!(late.seen(), [json!(2)]);
}

#[tokio::test(start_paused = true)]
async fn snapshot_errors_surface_as_port_errors() {
    let bus = Bus::new();
    let window = bus.window("t");

    let err = window.get_snapshot().await.expect_err("no handler yet");
    assert!(
        err.message().contains("no snapshot handler installed"),
        "{err}"
    );

    bus.serve(|topic| async move {
        match topic.as_str() {
            "t" => Err(PortError::from_json(json!({"code": 503, "topic": topic}))),
            _ => panic!("backend bug"),
        }
    });
    let err = window.get_snapshot().await.expect_err("handler error");
    assert_eq!(err.detail(), Some(&json!({"code": 503, "topic": "t"})));

    let err = bus
        .window("other")
        .get_snapshot()
        .await
        .expect_err("handler panic");
    assert_eq!(err.message(), "snapshot handler panicked: backend bug");

    // The engine reports it as a failed start and keeps nothing subscribed.
    let engine = Engine::new("t", window);
    let outcome = engine.sync.start().await;
    assert!(
        matches!(outcome, Err(SyncError::GetSnapshot(_))),
        "{outcome:?}"
    );
    assert_eq!(engine.errors.lock()[0].phase, Phase::GetSnapshot);
    assert_eq!(bus.active_subscriptions(), 0);
}

#[tokio::test(start_paused = true)]
async fn garbage_passes_through_intact() {
    let bus = Bus::new();
    let recorder = Recorder::default();
    let _subscription = bus
        .window("t")
        .subscribe(recorder.handler())
        .await
        .expect("subscribe");
    for payload in garbage() {
        bus.emit(&payload);
    }
    assert_eq!(recorder.seen(), garbage());

    let served = Arc::new(Mutex::new(garbage()));
    let queue = served.clone();
    bus.serve(move |_| {
        let next = queue.lock().remove(0);
        async move { Ok(next) }
    });
    let window = bus.window("t");
    for expected in garbage() {
        assert_eq!(window.get_snapshot().await.expect("served"), expected);
    }
}

#[tokio::test(start_paused = true)]
async fn engines_converge_after_a_burst() {
    let source = Arc::new(SourceOfTruth::new("settings", json!({"n": 0})));
    let bus = Bus::new();
    bus.serve_source(source.clone());

    let mut engines = Vec::new();
    for _ in 0..3 {
        let engine = Engine::new("settings", bus.window("settings"));
        engine.sync.start().await.expect("start");
        engines.push(engine);
    }
    for n in 1..=100 {
        let event = source.set(json!({"n": n})).expect("room");
        bus.emit(&event.to_json());
        if n == 50 {
            let late = Engine::new("settings", bus.window("settings"));
            late.sync.start().await.expect("late start");
            engines.push(late);
        }
    }
    assert!(
        converge(&engines, Revision::new(100)).await,
        "engines did not converge"
    );
    for engine in &engines {
        assert_eq!(engine.applier.state(), json!({"n": 100}));
        assert!(
            engine.errors.lock().is_empty(),
            "{:?}",
            engine.errors.lock()
        );
        engine.sync.stop();
    }
    assert_eq!(bus.active_subscriptions(), 0);
}
