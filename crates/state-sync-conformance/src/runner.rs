//! Runs one spec against one transport.
//!
//! Every case gets its own thread and a fresh single-thread tokio runtime
//! with paused time, so virtual time only moves when everything is idle and
//! a case costs microseconds of wall time however many virtual seconds it
//! spans. A virtual-time budget turns a hang into `timeout`; a real-time
//! watchdog catches a transport that blocks the thread; a panic anywhere in
//! the case is recorded and gives `error`. The suite always continues.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use state_sync::retry::RetryPolicy;
use state_sync::{Lifecycle, Revision, RevisionSync, SyncError, Throttle, with_retry};
use tokio::task::JoinHandle;

use crate::faults::{FaultProvider, FaultState, FaultSubscriber, WindowTap};
use crate::panics;
use crate::record::{Record, RecordingApplier, Trace, record_error};
use crate::source::Sources;
use crate::spec::{
    DEFAULT_TOPIC, Expect, Filter, Open, Outcome, Spec, Step, ThrottleSpec, expand_windows,
};
use crate::transport::Transport;
use crate::verdict::{CaseResult, Verdict};
use state_sync_transports::Backend;

/// The default virtual-time budget of a case.
pub const DEFAULT_BUDGET_MS: u64 = 600_000;
/// The default virtual time a `settle` step allows.
pub const DEFAULT_SETTLE_MS: u64 = 60_000;
/// The stack of a case thread.
const CASE_STACK_BYTES: usize = 16 << 20;
/// Virtual time allowed for unsubscriptions to finish after the last step.
const TEARDOWN_SETTLE_MS: u64 = 10_000;
/// Virtual time the backend's `settle` may take at teardown, whatever is
/// left of the case budget.
const SETTLE_ALLOWANCE_MS: u64 = 60_000;

/// Builds the command that reruns one case from `(transport, spec id, seed)`.
pub type RerunCommand = Arc<dyn Fn(&str, &str, u64) -> String + Send + Sync>;

/// How cases are run.
///
/// ```
/// use std::time::Duration;
/// use state_sync_conformance::RunOptions;
///
/// let options = RunOptions::default().with_seed(42).with_watchdog(Duration::from_secs(5));
/// assert_eq!(options.seed, Some(42));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct RunOptions {
    /// Use this seed for every case instead of the spec's own.
    pub seed: Option<u64>,
    /// Wall-clock limit per case (a blocked thread gives `timeout`).
    pub watchdog: Duration,
    /// Builds the command that reruns one case: `(transport, spec id, seed)`.
    pub rerun: RerunCommand,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            seed: None,
            watchdog: Duration::from_secs(30),
            rerun: Arc::new(|transport, spec, seed| {
                format!(
                    "state-sync-conformance run --transport {transport} --spec {spec} --seed {seed}"
                )
            }),
        }
    }
}

impl RunOptions {
    /// Runs every case with `seed` instead of the spec's own.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The wall-clock limit per case.
    pub fn with_watchdog(mut self, watchdog: Duration) -> Self {
        self.watchdog = watchdog;
        self
    }

    /// How the command that reruns one case is written.
    pub fn with_rerun(
        mut self,
        rerun: impl Fn(&str, &str, u64) -> String + Send + Sync + 'static,
    ) -> Self {
        self.rerun = Arc::new(rerun);
        self
    }
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("seed", &self.seed)
            .field("watchdog", &self.watchdog)
            .finish_non_exhaustive()
    }
}

