//! The conformance kit against the Redis transport, on real `redis-server`s:
//!
//! * `redis` — one server for the whole run, started by the suite before
//!   the first case and stopped after the last (a `Service`); each case
//!   has a bus of its own on it.
//! * `redis-restarts` — a server of its own for each case, so that the
//!   case may restart it (`restart_transport`, TR-8) without touching
//!   another case's: the specs that need the `restarts` capability.

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use serde_json::Value;
use state_sync::BoxFuture;
use state_sync_conformance::{
    Backend, Capabilities, Capability, Service, SnapshotHandler, Suite, Transport, WindowEnds,
};
use state_sync_redis::{RedisBackend, RedisConfig, RedisServer};

/// A bus of its own for each case: cases share the server, never a bus.
fn fresh_bus() -> RedisConfig {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    RedisConfig::new(format!("case-{}-{n}", std::process::id()))
}

/// What pub/sub cannot promise (see the crate docs): delivery after `emit`
/// returns; a reconnect's catch-up replays each topic's newest
/// invalidation and sheds what was published meanwhile.
fn claims() -> Capabilities {
    Capabilities::all()
        .without(Capability::SynchronousDelivery)
        .without(Capability::ExactlyOnce)
        .without(Capability::OrderedDelivery)
}

/// A backend with a Redis server of its own, which `restart` kills and
/// starts again, empty, at the same socket.
struct OwnServer {
    // Dropped before the server: the backend's connections close first.
    backend: RedisBackend,
    server: Mutex<RedisServer>,
}

impl OwnServer {
    fn open() -> Result<Self, String> {
        let server = RedisServer::start().map_err(|e| e.to_string())?;
        let backend =
            RedisBackend::connect(&server.url(), fresh_bus()).map_err(|e| e.to_string())?;
        Ok(Self {
            backend,
            server: Mutex::new(server),
        })
    }
}

impl Backend for OwnServer {
    fn emit(&self, payload: &Value) {
        self.backend.emit(payload);
    }
    fn serve(&self, handler: SnapshotHandler) {
        self.backend.serve(handler);
    }
    fn window_ends(&self, label: &str, topic: &str) -> WindowEnds {
        self.backend.window_ends(label, topic)
    }
    fn active_subscriptions(&self) -> Option<usize> {
        self.backend.active_subscriptions()
    }
    fn settle(&self) -> BoxFuture<'_, ()> {
        self.backend.settle()
    }
    fn failure(&self) -> Option<String> {
        self.backend.failure()
    }
    fn restart(&self) -> BoxFuture<'_, Result<(), String>> {
        let restarted = self.server.lock().restart().map_err(|e| e.to_string());
        Box::pin(std::future::ready(restarted))
    }
}

fn suite() -> Suite {
    let redis = Service::new("redis", || RedisServer::start().map(|s| (s.url(), s)));
    let shared = Transport::with_service("redis", &redis, |url: &str| {
        RedisBackend::connect(url, fresh_bus())
    })
    .with_capabilities(claims());
    let restarts = Transport::try_new("redis-restarts", OwnServer::open)
        .with_capabilities(claims().with(Capability::Restarts));
    Suite::new()
        .transport(shared)
        .transport(restarts)
        .snapshot_reports()
}

state_sync_conformance::main!(suite());
