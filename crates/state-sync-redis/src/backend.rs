//! The backend end: [`RedisBackend`] publishes invalidations and serves
//! the snapshot requests windows push on the bus.

use std::collections::HashMap;
use std::fmt;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use serde_json::Value;
use state_sync::{BoxFuture, PortError};
use state_sync_transports::{Backend, SnapshotHandler, WindowEnds};
use tokio::sync::{mpsc, oneshot};

use crate::config::RedisConfig;
use crate::keys::Keys;
use crate::link::Commands;
use crate::windows::{Inner, RedisError, RedisWindows};
use crate::wire;
use state_sync_transports::io_thread::IoThread;

/// How long the request consumer's `BLPOP` blocks before it asks again.
const BLOCK_SECONDS: f64 = 5.0;

/// The backend end of a Redis bus: emits invalidations to every window of
/// the bus, in any process, and answers their snapshot requests with its
/// [`SnapshotHandler`].
///
/// One backend serves a bus. It also makes window ends of its own
/// ([`Backend::window_ends`]), through a [`RedisWindows`] client.
///
/// ```no_run
/// use std::sync::Arc;
/// use serde_json::json;
/// use state_sync::source::SourceOfTruth;
/// use state_sync_redis::{RedisBackend, RedisConfig};
/// use state_sync_transports::Backend;
///
/// let backend = RedisBackend::connect("redis://127.0.0.1/", RedisConfig::new("settings-app"))?;
/// let source = Arc::new(SourceOfTruth::new("settings", json!({"theme": "dark"})));
/// backend.serve_source(source.clone());
/// backend.emit(&source.set(json!({"theme": "light"}))?.to_json());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RedisBackend {
    shared: Arc<Shared>,
    publish: mpsc::UnboundedSender<Publish>,
    windows: RedisWindows,
}

struct Shared {
    keys: Keys,
    config: RedisConfig,
    handler: Mutex<Option<SnapshotHandler>>,
    failure: Mutex<Option<String>>,
    /// Settles waiting for their barrier, by number.
    settles: Mutex<HashMap<u64, oneshot::Sender<()>>>,
    next_settle: AtomicU64,
}

/// What the publisher sends, in order.
enum Publish {
    Event {
        text: String,
        topic: Option<String>,
    },
    /// A settle barrier of the backend's own windows client, for the
    /// settle of this number.
    Barrier {
        settle: u64,
    },
}

impl Shared {
    /// The transport cannot work: nothing waits for it any more.
    fn failed(&self, why: String) {
        self.failure.lock().get_or_insert(why);
        for (_, done) in self.settles.lock().drain() {
            let _ = done.send(());
        }
    }

    fn settled(&self, settle: u64) {
        if let Some(done) = self.settles.lock().remove(&settle) {
            let _ = done.send(());
        }
    }
}

impl RedisBackend {
    /// Connects to the broker at `url` as the backend of the bus of
    /// `config`. It returns at once; the connections are made on the
    /// transport's I/O thread (emits wait in order until they are).
    pub fn connect(url: &str, config: RedisConfig) -> Result<Self, RedisError> {
        let client = redis::Client::open(url).map_err(|source| RedisError::Url {
            url: url.to_owned(),
            source,
        })?;
        let io = IoThread::start("state-sync-redis")?;
        let shared = Arc::new(Shared {
            keys: Keys::new(config.bus()),
            config: config.clone(),
            handler: Mutex::new(None),
            failure: Mutex::new(None),
            settles: Mutex::default(),
            next_settle: AtomicU64::new(0),
        });
        let windows = RedisWindows::on(io.clone(), client.clone(), config.clone());
        let (publish, queue) = mpsc::unbounded_channel();
        io.spawn(publisher(
            shared.clone(),
            Commands::new(client.clone(), Some(config.command_timeout)),
            windows.inner().clone(),
            queue,
        ));
        io.spawn(consume_requests(shared.clone(), client));
        Ok(Self {
            shared,
            publish,
            windows,
        })
    }

    /// The backend's own windows client.
    pub fn windows(&self) -> &RedisWindows {
        &self.windows
    }
}

impl fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBackend")
            .field("bus", &self.shared.config.bus())
            .finish_non_exhaustive()
    }
}

impl Backend for RedisBackend {
    fn emit(&self, payload: &Value) {
        let text = payload.to_string();
        let topic = wire::topic_of(payload).map(str::to_owned);
        let _ = self.publish.send(Publish::Event { text, topic });
    }

    fn serve(&self, handler: SnapshotHandler) {
        *self.shared.handler.lock() = Some(handler);
    }

    fn window_ends(&self, label: &str, topic: &str) -> WindowEnds {
        WindowEnds::of(self.windows.window(label, topic))
    }

