//! Virtual time, held still while the transport works.
//!
//! A case runs on paused virtual time: whenever the runtime has nothing to
//! do, tokio jumps the clock to the next timer, so minutes of scenario cost
//! microseconds. That is right for work that waits on tokio time, and wrong
//! for real I/O: a reply that is on its way through a socket, a pipe or
//! another thread would see the clock jump past every timeout of the case.
//!
//! So the case keeps count of the transport's work in flight — a
//! `subscribe` or a snapshot request waiting at the transport's ends, and a
//! [`Backend::settle`] the case is
//! waiting for after an emit or an unsubscribe — and while there is any,
//! holds auto-advance off (through tokio's own mechanism: a blocking task
//! in flight inhibits it). The runtime then waits for I/O in real time.
//!
//! Work in flight may also be waiting on tokio time (a transport with a
//! simulated latency), and the kit cannot tell which. So while the runtime
//! has been idle with work in flight for [`FIRST_GRACE`], virtual time
//! moves at the speed of real time, one millisecond per [`CREEP`]: a real
//! reply that lands within the grace sees a clock that has not moved at
//! all, a slower one sees the time it took, and a transport that sleeps on
//! tokio time wakes up as it would in a real app. Work that shows no
//! progress (nothing finishing or starting, no delivery) for [`STALLED`]
//! is taken for a transport that never answers: the steps then double, so
//! the case's budget ends it quickly. When the runtime is never idle with
//! work in flight — every in-process transport that does not sleep — none
//! of this happens: the same case gives the same trace.
//!
//! The same bookkeeping tells the watchdog what a stuck case was waiting
//! for.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use state_sync_transports::Backend;

use crate::layers::ledger::Ledger;
use tokio::runtime::Handle;
use tokio::sync::Notify;

/// Real time the runtime may sit idle with work in flight before virtual
/// time moves at all.
pub(crate) const FIRST_GRACE: Duration = Duration::from_millis(10);
/// Real time per millisecond of virtual time after that.
pub(crate) const CREEP: Duration = Duration::from_millis(1);
/// Work in flight this long (real time) with no sign of progress — no
/// work finishing or starting, no delivery — makes the steps grow.
pub(crate) const STALLED: Duration = Duration::from_secs(1);
/// The largest step.
const MAX_STEP_MS: u64 = 10_000;

/// The transport's work in flight in one case, and the runtime's state.
/// Cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct Activity {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The case runs on real time: nothing to hold still.
    real_time: bool,
    /// What is in flight, by id, described for the watchdog.
    work: Mutex<Work>,
    /// Signalled when the work count falls to zero.
    drained: Condvar,
    /// The case runtime is parked (idle).
    parked: AtomicBool,
    /// Real-time stamp (µs since `epoch`) of the last park or unpark.
    last_switch: AtomicU64,
    epoch: std::sync::OnceLock<Instant>,
    /// Virtual milliseconds due (set by the inhibitor, taken by the governor
    /// task).
    tick: AtomicU64,
    /// Real-time stamp (µs) of the last sign of progress: a change of the
    /// work in flight, a delivery.
    changed: AtomicU64,
    tick_ready: Notify,
    /// Work may have started that the backend's `settle` covers.
    unsettled: AtomicBool,
    /// `Backend::settle` calls started so far, and the highest number
    /// among those that resolved.
    settles_started: AtomicU64,
    settled_upto: AtomicU64,
    /// The runtime went idle at least once with work in flight: the case
    /// waited on something outside its runtime, in real time.
    waited: AtomicBool,
    settle_due: Notify,
    /// What runs each time the case runtime is about to park.
    on_park: Mutex<Vec<ParkHook>>,
}

/// Runs when the case runtime is about to park ([`Activity::on_park`]).
pub(crate) type ParkHook = Box<dyn Fn() + Send + Sync>;

#[derive(Default)]
struct Work {
    next: u64,
    in_flight: BTreeMap<u64, String>,
    /// Calls sleeping a simulated latency ([`simulated_latency`]): work in
    /// flight that waits on virtual time, which may then run freely.
    sleeping: usize,
    /// An inhibitor task is running.
    inhibiting: bool,
}

impl Work {
    /// Whether virtual time must be held: work is in flight that is not
    /// sleeping on virtual time.
    fn holds(&self) -> bool {
        self.in_flight.len() > self.sleeping
    }
}

/// Marks one piece of work in flight until dropped.
pub(crate) struct Busy {
    activity: Activity,
    id: u64,
}

impl Drop for Busy {
    fn drop(&mut self) {
        let mut work = self.activity.inner.work.lock();
        work.in_flight.remove(&self.id);
        let now = self.activity.now_us();
        self.activity.inner.changed.store(now, Ordering::Release);
        if !work.holds() {
            self.activity.inner.drained.notify_all();
        }
    }
}

impl Activity {
    /// The bookkeeping of a case on real time: work is tracked for messages
    /// and settles, the clock is never held.
    pub(crate) fn on_real_time() -> Self {
        Self {
            inner: Arc::new(Inner {
                real_time: true,
                ..Inner::default()
            }),
        }
    }

