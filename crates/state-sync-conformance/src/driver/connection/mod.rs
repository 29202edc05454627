//! One case's conversation with its driver.
//!
//! Every command carries the kit's virtual time and counts as work in
//! flight until the driver acknowledges it with `done` — the same hold on
//! virtual time the kit keeps for a transport's work — so the clock never
//! passes a moment while the driver is still reacting. The driver's next
//! timer (`timer_ms` of `done`) is a timer of the case: a task sleeps until
//! it and sends `advance`. What the driver's engines ask of their ports
//! (subscribe, snapshots, applies) is served by the window's ports — the
//! transport's ends under the fault and observation layers, as for an
//! in-process engine — on the case's runtime.
//!
//! Bad output (a line that is not a message, an answer to nothing, an
//! unknown window) and the driver's exit are the connection's failure: the
//! case ends with `error` showing it.

mod reports;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak, mpsc};
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::Value;
use state_sync::ports::{InvalidationSubscriber, SnapshotApplier, SnapshotProvider, Subscription};
use state_sync::{Lifecycle, Metrics, Phase, Position};
use tokio::runtime::Handle;
use tokio::sync::{Notify, mpsc as tmpsc, oneshot};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::activity::{Activity, Busy, Party};
use crate::case::CallError;
use crate::layers::observe::Observer;

use super::process::{self, DriverInfo};
use super::program::Driver;
use super::protocol::{Command, CommandBody, Reply, WindowOptions};

/// A case's driver, running.
pub(crate) struct Connection {
    inner: Arc<Inner>,
    child: Option<std::process::Child>,
}

/// The ports a driver's window is served with, and its observer.
pub(crate) struct Ports {
    pub(crate) subscriber: Arc<dyn InvalidationSubscriber>,
    pub(crate) provider: Arc<dyn SnapshotProvider>,
    pub(crate) applier: Arc<dyn SnapshotApplier<Value>>,
    pub(crate) observer: Observer,
}

/// A window whose engine lives in the driver. Cheap to clone.
#[derive(Clone)]
pub(crate) struct RemoteWindow {
    inner: Arc<Inner>,
    /// The engine's id in the driver (see [`Connection::open`]).
    id: Arc<str>,
}

struct Inner {
    info: DriverInfo,
    out: Mutex<Out>,
    epoch: Instant,
    runtime: Handle,
    activity: Activity,
    /// Commands not yet acknowledged.
    pending: Mutex<HashMap<u64, Busy>>,
    calls: Mutex<HashMap<u64, oneshot::Sender<Result<(), CallError>>>>,
    parses: Mutex<HashMap<u64, oneshot::Sender<Reply>>>,
    windows: Mutex<HashMap<Arc<str>, Served>>,
    /// Requests being served (subscribe, snapshot, apply), for `cancel`.
    requests: Mutex<HashMap<u64, AbortHandle>>,
    subscriptions: Mutex<HashMap<u64, Subscription>>,
    next_call: AtomicU64,
    /// The driver's next timer, in case ms.
    timer: Mutex<Option<u64>>,
    timer_changed: Notify,
    /// Woken by every `done`.
    acknowledged: Notify,
    failure: Mutex<Option<String>>,
    failed: Notify,
    stderr: Arc<Mutex<String>>,
}

struct Out {
    seq: u64,
    /// The `now_ms` of the last command sent.
    last_now: u64,
    /// Commands of the batch not yet written.
    batch: Vec<Command>,
    lines: mpsc::Sender<String>,
}

struct Served {
    ports: Arc<Ports>,
    local_position: Position,
    lifecycle: Lifecycle,
    metrics: Metrics,
}

/// What the reader thread hands the case's runtime.
enum Incoming {
    Line(String),
    End,
}

