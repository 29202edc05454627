//! Tests of the in-process transport.

mod common;

use std::sync::Arc;

use common::Recorder;
use parking_lot::Mutex;
use serde_json::{Value, json};
use state_sync::{InvalidationSubscriber, Subscription};
use state_sync_transports::Backend;
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
    assert_eq!(bus.active_subscriptions(), Some(3));
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
    assert_eq!(bus.active_subscriptions(), Some(1));
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
