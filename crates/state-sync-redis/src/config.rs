//! How a Redis transport names its keys and how long it waits.

use std::time::Duration;

/// Settings of a [`RedisBackend`](crate::RedisBackend) or
/// [`RedisWindows`](crate::RedisWindows).
///
/// ```
/// use std::time::Duration;
/// use state_sync_redis::RedisConfig;
///
/// let config = RedisConfig::new("settings-app").give_up_after(Duration::from_secs(30));
/// assert_eq!(config.bus(), "settings-app");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    bus: String,
    pub(crate) give_up_after: Duration,
    pub(crate) fetch_timeout: Duration,
    pub(crate) command_timeout: Duration,
}

/// The bus of [`RedisConfig::default`].
pub const DEFAULT_BUS: &str = "default";

impl RedisConfig {
    /// Settings for bus `bus`: every key and channel of the bus starts with
    /// `state-sync:{bus}:` (see the crate docs), so that buses sharing a
    /// broker share nothing.
    pub fn new(bus: impl Into<String>) -> Self {
        Self {
            bus: bus.into(),
            give_up_after: Duration::from_secs(10),
            fetch_timeout: Duration::from_secs(30),
            command_timeout: Duration::from_secs(10),
        }
    }

    /// How long the broker may stay unreachable before
    /// [`Backend::failure`](state_sync_transports::Backend::failure) reports
    /// it (10 s by default). The transport keeps reconnecting after that.
    pub fn give_up_after(mut self, limit: Duration) -> Self {
        self.give_up_after = limit;
        self
    }

    /// How long a window waits for a snapshot before its fetch fails
    /// (30 s by default): a request nobody serves (no backend running)
    /// fails instead of hanging.
    pub fn fetch_timeout(mut self, limit: Duration) -> Self {
        self.fetch_timeout = limit;
        self
    }

    /// How long one Redis command may take before it counts as failed
    /// (10 s by default; the `redis` crate's own default, 500 ms, is too
    /// short for a loaded machine).
    pub fn command_timeout(mut self, limit: Duration) -> Self {
        self.command_timeout = limit;
        self
    }

    /// The bus.
    pub fn bus(&self) -> &str {
        &self.bus
    }
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self::new(DEFAULT_BUS)
    }
}
