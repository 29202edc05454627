//! Transports that do their work away from the case's thread, as real ones
//! do: the kit runs a correct one unchanged — no acknowledgements, no
//! blocking — and gives the right verdict, with a clear message, to one that
//! panics on its own thread, one whose backend process dies mid-case and one
//! that never answers; a panic in a blocking task of one case's runtime is
//! charged to that case, not to one running beside it.

mod outcomes;

use std::collections::HashMap;
use std::process::Command;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::Value;
use state_sync::{
    BoxFuture, InvalidationHandler, InvalidationSubscriber, PortError, SnapshotProvider,
    Subscription,
};
use state_sync_conformance::{
    Backend, Capabilities, CaseResult, RunOptions, SnapshotHandler, Spec, Suite, Transport,
    Verdict, WindowEnds, run_case,
};
use state_sync_transports::ipc::ChildBackend;
use tokio::sync::oneshot;

/// How a [`ThreadBus`] behaves.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Correctly.
    Correct,
    /// Its thread panics on the first emit.
    PanicOnEmit,
    /// Snapshot requests are never answered.
    NeverAnswers,
}

enum Job {
    Subscribe {
        id: u64,
        handler: InvalidationHandler,
        done: oneshot::Sender<()>,
    },
    Unsubscribe(u64),
    Emit(Value),
    Snapshot {
        topic: String,
        done: oneshot::Sender<Result<Value, PortError>>,
    },
    Settle(oneshot::Sender<()>),
    /// The bus is dropped: stop, even while window ends still hold senders.
    Shutdown,
}

/// A transport written as one with an I/O thread of its own would be:
/// every call is a message to a plain `std::thread`, which registers
/// subscriptions, calls the handlers and answers snapshot requests. Only
/// `subscribe` and a snapshot request wait for an answer; `emit` and
/// `unsubscribe` return at once.
struct ThreadBus {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    handler: Arc<Mutex<Option<SnapshotHandler>>>,
    subscriptions: Arc<AtomicUsize>,
    ids: Arc<AtomicU64>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl ThreadBus {
    fn new(mode: Mode) -> Self {
        let (jobs, received) = mpsc::channel();
        let handler: Arc<Mutex<Option<SnapshotHandler>>> = Arc::default();
        let subscriptions = Arc::new(AtomicUsize::new(0));
        let worker = {
            let (handler, subscriptions) = (handler.clone(), subscriptions.clone());
            // The corpus sends payloads nested 10 000 deep: they are
            // cloned and dropped here, recursively.
            std::thread::Builder::new()
                .name("thread-bus-io".to_owned())
                .stack_size(64 << 20)
                .spawn(move || work(mode, &received, &handler, &subscriptions))
                .expect("the I/O thread")
        };
        Self {
            jobs: Mutex::new(Some(jobs)),
            handler,
            subscriptions,
            ids: Arc::default(),
            worker: Mutex::new(Some(worker)),
        }
    }

    fn sender(&self) -> Option<mpsc::Sender<Job>> {
        self.jobs.lock().clone()
    }
}

/// The I/O thread.
fn work(
    mode: Mode,
    jobs: &mpsc::Receiver<Job>,
    handler: &Mutex<Option<SnapshotHandler>>,
    subscriptions: &AtomicUsize,
) {
    let mut handlers: HashMap<u64, InvalidationHandler> = HashMap::new();
    let mut unanswered = Vec::new();
    while let Ok(job) = jobs.recv() {
        match job {
            Job::Subscribe { id, handler, done } => {
                handlers.insert(id, handler);
                subscriptions.fetch_add(1, Ordering::AcqRel);
                let _ = done.send(());
            }
            Job::Unsubscribe(id) => {
                if handlers.remove(&id).is_some() {
                    subscriptions.fetch_sub(1, Ordering::AcqRel);
                }
            }
            Job::Emit(payload) => {
                assert!(
                    mode != Mode::PanicOnEmit,
                    "transport bug: the I/O thread panicked on emit"
                );
                for handler in handlers.values() {
                    handler(&payload);
                }
            }
            Job::Snapshot { topic, done } => {
                if mode == Mode::NeverAnswers {
                    unanswered.push(done);
                    continue;
                }
                let served = handler.lock().clone();
                let result = match served {
                    Some(served) => futures::executor::block_on(served.call(topic)),
                    None => Err(PortError::new("no snapshot handler")),
                };
                let _ = done.send(result);
            }
            Job::Settle(done) => {
                let _ = done.send(());
            }
            Job::Shutdown => return,
        }
    }
}

impl Drop for ThreadBus {
    fn drop(&mut self) {
        if let Some(jobs) = self.jobs.lock().take() {
            let _ = jobs.send(Job::Shutdown);
        }
        // The last reference may go on the I/O thread itself (with a
        // handler it drops): a thread cannot join itself.
        if let Some(worker) = self.worker.lock().take()
            && worker.thread().id() != std::thread::current().id()
        {
            let _ = worker.join();
        }
    }
}

struct ThreadWindow {
    jobs: Option<mpsc::Sender<Job>>,
    topic: String,
    ids: Arc<AtomicU64>,
}

fn gone() -> PortError {
    PortError::new("the I/O thread has stopped")
}

impl InvalidationSubscriber for ThreadWindow {
    fn subscribe(
        &self,
        handler: InvalidationHandler,
    ) -> BoxFuture<'_, Result<Subscription, PortError>> {
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        Box::pin(async move {
            let jobs = self.jobs.clone().ok_or_else(gone)?;
            let (done, subscribed) = oneshot::channel();
            jobs.send(Job::Subscribe { id, handler, done })
                .map_err(|_| gone())?;
            subscribed.await.map_err(|_| gone())?;
            Ok(Subscription::new(move || {
                let _ = jobs.send(Job::Unsubscribe(id));
            }))
        })
    }
}