/// The seed a spec runs with when none is forced: its own, or one derived
/// from its id (FNV-1a), so every spec has a stable seed.
pub fn spec_seed(spec: &Spec) -> u64 {
    spec.seed.unwrap_or_else(|| fnv1a(spec.id.as_bytes()))
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Runs `spec` against `transport` and returns its (raw) result: known
/// failures are applied by the caller.
pub fn run_case(spec: &Spec, transport: &Transport, options: &RunOptions) -> CaseResult {
    let seed = options.seed.unwrap_or_else(|| spec_seed(spec));
    let mut result = CaseResult {
        transport: transport.name().to_owned(),
        spec: spec.id.clone(),
        title: spec.title.clone(),
        level: spec.level,
        clauses: spec.clauses.clone(),
        verdict: Verdict::Pass,
        seed,
        virtual_ms: 0,
        failures: Vec::new(),
        known_failure: None,
        missing: Vec::new(),
        trace: Vec::new(),
        rerun: None,
    };
    let missing = transport.capabilities().missing(&spec.requires);
    if !missing.is_empty() {
        result.verdict = Verdict::Unsupported;
        result.missing = missing.iter().map(|c| c.as_str().to_owned()).collect();
        return result;
    }

    let (tx, rx) = mpsc::channel();
    let spec_owned = spec.clone();
    let transport_owned = transport.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("case {}::{}", transport.name(), spec.id))
        // Deeply nested payloads are cloned and dropped recursively.
        .stack_size(CASE_STACK_BYTES)
        .spawn(move || {
            let outcome = run_on_this_thread(&spec_owned, &transport_owned, seed);
            // The receiver may have given up (watchdog): nothing to do then.
            let _ = tx.send(outcome);
        });
    let outcome = match spawned {
        Err(e) => CaseOutcome::error(format!("could not start the case thread: {e}")),
        Ok(_) => match rx.recv_timeout(options.watchdog) {
            Ok(outcome) => outcome,
            Err(_) => CaseOutcome {
                verdict: Verdict::Timeout,
                failures: vec![format!(
                    "the case did not finish within {} s of real time: the transport blocks the thread",
                    options.watchdog.as_secs()
                )],
                trace: Vec::new(),
                virtual_ms: 0,
            },
        },
    };
    result.verdict = outcome.verdict;
    result.failures = outcome.failures;
    result.virtual_ms = outcome.virtual_ms;
    if result.verdict != Verdict::Pass {
        result.trace = outcome.trace;
        result.rerun = Some((options.rerun)(transport.name(), &spec.id, seed));
    }
    result
}

/// What a case thread hands back.
struct CaseOutcome {
    verdict: Verdict,
    failures: Vec<String>,
    trace: Vec<crate::verdict::TraceEntry>,
    virtual_ms: u64,
}

impl CaseOutcome {
    fn error(message: String) -> Self {
        Self {
            verdict: Verdict::Error,
            failures: vec![message],
            trace: Vec::new(),
            virtual_ms: 0,
        }
    }
}

fn run_on_this_thread(spec: &Spec, transport: &Transport, seed: u64) -> CaseOutcome {
    panics::capture_on_this_thread();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build();
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => return CaseOutcome::error(format!("could not build the tokio runtime: {e}")),
    };
    let trace_slot: Arc<parking_lot::Mutex<Option<Trace>>> = Arc::default();
    let slot = trace_slot.clone();
    let ran = catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(async move {
            let case = Case::new(spec, transport, seed);
            *slot.lock() = Some(case.trace.clone());
            case.run().await
        })
    }));
    // Tasks still pending (hung fetches, delayed events) are dropped here.
    let dropped = catch_unwind(AssertUnwindSafe(move || drop(runtime)));
    let panicked = panics::take_unexpected();
    let trace = trace_slot
        .lock()
        .as_ref()
        .map(Trace::take)
        .unwrap_or_default();
    let mut outcome = match ran {
        Ok(mut outcome) => {
            outcome.trace = trace;
            outcome
        }
        Err(payload) => CaseOutcome {
            verdict: Verdict::Error,
            // The panic hook records the message (with its location) below.
            failures: if panics::is_captured(panics::message(&*payload)) {
                Vec::new()
            } else {
                vec![format!("panicked: {}", panics::message(&*payload))]
            },
            trace,
            virtual_ms: 0,
        },
    };
    if dropped.is_err() && outcome.verdict != Verdict::Error {
        outcome.verdict = Verdict::Error;
        outcome
            .failures
            .push("panicked while shutting the case down".to_owned());
    }
    if !panicked.is_empty() {
        if outcome.verdict != Verdict::Error {
            outcome.verdict = Verdict::Error;
        }
        for p in panicked {
            let line = format!("panic: {p}");
            if !outcome.failures.contains(&line) {
                outcome.failures.push(line);
            }
        }
    }
    outcome
}

