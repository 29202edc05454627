//! Model-based tests: a reference model of the protocol, run against the
//! real engine over each reference transport (`memory`, `channel`,
//! `tauri_mock`) with `proptest-state-machine`.
//!
//! # The model
//!
//! [`Model`] is the reference state machine: the source of truth (revision
//! and data) and, per window, whether it was started or stopped and how
//! many invalidations are in flight towards it. Transitions are generated
//! from it and shrunk against it; no transition has a precondition (an
//! impossible one, such as stopping a window that does not exist, is a
//! no-op in the model and in the system), so shrinking can delete and
//! simplify any step and still reach a minimal case.
//!
//! # The system under test
//!
//! One current-thread tokio runtime on paused time per case, one bus of the
//! transport, a [`SourceOfTruth`] served through it, and up to
//! [`MAX_WINDOWS`] windows, each a [`RevisionSync`] over the transport's
//! window end wrapped in three test-owned layers (all sharing the window's
//! [`Probe`]):
//!
//! * an interception layer around the subscriber: what the transport
//!   delivers is queued "in flight" and reaches the engine only when a
//!   transition delivers it (so events can be delivered, duplicated,
//!   dropped and reordered);
//! * a scripted provider: the next fetch can be made to fail, to hang (for
//!   [`HANG`] of virtual time before it reaches the transport) or to serve
//!   the previous revision's snapshot (a lagging replica, GATE-5);
//! * a recording applier: the next apply can be made to fail; every apply
//!   is recorded together with whether `stop` had returned.
//!
//! Transitions: open and close a window; start, stop, refresh a window
//! (repeated `start`/`stop` are no-ops or rejections of the engine, never
//! preconditions); mutate the source (the invalidation goes through the
//! transport); deliver / duplicate / drop / reorder an in-flight event
//! (chosen with [`proptest::sample::Index`]); advance virtual time; make the
//! next fetch fail, hang or be stale; make the next apply fail. After each
//! transition the runtime runs until every task waits (a 1 ms sleep on
//! paused time).
//!
//! # Invariants, after every transition
//!
//! * applies strictly increase per window, and the data applied is the
//!   source's data at that revision (GATE-1, SRC-3);
//! * no apply and no fetch begins once `stop` has returned (STOP-1, STOP-2);
//! * the coalescing bound (below) holds at every fetch (CO-1, GATE-5);
//! * every scripted failure is reported exactly once with its phase, a
//!   `start` after `stop` is rejected and reported with phase `start`, and
//!   nothing else is reported (ERR-2, LIFE-6); `refresh` after `stop`
//!   resolves `Ok` (LIFE-9);
//! * a window's local revision never exceeds the source's; a stopped window
//!   is `Stopped`, any other is not.
//!
//! At the end of a case, a final settle: pending scripted faults are
//! cleared (CONV-1 assumes the provider eventually serves the latest
//! snapshot), virtual time runs past any hang, and then either every window
//! is refreshed or the source re-announces its latest revision and every
//! in-flight event is delivered (which one is part of the generated initial
//! state). Then every running window holds the source's revision and data
//! (CONV-1), no `start` or `refresh` call is still waiting, no window is
//! left `Starting`, and once all windows are stopped the bus holds no
//! subscription (TR-2).
//!
//! # The coalescing bound
//!
//! Call a *trigger* anything that may make the engine request a refresh:
//! the subscription of a `start` becoming active (its initial refresh is
//! requested in the same poll), a `refresh` call (recorded in the poll that
//! makes the request), and an event delivered to the engine's handler. The
//! check, at every fetch a window begins:
//!
//! 1. if at least one trigger arrived since the window's previous fetch
//!    began (or ever, for its first fetch), the fetch is allowed;
//! 2. otherwise it must be a GATE-5 refetch: the window has applied nothing
//!    or less than the highest revision delivered to it, and it is at most
//!    the [`DEFAULT_MAX_STALE_REFETCHES`]-th such fetch since the window's
//!    last successful apply or last delivered event.
//!
//! Why it is sound: by CO-1 a fetch either starts an idle fetch loop (a
//! request made while no fetch ran, hence after the previous fetch began),
//! or is the one follow-up of requests made while the previous fetch was in
//! flight (after it began), or is a GATE-5 refetch. The engine begins a
//! fetch in the same poll in which it decides to, and the runtime has one
//! thread, so "since the previous fetch began" is observed exactly. A GATE-5
//! refetch happens only while the local revision is below the announced
//! revision, which is at most the highest delivered revision, and at most
//! three times in a row; the engine's counter starts over only on an apply
//! or a newly announced higher revision, both of which also reset the
//! check's counter, and the check counts only fetches the engine counts.
//! It follows that a window's fetches are at most the number of intervals
//! between its fetches in which a trigger arrived, plus 3 × (1 + successful
//! applies + delivered events); and that N triggers in one interval — a
//! burst during one fetch — cost one fetch, not N.
//!
//! # Running
//!
//! `cargo test -p state-sync-conformance --test model` runs 256 cases per
//! transport; `PROPTEST_CASES=10000` runs more. Failures are persisted in
//! `proptest-regressions/model.txt` (committed) and replayed first.

