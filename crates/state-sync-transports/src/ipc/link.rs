//! A window's connection: the task on the I/O thread that owns it, what
//! the window sends it, and how it reconnects when the connection drops.

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use parking_lot::Mutex;
use serde_json::Value;
use state_sync::ports::panic_message;
use state_sync::{Payload, PayloadHandler, PortError};
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::{FramedRead, FramedWrite, LinesCodec};

use super::io::{self, Address};
use super::wire::{self, ToServer, ToWindow};

/// The first pause before reconnecting; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(5);
const MAX_BACKOFF: Duration = Duration::from_millis(500);

pub(super) type Handlers = Arc<Mutex<HashMap<u64, PayloadHandler>>>;

/// The window's side of its connection task.
pub(super) struct Link {
    pub(super) commands: mpsc::UnboundedSender<Command>,
    /// Handlers by subscription id; removed at once on unsubscribe, so no
    /// delivery starts afterwards.
    pub(super) subscriptions: Handlers,
    pub(super) next_id: AtomicU64,
}

pub(super) enum Command {
    Subscribe {
        id: u64,
        /// The controller's emits made before subscribing.
        after: Option<u64>,
        done: oneshot::Sender<Result<(), PortError>>,
    },
    Unsubscribe {
        id: u64,
    },
    Snapshot {
        done: oneshot::Sender<Result<Value, PortError>>,
    },
}

pub(super) fn gone() -> PortError {
    PortError::new("the IPC window's connection task has stopped")
}

/// The task that owns a window's connection.
pub(super) struct LinkTask {
    pub(super) address: Address,
    pub(super) label: String,
    pub(super) topic: String,
    pub(super) max_frame_bytes: usize,
    pub(super) subscriptions: Handlers,
    pub(super) commands: mpsc::UnboundedReceiver<Command>,
    /// Settle barriers asked for by the client.
    pub(super) pings: mpsc::UnboundedReceiver<Ping>,
    /// Barriers that wait for the connection to be back.
    pub(super) held: Vec<oneshot::Sender<()>>,
}

/// A settle barrier asked of a connection task.
pub(super) struct Ping {
    /// Answered once the server has handled everything sent before.
    pub(super) done: oneshot::Sender<()>,
    /// While cut off with subscriptions to resume, wait until the
    /// connection is back and has resumed them, instead of answering at
    /// once (the server is known to be coming back).
    pub(super) reconnected: bool,
}

/// What a connection is waiting for the server to answer.
#[derive(Default)]
struct Pending {
    next_id: u64,
    subscribes: HashMap<u64, oneshot::Sender<Result<(), PortError>>>,
    snapshots: HashMap<u64, oneshot::Sender<Result<Value, PortError>>>,
    pings: HashMap<u64, Ping>,
}

impl Pending {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Registers `ping`; the frame that asks the server for it.
    fn ping(&mut self, ping: Ping) -> String {
        let id = self.id();
        self.pings.insert(id, ping);
        wire::encode(&ToServer::Ping { id })
    }

    /// The connection dropped: nothing pending will be answered. Returns
    /// the barriers that wait for the next connection.
    fn fail(&mut self, why: &str) -> Vec<oneshot::Sender<()>> {
        for (_, done) in self.subscribes.drain() {
            let _ = done.send(Err(PortError::new(why)));
        }
        for (_, done) in self.snapshots.drain() {
            let _ = done.send(Err(PortError::new(why)));
        }
        // Nothing more will arrive on this connection.
        let mut held = Vec::new();
        for (_, ping) in self.pings.drain() {
            if ping.reconnected {
                held.push(ping.done);
            } else {
                let _ = ping.done.send(());
            }
        }
        held
    }
}

/// How long a window that is gone waits for the server to close its
/// connection.
const CLOSE_LIMIT: Duration = Duration::from_secs(2);