impl Connection {
    /// Starts `driver` for one case (call inside the case's runtime),
    /// waiting for its handshake at most `hang_limit`.
    pub(crate) fn start(
        driver: &Driver,
        activity: &Activity,
        hang_limit: Duration,
    ) -> Result<Self, String> {
        let (tx, rx) = tmpsc::unbounded_channel();
        // Work in flight, named in a hang's message.
        let hello = activity.busy(Party::Driver, "its hello (the handshake)");
        let running = process::start(driver.argv(), hang_limit, move |line| {
            let _ = tx.send(match line {
                process::Line::Text(t) => Incoming::Line(t),
                process::Line::End => Incoming::End,
            });
        })?;
        drop(hello);
        let runtime = Handle::current();
        let inner = Arc::new(Inner {
            info: running.info,
            out: Mutex::new(Out {
                seq: 0,
                last_now: 0,
                batch: Vec::new(),
                lines: process::writer(running.stdin),
            }),
            epoch: Instant::now(),
            runtime: runtime.clone(),
            activity: activity.clone(),
            pending: Mutex::default(),
            calls: Mutex::default(),
            parses: Mutex::default(),
            windows: Mutex::default(),
            requests: Mutex::default(),
            subscriptions: Mutex::default(),
            next_call: AtomicU64::new(1),
            timer: Mutex::new(None),
            timer_changed: Notify::new(),
            acknowledged: Notify::new(),
            failure: Mutex::new(None),
            failed: Notify::new(),
            stderr: running.stderr,
        });
        let weak = Arc::downgrade(&inner);
        activity.on_park(Box::new(move || {
            if let Some(inner) = weak.upgrade() {
                inner.flush();
            }
        }));
        runtime.spawn(dispatch(Arc::downgrade(&inner), rx));
        runtime.spawn(clock(Arc::downgrade(&inner)));
        Ok(Self {
            inner,
            child: Some(running.child),
        })
    }

    /// Creates window `name`'s engine in the driver, served by `ports`.
    ///
    /// The driver knows the engine by an id of its own: the window's name
    /// the first time, `name~2`, `name~3`, ... for a window reopened under
    /// that name, so that a late report of the engine it replaced reaches
    /// that engine's ports, not the new one's.
    pub(crate) fn open(
        &self,
        name: &str,
        topic: &str,
        options: WindowOptions,
        ports: Ports,
    ) -> RemoteWindow {
        let id: Arc<str> = {
            let mut windows = self.inner.windows.lock();
            let mut id = name.to_owned();
            for n in 2.. {
                if !windows.contains_key(id.as_str()) {
                    break;
                }
                id = format!("{name}~{n}");
            }
            let id: Arc<str> = Arc::from(id);
            windows.insert(
                id.clone(),
                Served {
                    ports: Arc::new(ports),
                    local_position: Position::ZERO,
                    lifecycle: Lifecycle::Idle,
                    metrics: Metrics::default(),
                },
            );
            id
        };
        self.inner.send(CommandBody::Open {
            window: id.to_string(),
            topic: topic.to_owned(),
            options,
        });
        RemoteWindow {
            inner: self.inner.clone(),
            id,
        }
    }

    /// Returns once the driver has acknowledged every command sent: what
    /// it reported (state, unsubscriptions, errors) is then in.
    pub(crate) async fn quiet(&self) {
        self.inner.quiet().await;
    }

    /// Why the conversation broke, if it did.
    pub(crate) fn failure(&self) -> Option<String> {
        self.inner.failure.lock().clone()
    }

    /// [`failure`](Self::failure), asked from any thread without keeping
    /// the connection alive.
    pub(crate) fn failure_watch(&self) -> impl Fn() -> Option<String> + Send + Sync + 'static {
        let inner = Arc::downgrade(&self.inner);
        move || inner.upgrade()?.failure.lock().clone()
    }

    /// Asks the driver's parser about `input` (a golden vector).
    pub(crate) async fn parse_revision(&self, input: Value) -> Result<Reply, String> {
        let (tx, rx) = oneshot::channel();
        let seq = self
            .inner
            .send_with(CommandBody::ParseRevision { input }, |seq| {
                self.inner.parses.lock().insert(seq, tx);
            });
        let _ = seq;
        tokio::select! {
            r = rx => r.map_err(|_| "the driver never answered".to_owned()),
            () = self.inner.failed.notified() => Err(self.failure().unwrap_or_default()),
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.inner.send(CommandBody::Quit);
        self.inner.pending.lock().clear();
        if let Some(child) = self.child.take() {
            // Never keep the case's thread: the driver may take a moment.
            std::thread::spawn(move || process::finish(child));
        }
    }
}

