//! Stalls: how long a case has gone without progress, and how its watchdog
//! ends it early — a hang, or a failure its transport or driver reported —
//! without moving the clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::Activity;

/// Why the watchdog ended a case before its steps did.
#[derive(Debug, Clone)]
pub(crate) enum Interrupt {
    /// No progress for the hang limit: `timeout`, with this message.
    Hung(String),
    /// The transport or the driver reported a failure while the case
    /// waited on it: `error`, with this message.
    Failed(String),
}

/// Reports what broke, if anything did (the case's transports and driver).
pub(crate) type FailureProbe = Box<dyn Fn() -> Option<String> + Send + Sync>;

/// A case's progress and the watchdog's verdict on it.
pub(super) struct Stall {
    epoch: Instant,
    /// Real-time stamp (µs since `epoch`) of the last sign of progress.
    last_progress: AtomicU64,
    /// The virtual instant the runtime last parked at.
    clock: Mutex<Option<tokio::time::Instant>>,
    interrupt: Mutex<Option<Interrupt>>,
    interrupted: Notify,
    probe: Mutex<Option<FailureProbe>>,
}

impl Default for Stall {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            last_progress: AtomicU64::new(0),
            clock: Mutex::new(None),
            interrupt: Mutex::new(None),
            interrupted: Notify::new(),
            probe: Mutex::new(None),
        }
    }
}

impl Stall {
    fn now_us(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Something moved: work started or finished, a payload was delivered,
    /// a driver spoke, the clock advanced.
    pub(super) fn progress(&self) {
        self.last_progress.store(self.now_us(), Ordering::Release);
    }

    /// The runtime parks at virtual instant `now`: a clock that moved since
    /// the last park is progress.
    pub(super) fn clock_seen(&self, now: tokio::time::Instant) {
        let mut clock = self.clock.lock();
        if *clock != Some(now) {
            *clock = Some(now);
            self.progress();
        }
    }
}

impl Activity {
    /// Real time since the last sign of progress.
    pub(crate) fn stalled_for(&self) -> Duration {
        let stall = &self.inner.stall;
        let last = stall.last_progress.load(Ordering::Acquire);
        Duration::from_micros(stall.now_us().saturating_sub(last))
    }

    /// Sets what [`failure`](Self::failure) asks, until
    /// [`stop_probing`](Self::stop_probing).
    pub(crate) fn probe_failures(&self, probe: FailureProbe) {
        *self.inner.stall.probe.lock() = Some(probe);
    }

    /// No more probes; returns once none is running (what a probe held
    /// for a moment is let go of on its own thread, not this one).
    pub(crate) fn stop_probing(&self) {
        self.inner.stall.probe.lock().take();
    }

    /// What the case's transports or driver reported broken, if anything.
    pub(crate) fn failure(&self) -> Option<String> {
        self.inner
            .stall
            .probe
            .lock()
            .as_ref()
            .and_then(|probe| probe())
    }

    /// Ends the case early (the first interrupt counts); false if it was
    /// interrupted already.
    pub(crate) fn interrupt(&self, why: Interrupt) -> bool {
        let stall = &self.inner.stall;
        let mut slot = stall.interrupt.lock();
        if slot.is_some() {
            return false;
        }
        *slot = Some(why);
        stall.interrupted.notify_one();
        true
    }

    /// Whether the case was interrupted.
    pub(crate) fn was_interrupted(&self) -> bool {
        self.inner.stall.interrupt.lock().is_some()
    }

    /// Resolves when the watchdog interrupts the case, with why.
    pub(crate) async fn interrupted(&self) -> Interrupt {
        let stall = &self.inner.stall;
        loop {
            let notified = stall.interrupted.notified();
            if let Some(why) = stall.interrupt.lock().clone() {
                return why;
            }
            notified.await;
        }
    }
}
