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
use std::ffi::OsString;
use std::io;
use std::path::PathBuf;
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
use super::control::{EmitFrame, FromChild, ToChild, write_lines};
use super::io::{Address, IoThread};
use super::newest::NewestPerTopic;
use super::stdio::LISTEN_ENV;
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
/// The child only relays: the source of truth stays in this process. So
/// the child can crash and come back without losing anything:
/// [`Backend::restart`] kills it and starts the program again (same
/// arguments, environment changes and working directory) at the same
/// address ([`LISTEN_ENV`]). It resolves once every
/// window of this backend that had live subscriptions has reconnected and
/// has them again; each topic's newest invalidation is sent again to the
/// windows that come back (the protocol's TR-8).
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
    io: Arc<IoThread>,
    program: Program,
    max_frame_bytes: usize,
    handler: Arc<Mutex<Option<SnapshotHandler>>>,
    /// The number of the last emit sent.
    emits: Arc<AtomicU64>,
    /// Each topic's newest payload, for a child started again; the lock
    /// also keeps emit numbers in the order of the channel.
    emitting: Mutex<NewestPerTopic<Value>>,
    /// The child running now.
    run: Mutex<Run>,
    /// Settles share it; a restart holds it alone: a settle neither
    /// overlaps a restart (windows cut off would count as settled) nor
    /// resolves before the restart is over.
    restarting: tokio::sync::RwLock<()>,
}

/// How to start the child (again).
struct Program {
    program: OsString,
    args: Vec<OsString>,
    envs: Vec<(OsString, Option<OsString>)>,
    current_dir: Option<PathBuf>,
}

impl Program {
    fn of(command: &std::process::Command) -> Self {
        Self {
            program: command.get_program().to_owned(),
            args: command.get_args().map(ToOwned::to_owned).collect(),
            envs: command
                .get_envs()
                .map(|(k, v)| (k.to_owned(), v.map(ToOwned::to_owned)))
                .collect(),
            current_dir: command.get_current_dir().map(ToOwned::to_owned),
        }
    }

    fn name(&self) -> String {
        self.program.to_string_lossy().into_owned()
    }

    fn command(&self) -> std::process::Command {
        let mut command = std::process::Command::new(&self.program);
        command.args(&self.args);
        for (key, value) in &self.envs {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        if let Some(dir) = &self.current_dir {
            command.current_dir(dir);
        }
        command
    }
}

/// One run of the child process.
struct Run {
    pid: Option<u32>,
    to_child: mpsc::UnboundedSender<String>,
    parent: Arc<Parent>,
    stop: Option<Stop>,
}

/// Asks the task that watches a child to kill it; answered once it has.
type Stop = oneshot::Sender<std::sync::mpsc::Sender<()>>;

/// The parent's state for one run, shared with the tasks that talk to the
/// child.
struct Parent {
    program: String,
    handler: Arc<Mutex<Option<SnapshotHandler>>>,
    subscriptions: AtomicUsize,
    settles: Mutex<HashMap<u64, oneshot::Sender<()>>>,
    next_settle: AtomicU64,
    /// The child will answer nothing more.
    gone: AtomicBool,
    /// The parent ended the child: its end is no failure.
    stopped: AtomicBool,
    failure: Mutex<Option<String>>,
}

impl Parent {
    /// The child stopped talking: nothing more will be settled.
    fn gone(&self) {
        self.gone.store(true, Ordering::Release);
        self.settles.lock().clear();
    }

