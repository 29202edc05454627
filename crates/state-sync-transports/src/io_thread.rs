//! A thread for a transport's real I/O: [`IoThread`].
//!
//! A transport that talks to sockets, processes or brokers does it on a
//! current-thread tokio runtime of its own, on real time, never on the
//! caller's runtime: its window ends may then be polled on any runtime — a
//! test's paused clock included, as the conformance kit's is — and nothing
//! it waits for stalls when that clock is held. The IPC transport and
//! `state-sync-redis` run on one each.
//!
//! ```
//! use state_sync_transports::io_thread::IoThread;
//!
//! let io = IoThread::start("my-transport-io")?;
//! let (done, answered) = std::sync::mpsc::channel();
//! io.spawn(async move {
//!     // Sockets, timers (real time) and tasks of the transport live here.
//!     let _ = done.send(40 + 2);
//! });
//! assert_eq!(answered.recv().expect("answered"), 42);
//! drop(io); // stops the thread, ending its tasks
//! # Ok::<(), std::io::Error>(())
//! ```

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::Mutex;
use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// The stack of an I/O thread (64 MiB of address space, touched only as
/// deep as used): payloads are parsed, cloned, dropped and handed to
/// engines there, recursively, as deep as they nest.
pub const STACK_BYTES: usize = 64 << 20;

/// A thread running a current-thread tokio runtime, with time and I/O
/// enabled. Dropping it stops the thread, ending every task on it (and so
/// closing every socket they hold).
pub struct IoThread {
    handle: Handle,
    stop: Mutex<Option<oneshot::Sender<()>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl IoThread {
    /// Starts a thread named `name` with a stack of [`STACK_BYTES`].
    pub fn start(name: &str) -> io::Result<Arc<Self>> {
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
                // Dropping the runtime here cancels the tasks on this thread.
                drop(runtime);
            })?;
        Ok(Arc::new(Self {
            handle,
            stop: Mutex::new(Some(stop)),
            thread: Mutex::new(Some(thread)),
        }))
    }

    /// Runs `task` on the I/O thread.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(self.handle.spawn(task));
    }

    /// The runtime's handle (to make sockets or processes on it, with
    /// `handle().enter()`).
    pub fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl Drop for IoThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.lock().take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.lock().take() {
            // The last owner may be a task on the I/O thread itself.
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

impl std::fmt::Debug for IoThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IoThread").finish_non_exhaustive()
    }
}
