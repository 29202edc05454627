//! Waiting on the runtime's clock, said out loud.
//!
//! A transport that waits on tokio time inside the work it does for a
//! window — a delivery it batches for a few milliseconds, a simulated
//! network hop, a settle that lets a flush timer run — should wait with
//! [`sleep`] or [`sleep_until`] from this module. They are
//! `tokio::time::sleep` and `tokio::time::sleep_until`, and they also tell
//! whoever watches the current thread that the wait is on the runtime's
//! clock.
//!
//! Outside a test nobody watches and they cost one thread-local read. The
//! conformance kit (`state-sync-conformance`) watches the thread of every
//! case it runs: it runs cases on paused virtual time and holds the clock
//! still while a transport has work in flight, because work in flight may
//! be real I/O whose reply must land before scenario time moves on. A wait
//! declared here is the one kind of work it lets virtual time pass for;
//! an undeclared `tokio::time::sleep` inside work in flight never ends on a
//! held clock, and the case ends as `timeout` naming the work.
//!
//! ```
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! // A transport's simulated network hop of 2 ms.
//! state_sync_transports::clock::sleep(Duration::from_millis(2)).await;
//! # }
//! ```

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

/// Hears about the declared waits of one thread ([`watch`]).
///
/// Each wait calls [`started`](Self::started) when it begins and
/// [`ended`](Self::ended) exactly once when it ends or is dropped — the
/// latter possibly on another thread.
pub trait WaitWatcher: Send + Sync {
    /// A declared wait began on the watched thread.
    fn started(&self);
    /// A declared wait ended (it elapsed, or it was dropped).
    fn ended(&self);
}

thread_local! {
    static WATCHER: RefCell<Option<Arc<dyn WaitWatcher>>> = const { RefCell::new(None) };
}

/// Makes `watcher` hear about every declared wait that begins on the
/// current thread, until the returned guard is dropped (the watcher before
/// it is then restored).
pub fn watch(watcher: Arc<dyn WaitWatcher>) -> Watching {
    let previous = WATCHER.with(|w| w.borrow_mut().replace(watcher));
    Watching { previous }
}

/// The current thread is watched until this is dropped ([`watch`]).
#[must_use = "the thread is watched only while the guard lives"]
pub struct Watching {
    previous: Option<Arc<dyn WaitWatcher>>,
}

impl Drop for Watching {
    fn drop(&mut self) {
        let previous = self.previous.take();
        WATCHER.with(|w| *w.borrow_mut() = previous);
    }
}

impl std::fmt::Debug for Watching {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watching").finish_non_exhaustive()
    }
}

/// One declared wait, told to the watcher of the thread it began on.
struct Declared(Option<Arc<dyn WaitWatcher>>);

impl Declared {
    fn begin() -> Self {
        let watcher = WATCHER.with(|w| w.borrow().clone());
        if let Some(watcher) = &watcher {
            watcher.started();
        }
        Self(watcher)
    }
}

impl Drop for Declared {
    fn drop(&mut self) {
        if let Some(watcher) = self.0.take() {
            watcher.ended();
        }
    }
}

/// `tokio::time::sleep(duration)`, declared as a wait on the runtime's
/// clock (see the module docs).
pub async fn sleep(duration: Duration) {
    let _declared = Declared::begin();
    tokio::time::sleep(duration).await;
}

/// `tokio::time::sleep_until(deadline)`, declared as a wait on the
/// runtime's clock (see the module docs).
pub async fn sleep_until(deadline: Instant) {
    let _declared = Declared::begin();
    tokio::time::sleep_until(deadline).await;
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

    use super::*;

    #[derive(Default)]
    struct Count {
        now: AtomicIsize,
        started: AtomicUsize,
    }

    impl WaitWatcher for Count {
        fn started(&self) {
            self.now.fetch_add(1, Ordering::SeqCst);
            self.started.fetch_add(1, Ordering::SeqCst);
        }
        fn ended(&self) {
            self.now.fetch_sub(1, Ordering::SeqCst);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_watched_thread_hears_each_wait_begin_and_end() {
        let count = Arc::new(Count::default());
        let watching = watch(count.clone());
        let waiting = tokio::spawn(sleep(Duration::from_millis(5)));
        tokio::task::yield_now().await;
        assert_eq!(count.now.load(Ordering::SeqCst), 1, "the wait has begun");
        waiting.await.expect("the wait ends");
        assert_eq!(count.now.load(Ordering::SeqCst), 0);

        // A wait dropped before it elapsed ends too.
        let dropped = tokio::spawn(sleep_until(Instant::now() + Duration::from_secs(1)));
        tokio::task::yield_now().await;
        dropped.abort();
        let _ = dropped.await;
        assert_eq!(count.now.load(Ordering::SeqCst), 0);
        assert_eq!(count.started.load(Ordering::SeqCst), 2);

        drop(watching);
        sleep(Duration::from_millis(1)).await;
        assert_eq!(count.started.load(Ordering::SeqCst), 2, "no longer watched");
    }
}
