//! Connections to the broker that come back: a lazily made, shared
//! command connection, and the bookkeeping of an outage.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;

/// The first pause before reconnecting; it doubles up to [`MAX_BACKOFF`].
pub(crate) const MIN_BACKOFF: Duration = Duration::from_millis(20);
/// The longest pause between two attempts to reconnect.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// A multiplexed connection for commands, made on first use and again
/// after it failed.
pub(crate) struct Commands {
    client: redis::Client,
    config: AsyncConnectionConfig,
    connection: tokio::sync::Mutex<Option<MultiplexedConnection>>,
}

impl Commands {
    /// Commands that time out after `limit` (`None`: never, for blocking
    /// commands).
    pub(crate) fn new(client: redis::Client, limit: Option<Duration>) -> Self {
        Self {
            client,
            config: AsyncConnectionConfig::new()
                .set_response_timeout(limit)
                .set_connection_timeout(Some(limit.unwrap_or(Duration::from_secs(10)))),
            connection: tokio::sync::Mutex::new(None),
        }
    }

    /// The connection, connecting if there is none.
    pub(crate) async fn get(&self) -> redis::RedisResult<MultiplexedConnection> {
        let mut connection = self.connection.lock().await;
        if let Some(live) = connection.as_ref() {
            return Ok(live.clone());
        }
        let made = self
            .client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await?;
        *connection = Some(made.clone());
        Ok(made)
    }

    /// Drops the connection after a failure: the next use reconnects.
    pub(crate) async fn forget(&self) {
        *self.connection.lock().await = None;
    }

    /// Runs `command` on the connection; if the connection turns out to be
    /// broken (the broker went away since it was made), once more on a new
    /// one.
    pub(crate) async fn run<T, F, Fut>(&self, command: F) -> redis::RedisResult<T>
    where
        F: Fn(MultiplexedConnection) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        match command(self.get().await?).await {
            Err(e)
                if e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() =>
            {
                self.forget().await;
                command(self.get().await?).await
            }
            done => done,
        }
    }
}

impl Commands {
    /// Runs `command` until it succeeds, making the connection again and
    /// pausing (with backoff) between attempts. Once the broker has been
    /// unreachable for `give_up`, each failed attempt tells `unreachable`
    /// why (`what` failed), which says whether to go on trying; `None`
    /// when it stopped.
    pub(crate) async fn retry<T, F, Fut>(
        &self,
        what: &str,
        give_up: Duration,
        command: F,
        mut unreachable: impl FnMut(String) -> ControlFlow<()>,
    ) -> Option<T>
    where
        F: Fn(MultiplexedConnection) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let mut outage = Outage::default();
        loop {
            match self.run(&command).await {
                Ok(done) => return Some(done),
                Err(e) => {
                    self.forget().await;
                    let (pause, failure) = outage.failed(what, &e, give_up);
                    if let Some(why) = failure
                        && unreachable(why).is_break()
                    {
                        return None;
                    }
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }
}

/// How long the broker has been unreachable, and what to do meanwhile.
#[derive(Debug, Default)]
pub(crate) struct Outage {
    since: Option<Instant>,
    backoff: Option<Duration>,
}

impl Outage {
    /// An attempt failed: the pause before the next one, and — once the
    /// broker has been unreachable for `give_up` — why the transport
    /// cannot work.
    pub(crate) fn failed(
        &mut self,
        what: &str,
        error: &redis::RedisError,
        give_up: Duration,
    ) -> (Duration, Option<String>) {
        let since = *self.since.get_or_insert_with(Instant::now);
        let pause = self
            .backoff
            .map_or(MIN_BACKOFF, |b| (b * 2).min(MAX_BACKOFF));
        self.backoff = Some(pause);
        let down = since.elapsed();
        let failure = (down >= give_up).then(|| {
            format!(
                "the Redis broker has been unreachable for {:.1} s ({what}: {error})",
                down.as_secs_f64()
            )
        });
        (pause, failure)
    }

    /// An attempt succeeded.
    pub(crate) fn over(&mut self) {
        *self = Self::default();
    }
}
