//! Tests of the tokio-channel transport.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Engine, Recorder, converge};
use parking_lot::Mutex;
use serde_json::{Value, json};
use state_sync::source::SourceOfTruth;
use state_sync::{InvalidationSubscriber, Revision, SnapshotProvider};
use state_sync_transports::channel::{Bus, ChannelConfig};
use state_sync_transports::{Backend, SnapshotHandler, WindowEnds};

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
    let engine = Engine::new("counter", WindowEnds::of(bus.window("counter")));
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
async fn snapshot_requests_are_served_concurrently() {
    let bus = Bus::new();
    bus.serve(SnapshotHandler::new(|topic| async move {
        let delay = if topic == "slow" { 50 } else { 10 };
        tokio::time::sleep(Duration::from_millis(delay)).await;
        Ok(json!(topic))
    }));
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
