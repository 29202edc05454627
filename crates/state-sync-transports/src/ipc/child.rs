//! The backend in a child process: [`ChildBackend`] in the parent,
//! [`serve_stdio`](super::serve_stdio) in the child.
//!
//! The child runs a [`Server`](super::Server) and says where it listens; the parent's
//! windows connect to it like any others. The parent keeps the source of
//! truth: the child forwards every snapshot request to it, and it sends
//! the child every invalidation to emit. The two talk in JSON lines over
//! the child's standard input and output:
//!
//! ```text
//! child  → {"type":"listening","address":"unix:/tmp/state-sync-7-0.sock"}
//! parent → {"type":"emit","payload":{"topic":"todos","revision":"4"}}
//! child  → {"type":"snapshot","id":1,"topic":"todos"}
//! parent → {"type":"reply","id":1,"result":{"ok":{"revision":"4","data":[]}}}
//! child  → {"type":"subscriptions","count":1}
//! parent → {"type":"settle","id":2}
//! child  → {"type":"settled","id":2,"subscriptions":1}
//! ```

use std::collections::HashMap;
use std::io;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use parking_lot::Mutex;
use serde_json::Value;
use state_sync::PortError;
use tokio::io::AsyncRead;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::{FramedRead, LinesCodec};

use super::client::{Client, Window};
use super::config::IpcConfig;
use super::control::{FromChild, ToChild, write_lines};
use super::io::{Address, IoThread};
use super::wire::{self, Reply};
use crate::backend::{Backend, WindowEnds};
use crate::snapshot::SnapshotHandler;

/// How long [`ChildBackend::spawn`] waits for the child to say where it
/// listens.
const STARTUP_LIMIT: Duration = Duration::from_secs(30);
/// How long dropping a [`ChildBackend`] waits for its child to end.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(5);

/// The backend end of an IPC server that runs in a child process.
///
/// [`spawn`](ChildBackend::spawn) starts a program whose `main` calls
/// [`serve_stdio`](super::serve_stdio); the windows of [`Backend::window_ends`] connect to it.
/// If the child exits, [`Backend::failure`] says so, with its exit status.
/// Dropping the `ChildBackend` ends the child and removes its socket file.
///
/// ```no_run
/// use std::process::Command;
/// use state_sync_transports::Backend;
/// use state_sync_transports::ipc::ChildBackend;
///
/// let backend = ChildBackend::spawn(Command::new("my-backend-process"))?;
/// let ends = backend.window_ends("main", "todos");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct ChildBackend {
    client: Client,
    pid: Option<u32>,
    to_child: mpsc::UnboundedSender<String>,
    /// The number of the last emit sent; the lock keeps numbers in the
    /// order of the channel.
    emits: Arc<AtomicU64>,
    emitting: Mutex<()>,
    parent: Arc<Parent>,
    stop: Mutex<Option<oneshot::Sender<std::sync::mpsc::Sender<()>>>>,
}

/// The parent's state, shared with the tasks that talk to the child.
struct Parent {
    program: String,
    handler: Mutex<Option<SnapshotHandler>>,
    subscriptions: AtomicUsize,
    settles: Mutex<HashMap<u64, oneshot::Sender<()>>>,
    next_settle: AtomicU64,
    /// The child will answer nothing more.
    gone: AtomicBool,
    failure: Mutex<Option<String>>,
}

impl Parent {
    /// The child stopped talking: nothing more will be settled.
    fn gone(&self) {
        self.gone.store(true, Ordering::Release);
        self.settles.lock().clear();
    }

    /// The child failed for good (the first reason given stays).
    fn failed(&self, why: String) {
        self.failure.lock().get_or_insert(why);
        self.gone();
    }
}

/// How long a child that closed its output may take to exit, so that the
/// failure names its exit status rather than the closed pipe.
const EXIT_GRACE: Duration = Duration::from_millis(500);

impl ChildBackend {
    /// Starts `command` (its standard input and output become the control
    /// channel; its standard error is inherited) and waits until it says
    /// where it listens.
    pub fn spawn(command: std::process::Command) -> io::Result<Self> {
        Self::spawn_with(command, IpcConfig::default())
    }

