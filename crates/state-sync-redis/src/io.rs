//! The thread a Redis transport does its I/O on.
//!
//! Connections are driven by a current-thread tokio runtime on a thread of
//! its own, on real time: the caller's runtime (a test's paused clock
//! included) is never used for I/O, and window ends may be polled on any
//! runtime. Dropping the last handle stops the thread.

use std::future::Future;
use std::io;
use std::thread::JoinHandle;

use parking_lot::Mutex;
use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// The I/O thread's stack: invalidations are handed to the engines' handlers
/// there, and snapshot replies parsed there — recursively, as deep as a
/// payload nests (serde_json's depth limit may be off in the build).
const STACK_BYTES: usize = 64 << 20;

pub(crate) struct IoThread {
    handle: Handle,
    stop: Mutex<Option<oneshot::Sender<()>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl IoThread {
    pub(crate) fn start(name: &str) -> io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .stack_size(STACK_BYTES)
            .spawn(move || {
                runtime.block_on(async {
                    let _ = stopped.await;
                });
                runtime.shutdown_background();
            })?;
        Ok(Self {
            handle,
            stop: Mutex::new(Some(stop)),
            thread: Mutex::new(Some(thread)),
        })
    }

    pub(crate) fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.handle.spawn(future);
    }
}

impl Drop for IoThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.lock().take() {
            let _ = stop.send(());
        }
        let thread = self.thread.lock().take();
        // Dropped on the I/O thread itself (by one of its tasks): it ends
        // once that task returns; joining would wait for ever.
        if let Some(thread) = thread
            && thread.thread().id() != std::thread::current().id()
        {
            let _ = thread.join();
        }
    }
}