/// One window under test.
struct Window {
    topic: String,
    sync: RevisionSync<Value>,
    record: Record,
    faults: Arc<FaultState>,
    background: Vec<JoinHandle<Result<(), SyncError>>>,
}

struct Case<'a> {
    spec: &'a Spec,
    backend: Box<dyn Backend>,
    sources: Sources,
    trace: Trace,
    seed: u64,
    windows: BTreeMap<String, Window>,
    closed: Vec<(String, Record)>,
    failures: Vec<String>,
    timed_out: bool,
    budget: Duration,
}

impl<'a> Case<'a> {
    fn new(spec: &'a Spec, transport: &Transport, seed: u64) -> Self {
        let sources = Sources::default();
        let backend = transport.open();
        backend.serve(sources.handler());
        Self {
            spec,
            backend,
            sources,
            trace: Trace::new(),
            seed,
            windows: BTreeMap::new(),
            closed: Vec::new(),
            failures: Vec::new(),
            timed_out: false,
            budget: Duration::from_millis(spec.budget_ms.unwrap_or(DEFAULT_BUDGET_MS)),
        }
    }

    async fn run(mut self) -> CaseOutcome {
        for (i, step) in self.spec.steps.iter().enumerate() {
            self.step(i, step).await;
            if self.timed_out {
                break;
            }
        }
        if !self.timed_out {
            self.teardown().await;
        }
        let verdict = if self.timed_out {
            Verdict::Timeout
        } else if self.failures.is_empty() {
            Verdict::Pass
        } else {
            Verdict::Fail
        };
        CaseOutcome {
            verdict,
            failures: self.failures,
            trace: Vec::new(),
            virtual_ms: self.trace.now_ms(),
        }
    }

    fn fail(&mut self, index: usize, what: &str, message: impl Into<String>) {
        self.failures
            .push(format!("step {index} ({what}): {}", message.into()));
    }

    fn remaining(&self) -> Duration {
        self.budget
            .saturating_sub(Duration::from_millis(self.trace.now_ms()))
    }

    fn names(&mut self, index: usize, what: &str, sel: &str) -> Vec<String> {
        match expand_windows(sel) {
            Ok(names) => names,
            Err(e) => {
                self.fail(index, what, e);
                Vec::new()
            }
        }
    }