impl LinkTask {
    pub(super) async fn run(mut self) {
        // Subscriptions the server knows about (to resume after a drop).
        let mut live = HashSet::new();
        let mut backoff = FIRST_BACKOFF;
        loop {
            // Idle and disconnected: connect only when there is work.
            let first = if live.is_empty() {
                match self.idle().await {
                    Some(command) => Some(command),
                    None => return,
                }
            } else {
                None
            };
            let (reader, writer) = match io::connect(&self.address).await {
                Ok(halves) => halves,
                Err(e) => {
                    let why = format!("cannot connect to the IPC server at {}: {e}", self.address);
                    self.refuse(first, &why, &mut live);
                    while let Ok(command) = self.commands.try_recv() {
                        self.refuse(Some(command), &why, &mut live);
                    }
                    if self.commands.is_closed() {
                        return;
                    }
                    if !live.is_empty() {
                        self.back_off(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                    continue;
                }
            };
            backoff = FIRST_BACKOFF;
            match self.converse(reader, writer, &mut live, first).await {
                Ended::WindowGone => return,
                Ended::Dropped(why) => {
                    tracing::debug!(label = %self.label, topic = %self.topic, "state-sync ipc: {why}; reconnecting");
                }
            }
        }
    }

    /// Waits, disconnected, for a command; settle barriers are answered at
    /// once (nothing is in flight, nothing to resume). `None`: the window
    /// is gone.
    async fn idle(&mut self) -> Option<Command> {
        for done in self.held.drain(..) {
            let _ = done.send(());
        }
        loop {
            tokio::select! {
                command = self.commands.recv() => return command,
                Some(ping) = self.pings.recv() => {
                    let _ = ping.done.send(());
                }
            }
        }
    }

    /// Waits `pause` before reconnecting; settle barriers are answered
    /// meanwhile (nothing is in flight while cut off), but for those that
    /// wait for the connection to be back.
    async fn back_off(&mut self, pause: Duration) {
        let sleep = tokio::time::sleep(pause);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => return,
                Some(ping) = self.pings.recv() => self.cut_off(ping),
            }
        }
    }

    /// Answers `ping` while cut off, or holds it for the next connection.
    fn cut_off(&mut self, ping: Ping) {
        if ping.reconnected {
            self.held.push(ping.done);
        } else {
            let _ = ping.done.send(());
        }
    }

    /// Answers a command that cannot be sent.
    fn refuse(&mut self, command: Option<Command>, why: &str, live: &mut HashSet<u64>) {
        match command {
            Some(Command::Subscribe { id, done, .. }) => {
                self.subscriptions.lock().remove(&id);
                let _ = done.send(Err(PortError::new(why)));
            }
            Some(Command::Snapshot { done }) => {
                let _ = done.send(Err(PortError::new(why)));
            }
            Some(Command::Unsubscribe { id }) => {
                // Not to be resumed.
                live.remove(&id);
            }
            None => {}
        }
        while let Ok(ping) = self.pings.try_recv() {
            self.cut_off(ping);
        }
    }

    /// Runs one connection until it drops or the window is gone.
    async fn converse(
        &mut self,
        reader: io::Reader,
        writer: io::Writer,
        live: &mut HashSet<u64>,
        first: Option<Command>,
    ) -> Ended {
        let mut lines = FramedRead::new(
            reader,
            LinesCodec::new_with_max_length(self.max_frame_bytes),
        );
        let mut sink = FramedWrite::new(writer, LinesCodec::new());
        let mut pending = Pending::default();
        // Subscriptions that were live before the drop come back first.
        let mut out: Vec<String> = live
            .iter()
            .map(|&id| {
                wire::encode(&ToServer::Subscribe {
                    id,
                    topic: self.topic.clone(),
                    label: self.label.clone(),
                    resume: true,
                    after: None,
                })
            })
            .collect();
        out.extend(first.and_then(|command| self.frame(command, live, &mut pending)));
        // Barriers that waited for the connection to be back: answered
        // once the server has resumed the subscriptions.
        for done in std::mem::take(&mut self.held) {
            out.push(pending.ping(Ping {
                done,
                reconnected: true,
            }));
        }
        loop {
            for frame in out.drain(..) {
                if let Err(e) = sink.send(frame).await {
                    let why = format!("the connection to {} failed: {e}", self.address);
                    self.held.extend(pending.fail(&why));
                    return Ended::Dropped(why);
                }
            }
            tokio::select! {
                biased;
                command = self.commands.recv() => match command {
                    Some(command) => out.extend(self.frame(command, live, &mut pending)),
                    None => {
                        // Held barriers dropped unanswered: an answer.
                        pending.fail("the window was dropped");
                        self.close(sink, lines).await;
                        return Ended::WindowGone;
                    }
                },
                Some(ping) = self.pings.recv() => {
                    // Whatever the window sent before settle was called
                    // goes first.
                    while let Ok(command) = self.commands.try_recv() {
                        out.extend(self.frame(command, live, &mut pending));
                    }
                    out.push(pending.ping(ping));
                }
                line = lines.next() => {
                    let why = match line {
                        Some(Ok::<String, _>(line)) => {
                            // Events first: their payload is handed over as text.
                            if let Some(event) = wire::decode_event(&line) {
                                self.deliver(event.sub, Payload::from(event.payload));
                                continue;
                            }
                            match wire::decode::<ToWindow>(&line) {
                                Ok(frame) => {
                                    self.receive(frame, live, &mut pending);
                                    continue;
                                }
                                Err(e) => format!("the IPC server sent {e}"),
                            }
                        }
                        Some(Err(e)) => format!("the connection to {} failed: {e}", self.address),
                        None => format!("the IPC server at {} closed the connection", self.address),
                    };
                    self.held.extend(pending.fail(&why));
                    return Ended::Dropped(why);
                }
            }
        }
    }