mod common;

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use futures::future::{BoxFuture, ready};
use parking_lot::Mutex;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};
use serde_json::Value;
use state_sync::engine::DEFAULT_MAX_STALE_REFETCHES;
use state_sync::source::SourceOfTruth;
use state_sync::{
    ErrorContext, InvalidationHandler, InvalidationSubscriber, Lifecycle, Phase, PortError,
    Revision, RevisionSync, SnapshotApplier, SnapshotEnvelope, SnapshotProvider, Subscription,
    SyncError,
};
use state_sync_conformance::{Backend, SnapshotHandler, Transport, reference};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

/// The topic every window syncs.
const TOPIC: &str = "doc";
/// The most windows open at once (opening another is a no-op).
const MAX_WINDOWS: usize = 3;
/// Transitions per case: at most this many.
const MAX_STEPS: usize = 96;
/// How long a hanging fetch waits before it reaches the transport.
const HANG: Duration = Duration::from_secs(30);
/// Where failing cases are persisted (and replayed from first).
const REGRESSIONS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/proptest-regressions/model.txt"
);

// ---------------------------------------------------------------------------
// The reference model

/// How the final settle brings windows up to date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settle {
    /// Every window not stopped calls `refresh`.
    Refresh,
    /// The source re-announces its latest revision and every in-flight
    /// event is delivered, oldest first.
    LastEvent,
}

/// The reference state.
#[derive(Debug, Clone)]
struct ModelState {
    settle: Settle,
    /// The source's revision and data.
    revision: u64,
    data: u32,
    windows: Vec<ModelWindow>,
}

/// What the model knows about a window.
#[derive(Debug, Clone, Default)]
struct ModelWindow {
    /// `start` was called before `stop`.
    started: bool,
    stopped: bool,
    /// Invalidations emitted while it was started and not stopped, not yet
    /// delivered or dropped. A hint for generation only: whether the
    /// transport delivered them yet is up to the transport.
    in_flight: usize,
}

/// A step of a case.
#[derive(Debug, Clone)]
enum Transition {
    /// Open a window (a no-op at [`MAX_WINDOWS`]).
    Open,
    /// Stop a window and forget it.
    Close(Index),
    /// Call `start` (in a task; it may wait for a hanging fetch).
    Start(Index),
    /// Call `stop`.
    Stop(Index),
    /// Call `refresh` (in a task).
    Refresh(Index),
    /// Set the source's data (bumping its revision) and emit the event.
    Mutate(u32),
    /// Deliver an in-flight event to a window's engine.
    Deliver(Index, Index),
    /// Deliver a copy of an in-flight event, keeping it in flight.
    Duplicate(Index, Index),
    /// Lose an in-flight event.
    Drop(Index, Index),
    /// Move an in-flight event behind all others.
    Reorder(Index, Index),
    /// Let this many milliseconds of virtual time pass.
    Advance(u64),
    /// The window's next fetch fails.
    FailNextFetch(Index),
    /// The window's next fetch hangs for [`HANG`].
    HangNextFetch(Index),
    /// The window's next fetch serves the previous revision's snapshot.
    StaleNextFetch(Index),
    /// The window's next apply fails.
    FailNextApply(Index),
}

/// The reference state machine.
struct Model;

impl ReferenceStateMachine for Model {
    type State = ModelState;
    type Transition = Transition;

    fn init_state() -> BoxedStrategy<ModelState> {
        (
            prop_oneof![Just(Settle::Refresh), Just(Settle::LastEvent)],
            any::<u32>(),
        )
            .prop_map(|(settle, data)| ModelState {
                settle,
                revision: 0,
                data,
                windows: Vec::new(),
            })
            .boxed()
    }