    async fn step(&mut self, i: usize, step: &Step) {
        match step {
            Step::Open(open) => {
                for name in self.names(i, "open", &open.window) {
                    if self.windows.contains_key(&name) {
                        self.fail(i, "open", format!("window {name:?} is already open"));
                        continue;
                    }
                    let window = self.open(&name, open);
                    self.windows.insert(name, window);
                }
            }
            Step::Start(s) | Step::Refresh(s) => {
                let is_start = matches!(step, Step::Start(_));
                let what = if is_start { "start" } else { "refresh" };
                for name in self.names(i, what, &s.window) {
                    let Some(w) = self.windows.get_mut(&name) else {
                        self.fail(i, what, format!("window {name:?} is not open"));
                        continue;
                    };
                    self.trace.log(&name, what);
                    let sync = w.sync.clone();
                    let call = async move {
                        if is_start {
                            sync.start().await
                        } else {
                            sync.refresh().await
                        }
                    };
                    if s.background {
                        w.background.push(tokio::spawn(call));
                        continue;
                    }
                    let result = tokio::time::timeout(self.remaining(), call).await;
                    self.check_call(i, what, &name, result.ok(), s.expect.as_ref());
                }
            }
            Step::Join(j) => {
                for name in self.names(i, "join", &j.window) {
                    let handles = self
                        .windows
                        .get_mut(&name)
                        .map(|w| std::mem::take(&mut w.background))
                        .unwrap_or_default();
                    if handles.is_empty() {
                        self.fail(i, "join", format!("window {name:?} has no background call"));
                    }
                    for handle in handles {
                        let joined = tokio::time::timeout(self.remaining(), handle).await;
                        let result = match joined {
                            Ok(Ok(r)) => Some(r),
                            Ok(Err(e)) => {
                                self.fail(
                                    i,
                                    "join",
                                    format!("window {name:?}: background call panicked: {e}"),
                                );
                                continue;
                            }
                            Err(_) => None,
                        };
                        self.check_call(i, "join", &name, result, j.expect.as_ref());
                    }
                }
            }
            Step::Stop(t) | Step::Close(t) => {
                let close = matches!(step, Step::Close(_));
                let what = if close { "close" } else { "stop" };
                for name in self.names(i, what, &t.window) {
                    let Some(w) = self.windows.get(&name) else {
                        self.fail(i, what, format!("window {name:?} is not open"));
                        continue;
                    };
                    self.trace.log(&name, what);
                    w.sync.stop();
                    w.record.lock().stopped = true;
                    if close && let Some(w) = self.windows.remove(&name) {
                        self.closed.push((name, w.record));
                    }
                }
            }
            Step::Mutate(m) => {
                let topic = m.topic.as_deref().unwrap_or(DEFAULT_TOPIC);
                let count = m.count.unwrap_or(1);
                for k in 0..count {
                    if k > 0
                        && let Some(ms) = m.spacing_ms.filter(|ms| *ms > 0)
                    {
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                    }
                    let event = match self.sources.mutate(
                        topic,
                        m.data.clone(),
                        m.pad_bytes,
                        m.source_id.as_deref(),
                    ) {
                        Ok(e) => e,
                        Err(e) => {
                            self.fail(i, "mutate", e.to_string());
                            return;
                        }
                    };
                    self.trace
                        .log("source", format!("{topic} -> revision {}", event.revision));
                    if m.emit.unwrap_or(true) {
                        self.backend.emit(&event.to_json());
                    }
                }
            }
            Step::Emit(e) => {
                let payload = e.build();
                for _ in 0..e.count.unwrap_or(1) {
                    self.trace
                        .log("bus", format!("emit raw {}", short(&payload)));
                    self.backend.emit(&payload);
                }
            }
            Step::Faults(f) => {
                for name in self.names(i, "faults", &f.window) {
                    match self.windows.get(&name) {
                        Some(w) => w.faults.configure(f),
                        None => self.fail(i, "faults", format!("window {name:?} is not open")),
                    }
                }
            }
            Step::Backend(b) => {
                self.trace.log(
                    "source",
                    format!("fail the next {} snapshot request(s)", b.fail_next),
                );
                self.sources.fail_next(b.fail_next, b.error.clone());
            }
            Step::Advance(a) => tokio::time::sleep(Duration::from_millis(a.ms)).await,
            Step::Stopped(w) => self.wait_stopped(i, w).await,
            Step::Settle(s) => {
                tokio::time::sleep(Duration::from_millis(s.ms.unwrap_or(DEFAULT_SETTLE_MS))).await;
            }
            Step::Expect(e) => self.expect(i, e),
        }
    }

