//! Test doubles for driving a [`RevisionSync`] without a real transport.
//!
//! * [`Bus`] — an in-test subscriber: handlers in a list, [`Bus::emit`] calls
//!   them synchronously with a raw `serde_json::Value`; it counts subscribe
//!   calls and active subscriptions and can be told to fail.
//! * [`Provider`] — a scripted snapshot provider: scripted steps first
//!   (snapshot, raw payload, failure, hang, delay, gate), then a default
//!   mode (current source revision, one fetch behind, or stuck).
//! * [`Recorder`] — a recording applier that can fail, be slow, wait on a
//!   gate, or call back into the test (for example to `stop`) from inside
//!   `apply`.
//! * [`Errors`] — collects every `ErrorContext` the engine reports.
//!
//! Everything shares one [`Log`] so tests can check the order of port calls.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use parking_lot::Mutex;
use serde_json::{Value, json};
use state_sync::{
    ErrorContext, InvalidationHandler, InvalidationSubscriber, Phase, PortError, Revision,
    RevisionSync, RevisionSyncBuilder, SnapshotApplier, SnapshotEnvelope, SnapshotProvider,
    Subscription,
};
use tokio::sync::watch;
use tokio::time::Instant;

/// The topic the harness engines use.
pub const TOPIC: &str = "app-config";

/// Milliseconds.
pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A valid invalidation payload.
pub fn event(topic: &str, revision: u64) -> Value {
    json!({"topic": topic, "revision": revision.to_string()})
}

/// A valid invalidation payload with a `sourceId`.
pub fn event_from(topic: &str, revision: u64, source_id: &str) -> Value {
    json!({"topic": topic, "revision": revision.to_string(), "sourceId": source_id})
}

/// A valid snapshot payload whose data is `{"rev": revision}`.
pub fn snapshot(revision: u64) -> Value {
    json!({"revision": revision.to_string(), "data": {"rev": revision}})
}

/// Virtual time long enough for anything that is going to happen.
pub const LONG: Duration = Duration::from_secs(3600);

/// Awaits with a deadline of [`LONG`] virtual time, so that a future that
/// never resolves fails the test instead of parking the runtime forever.
pub trait Within: std::future::Future + Sized {
    /// The output, or a panic after [`LONG`].
    fn within(self) -> impl std::future::Future<Output = Self::Output> {
        async {
            tokio::time::timeout(LONG, self)
                .await
                .expect("did not resolve: hung")
        }
    }
}

impl<F: std::future::Future> Within for F {}

/// Like [`Within`], in real time (for multi-thread runtimes, whose time
/// cannot be paused): 30 seconds.
pub trait RealWithin: std::future::Future + Sized {
    /// The output, or a panic after 30 s.
    fn real_within(self) -> impl std::future::Future<Output = Self::Output> {
        async {
            tokio::time::timeout(Duration::from_secs(30), self)
                .await
                .expect("did not resolve within 30 s: hung")
        }
    }
}

impl<F: std::future::Future> RealWithin for F {}

/// Lets every ready task run (the runtime is current-thread in most tests).
pub async fn settle() {
    for _ in 0..32 {
        tokio::task::yield_now().await;
    }
}

/// The number of spawned tasks still alive on the current runtime.
pub fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// An ordered record of port calls shared by the doubles.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    /// Appends an entry.
    pub fn push(&self, entry: impl Into<String>) {
        self.0.lock().push(entry.into());
    }

    /// A copy of all entries.
    pub fn entries(&self) -> Vec<String> {
        self.0.lock().clone()
    }

    /// Forgets all entries.
    pub fn clear(&self) {
        self.0.lock().clear();
    }
}

/// A one-shot barrier: waiters block until it is opened.
#[derive(Clone)]
pub struct Gate(Arc<watch::Sender<bool>>);

impl Default for Gate {
    fn default() -> Self {
        Self::new()
    }
}

impl Gate {
    /// A closed gate.
    pub fn new() -> Self {
        Self(Arc::new(watch::channel(false).0))
    }