    fn transitions(state: &ModelState) -> BoxedStrategy<Transition> {
        use Transition::*;
        let open = if state.windows.is_empty() { 8 } else { 1 };
        let in_flight = state.windows.iter().any(|w| w.in_flight > 0);
        let deliver = if in_flight { 8 } else { 1 };
        let w = || any::<Index>();
        let advance = prop_oneof![1u64..100, 100u64..5_000, 5_000u64..40_000];
        prop_oneof![
            open => Just(Open),
            1 => w().prop_map(Close),
            4 => w().prop_map(Start),
            1 => w().prop_map(Stop),
            3 => w().prop_map(Refresh),
            5 => any::<u32>().prop_map(Mutate),
            deliver => (w(), any::<Index>()).prop_map(|(w, e)| Deliver(w, e)),
            1 => (w(), any::<Index>()).prop_map(|(w, e)| Duplicate(w, e)),
            1 => (w(), any::<Index>()).prop_map(|(w, e)| Drop(w, e)),
            1 => (w(), any::<Index>()).prop_map(|(w, e)| Reorder(w, e)),
            2 => advance.prop_map(Advance),
            1 => w().prop_map(FailNextFetch),
            1 => w().prop_map(HangNextFetch),
            1 => w().prop_map(StaleNextFetch),
            1 => w().prop_map(FailNextApply),
        ]
        .boxed()
    }

    fn apply(mut state: ModelState, transition: &Transition) -> ModelState {
        use Transition::*;
        let n = state.windows.len();
        let pick = |i: &Index| (n > 0).then(|| i.index(n));
        match transition {
            Open => {
                if n < MAX_WINDOWS {
                    state.windows.push(ModelWindow::default());
                }
            }
            Close(i) => {
                if let Some(i) = pick(i) {
                    state.windows.remove(i);
                }
            }
            Start(i) => {
                if let Some(w) = pick(i).map(|i| &mut state.windows[i])
                    && !w.stopped
                {
                    w.started = true;
                }
            }
            Stop(i) => {
                if let Some(i) = pick(i) {
                    state.windows[i].stopped = true;
                }
            }
            Mutate(data) => {
                state.revision += 1;
                state.data = *data;
                for w in &mut state.windows {
                    if w.started && !w.stopped {
                        w.in_flight += 1;
                    }
                }
            }
            Deliver(i, _) | Drop(i, _) => {
                if let Some(i) = pick(i) {
                    let w = &mut state.windows[i];
                    w.in_flight = w.in_flight.saturating_sub(1);
                }
            }
            Refresh(_) | Duplicate(..) | Reorder(..) | Advance(_) | FailNextFetch(_)
            | HangNextFetch(_) | StaleNextFetch(_) | FailNextApply(_) => {}
        }
        state
    }
}

// ---------------------------------------------------------------------------
// The probe: what the test-owned layers around one window share

/// A scripted behaviour of a window's next fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FetchFault {
    Fail,
    Hang,
    Stale,
}

/// Everything observed about one window, and its scripts.
struct Probe {
    label: String,
    history: History,
    state: Mutex<ProbeState>,
}

#[derive(Default)]
struct ProbeState {
    /// The engine's handlers, by subscription number.
    handlers: Vec<InvalidationHandler>,
    /// Events the transport delivered, with the subscription they came on.
    in_flight: VecDeque<(usize, Value)>,
    fetch_faults: VecDeque<FetchFault>,
    apply_faults: u32,
    /// Scripted failures that happened (each must be reported once).
    fetch_failures: usize,
    apply_failures: usize,
    /// `start` calls made after `stop` (each must be reported once).
    starts_after_stop: usize,
    stopped: bool,
    fetches: u64,
    /// Triggers since the previous fetch began.
    triggers: u64,
    /// Fetches without a trigger since the last apply or delivered event.
    refetch_streak: u32,
    /// The highest revision delivered to the engine.
    delivered_max: Option<u64>,
    /// Fetches allowed as GATE-5 refetches (no trigger since the previous).
    refetches: u64,
    /// Events handed to the engine.
    delivered: u64,
    /// Successful applies: revision and data.
    applied: Vec<(u64, u32)>,
    errors: Vec<ErrorContext>,
    violations: Vec<String>,
}

/// The source's data at each revision.
type History = Arc<Mutex<BTreeMap<u64, u32>>>;

impl Probe {
    fn new(label: String, history: History) -> Self {
        Self {
            label,
            history,
            state: Mutex::new(ProbeState::default()),
        }
    }

    fn violation(&self, s: &mut ProbeState, what: String) {
        s.violations.push(format!("window {}: {what}", self.label));
    }

    fn trigger(&self) {
        self.state.lock().triggers += 1;
    }

    /// The transport delivered `payload` on subscription `sub`.
    fn arrived(&self, sub: usize, payload: Value) {
        self.state.lock().in_flight.push_back((sub, payload));
    }

    /// Hands the chosen in-flight event to the engine; `keep` leaves it in
    /// flight (a duplicate).
    fn deliver(&self, which: &Index, keep: bool) {
        self.deliver_at(|len| which.index(len), keep);
    }

