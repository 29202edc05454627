//! What every transport of this crate must do, written once against the
//! [`Backend`] trait and run for each of them. Behaviour particular to one
//! transport (synchronous delivery, overflow policy, Tauri's rules) is
//! tested in that transport's own file.

mod common;

use std::sync::Arc;

use common::{Engine, Recorder, converge, garbage};
use parking_lot::Mutex;
use serde_json::json;
use state_sync::source::SourceOfTruth;
use state_sync::{Phase, PortError, Revision, SyncError};
use state_sync_transports::channel::{self, ChannelConfig};
use state_sync_transports::ipc::{self, IpcConfig};
use state_sync_transports::tauri_mock::{
    self, ArgCase, CommandExecution, ListenerOrder, NumberMode, TauriMockConfig,
};
use state_sync_transports::{Backend, SnapshotHandler, memory};

/// Subscribes `recorder` through a window end of `backend`.
async fn subscribe(backend: &dyn Backend, recorder: &Recorder) -> state_sync::Subscription {
    backend
        .window_ends("w", "t")
        .subscriber
        .subscribe(recorder.handler())
        .await
        .expect("subscribe")
}

async fn unsubscribe_stops_delivery_and_frees_the_subscription(backend: impl Backend) {
    let recorder = Recorder::default();
    let subscription = subscribe(&backend, &recorder).await;
    backend.settle().await;
    assert_eq!(backend.active_subscriptions(), Some(1));
    backend.emit(&json!(1));
    backend.settle().await;
    subscription.unsubscribe();
    backend.emit(&json!(2));
    backend.settle().await;
    assert_eq!(recorder.seen(), [json!(1)], "nothing after unsubscribe");
    assert_eq!(backend.active_subscriptions(), Some(0));
}

async fn dropping_the_subscription_unsubscribes(backend: impl Backend) {
    let recorder = Recorder::default();
    let subscription = subscribe(&backend, &recorder).await;
    drop(subscription);
    backend.emit(&json!(1));
    backend.settle().await;
    assert!(recorder.seen().is_empty());
    assert_eq!(backend.active_subscriptions(), Some(0));
}

async fn settle_waits_for_every_delivery(backend: impl Backend) {
    let recorder = Recorder::default();
    let _subscription = subscribe(&backend, &recorder).await;
    for n in 0..200 {
        backend.emit(&json!({"topic": "other", "revision": n.to_string()}));
    }
    backend.emit(&json!({"topic": "t", "revision": "200"}));
    backend.settle().await;
    // A transport may shed load, but not the newest payload of a topic.
    assert_eq!(
        recorder.seen().last(),
        Some(&json!({"topic": "t", "revision": "200"}))
    );
}

async fn late_subscriber_gets_no_replay(backend: impl Backend) {
    let (early, late) = (Recorder::default(), Recorder::default());
    let _early = subscribe(&backend, &early).await;
    backend.emit(&json!(1));
    backend.settle().await;
    let _late = subscribe(&backend, &late).await;
    backend.settle().await;
    assert!(late.seen().is_empty());
    backend.emit(&json!(2));
    backend.settle().await;
    assert_eq!(early.seen(), [json!(1), json!(2)]);
    assert_eq!(late.seen(), [json!(2)]);
}

async fn snapshot_errors_surface_as_port_errors(backend: impl Backend) {
    let ends = backend.window_ends("w", "t");
    ends.provider
        .get_snapshot()
        .await
        .expect_err("no handler installed yet");

    backend.serve(SnapshotHandler::new(|topic| async move {
        match topic.as_str() {
            "t" => Err(PortError::from_json(json!({"code": 503, "topic": topic}))),
            _ => panic!("backend bug"),
        }
    }));
    let err = ends
        .provider
        .get_snapshot()
        .await
        .expect_err("handler error");
    assert_eq!(err.detail(), Some(&json!({"code": 503, "topic": "t"})));

    let other = backend.window_ends("w", "other");
    let err = other.provider.get_snapshot().await.expect_err("panic");
    assert!(err.message().contains("backend bug"), "{err}");

    // The engine reports it as a failed start and keeps nothing subscribed.
    let engine = Engine::new("t", ends);
    let outcome = engine.sync.start().await;
    assert!(
        matches!(outcome, Err(SyncError::GetSnapshot(_))),
        "{outcome:?}"
    );
    assert_eq!(engine.errors.lock()[0].phase, Phase::GetSnapshot);
    backend.settle().await;
    assert_eq!(backend.active_subscriptions(), Some(0));
}

async fn garbage_passes_through_intact(backend: impl Backend) {
    let recorder = Recorder::default();
    let _subscription = subscribe(&backend, &recorder).await;
    for payload in garbage() {
        // One at a time: a transport that sheds load may drop what it
        // cannot buffer, but must not alter what it delivers.
        backend.emit(&payload);
        backend.settle().await;
    }
    assert_eq!(recorder.seen(), garbage());

    let queue = Arc::new(Mutex::new(garbage()));
    backend.serve(SnapshotHandler::sync(move |_| Ok(queue.lock().remove(0))));
    let ends = backend.window_ends("w", "t");
    for expected in garbage() {
        assert_eq!(
            ends.provider.get_snapshot().await.expect("served"),
            expected
        );
    }
}