    /// The window is gone: ends the connection and waits (briefly) until
    /// the server has closed its side, so that a settle that follows sees
    /// the server without this window's subscriptions.
    async fn close(
        &self,
        mut sink: FramedWrite<io::Writer, LinesCodec>,
        mut lines: FramedRead<io::Reader, LinesCodec>,
    ) {
        let _ = SinkExt::<String>::close(&mut sink).await;
        let drained = async { while let Some(Ok(_)) = lines.next().await {} };
        let _ = tokio::time::timeout(CLOSE_LIMIT, drained).await;
    }

    /// The frame for `command`, registering what it waits for.
    fn frame(
        &self,
        command: Command,
        live: &mut HashSet<u64>,
        pending: &mut Pending,
    ) -> Option<String> {
        let frame = match command {
            Command::Subscribe { id, after, done } => {
                pending.subscribes.insert(id, done);
                ToServer::Subscribe {
                    id,
                    topic: self.topic.clone(),
                    label: self.label.clone(),
                    resume: false,
                    after,
                }
            }
            Command::Unsubscribe { id } => {
                // Never acknowledged: it only needs to arrive.
                if !live.remove(&id) && pending.subscribes.remove(&id).is_none() {
                    return None;
                }
                ToServer::Unsubscribe { id }
            }
            Command::Snapshot { done } => {
                let id = pending.id();
                pending.snapshots.insert(id, done);
                ToServer::Snapshot {
                    id,
                    topic: self.topic.clone(),
                }
            }
        };
        Some(wire::encode(&frame))
    }

    /// Hands `payload` to the handler of subscription `sub`, if it is
    /// still there.
    fn deliver(&self, sub: u64, payload: Payload<'_>) {
        let handler = self.subscriptions.lock().get(&sub).cloned();
        if let Some(handler) = handler
            && let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(|| handler(payload)))
        {
            tracing::error!(
                "state-sync ipc: an invalidation handler panicked: {}",
                panic_message(&*panic)
            );
        }
    }

    fn receive(&self, frame: ToWindow, live: &mut HashSet<u64>, pending: &mut Pending) {
        match frame {
            ToWindow::Subscribed { id } => {
                if let Some(done) = pending.subscribes.remove(&id) {
                    live.insert(id);
                    let _ = done.send(Ok(()));
                } else {
                    // A resumed subscription.
                    live.insert(id);
                }
            }
            ToWindow::Event { sub, payload } => self.deliver(sub, Payload::Value(&payload)),
            ToWindow::Snapshot { id, result } => {
                if let Some(done) = pending.snapshots.remove(&id) {
                    let _ = done.send(result.into_result());
                }
            }
            ToWindow::Pong { id } => {
                if let Some(ping) = pending.pings.remove(&id) {
                    let _ = ping.done.send(());
                }
            }
        }
    }
}

enum Ended {
    /// Every handle of the window is gone: stop.
    WindowGone,
    /// The connection dropped: reconnect.
    Dropped(String),
}
