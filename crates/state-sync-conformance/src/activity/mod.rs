//! Virtual time, moved only when the case is quiescent.
//!
//! A case runs on paused virtual time: whenever the runtime has nothing to
//! do, tokio jumps the clock to the next timer, so minutes of scenario cost
//! microseconds. That is right for work that waits on tokio time, and wrong
//! for real I/O: a reply on its way through a socket, a pipe or another
//! thread would see the clock jump past every timeout of the case.
//!
//! So the case keeps count of the work in flight — a `subscribe` or a
//! snapshot request waiting at the transport's ends, a [`Backend::settle`]
//! the case awaits after an emit or an unsubscribe, a driver's command not
//! yet acknowledged — and while there is any, holds the clock still
//! (through tokio's own mechanism: a blocking task in flight inhibits
//! auto-advance). The runtime then waits for the work in real time, however
//! long it takes: on a loaded machine a reply takes longer, and the case
//! sees the same virtual instant. Virtual time moves only when the case is
//! quiescent — the runtime idle and no work in flight — or when the
//! transport's work waits on virtual time and says so: a wait declared
//! through [`state_sync_transports::clock`] (or [`simulated_latency`]) lets
//! the clock run for the transport's work in flight. A driver's command is
//! never covered by a declared wait: the driver answers in real time.
//!
//! No wall-clock rule moves the clock. A case whose work makes no progress
//! (nothing starting or finishing, no delivery, the clock not moving) for
//! the hang limit of real time is ended by the case's watchdog
//! ([`interrupt`](Activity::interrupt)) as `timeout`, naming the work that
//! never finished; a transport that reports a [`Backend::failure`]
//! meanwhile ends it as `error`. No expectation is ever checked against a
//! clock that moved while work was in flight.
//!
//! [`Backend::settle`]: state_sync_transports::Backend::settle
//! [`Backend::failure`]: state_sync_transports::Backend::failure

mod settles;
mod stall;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::{Condvar, Mutex};
use state_sync_transports::clock::WaitWatcher;
use tokio::runtime::Handle;

use self::stall::Stall;
pub(crate) use self::stall::{FailureProbe, Interrupt};

/// Who does a piece of work in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Party {
    /// The transport: its work may wait on a declared wait.
    Transport,
    /// The driver: it answers in real time, never on the case's clock.
    Driver,
}

/// The work in flight in one case, and whether the clock is held.
/// Cheap to clone.
#[derive(Clone)]
pub(crate) struct Activity {
    inner: Arc<Inner>,
}

struct Inner {
    /// The case runs on real time: nothing to hold still.
    real_time: bool,
    work: Mutex<Work>,
    /// Signalled whenever [`Work::holds`] may have changed.
    changed: Condvar,
    /// The case's runtime, to start an inhibitor from any thread.
    runtime: OnceLock<Handle>,
    /// The case runtime is parked (idle).
    parked: AtomicBool,
    /// What runs each time the case runtime is about to park.
    on_park: Mutex<Vec<ParkHook>>,
    /// Woken each time the case runtime is about to park.
    idle: tokio::sync::Notify,
    settles: settles::Settles,
    stall: Stall,
}

/// Runs when the case runtime is about to park ([`Activity::on_park`]).
pub(crate) type ParkHook = Box<dyn Fn() + Send + Sync>;

#[derive(Default)]
struct Work {
    next: u64,
    in_flight: BTreeMap<u64, (Party, String)>,
    /// Pieces of [`Party::Driver`] work in `in_flight`.
    driver: usize,
    /// Declared waits on virtual time in progress.
    sleeping: usize,
    /// An inhibitor task is running.
    inhibiting: bool,
    /// The case is over: nothing holds the clock any more.
    closed: bool,
}

impl Work {
    /// Whether virtual time must be held: a driver's command is
    /// unacknowledged, or the transport has work in flight and no declared
    /// wait is in progress.
    fn holds(&self) -> bool {
        let transport = self.in_flight.len() - self.driver;
        !self.closed && (self.driver > 0 || (transport > 0 && self.sleeping == 0))
    }
}

