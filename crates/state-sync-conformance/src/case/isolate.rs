//! Isolation: every case gets its own thread and a fresh current-thread
//! tokio runtime on paused time, so virtual time only moves when everything
//! is idle and a case costs microseconds of wall time however many virtual
//! seconds it spans. A watchdog on the calling thread ends a case that
//! makes no progress for the hang limit ([`RunOptions::hang_limit`]): one
//! waiting on work that never finishes is interrupted and ends as
//! `timeout` naming it, one whose thread is blocked is given up on; a
//! transport that reports a failure while the case waits on it ends it as
//! `error` at once. A panic anywhere in the case (a spawned task included) is
//! captured and gives `error`, and so does a panic on a thread the kit
//! started for the case — a blocking thread of its runtime
//! (`spawn_blocking`), a plain thread ending a subscription or dropping a
//! request ([`plain_thread`]) — charged to that case
//! alone. A
//! panic on any other thread while the case runs (a transport's own I/O
//! thread) gives `error` too — charged to every case running in the
//! process at that moment, since a thread the kit did not start cannot be
//! traced to one. The test harness runs one case per worker process, so
//! there it is charged to the case alone. The suite always goes on.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Once, mpsc};
use std::time::Duration;

use parking_lot::Mutex;
use state_sync::ports::panic_message;

use crate::activity::{Activity, Interrupt};
use crate::failure::Failure;
use crate::plain_thread;
use crate::spec::Spec;
use crate::trace::Trace;
use crate::transport::Transport;
use crate::verdict::Verdict;

use super::RunOptions;
use super::gate::Reading;
use super::outcome::{DELIBERATE, Outcome};
use super::steps::Case;

/// The stack of a case thread: deeply nested payloads are cloned and
/// dropped recursively.
const CASE_STACK_BYTES: usize = 16 << 20;

/// How often the watchdog looks at a running case.
const WATCH_EVERY: Duration = Duration::from_millis(100);

