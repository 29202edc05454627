//! The interpreter: a case's state, and one arm per step kind. The steps
//! are typed and checked when the spec is parsed; nothing here reads text.
//!
//! To add a step kind: its type in `spec::steps` and its `Step` variant,
//! its arm in [`Case::step`] (a method of its own when it is more than a
//! line or two), and its section in `docs/spec-format.md`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::activity::{Activity, FailureProbe, Interrupt};
use crate::driver::Connection;
use crate::failure::{Failure, only_should};
use crate::layers::faults::BackendFaults;
use crate::layers::record::Record;
use crate::source::Sources;
use crate::spec::{
    DEFAULT_TOPIC, Emit, EventRelease, Join, Mutate, Release, ReleaseOrder, RestartSource,
    RestartTransport, SourceHistory, Spec, Start, Step, StoppedWait, WindowSel,
};
use crate::trace::Trace;
use crate::transport::Transport;
use crate::verdict::Verdict;

use super::bus::{Buses, which_bus};
use super::checks::clause;
use super::gate::Reading;
use super::outcome::{DEFAULT_BUDGET_MS, DEFAULT_SETTLE_MS, Outcome, REAL_TIME_TOLERANCE};
use super::reactions::Reactions;
use super::real_time::Span;
use super::wiring::{self, Window};

/// A case while it runs.
pub(crate) struct Case<'a> {
    pub(super) spec: &'a Spec,
    /// The transport's backends and the source of truth they serve.
    pub(super) buses: Buses,
    pub(super) activity: Activity,
    pub(super) backend_faults: Arc<BackendFaults>,
    pub(super) reactions: Reactions,
    pub(crate) trace: Trace,
    pub(super) seed: u64,
    pub(super) windows: BTreeMap<String, Window>,
    /// Windows closed by a `close` step: their records are still checked.
    pub(super) closed: Vec<(String, Record)>,
    pub(super) failures: Vec<Failure>,
    pub(super) timed_out: bool,
    /// The virtual time a case may take; on real time, how long a wait of
    /// the case may go on while nothing moves in it (half the hang limit;
    /// four times that in all).
    pub(super) budget: Duration,
    /// The case runs on real time ([`Transport::on_real_time`]).
    pub(super) real_time: bool,
    /// The driver hosting the windows' engines, if they are not in-process.
    pub(super) driver: Option<Connection>,
    /// What the target lacks: expectations reading it are not checked.
    pub(super) skipping: Vec<Reading>,
}

impl<'a> Case<'a> {
    /// Opens the transport's backend for `spec` and serves the case's
    /// source of truth on it (call inside the case's runtime).
    pub(crate) fn new(
        spec: &'a Spec,
        transport: &Transport,
        seed: u64,
        activity: Activity,
        skipping: Vec<Reading>,
        hang_limit: Duration,
    ) -> Result<Self, String> {
        let backend_faults = Arc::new(BackendFaults::default());
        let trace = Trace::new();
        let buses = Buses::open(
            spec,
            transport,
            Sources::default(),
            &backend_faults,
            &activity,
            &trace,
        )?;
        let driver = match transport.driver() {
            Some(d) => Some(Connection::start(d, &activity, hang_limit)?),
            None => None,
        };
        Ok(Self {
            driver,
            spec,
            buses,
            activity,
            backend_faults,
            reactions: Reactions::default(),
            trace,
            seed,
            windows: BTreeMap::new(),
            closed: Vec::new(),
            failures: Vec::new(),
            timed_out: false,
            budget: if transport.runs_on_real_time() {
                hang_limit / 2
            } else {
                Duration::from_millis(spec.budget_ms.unwrap_or(DEFAULT_BUDGET_MS))
            },
            real_time: transport.runs_on_real_time(),
            skipping,
        })
    }