    /// Delivers the in-flight event at `at(number in flight)`.
    fn deliver_at(&self, at: impl FnOnce(usize) -> usize, keep: bool) {
        let (handler, payload) = {
            let mut s = self.state.lock();
            if s.in_flight.is_empty() {
                return;
            }
            let at = at(s.in_flight.len());
            let (sub, payload) = if keep {
                s.in_flight[at].clone()
            } else {
                s.in_flight.remove(at).expect("index in range")
            };
            let revision = payload
                .get("revision")
                .and_then(|r| Revision::from_json(r).ok())
                .map(Revision::get);
            s.delivered_max = s.delivered_max.max(revision);
            s.delivered += 1;
            s.triggers += 1;
            s.refetch_streak = 0;
            (s.handlers[sub].clone(), payload)
        };
        // Outside the lock: the engine may report an error to the probe.
        handler(&payload);
    }

    /// Delivers every in-flight event, oldest first.
    fn deliver_all(&self) {
        while !self.state.lock().in_flight.is_empty() {
            self.deliver_at(|_| 0, false);
        }
    }

    fn drop_event(&self, which: &Index) {
        let mut s = self.state.lock();
        if !s.in_flight.is_empty() {
            let at = which.index(s.in_flight.len());
            s.in_flight.remove(at);
        }
    }

    fn reorder(&self, which: &Index) {
        let mut s = self.state.lock();
        if !s.in_flight.is_empty() {
            let at = which.index(s.in_flight.len());
            let event = s.in_flight.remove(at).expect("index in range");
            s.in_flight.push_back(event);
        }
    }

    /// The engine begins a fetch: check the coalescing bound, take the
    /// script.
    fn fetch_begins(&self) -> Option<FetchFault> {
        let mut s = self.state.lock();
        s.fetches += 1;
        if s.stopped {
            let n = s.fetches;
            self.violation(&mut s, format!("fetch #{n} began after stop returned"));
        }
        if s.triggers > 0 {
            s.triggers = 0;
        } else {
            let behind = match (s.delivered_max, s.applied.last()) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(announced), Some((local, _))) => announced > *local,
            };
            s.refetch_streak += 1;
            s.refetches += 1;
            if !behind || s.refetch_streak > DEFAULT_MAX_STALE_REFETCHES {
                let what = format!(
                    "fetch #{} began with no request since the previous fetch \
                     (behind an announced revision: {behind}; refetches in a row: {})",
                    s.fetches, s.refetch_streak
                );
                self.violation(&mut s, what);
            }
        }
        let fault = s.fetch_faults.pop_front();
        if fault == Some(FetchFault::Fail) {
            s.fetch_failures += 1;
        }
        fault
    }

    /// The engine calls the applier.
    fn apply(&self, revision: u64, data: u32) -> Result<(), PortError> {
        let expected = self.history.lock().get(&revision).copied();
        let mut s = self.state.lock();
        if s.stopped {
            self.violation(&mut s, format!("apply of {revision} after stop returned"));
        }
        if s.apply_faults > 0 {
            s.apply_faults -= 1;
            s.apply_failures += 1;
            return Err(PortError::new("scripted apply failure"));
        }
        if let Some(&(last, _)) = s.applied.last()
            && revision <= last
        {
            self.violation(
                &mut s,
                format!("applied revision {revision} after {last}: applies must strictly increase"),
            );
        }
        if expected != Some(data) {
            self.violation(
                &mut s,
                format!("applied data {data} at revision {revision}; the source had {expected:?}"),
            );
        }
        s.applied.push((revision, data));
        s.refetch_streak = 0;
        Ok(())
    }

    fn error(&self, ctx: &ErrorContext) {
        self.state.lock().errors.push(ctx.clone());
    }

    /// Errors reported so far must be exactly the scripted ones.
    fn check_errors(&self) {
        let mut s = self.state.lock();
        let count = |phase| s.errors.iter().filter(|e| e.phase == phase).count();
        let (fetch, apply, start) = (
            count(Phase::GetSnapshot),
            count(Phase::Apply),
            count(Phase::Start),
        );
        let other: Vec<String> = s
            .errors
            .iter()
            .filter(|e| !matches!(e.phase, Phase::GetSnapshot | Phase::Apply | Phase::Start))
            .map(ToString::to_string)
            .collect();
        let expected = (s.fetch_failures, s.apply_failures, s.starts_after_stop);
        if (fetch, apply, start) != expected || !other.is_empty() {
            let what = format!(
                "reported (getSnapshot, apply, start) errors {:?}, expected {expected:?} \
                 (one per scripted failure and per start after stop); unexpected: {other:?}",
                (fetch, apply, start)
            );
            self.violation(&mut s, what);
        }
    }

    fn violations(&self) -> Vec<String> {
        self.state.lock().violations.clone()
    }
}

// ---------------------------------------------------------------------------
// The three layers around a window's ends

