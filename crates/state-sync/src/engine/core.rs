//! The machine's lock, and the hand-over between the machine and the hot
//! path's copy of its gate: whoever takes the lock first takes in what the
//! hot path folded in, and publishes the machine's view when letting go.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use super::hot::HotGate;
use crate::machine::Machine;
use crate::ports::Subscription;

/// The machine and what the driver holds on its behalf: what the lock
/// guards.
pub(super) struct Driver {
    pub(super) machine: Machine,
    pub(super) subscription: Option<Subscription>,
    /// The runtime the engine was started on: its tasks run there, and its
    /// clock is the engine's, whatever thread a handler is called from.
    pub(super) runtime: Option<Handle>,
    /// The throttle's timer, when armed.
    pub(super) timer: Option<JoinHandle<()>>,
}

impl Driver {
    /// The machine, with nothing subscribed, started or armed yet.
    pub(super) fn new(machine: Machine) -> Self {
        Self {
            machine,
            subscription: None,
            runtime: None,
            timer: None,
        }
    }
}

/// The driver behind its lock, and the gate the hot path reads (shared
/// with the handlers, which outlive the engine in a transport's hands).
pub(super) struct Core {
    driver: Mutex<Driver>,
    pub(super) gate: Arc<HotGate>,
}

impl Core {
    pub(super) fn new(driver: Driver) -> Self {
        let gate = Arc::new(HotGate::new(driver.machine.topic()));
        gate.publish(driver.machine.gate_view());
        Self {
            driver: Mutex::new(driver),
            gate,
        }
    }

    /// Takes the lock; the machine first absorbs what the hot path folded
    /// into its follow-up.
    pub(super) fn lock(&self) -> CoreGuard<'_> {
        let mut guard = self.driver.lock();
        if let Some(joined) = self.gate.drain() {
            guard.machine.absorb(joined.events, joined.newest);
        }
        CoreGuard {
            guard,
            gate: &self.gate,
        }
    }
}

/// A dropped engine hears nothing more.
impl Drop for Core {
    fn drop(&mut self) {
        self.gate.close();
    }
}

/// The locked driver. Dropping it publishes the machine's view, then
/// releases the lock.
pub(super) struct CoreGuard<'a> {
    guard: MutexGuard<'a, Driver>,
    gate: &'a HotGate,
}

impl Deref for CoreGuard<'_> {
    type Target = Driver;

    fn deref(&self) -> &Driver {
        &self.guard
    }
}

impl DerefMut for CoreGuard<'_> {
    fn deref_mut(&mut self) -> &mut Driver {
        &mut self.guard
    }
}

impl Drop for CoreGuard<'_> {
    fn drop(&mut self) {
        self.gate.publish(self.guard.machine.gate_view());
    }
}