    /// Runs every step, then the teardown checks. A transport that reports
    /// a failure of its own ([`Backend::failure`](state_sync_transports::Backend::failure)) ends the case with
    /// `error`; so does one the watchdog hears of while the case waits on
    /// it. A case the watchdog interrupts because it hung ends with
    /// `timeout`, its expectations unchecked from there on.
    pub(crate) async fn run(mut self) -> Outcome {
        let activity = self.activity.clone();
        let probe = self.failure_probe();
        activity.probe_failures(probe);
        let interrupted = tokio::select! {
            biased;
            why = activity.interrupted() => Some(why),
            failure = self.steps_and_teardown() => failure.map(Interrupt::Failed),
        };
        activity.stop_probing();
        let failure = match interrupted {
            None => None,
            Some(Interrupt::Failed(why)) => Some(why),
            Some(Interrupt::Hung(why)) => {
                self.trace
                    .log("kit", "interrupted: no progress for the hang limit");
                self.failures.insert(0, Failure::unclaused(why));
                self.timed_out = true;
                None
            }
        };
        if let Some(failure) = failure {
            self.failures.insert(0, Failure::unclaused(failure));
            return Outcome::of(Verdict::Error, self.failures, self.trace.now_ms());
        }
        // What the transport broke explains what the engine then counted:
        // its failures (TR-*) come first, in the headline (after a hang,
        // which is what ended the case).
        if !self.timed_out {
            self.failures
                .sort_by_key(|f| !f.clause.as_deref().is_some_and(|c| c.starts_with("TR-")));
        }
        let verdict = if self.timed_out {
            Verdict::Timeout
        } else if self.failures.is_empty() {
            Verdict::Pass
        } else if only_should(&self.failures) {
            Verdict::NonStrict
        } else {
            Verdict::Fail
        };
        Outcome::of(verdict, self.failures, self.trace.now_ms())
    }

    /// Every step, then the teardown checks; why the transport or the
    /// driver broke, if one did.
    async fn steps_and_teardown(&mut self) -> Option<String> {
        for (i, step) in self.spec.steps.iter().enumerate() {
            self.step(i, step).await;
            let failure = self.failure(&format!("after step {i}"));
            if self.timed_out || failure.is_some() {
                return failure;
            }
        }
        self.teardown().await;
        self.failure("at teardown")
    }

    /// What the watchdog asks while the case waits on work: why the
    /// transport or the driver broke, if one did. It holds the buses and
    /// the driver weakly, so that it never keeps a transport alive.
    fn failure_probe(&self) -> FailureProbe {
        let buses = self.buses.downgrade();
        let driver = self.driver.as_ref().map(Connection::failure_watch);
        Box::new(move || {
            let when = "while the case waited on it";
            if let Some(why) = driver.as_ref().and_then(|d| d()) {
                return Some(format!("the driver failed (seen {when}): {why}"));
            }
            buses
                .upgrade()?
                .failure()
                .map(|why| format!("the transport failed (seen {when}): {why}"))
        })
    }

    /// Why the transport or the driver broke, if one did (seen `when`).
    fn failure(&self, when: &str) -> Option<String> {
        if let Some(why) = self.driver.as_ref().and_then(Connection::failure) {
            return Some(format!("the driver failed (seen {when}): {why}"));
        }
        self.buses
            .failure()
            .map(|why| format!("the transport failed (seen {when}): {why}"))
    }

    /// Records a failed check of step `index`, which defends `clause`.
    pub(super) fn fail(
        &mut self,
        index: usize,
        what: &str,
        clause: &str,
        message: impl Into<String>,
    ) {
        self.failures.push(Failure::of(
            clause,
            format!("step {index} ({what}): {}", message.into()),
        ));
    }

    /// Records that step `index` could not be carried out as written (no
    /// check failed: the case could not go on as the spec says).
    pub(super) fn broke(&mut self, index: usize, what: &str, message: impl Into<String>) {
        self.failures.push(Failure::unclaused(format!(
            "step {index} ({what}): {}",
            message.into()
        )));
    }