    /// Opens it for good.
    pub fn open(&self) {
        self.0.send_replace(true);
    }

    /// Waits until it is open.
    pub async fn wait(&self) {
        let mut rx = self.0.subscribe();
        // The sender lives in `self`, so this cannot fail.
        let _ = rx.wait_for(|open| *open).await;
    }
}

type Handlers = Arc<Mutex<Vec<(u64, InvalidationHandler)>>>;
type UnsubscribeHook = Arc<Mutex<Option<Arc<dyn Fn() + Send + Sync>>>>;

/// An in-test invalidation bus with synchronous delivery.
pub struct Bus {
    log: Log,
    handlers: Handlers,
    next_id: AtomicU64,
    subscribe_calls: AtomicUsize,
    unsubscribe_calls: Arc<AtomicUsize>,
    fail_subscribe: Mutex<VecDeque<PortError>>,
    subscribe_gate: Mutex<Option<Gate>>,
    on_unsubscribe: UnsubscribeHook,
}

impl Bus {
    fn new(log: Log) -> Self {
        Self {
            log,
            handlers: Arc::default(),
            next_id: AtomicU64::new(0),
            subscribe_calls: AtomicUsize::new(0),
            unsubscribe_calls: Arc::default(),
            fail_subscribe: Mutex::default(),
            subscribe_gate: Mutex::default(),
            on_unsubscribe: Arc::default(),
        }
    }

    /// Delivers `payload` to every active handler, synchronously.
    pub fn emit(&self, payload: &Value) {
        let handlers: Vec<InvalidationHandler> = self
            .handlers
            .lock()
            .iter()
            .map(|(_, h)| h.clone())
            .collect();
        for handler in handlers {
            handler(payload);
        }
    }

    /// The handler of the first active subscription.
    pub fn handler(&self) -> InvalidationHandler {
        self.handlers
            .lock()
            .first()
            .map(|(_, h)| h.clone())
            .expect("an active subscription")
    }

    /// Active subscriptions.
    pub fn active(&self) -> usize {
        self.handlers.lock().len()
    }

    /// How often `subscribe` was called.
    pub fn subscribe_calls(&self) -> usize {
        self.subscribe_calls.load(Ordering::SeqCst)
    }

    /// How often a subscription was ended.
    pub fn unsubscribe_calls(&self) -> usize {
        self.unsubscribe_calls.load(Ordering::SeqCst)
    }

    /// Makes the next `subscribe` call fail with `message`.
    pub fn fail_next_subscribe(&self, message: &str) {
        self.fail_subscribe
            .lock()
            .push_back(PortError::new(message));
    }

    /// Makes `subscribe` wait for `gate` before it resolves.
    pub fn hold_subscribe(&self, gate: Option<Gate>) {
        *self.subscribe_gate.lock() = gate;
    }

    /// Runs `hook` inside every unsubscribe, after the handler is removed.
    pub fn on_unsubscribe(&self, hook: impl Fn() + Send + Sync + 'static) {
        *self.on_unsubscribe.lock() = Some(Arc::new(hook));
    }
}

impl InvalidationSubscriber for Bus {
    fn subscribe(
        &self,
        handler: InvalidationHandler,
    ) -> BoxFuture<'_, Result<Subscription, PortError>> {
        self.subscribe_calls.fetch_add(1, Ordering::SeqCst);
        self.log.push("subscribe");
        let failure = self.fail_subscribe.lock().pop_front();
        let gate = self.subscribe_gate.lock().clone();
        Box::pin(async move {
            if let Some(gate) = gate {
                gate.wait().await;
            }
            if let Some(error) = failure {
                return Err(error);
            }
            let id = self.next_id.fetch_add(1, Ordering::SeqCst);
            self.handlers.lock().push((id, handler));
            let handlers = self.handlers.clone();
            let calls = self.unsubscribe_calls.clone();
            let log = self.log.clone();
            let hook = self.on_unsubscribe.clone();
            Ok(Subscription::new(move || {
                handlers.lock().retain(|(i, _)| *i != id);
                calls.fetch_add(1, Ordering::SeqCst);
                log.push("unsubscribe");
                let hook = hook.lock().clone();
                if let Some(hook) = hook {
                    hook();
                }
            }))
        })
    }
}