    /// [`ChildBackend::spawn`] with custom limits for the parent's windows.
    pub fn spawn_with(command: std::process::Command, config: IpcConfig) -> io::Result<Self> {
        let io = IoThread::start("state-sync-ipc-parent")?;
        let program = command.get_program().to_string_lossy().into_owned();
        let mut command = tokio::process::Command::from(command);
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        let mut child = {
            let _runtime = io.handle().enter();
            command.spawn().map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot start the backend process {program}: {e}"),
                )
            })?
        };
        let pid = child.id();
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(io::Error::other(
                "the backend process has no piped stdin/stdout",
            ));
        };
        let parent = Arc::new(Parent {
            program,
            handler: Mutex::new(None),
            subscriptions: AtomicUsize::new(0),
            settles: Mutex::new(HashMap::new()),
            next_settle: AtomicU64::new(0),
            gone: AtomicBool::new(false),
            failure: Mutex::new(None),
        });
        let (to_child, outgoing) = mpsc::unbounded_channel();
        let (ready, listening) = std::sync::mpsc::channel();
        let (stop, stopped) = oneshot::channel();
        io.spawn(write_lines(stdin, outgoing));
        io.spawn(listen_to_child(
            stdout,
            parent.clone(),
            to_child.clone(),
            ready,
            config.max_frame_bytes,
        ));
        io.spawn(watch_child(child, parent.clone(), stopped));
        let address = match listening.recv_timeout(STARTUP_LIMIT) {
            Ok(Ok(address)) => address,
            Ok(Err(why)) => return Err(io::Error::other(why)),
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the backend process {} did not say where it listens within {} s",
                        parent.program,
                        STARTUP_LIMIT.as_secs()
                    ),
                ));
            }
        };
        let emits = Arc::new(AtomicU64::new(0));
        Ok(Self {
            client: Client::on(io, address, config, Some(emits.clone())),
            pid,
            to_child,
            emits,
            emitting: Mutex::new(()),
            parent,
            stop: Mutex::new(Some(stop)),
        })
    }

    /// The child's process id, as the operating system knows it.
    pub fn id(&self) -> Option<u32> {
        self.pid
    }

    /// Where the child listens.
    pub fn address(&self) -> &Address {
        self.client.address()
    }

    /// A window end in this process, connected to the child.
    pub fn window(&self, label: &str, topic: &str) -> Window {
        self.client.window(label, topic)
    }

    /// Sends `frame` to the child; `false` when it was not sent.
    fn send(&self, frame: &ToChild) -> bool {
        let line = wire::encode(frame);
        if crate::json::nests_deeper_than(&line, wire::MAX_NESTING) {
            tracing::warn!(
                "state-sync ipc: not sending the backend process a frame nested deeper than {} levels",
                wire::MAX_NESTING
            );
            return false;
        }
        self.to_child.send(line).is_ok()
    }
}

impl Backend for ChildBackend {
    fn emit(&self, payload: &Value) {
        let _order = self.emitting.lock();
        let seq = self.emits.load(Ordering::Acquire) + 1;
        if self.send(&ToChild::Emit {
            seq,
            payload: payload.clone(),
        }) {
            // Windows that subscribe from now on wait for this emit to be
            // taken in first: it must not reach them.
            self.emits.store(seq, Ordering::Release);
        }
    }

    fn serve(&self, handler: SnapshotHandler) {
        *self.parent.handler.lock() = Some(handler);
    }

    fn window_ends(&self, label: &str, topic: &str) -> WindowEnds {
        WindowEnds::of(self.window(label, topic))
    }

    fn active_subscriptions(&self) -> Option<usize> {
        Some(self.parent.subscriptions.load(Ordering::Acquire))
    }

    fn settle(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // The child takes in every emit sent so far (they travel on its
            // standard input, apart from the windows' connections), then
            // every window receives them and the server handles what the
            // windows sent, then the child counts the subscriptions left.
            self.control_barrier().await;
            self.client.settle().await;
            self.control_barrier().await;
        })
    }

    fn failure(&self) -> Option<String> {
        self.parent.failure.lock().clone()
    }
}