/// Marks one piece of work in flight until dropped.
pub(crate) struct Busy {
    activity: Activity,
    id: u64,
}

impl Drop for Busy {
    fn drop(&mut self) {
        let inner = &self.activity.inner;
        let mut work = inner.work.lock();
        if let Some((party, _)) = work.in_flight.remove(&self.id)
            && party == Party::Driver
        {
            work.driver -= 1;
        }
        inner.stall.progress();
        inner.changed.notify_all();
    }
}

impl Activity {
    /// The bookkeeping of a case on paused virtual time, or on real time
    /// (`real_time`: work is tracked for messages, settles and stalls; the
    /// clock is never held).
    pub(crate) fn new(real_time: bool) -> Self {
        Self {
            inner: Arc::new(Inner {
                real_time,
                work: Mutex::default(),
                changed: Condvar::new(),
                runtime: OnceLock::new(),
                parked: AtomicBool::new(false),
                on_park: Mutex::default(),
                idle: tokio::sync::Notify::new(),
                settles: settles::Settles::default(),
                stall: Stall::default(),
            }),
        }
    }

    /// The case runs on `runtime` (call once it is built).
    pub(crate) fn attach(&self, runtime: Handle) {
        let _ = self.inner.runtime.set(runtime);
    }

    /// The case is over: the clock is held no longer, and an inhibitor
    /// still running ends (the runtime waits for it when it shuts down).
    pub(crate) fn close(&self) {
        self.inner.work.lock().closed = true;
        self.inner.changed.notify_all();
    }

    /// The runtime is about to park (nothing to run): with work in flight,
    /// an inhibitor starts now, before the clock could jump.
    pub(crate) fn parking(&self) {
        for hook in self.inner.on_park.lock().iter() {
            hook();
        }
        if !self.inner.real_time {
            self.inner.stall.clock_seen(tokio::time::Instant::now());
        }
        self.inner.parked.store(true, Ordering::SeqCst);
        self.inner.idle.notify_waiters();
        self.inhibit_if_held();
    }

    /// Resolves the next time the case runtime is about to park: every
    /// task that was ready when this was awaited, and every task those
    /// made ready, has run as far as it can without waiting on time, I/O
    /// or another thread. On real time this is how the case knows a
    /// window has reacted to what it was handed (an engine that spawns
    /// its fetch has issued it) — what virtual time gets for free, since
    /// the paused clock only moves once the runtime is idle.
    pub(crate) async fn runtime_idle(&self) {
        self.inner.idle.notified().await;
    }

    /// Runs `hook` each time the case runtime is about to park: when
    /// everything runnable has run (a driver's commands go out then, as
    /// one batch).
    pub(crate) fn on_park(&self, hook: ParkHook) {
        self.inner.on_park.lock().push(hook);
    }

    /// The runtime unparked.
    pub(crate) fn unparked(&self) {
        self.inner.parked.store(false, Ordering::SeqCst);
    }

    /// Whether the case runtime is parked now.
    pub(crate) fn is_parked(&self) -> bool {
        self.inner.parked.load(Ordering::SeqCst)
    }

    /// Marks `what` in flight for `party`, holding virtual time still while
    /// it is (see the module docs).
    pub(crate) fn busy(&self, party: Party, what: impl Into<String>) -> Busy {
        let id = {
            let mut work = self.inner.work.lock();
            let id = work.next;
            work.next += 1;
            work.in_flight.insert(id, (party, what.into()));
            if party == Party::Driver {
                work.driver += 1;
            }
            id
        };
        self.inner.stall.progress();
        self.inhibit_if_held();
        Busy {
            activity: self.clone(),
            id,
        }
    }

    /// Runs the transport's `call` as work in flight: polled once first,
    /// so that what is ready at once (an in-process transport) costs
    /// nothing.
    pub(crate) async fn track<F: std::future::Future>(
        &self,
        what: impl FnOnce() -> String,
        call: F,
    ) -> F::Output {
        let mut call = std::pin::pin!(call);
        if let std::task::Poll::Ready(out) = futures::poll!(call.as_mut()) {
            return out;
        }
        let _busy = self.busy(Party::Transport, what());
        call.await
    }