    fn now_us(&self) -> u64 {
        let epoch = self.inner.epoch.get_or_init(Instant::now);
        u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// The runtime is about to park (nothing to run): with work in flight,
    /// an inhibitor starts now, before the clock could jump.
    pub(crate) fn parking(&self) {
        for hook in self.inner.on_park.lock().iter() {
            hook();
        }
        self.inner
            .last_switch
            .store(self.now_us(), Ordering::Release);
        self.inner.parked.store(true, Ordering::SeqCst);
        let start = {
            let mut work = self.inner.work.lock();
            if !work.in_flight.is_empty() {
                self.inner.waited.store(true, Ordering::Release);
            }
            self.should_inhibit(&mut work)
        };
        if start && let Ok(runtime) = Handle::try_current() {
            self.start_inhibitor(&runtime);
        }
    }

    /// Runs `hook` each time the case runtime is about to park: when
    /// everything runnable has run (a driver's commands go out then, as
    /// one batch).
    pub(crate) fn on_park(&self, hook: ParkHook) {
        self.inner.on_park.lock().push(hook);
    }

    /// The runtime unparked.
    pub(crate) fn unparked(&self) {
        self.inner.parked.store(false, Ordering::Release);
        self.inner
            .last_switch
            .store(self.now_us(), Ordering::Release);
    }

    /// Marks `what` in flight, holding virtual time still while it is (see
    /// the module docs). Call on the case's runtime or with its `runtime`.
    pub(crate) fn busy(&self, what: impl Into<String>, runtime: &Handle) -> Busy {
        let (id, start) = {
            let mut work = self.inner.work.lock();
            let id = work.next;
            work.next += 1;
            work.in_flight.insert(id, what.into());
            self.inner.changed.store(self.now_us(), Ordering::Release);
            (id, self.should_inhibit(&mut work))
        };
        if start {
            self.start_inhibitor(runtime);
        }
        Busy {
            activity: self.clone(),
            id,
        }
    }

    /// Whether an inhibitor must start now (and notes that it does): work
    /// holds time still and the runtime is parked. While the runtime runs,
    /// the clock cannot jump, so the start waits for [`parking`]: an
    /// in-process transport whose work finishes before the runtime idles
    /// never needs one.
    ///
    /// [`parking`]: Self::parking
    fn should_inhibit(&self, work: &mut Work) -> bool {
        let start = work.holds()
            && !work.inhibiting
            && !self.inner.real_time
            && self.inner.parked.load(Ordering::SeqCst);
        work.inhibiting |= start;
        start
    }

    fn start_inhibitor(&self, runtime: &Handle) {
        let activity = self.clone();
        // A blocking task in flight keeps tokio from auto-advancing the
        // paused clock of a current-thread runtime.
        drop(runtime.spawn_blocking(move || activity.inhibit()));
    }

    /// The inhibitor: runs while work is in flight, and asks for a tick of
    /// virtual time when the runtime has been idle long enough.
    fn inhibit(&self) {
        let mut grace = FIRST_GRACE;
        let mut step = 1;
        let mut work = self.inner.work.lock();
        loop {
            if !work.holds() {
                work.inhibiting = false;
                return;
            }
            self.inner.drained.wait_for(&mut work, CREEP);
            if !work.holds() {
                continue;
            }
            let now = self.now_us();
            let idle_for = now.saturating_sub(self.inner.last_switch.load(Ordering::Acquire));
            let stalled_for = now.saturating_sub(self.inner.changed.load(Ordering::Acquire));
            if self.inner.parked.load(Ordering::Acquire) && idle_for >= grace.as_micros() as u64 {
                step = if stalled_for >= STALLED.as_micros() as u64 {
                    (step * 2).min(MAX_STEP_MS)
                } else {
                    1
                };
                self.inner.tick.fetch_add(step, Ordering::AcqRel);
                self.inner.tick_ready.notify_one();
                // Stamp now, so the next tick waits a full creep interval.
                self.inner.last_switch.store(now, Ordering::Release);
                grace = CREEP;
            } else if !self.inner.parked.load(Ordering::Acquire) {
                grace = FIRST_GRACE;
            }
        }
    }

    /// The governor: moves virtual time by a millisecond per tick. Runs as
    /// a task on the case runtime for the whole case.
    pub(crate) async fn govern(self) {
        loop {
            self.inner.tick_ready.notified().await;
            let due = self.inner.tick.swap(0, Ordering::AcqRel);
            if due > 0 {
                tokio::time::advance(Duration::from_millis(due)).await;
            }
        }
    }

    /// Runs `call` as work in flight: polled once first, so that what is
    /// ready at once (an in-process transport) costs nothing.
    pub(crate) async fn track<F: std::future::Future>(
        &self,
        what: impl FnOnce() -> String,
        runtime: &Handle,
        call: F,
    ) -> F::Output {
        let mut call = std::pin::pin!(call);
        if let std::task::Poll::Ready(out) = futures::poll!(call.as_mut()) {
            return out;
        }
        let _busy = self.busy(what(), runtime);
        call.await
    }

    /// Work has started that `Backend::settle` covers (an emit, an
    /// unsubscribe): the settler task waits for it.
    pub(crate) fn unsettled(&self) {
        self.inner.unsettled.store(true, Ordering::Release);
        self.inner.settle_due.notify_one();
    }

    /// The settler: after every [`unsettled`](Self::unsettled), awaits
    /// each backend's `settle` as work in flight. Runs as a task on the
    /// case runtime for the whole case.
    pub(crate) async fn settle_after_work(
        self,
        backends: Vec<(Arc<dyn Backend>, Arc<Ledger>)>,
        runtime: Handle,
    ) {
        loop {
            self.inner.settle_due.notified().await;
            while self.inner.unsettled.swap(false, Ordering::AcqRel) {
                for (backend, ledger) in &backends {
                    self.settle(&**backend, ledger, &runtime).await;
                }
            }
        }
    }

    /// Awaits the backend's `settle` as work in flight, and notes that what
    /// the transport had started before the call is done once it resolves
    /// (the ledger then checks what every subscription received).
    pub(crate) async fn settle(&self, backend: &dyn Backend, ledger: &Ledger, runtime: &Handle) {
        let number = self.inner.settles_started.fetch_add(1, Ordering::AcqRel) + 1;
        let mark = ledger.mark();
        self.track(|| "Backend::settle".to_owned(), runtime, backend.settle())
            .await;
        self.inner.settled_upto.fetch_max(number, Ordering::AcqRel);
        ledger.settled(mark);
    }

    /// A mark for [`settled_since`](Self::settled_since): the settles
    /// started so far.
    pub(crate) fn settle_mark(&self) -> u64 {
        self.inner.settles_started.load(Ordering::Acquire)
    }

    /// Whether a settle that started after `mark` has resolved: work the
    /// transport had started at the mark is over.
    pub(crate) fn settled_since(&self, mark: u64) -> bool {
        self.inner.settled_upto.load(Ordering::Acquire) > mark
    }

    /// The transport showed progress (it delivered a payload): work that
    /// is slow, not stuck.
    pub(crate) fn progress(&self) {
        self.inner.changed.store(self.now_us(), Ordering::Release);
    }

    /// Whether the case ever waited, idle, for the transport's work in
    /// flight, or runs on real time: its duration then depends on real
    /// time.
    pub(crate) fn waited_on_real_time(&self) -> bool {
        self.inner.real_time || self.inner.waited.load(Ordering::Acquire)
    }

    /// What is in flight now, for messages.
    pub(crate) fn in_flight(&self) -> Vec<String> {
        self.inner.work.lock().in_flight.values().cloned().collect()
    }

    /// Whether the case runtime is parked now, and since when (real time).
    pub(crate) fn idle_for(&self) -> Option<Duration> {
        if !self.inner.parked.load(Ordering::Acquire) {
            return None;
        }
        let since = self.inner.last_switch.load(Ordering::Acquire);
        Some(Duration::from_micros(self.now_us().saturating_sub(since)))
    }
}

thread_local! {
    /// The activity of the case running on this thread, if any.
    static CURRENT: std::cell::RefCell<Option<Activity>> = const { std::cell::RefCell::new(None) };
}

/// Makes `activity` the current thread's case (for [`simulated_latency`])
/// until the guard is dropped.
pub(crate) fn enter(activity: &Activity) -> Entered {
    CURRENT.with(|c| *c.borrow_mut() = Some(activity.clone()));
    Entered
}

/// The current thread runs a case until dropped.
pub(crate) struct Entered;

impl Drop for Entered {
    fn drop(&mut self) {
        CURRENT.with(|c| *c.borrow_mut() = None);
    }
}

/// One call sleeping a simulated latency.
struct Asleep {
    activity: Activity,
    runtime: Handle,
}

impl Drop for Asleep {
    fn drop(&mut self) {
        let start = {
            let mut work = self.activity.inner.work.lock();
            work.sleeping -= 1;
            self.activity.should_inhibit(&mut work)
        };
        if start {
            self.activity.start_inhibitor(&self.runtime);
        }
    }
}

/// Sleeps `latency` of virtual time, as a transport's simulated latency.
///
/// While a case waits on the transport (a `subscribe`, a snapshot request, a
/// settle), the kit holds virtual time still, because the transport may be
/// doing real I/O; if the case sits idle meanwhile, time only creeps on at
/// the speed of real time. A transport — or a test double — that simulates
/// latency by sleeping on tokio time would then take its latency in real
/// time. Sleeping through this function instead tells the kit the wait is
/// on virtual time, so that a 50 ms latency costs nothing. Outside a case
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
    let activity = CURRENT.with(|c| c.borrow().clone());
    let _asleep = activity
        .filter(|a| !a.inner.real_time)
        .and_then(|activity| {
            let runtime = Handle::try_current().ok()?;
            activity.inner.work.lock().sleeping += 1;
            activity.inner.drained.notify_all();
            Some(Asleep { activity, runtime })
        });
    tokio::time::sleep(latency).await;
}