impl ChildBackend {
    /// Resolves once the child has handled every frame sent before and
    /// written out every backlog (or has failed).
    async fn control_barrier(&self) {
        {
            let id = self.parent.next_settle.fetch_add(1, Ordering::Relaxed);
            let (done, settled) = oneshot::channel();
            self.parent.settles.lock().insert(id, done);
            // Checked after registering: a child that failed meanwhile has
            // cleared the settles, or is seen here.
            if self.parent.gone.load(Ordering::Acquire) {
                self.parent.settles.lock().remove(&id);
                return;
            }
            let _ = self.send(&ToChild::Settle { id });
            let _ = settled.await;
        }
    }
}

impl Drop for ChildBackend {
    fn drop(&mut self) {
        let Some(stop) = self.stop.lock().take() else {
            return;
        };
        let (ended, wait) = std::sync::mpsc::channel();
        // Refused: the child had already exited.
        let ended = stop.send(ended).is_err() || wait.recv_timeout(SHUTDOWN_LIMIT).is_ok();
        // A killed child cannot remove its socket file itself; nobody
        // listens there any more.
        if let (true, Address::Unix(path)) = (ended, self.address()) {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl std::fmt::Debug for ChildBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildBackend")
            .field("program", &self.parent.program)
            .field("address", self.address())
            .finish_non_exhaustive()
    }
}

/// Reads the child's frames: where it listens, then snapshot requests,
/// subscription counts and settle answers.
async fn listen_to_child(
    stdout: impl AsyncRead + Unpin,
    parent: Arc<Parent>,
    to_child: mpsc::UnboundedSender<String>,
    ready: std::sync::mpsc::Sender<Result<Address, String>>,
    max_frame_bytes: usize,
) {
    let mut lines = FramedRead::new(stdout, LinesCodec::new_with_max_length(max_frame_bytes));
    let mut ready = Some(ready);
    let program = parent.program.clone();
    let why = loop {
        let line = match lines.next().await {
            Some(Ok(line)) => line,
            Some(Err(e)) => {
                break format!("the backend process {program} sent an unreadable line: {e}");
            }
            None => break format!("the backend process {program} closed its standard output"),
        };
        let frame = match wire::decode::<FromChild>(&line) {
            Ok(frame) => frame,
            Err(e) => break format!("the backend process {program} sent {e}"),
        };
        match frame {
            FromChild::Listening { address } => match (ready.take(), address.parse()) {
                (Some(ready), Ok(address)) => {
                    let _ = ready.send(Ok(address));
                }
                (_, Err(e)) => break format!("the backend process {program}: {e}"),
                (None, Ok(_)) => {}
            },
            FromChild::Snapshot { id, topic } => {
                let handler = parent.handler.lock().clone();
                let to_child = to_child.clone();
                tokio::spawn(async move {
                    let result = match handler {
                        Some(handler) => handler.call(topic).await,
                        None => Err(PortError::new("no snapshot handler is installed")),
                    };
                    let reply = ToChild::Reply {
                        id,
                        result: Reply::from_result(result),
                    };
                    let _ = to_child.send(wire::encode(&reply));
                });
            }
            FromChild::Subscriptions { count } => {
                parent.subscriptions.store(count, Ordering::Release);
            }
            FromChild::Settled { id, subscriptions } => {
                parent.subscriptions.store(subscriptions, Ordering::Release);
                if let Some(done) = parent.settles.lock().remove(&id) {
                    let _ = done.send(());
                }
            }
        }
    };
    if let Some(ready) = ready.take() {
        let _ = ready.send(Err(format!("{why} before it said where it listens")));
    }
    parent.gone();
    // A child that is exiting says so with its exit status first.
    tokio::time::sleep(EXIT_GRACE).await;
    parent.failed(why);
}

/// Waits for the child to exit (reporting it as the transport's failure),
/// or for the parent to stop it.
async fn watch_child(
    mut child: tokio::process::Child,
    parent: Arc<Parent>,
    stop: oneshot::Receiver<std::sync::mpsc::Sender<()>>,
) {
    tokio::select! {
        status = child.wait() => parent.failed(exited(&parent.program, status)),
        ended = stop => {
            let _ = child.kill().await;
            if let Ok(ended) = ended {
                let _ = ended.send(());
            }
        }
    }
}

fn exited(program: &str, status: io::Result<ExitStatus>) -> String {
    match status {
        Ok(status) => format!("the backend process {program} exited ({status})"),
        Err(e) => format!("the backend process {program} could not be waited for: {e}"),
    }
}