impl RemoteWindow {
    /// `start`, answered by the driver.
    pub(crate) async fn start(self) -> Result<(), CallError> {
        let window = self.id.to_string();
        self.call(|call| CommandBody::Start { window, call }).await
    }

    /// `refresh`, answered by the driver.
    pub(crate) async fn refresh(self) -> Result<(), CallError> {
        let window = self.id.to_string();
        self.call(|call| CommandBody::Refresh { window, call })
            .await
    }

    /// `stopped`: resolves once the driver says the engine has stopped.
    pub(crate) async fn stopped(self) {
        let window = self.id.to_string();
        let _ = self
            .call(|call| CommandBody::Stopped { window, call })
            .await;
    }

    /// `stop`.
    pub(crate) fn stop(&self) {
        self.inner.send(CommandBody::Stop {
            window: self.id.to_string(),
        });
    }

    /// The local position the driver last reported.
    pub(crate) fn local_position(&self) -> Position {
        self.served(|s| s.local_position).unwrap_or(Position::ZERO)
    }

    /// The lifecycle the driver last reported.
    pub(crate) fn lifecycle(&self) -> Lifecycle {
        self.served(|s| s.lifecycle).unwrap_or(Lifecycle::Idle)
    }

    /// The counters the driver last reported.
    pub(crate) fn metrics(&self) -> Metrics {
        self.served(|s| s.metrics).unwrap_or_default()
    }

    /// Whether the driver has acknowledged every command.
    pub(crate) fn is_idle(&self) -> bool {
        self.inner.pending.lock().is_empty()
    }

    fn served<T>(&self, f: impl FnOnce(&Served) -> T) -> Option<T> {
        self.inner.windows.lock().get(&self.id).map(f)
    }

    async fn call(self, body: impl FnOnce(u64) -> CommandBody) -> Result<(), CallError> {
        let call = self.inner.next_call.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.inner.calls.lock().insert(call, tx);
        self.inner.send(body(call));
        let broken = || CallError {
            phase: Phase::Start,
            message: format!(
                "the driver broke: {}",
                self.inner.failure.lock().clone().unwrap_or_default()
            ),
        };
        if self.inner.failure.lock().is_some() {
            return Err(broken());
        }
        tokio::select! {
            r = rx => r.unwrap_or_else(|_| Err(broken())),
            () = self.inner.failed.notified() => Err(broken()),
        }
    }
}

impl Inner {
    fn send(&self, body: CommandBody) -> u64 {
        self.send_with(body, |_| {})
    }

    /// Queues a command for the batch; `before` runs with its seq first.
    /// The batch goes out when the case runtime is about to park
    /// ([`Inner::flush`]).
    fn send_with(&self, body: CommandBody, before: impl FnOnce(u64)) -> u64 {
        let now_ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        let mut out = self.out.lock();
        out.seq += 1;
        out.last_now = out.last_now.max(now_ms);
        let seq = out.seq;
        before(seq);
        let quit = matches!(body, CommandBody::Quit);
        if !quit && self.failure.lock().is_none() {
            let busy = self
                .activity
                .busy(Party::Driver, format!("command {seq} ({})", kind_of(&body)));
            self.pending.lock().insert(seq, busy);
        }
        out.batch.push(Command {
            seq,
            now_ms,
            last: false,
            body,
        });
        drop(out);
        if quit {
            self.flush();
        }
        seq
    }