    /// The child failed for good (the first reason given stays), unless
    /// the parent ended it.
    fn failed(&self, why: String) {
        if !self.stopped.load(Ordering::Acquire) {
            self.failure.lock().get_or_insert(why);
        }
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
    ///
    /// A restart ([`Backend::restart`]) starts the same
    /// program again, with the same arguments, environment changes and
    /// working directory. What a `Command` does not let be read back is not
    /// repeated: `env_clear`, and Unix extensions such as `uid`, `gid`,
    /// `process_group` or `pre_exec`.
    pub fn spawn(command: std::process::Command) -> io::Result<Self> {
        Self::spawn_with(command, IpcConfig::default())
    }

    /// [`ChildBackend::spawn`] with custom limits for the parent's windows.
    pub fn spawn_with(command: std::process::Command, config: IpcConfig) -> io::Result<Self> {
        let io = IoThread::start("state-sync-ipc-parent")?;
        let program = Program::of(&command);
        let handler = Arc::default();
        let (run, address) = start(&io, command, None, &handler, config.max_frame_bytes)?;
        let emits = Arc::new(AtomicU64::new(0));
        Ok(Self {
            client: Client::on(io.clone(), address, config, Some(emits.clone())),
            io,
            program,
            max_frame_bytes: config.max_frame_bytes,
            handler,
            emits,
            emitting: Mutex::new(NewestPerTopic::default()),
            run: Mutex::new(run),
            restarting: tokio::sync::RwLock::new(()),
        })
    }

    /// The process id of the child running now, as the operating system
    /// knows it.
    pub fn id(&self) -> Option<u32> {
        self.run.lock().pid
    }

    /// Where the child listens.
    pub fn address(&self) -> &Address {
        self.client.address()
    }

    /// A window end in this process, connected to the child.
    pub fn window(&self, label: &str, topic: &str) -> Window {
        self.client.window(label, topic)
    }

    /// The run of the child now: its state and where its frames go.
    fn current(&self) -> (Arc<Parent>, mpsc::UnboundedSender<String>) {
        let run = self.run.lock();
        (run.parent.clone(), run.to_child.clone())
    }
}

/// `frame` as a line, unless it nests too deep for the child to read.
fn encode(frame: &impl serde::Serialize) -> Option<String> {
    let line = wire::encode(frame);
    if crate::json::nests_deeper_than(&line, wire::MAX_NESTING) {
        tracing::warn!(
            "state-sync ipc: not sending the backend process a frame nested deeper than {} levels",
            wire::MAX_NESTING
        );
        return None;
    }
    Some(line)
}

/// Starts the child (at `address` if given) and waits until it says
/// where it listens.
fn start(
    io: &IoThread,
    command: std::process::Command,
    address: Option<&Address>,
    handler: &Arc<Mutex<Option<SnapshotHandler>>>,
    max_frame_bytes: usize,
) -> io::Result<(Run, Address)> {
    let program = command.get_program().to_string_lossy().into_owned();
    let mut command = tokio::process::Command::from(command);
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    if let Some(address) = address {
        command.env(LISTEN_ENV, address.to_string());
    }
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
        handler: handler.clone(),
        subscriptions: AtomicUsize::new(0),
        settles: Mutex::new(HashMap::new()),
        next_settle: AtomicU64::new(0),
        gone: AtomicBool::new(false),
        stopped: AtomicBool::new(false),
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
        max_frame_bytes,
    ));
    io.spawn(watch_child(child, parent.clone(), stopped));
    let run = Run {
        pid,
        to_child,
        parent,
        stop: Some(stop),
    };
    match listening.recv_timeout(STARTUP_LIMIT) {
        Ok(Ok(address)) => Ok((run, address)),
        Ok(Err(why)) => Err(io::Error::other(why)),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "the backend process {} did not say where it listens within {} s",
                run.parent.program,
                STARTUP_LIMIT.as_secs()
            ),
        )),
    }
}

impl Drop for Run {
    /// Ends the child, if it still runs.
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            end(stop);
        }
    }
}

/// Has the child `stop` watches killed, waiting (blocking, at most
/// [`SHUTDOWN_LIMIT`]) until it has ended; `false` if it did not in time.
fn end(stop: Stop) -> bool {
    let (ended, wait) = std::sync::mpsc::channel();
    // Refused: the child had already exited.
    stop.send(ended).is_err() || wait.recv_timeout(SHUTDOWN_LIMIT).is_ok()
}

impl Backend for ChildBackend {
    fn emit(&self, payload: &Value) {
        let mut newest = self.emitting.lock();
        let seq = self.emits.load(Ordering::Acquire) + 1;
        let Some(line) = encode(&EmitFrame { seq, payload }) else {
            return;
        };
        if let Some(topic) = payload.get("topic").and_then(Value::as_str) {
            newest.remember(topic, payload.clone(), false);
        }
        // A child that is gone misses it; one started again gets each
        // topic's newest.
        let _ = self.run.lock().to_child.send(line);
        // Windows that subscribe from now on wait for this emit to be
        // taken in first: it must not reach them.
        self.emits.store(seq, Ordering::Release);
    }