    /// `stopped`: each window's `stopped()` resolves within the bounds.
    async fn wait_stopped(&mut self, i: usize, w: &crate::spec::StoppedWait) {
        let within = Duration::from_millis(w.within_ms.unwrap_or(0));
        let not_before = Duration::from_millis(w.not_before_ms.unwrap_or(0));
        for name in self.names(i, "stopped", &w.window) {
            let Some(sync) = self.windows.get(&name).map(|w| w.sync.clone()) else {
                self.fail(i, "stopped", format!("window {name:?} is not open"));
                continue;
            };
            let began = tokio::time::Instant::now();
            // One extra millisecond: tokio timers round up to whole ms.
            let waited =
                tokio::time::timeout(within + Duration::from_millis(1), sync.stopped()).await;
            let took = began.elapsed();
            match waited {
                Err(_) => self.fail(
                    i,
                    "stopped",
                    format!("window {name:?}: stopped() did not resolve within {} ms", within.as_millis()),
                ),
                Ok(()) if took < not_before => self.fail(
                    i,
                    "stopped",
                    format!(
                        "window {name:?}: stopped() resolved after {} ms, before {} ms: an apply was still running",
                        took.as_millis(),
                        not_before.as_millis()
                    ),
                ),
                Ok(()) => self
                    .trace
                    .log(&name, format!("stopped() resolved after {} ms", took.as_millis())),
            }
        }
    }

    fn open(&mut self, name: &str, open: &Open) -> Window {
        let topic = open
            .topic
            .clone()
            .unwrap_or_else(|| DEFAULT_TOPIC.to_owned());
        let record: Record = Arc::default();
        let faults = Arc::new(FaultState::new(self.seed ^ fnv1a(name.as_bytes())));
        let ends = self
            .backend
            .window_ends(open.label.as_deref().unwrap_or(name), &topic);
        let tap = WindowTap {
            name: Arc::from(name),
            topic: topic.clone(),
            faults: faults.clone(),
            record: record.clone(),
            trace: self.trace.clone(),
            sources: self.sources.clone(),
        };
        let subscriber = FaultSubscriber {
            inner: ends.subscriber,
            tap: tap.clone(),
        };
        let provider = FaultProvider {
            inner: ends.provider,
            tap,
        };
        let applier = RecordingApplier {
            name: name.to_owned(),
            record: record.clone(),
            faults: faults.clone(),
            trace: self.trace.clone(),
        };
        let hook = {
            let (record, trace, name) = (record.clone(), self.trace.clone(), name.to_owned());
            let panicking = open.panicking_error_hook;
            move |ctx: &state_sync::ErrorContext| {
                record_error(&record, &trace, &name, ctx);
                if panicking {
                    panic!("{} in on_error", panics::DELIBERATE);
                }
            }
        };
        let builder = match &open.retry {
            Some(r) => {
                let mut policy = RetryPolicy::default().seed(self.seed);
                if let Some(n) = r.max_attempts {
                    policy = policy.max_attempts(n);
                }
                if let Some(ms) = r.base_delay_ms {
                    policy = policy.base_delay(Duration::from_millis(ms));
                }
                if let Some(ms) = r.max_delay_ms {
                    policy = policy.max_delay(Duration::from_millis(ms));
                }
                RevisionSync::builder(
                    topic.clone(),
                    subscriber,
                    with_retry(provider, policy),
                    applier,
                )
            }
            None => RevisionSync::builder(topic.clone(), subscriber, provider, applier),
        };
        let mut builder = builder.on_error(hook);
        if let Some(n) = open.max_stale_refetches {
            builder = builder.max_stale_refetches(n);
        }
        if let Some(t) = &open.throttle {
            builder = builder.throttle(match *t {
                ThrottleSpec::DebounceMs(ms) => Throttle::debounce(Duration::from_millis(ms)),
                ThrottleSpec::Throttle {
                    interval_ms,
                    leading,
                    trailing,
                } => Throttle::Throttle {
                    interval: Duration::from_millis(interval_ms),
                    leading,
                    trailing,
                },
            });
        }
        if let Some(filter) = &open.should_refresh {
            let filter = filter.clone();
            builder = builder.should_refresh(move |event| match &filter {
                Filter::IgnoreSourceId(id) => event.source_id != Some(id.as_str()),
                Filter::OnlySourceId(id) => event.source_id == Some(id.as_str()),
                Filter::Never => false,
                Filter::Panic => panic!("{} in should_refresh", panics::DELIBERATE),
            });
        }
        self.trace.log(name, format!("open on topic {topic:?}"));
        Window {
            topic,
            sync: builder.build(),
            record,
            faults,
            background: Vec::new(),
        }
    }