    /// Writes the batch.
    fn flush(&self) {
        let mut out = self.out.lock();
        let mut batch = std::mem::take(&mut out.batch);
        if let Some(last) = batch.last_mut() {
            last.last = true;
        }
        let mut broken = None;
        for command in batch {
            let (seq, kind) = (command.seq, kind_of(&command.body));
            let line = match serde_json::to_string(&command) {
                Ok(line) => line,
                Err(e) => {
                    broken = Some(format!("could not write command {seq} ({kind}): {e}"));
                    break;
                }
            };
            if out.lines.send(line).is_err() && kind != "quit" {
                broken = Some(format!(
                    "could not write command {seq} ({kind}): the driver's stdin is closed"
                ));
                break;
            }
        }
        drop(out);
        if let Some(why) = broken {
            self.fail(why);
        }
    }

    /// Records the conversation's failure (the first one counts) and wakes
    /// everything waiting on the driver.
    fn fail(&self, why: String) {
        {
            let mut failure = self.failure.lock();
            if failure.is_some() {
                return;
            }
            *failure = Some(format!("driver {}: {why}", self.info.describe()));
        }
        self.pending.lock().clear();
        self.calls.lock().clear();
        self.parses.lock().clear();
        self.failed.notify_waiters();
        self.acknowledged.notify_waiters();
    }

    fn ports(&self, window: &str) -> Option<Arc<Ports>> {
        self.windows.lock().get(window).map(|s| s.ports.clone())
    }

    /// Returns once the driver has acknowledged every command sent so far
    /// (not those sent meanwhile: an in-process engine's state is read
    /// before what it started has run).
    async fn quiet(&self) {
        let mark = self.out.lock().seq;
        loop {
            let acknowledged = self.acknowledged.notified();
            let waiting = self.pending.lock().keys().any(|seq| *seq <= mark);
            if !waiting || self.failure.lock().is_some() {
                return;
            }
            acknowledged.await;
        }
    }
}

/// Reads the driver's lines on the case's runtime.
async fn dispatch(inner: Weak<Inner>, mut rx: tmpsc::UnboundedReceiver<Incoming>) {
    while let Some(incoming) = rx.recv().await {
        let Some(inner) = inner.upgrade() else { return };
        // A driver that speaks is slow, not stuck.
        inner.activity.progress();
        match incoming {
            Incoming::Line(line) if line.trim().is_empty() => {}
            Incoming::Line(line) => {
                inner.handle(&line);
                drop(inner);
                // Let whatever the line woke (a call's caller, a port's
                // request) run before the next line is taken in, so that
                // what the case sees does not depend on how many of the
                // driver's lines had arrived by then.
                tokio::task::yield_now().await;
            }
            Incoming::End => {
                let why = format!(
                    "its output ended (the process exited or closed stdout){}",
                    process::shown_stderr(&inner.stderr)
                );
                inner.fail(why);
                return;
            }
        }
    }
}

/// Moves the driver's clock to its next timer when the case's time gets
/// there.
async fn clock(inner: Weak<Inner>) {
    let Some(inner) = inner.upgrade() else { return };
    loop {
        let (timer, last_now) = (*inner.timer.lock(), inner.out.lock().last_now);
        let changed = inner.timer_changed.notified();
        match timer.filter(|t| *t > last_now) {
            Some(t) => {
                tokio::select! {
                    () = tokio::time::sleep_until(inner.epoch + Duration::from_millis(t)) => {
                        if inner.failure.lock().is_some() {
                            return;
                        }
                        inner.send(CommandBody::Advance);
                    }
                    () = changed => {}
                }
            }
            None => changed.await,
        }
    }
}

fn kind_of(body: &CommandBody) -> &'static str {
    match body {
        CommandBody::Open { .. } => "open",
        CommandBody::Start { .. } => "start",
        CommandBody::Refresh { .. } => "refresh",
        CommandBody::Stop { .. } => "stop",
        CommandBody::Stopped { .. } => "stopped",
        CommandBody::Subscribed { .. } => "subscribed",
        CommandBody::Deliver { .. } => "deliver",
        CommandBody::Snapshot { .. } => "snapshot",
        CommandBody::Applied { .. } => "applied",
        CommandBody::Advance => "advance",
        CommandBody::ParseRevision { .. } => "parse_revision",
        CommandBody::Quit => "quit",
    }
}