impl SnapshotProvider for ThreadWindow {
    fn get_snapshot(&self) -> BoxFuture<'_, Result<Value, PortError>> {
        Box::pin(async move {
            let jobs = self.jobs.clone().ok_or_else(gone)?;
            let (done, answered) = oneshot::channel();
            jobs.send(Job::Snapshot {
                topic: self.topic.clone(),
                done,
            })
            .map_err(|_| gone())?;
            answered.await.map_err(|_| gone())?
        })
    }
}

impl Backend for ThreadBus {
    fn emit(&self, payload: &Value) {
        if let Some(jobs) = self.sender() {
            let _ = jobs.send(Job::Emit(payload.clone()));
        }
    }

    fn serve(&self, handler: SnapshotHandler) {
        *self.handler.lock() = Some(handler);
    }

    fn window_ends(&self, _label: &str, topic: &str) -> WindowEnds {
        WindowEnds::of(ThreadWindow {
            jobs: self.sender(),
            topic: topic.to_owned(),
            ids: self.ids.clone(),
        })
    }

    fn active_subscriptions(&self) -> Option<usize> {
        Some(self.subscriptions.load(Ordering::Acquire))
    }

    fn settle(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let (done, settled) = oneshot::channel();
            if let Some(jobs) = self.sender()
                && jobs.send(Job::Settle(done)).is_ok()
            {
                let _ = settled.await;
            }
        })
    }
}

fn thread_bus(mode: Mode) -> Transport {
    Transport::new("thread-bus", move || ThreadBus::new(mode)).with_capabilities(
        Capabilities::all().without(state_sync_conformance::Capability::SynchronousDelivery),
    )
}

fn spec(text: &str) -> Spec {
    state_sync_conformance::corpus::parse_spec(text, "test").expect("valid spec")
}

/// Starts a window, then changes the source twice.
const CHANGES: &str = r#"{"id": "t", "title": "t", "clauses": ["LIFE-1"], "level": "must",
    "steps": [
        {"open": {"window": "a"}},
        {"start": {"window": "a"}},
        {"settle": {}},
        {"mutate": {}},
        {"settle": {}},
        {"mutate": {}},
        {"settle": {}},
        {"expect": {"window": "a", "local_revision": "2", "converged": true}}
    ]}"#;

/// The tests of this file run one at a time: a panic on a thread the kit
/// does not own is charged to every case running at that moment, and a
/// failed assertion of one test would be charged to another's case.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn run(text: &str, transport: &Transport) -> CaseResult {
    run_case(&spec(text), transport, &RunOptions::default())
}