/// One scripted answer of the [`Provider`].
pub enum Step {
    /// A snapshot at this revision.
    Rev(u64),
    /// This raw payload.
    Raw(Value),
    /// A failure with this message.
    Fail(String),
    /// Never answers.
    Hang,
    /// Waits (virtual time), then answers with the inner step.
    After(Duration, Box<Step>),
    /// Waits for the gate, then answers with the inner step.
    Gated(Gate, Box<Step>),
    /// Runs the closure when the answer is produced (after any wait), then
    /// answers with the inner step.
    Then(Arc<dyn Fn() + Send + Sync>, Box<Step>),
}

/// What the [`Provider`] answers once the script is used up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The source revision at the time of the call.
    Current,
    /// The source revision at the time of the previous call (the first call
    /// gets the current one): a replica one fetch behind.
    LagOneFetch,
    /// Always this revision.
    Stuck(u64),
    /// Always fails.
    Failing,
}

/// A scripted snapshot provider.
pub struct Provider {
    log: Log,
    source: AtomicU64,
    mode: Mutex<Mode>,
    previous: Mutex<Option<u64>>,
    script: Mutex<VecDeque<Step>>,
    gate: Mutex<Option<Gate>>,
    calls: AtomicUsize,
    call_times: Mutex<Vec<Instant>>,
}

impl Provider {
    fn new(log: Log) -> Self {
        Self {
            log,
            source: AtomicU64::new(0),
            mode: Mutex::new(Mode::Current),
            previous: Mutex::new(None),
            script: Mutex::default(),
            gate: Mutex::default(),
            calls: AtomicUsize::new(0),
            call_times: Mutex::default(),
        }
    }

    /// Sets the source revision the default mode serves.
    pub fn set_revision(&self, revision: u64) {
        self.source.store(revision, Ordering::SeqCst);
    }

    /// Moves the source to the next revision and returns it.
    pub fn bump(&self) -> u64 {
        self.source.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// The source revision.
    pub fn revision(&self) -> u64 {
        self.source.load(Ordering::SeqCst)
    }

    /// Sets the default mode.
    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock() = mode;
    }

    /// Queues scripted answers (used before the default mode).
    pub fn script(&self, steps: impl IntoIterator<Item = Step>) {
        self.script.lock().extend(steps);
    }

    /// Makes every default-mode answer wait for `gate` (`None`: no wait).
    pub fn hold(&self, gate: Option<Gate>) {
        *self.gate.lock() = gate;
    }

    /// How often `get_snapshot` was called.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// When each call was made (virtual time).
    pub fn call_times(&self) -> Vec<Instant> {
        self.call_times.lock().clone()
    }

    fn default_step(&self) -> Step {
        let current = self.revision();
        let mode = *self.mode.lock();
        let step = match mode {
            Mode::Current => Step::Rev(current),
            Mode::LagOneFetch => {
                let previous = self.previous.lock().replace(current);
                Step::Rev(previous.unwrap_or(current))
            }
            Mode::Stuck(revision) => Step::Rev(revision),
            Mode::Failing => Step::Fail("source unavailable".to_owned()),
        };
        match self.gate.lock().clone() {
            Some(gate) => Step::Gated(gate, Box::new(step)),
            None => step,
        }
    }
}

async fn answer(mut step: Step) -> Result<Value, PortError> {
    loop {
        step = match step {
            Step::Rev(revision) => return Ok(snapshot(revision)),
            Step::Raw(value) => return Ok(value),
            Step::Fail(message) => return Err(PortError::new(message)),
            Step::Hang => futures::future::pending().await,
            Step::After(delay, next) => {
                tokio::time::sleep(delay).await;
                *next
            }
            Step::Gated(gate, next) => {
                gate.wait().await;
                *next
            }
            Step::Then(hook, next) => {
                hook();
                *next
            }
        };
    }
}