    /// Compares the result of `start`/`refresh` (`None`: out of budget).
    fn check_call(
        &mut self,
        i: usize,
        what: &str,
        name: &str,
        result: Option<Result<(), SyncError>>,
        expect: Option<&Outcome>,
    ) {
        let Some(result) = result else {
            self.trace.log(
                name,
                format!("{what} still pending when the budget ran out"),
            );
            self.fail(
                i,
                what,
                format!(
                    "window {name:?}: did not complete within the case budget of {} virtual ms",
                    self.budget.as_millis()
                ),
            );
            self.timed_out = true;
            return;
        };
        match &result {
            Ok(()) => self.trace.log(name, format!("{what} ok")),
            Err(e) => self
                .trace
                .log(name, format!("{what} failed [{}]: {e}", e.phase())),
        }
        let expected = expect.cloned().unwrap_or(Outcome::Ok);
        match (&expected, &result) {
            (Outcome::Ok, Ok(())) => {}
            (Outcome::Fail(phase), Err(e)) if e.phase().as_str() == phase => {}
            (Outcome::Ok, Err(e)) => {
                self.fail(
                    i,
                    what,
                    format!(
                        "window {name:?}: expected ok, got error in phase {}: {e}",
                        e.phase()
                    ),
                );
            }
            (Outcome::Fail(phase), Ok(())) => {
                self.fail(
                    i,
                    what,
                    format!("window {name:?}: expected failure in phase {phase}, got ok"),
                );
            }
            (Outcome::Fail(phase), Err(e)) => {
                self.fail(
                    i,
                    what,
                    format!(
                        "window {name:?}: expected failure in phase {phase}, got phase {}: {e}",
                        e.phase()
                    ),
                );
            }
        }
        // A failed start must leave nothing subscribed (LIFE-4).
        if what != "refresh"
            && result.is_err()
            && let Some(w) = self.windows.get(name)
        {
            let open = w.record.lock().open_subscriptions;
            if open != 0 {
                self.fail(
                    i,
                    what,
                    format!("window {name:?}: {open} subscription(s) left after a failed start"),
                );
            }
        }
    }

    fn expect(&mut self, i: usize, e: &Expect) {
        let mut problems = Vec::new();
        if let Some(sel) = &e.window {
            for name in self.names(i, "expect", sel) {
                match self.windows.get(&name) {
                    Some(w) => self.check_window(&name, w, e, &mut problems),
                    None => problems.push(format!("window {name:?} is not open")),
                }
            }
        }
        if let Some(bound) = e.subscriptions {
            match self.backend.active_subscriptions() {
                Some(n) if bound.holds(n as u64) => {}
                Some(n) => {
                    problems.push(format!("active subscriptions: expected {bound}, got {n}"))
                }
                None => problems.push("the transport does not report its subscriptions".to_owned()),
            }
        }
        if let Some(s) = &e.source {
            let topic = s.topic.as_deref().unwrap_or(DEFAULT_TOPIC);
            let (rev, _) = self.sources.current(topic);
            if rev.to_string() != s.revision {
                problems.push(format!(
                    "source {topic:?}: expected revision {}, got {rev}",
                    s.revision
                ));
            }
        }
        for p in problems {
            self.trace.log("kit", format!("expectation failed: {p}"));
            self.fail(i, "expect", p);
        }
    }

