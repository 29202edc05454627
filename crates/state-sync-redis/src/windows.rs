//! The window side: [`RedisWindows`], one client's connection to a bus, and
//! its [`Window`] ends.
//!
//! A client holds one pub/sub connection, subscribed for its whole life to
//! the bus's events channel and to its own reply channel, and shares it
//! among all its window ends: an engine's subscription is a local handler,
//! live as soon as the connection is. After the connection comes back, the
//! client delivers each topic's newest invalidation kept in the bus's
//! `latest` hash (what was emitted meanwhile is not replayed one by one).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt;
use parking_lot::Mutex;
use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use serde_json::Value;
use state_sync::ports::{PayloadHandler, tree_handler};
use state_sync::{
    BoxFuture, InvalidationHandler, InvalidationSubscriber, Payload, PortError, SnapshotProvider,
    Subscription,
};
use tokio::sync::{oneshot, watch};

use crate::config::RedisConfig;
use crate::keys::Keys;
use crate::link::{Commands, Outage};
use crate::wire::{self, Message};
use state_sync_transports::io_thread::IoThread;

/// A client's connection to a bus, for window ends in this process.
///
/// Use it in a process that has windows but no backend; a
/// [`RedisBackend`](crate::RedisBackend) has one of its own.
///
/// ```no_run
/// use state_sync_redis::{RedisConfig, RedisWindows};
///
/// let windows = RedisWindows::connect("redis://127.0.0.1/", RedisConfig::new("settings-app"))?;
/// let window = windows.window("main", "settings");
/// // Plug `window` in as both the subscriber and the provider of an engine.
/// # Ok::<(), state_sync_redis::RedisError>(())
/// ```
#[derive(Clone)]
pub struct RedisWindows {
    inner: Arc<Inner>,
    io: Arc<IoThread>,
}

/// A window end: subscribes to the bus and fetches its topic's snapshot
/// from the backend, through the broker.
#[derive(Clone)]
pub struct Window {
    inner: Arc<Inner>,
    io: Arc<IoThread>,
    label: String,
    topic: String,
}

type Answer = oneshot::Sender<Result<Value, PortError>>;

pub(crate) struct Inner {
    id: String,
    keys: Keys,
    config: RedisConfig,
    client: redis::Client,
    commands: Commands,
    handlers: Mutex<BTreeMap<u64, PayloadHandler>>,
    next_handler: AtomicU64,
    /// Whether the pub/sub connection is subscribed.
    live: watch::Sender<bool>,
    fetches: Mutex<HashMap<u64, Answer>>,
    next_fetch: AtomicU64,
    barriers: Mutex<HashMap<u64, oneshot::Sender<()>>>,
    next_barrier: AtomicU64,
    failure: Mutex<Option<String>>,
}

/// A Redis URL that does not parse, or an I/O thread that does not start.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    /// The URL is not one the `redis` crate accepts.
    #[error("not a Redis URL: {url:?} ({source})")]
    Url {
        /// The URL given.
        url: String,
        /// Why.
        source: redis::RedisError,
    },
    /// The transport's I/O thread did not start.
    #[error("cannot start the Redis transport's I/O thread: {0}")]
    Thread(#[from] std::io::Error),
}

impl RedisWindows {
    /// Connects to the broker at `url` (`redis://host:port/db`,
    /// `unix:///path/to/redis.sock`, …) for the bus of `config`.
    ///
    /// It returns at once: the connection is made on the transport's I/O
    /// thread, and subscriptions wait for it.
    pub fn connect(url: &str, config: RedisConfig) -> Result<Self, RedisError> {
        let client = redis::Client::open(url).map_err(|source| RedisError::Url {
            url: url.to_owned(),
            source,
        })?;
        let io = IoThread::start("state-sync-redis-windows")?;
        Ok(Self::on(io, client, config))
    }

    pub(crate) fn on(io: Arc<IoThread>, client: redis::Client, config: RedisConfig) -> Self {
        let inner = Arc::new(Inner {
            id: format!("{:016x}", fastrand::u64(..)),
            keys: Keys::new(config.bus()),
            commands: Commands::new(client.clone(), Some(config.command_timeout)),
            config,
            client,
            handlers: Mutex::default(),
            next_handler: AtomicU64::new(0),
            live: watch::Sender::new(false),
            fetches: Mutex::default(),
            next_fetch: AtomicU64::new(0),
            barriers: Mutex::default(),
            next_barrier: AtomicU64::new(0),
            failure: Mutex::new(None),
        });
        io.spawn(listen(inner.clone()));
        Self { inner, io }
    }

    /// A window end named `label` (for logs) for `topic`.
    pub fn window(&self, label: &str, topic: &str) -> Window {
        Window {
            inner: self.inner.clone(),
            io: self.io.clone(),
            label: label.to_owned(),
            topic: topic.to_owned(),
        }
    }

