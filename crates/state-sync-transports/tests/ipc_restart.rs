//! A backend process that restarts without its revision history, while the
//! windows of another process live on (SRC-4, GATE-6 in the protocol
//! docs): its windows reconnect to the new server at the same address, and
//! the new run — revision 1 of a newer epoch, below the revision 5 they
//! hold — reaches and is applied by every one of them. A source that
//! counted from 0 again in epoch 0 would strand them at revision 5.
//!
//! And a backend process of a [`ChildBackend`] (which relays for a source
//! in the windows' process) that crashes or is restarted: the windows get
//! their subscriptions back, none doubled, and hear every later change —
//! one made while it was down too — and a source restarted without its
//! history meanwhile strands none of them.
//!
//! Real sockets, processes and I/O threads: waits are bounded (a hang fails
//! the test after a minute), never timed.

#![cfg(unix)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use state_sync::appliers::{JsonApplier, JsonMode};
use state_sync::source::SourceOfTruth;
use state_sync::{Epoch, Position, Revision, RevisionSync};
use state_sync_transports::Backend;
use state_sync_transports::ipc::{Address, ChildBackend, Client, IpcConfig, Server};

/// How long a step may take before the test calls it a hang.
const HANG: Duration = Duration::from_secs(60);

struct Window {
    sync: RevisionSync<Value>,
    applier: JsonApplier,
}

/// Waits until every window holds `position` and `data`.
async fn until_all_at(windows: &[Window], position: Position, data: &Value) {
    let reached = async {
        while !windows
            .iter()
            .all(|w| w.sync.local_position() == position && w.applier.state() == *data)
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    if tokio::time::timeout(HANG, reached).await.is_err() {
        let at: Vec<String> = windows
            .iter()
            .map(|w| format!("{} {}", w.sync.local_position(), w.applier.state()))
            .collect();
        panic!("not every window reached {position} {data} within {HANG:?}: {at:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_follow_a_backend_restarted_without_its_history() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("backend.sock");
    let address = Address::Unix(path.clone());
    let first = Server::bind(address.clone(), IpcConfig::default()).expect("the first run listens");
    let source = Arc::new(SourceOfTruth::new("settings", json!({"n": 0})));
    first.serve_source(source.clone());

    // The windows' process.
    let client = Client::connect(address.clone()).expect("the windows connect");
    let mut windows = Vec::new();
    for label in ["a", "b"] {
        let ends = client.window(label, "settings");
        let applier = JsonApplier::new(JsonMode::Replace, Value::Null);
        let sync = RevisionSync::builder("settings", ends.clone(), ends, applier.clone()).build();
        sync.start().await.expect("start");
        windows.push(Window { sync, applier });
    }
    for n in 1..=5 {
        first.emit(&source.set(json!({"n": n})).expect("room").to_json());
    }
    until_all_at(&windows, Position::from(Revision::new(5)), &json!({"n": 5})).await;

    // The backend restarts: nothing of its history is kept, so the new run
    // gets a newer epoch and counts from 0.
    drop(first);
    // What a restarted process does with the socket file its last run left.
    let _ = std::fs::remove_file(&path);
    let second = Server::bind(address, IpcConfig::default()).expect("the second run listens");
    let restarted = Arc::new(
        SourceOfTruth::new("settings", json!({"reloaded": true})).with_epoch(Epoch::new(1)),
    );
    second.serve_source(restarted.clone());
    let event = restarted
        .set(json!({"reloaded": true, "n": 1}))
        .expect("room");
    assert_eq!(
        event.revision,
        Revision::new(1),
        "below what the windows hold"
    );
    second.emit(&event.to_json());
    until_all_at(
        &windows,
        event.position(),
        &json!({"reloaded": true, "n": 1}),
    )
    .await;

    for w in &windows {
        w.sync.stop();
    }
    drop(second);
    let _ = std::fs::remove_file(&path);
}

/// `step`, failing the test if it hangs.
async fn bounded<T>(what: &str, step: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(HANG, step)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {HANG:?}"))
}

fn window(backend: &ChildBackend, label: &str) -> Window {
    let ends = backend.window(label, "settings");
    let applier = JsonApplier::new(JsonMode::Replace, Value::Null);
    let sync = RevisionSync::builder("settings", ends.clone(), ends, applier.clone()).build();
    Window { sync, applier }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_follow_a_child_backend_through_crashes_and_restarts() {
    let backend = ChildBackend::spawn(std::process::Command::new(env!(
        "CARGO_BIN_EXE_state-sync-ipc-backend"
    )))
    .expect("the backend process starts");
    let source = Arc::new(SourceOfTruth::new("settings", json!({"n": 0})));
    backend.serve_source(source.clone());
    let mut windows = vec![window(&backend, "a"), window(&backend, "b")];
    for w in &windows {
        bounded("start", w.sync.start()).await.expect("start");
    }
    for n in 1..=5 {
        backend.emit(&source.set(json!({"n": n})).expect("room").to_json());
    }
    until_all_at(&windows, Position::from(Revision::new(5)), &json!({"n": 5})).await;

    // Restarted: every subscription is back, none doubled, and later
    // changes reach the windows.
    let first = backend.id();
    bounded("restart", backend.restart())
        .await
        .expect("the backend process restarts");
    assert_ne!(backend.id(), first, "a new process");
    bounded("settle", backend.settle()).await;
    assert_eq!(backend.active_subscriptions(), Some(2), "one per window");
    backend.emit(&source.set(json!({"n": 6})).expect("room").to_json());
    until_all_at(&windows, Position::from(Revision::new(6)), &json!({"n": 6})).await;

    // Crashed: the transport says so; a change made while it is down
    // reaches the windows once it is restarted.
    let pid = backend.id().expect("a pid").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    bounded("the crash to be seen", async {
        while backend.failure().is_none() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    backend.emit(&source.set(json!({"n": 7})).expect("room").to_json());
    bounded("restart", backend.restart())
        .await
        .expect("the backend process restarts after a crash");
    assert_eq!(backend.failure(), None, "recovered");
    until_all_at(&windows, Position::from(Revision::new(7)), &json!({"n": 7})).await;

    // The source restarts without its history (a newer epoch, revisions
    // from 0) while the backend process restarts too: nobody is stranded
    // at revision 7, and a window opened afterwards joins.
    let restarted = Arc::new(
        SourceOfTruth::new("settings", json!({"reloaded": true})).with_epoch(Epoch::new(1)),
    );
    backend.serve_source(restarted.clone());
    bounded("restart", backend.restart())
        .await
        .expect("restarts");
    let event = restarted
        .set(json!({"reloaded": true, "n": 1}))
        .expect("room");
    backend.emit(&event.to_json());
    let late = window(&backend, "c");
    bounded("a late window's start", late.sync.start())
        .await
        .expect("start");
    windows.push(late);
    until_all_at(
        &windows,
        event.position(),
        &json!({"reloaded": true, "n": 1}),
    )
    .await;
    bounded("settle", backend.settle()).await;
    assert_eq!(backend.active_subscriptions(), Some(3));

    for w in &windows {
        w.sync.stop();
    }
    bounded("settle", backend.settle()).await;
    assert_eq!(backend.active_subscriptions(), Some(0), "nothing leaks");
}
