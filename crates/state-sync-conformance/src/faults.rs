//! The fault layer: decorators of a transport's window ends that drop,
//! duplicate, reorder and delay events, and fail, hang, delay or stale
//! snapshots — all seeded, so a case replays exactly from its seed.
//!
//! The layer also observes what passes through: deliveries after an
//! unsubscribe, invalid payloads handed to the engine, fetch counts and open
//! subscriptions. The runner turns those into invariant checks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use parking_lot::Mutex;
use serde_json::Value;
use state_sync::{
    InvalidationEvent, InvalidationHandler, InvalidationSubscriber, PortError, SnapshotProvider,
    Subscription,
};

use crate::record::{Record, Trace};
use crate::source::Sources;
use crate::spec::{ApplyFaults, Faults, RangeMs, SnapshotFaults};

/// The fault settings and random state of one window.
#[derive(Debug)]
pub(crate) struct FaultState {
    inner: Mutex<FaultInner>,
}

#[derive(Debug)]
struct FaultInner {
    rng: fastrand::Rng,
    drop: f64,
    drop_next: u32,
    subscribe_fail_next: u32,
    duplicate: f64,
    reorder: f64,
    delay: Option<RangeMs>,
    snapshot: SnapshotFaults,
    apply: ApplyFaults,
    held: Option<Value>,
}

/// What to do with one incoming event.
#[derive(Debug, Default)]
struct EventPlan {
    drop: bool,
    duplicate: bool,
    hold: bool,
    delay: Option<Duration>,
}

/// What to do with one fetch.
#[derive(Debug, Default)]
struct FetchPlan {
    hang: bool,
    fail: bool,
    stale: bool,
    replace: Option<Value>,
    delay: Option<Duration>,
}

/// What to do with one apply.
#[derive(Debug, Default)]
pub(crate) struct ApplyPlan {
    pub(crate) fail: bool,
    pub(crate) delay: Option<Duration>,
}

impl FaultState {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            inner: Mutex::new(FaultInner {
                rng: fastrand::Rng::with_seed(seed),
                drop: 0.0,
                drop_next: 0,
                subscribe_fail_next: 0,
                duplicate: 0.0,
                reorder: 0.0,
                delay: None,
                snapshot: SnapshotFaults::default(),
                apply: ApplyFaults::default(),
                held: None,
            }),
        }
    }

    /// Applies a `faults` step: given fields replace the current ones.
    pub(crate) fn configure(&self, f: &Faults) {
        let mut s = self.inner.lock();
        if f.clear {
            s.drop = 0.0;
            s.drop_next = 0;
            s.subscribe_fail_next = 0;
            s.duplicate = 0.0;
            s.reorder = 0.0;
            s.delay = None;
            s.snapshot = SnapshotFaults::default();
            s.apply = ApplyFaults::default();
        }
        if let Some(p) = f.drop {
            s.drop = p;
        }
        if let Some(n) = f.drop_next {
            s.drop_next = n;
        }
        if let Some(n) = f.subscribe_fail_next {
            s.subscribe_fail_next = n;
        }
        if let Some(p) = f.duplicate {
            s.duplicate = p;
        }
        if let Some(p) = f.reorder {
            s.reorder = p;
        }
        if f.delay_ms.is_some() {
            s.delay = f.delay_ms;
        }
        if let Some(snap) = &f.snapshot {
            merge_snapshot(&mut s.snapshot, snap);
        }
        if let Some(apply) = &f.apply {
            if apply.fail.is_some() {
                s.apply.fail = apply.fail;
            }
            if apply.fail_next.is_some() {
                s.apply.fail_next = apply.fail_next;
            }
            if apply.delay_ms.is_some() {
                s.apply.delay_ms = apply.delay_ms;
            }
        }
    }

    /// Whether this `subscribe` call fails (injected).
    fn subscribe_fails(&self) -> bool {
        let mut s = self.inner.lock();
        if s.subscribe_fail_next > 0 {
            s.subscribe_fail_next -= 1;
            true
        } else {
            false
        }
    }

    fn event_plan(&self) -> EventPlan {
        let mut s = self.inner.lock();
        if s.drop_next > 0 {
            s.drop_next -= 1;
            return EventPlan {
                drop: true,
                ..EventPlan::default()
            };
        }
        let (p_drop, p_duplicate, p_reorder) = (s.drop, s.duplicate, s.reorder);
        let drop = chance(&mut s.rng, p_drop);
        let duplicate = chance(&mut s.rng, p_duplicate);
        let hold = s.held.is_none() && chance(&mut s.rng, p_reorder);
        let delay = s.delay.map(|r| pick(&mut s.rng, r));
        EventPlan {
            drop,
            duplicate,
            hold,
            delay,
        }
    }

    fn fetch_plan(&self) -> FetchPlan {
        let mut s = self.inner.lock();
        let s = &mut *s;
        let snap = &mut s.snapshot;
        let mut plan = FetchPlan::default();
        if take_one(&mut snap.hang_next) {
            plan.hang = true;
            return plan;
        }
        plan.fail = take_one(&mut snap.fail_next) || chance(&mut s.rng, snap.fail.unwrap_or(0.0));
        if let Some(replace) = &mut snap.replace_next
            && replace.count > 0
        {
            replace.count -= 1;
            plan.replace = Some(replace.payload.clone());
        }
        plan.stale =
            take_one(&mut snap.stale_next) || chance(&mut s.rng, snap.stale.unwrap_or(0.0));
        plan.delay = snap.delay_ms.map(|r| pick(&mut s.rng, r));
        plan
    }

    /// Decides the fate of one apply.
    pub(crate) fn apply_plan(&self) -> ApplyPlan {
        let mut s = self.inner.lock();
        let s = &mut *s;
        ApplyPlan {
            fail: take_one(&mut s.apply.fail_next)
                || chance(&mut s.rng, s.apply.fail.unwrap_or(0.0)),
            delay: s.apply.delay_ms.map(|r| pick(&mut s.rng, r)),
        }
    }
}

