//! Snapshot requests through a real `redis-server`: one nobody answers
//! fails after the fetch timeout, naming the topic; once a backend serves
//! the bus, the same window's next request is answered.
//!
//! Waits are bounded (a hang fails the test after a minute), never timed.

use std::time::Duration;

use serde_json::json;
use state_sync::SnapshotProvider;
use state_sync::source::SourceOfTruth;
use state_sync_redis::{RedisBackend, RedisConfig, RedisServer, RedisWindows};
use state_sync_transports::Backend;

/// How long a step may take before the test calls it a hang.
const HANG: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_nobody_answers_fails_after_the_fetch_timeout_then_one_served_succeeds() {
    let server = RedisServer::start().expect("redis-server starts");
    let config = RedisConfig::new("fetch").fetch_timeout(Duration::from_millis(300));
    let windows = RedisWindows::connect(&server.url(), config).expect("connects");
    let window = windows.window("main", "settings");

    // No backend serves the bus yet.
    let unanswered = tokio::time::timeout(HANG, window.get_snapshot())
        .await
        .expect("the fetch ends, without a hang");
    let why = unanswered.expect_err("nobody answers").to_string();
    assert!(
        why.contains("no snapshot of \"settings\"") && why.contains("serving the bus"),
        "{why}"
    );

    let backend = RedisBackend::connect(&server.url(), RedisConfig::new("fetch"))
        .expect("the backend connects");
    let source = std::sync::Arc::new(SourceOfTruth::new("settings", json!({"theme": "dark"})));
    backend.serve_source(source);
    // Answered well within the 300 ms on a quiet machine; on a loaded one
    // a try may run out of time before the backend takes it.
    let snapshot = tokio::time::timeout(HANG, async {
        loop {
            if let Ok(snapshot) = window.get_snapshot().await {
                return snapshot;
            }
        }
    })
    .await
    .expect("a backend answers");
    assert_eq!(snapshot["data"], json!({"theme": "dark"}));
}