    /// Runs `call` within what is left of the budget; when the budget runs
    /// out, says what the transport still had in flight (asked before the
    /// call is dropped).
    pub(super) async fn within_budget<F: std::future::Future>(
        &self,
        call: F,
    ) -> Result<F::Output, String> {
        if self.real_time {
            // On real time the budget counts time without progress: a
            // starved machine that works slowly is waited for.
            return match self.within(tokio::time::Instant::now(), call).await {
                Some(out) => Ok(out),
                None => Err(self.still_in_flight()),
            };
        }
        let mut call = std::pin::pin!(call);
        tokio::select! {
            out = &mut call => Ok(out),
            () = tokio::time::sleep(self.remaining()) => Err(self.still_in_flight()),
        }
    }

    /// What is left of the case's virtual-time budget.
    pub(super) fn remaining(&self) -> Duration {
        self.budget
            .saturating_sub(Duration::from_millis(self.trace.now_ms()))
    }

    async fn step(&mut self, i: usize, step: &Step) {
        match step {
            Step::Open(open) => {
                for name in open.window.names() {
                    if self.windows.contains_key(name) {
                        self.broke(i, "open", format!("window {name:?} is already open"));
                        continue;
                    }
                    let cx = wiring::Context {
                        bus: self.buses.get(open.bus.as_deref()),
                        sources: self.buses.sources(),
                        trace: &self.trace,
                        activity: &self.activity,
                        on_applied: self.reactions.hook(name, &self.buses),
                        backend_faults: &self.backend_faults,
                        seed: self.seed,
                        driver: self.driver.as_ref(),
                    };
                    let window = wiring::open(&cx, name, open);
                    self.windows.insert(name.clone(), window);
                }
            }
            Step::Start(s) => self.call(i, "start", s).await,
            Step::Refresh(s) => self.call(i, "refresh", s).await,
            Step::Join(j) => self.join(i, j).await,
            Step::Stop(t) => self.stop(i, "stop", &t.window, false),
            Step::Close(t) => self.stop(i, "close", &t.window, true),
            Step::Mutate(m) => self.mutate(i, m).await,
            Step::RestartSource(r) => self.restart_source(r),
            Step::RestartTransport(r) => self.restart_transport(i, r).await,
            Step::Emit(e) => self.emit(e),
            Step::Faults(f) => {
                for name in f.window.names() {
                    match self.windows.get(name) {
                        Some(w) => w.faults.configure(f),
                        None => self.broke(i, "faults", format!("window {name:?} is not open")),
                    }
                }
            }
            Step::Backend(b) => {
                if b.fail_next > 0 {
                    self.trace.log(
                        "source",
                        format!("fail the next {} snapshot request(s)", b.fail_next),
                    );
                    self.backend_faults.fail_next(b.fail_next, b.error.clone());
                }
                if let Some(r) = &b.replace_next {
                    self.trace.log(
                        "source",
                        format!(
                            "answer the next {} snapshot request(s) with {}",
                            r.count,
                            state_sync::protocol::preview(&r.payload, 60)
                        ),
                    );
                    self.backend_faults.replace_next(r.count, r.payload.clone());
                }
                if let Some(serial) = b.serial {
                    self.trace.log(
                        "source",
                        if serial {
                            "serve one request at a time"
                        } else {
                            "serve requests concurrently"
                        },
                    );
                    self.backend_faults.serial(serial);
                }
            }
            Step::Release(r) => self.release(i, r),
            Step::OnApply(r) => self.reactions.add(i, r),
            Step::Advance(a) => {
                let span = Span::Exactly(Duration::from_millis(a.ms));
                if let Err(why) = self.pass_time(span).await {
                    self.broke(i, "advance", why);
                }
            }
            Step::Stopped(w) => self.wait_stopped(i, w).await,
            Step::Settle(s) => {
                let span = match s.ms {
                    Some(ms) => Span::Exactly(Duration::from_millis(ms)),
                    None => Span::Everything(Duration::from_millis(DEFAULT_SETTLE_MS)),
                };
                if let Err(why) = self.pass_time(span).await {
                    self.broke(i, "settle", why);
                }
            }
            Step::Expect(e) => {
                // What a driver's engines reported is in once it has
                // acknowledged every command (an in-process engine's state
                // is read directly).
                if !self.driver_quiet("expect").await {
                    return;
                }
                if e.subscriptions.is_some() && !self.skips(Reading::Subscriptions) {
                    // A transport that counts elsewhere (in another
                    // process) is exact once settled.
                    self.settle_backend("expect").await;
                }
                self.expect(i, e);
            }
        }
    }

