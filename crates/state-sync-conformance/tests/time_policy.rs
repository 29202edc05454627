//! The time policy: virtual time moves only when a case is quiescent, or
//! through waits a transport declared (`state_sync_transports::clock`).
//!
//! * A transport whose work waits on declared latency — settles that each
//!   sleep a few milliseconds, snapshot requests answered in shared batches
//!   after one sleep, several of each in flight at once — passes the whole
//!   corpus, every run the same.
//! * A transport whose work stalls ends its case as `timeout` at the hang
//!   limit, naming the stalled work, with the clock held and no
//!   expectation checked; one that reports a `failure()` while stalled ends
//!   it as `error` with that message, long before the hang limit.

mod outcomes;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::Value;
use state_sync::{BoxFuture, PortError, SnapshotProvider};
use state_sync_conformance::{
    Backend, Capabilities, CaseResult, RunOptions, SnapshotHandler, Spec, Suite, Transport,
    Verdict, WindowEnds, run_case,
};
use state_sync_transports::{clock, memory};
use tokio::sync::{Notify, oneshot};

/// Snapshot requests waiting for the next batch.
#[derive(Default)]
struct Batch {
    waiting: Mutex<Vec<Request>>,
    /// A flush task is sleeping its latency.
    flushing: AtomicBool,
    emptied: Notify,
}

/// An answer read when the request arrived, waiting for its batch's hop
/// back.
struct Request {
    answer: Result<Value, PortError>,
    reply: oneshot::Sender<Result<Value, PortError>>,
}

impl Batch {
    /// Queues a request; the first of a batch starts the flush, which
    /// sleeps one declared latency for all of them.
    fn push(self: &Arc<Self>, request: Request) {
        self.waiting.lock().push(request);
        if !self.flushing.swap(true, Ordering::AcqRel) {
            let batch = self.clone();
            tokio::spawn(async move {
                clock::sleep(Duration::from_millis(2)).await;
                batch.flushing.store(false, Ordering::Release);
                let requests = std::mem::take(&mut *batch.waiting.lock());
                for r in requests {
                    let _ = r.reply.send(r.answer);
                }
                batch.emptied.notify_waiters();
            });
        }
    }

    async fn empty(&self) {
        loop {
            let emptied = self.emptied.notified();
            if self.waiting.lock().is_empty() && !self.flushing.load(Ordering::Acquire) {
                return;
            }
            emptied.await;
        }
    }
}

/// The memory transport with declared latency in its work: each `settle`
/// sleeps 1–3 ms (on a task of its own, as an asynchronous listener table
/// would) before it waits for the batch, and snapshot answers — read when
/// the request arrives — travel back in batches, one 2 ms sleep per batch.
struct Latent {
    inner: memory::Bus,
    batch: Arc<Batch>,
    settles: AtomicU64,
}

impl Backend for Latent {
    fn emit(&self, payload: &Value) {
        self.inner.emit(payload);
    }
    fn serve(&self, handler: SnapshotHandler) {
        self.inner.serve(handler);
    }
    fn window_ends(&self, label: &str, topic: &str) -> WindowEnds {
        let inner = self.inner.window_ends(label, topic);
        WindowEnds::new(
            inner.subscriber,
            Batched {
                provider: inner.provider,
                batch: self.batch.clone(),
            },
        )
    }
    fn active_subscriptions(&self) -> Option<usize> {
        self.inner.active_subscriptions()
    }
    fn settle(&self) -> BoxFuture<'_, ()> {
        let n = self.settles.fetch_add(1, Ordering::Relaxed);
        let latency = Duration::from_millis(1 + n % 3);
        Box::pin(async move {
            let (done, slept) = oneshot::channel();
            tokio::spawn(async move {
                clock::sleep(latency).await;
                let _ = done.send(());
            });
            let _ = slept.await;
            self.batch.empty().await;
        })
    }
}

struct Batched {
    provider: Arc<dyn SnapshotProvider>,
    batch: Arc<Batch>,
}

impl SnapshotProvider for Batched {
    fn get_snapshot(&self) -> BoxFuture<'_, Result<Value, PortError>> {
        Box::pin(async move {
            let answer = self.provider.get_snapshot().await;
            let (reply, back) = oneshot::channel();
            self.batch.push(Request { answer, reply });
            back.await
                .unwrap_or_else(|_| Err(PortError::new("the batch was dropped")))
        })
    }
}

