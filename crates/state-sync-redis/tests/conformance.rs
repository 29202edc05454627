//! The conformance kit against the Redis transport, on a real
//! `redis-server` the suite starts once per run (on a Unix socket in a
//! temporary folder) and stops after the last case.

use std::sync::atomic::{AtomicU64, Ordering};

use state_sync_conformance::{Capabilities, Capability, Service, Suite, Transport};
use state_sync_redis::{RedisBackend, RedisConfig, RedisServer};

/// A bus of its own for each case: cases share the server, never a bus.
fn fresh_bus() -> RedisConfig {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    RedisConfig::new(format!("case-{}-{n}", std::process::id()))
}

fn suite() -> Suite {
    let redis = Service::new("redis", || RedisServer::start().map(|s| (s.url(), s)));
    let transport = Transport::with_service("redis", &redis, |url: &str| {
        RedisBackend::connect(url, fresh_bus())
    })
    // What pub/sub cannot promise (see the crate docs): delivery after
    // `emit` returns; a reconnect's catch-up replays each topic's newest
    // invalidation and sheds what was published meanwhile.
    .with_capabilities(
        Capabilities::all()
            .without(Capability::SynchronousDelivery)
            .without(Capability::ExactlyOnce)
            .without(Capability::OrderedDelivery),
    );
    Suite::new().transport(transport).snapshot_reports()
}

state_sync_conformance::main!(suite());