/// Queues what the transport delivers; the test decides what reaches the
/// engine.
struct Intercept {
    inner: Arc<dyn InvalidationSubscriber>,
    probe: Arc<Probe>,
}

impl InvalidationSubscriber for Intercept {
    fn subscribe(
        &self,
        handler: InvalidationHandler,
    ) -> BoxFuture<'_, Result<Subscription, PortError>> {
        let sub = {
            let mut s = self.probe.state.lock();
            s.handlers.push(handler);
            s.handlers.len() - 1
        };
        let probe = self.probe.clone();
        let queue: InvalidationHandler =
            Arc::new(move |payload: &Value| probe.arrived(sub, payload.clone()));
        let subscribing = self.inner.subscribe(queue);
        let probe = self.probe.clone();
        Box::pin(async move {
            let subscription = subscribing.await?;
            // `start` requests its initial refresh in this same poll.
            probe.trigger();
            Ok(subscription)
        })
    }
}

/// Runs the window's fetch script in front of the transport's provider.
struct Scripted {
    inner: Arc<dyn SnapshotProvider>,
    probe: Arc<Probe>,
}

impl SnapshotProvider for Scripted {
    fn get_snapshot(&self) -> BoxFuture<'_, Result<Value, PortError>> {
        match self.probe.fetch_begins() {
            None => self.inner.get_snapshot(),
            Some(FetchFault::Fail) => {
                Box::pin(ready(Err(PortError::new("scripted fetch failure"))))
            }
            Some(FetchFault::Hang) => Box::pin(async move {
                tokio::time::sleep(HANG).await;
                self.inner.get_snapshot().await
            }),
            Some(FetchFault::Stale) => {
                let history = self.probe.history.lock();
                let (&revision, &data) = history
                    .range(..)
                    .rev()
                    .nth(1)
                    .or_else(|| history.iter().next_back())
                    .expect("the source has a revision 0");
                let snapshot = serde_json::json!({"revision": revision.to_string(), "data": data});
                Box::pin(ready(Ok(snapshot)))
            }
        }
    }
}

/// Records applies and runs the window's apply script.
struct Recorder {
    probe: Arc<Probe>,
}

impl SnapshotApplier<u32> for Recorder {
    fn apply(&self, snapshot: SnapshotEnvelope<u32>) -> BoxFuture<'_, Result<(), PortError>> {
        Box::pin(ready(
            self.probe.apply(snapshot.revision.get(), snapshot.data),
        ))
    }
}

// ---------------------------------------------------------------------------
// The system under test

/// A `start` or `refresh` call running in a task.
struct Call {
    what: &'static str,
    after_stop: bool,
    probe: Arc<Probe>,
    handle: JoinHandle<Result<(), SyncError>>,
}

struct Window {
    sync: RevisionSync<u32>,
    probe: Arc<Probe>,
}

/// The runtime and the world it runs, for one case.
struct System {
    rt: Runtime,
    world: World,
}

/// The engine, the transport and the source.
struct World {
    transport: String,
    bus: Box<dyn Backend>,
    source: Arc<SourceOfTruth<u32>>,
    history: History,
    windows: Vec<Window>,
    /// Probes of closed windows: still checked.
    closed: Vec<Arc<Probe>>,
    /// `start` and `refresh` calls not yet checked.
    calls: Mutex<Vec<Call>>,
    opened: usize,
}

impl fmt::Debug for System {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("System")
            .field("transport", &self.world.transport)
            .field("windows", &self.world.windows.len())
            .finish_non_exhaustive()
    }
}

/// Runs spawned work until every task waits (timers aside).
async fn run_until_idle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

impl System {
    fn new(transport: &Transport, initial: &ModelState) -> Self {
        let rt = common::paused_runtime();
        let source = Arc::new(SourceOfTruth::new(TOPIC, initial.data));
        let history: History = Arc::new(Mutex::new(BTreeMap::from([(0, initial.data)])));
        let served = source.clone();
        let server = SnapshotHandler::sync(move |topic| {
            if topic != TOPIC {
                return Err(PortError::new(format!("no topic {topic:?}")));
            }
            served
                .snapshot_json()
                .map_err(|e| PortError::new(e.to_string()))
        });
        let bus = {
            let _guard = rt.enter();
            let bus = transport.open().expect("the backend opens");
            bus.serve(server);
            bus
        };
        let world = World {
            transport: transport.name().to_owned(),
            bus,
            source,
            history,
            windows: Vec::new(),
            closed: Vec::new(),
            calls: Mutex::new(Vec::new()),
            opened: 0,
        };
        Self { rt, world }
    }
}

impl World {
    fn pick(&self, i: &Index) -> Option<usize> {
        (!self.windows.is_empty()).then(|| i.index(self.windows.len()))
    }