impl SnapshotProvider for Provider {
    fn get_snapshot(&self) -> BoxFuture<'_, Result<Value, PortError>> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        self.call_times.lock().push(Instant::now());
        self.log.push(format!("fetch#{n}"));
        let scripted = self.script.lock().pop_front();
        let step = scripted.unwrap_or_else(|| self.default_step());
        Box::pin(answer(step))
    }
}

type Hook = Arc<dyn Fn(Revision) + Send + Sync>;

/// A recording applier.
pub struct Recorder {
    log: Log,
    applied: Mutex<Vec<SnapshotEnvelope<Value>>>,
    calls: AtomicUsize,
    finished: AtomicUsize,
    running: AtomicUsize,
    max_running: AtomicUsize,
    failures: Mutex<VecDeque<String>>,
    delay: Mutex<Option<Duration>>,
    gate: Mutex<Option<Gate>>,
    sync_hook: Mutex<Option<Hook>>,
    latest: watch::Sender<Option<Revision>>,
}

impl Recorder {
    /// A recorder writing to `log`.
    pub fn new(log: Log) -> Self {
        Self {
            log,
            applied: Mutex::default(),
            calls: AtomicUsize::new(0),
            finished: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            max_running: AtomicUsize::new(0),
            failures: Mutex::default(),
            delay: Mutex::default(),
            gate: Mutex::default(),
            sync_hook: Mutex::default(),
            latest: watch::channel(None).0,
        }
    }

    /// The revisions applied successfully, in order.
    pub fn revisions(&self) -> Vec<u64> {
        self.applied
            .lock()
            .iter()
            .map(|s| s.revision.get())
            .collect()
    }

    /// The snapshots applied successfully, in order.
    pub fn applied(&self) -> Vec<SnapshotEnvelope<Value>> {
        self.applied.lock().clone()
    }

    /// How often `apply` was called (failures included).
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// How many `apply` futures ran to completion.
    pub fn finished(&self) -> usize {
        self.finished.load(Ordering::SeqCst)
    }

    /// The most `apply` futures ever running at once.
    pub fn max_running(&self) -> usize {
        self.max_running.load(Ordering::SeqCst)
    }

    /// Makes the next `apply` fail with `message`.
    pub fn fail_next(&self, message: &str) {
        self.failures.lock().push_back(message.to_owned());
    }

    /// Makes every `apply` take `delay` (virtual time).
    pub fn slow(&self, delay: Option<Duration>) {
        *self.delay.lock() = delay;
    }

    /// Makes every `apply` wait for `gate`.
    pub fn hold(&self, gate: Option<Gate>) {
        *self.gate.lock() = gate;
    }

    /// Calls `hook` synchronously inside `apply`, before its future is
    /// returned (as a closure-based applier would).
    pub fn on_apply(&self, hook: impl Fn(Revision) + Send + Sync + 'static) {
        *self.sync_hook.lock() = Some(Arc::new(hook));
    }

    /// Waits until a snapshot at `revision` or later was applied.
    pub async fn wait_for(&self, revision: u64) {
        let mut rx = self.latest.subscribe();
        let _ = rx
            .wait_for(|r| r.is_some_and(|r| r.get() >= revision))
            .await;
    }
}

