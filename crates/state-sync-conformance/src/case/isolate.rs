//! Isolation: every case gets its own thread and a fresh current-thread
//! tokio runtime on paused time, so virtual time only moves when everything
//! is idle and a case costs microseconds of wall time however many virtual
//! seconds it spans. A real-time watchdog catches a transport that blocks
//! the thread; a panic anywhere in the case (a spawned task included) is
//! captured and gives `error`, and so does a panic on a blocking thread of
//! the case's runtime (`spawn_blocking`), charged to that case alone. A
//! panic on any other thread while the case runs (a transport's own I/O
//! thread) gives `error` too — charged to every case running at that
//! moment, since a thread the kit did not start cannot be traced to one.
//! The suite always goes on.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Once, mpsc};
use std::time::Duration;

use parking_lot::Mutex;
use state_sync::ports::panic_message;

use crate::activity::Activity;
use crate::spec::Spec;
use crate::trace::Trace;
use crate::transport::Transport;
use crate::verdict::Verdict;

use super::outcome::{DELIBERATE, Outcome};
use super::steps::Case;

/// The stack of a case thread: deeply nested payloads are cloned and
/// dropped recursively.
const CASE_STACK_BYTES: usize = 16 << 20;

/// Runs the case on its own thread, within `watchdog` of real time.
pub(super) fn run(spec: &Spec, transport: &Transport, seed: u64, watchdog: Duration) -> Outcome {
    let (tx, rx) = mpsc::channel();
    let activity = if transport.runs_on_real_time() {
        Activity::on_real_time()
    } else {
        Activity::default()
    };
    let (spec, transport, case_activity) = (spec.clone(), transport.clone(), activity.clone());
    let spawned = std::thread::Builder::new()
        .name(format!("case {}::{}", transport.name(), spec.id))
        .stack_size(CASE_STACK_BYTES)
        .spawn(move || {
            let outcome = run_on_this_thread(&spec, &transport, seed, case_activity);
            // The receiver may have given up (watchdog): nothing to do then.
            let _ = tx.send(outcome);
        });
    match spawned {
        Err(e) => Outcome::broken(
            Verdict::Error,
            format!("could not start the case thread: {e}"),
        ),
        Ok(_) => rx
            .recv_timeout(watchdog)
            .unwrap_or_else(|_| Outcome::broken(Verdict::Timeout, stuck(&activity, watchdog))),
    }
}

/// Why a case that the watchdog stopped did not finish.
fn stuck(activity: &Activity, watchdog: Duration) -> String {
    let limit = format!(
        "the case did not finish within {} s of real time",
        watchdog.as_secs()
    );
    let in_flight = activity.in_flight();
    match activity.idle_for() {
        None => format!(
            "{limit}: the case's thread is blocked — a call into the transport (emit, window_ends, serve, a subscription's end) or a handler it called did not return; never block the thread, wait with tokio"
        ),
        Some(_) if !in_flight.is_empty() => format!(
            "{limit}: the transport never finished {} (virtual time was held still meanwhile)",
            in_flight.join(", ")
        ),
        Some(idle) => format!(
            "{limit}: the case's runtime has been idle for {} ms with nothing in flight",
            idle.as_millis()
        ),
    }
}

fn run_on_this_thread(
    spec: &Spec,
    transport: &Transport,
    seed: u64,
    activity: Activity,
) -> Outcome {
    capture_panics_on_this_thread();
    let foreign = ForeignPanics::watch();
    let case = foreign.id;
    let _current = crate::activity::enter(&activity);
    let (parking, unparked, watched) = (activity.clone(), activity.clone(), activity.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .start_paused(!transport.runs_on_real_time())
        .on_thread_start(move || CASE_OF_THREAD.with(|c| c.set(Some(case))))
        .on_thread_park(move || parking.parking())
        .on_thread_unpark(move || unparked.unparked())
        .build();
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            return Outcome::broken(
                Verdict::Error,
                format!("could not build the tokio runtime: {e}"),
            );
        }
    };
    let trace_slot: Arc<parking_lot::Mutex<Option<Trace>>> = Arc::default();
    let slot = trace_slot.clone();
    let ran = catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(async move {
            match Case::new(spec, transport, seed, activity) {
                Ok(case) => {
                    *slot.lock() = Some(case.trace.clone());
                    case.run().await
                }
                Err(why) => Outcome::broken(Verdict::Error, why),
            }
        })
    }));
    // Tasks still pending (hung fetches, delayed events) are dropped here.
    let dropped = catch_unwind(AssertUnwindSafe(move || drop(runtime)));
    let mut panicked = take_captured();
    panicked.extend(foreign.take());
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
        Err(payload) => {
            let message = panic_message(&*payload);
            Outcome {
                verdict: Verdict::Error,
                // The panic hook recorded the message with its location.
                failures: if panicked.iter().any(|m| m.starts_with(message)) {
                    Vec::new()
                } else {
                    vec![format!("panicked: {message}")]
                },
                trace,
                virtual_ms: 0,
                waited_on_real_time: false,
            }
        }
    };
    if dropped.is_err() && outcome.verdict != Verdict::Error {
        outcome.verdict = Verdict::Error;
        outcome
            .failures
            .push("panicked while shutting the case down".to_owned());
    }
    outcome.waited_on_real_time = watched.waited_on_real_time();
    if !panicked.is_empty() {
        outcome.verdict = Verdict::Error;
        for p in panicked {
            let line = format!("panic: {p}");
            if !outcome.failures.contains(&line) {
                outcome.failures.push(line);
            }
        }
    }
    outcome
}