/// Runs the case on its own thread, watched (see the module docs).
/// Expectations reading what the target lacks (`skipping`) are not
/// checked.
pub(super) fn run(
    spec: &Spec,
    transport: &Transport,
    seed: u64,
    options: &RunOptions,
    skipping: &[Reading],
) -> Outcome {
    let (tx, rx) = mpsc::channel();
    let activity = Activity::new(transport.runs_on_real_time());
    let (spec, transport, case_activity) = (spec.clone(), transport.clone(), activity.clone());
    let skipping = skipping.to_vec();
    let hang_limit = options.hang_limit;
    let spawned = std::thread::Builder::new()
        .name(format!("case {}::{}", transport.name(), spec.id))
        .stack_size(CASE_STACK_BYTES)
        .spawn(move || {
            let outcome =
                run_on_this_thread(&spec, &transport, seed, case_activity, skipping, hang_limit);
            // The receiver may have given up (watchdog): nothing to do then.
            let _ = tx.send(outcome);
        });
    if let Err(e) = spawned {
        return Outcome::broken(
            Verdict::Error,
            format!("could not start the case thread: {e}"),
        );
    }
    let began = std::time::Instant::now();
    loop {
        match rx.recv_timeout(WATCH_EVERY) {
            Ok(outcome) => return outcome,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Outcome::broken(
                    Verdict::Error,
                    "the case's thread ended without a result".to_owned(),
                );
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if let Some(given_up) = watch(&activity, options, began.elapsed()) {
            return Outcome::broken(Verdict::Timeout, given_up);
        }
    }
}

/// One look at a running case: interrupts it when it hangs on work or its
/// transport failed, and gives up on it (why) when its thread does not
/// come back.
fn watch(activity: &Activity, options: &RunOptions, running: Duration) -> Option<String> {
    let limit = options.hang_limit;
    if running >= options.watchdog {
        return Some(format!(
            "the case did not finish within {} s of real time (the watchdog), although it kept making progress: a loop without end?",
            options.watchdog.as_secs()
        ));
    }
    let parked = activity.is_parked();
    if parked
        && activity.holds_time()
        && let Some(why) = activity.failure()
    {
        activity.interrupt(Interrupt::Failed(why));
    }
    let stalled = activity.stalled_for();
    if stalled < limit {
        return None;
    }
    if activity.was_interrupted() {
        // Interrupted, and still not back after another limit: its thread
        // is stuck ending the case (a transport's drop that blocks).
        return (stalled >= 2 * limit).then(|| stuck(activity, stalled, false));
    }
    if parked {
        activity.interrupt(Interrupt::Hung(hung(activity, limit)));
        return None;
    }
    Some(stuck(activity, stalled, true))
}

/// Why a case waiting on work is interrupted.
fn hung(activity: &Activity, limit: Duration) -> String {
    let waiting = activity.waiting_for();
    let what = if waiting.is_empty() {
        "the case's runtime is idle with nothing in flight and no timer".to_owned()
    } else {
        waiting
    };
    format!(
        "no progress for {} s of real time (the hang limit): {what}; virtual time was held still meanwhile",
        limit.as_secs_f64()
    )
}

/// Why the watchdog gave up on a case whose thread does not come back.
fn stuck(activity: &Activity, stalled: Duration, blocked: bool) -> String {
    let limit = format!(
        "the case's thread made no progress for {} s of real time",
        stalled.as_secs()
    );
    let waiting = activity.waiting_for();
    let waiting = if waiting.is_empty() {
        String::new()
    } else {
        format!(" ({waiting})")
    };
    if blocked {
        format!(
            "{limit}: it is blocked or spinning — a call into the transport (emit, window_ends, serve, a subscription's end) or a handler it called did not return{waiting}; never block the thread, wait with tokio"
        )
    } else {
        format!("{limit}: it was interrupted but did not end{waiting}")
    }
}

fn run_on_this_thread(
    spec: &Spec,
    transport: &Transport,
    seed: u64,
    activity: Activity,
    skipping: Vec<Reading>,
    hang_limit: Duration,
) -> Outcome {
    capture_panics_on_this_thread();
    let foreign = ForeignPanics::watch();
    let case = foreign.id;
    plain_thread::work_for(case);
    let _watching = state_sync_transports::clock::watch(Arc::new(activity.clone()));
    let (parking, unparked, closing) = (activity.clone(), activity.clone(), activity.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .start_paused(!transport.runs_on_real_time())
        .on_thread_start(move || plain_thread::work_for(case))
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
    activity.attach(runtime.handle().clone());
    let trace_slot: Arc<parking_lot::Mutex<Option<Trace>>> = Arc::default();
    let slot = trace_slot.clone();
    let ran = catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(async move {
            match Case::new(spec, transport, seed, activity, skipping, hang_limit) {
                Ok(case) => {
                    *slot.lock() = Some(case.trace.clone());
                    case.run().await
                }
                Err(why) => Outcome::broken(Verdict::Error, why),
            }
        })
    }));
    closing.close();
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
            // The panic hook recorded the message with its location.
            let failures = if panicked.iter().any(|m| m.starts_with(message)) {
                Vec::new()
            } else {
                vec![Failure::unclaused(format!("panicked: {message}"))]
            };
            Outcome {
                trace,
                ..Outcome::of(Verdict::Error, failures, 0)
            }
        }
    };
    if dropped.is_err() && outcome.verdict != Verdict::Error {
        outcome.verdict = Verdict::Error;
        outcome
            .failures
            .push(Failure::unclaused("panicked while shutting the case down"));
    }
    if !panicked.is_empty() {
        outcome.verdict = Verdict::Error;
        for p in panicked {
            let line = Failure::unclaused(format!("panic: {p}"));
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
                match plain_thread::case() {
                    // A thread the kit started for a case (a blocking thread
                    // of its runtime, a plain thread): that case's.
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