    /// The live subscriptions of the window ends this backend made.
    fn active_subscriptions(&self) -> Option<usize> {
        Some(self.windows.subscriptions())
    }

    /// Resolves once every invalidation emitted before is published and
    /// has reached the window ends this backend made: a barrier published
    /// after them, heard by its windows client (or a reconnect of that
    /// client, which then caught up with each topic's newest invalidation).
    fn settle(&self) -> BoxFuture<'_, ()> {
        let (done, settled) = oneshot::channel();
        let settle = self.shared.next_settle.fetch_add(1, Ordering::Relaxed);
        self.shared.settles.lock().insert(settle, done);
        // Checked after registering: a failure since has resolved it.
        if self.shared.failure.lock().is_some() {
            self.shared.settled(settle);
        }
        let _ = self.publish.send(Publish::Barrier { settle });
        Box::pin(async move {
            let _ = settled.await;
        })
    }

    fn failure(&self) -> Option<String> {
        self.shared
            .failure
            .lock()
            .clone()
            .or_else(|| self.windows.failure())
    }
}

/// Publishes emits and barriers in order, each retried until it is out.
async fn publisher(
    shared: Arc<Shared>,
    commands: Commands,
    windows: Arc<Inner>,
    mut queue: mpsc::UnboundedReceiver<Publish>,
) {
    let keys = &shared.keys;
    while let Some(item) = queue.recv().await {
        let (message, topic, barrier) = match item {
            Publish::Event { text, topic } => (wire::event(&text), topic, None),
            Publish::Barrier { settle } => {
                // Heard only by a subscribed connection (a later reconnect
                // resolves it, having caught up).
                if windows.until_live().await.is_err() {
                    shared.settled(settle);
                    continue;
                }
                let (id, heard) = windows.expect_barrier();
                (wire::barrier(windows.id(), id), None, Some((heard, settle)))
            }
        };
        let mut pipe = redis::pipe();
        pipe.atomic();
        if let Some(topic) = &topic {
            pipe.hset(&keys.latest, topic, &message).ignore();
        }
        pipe.publish(&keys.events, &message).ignore();
        let publish = |mut c: MultiplexedConnection| {
            let pipe = &pipe;
            async move { pipe.query_async::<()>(&mut c).await }
        };
        // In order: this one goes out before the next, however long the
        // broker is away (failed meanwhile).
        commands
            .retry("publishing", shared.config.give_up_after, publish, |why| {
                shared.failed(why);
                ControlFlow::Continue(())
            })
            .await;
        if let Some((heard, settle)) = barrier {
            let shared = shared.clone();
            tokio::spawn(async move {
                let _ = heard.await;
                shared.settled(settle);
            });
        }
    }
}

/// Takes snapshot requests off the bus's list and answers each on its
/// client's reply channel.
async fn consume_requests(shared: Arc<Shared>, client: redis::Client) {
    // BLPOP blocks: a connection of its own, without a response timeout.
    let blocking = Commands::new(client.clone(), None);
    let replies = Arc::new(Commands::new(client, Some(shared.config.command_timeout)));
    loop {
        let requests = &shared.keys.requests;
        let take = |mut c: MultiplexedConnection| async move {
            c.blpop::<_, Option<(String, String)>>(requests, BLOCK_SECONDS)
                .await
        };
        let request = blocking
            .retry(
                "waiting for snapshot requests",
                shared.config.give_up_after,
                take,
                |why| {
                    shared.failed(why);
                    ControlFlow::Continue(())
                },
            )
            .await;
        if let Some(Some((_, text))) = request {
            tokio::spawn(answer(shared.clone(), replies.clone(), text));
        }
    }
}

async fn answer(shared: Arc<Shared>, replies: Arc<Commands>, text: String) {
    let request = match wire::parse_request(&text) {
        Ok(request) => request,
        Err(why) => {
            tracing::warn!("state-sync-redis: a snapshot request that is not one, dropped: {why}");
            return;
        }
    };
    let handler = shared.handler.lock().clone();
    let result = match handler {
        Some(handler) => handler.call(request.topic).await,
        None => Err(PortError::new(
            "no snapshot handler is installed on the Redis backend",
        )),
    };
    let reply = wire::reply(request.id, &result);
    let channel = shared.keys.replies(&request.client);
    let sent = replies
        .run(|mut c| {
            let (channel, reply) = (&channel, &reply);
            async move { c.publish::<_, _, ()>(channel, reply).await }
        })
        .await;
    if let Err(e) = sent {
        // The window's fetch fails when its connection breaks or its
        // fetch times out.
        replies.forget().await;
        tracing::warn!("state-sync-redis: a snapshot reply was not sent: {e}");
    }
}
