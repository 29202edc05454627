//! The broker goes away under running windows: a real `redis-server`
//! killed and restarted empty at the same address, windows in a client of
//! their own (another process, in a real deployment) and the backend's
//! publisher all reconnecting.
//!
//! Waits are bounded (a hang fails the test after a minute), never timed.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use state_sync::appliers::{JsonApplier, JsonMode};
use state_sync::source::SourceOfTruth;
use state_sync::{Revision, RevisionSync};
use state_sync_redis::{RedisBackend, RedisConfig, RedisServer, RedisWindows};
use state_sync_transports::Backend;

/// How long a step may take before the test calls it a hang.
const HANG: Duration = Duration::from_secs(60);

struct Window {
    sync: RevisionSync<Value>,
    applier: JsonApplier,
}

async fn open(windows: &RedisWindows, label: &str) -> Window {
    let end = Arc::new(windows.window(label, "settings"));
    let applier = JsonApplier::new(JsonMode::Replace, Value::Null);
    let sync = RevisionSync::builder("settings", end.clone(), end, applier.clone()).build();
    sync.start().await.expect("the window starts");
    Window { sync, applier }
}

/// Waits until every window holds `revision` and `data`.
async fn until_all_at(windows: &[Window], revision: u64, data: &Value) {
    let reached = async {
        while !windows.iter().all(|w| {
            w.sync.local_revision() == Revision::new(revision) && w.applier.state() == *data
        }) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    if tokio::time::timeout(HANG, reached).await.is_err() {
        let at: Vec<String> = windows
            .iter()
            .map(|w| format!("{} {}", w.sync.local_revision(), w.applier.state()))
            .collect();
        panic!("not every window reached {revision} {data} within {HANG:?}: {at:?}");
    }
}

async fn until<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let found = async {
        loop {
            if let Some(found) = probe() {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(HANG, found)
        .await
        .unwrap_or_else(|_| panic!("{what}: not within {HANG:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_converge_after_the_broker_restarts_and_leak_no_subscription() {
    let mut server = RedisServer::start().expect("redis-server starts");
    let config = RedisConfig::new("broker-restart");
    let backend = RedisBackend::connect(&server.url(), config.clone()).expect("backend");
    let source = Arc::new(SourceOfTruth::new("settings", json!({"n": 0})));
    backend.serve_source(source.clone());
    let windows = RedisWindows::connect(&server.url(), config).expect("windows");
    let opened = [open(&windows, "a").await, open(&windows, "b").await];
    backend.emit(&source.set(json!({"n": 1})).expect("set").to_json());
    until_all_at(&opened, 1, &json!({"n": 1})).await;

    // Killed, then back empty at the same socket; the change made while
    // the broker is down waits in the backend's publisher.
    server.stop();
    backend.emit(&source.set(json!({"n": 2})).expect("set").to_json());
    server.restart().expect("redis-server restarts");
    until_all_at(&opened, 2, &json!({"n": 2})).await;

    // And the windows hear changes made after the restart.
    backend.emit(&source.set(json!({"n": 3})).expect("set").to_json());
    until_all_at(&opened, 3, &json!({"n": 3})).await;
    assert_eq!(
        windows.subscriptions(),
        2,
        "one subscription per window, none doubled"
    );
    assert_eq!(backend.failure(), None);
    assert_eq!(windows.failure(), None);

    for window in &opened {
        window.sync.stop();
    }
    windows.settle().await;
    assert_eq!(
        windows.subscriptions(),
        0,
        "stopped windows hold no subscription"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_stays_down_is_reported_through_failure() {
    let mut server = RedisServer::start().expect("redis-server starts");
    let config = RedisConfig::new("broker-down").give_up_after(Duration::from_millis(500));
    let backend = RedisBackend::connect(&server.url(), config).expect("backend");
    let source = Arc::new(SourceOfTruth::new("settings", json!(0)));
    backend.serve_source(source.clone());
    let window = Arc::new(backend.window_ends("a", "settings"));
    let applier = JsonApplier::new(JsonMode::Replace, Value::Null);
    let sync = RevisionSync::builder(
        "settings",
        window.subscriber.clone(),
        window.provider.clone(),
        applier.clone(),
    )
    .build();
    sync.start().await.expect("the window starts");
    assert_eq!(backend.failure(), None);

    server.stop();
    backend.emit(&source.set(json!(1)).expect("set").to_json());
    let failure = until("a failure", || backend.failure()).await;
    assert!(
        failure.contains("Redis broker has been unreachable"),
        "{failure}"
    );
    // A settle does not hang on a transport that has failed.
    tokio::time::timeout(HANG, backend.settle())
        .await
        .expect("settle resolves once the transport has failed");
    sync.stop();
}

/// A backend whose broker, once "restarted", never comes back.
struct BrokerGoesDown {
    backend: RedisBackend,
    server: parking_lot::Mutex<RedisServer>,
}

impl Backend for BrokerGoesDown {
    fn emit(&self, payload: &Value) {
        self.backend.emit(payload);
    }
    fn serve(&self, handler: state_sync_transports::SnapshotHandler) {
        self.backend.serve(handler);
    }
    fn window_ends(&self, label: &str, topic: &str) -> state_sync_transports::WindowEnds {
        self.backend.window_ends(label, topic)
    }
    fn active_subscriptions(&self) -> Option<usize> {
        self.backend.active_subscriptions()
    }
    fn settle(&self) -> state_sync::BoxFuture<'_, ()> {
        self.backend.settle()
    }
    fn failure(&self) -> Option<String> {
        self.backend.failure()
    }
    fn restart(&self) -> state_sync::BoxFuture<'_, Result<(), String>> {
        self.server.lock().stop();
        Box::pin(std::future::ready(Ok(())))
    }
}

/// Through the conformance kit: a broker that goes down for good in the
/// middle of a case ends it as `error` with the transport's `failure()`,
/// not as expectation failures against windows that could not hear.
#[test]
fn a_broker_down_for_good_mid_case_is_an_error_naming_it_not_failed_expectations() {
    use state_sync_conformance::{Capabilities, Capability, Suite, Transport, Verdict};
    let transport = Transport::try_new("redis-goes-down", || {
        let server = RedisServer::start().map_err(|e| e.to_string())?;
        let config = RedisConfig::new("goes-down").give_up_after(Duration::from_secs(1));
        let backend = RedisBackend::connect(&server.url(), config).map_err(|e| e.to_string())?;
        Ok::<_, String>(BrokerGoesDown {
            backend,
            server: parking_lot::Mutex::new(server),
        })
    })
    .with_capabilities(Capabilities::none().with(Capability::Restarts));
    let report = Suite::new()
        .transport(transport)
        .run_filtered(|_, spec| spec.id == "restart-transport-windows-hear-later-changes")
        .expect("the suite runs");
    let [case] = &report.cases[..] else {
        panic!("one case expected: {:?}", report.cases.len());
    };
    assert_eq!(case.verdict, Verdict::Error, "{}", case.explain());
    assert!(
        case.failures
            .iter()
            .any(|f| f.contains("the Redis broker has been unreachable")),
        "{}",
        case.explain()
    );
}