fn merge_snapshot(into: &mut SnapshotFaults, from: &SnapshotFaults) {
    if from.fail.is_some() {
        into.fail = from.fail;
    }
    if from.fail_next.is_some() {
        into.fail_next = from.fail_next;
    }
    if from.hang_next.is_some() {
        into.hang_next = from.hang_next;
    }
    if from.delay_ms.is_some() {
        into.delay_ms = from.delay_ms;
    }
    if from.stale.is_some() {
        into.stale = from.stale;
    }
    if from.stale_next.is_some() {
        into.stale_next = from.stale_next;
    }
    if from.replace_next.is_some() {
        into.replace_next = from.replace_next.clone();
    }
}

fn take_one(counter: &mut Option<u32>) -> bool {
    match counter {
        Some(n) if *n > 0 => {
            *n -= 1;
            true
        }
        _ => false,
    }
}

fn chance(rng: &mut fastrand::Rng, p: f64) -> bool {
    p > 0.0 && rng.f64() < p
}

fn pick(rng: &mut fastrand::Rng, r: RangeMs) -> Duration {
    Duration::from_millis(rng.u64(r.min..=r.max.max(r.min)))
}

/// Everything the wrappers of one window share.
#[derive(Clone)]
pub(crate) struct WindowTap {
    pub(crate) name: Arc<str>,
    pub(crate) topic: String,
    pub(crate) faults: Arc<FaultState>,
    pub(crate) record: Record,
    pub(crate) trace: Trace,
    pub(crate) sources: Sources,
}

/// Wraps a transport's subscriber with event faults and observation.
pub(crate) struct FaultSubscriber {
    pub(crate) inner: Arc<dyn InvalidationSubscriber>,
    pub(crate) tap: WindowTap,
}

impl InvalidationSubscriber for FaultSubscriber {
    fn subscribe(
        &self,
        handler: InvalidationHandler,
    ) -> BoxFuture<'_, Result<Subscription, PortError>> {
        let closed = Arc::new(AtomicBool::new(false));
        let wrapped = wrap_handler(self.tap.clone(), handler, closed.clone());
        self.tap.record.lock().subscribes += 1;
        let fails = self.tap.faults.subscribe_fails();
        Box::pin(async move {
            if fails {
                self.tap
                    .trace
                    .log(&self.tap.name, "subscribe fails (fault)");
                return Err(PortError::new("injected subscribe failure"));
            }
            self.tap.trace.log(&self.tap.name, "subscribe");
            let inner = self.inner.subscribe(wrapped).await;
            let subscription = match inner {
                Ok(s) => s,
                Err(e) => {
                    self.tap
                        .trace
                        .log(&self.tap.name, format!("subscribe failed: {e}"));
                    return Err(e);
                }
            };
            self.tap.record.lock().open_subscriptions += 1;
            let tap = self.tap.clone();
            Ok(Subscription::new(move || {
                closed.store(true, Ordering::SeqCst);
                tap.record.lock().open_subscriptions -= 1;
                tap.trace.log(&tap.name, "unsubscribe");
                subscription.unsubscribe();
            }))
        })
    }
}