    fn probe(&self, i: &Index) -> Option<Arc<Probe>> {
        self.pick(i).map(|i| self.windows[i].probe.clone())
    }

    fn open(&mut self) {
        if self.windows.len() >= MAX_WINDOWS {
            return;
        }
        self.opened += 1;
        let label = format!("w{}", self.opened);
        let ends = self.bus.window_ends(&label, TOPIC);
        let probe = Arc::new(Probe::new(label, self.history.clone()));
        let hook = probe.clone();
        let sync = RevisionSync::builder(
            TOPIC,
            Intercept {
                inner: ends.subscriber,
                probe: probe.clone(),
            },
            Scripted {
                inner: ends.provider,
                probe: probe.clone(),
            },
            Recorder {
                probe: probe.clone(),
            },
        )
        .on_error(move |ctx| hook.error(ctx))
        .build();
        self.windows.push(Window { sync, probe });
    }

    fn stop(&self, w: usize) {
        let window = &self.windows[w];
        window.sync.stop();
        window.probe.state.lock().stopped = true;
    }

    fn start(&mut self, w: usize) {
        let window = &self.windows[w];
        let after_stop = {
            let mut s = window.probe.state.lock();
            if s.stopped {
                s.starts_after_stop += 1;
            }
            s.stopped
        };
        let sync = window.sync.clone();
        let handle = tokio::spawn(async move { sync.start().await });
        self.calls.lock().push(Call {
            what: "start",
            after_stop,
            probe: window.probe.clone(),
            handle,
        });
    }

    fn refresh(&mut self, w: usize) {
        let window = &self.windows[w];
        let after_stop = window.probe.state.lock().stopped;
        let (sync, probe) = (window.sync.clone(), window.probe.clone());
        let handle = tokio::spawn(async move {
            // The request is made in this same poll.
            probe.trigger();
            sync.refresh().await
        });
        self.calls.lock().push(Call {
            what: "refresh",
            after_stop,
            probe: window.probe.clone(),
            handle,
        });
    }

    fn mutate(&self, data: u32) {
        let event = self
            .source
            .set(data)
            .expect("revisions stay far below u64::MAX");
        self.history.lock().insert(event.revision.get(), data);
        self.bus.emit(&event.to_json());
    }

    async fn step(&mut self, transition: &Transition) {
        use Transition::*;
        match transition {
            Open => self.open(),
            Close(i) => {
                if let Some(w) = self.pick(i) {
                    self.stop(w);
                    let window = self.windows.remove(w);
                    self.closed.push(window.probe);
                }
            }
            Start(i) => {
                if let Some(w) = self.pick(i) {
                    self.start(w);
                }
            }
            Stop(i) => {
                if let Some(w) = self.pick(i) {
                    self.stop(w);
                }
            }
            Refresh(i) => {
                if let Some(w) = self.pick(i) {
                    self.refresh(w);
                }
            }
            Mutate(data) => self.mutate(*data),
            Deliver(w, e) => {
                if let Some(p) = self.probe(w) {
                    p.deliver(e, false);
                }
            }
            Duplicate(w, e) => {
                if let Some(p) = self.probe(w) {
                    p.deliver(e, true);
                }
            }
            Drop(w, e) => {
                if let Some(p) = self.probe(w) {
                    p.drop_event(e);
                }
            }
            Reorder(w, e) => {
                if let Some(p) = self.probe(w) {
                    p.reorder(e);
                }
            }
            Advance(ms) => tokio::time::sleep(Duration::from_millis(*ms)).await,
            FailNextFetch(i) | HangNextFetch(i) | StaleNextFetch(i) => {
                if let Some(p) = self.probe(i) {
                    let fault = match transition {
                        FailNextFetch(_) => FetchFault::Fail,
                        HangNextFetch(_) => FetchFault::Hang,
                        _ => FetchFault::Stale,
                    };
                    p.state.lock().fetch_faults.push_back(fault);
                }
            }
            FailNextApply(i) => {
                if let Some(p) = self.probe(i) {
                    p.state.lock().apply_faults += 1;
                }
            }
        }
        run_until_idle().await;
    }

    fn probes(&self) -> Vec<Arc<Probe>> {
        self.windows
            .iter()
            .map(|w| w.probe.clone())
            .chain(self.closed.iter().cloned())
            .collect()
    }
}