fn latent() -> Transport {
    Transport::new("latent", || Latent {
        inner: memory::Bus::new(),
        batch: Arc::default(),
        settles: AtomicU64::new(0),
    })
    .with_capabilities(Capabilities::all())
}

fn verdicts(report: &state_sync_conformance::SuiteReport) -> BTreeMap<String, (Verdict, u64)> {
    report
        .cases
        .iter()
        .map(|c| (c.spec.clone(), (c.verdict, c.virtual_ms)))
        .collect()
}

#[test]
fn declared_latency_in_settles_and_shared_batches_passes_the_corpus_the_same_every_run() {
    let run = || {
        Suite::new()
            .transport(latent())
            .run()
            .expect("the corpus runs")
    };
    let first = run();
    // Restarting needs a broker, which a memory bus has not.
    let wrong: Vec<String> = first
        .cases
        .iter()
        .filter(|c| {
            c.verdict != Verdict::Pass
                && !(c.verdict == Verdict::Unsupported && c.missing == ["restarts"])
        })
        .map(CaseResult::explain)
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
    assert!(first.cases.len() >= 170, "{} cases", first.cases.len());
    assert_eq!(
        verdicts(&first),
        verdicts(&run()),
        "a second run gives other verdicts or virtual times"
    );
}

/// A backend whose `settle` never resolves, and which reports a failure
/// once `fail_after` has passed (if set).
struct Stuck {
    inner: memory::Bus,
    opened: Instant,
    fail_after: Option<Duration>,
}

impl Backend for Stuck {
    fn emit(&self, payload: &Value) {
        self.inner.emit(payload);
    }
    fn serve(&self, handler: SnapshotHandler) {
        self.inner.serve(handler);
    }
    fn window_ends(&self, label: &str, topic: &str) -> WindowEnds {
        self.inner.window_ends(label, topic)
    }
    fn settle(&self) -> BoxFuture<'_, ()> {
        Box::pin(futures::future::pending())
    }
    fn failure(&self) -> Option<String> {
        self.fail_after
            .filter(|after| self.opened.elapsed() >= *after)
            .map(|_| "the broker connection is gone for good".to_owned())
    }
}

fn stuck(fail_after: Option<Duration>) -> Transport {
    Transport::new("stuck", move || Stuck {
        inner: memory::Bus::new(),
        opened: Instant::now(),
        fail_after,
    })
    .with_capabilities(Capabilities::all())
}

/// A window that starts, a change, and an expectation that would fail if
/// it were ever checked.
fn spec() -> Spec {
    state_sync_conformance::corpus::parse_spec(
        r#"{"id": "t", "title": "t", "clauses": ["LIFE-1"], "level": "must",
            "steps": [
                {"open": {"window": "a"}},
                {"start": {"window": "a"}},
                {"mutate": {}},
                {"settle": {}},
                {"expect": {"window": "a", "local_revision": "7"}}
            ]}"#,
        "test",
    )
    .expect("a valid spec")
}

#[test]
fn a_settle_that_never_resolves_is_a_timeout_at_the_hang_limit_naming_it() {
    let limit = Duration::from_millis(700);
    let started = Instant::now();
    let r = run_case(
        &spec(),
        &stuck(None),
        &RunOptions::default().with_hang_limit(limit),
    );
    outcomes::assert_hung(&r, "Backend::settle", limit, started);
}

#[test]
fn a_failure_reported_while_the_case_waits_is_an_error_before_the_hang_limit() {
    let started = Instant::now();
    let r = run_case(
        &spec(),
        &stuck(Some(Duration::from_millis(300))),
        &RunOptions::default().with_hang_limit(Duration::from_secs(60)),
    );
    let took = started.elapsed();
    assert_eq!(r.verdict, Verdict::Error, "{}", r.explain());
    assert_eq!(r.failures.len(), 1, "nothing was checked: {:?}", r.failures);
    assert_eq!(
        r.failures[0],
        "the transport failed (seen while the case waited on it): the broker connection is gone for good"
    );
    assert_eq!(r.virtual_ms, 0, "the clock was held");
    assert!(took < Duration::from_secs(10), "{took:?}");
}