impl SnapshotApplier<Value> for Recorder {
    fn apply(&self, snapshot: SnapshotEnvelope<Value>) -> BoxFuture<'_, Result<(), PortError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let revision = snapshot.revision;
        self.log.push(format!("apply:{revision}"));
        let hook = self.sync_hook.lock().clone();
        if let Some(hook) = hook {
            hook(revision);
        }
        let failure = self.failures.lock().pop_front();
        let delay = *self.delay.lock();
        let gate = self.gate.lock().clone();
        Box::pin(async move {
            let running = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_running.fetch_max(running, Ordering::SeqCst);
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            if let Some(gate) = gate {
                gate.wait().await;
            }
            self.running.fetch_sub(1, Ordering::SeqCst);
            self.finished.fetch_add(1, Ordering::SeqCst);
            if let Some(message) = failure {
                return Err(PortError::new(message));
            }
            self.applied.lock().push(snapshot);
            self.latest.send_replace(Some(revision));
            Ok(())
        })
    }
}

/// Collects every error the engine reports.
#[derive(Clone, Default)]
pub struct Errors(Arc<Mutex<Vec<ErrorContext>>>);

impl Errors {
    /// The hook to install with `on_error`.
    pub fn hook(&self) -> impl Fn(&ErrorContext) + Send + Sync + 'static {
        let list = self.0.clone();
        move |ctx: &ErrorContext| list.lock().push(ctx.clone())
    }

    /// All reported contexts.
    pub fn all(&self) -> Vec<ErrorContext> {
        self.0.lock().clone()
    }

    /// The phases of all reported errors.
    pub fn phases(&self) -> Vec<Phase> {
        self.0.lock().iter().map(|c| c.phase).collect()
    }

    /// Forgets what was collected.
    pub fn clear(&self) {
        self.0.lock().clear();
    }
}

/// A bus, a provider, an applier and an error list wired together.
pub struct Harness {
    /// The shared call log.
    pub log: Log,
    /// The subscriber.
    pub bus: Arc<Bus>,
    /// The snapshot provider.
    pub provider: Arc<Provider>,
    /// The applier.
    pub applier: Arc<Recorder>,
    /// The reported errors.
    pub errors: Errors,
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

impl Harness {
    /// Fresh doubles; the provider serves revision 0.
    pub fn new() -> Self {
        let log = Log::default();
        Self {
            bus: Arc::new(Bus::new(log.clone())),
            provider: Arc::new(Provider::new(log.clone())),
            applier: Arc::new(Recorder::new(log.clone())),
            errors: Errors::default(),
            log,
        }
    }

    /// A builder for [`TOPIC`] with the error hook installed.
    pub fn builder(&self) -> RevisionSyncBuilder<Value> {
        RevisionSync::builder(
            TOPIC,
            self.bus.clone(),
            self.provider.clone(),
            self.applier.clone(),
        )
        .on_error(self.errors.hook())
    }

    /// A builder whose provider is wrapped by `wrap` (for example
    /// `with_retry`).
    pub fn builder_with<P: SnapshotProvider>(
        &self,
        wrap: impl FnOnce(Arc<Provider>) -> P,
    ) -> RevisionSyncBuilder<Value> {
        RevisionSync::builder(
            TOPIC,
            self.bus.clone(),
            wrap(self.provider.clone()),
            self.applier.clone(),
        )
        .on_error(self.errors.hook())
    }

    /// An engine for [`TOPIC`] with default options.
    pub fn engine(&self) -> RevisionSync<Value> {
        self.builder().build()
    }

    /// Sets the source revision and emits the matching invalidation.
    pub fn publish(&self, revision: u64) {
        self.provider.set_revision(revision);
        self.bus.emit(&event(TOPIC, revision));
    }
}

/// Runs `scenario` on a fresh current-thread runtime with paused time on
/// another thread, and fails (instead of hanging) if it does not finish
/// within `limit` of real time — for tests whose failure mode is a deadlock.
pub fn deadlock_guard<F>(limit: Duration, scenario: impl FnOnce() -> F + Send + 'static)
where
    F: std::future::Future<Output = ()>,
{
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("runtime");
        runtime.block_on(scenario());
        let _ = done_tx.send(());
    });
    match done_rx.recv_timeout(limit) {
        Ok(()) => {}
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("scenario did not finish within {limit:?}: deadlock")
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            panic!("scenario panicked")
        }
    }
}