thread_local! {
    /// The panics recorded on this thread, when it asked for capture.
    static CAPTURED: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
    /// The case whose runtime started this thread (its blocking pool).
    static CASE_OF_THREAD: Cell<Option<u64>> = const { Cell::new(None) };
}

static INSTALL: Once = Once::new();

/// Starts recording the panics raised on the current thread — in a case
/// thread, spawned tasks run here too, and tokio would otherwise swallow
/// their panics. A process-wide hook, installed once, keeps captured panics
/// off stderr; a panic on a blocking thread of a case's runtime is recorded
/// for that case; one on any other thread is recorded for every running
/// case and still goes to the previous hook. Deliberate panics are not
/// recorded.
fn capture_panics_on_this_thread() {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = panic_message(info.payload());
            let at = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let deliberate = message.starts_with(DELIBERATE);
            let captured = CAPTURED.with(|c| match c.borrow_mut().as_mut() {
                Some(list) => {
                    if !deliberate {
                        list.push(format!("{message}{at}"));
                    }
                    true
                }
                None => false,
            });
            if !captured && !deliberate {
                let thread = std::thread::current();
                let name = thread.name().unwrap_or("unnamed");
                let line = format!("on thread {name:?}: {message}{at}");
                match CASE_OF_THREAD.with(Cell::get) {
                    // A blocking thread of a case's runtime: that case's.
                    Some(case) => ForeignPanics::record_for(case, line),
                    // Another thread: every running case hears of it, and so
                    // does the previous hook (a test harness's own panic must
                    // not be lost to a case that happened to be running).
                    None => {
                        ForeignPanics::record(&line);
                        previous(info);
                    }
                }
            }
        }));
    });
    CAPTURED.with(|c| *c.borrow_mut() = Some(Vec::new()));
}

/// The panics recorded on this thread so far (and clears them).
fn take_captured() -> Vec<String> {
    CAPTURED.with(|c| {
        c.borrow_mut()
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    })
}

/// The cases running now, each with the panics seen on threads that are
/// not case threads since it started.
static RUNNING: Mutex<BTreeMap<u64, Vec<String>>> = Mutex::new(BTreeMap::new());
static NEXT_CASE: AtomicU64 = AtomicU64::new(0);

/// One running case's share of the panics on other threads; stops
/// collecting when dropped.
struct ForeignPanics {
    id: u64,
}

impl ForeignPanics {
    fn watch() -> Self {
        let id = NEXT_CASE.fetch_add(1, Ordering::Relaxed);
        RUNNING.lock().insert(id, Vec::new());
        Self { id }
    }

    /// Records a panic for the running case `id` alone.
    fn record_for(id: u64, panic: String) {
        if let Some(panics) = RUNNING.lock().get_mut(&id) {
            panics.push(panic);
        }
    }

    /// Records a panic for every running case.
    fn record(panic: &str) {
        for panics in RUNNING.lock().values_mut() {
            panics.push(panic.to_owned());
        }
    }

    /// The panics seen so far (and clears them).
    fn take(&self) -> Vec<String> {
        RUNNING
            .lock()
            .get_mut(&self.id)
            .map(std::mem::take)
            .unwrap_or_default()
    }
}

impl Drop for ForeignPanics {
    fn drop(&mut self) {
        RUNNING.lock().remove(&self.id);
    }
}
