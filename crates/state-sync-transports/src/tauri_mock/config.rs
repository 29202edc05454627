//! The switches of the Tauri mock.

use std::time::Duration;

/// Every behaviour of the mock that real Tauri apps vary on, or that a test
/// may want to turn off. [`Default`] is the realistic setting of each.
///
/// ```
/// use std::time::Duration;
/// use state_sync_transports::tauri_mock::{NumberMode, TauriMockConfig};
///
/// // A webview with JavaScript's numbers and a slow IPC.
/// let config = TauriMockConfig {
///     number_mode: NumberMode::JavaScript,
///     ipc_latency: Some(Duration::from_millis(5)),
///     ..TauriMockConfig::default()
/// };
/// assert!(config.async_listen);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TauriMockConfig {
    /// How long one IPC hop between a webview and the core takes: a
    /// `listen` or `unlisten` request, an `invoke` and its response each
    /// make hops. `None` (default): one scheduler yield per hop, the
    /// smallest delay that is still asynchronous. `Some(d)`: a sleep of
    /// `d` per hop on the runtime's clock ([`crate::clock::sleep`]; use
    /// paused time in tests).
    pub ipc_latency: Option<Duration>,
    /// `true` (default): a webview's `listen` is an IPC round trip; the
    /// listener is registered in the core after one hop, events emitted
    /// before that are lost, and the `listen` future resolves one hop
    /// later (so the handler can fire before it resolves). `false`: the
    /// listener is registered at once, when `listen`/`subscribe` is called.
    pub async_listen: bool,
    /// `true` (default): `unlisten` detaches the webview's handler at once
    /// but removes the core's listener entry one hop later (the entry still
    /// counts until then). `false`: both happen at once.
    pub async_unlisten: bool,
    /// `true` (default): an emit, listen or unlisten made while an emit is
    /// being dispatched (from inside a handler, or from another thread) is
    /// queued and runs after that dispatch (order: outer-start, outer-end,
    /// inner). `false`: it runs at once, nested inside the dispatch.
    pub defer_reentrant: bool,
    /// The order in which the listeners of one event are called.
    /// Default: [`ListenerOrder::Unspecified`] with seed 0 (Tauri keeps
    /// listeners in a hash map).
    pub listener_order: ListenerOrder,
    /// How a webview parses the JSON it receives (events, command results
    /// and errors). Default: [`NumberMode::Exact`].
    pub number_mode: NumberMode,
    /// How command argument names appear as keys on the wire. Default:
    /// [`ArgCase::Camel`] (Tauri's default; `#[tauri::command(rename_all =
    /// "snake_case")]` gives [`ArgCase::Snake`]).
    pub arg_case: ArgCase,
    /// How commands run. Default: [`CommandExecution::Concurrent`] (async
    /// commands).
    pub command_execution: CommandExecution,
}

impl Default for TauriMockConfig {
    fn default() -> Self {
        Self {
            ipc_latency: None,
            async_listen: true,
            async_unlisten: true,
            defer_reentrant: true,
            listener_order: ListenerOrder::Unspecified { seed: 0 },
            number_mode: NumberMode::Exact,
            arg_case: ArgCase::Camel,
            command_execution: CommandExecution::Concurrent,
        }
    }
}

/// The order in which the listeners of one event are called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerOrder {
    /// In registration order.
    Registration,
    /// A seeded shuffle per emit: code must not depend on the order, as in
    /// Tauri, yet a run is reproducible from its seed.
    Unspecified {
        /// The shuffle's seed.
        seed: u64,
    },
}

/// How a webview parses JSON numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NumberMode {
    /// As `serde_json` does: integers up to `u64::MAX` stay exact. This is
    /// what a Rust engine that parses the JSON text itself sees.
    #[default]
    Exact,
    /// As JavaScript's `JSON.parse` does: every number is an IEEE double, so
    /// integers above 2^53 lose precision (`9007199254740993` arrives as
    /// `9007199254740992`) and `1.0` arrives as `1`. This is what an engine
    /// running in the webview sees, and why revisions travel as strings.
    JavaScript,
}

/// How command argument names appear as keys on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ArgCase {
    /// `window_label` is sent as `windowLabel` (Tauri's default).
    #[default]
    Camel,
    /// Keys are the Rust names (`rename_all = "snake_case"`).
    Snake,
}

/// How command handlers run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CommandExecution {
    /// Each invoke runs on its own task, so a slow call does not hold up a
    /// fast one and responses can resolve out of order (Tauri's async
    /// commands).
    #[default]
    Concurrent,
    /// One call at a time, in arrival order (Tauri's synchronous commands,
    /// which run on the main thread).
    Serial,
}
