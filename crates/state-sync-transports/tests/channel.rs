//! Tests of the tokio-channel transport.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Engine, Recorder, converge, garbage};
use parking_lot::Mutex;
use serde_json::{Value, json};
use state_sync::source::SourceOfTruth;
use state_sync::{InvalidationSubscriber, Phase, PortError, Revision, SnapshotProvider, SyncError};
use state_sync_transports::channel::{Bus, ChannelConfig};

fn small(event_capacity: usize) -> Bus {
    Bus::with_config(ChannelConfig {
        event_capacity,
        ..ChannelConfig::default()
    })
}

fn event(topic: &str, revision: u64) -> Value {
    json!({"topic": topic, "revision": revision.to_string()})
}

#[tokio::test(start_paused = true)]
async fn delivers_asynchronously_in_emit_order() {
    let bus = Bus::new();
    let recorder = Recorder::default();
    let _subscription = bus
        .window("t")
        .subscribe(recorder.handler())
        .await
        .expect("subscribe");
    for n in 1..=3 {
        bus.emit(&json!(n));
    }
    assert!(
        recorder.seen().is_empty(),
        "emit does not wait for delivery"
    );
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(recorder.seen(), [json!(1), json!(2), json!(3)]);
}

#[tokio::test(start_paused = true)]
async fn a_lagging_subscriber_keeps_the_newest_payload_for_its_topic() {
    let bus = small(2);
    let recorder = Recorder::default();
    let _subscription = bus
        .window("t")
        .subscribe(recorder.handler())
        .await
        .expect("subscribe");
    for revision in 1..=10 {
        bus.emit(&event("t", revision));
    }
    bus.emit(&event("other", 99));
    bus.emit(&json!("garbage"));
    assert_eq!(bus.overflows(), 10);
    tokio::time::sleep(Duration::from_millis(1)).await;
    // The two buffered payloads, then the newest one for the topic: never
    // silently stuck behind revision 10.
    assert_eq!(
        recorder.seen(),
        [event("t", 1), event("t", 2), event("t", 10)]
    );

    // Caught up: payloads are queued normally again.
    bus.emit(&json!("after"));
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(recorder.seen().last(), Some(&json!("after")));
    assert_eq!(bus.overflows(), 10);
}

#[tokio::test(start_paused = true)]
async fn a_lagging_engine_still_converges() {
    let source = Arc::new(SourceOfTruth::new("counter", 0u64));
    let bus = small(1);
    bus.serve_source(source.clone());
    let engine = Engine::new("counter", bus.window("counter"));
    engine.sync.start().await.expect("start");
    for _ in 0..200 {
        let event = source.update(|n| *n += 1).expect("room");
        bus.emit(&event.to_json());
        // Another topic's traffic does not push ours out.
        bus.emit(&event_for_other_topic());
    }
    assert!(bus.overflows() > 0);
    assert!(converge(std::slice::from_ref(&engine), Revision::new(200)).await);
    assert_eq!(engine.applier.state(), json!(200));
    engine.sync.stop();
}

fn event_for_other_topic() -> Value {
    event("other", 1)
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
    tokio::time::sleep(Duration::from_millis(1)).await;
    bus.emit(&json!(2)); // queued, not yet delivered
    subscription.unsubscribe();
    assert_eq!(bus.active_subscriptions(), 0);
    bus.emit(&json!(3));
    bus.settle().await; // the subscriber's task has ended
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(
        recorder.seen(),
        [json!(1)],
        "nothing delivered after unsubscribe"
    );
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
    bus.emit(&json!(1));
    drop(subscription);
    assert_eq!(bus.active_subscriptions(), 0);
    bus.settle().await;
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert!(recorder.seen().is_empty());
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
    tokio::time::sleep(Duration::from_millis(1)).await;
    let late = Recorder::default();
    let _late = bus
        .window("t")
        .subscribe(late.handler())
        .await
        .expect("subscribe");
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert!(late.seen().is_empty());
    bus.emit(&json!(2));
    tokio::time::sleep(Duration::from_millis(1)).await;
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
            "t" => Err(PortError::from_json(json!({"code": 503}))),
            _ => panic!("backend bug"),
        }
    });
    let err = window.get_snapshot().await.expect_err("handler error");
    assert_eq!(err.detail(), Some(&json!({"code": 503})));

    let err = bus
        .window("other")
        .get_snapshot()
        .await
        .expect_err("handler panic");
    assert_eq!(err.message(), "snapshot handler panicked: backend bug");

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
async fn snapshot_requests_are_served_concurrently() {
    let bus = Bus::new();
    bus.serve(|topic| async move {
        let delay = if topic == "slow" { 50 } else { 10 };
        tokio::time::sleep(Duration::from_millis(delay)).await;
        Ok(json!(topic))
    });
    let done = Arc::new(Mutex::new(Vec::new()));
    let (slow, fast) = (bus.window("slow"), bus.window("fast"));
    let record = |window: state_sync_transports::channel::Window| {
        let done = done.clone();
        async move {
            let answer = window.get_snapshot().await.expect("served");
            done.lock().push(answer);
        }
    };
    tokio::join!(record(slow), record(fast));
    assert_eq!(*done.lock(), [json!("fast"), json!("slow")]);
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
    tokio::time::sleep(Duration::from_millis(1)).await;
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

async fn burst(bus: Bus) {
    let source = Arc::new(SourceOfTruth::new("settings", json!({"n": 0})));
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
    bus.settle().await;
}

#[tokio::test(start_paused = true)]
async fn engines_converge_after_a_burst() {
    burst(Bus::new()).await;
}

#[tokio::test(start_paused = true)]
async fn engines_converge_after_a_burst_with_tiny_buffers() {
    burst(small(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engines_converge_on_a_multi_thread_runtime() {
    burst(small(2)).await;
}