    /// The live subscriptions of this client's window ends.
    pub fn subscriptions(&self) -> usize {
        self.inner.handlers.lock().len()
    }

    /// Resolves once every invalidation published on the bus before the
    /// call has been delivered to this client's subscriptions (or the
    /// client has failed): it publishes a barrier and waits to hear it.
    pub fn settle(&self) -> BoxFuture<'static, ()> {
        let (id, heard) = self.inner.expect_barrier();
        let inner = self.inner.clone();
        self.io.spawn(async move {
            let message = wire::barrier(&inner.id, id);
            if inner.until_live().await.is_err() {
                return; // failed: the barrier is resolved
            }
            let publish = |mut c: MultiplexedConnection| {
                let (events, message) = (&inner.keys.events, &message);
                async move { c.publish::<_, _, ()>(events, message).await }
            };
            // Unreachable for too long: the client has failed, which
            // resolves the barrier.
            inner
                .commands
                .retry(
                    "publishing a settle barrier",
                    inner.config.give_up_after,
                    publish,
                    |why| {
                        inner.failed(why);
                        ControlFlow::Break(())
                    },
                )
                .await;
        });
        Box::pin(async move {
            let _ = heard.await;
        })
    }

    /// Why this client cannot work (the broker unreachable for longer than
    /// [`RedisConfig::give_up_after`]); `None` while it works.
    pub fn failure(&self) -> Option<String> {
        self.inner.failure.lock().clone()
    }

    /// This client's id (its reply channel and barriers carry it).
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    pub(crate) fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }
}

impl fmt::Debug for RedisWindows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisWindows")
            .field("bus", &self.inner.config.bus())
            .field("id", &self.inner.id)
            .finish_non_exhaustive()
    }
}

impl Inner {
    /// Registers a barrier: the id to publish, and what resolves when it
    /// is heard (or the client reconnected, or failed).
    pub(crate) fn expect_barrier(&self) -> (u64, oneshot::Receiver<()>) {
        let id = self.next_barrier.fetch_add(1, Ordering::Relaxed);
        let (heard, hearing) = oneshot::channel();
        self.barriers.lock().insert(id, heard);
        if self.failure.lock().is_some() {
            self.barriers.lock().remove(&id);
        }
        (id, hearing)
    }

    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    fn failed(&self, why: String) {
        self.failure.lock().get_or_insert(why);
        // Nothing waits for a client that cannot work.
        self.barriers.lock().clear();
        self.live.send_modify(|_| {});
    }

    fn deliver(&self, payload: &[u8]) {
        let handlers: Vec<PayloadHandler> = self.handlers.lock().values().cloned().collect();
        for handler in handlers {
            handler(Payload::Bytes(payload));
        }
    }

    fn on_message(&self, channel: &str, message: &[u8]) {
        if channel == self.keys.events {
            match wire::parse(message) {
                Some(Message::Event(payload)) => self.deliver(payload),
                Some(Message::Barrier { client, id }) if client == self.id => {
                    if let Some(heard) = self.barriers.lock().remove(&id) {
                        let _ = heard.send(());
                    }
                }
                _ => {}
            }
        } else if let Some((id, result)) = wire::parse_reply(message) {
            if let Some(answer) = self.fetches.lock().remove(&id) {
                let _ = answer.send(result);
            }
        } else {
            tracing::warn!(
                "state-sync-redis: a reply that is not one: {:.200}",
                String::from_utf8_lossy(message)
            );
        }
    }

    /// Delivers each topic's newest invalidation kept by the bus.
    async fn catch_up(&self) -> redis::RedisResult<()> {
        let latest: Vec<Vec<u8>> = self
            .commands
            .run(|mut c| async move { c.hvals(&self.keys.latest).await })
            .await?;
        for message in latest {
            if let Some(Message::Event(payload)) = wire::parse(&message) {
                self.deliver(payload);
            }
        }
        Ok(())
    }

    /// Waits until the pub/sub connection is subscribed (a barrier
    /// published before would not be heard).
    pub(crate) async fn until_live(&self) -> Result<(), PortError> {
        let mut live = self.live.subscribe();
        loop {
            if *live.borrow_and_update() {
                return Ok(());
            }
            if let Some(why) = self.failure.lock().clone() {
                return Err(PortError::new(why));
            }
            if live.changed().await.is_err() {
                return Err(PortError::new("the Redis transport has stopped"));
            }
        }
    }

