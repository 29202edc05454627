//! The fault settings of one window and the seeded decisions they give:
//! what happens to the next event, fetch, apply or subscribe.

use std::time::Duration;

use parking_lot::Mutex;
use serde_json::Value;
use tokio::sync::oneshot;

use super::holds::Holds;
use super::pending::Pending;
use crate::layers::payload::Owned;
use crate::spec::{ApplyFaults, Faults, Probability, RangeMs, SnapshotFaults};

/// The fault settings and random state of one window.
#[derive(Debug)]
pub(crate) struct FaultState {
    inner: Mutex<Settings>,
    /// What waits for a `release` step.
    pub(crate) holds: Holds,
    /// What the layer keeps waiting or has scheduled now.
    pub(crate) pending: Pending,
}

#[derive(Debug)]
struct Settings {
    rng: fastrand::Rng,
    drop: Option<Probability>,
    drop_next: u32,
    subscribe_fail_next: u32,
    duplicate: Option<Probability>,
    reorder: Option<Probability>,
    delay: Option<RangeMs>,
    snapshot: SnapshotFaults,
    apply: ApplyFaults,
    /// The event held back by a reorder, until the next one passes.
    held: Option<Owned>,
}

/// What to do with one incoming event.
#[derive(Debug, Default)]
pub(crate) struct EventPlan {
    pub(crate) drop: bool,
    pub(crate) duplicate: bool,
    pub(crate) hold: bool,
    pub(crate) delay: Option<Duration>,
}

/// What to do with one fetch.
#[derive(Debug, Default)]
pub(crate) struct FetchPlan {
    pub(crate) hang: bool,
    /// Wait for a `release` first.
    pub(crate) hold: Option<oneshot::Receiver<()>>,
    pub(crate) fail: bool,
    pub(crate) stale: bool,
    pub(crate) replace: Option<Value>,
    /// Give up once the request reached the backend.
    pub(crate) cancel: bool,
    pub(crate) delay: Option<Duration>,
    /// Wait out `delay` before reaching the transport.
    pub(crate) read_late: bool,
}

/// What to do with one apply.
#[derive(Debug, Default)]
pub(crate) struct ApplyPlan {
    pub(crate) fail: bool,
    pub(crate) delay: Option<Duration>,
}

impl FaultState {
    /// No faults yet; random choices from `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            inner: Mutex::new(Settings {
                rng: fastrand::Rng::with_seed(seed),
                drop: None,
                drop_next: 0,
                subscribe_fail_next: 0,
                duplicate: None,
                reorder: None,
                delay: None,
                snapshot: SnapshotFaults::default(),
                apply: ApplyFaults::default(),
                held: None,
            }),
            holds: Holds::default(),
            pending: Pending::default(),
        }
    }

    /// Applies a `faults` step: given fields replace the current ones.
    pub(crate) fn configure(&self, f: &Faults) {
        self.holds
            .configure(f.clear, f.subscribe_hold_next, f.hold_events);
        let mut s = self.inner.lock();
        if f.clear {
            s.drop = None;
            s.drop_next = 0;
            s.subscribe_fail_next = 0;
            s.duplicate = None;
            s.reorder = None;
            s.delay = None;
            s.snapshot = SnapshotFaults::default();
            s.apply = ApplyFaults::default();
        }
        replace(&mut s.drop, f.drop);
        replace(&mut s.duplicate, f.duplicate);
        replace(&mut s.reorder, f.reorder);
        replace(&mut s.delay, f.delay_ms);
        if let Some(n) = f.drop_next {
            s.drop_next = n;
        }
        if let Some(n) = f.subscribe_fail_next {
            s.subscribe_fail_next = n;
        }
        if let Some(snap) = &f.snapshot {
            let into = &mut s.snapshot;
            replace(&mut into.fail, snap.fail);
            replace(&mut into.fail_next, snap.fail_next);
            replace(&mut into.hang_next, snap.hang_next);
            replace(&mut into.hold_next, snap.hold_next);
            replace(&mut into.delay_ms, snap.delay_ms);
            replace(&mut into.read_late, snap.read_late);
            replace(&mut into.stale, snap.stale);
            replace(&mut into.stale_next, snap.stale_next);
            replace(&mut into.replace_next, snap.replace_next.clone());
            replace(&mut into.cancel_next, snap.cancel_next);
        }
        if let Some(apply) = &f.apply {
            replace(&mut s.apply.fail, apply.fail);
            replace(&mut s.apply.fail_next, apply.fail_next);
            replace(&mut s.apply.delay_ms, apply.delay_ms);
        }
    }

    /// Whether this `subscribe` call fails.
    pub(crate) fn subscribe_fails(&self) -> bool {
        let mut s = self.inner.lock();
        if s.subscribe_fail_next > 0 {
            s.subscribe_fail_next -= 1;
            true
        } else {
            false
        }
    }

    /// The fate of one incoming event.
    pub(crate) fn event_plan(&self) -> EventPlan {
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

    /// Keeps `payload` back until the next event passes.
    pub(crate) fn hold(&self, payload: Owned) {
        self.inner.lock().held = Some(payload);
    }

    /// The event held back, if any (it is released now).
    pub(crate) fn release_held(&self) -> Option<Owned> {
        self.inner.lock().held.take()
    }

    /// The fate of one fetch.
    pub(crate) fn fetch_plan(&self) -> FetchPlan {
        let mut s = self.inner.lock();
        let s = &mut *s;
        let snap = &mut s.snapshot;
        let mut plan = FetchPlan::default();
        if take_one(&mut snap.hang_next) {
            plan.hang = true;
            return plan;
        }
        if take_one(&mut snap.hold_next) {
            plan.hold = Some(self.holds.hold_fetch());
        }
        plan.fail = take_one(&mut snap.fail_next) || chance(&mut s.rng, snap.fail);
        if let Some(replace) = &mut snap.replace_next
            && replace.count > 0
        {
            replace.count -= 1;
            plan.replace = Some(replace.payload.clone());
        }
        plan.stale = take_one(&mut snap.stale_next) || chance(&mut s.rng, snap.stale);
        plan.cancel = take_one(&mut snap.cancel_next);
        plan.delay = snap.delay_ms.map(|r| pick(&mut s.rng, r));
        plan.read_late = snap.read_late.unwrap_or(false);
        plan
    }

    /// The fate of one apply.
    pub(crate) fn apply_plan(&self) -> ApplyPlan {
        let mut s = self.inner.lock();
        let s = &mut *s;
        ApplyPlan {
            fail: take_one(&mut s.apply.fail_next) || chance(&mut s.rng, s.apply.fail),
            delay: s.apply.delay_ms.map(|r| pick(&mut s.rng, r)),
        }
    }
}

/// `given` replaces `current` when it is set.
fn replace<T>(current: &mut Option<T>, given: Option<T>) {
    if given.is_some() {
        *current = given;
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

/// Draws only when the probability is set and positive, so that setting one
/// fault does not shift the random choices of the others.
fn chance(rng: &mut fastrand::Rng, p: Option<Probability>) -> bool {
    p.is_some_and(|p| p.get() > 0.0 && rng.f64() < p.get())
}

fn pick(rng: &mut fastrand::Rng, r: RangeMs) -> Duration {
    Duration::from_millis(rng.u64(r.min..=r.max))
}
