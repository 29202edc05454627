//! Threads a case owns without a runtime: where the kit runs the calls a
//! transport must accept from any thread — ending a subscription, dropping
//! a snapshot request — as a window closed by a UI thread would make them.
//!
//! A panic on such a thread is the case's own (the isolation's panic hook
//! reads [`case`]), not charged to every case running in the process.

use std::cell::Cell;

thread_local! {
    /// The case this thread works for, when the kit started it for one
    /// (a blocking thread of the case's runtime, a plain thread below).
    static CASE_OF_THREAD: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Marks the current thread as working for case `id`.
pub(crate) fn work_for(id: u64) {
    CASE_OF_THREAD.with(|c| c.set(Some(id)));
}

/// The case the current thread works for, if the kit started it for one.
pub(crate) fn case() -> Option<u64> {
    CASE_OF_THREAD.with(Cell::get)
}

/// Runs `f` on a new plain thread — outside any tokio runtime — working
/// for the caller's case, and waits for it: `Err` with the panic's payload
/// if `f` panicked. (A machine that cannot start one more thread makes the
/// case's own thread panic: the case ends as `error` saying so.)
pub(crate) fn run<R: Send>(f: impl FnOnce() -> R + Send) -> std::thread::Result<R> {
    let id = case();
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                if let Some(id) = id {
                    work_for(id);
                }
                f()
            })
            .join()
    })
}
