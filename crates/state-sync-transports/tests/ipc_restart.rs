//! A backend process that restarts without its revision history, while the
//! windows of another process live on (SRC-4, GATE-6 in the protocol
//! docs): its windows reconnect to the new server at the same address, and
//! the new run — revision 1 of a newer epoch, below the revision 5 they
//! hold — reaches and is applied by every one of them. A source that
//! counted from 0 again in epoch 0 would strand them at revision 5.
//!
//! Real sockets and I/O threads: waits are bounded (a hang fails the test
//! after a minute), never timed.

#![cfg(unix)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use state_sync::appliers::{JsonApplier, JsonMode};
use state_sync::source::SourceOfTruth;
use state_sync::{Epoch, Position, Revision, RevisionSync};
use state_sync_transports::Backend;
use state_sync_transports::ipc::{Address, Client, IpcConfig, Server};

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