    /// `start` / `refresh`: call it on each window, in the background or
    /// within the budget, and check the outcome.
    async fn call(&mut self, i: usize, what: &'static str, s: &Start) {
        let is_start = what == "start";
        for name in s.window.names() {
            let Some(w) = self.windows.get_mut(name) else {
                self.broke(i, what, format!("window {name:?} is not open"));
                continue;
            };
            self.trace.log(name, what);
            let sync = w.sync.clone();
            let call = async move {
                if is_start {
                    sync.start().await
                } else {
                    sync.refresh().await
                }
            };
            if s.background {
                w.background.push((what, tokio::spawn(call)));
                continue;
            }
            let result = self.within_budget(call).await;
            let clause = self.spec.clause_of(s.clause.as_deref());
            self.check_call(i, what, what, name, result, (s.expect.as_ref(), clause));
        }
    }

    /// `join`: wait for each window's background calls.
    async fn join(&mut self, i: usize, j: &Join) {
        for name in j.window.names() {
            let handles = self
                .windows
                .get_mut(name)
                .map(|w| std::mem::take(&mut w.background))
                .unwrap_or_default();
            if handles.is_empty() {
                self.broke(i, "join", format!("window {name:?} has no background call"));
            }
            for (call, handle) in handles {
                let result = match self.within_budget(handle).await {
                    Ok(Ok(r)) => Ok(r),
                    Ok(Err(e)) => {
                        self.broke(
                            i,
                            "join",
                            format!("window {name:?}: background call panicked: {e}"),
                        );
                        continue;
                    }
                    Err(waiting) => Err(waiting),
                };
                let clause = self.spec.clause_of(j.clause.as_deref());
                self.check_call(i, "join", call, name, result, (j.expect.as_ref(), clause));
            }
        }
    }

    /// `stop` / `close`: stop each window; `close` also frees its name.
    fn stop(&mut self, i: usize, what: &str, sel: &WindowSel, close: bool) {
        for name in sel.names() {
            let Some(w) = self.windows.get(name) else {
                self.broke(i, what, format!("window {name:?} is not open"));
                continue;
            };
            self.trace.log(name, what);
            w.sync.stop();
            w.record.lock().stopped = true;
            if close && let Some(w) = self.windows.remove(name) {
                self.closed.push((name.clone(), w.record));
            }
        }
    }