    fn check_window(&self, name: &str, w: &Window, e: &Expect, problems: &mut Vec<String>) {
        let (source_rev, source_data) = self.sources.current(&w.topic);
        let local = w.sync.local_revision();
        let rec = w.record.lock();
        if let Some(expected) = &e.local_revision {
            let want = if expected == "source" {
                Some(source_rev)
            } else {
                Revision::parse(expected).ok().map(Revision::get)
            };
            if want != Some(local.get()) {
                problems.push(format!(
                    "window {name:?}: local revision: expected {expected} ({}), got {local}",
                    want.map_or("?".to_owned(), |w| w.to_string())
                ));
            }
        }
        if let Some(applied) = &e.applied {
            let got: Vec<String> = rec.applied.iter().map(Revision::to_string).collect();
            if &got != applied {
                problems.push(format!(
                    "window {name:?}: applied revisions: expected {applied:?}, got {got:?}"
                ));
            }
        }
        if let Some(data) = &e.data
            && rec.data.as_ref() != Some(data)
        {
            problems.push(format!(
                "window {name:?}: data: expected {}, got {}",
                short(data),
                rec.data.as_ref().map_or("nothing".to_owned(), short)
            ));
        }
        if let Some(want) = e.converged {
            let converged = local.get() == source_rev && rec.data.as_ref() == Some(&source_data);
            if converged != want {
                problems.push(format!(
                    "window {name:?}: expected {}converged to source revision {source_rev}, window is at {local} with data {}",
                    if want { "" } else { "not " },
                    rec.data.as_ref().map_or("nothing".to_owned(), short)
                ));
            }
        }
        if let Some(bound) = e.fetches
            && !bound.holds(rec.fetches)
        {
            problems.push(format!(
                "window {name:?}: fetches: expected {bound}, got {}",
                rec.fetches
            ));
        }
        if let Some(bound) = e.applies {
            let n = rec.applied.len() as u64;
            if !bound.holds(n) {
                problems.push(format!(
                    "window {name:?}: applies: expected {bound}, got {n}"
                ));
            }
        }
        for (phase, bound) in e.errors.iter().flatten() {
            let n = rec
                .errors
                .iter()
                .filter(|ctx| ctx.phase.as_str() == phase)
                .count() as u64;
            if !bound.holds(n) {
                problems.push(format!(
                    "window {name:?}: errors in phase {phase}: expected {bound}, got {n}"
                ));
            }
        }
        if let Some(bound) = e.subscribes
            && !bound.holds(rec.subscribes)
        {
            problems.push(format!(
                "window {name:?}: subscribe calls: expected {bound}, got {}",
                rec.subscribes
            ));
        }
        if let Some(metrics) = &e.metrics {
            let m = w.sync.metrics();
            for (metric, bound) in metrics {
                let got = match metric.as_str() {
                    "fetches" => m.fetches,
                    "applies" => m.applies,
                    "coalesced" => m.coalesced,
                    "stale_skips" => m.stale_skips,
                    "protocol_errors" => m.protocol_errors,
                    "lag" => m.lag,
                    _ => continue,
                };
                if !bound.holds(got) {
                    problems.push(format!(
                        "window {name:?}: metric {metric}: expected {bound}, got {got}"
                    ));
                }
            }
        }
        if let Some(want) = &e.error_context {
            check_error_context(name, &rec.errors, want, problems);
        }
        if let Some(want) = &e.lifecycle {
            let got = lifecycle_name(w.sync.lifecycle());
            if got != want {
                problems.push(format!(
                    "window {name:?}: lifecycle: expected {want}, got {got}"
                ));
            }
        }
    }