#[test]
fn a_transport_that_works_on_its_own_thread_passes_the_whole_corpus() {
    let _one = ONE_AT_A_TIME.lock();
    let report = Suite::new()
        .transport(thread_bus(Mode::Correct))
        .run()
        .expect("the corpus runs");
    // Unsupported: the specs that need synchronous delivery, which it does
    // not claim, or a broker to restart, which it has not.
    let not_passed: Vec<String> = report
        .cases
        .iter()
        .filter(|c| {
            c.verdict != Verdict::Pass
                && !(c.verdict == Verdict::Unsupported
                    && (c.missing == ["synchronous-delivery"] || c.missing == ["restarts"]))
        })
        .map(CaseResult::explain)
        .collect();
    assert!(not_passed.is_empty(), "{}", not_passed.join("\n\n"));
    assert!(report.cases.len() >= 130, "{} cases", report.cases.len());
}

#[test]
fn a_panic_on_the_transports_own_thread_is_an_error_naming_the_thread() {
    let _one = ONE_AT_A_TIME.lock();
    let r = run(CHANGES, &thread_bus(Mode::PanicOnEmit));
    assert_eq!(r.verdict, Verdict::Error, "{}", r.explain());
    assert!(
        r.failures
            .iter()
            .any(|f| f.contains("on thread \"thread-bus-io\"")
                && f.contains("transport bug: the I/O thread panicked on emit")),
        "{:?}",
        r.failures
    );
}

#[test]
fn a_transport_that_never_answers_times_out_at_the_hang_limit_naming_the_request() {
    let _one = ONE_AT_A_TIME.lock();
    let limit = Duration::from_secs(1);
    let options = RunOptions::default().with_hang_limit(limit);
    let started = Instant::now();
    let r = run_case(&spec(CHANGES), &thread_bus(Mode::NeverAnswers), &options);
    outcomes::assert_hung(&r, "a snapshot request of window \"a\"", limit, started);
}

/// A backend that runs `after_emit` (on the case's thread, inside its
/// runtime) after each of its emits, and is `inner` otherwise.
struct AfterEmit<B> {
    inner: B,
    after_emit: Box<dyn Fn(&B) + Send + Sync>,
}

impl<B: Backend> AfterEmit<B> {
    fn new(inner: B, after_emit: impl Fn(&B) + Send + Sync + 'static) -> Self {
        Self {
            inner,
            after_emit: Box::new(after_emit),
        }
    }
}

impl<B: Backend> Backend for AfterEmit<B> {
    fn emit(&self, payload: &Value) {
        self.inner.emit(payload);
        (self.after_emit)(&self.inner);
    }
    fn serve(&self, handler: SnapshotHandler) {
        self.inner.serve(handler);
    }
    fn window_ends(&self, label: &str, topic: &str) -> WindowEnds {
        self.inner.window_ends(label, topic)
    }
    fn active_subscriptions(&self) -> Option<usize> {
        self.inner.active_subscriptions()
    }
    fn settle(&self) -> BoxFuture<'_, ()> {
        self.inner.settle()
    }
    fn failure(&self) -> Option<String> {
        self.inner.failure()
    }
}

#[cfg(unix)]
#[test]
fn a_backend_process_that_dies_mid_case_is_an_error_with_its_exit_status() {
    let _one = ONE_AT_A_TIME.lock();
    let transport = Transport::try_new("dying-child", || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_state-sync-conformance"));
        command.arg("ipc-backend");
        // Killed after its first emit.
        ChildBackend::spawn(command).map(|inner| {
            let emits = AtomicU32::new(0);
            AfterEmit::new(inner, move |child: &ChildBackend| {
                if emits.fetch_add(1, Ordering::AcqRel) == 0
                    && let Some(pid) = child.id()
                {
                    let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
                }
            })
        })
    })
    .with_capabilities(Capabilities::all());
    let r = run(CHANGES, &transport);
    assert_eq!(r.verdict, Verdict::Error, "{}", r.explain());
    let failure = &r.failures[0];
    assert!(
        failure.starts_with("the transport failed (seen after step "),
        "{failure}"
    );
    assert!(failure.contains("exited (signal: 9"), "{failure}");
}

#[test]
fn a_backend_that_does_not_open_is_an_error_with_the_reason() {
    let _one = ONE_AT_A_TIME.lock();
    let transport = Transport::try_new("no-backend", || {
        ChildBackend::spawn(Command::new("/nonexistent/state-sync-backend"))
    });
    let r = run(CHANGES, &transport);
    assert_eq!(r.verdict, Verdict::Error, "{}", r.explain());
    assert!(
        r.failures[0].starts_with("the transport's backend did not open: cannot start the backend process /nonexistent/state-sync-backend"),
        "{:?}",
        r.failures
    );
}