    /// Starts an inhibitor if the clock must be held and none runs: work
    /// holds time still and the runtime is parked. While the runtime runs,
    /// the clock cannot jump, so the start waits for [`parking`]: an
    /// in-process transport whose work finishes before the runtime idles
    /// never needs one.
    ///
    /// [`parking`]: Self::parking
    fn inhibit_if_held(&self) {
        let start = {
            let mut work = self.inner.work.lock();
            let start = work.holds()
                && !work.inhibiting
                && !self.inner.real_time
                && self.inner.parked.load(Ordering::SeqCst);
            work.inhibiting |= start;
            start
        };
        if !start {
            return;
        }
        let runtime = self
            .inner
            .runtime
            .get()
            .cloned()
            .or_else(|| Handle::try_current().ok());
        match runtime {
            Some(runtime) => {
                let activity = self.clone();
                // A blocking task in flight keeps tokio from auto-advancing
                // the paused clock of a current-thread runtime.
                drop(runtime.spawn_blocking(move || activity.inhibit()));
            }
            None => self.inner.work.lock().inhibiting = false,
        }
    }

    /// The inhibitor: runs while the clock must be held.
    fn inhibit(&self) {
        let mut work = self.inner.work.lock();
        while work.holds() {
            self.inner.changed.wait(&mut work);
        }
        work.inhibiting = false;
    }

    /// Whether the clock is held now (work in flight that no declared wait
    /// covers).
    pub(crate) fn holds_time(&self) -> bool {
        self.inner.work.lock().holds()
    }

    /// The transport showed progress (it delivered a payload, a driver sent
    /// a line): work that is slow, not stuck.
    pub(crate) fn progress(&self) {
        self.inner.stall.progress();
    }

    /// What is in flight now, for messages: `the transport never finished
    /// …; the driver never acknowledged …`, or empty.
    pub(crate) fn waiting_for(&self) -> String {
        let work = self.inner.work.lock();
        let of = |party: Party| -> Vec<&str> {
            work.in_flight
                .values()
                .filter(|(p, _)| *p == party)
                .map(|(_, what)| what.as_str())
                .collect()
        };
        let mut parts = Vec::new();
        let transport = of(Party::Transport);
        if !transport.is_empty() {
            parts.push(format!(
                "the transport never finished {}",
                transport.join(", ")
            ));
        }
        let driver = of(Party::Driver);
        if !driver.is_empty() {
            parts.push(format!(
                "the driver never acknowledged {}",
                driver.join(", ")
            ));
        }
        parts.join("; ")
    }
}

/// The declared waits of the case's thread ([`state_sync_transports::clock`]).
impl WaitWatcher for Activity {
    fn started(&self) {
        self.inner.work.lock().sleeping += 1;
        self.inner.stall.progress();
        self.inner.changed.notify_all();
    }

    fn ended(&self) {
        self.inner.work.lock().sleeping -= 1;
        self.inner.stall.progress();
        self.inhibit_if_held();
    }
}

/// Sleeps `latency` of virtual time, as a transport's simulated latency:
/// [`state_sync_transports::clock::sleep`], under the name test doubles
/// have used.
///
/// While a case waits on the transport (a `subscribe`, a snapshot request, a
/// settle), the kit holds virtual time still, because the transport may be
/// doing real I/O. A transport — or a test double — that waits on tokio time
/// inside that work must say so, or its wait never ends on a held clock:
/// sleeping through this function (or `state_sync_transports::clock`, which
/// production code can call without depending on the kit) lets virtual time
/// run through the wait, so a 50 ms latency costs nothing. Outside a case
/// (or on real time) it is `tokio::time::sleep`.
///
/// ```
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// // A provider that answers after 50 ms, cheaply under the kit:
/// state_sync_conformance::simulated_latency(Duration::from_millis(50)).await;
/// # }
/// ```
pub async fn simulated_latency(latency: std::time::Duration) {
    state_sync_transports::clock::sleep(latency).await;
}