    /// Asks for `topic`'s snapshot and hands the reply (or why there is
    /// none within the fetch limit) to `answer`.
    async fn fetch(self: Arc<Self>, topic: String, mut answer: Answer) {
        let id = self.next_fetch.fetch_add(1, Ordering::Relaxed);
        // The listener hands the reply here, or fails it at a disconnect.
        let (reply, replied) = oneshot::channel();
        self.fetches.lock().insert(id, reply);
        let limit = self.config.fetch_timeout;
        let fetched = tokio::time::timeout(limit, async {
            // The reply comes on the pub/sub connection: it must be
            // subscribed before the request leaves.
            self.until_live().await?;
            let request = wire::request(&self.id, id, &topic);
            let asked = self
                .commands
                .run(|mut c| {
                    let (requests, request) = (&self.keys.requests, &request);
                    async move { c.rpush::<_, _, ()>(requests, request).await }
                })
                .await;
            if let Err(e) = asked {
                self.commands.forget().await;
                return Err(asking_failed(&e));
            }
            replied
                .await
                .unwrap_or_else(|_| Err(PortError::new("the Redis transport has stopped")))
        });
        let result = tokio::select! {
            fetched = fetched => fetched.unwrap_or_else(|_| Err(no_answer(&topic, limit))),
            // Nobody waits for it any more.
            () = answer.closed() => Err(PortError::new("the fetch was dropped")),
        };
        self.fetches.lock().remove(&id);
        let _ = answer.send(result);
    }
}

fn asking_failed(e: &redis::RedisError) -> PortError {
    PortError::new(format!("could not ask for a snapshot through Redis: {e}"))
}

fn no_answer(topic: &str, limit: std::time::Duration) -> PortError {
    PortError::new(format!(
        "no snapshot of {topic:?} within {} s: is a backend serving the bus?",
        limit.as_secs_f64()
    ))
}

/// Keeps the pub/sub connection subscribed, reconnecting after it breaks.
async fn listen(inner: Arc<Inner>) {
    let mut outage = Outage::default();
    let mut first = true;
    loop {
        let connected = async {
            let (mut sink, stream) = inner.client.get_async_pubsub().await?.split();
            sink.subscribe(&inner.keys.events).await?;
            sink.subscribe(inner.keys.replies(&inner.id)).await?;
            redis::RedisResult::Ok((sink, stream))
        }
        .await;
        let (_sink, mut stream) = match connected {
            Ok(connected) => connected,
            Err(e) => {
                let (pause, failure) =
                    outage.failed("subscribing to the bus", &e, inner.config.give_up_after);
                if let Some(why) = failure {
                    inner.failed(why);
                }
                tokio::time::sleep(pause).await;
                continue;
            }
        };
        outage.over();
        if !first {
            // The command connection, if any, went down with the broker.
            inner.commands.forget().await;
            if let Err(e) = inner.catch_up().await {
                tracing::warn!("state-sync-redis: catching up after a reconnect failed: {e}");
            }
            // What was published before a pending barrier has been caught
            // up with.
            for (_, heard) in inner.barriers.lock().drain() {
                let _ = heard.send(());
            }
        }
        first = false;
        inner.live.send_replace(true);
        while let Some(message) = stream.next().await {
            inner.on_message(message.get_channel_name(), message.get_payload_bytes());
        }
        inner.live.send_replace(false);
        // Replies on their way may be lost with the connection.
        let lost: Vec<Answer> = inner.fetches.lock().drain().map(|(_, a)| a).collect();
        for answer in lost {
            let _ = answer.send(Err(PortError::new(
                "the connection to the Redis broker broke while a snapshot was on its way",
            )));
        }
    }
}

impl Window {
    /// The window's label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The topic whose snapshot this window fetches.
    pub fn topic(&self) -> &str {
        &self.topic
    }
}

impl fmt::Debug for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Window")
            .field("label", &self.label)
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl InvalidationSubscriber for Window {
    fn subscribe(
        &self,
        handler: InvalidationHandler,
    ) -> BoxFuture<'_, Result<Subscription, PortError>> {
        self.subscribe_payloads(tree_handler(handler))
    }

    /// Payloads are handed over as the bytes of the message that carried
    /// them.
    fn subscribe_payloads(
        &self,
        handler: PayloadHandler,
    ) -> BoxFuture<'_, Result<Subscription, PortError>> {
        let inner = self.inner.clone();
        let (done, subscribed) = oneshot::channel();
        // Waited for on the I/O thread, whose clock is real.
        self.io.spawn({
            let inner = inner.clone();
            async move {
                let _ = done.send(inner.until_live().await);
            }
        });
        Box::pin(async move {
            subscribed
                .await
                .unwrap_or_else(|_| Err(PortError::new("the Redis transport has stopped")))?;
            let id = inner.next_handler.fetch_add(1, Ordering::Relaxed);
            inner.handlers.lock().insert(id, handler);
            Ok(Subscription::new(move || {
                inner.handlers.lock().remove(&id);
            }))
        })
    }
}

impl SnapshotProvider for Window {
    fn get_snapshot(&self) -> BoxFuture<'_, Result<Value, PortError>> {
        let (answer, answered) = oneshot::channel();
        self.io
            .spawn(self.inner.clone().fetch(self.topic.clone(), answer));
        Box::pin(async move {
            answered
                .await
                .unwrap_or_else(|_| Err(PortError::new("the Redis transport has stopped")))
        })
    }
}