    /// `mutate`: change the source, emitting each invalidation after it.
    async fn mutate(&mut self, i: usize, m: &Mutate) {
        for k in 0..m.changes() {
            if k > 0
                && let Some(ms) = m.spacing_ms.filter(|ms| *ms > 0)
            {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            if let Err(e) = self.buses.change(m, k) {
                self.broke(i, "mutate", e);
                return;
            }
        }
    }

    /// `restart_source`: the topic's source restarts, keeping or losing its
    /// history.
    fn restart_source(&mut self, r: &RestartSource) {
        let topic = r.topic.as_deref().unwrap_or(DEFAULT_TOPIC);
        let keep = r.history.unwrap_or_default() == SourceHistory::Kept;
        let at = self.buses.sources().restart(topic, keep, r.data.clone());
        let kept = if keep { "kept" } else { "lost" };
        self.trace.log(
            "source",
            format!("{topic} restarted, history {kept}: at revision {at}"),
        );
    }

    /// `restart_transport`: the bus's broker or server restarts (work in
    /// flight: virtual time holds still until it is back).
    async fn restart_transport(&mut self, i: usize, r: &RestartTransport) {
        let bus = self.buses.get(r.bus.as_deref());
        self.trace.log(
            "bus",
            format!("restart the transport{}", which_bus(&bus.name)),
        );
        let backend = bus.backend.clone();
        let restarted = self
            .activity
            .track(|| "Backend::restart".to_owned(), backend.restart())
            .await;
        if let Err(why) = restarted {
            self.broke(i, "restart_transport", why);
        }
    }

    /// `emit`: a raw payload through the backend.
    fn emit(&mut self, e: &Emit) {
        let payload = e.build();
        for _ in 0..e.count.unwrap_or(1) {
            self.trace.log(
                "bus",
                format!("emit raw {}", state_sync::protocol::preview(&payload, 80)),
            );
            self.buses.emit(e.bus.as_deref(), &payload);
        }
    }

    /// `release`: let each window's held fetches, subscribes and events go.
    fn release(&mut self, i: usize, r: &Release) {
        let all = r.everything();
        for name in r.window.names() {
            let Some(w) = self.windows.get(name) else {
                self.broke(i, "release", format!("window {name:?} is not open"));
                continue;
            };
            let faults = w.faults.clone();
            let holds = &faults.holds;
            if all || r.fetches.is_some() {
                let n = holds.release_fetches(r.fetches.map(|n| n.get()));
                self.trace.log(name, format!("release {n} held fetch(es)"));
            }
            if all || r.subscribes.is_some() {
                let n = holds.release_subscribes(r.subscribes.map(|n| n.get()));
                self.trace
                    .log(name, format!("release {n} held subscribe(s)"));
            }
            let events = match &r.events {
                Some(which) => Some(which),
                None if all => Some(&EventRelease::All(ReleaseOrder::OldestFirst)),
                None => None,
            };
            if let Some(which) = events {
                match holds.release_events(which) {
                    Ok(n) => self.trace.log(name, format!("released {n} held event(s)")),
                    // Fewer events reached the window than the step
                    // releases: only the transport's delivery decides that.
                    Err(e) => self.fail(
                        i,
                        "release",
                        clause::DELIVERED,
                        format!("window {name:?}: {e}: fewer events reached the window than the spec holds back"),
                    ),
                }
            }
        }
    }

    /// `stopped`: each window's `stopped()` resolves within the bounds.
    async fn wait_stopped(&mut self, i: usize, w: &StoppedWait) {
        let mut within = Duration::from_millis(w.within_ms.unwrap_or(0));
        if self.real_time {
            within = within.max(REAL_TIME_TOLERANCE);
        }
        let not_before = Duration::from_millis(w.not_before_ms.unwrap_or(0));
        for name in w.window.names() {
            let Some(sync) = self.windows.get(name).map(|w| w.sync.clone()) else {
                self.broke(i, "stopped", format!("window {name:?} is not open"));
                continue;
            };
            let began = tokio::time::Instant::now();
            // One extra millisecond: tokio timers round up to whole ms.
            let waited =
                tokio::time::timeout(within + Duration::from_millis(1), sync.stopped()).await;
            let took = began.elapsed();
            // On real time a loaded machine delays the steps before this
            // one, eating into `not_before`: what it stands for is checked
            // instead — no apply still running when `stopped()` resolved.
            let early = if self.real_time {
                self.windows[name].record.lock().applying > 0
            } else {
                took < not_before
            };
            match waited {
                Err(_) => self.fail(
                    i,
                    "stopped",
                    clause::STOPPED,
                    format!(
                        "window {name:?}: stopped() did not resolve within {} ms",
                        within.as_millis()
                    ),
                ),
                Ok(()) if early => self.fail(
                    i,
                    "stopped",
                    clause::STOPPED,
                    if self.real_time {
                        format!(
                            "window {name:?}: stopped() resolved after {} ms while an apply was still running",
                            took.as_millis()
                        )
                    } else {
                        format!(
                            "window {name:?}: stopped() resolved after {} ms, before {} ms: an apply was still running",
                            took.as_millis(),
                            not_before.as_millis()
                        )
                    },
                ),
                Ok(()) => self.trace.log(
                    name,
                    format!("stopped() resolved after {} ms", took.as_millis()),
                ),
            }
        }
    }
}
