//! Burst benchmark: how fast one running engine swallows invalidations.
//!
//! A burst of increasing-revision invalidations is delivered synchronously
//! (the subscriber's handler called in a loop) to one engine on a
//! current-thread runtime, while its snapshot fetch hangs until the burst is
//! over. Only the delivery loop is timed; the payloads are parsed ahead of
//! time in chunks of 10,000 into one reused `Vec`, so input memory does not
//! grow with the burst. Afterwards the fetches finish and the run prints
//!
//! ```text
//! burst=1000000 events_per_sec=... fetches=3 peak_rss_kib=...
//! ```
//!
//! `fetches` counts every fetch of the engine's life: the initial one of
//! `start`, the one the burst found in flight, and its single follow-up.
//!
//! Usage: `cargo bench -p state-sync --bench burst` runs 100,000 and
//! 1,000,000 events, each in its own process (so peak RSS is per run). A
//! single size: `cargo bench -p state-sync --bench burst -- 250000`, or the
//! `BURST` environment variable. The run fails if more than 3 fetches
//! happened or the engine did not end at the last revision.

use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use parking_lot::Mutex;
use serde_json::Value;
use state_sync::appliers::FnApplier;
use state_sync::{
    InvalidationHandler, InvalidationSubscriber, PortError, RevisionSync, SnapshotEnvelope,
    SnapshotProvider, Subscription,
};
use tokio::sync::watch;

const TOPIC: &str = "bench";
const CHUNK: u64 = 10_000;
const DEFAULT_BURSTS: [u64; 2] = [100_000, 1_000_000];
const MAX_FETCHES: u64 = 3;

/// Keeps the one handler the engine installs.
#[derive(Default)]
struct Bus(Mutex<Option<InvalidationHandler>>);

impl InvalidationSubscriber for Bus {
    fn subscribe(
        &self,
        handler: InvalidationHandler,
    ) -> BoxFuture<'_, Result<Subscription, PortError>> {
        *self.0.lock() = Some(handler);
        Box::pin(async { Ok(Subscription::noop()) })
    }
}

/// Answers the first fetch at once; later ones wait for the gate, then serve
/// the source's revision at that moment.
struct Provider {
    revision: AtomicU64,
    calls: AtomicU64,
    gate: watch::Sender<bool>,
}

impl SnapshotProvider for Provider {
    fn get_snapshot(&self) -> BoxFuture<'_, Result<Value, PortError>> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        let mut open = self.gate.subscribe();
        Box::pin(async move {
            if call > 0 {
                let _ = open.wait_for(|o| *o).await;
            }
            let revision = self.revision.load(Ordering::SeqCst).to_string();
            Ok(serde_json::json!({"revision": revision, "data": null}))
        })
    }
}

/// `VmHWM` of this process, in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

struct Report {
    burst: u64,
    delivering: Duration,
    fetches: u64,
    local: u64,
}

async fn run(burst: u64) -> Report {
    let bus = Arc::new(Bus::default());
    let provider = Arc::new(Provider {
        revision: AtomicU64::new(0),
        calls: AtomicU64::new(0),
        gate: watch::channel(false).0,
    });
    let sync = RevisionSync::builder(
        TOPIC,
        bus.clone(),
        provider.clone(),
        FnApplier::new(|_: SnapshotEnvelope<Value>| Ok(())),
    )
    .build();
    sync.start().await.expect("start");
    let handler = bus.0.lock().clone().expect("subscribed");

    let mut text = String::new();
    let mut chunk: Vec<Value> = Vec::with_capacity(CHUNK as usize);
    let mut delivering = Duration::ZERO;
    let mut next = 1;
    while next <= burst {
        let last = (next + CHUNK - 1).min(burst);
        chunk.clear();
        for revision in next..=last {
            text.clear();
            text.push_str(r#"{"topic":"bench","revision":""#);
            text.push_str(&revision.to_string());
            text.push_str(r#"","sourceId":"bench:backend"}"#);
            chunk.push(serde_json::from_str(&text).expect("valid JSON"));
        }
        provider.revision.store(last, Ordering::SeqCst);
        let started = Instant::now();
        for payload in &chunk {
            handler(payload);
        }
        delivering += started.elapsed();
        if next == 1 {
            // Let the fetch the first event started reach the provider, so
            // the rest of the burst arrives while it is in flight.
            for _ in 0..4 {
                tokio::task::yield_now().await;
            }
        }
        next = last + 1;
    }

    provider.gate.send_replace(true);
    // Queued behind the fetch in flight and its follow-up: resolves when
    // they are done, without a fetch of its own.
    sync.refresh().await.expect("refresh");
    let report = Report {
        burst,
        delivering,
        fetches: provider.calls.load(Ordering::SeqCst),
        local: sync.local_revision().get(),
    };
    assert_eq!(
        sync.metrics().fetches,
        report.fetches,
        "engine and provider agree"
    );
    sync.stop();
    report
}

fn burst_from_args() -> Option<u64> {
    std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .or_else(|| std::env::var("BURST").ok())
        .map(|a| a.replace('_', "").parse().expect("burst size"))
}

fn main() -> ExitCode {
    let Some(burst) = burst_from_args() else {
        // One process per size, so each peak RSS is its own.
        let exe = std::env::current_exe().expect("own path");
        let mut ok = true;
        for burst in DEFAULT_BURSTS {
            let status = Command::new(&exe)
                .arg(burst.to_string())
                .status()
                .expect("run the benchmark");
            ok &= status.success();
        }
        return if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let report = runtime.block_on(run(burst));
    let events_per_sec = report.burst as f64 / report.delivering.as_secs_f64();
    println!(
        "burst={} events_per_sec={:.0} fetches={} peak_rss_kib={}",
        report.burst,
        events_per_sec,
        report.fetches,
        peak_rss_kib()
    );
    if report.fetches > MAX_FETCHES || report.local != report.burst {
        eprintln!(
            "FAIL: {} fetches (max {MAX_FETCHES}), ended at revision {} of {}",
            report.fetches, report.local, report.burst
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