    /// Stops every window, lets unsubscriptions finish, and checks the
    /// always-on invariants.
    async fn teardown(&mut self) {
        for w in self.windows.values() {
            w.sync.stop();
            w.record.lock().stopped = true;
            for handle in &w.background {
                handle.abort();
            }
        }
        // Unsubscriptions and deliveries the transport still has in flight
        // finish first; then virtual time passes, so a transport that keeps
        // delivering after unsubscribe (on a timer) is caught.
        self.settle_backend("teardown").await;
        tokio::time::sleep(Duration::from_millis(TEARDOWN_SETTLE_MS)).await;
        self.settle_backend("teardown").await;
        let records: Vec<(String, Record)> = self
            .windows
            .iter()
            .map(|(n, w)| (n.clone(), w.record.clone()))
            .chain(self.closed.iter().cloned())
            .collect();
        for (name, record) in records {
            let rec = record.lock();
            for v in &rec.violations {
                self.failures
                    .push(format!("invariant: window {name:?}: {v}"));
            }
            if rec.garbage_forwarded != rec.event_protocol_errors {
                self.failures.push(format!(
                    "invariant: window {name:?}: {} invalid payload(s) delivered but {} reported as protocol errors",
                    rec.garbage_forwarded, rec.event_protocol_errors
                ));
            }
            if rec.open_subscriptions != 0 {
                self.failures.push(format!(
                    "invariant: window {name:?}: {} subscription(s) still open after stop",
                    rec.open_subscriptions
                ));
            }
        }
        if let Some(n) = self.backend.active_subscriptions()
            && n != 0
        {
            self.failures.push(format!(
                    "invariant: the transport still has {n} active subscription(s) after every window stopped"
                ));
        }
    }
}

impl Case<'_> {
    /// Awaits the backend's `settle`, for at most [`SETTLE_ALLOWANCE_MS`].
    async fn settle_backend(&mut self, during: &str) {
        let allowance = Duration::from_millis(SETTLE_ALLOWANCE_MS);
        if tokio::time::timeout(allowance, self.backend.settle())
            .await
            .is_err()
        {
            self.failures.push(format!(
                "{during}: the transport's `Backend::settle` did not resolve within {SETTLE_ALLOWANCE_MS} virtual ms"
            ));
            self.timed_out = true;
        }
    }
}

/// Compares the last error of a phase with the expected context fields.
fn check_error_context(
    name: &str,
    errors: &[state_sync::ErrorContext],
    want: &crate::spec::ErrorContextExpect,
    problems: &mut Vec<String>,
) {
    let Some(ctx) = errors.iter().rev().find(|c| c.phase.as_str() == want.phase) else {
        problems.push(format!(
            "window {name:?}: no error in phase {} was reported",
            want.phase
        ));
        return;
    };
    let mut check = |field: &str, expected: Option<String>, got: Option<String>| {
        if let Some(expected) = expected {
            let got = got.unwrap_or_else(|| "absent".to_owned());
            if expected != got {
                problems.push(format!(
                    "window {name:?}: last {} error: {field}: expected {expected}, got {got}",
                    want.phase
                ));
            }
        }
    };
    let rev = |r: Option<Revision>| r.map(|r| r.to_string());
    check("topic", want.topic.clone(), Some(ctx.topic.clone()));
    check(
        "local_revision",
        want.local_revision.clone(),
        rev(ctx.local_revision),
    );
    check(
        "event_revision",
        want.event_revision.clone(),
        rev(ctx.event_revision),
    );
    check(
        "snapshot_revision",
        want.snapshot_revision.clone(),
        rev(ctx.snapshot_revision),
    );
    check("source_id", want.source_id.clone(), ctx.source_id.clone());
    check(
        "source_event",
        want.source_event.map(|b| b.to_string()),
        Some(ctx.source_event.is_some().to_string()),
    );
    check(
        "attempt",
        want.attempt.map(|a| a.to_string()),
        ctx.attempt.map(|a| a.to_string()),
    );
    check(
        "will_retry",
        want.will_retry.map(|b| b.to_string()),
        ctx.will_retry.map(|b| b.to_string()),
    );
}

fn lifecycle_name(l: Lifecycle) -> &'static str {
    match l {
        Lifecycle::Idle => "idle",
        Lifecycle::Starting => "starting",
        Lifecycle::Running => "running",
        Lifecycle::Stopped => "stopped",
    }
}

/// Compact JSON cut to 80 bytes, for messages.
fn short(value: &Value) -> String {
    state_sync::protocol::preview(value, 80)
}