fn wrap_handler(
    tap: WindowTap,
    engine: InvalidationHandler,
    closed: Arc<AtomicBool>,
) -> InvalidationHandler {
    Arc::new(move |payload: &Value| {
        if closed.load(Ordering::SeqCst) {
            let msg = format!("event delivered after unsubscribe: {}", describe(payload));
            tap.trace.log(&tap.name, msg.clone());
            tap.record.lock().violations.push(msg);
            return;
        }
        let plan = tap.faults.event_plan();
        if plan.drop {
            tap.trace
                .log(&tap.name, format!("drop {} (fault)", describe(payload)));
            return;
        }
        let copies = if plan.duplicate { 2 } else { 1 };
        if plan.hold {
            tap.trace.log(
                &tap.name,
                format!("hold back {} (reorder fault)", describe(payload)),
            );
            tap.faults.inner.lock().held = Some(payload.clone());
            // Released after the next event, or after 10 ms if none comes.
            let (tap, engine, closed) = (tap.clone(), engine.clone(), closed.clone());
            spawn_or_run(async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                let held = tap.faults.inner.lock().held.take();
                if let Some(held) = held {
                    forward(&tap, &engine, &closed, &held);
                }
            });
            return;
        }
        let held = tap.faults.inner.lock().held.take();
        match plan.delay {
            Some(delay) => {
                let (tap, engine, closed) = (tap.clone(), engine.clone(), closed.clone());
                let payload = payload.clone();
                spawn_or_run(async move {
                    tokio::time::sleep(delay).await;
                    for _ in 0..copies {
                        forward(&tap, &engine, &closed, &payload);
                    }
                    if let Some(held) = held {
                        forward(&tap, &engine, &closed, &held);
                    }
                });
            }
            None => {
                for _ in 0..copies {
                    forward(&tap, &engine, &closed, payload);
                }
                if let Some(held) = held {
                    forward(&tap, &engine, &closed, &held);
                }
            }
        }
    })
}

/// Hands a payload to the engine, counting invalid ones.
fn forward(tap: &WindowTap, engine: &InvalidationHandler, closed: &AtomicBool, payload: &Value) {
    if closed.load(Ordering::SeqCst) {
        // Delayed or held back past the unsubscribe: the fault layer drops it.
        return;
    }
    let valid = InvalidationEvent::from_json(payload).is_ok();
    tap.trace
        .log(&tap.name, format!("deliver {}", describe(payload)));
    if !valid {
        tap.record.lock().garbage_forwarded += 1;
    }
    engine(payload);
}

/// A short description of a payload for the trace.
fn describe(payload: &Value) -> String {
    match InvalidationEvent::from_json(payload) {
        Ok(e) => format!("event {}@{}", e.topic, e.revision),
        Err(_) => {
            let text = state_sync::protocol::preview(payload, 60);
            format!("garbage {text}")
        }
    }
}

fn spawn_or_run(task: impl std::future::Future<Output = ()> + Send + 'static) {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            handle.spawn(task);
        }
        Err(_) => futures::executor::block_on(task),
    }
}

/// Wraps a transport's provider with snapshot faults and counts fetches.
pub(crate) struct FaultProvider {
    pub(crate) inner: Arc<dyn SnapshotProvider>,
    pub(crate) tap: WindowTap,
}

impl SnapshotProvider for FaultProvider {
    fn get_snapshot(&self) -> BoxFuture<'_, Result<Value, PortError>> {
        let tap = &self.tap;
        let n = {
            let mut rec = tap.record.lock();
            rec.fetches += 1;
            rec.fetches
        };
        let plan = tap.faults.fetch_plan();
        Box::pin(async move {
            if plan.hang {
                tap.trace
                    .log(&tap.name, format!("fetch #{n} hangs (fault)"));
                return futures::future::pending().await;
            }
            tap.trace.log(&tap.name, format!("fetch #{n}"));
            let mut result = self.inner.get_snapshot().await;
            if let Some(delay) = plan.delay {
                tokio::time::sleep(delay).await;
            }
            if plan.fail {
                tap.trace
                    .log(&tap.name, format!("fetch #{n} fails (fault)"));
                return Err(PortError::new("injected snapshot failure"));
            }
            if let Some(payload) = plan.replace {
                tap.trace
                    .log(&tap.name, format!("fetch #{n} replaced by garbage (fault)"));
                return Ok(payload);
            }
            if plan.stale
                && result.is_ok()
                && let Some(previous) = tap.sources.previous_json(&tap.topic)
            {
                tap.trace
                    .log(&tap.name, format!("fetch #{n} served stale (fault)"));
                result = Ok(previous);
            }
            match &result {
                Ok(v) => tap.trace.log(
                    &tap.name,
                    format!(
                        "fetch #{n} -> revision {}",
                        v.get("revision")
                            .map_or_else(|| "?".to_owned(), Value::to_string)
                    ),
                ),
                Err(e) => tap
                    .trace
                    .log(&tap.name, format!("fetch #{n} -> error: {e}")),
            }
            result
        })
    }
}