/// On real time, every spec runs but those whose timing is exact to the
/// millisecond (and those that need a capability ipc does not claim), and
/// passes: exact timing leaves out at most 10% of the corpus.
#[test]
fn the_ipc_transport_on_real_time_passes_every_spec_that_does_not_need_virtual_time() {
    let _one = ONE_AT_A_TIME.lock();
    let started = Instant::now();
    let report = Suite::new()
        .transport(state_sync_conformance::reference::ipc().on_real_time())
        .run()
        .expect("the corpus runs");
    let wrong = outcomes::neither_passed_nor_unsupported(&report);
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
    let unsupported: Vec<&CaseResult> = report
        .cases
        .iter()
        .filter(|c| c.verdict == Verdict::Unsupported)
        .collect();
    assert!(
        unsupported.iter().all(|c| c.missing.iter().all(|m| m
            == state_sync_conformance::VIRTUAL_TIME
            || m == "synchronous-delivery"
            || m == "exactly-once"
            || m == "restarts")),
        "only exact timing, or a capability ipc does not claim, makes a spec unsupported here"
    );
    let passed = report.cases.len() - unsupported.len();
    let took = started.elapsed();
    eprintln!(
        "ipc on real time: {passed} pass, {} unsupported, {:?} ({:.1} ms per case)",
        unsupported.len(),
        took,
        took.as_secs_f64() * 1000.0 / report.cases.len() as f64
    );
    let timing = outcomes::left_out_for_exact_timing(&report);
    assert!(
        timing * 10 <= report.cases.len(),
        "{timing} of {} specs left out on real time for their exact timing",
        report.cases.len()
    );
}

/// Two steps of the test below, each waited for by the other case.
static STEPS: (parking_lot::Mutex<(bool, bool)>, parking_lot::Condvar) = (
    parking_lot::Mutex::new((false, false)),
    parking_lot::Condvar::new(),
);

/// Waits (real time, bounded) until `done` holds of the steps.
fn wait_for(done: fn(&(bool, bool)) -> bool) {
    let mut steps = STEPS.0.lock();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done(&steps) {
        assert!(
            !STEPS.1.wait_until(&mut steps, deadline).timed_out(),
            "the other case never got there"
        );
    }
}

fn mark(step: fn(&mut (bool, bool))) {
    step(&mut STEPS.0.lock());
    STEPS.1.notify_all();
}

#[test]
fn a_panic_on_a_blocking_thread_of_one_case_is_charged_to_that_case_alone() {
    let _one = ONE_AT_A_TIME.lock();
    // After an emit, the bystander says it is running, then waits until the other
    // case's blocking task has panicked.
    let bystander = Transport::new("bystander", || {
        AfterEmit::new(state_sync_transports::memory::Bus::new(), |_| {
            mark(|s| s.0 = true);
            wait_for(|s| s.1);
        })
    });
    // After an emit, the culprit waits until the bystander runs, then panics in a
    // blocking task of its case's runtime.
    let culprit = Transport::new("culprit", || {
        AfterEmit::new(state_sync_transports::memory::Bus::new(), |_| {
            wait_for(|s| s.0);
            let task =
                tokio::task::spawn_blocking(|| panic!("transport bug: a blocking task panicked"));
            tokio::spawn(async move {
                let _ = task.await;
                mark(|s| s.1 = true);
            });
        })
    });
    let spec = spec(CHANGES);
    let (b, c) = std::thread::scope(|s| {
        let b = s.spawn(|| run_case(&spec, &bystander, &RunOptions::default()));
        let c = s.spawn(|| run_case(&spec, &culprit, &RunOptions::default()));
        (b.join().expect("bystander"), c.join().expect("culprit"))
    });
    assert_eq!(c.verdict, Verdict::Error, "{}", c.explain());
    assert!(
        c.failures
            .iter()
            .any(|f| f.contains("transport bug: a blocking task panicked")),
        "{:?}",
        c.failures
    );
    assert_eq!(b.verdict, Verdict::Pass, "{}", b.explain());
}