impl System {
    /// Checks the outcome of every `start` and `refresh` that has finished.
    fn check_calls(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let (done, running): (Vec<Call>, Vec<Call>) = std::mem::take(&mut *self.world.calls.lock())
            .into_iter()
            .partition(|c| c.handle.is_finished());
        *self.world.calls.lock() = running;
        for call in done {
            let outcome = match self.rt.block_on(call.handle) {
                Ok(outcome) => outcome,
                Err(e) => {
                    problems.push(format!("{} panicked: {e}", call.what));
                    continue;
                }
            };
            let fine = match (call.what, call.after_stop, &outcome) {
                // LIFE-6, LIFE-9.
                ("start", true, Err(SyncError::Stopped)) => true,
                ("refresh", true, Ok(())) => true,
                (_, true, _) => false,
                (_, false, Ok(())) => true,
                (_, false, Err(SyncError::GetSnapshot(_) | SyncError::Apply(_))) => true,
                ("start", false, Err(SyncError::StoppedDuringStart)) => true,
                _ => false,
            };
            if !fine {
                let when = if call.after_stop {
                    "after stop"
                } else {
                    "before stop"
                };
                problems.push(format!("{} called {when} returned {outcome:?}", call.what));
            }
        }
        problems
    }

    fn check(&self, model: &ModelState) {
        let mut problems = self.check_calls();
        let world = &self.world;
        let source = world.source.revision().get();
        assert_eq!(source, model.revision, "the source follows the model");
        assert_eq!(
            world.windows.len(),
            model.windows.len(),
            "windows follow the model"
        );
        for (window, expected) in world.windows.iter().zip(&model.windows) {
            let lifecycle = window.sync.lifecycle();
            if expected.stopped != (lifecycle == Lifecycle::Stopped) {
                problems.push(format!(
                    "window {}: lifecycle {lifecycle:?}, but stopped is {}",
                    window.probe.label, expected.stopped
                ));
            }
            let local = window.sync.local_revision().get();
            if local > source {
                problems.push(format!(
                    "window {}: local revision {local} is past the source's {source}",
                    window.probe.label
                ));
            }
        }
        for probe in world.probes() {
            probe.check_errors();
            problems.extend(probe.violations());
        }
        assert!(
            problems.is_empty(),
            "over {}: {}",
            world.transport,
            problems.join("; ")
        );
    }

    /// The final settle and the convergence and liveness checks.
    fn settle(&mut self, model: &ModelState) {
        let world = &mut self.world;
        for w in &world.windows {
            let mut s = w.probe.state.lock();
            s.fetch_faults.clear();
            s.apply_faults = 0;
        }
        // Past any hanging fetch.
        self.rt
            .block_on(async { tokio::time::sleep(HANG + Duration::from_secs(1)).await });
        match model.settle {
            Settle::Refresh => {
                let _guard = self.rt.enter();
                for w in 0..world.windows.len() {
                    world.refresh(w);
                }
            }
            Settle::LastEvent => {
                let event = world.source.current_event().to_json();
                world.bus.emit(&event);
                self.rt.block_on(run_until_idle());
                for w in &world.windows {
                    w.probe.deliver_all();
                }
            }
        }
        self.rt
            .block_on(async { tokio::time::sleep(Duration::from_secs(1)).await });
        self.check(model);

        let world = &self.world;
        let mut problems = Vec::new();
        let expected = (model.revision, model.data);
        let mut running = 0;
        for w in &world.windows {
            let lifecycle = w.sync.lifecycle();
            if lifecycle == Lifecycle::Starting {
                problems.push(format!("window {} is still starting", w.probe.label));
            }
            if lifecycle == Lifecycle::Running {
                running += 1;
                let last = w.probe.state.lock().applied.last().copied();
                if last != Some(expected) || w.sync.local_revision().get() != model.revision {
                    problems.push(format!(
                        "window {} did not converge: last applied (revision, data) {last:?}, \
                         source {expected:?}",
                        w.probe.label
                    ));
                }
            }
        }
        for call in world.calls.lock().iter() {
            problems.push(format!(
                "window {}: a {} call is still waiting after the settle",
                call.probe.label, call.what
            ));
        }
        for w in 0..world.windows.len() {
            world.stop(w);
        }
        self.rt.block_on(run_until_idle());
        if let Some(n) = world.bus.active_subscriptions()
            && n != 0
        {
            problems.push(format!("{n} subscriptions left after every window stopped"));
        }
        STATS.with_borrow_mut(|stats| {
            stats.cases += 1;
            stats.windows += world.probes().len() as u64;
            for probe in world.probes() {
                let s = probe.state.lock();
                stats.fetches += s.fetches;
                stats.applies += s.applied.len() as u64;
                stats.refetches += s.refetches;
                stats.delivered += s.delivered;
                stats.failures += (s.fetch_failures + s.apply_failures) as u64;
            }
            stats.converged += running;
        });
        assert!(
            problems.is_empty(),
            "over {}, after the final settle ({:?}): {}",
            world.transport,
            model.settle,
            problems.join("; ")
        );
    }
}