    fn serve(&self, handler: SnapshotHandler) {
        *self.handler.lock() = Some(handler);
    }

    fn window_ends(&self, label: &str, topic: &str) -> WindowEnds {
        WindowEnds::of(self.window(label, topic))
    }

    fn active_subscriptions(&self) -> Option<usize> {
        Some(self.run.lock().parent.subscriptions.load(Ordering::Acquire))
    }

    fn settle(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // The child takes in every emit sent so far (they travel on its
            // standard input, apart from the windows' connections), then
            // every window receives them and the server handles what the
            // windows sent, then the child counts the subscriptions left.
            let _not_restarting = self.restarting.read().await;
            self.control_barrier().await;
            self.client.settle().await;
            self.control_barrier().await;
        })
    }

    fn failure(&self) -> Option<String> {
        self.run.lock().parent.failure.lock().clone()
    }

    /// Kills the child and starts it again at the same address; resolves
    /// once the windows with live subscriptions have them again.
    fn restart(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let _alone = self.restarting.write().await;
            let stop = self.run.lock().stop.take();
            let (io, command, address, handler, max_frame_bytes) = (
                self.io.clone(),
                self.program.command(),
                self.address().clone(),
                self.handler.clone(),
                self.max_frame_bytes,
            );
            // Waiting for processes blocks: not on the caller's runtime.
            let started = self.io.handle().spawn_blocking(move || {
                if let Some(stop) = stop {
                    kill(stop, &address);
                }
                start(&io, command, Some(&address), &handler, max_frame_bytes)
            });
            let run = match started.await {
                Ok(Ok((run, _))) => run,
                failed => {
                    let why = match failed {
                        Ok(Err(e)) => format!("cannot restart the backend process: {e}"),
                        _ => "restarting the backend process failed".to_owned(),
                    };
                    // The child stays down: the transport has failed.
                    let parent = self.run.lock().parent.clone();
                    parent.stopped.store(false, Ordering::Release);
                    parent.failed(why.clone());
                    return Err(why);
                }
            };
            let old = {
                let newest = self.emitting.lock();
                let resume = encode(&ToChild::Resume {
                    seq: self.emits.load(Ordering::Acquire),
                    newest: newest.payloads().cloned().collect(),
                });
                if let Some(line) = resume {
                    let _ = run.to_child.send(line);
                }
                std::mem::replace(&mut *self.run.lock(), run)
            };
            // Its child is killed already.
            drop(old);
            self.client.reconnected().await;
            Ok(())
        })
    }
}

/// Kills the child `stop` watches and removes its socket file (a killed
/// child cannot; nobody listens there any more).
fn kill(stop: Stop, address: &Address) {
    if end(stop)
        && let Address::Unix(path) = address
    {
        let _ = std::fs::remove_file(path);
    }
}

impl ChildBackend {
    /// Resolves once the child has handled every frame sent before and
    /// written out every backlog (or has failed).
    async fn control_barrier(&self) {
        let (parent, to_child) = self.current();
        let id = parent.next_settle.fetch_add(1, Ordering::Relaxed);
        let (done, settled) = oneshot::channel();
        parent.settles.lock().insert(id, done);
        // Checked after registering: a child that failed meanwhile has
        // cleared the settles, or is seen here.
        if parent.gone.load(Ordering::Acquire) {
            parent.settles.lock().remove(&id);
            return;
        }
        let _ = to_child.send(wire::encode(&ToChild::Settle { id }));
        let _ = settled.await;
    }
}

impl Drop for ChildBackend {
    fn drop(&mut self) {
        if let Some(stop) = self.run.lock().stop.take() {
            kill(stop, self.address());
        }
    }
}

impl std::fmt::Debug for ChildBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildBackend")
            .field("program", &self.program.name())
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
            parent.stopped.store(true, Ordering::Release);
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