async fn engines_converge_after_a_burst(backend: impl Backend) {
    let source = Arc::new(SourceOfTruth::new("settings", json!({"n": 0})));
    backend.serve_source(source.clone());

    let mut engines = Vec::new();
    for i in 0..3 {
        let engine = Engine::new(
            "settings",
            backend.window_ends(&format!("w{i}"), "settings"),
        );
        engine.sync.start().await.expect("start");
        engines.push(engine);
    }
    for n in 1..=100 {
        let event = source.set(json!({"n": n})).expect("room");
        backend.emit(&event.to_json());
        if n == 50 {
            let late = Engine::new("settings", backend.window_ends("late", "settings"));
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
    backend.settle().await;
    assert_eq!(backend.active_subscriptions(), Some(0));
}

fn tiny_channel() -> channel::Bus {
    channel::Bus::with_config(ChannelConfig {
        event_capacity: 1,
        ..ChannelConfig::default()
    })
}

fn flipped_tauri_mock() -> tauri_mock::Bus {
    tauri_mock::Bus::with_config(TauriMockConfig {
        ipc_latency: Some(std::time::Duration::from_millis(3)),
        async_listen: false,
        async_unlisten: false,
        defer_reentrant: false,
        listener_order: ListenerOrder::Registration,
        number_mode: NumberMode::JavaScript,
        arg_case: ArgCase::Snake,
        command_execution: CommandExecution::Serial,
    })
}

fn ipc_unix() -> ipc::Server {
    ipc::Server::new().expect("an IPC server")
}

fn ipc_tcp() -> ipc::Server {
    let loopback = ipc::Address::Tcp(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    ipc::Server::bind(loopback, IpcConfig::default()).expect("an IPC server on TCP")
}

fn ipc_tiny_buffers() -> ipc::Server {
    ipc::Server::with_config(IpcConfig {
        buffer_capacity: 1,
        ..IpcConfig::default()
    })
    .expect("an IPC server")
}

fn ipc_child() -> ipc::ChildBackend {
    ipc::ChildBackend::spawn(std::process::Command::new(env!(
        "CARGO_BIN_EXE_state-sync-ipc-backend"
    )))
    .expect("the backend process")
}

/// One test per (behaviour, backend): paused time for the in-process
/// transports, real time for those doing real I/O.
macro_rules! for_each_backend {
    ($($behaviour:ident),* $(,)?) => {
        $(
            mod $behaviour {
                use super::*;

                #[tokio::test(start_paused = true)]
                async fn memory() {
                    super::$behaviour(memory::Bus::new()).await;
                }

                #[tokio::test(start_paused = true)]
                async fn channel() {
                    super::$behaviour(channel::Bus::new()).await;
                }

                #[tokio::test(start_paused = true)]
                async fn channel_with_tiny_buffers() {
                    super::$behaviour(tiny_channel()).await;
                }

                #[tokio::test(start_paused = true)]
                async fn tauri_mock() {
                    super::$behaviour(tauri_mock::Bus::new()).await;
                }

                #[tokio::test(start_paused = true)]
                async fn tauri_mock_with_every_switch_flipped() {
                    super::$behaviour(flipped_tauri_mock()).await;
                }

                #[tokio::test]
                async fn ipc_unix() {
                    super::$behaviour(super::ipc_unix()).await;
                }

                #[tokio::test]
                async fn ipc_tcp() {
                    super::$behaviour(super::ipc_tcp()).await;
                }

                #[tokio::test]
                async fn ipc_with_tiny_buffers() {
                    super::$behaviour(super::ipc_tiny_buffers()).await;
                }

                #[tokio::test]
                async fn ipc_child_process() {
                    super::$behaviour(super::ipc_child()).await;
                }
            }
        )*
    };
}

for_each_backend!(
    unsubscribe_stops_delivery_and_frees_the_subscription,
    dropping_the_subscription_unsubscribes,
    settle_waits_for_every_delivery,
    late_subscriber_gets_no_replay,
    snapshot_errors_surface_as_port_errors,
    garbage_passes_through_intact,
    engines_converge_after_a_burst,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_engines_converge_on_a_multi_thread_runtime() {
    engines_converge_after_a_burst(channel::Bus::with_config(ChannelConfig {
        event_capacity: 2,
        ..ChannelConfig::default()
    }))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tauri_mock_engines_converge_on_a_multi_thread_runtime() {
    engines_converge_after_a_burst(tauri_mock::Bus::with_config(TauriMockConfig {
        ipc_latency: Some(std::time::Duration::from_millis(1)),
        ..TauriMockConfig::default()
    }))
    .await;
}

/// Subscribes through `subscribe_payloads`, the way the engine does, and
/// checks that every payload arrives intact, as text when `as_text`.
async fn payloads_reach_engines(backend: impl Backend, as_text: bool) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let handler: state_sync::PayloadHandler = Arc::new(move |payload: state_sync::Payload<'_>| {
        let text = matches!(payload, state_sync::Payload::Text(_));
        let value = payload.to_value().expect("JSON").into_owned();
        sink.lock().push((text, value));
    });
    let _subscription = backend
        .window_ends("w", "t")
        .subscriber
        .subscribe_payloads(handler)
        .await
        .expect("subscribe");
    backend.settle().await;
    for payload in garbage() {
        backend.emit(&payload);
        backend.settle().await;
    }
    let expected: Vec<_> = garbage().into_iter().map(|v| (as_text, v)).collect();
    assert_eq!(*seen.lock(), expected);
}

#[tokio::test(start_paused = true)]
async fn transports_that_carry_text_hand_engines_the_text() {
    payloads_reach_engines(memory::Bus::new(), false).await;
    payloads_reach_engines(channel::Bus::new(), true).await;
    payloads_reach_engines(tauri_mock::Bus::new(), true).await;
    // A webview's engine sees what JavaScript parsed.
    payloads_reach_engines(flipped_tauri_mock(), false).await;
}

#[tokio::test]
async fn ipc_hands_engines_the_text_of_each_event_frame() {
    payloads_reach_engines(ipc_unix(), true).await;
    payloads_reach_engines(ipc_child(), true).await;
}