// ---------------------------------------------------------------------------
// Wiring into proptest-state-machine

/// What the cases of one test exercised, printed at its end (`--nocapture`).
#[derive(Debug, Default)]
struct Stats {
    cases: u64,
    transitions: u64,
    windows: u64,
    fetches: u64,
    refetches: u64,
    applies: u64,
    delivered: u64,
    failures: u64,
    converged: u64,
}

thread_local! {
    static STATS: std::cell::RefCell<Stats> = std::cell::RefCell::default();
}

/// Which reference transport a test runs over.
trait Kind: 'static {
    fn transport() -> Transport;
}

struct MemoryKind;
struct ChannelKind;
struct TauriKind;

impl Kind for MemoryKind {
    fn transport() -> Transport {
        reference::memory()
    }
}

impl Kind for ChannelKind {
    fn transport() -> Transport {
        reference::channel()
    }
}

impl Kind for TauriKind {
    fn transport() -> Transport {
        reference::tauri_mock()
    }
}

struct ModelTest<K>(PhantomData<K>);

impl<K: Kind> StateMachineTest for ModelTest<K> {
    type SystemUnderTest = System;
    type Reference = Model;

    fn init_test(initial: &ModelState) -> System {
        System::new(&K::transport(), initial)
    }

    fn apply(mut system: System, _model: &ModelState, transition: Transition) -> System {
        system.rt.block_on(system.world.step(&transition));
        system
    }

    fn check_invariants(system: &System, model: &ModelState) {
        system.check(model);
    }

    fn teardown(mut system: System, model: ModelState) {
        system.settle(&model);
    }
}

/// Runs the model over the transport of `K`: `PROPTEST_CASES` cases (256
/// by default).
fn run<K: Kind>() {
    let config = Config {
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(REGRESSIONS))),
        ..Config::default()
    };
    let mut runner = TestRunner::new(config.clone());
    let began = std::time::Instant::now();
    let result = runner.run(
        &Model::sequential_strategy(1..=MAX_STEPS),
        |(initial, transitions, seen)| {
            STATS.with_borrow_mut(|s| s.transitions += transitions.len() as u64);
            ModelTest::<K>::test_sequential(config.clone(), initial, transitions, seen);
            Ok(())
        },
    );
    if let Err(e) = result {
        panic!("{e}\n{runner}");
    }
    let stats = STATS.take();
    println!(
        "model over {}: {} cases, {} transitions, {} windows, {} fetches ({} GATE-5 refetches), \
         {} applies, {} events delivered, {} scripted failures, {} running windows converged; \
         {:.2} s",
        K::transport().name(),
        stats.cases,
        stats.transitions,
        stats.windows,
        stats.fetches,
        stats.refetches,
        stats.applies,
        stats.delivered,
        stats.failures,
        stats.converged,
        began.elapsed().as_secs_f64()
    );
}

#[test]
fn model_memory() {
    run::<MemoryKind>();
}

#[test]
fn model_channel() {
    run::<ChannelKind>();
}

#[test]
fn model_tauri_mock() {
    run::<TauriKind>();
}

/// A minimal case the model found (the engine then waited forever):
/// `refresh` starts a fetch that hangs, `start` subscribes and its initial
/// refresh is coalesced behind that fetch, then `stop`. LIFE-4: `start`
/// rejects with `StoppedDuringStart`.
#[test]
fn start_behind_a_running_fetch_resolves_after_stop() {
    let rt = common::paused_runtime();
    rt.block_on(async {
        let bus = state_sync_transports::memory::Bus::new();
        bus.serve(SnapshotHandler::new(|_topic| async {
            tokio::time::sleep(HANG).await;
            Ok(serde_json::json!({"revision": "0", "data": 0}))
        }));
        let end = bus.window(TOPIC);
        let applier = state_sync::appliers::FnApplier::new(|_: SnapshotEnvelope<u32>| Ok(()));
        let sync = RevisionSync::builder(TOPIC, end.clone(), end, applier).build();
        let refresh = tokio::spawn({
            let sync = sync.clone();
            async move { sync.refresh().await }
        });
        run_until_idle().await;
        let start = tokio::spawn({
            let sync = sync.clone();
            async move { sync.start().await }
        });
        run_until_idle().await;
        sync.stop();
        tokio::time::sleep(HANG * 2).await;
        assert!(
            refresh.is_finished(),
            "refresh resolves after stop (LIFE-9)"
        );
        assert!(
            start.is_finished(),
            "start still waits {} s after stop (LIFE-4: it rejects with StoppedDuringStart)",
            (HANG * 2).as_secs()
        );
        let outcome = start.await.expect("start does not panic");
        assert_eq!(outcome, Err(SyncError::StoppedDuringStart));
    });
}
