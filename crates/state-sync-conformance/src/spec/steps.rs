//! The steps of a scenario: what each one does and what it takes.

use std::num::NonZeroU32;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::expect::Expect;
use super::faults::{BackendFaults, Faults};
use super::vocab::{PhaseName, WindowSel};
#[cfg(feature = "schema")]
use super::vocab_schema::RevisionText;
use state_sync::Revision;

/// One step of a scenario. Written as an object with exactly one key, the
/// step's name: `{"start": {"window": "a"}}`. More steps may be added in
/// later versions.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Create windows (engines) on the bus; they do nothing until started.
    Open(Open),
    /// Start windows.
    Start(Start),
    /// Wait for windows started with `"background": true`.
    Join(Join),
    /// Stop windows.
    Stop(Targets),
    /// Stop windows, drop them and free their names (window churn).
    Close(Targets),
    /// Call `refresh` on windows.
    Refresh(Start),
    /// Change the source of truth: new data, revision bump, and (unless told
    /// otherwise) emit the invalidation.
    Mutate(Mutate),
    /// Restart the source of truth of a topic, keeping its revision history
    /// (it carries on) or losing it (revision 0 again, in a newer epoch:
    /// SRC-4). Nothing is emitted: windows learn of the new run from its
    /// next change, or their next fetch.
    RestartSource(RestartSource),
    /// Restart the transport's broker or server, as a crash and a restart
    /// would (`Backend::restart`; needs the `restarts` capability, which the
    /// spec must require): its ends must recover on their own (TR-8).
    RestartTransport(RestartTransport),
    /// Emit a raw payload through the backend, garbage included.
    Emit(Emit),
    /// Set the fault layer's behaviour for windows.
    Faults(Faults),
    /// Make the backend's snapshot source fail: the transport must carry
    /// the failure to the window as an error.
    Backend(BackendFaults),
    /// Let what a window's fault layer holds go on: fetches held by
    /// `snapshot.hold_next`, subscribes held by `subscribe_hold_next`,
    /// events held by `hold_events` (in a chosen order).
    Release(Release),
    /// A reaction: when a window applies a revision, change the source at
    /// once, inside the apply (what an app whose applier writes back does).
    OnApply(OnApply),
    /// Advance virtual time.
    Advance(Advance),
    /// Let everything in flight finish: advance virtual time until quiet.
    Settle(Settle),
    /// Wait for windows' `stopped()`: it must resolve within the given
    /// virtual time (a stopped window whose apply is still running is not
    /// stopped yet).
    Stopped(StoppedWait),
    /// Check the state of windows, the source and the bus.
    Expect(Box<Expect>),
}

/// `open`: create windows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Open {
    /// The windows to create.
    pub window: WindowSel,
    /// The topic they sync (default `"topic"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// The window label passed to the transport (default: the window's
    /// name). Engines with the same label but different topics model one
    /// window syncing several topics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// A `should_refresh` filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub should_refresh: Option<Filter>,
    /// Debounce or throttle event-triggered refreshes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle: Option<ThrottleSpec>,
    /// Wrap the provider with a retry policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetrySpec>,
    /// Bound on refetches after a snapshot older than an announced revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_stale_refetches: Option<u32>,
    /// Make the `on_error` hook panic on every call (the engine must survive).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub panicking_error_hook: bool,
    /// The bus the windows use (default [`MAIN_BUS`]): another name opens
    /// another instance of the transport, serving the same source of truth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bus: Option<String>,
}

/// The bus every step uses unless it names another.
pub const MAIN_BUS: &str = "main";

/// A `should_refresh` filter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Filter {
    /// Refresh only for events whose `sourceId` is not this one.
    IgnoreSourceId(String),
    /// Refresh only for events whose `sourceId` is this one.
    OnlySourceId(String),
    /// Never refresh on events.
    Never,
    /// Panic (the engine must report phase `invalidation` and survive).
    Panic,
}

/// Debounce or throttle settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ThrottleSpec {
    /// Refresh once events have been quiet for this many ms.
    DebounceMs(u64),
    /// At most one refresh per interval.
    Throttle {
        /// Interval in ms.
        interval_ms: u64,
        /// Refresh on the first event of a quiet period (default true).
        #[serde(default = "yes")]
        leading: bool,
        /// Refresh at the end of a busy window (default true).
        #[serde(default = "yes")]
        trailing: bool,
    },
}

fn yes() -> bool {
    true
}

/// Retry policy for a window's provider.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    /// Total attempts (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// First delay in ms (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_delay_ms: Option<u64>,
    /// Delay cap in ms (default 2000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_delay_ms: Option<u64>,
}

/// `start` / `refresh`: call it on windows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Start {
    /// The windows.
    pub window: WindowSel,
    /// The expected outcome (default `ok`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Outcome>,
    /// Do not wait: the call runs in the background (see `join`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub background: bool,
    /// The clause the outcome check defends in this spec (default: the
    /// spec's first clause).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clause: Option<String>,
}

/// `join`: wait for background calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Join {
    /// The windows.
    pub window: WindowSel,
    /// The expected outcome of each background call (default `ok`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Outcome>,
    /// The clause the outcome check defends in this spec (default: the
    /// spec's first clause).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clause: Option<String>,
}

/// The outcome of `start` or `refresh`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Outcome {
    /// Succeeds.
    Ok,
    /// Fails in this phase (`start`, `subscribe`, `getSnapshot`, `protocol`,
    /// `apply`, `refresh`).
    Fail(PhaseName),
}

/// `stop` / `close`: windows only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Targets {
    /// The windows.
    pub window: WindowSel,
}

/// `mutate`: change the source of truth.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Mutate {
    /// The topic (default `"topic"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// The new data. Default: `{"n": <new revision>}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// The data of each change of a burst in turn, cycling (not with
    /// `data`); `count` defaults to its length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_each: Option<Vec<Value>>,
    /// How many changes in a row (default 1, or the length of `data_each`;
    /// at least 1); each bumps the revision and, with `emit`, emits its
    /// invalidation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<NonZeroU32>,
    /// Add a `"pad"` string of this many bytes to the default data (a large
    /// snapshot); ignored when `data` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pad_bytes: Option<usize>,
    /// Emit the invalidation (default true). `false` models a lost event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emit: Option<bool>,
    /// `sourceId` stamped on the emitted events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    /// Virtual ms to advance between changes of a `count` burst (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spacing_ms: Option<u64>,
    /// The bus the invalidations are emitted on (default [`MAIN_BUS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bus: Option<String>,
}

/// `restart_source`: restart a topic's source of truth.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RestartSource {
    /// The topic (default `"topic"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// What the source kept across the restart (default `lost`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<SourceHistory>,
    /// The data it restarts with (default: the data it had).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// `restart_transport`: restart the broker or server of a bus's transport.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RestartTransport {
    /// The bus (default [`MAIN_BUS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bus: Option<String>,
}

/// What a restarted source kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum SourceHistory {
    /// Its position: it resumes from the revision it last served.
    Kept,
    /// Nothing: revision 0 again, in the next epoch.
    #[default]
    Lost,
}

impl Mutate {
    /// How many changes the step makes.
    pub fn changes(&self) -> u32 {
        match (self.count, &self.data_each) {
            (Some(n), _) => n.get(),
            (None, Some(each)) => u32::try_from(each.len()).unwrap_or(u32::MAX).max(1),
            (None, None) => 1,
        }
    }

    /// The data of change `k` (0-based): `data`, or `data_each` in turn, or
    /// `None` for the default data.
    pub fn data_of(&self, k: u32) -> Option<&Value> {
        match &self.data_each {
            Some(each) if !each.is_empty() => each.get(k as usize % each.len()),
            _ => self.data.as_ref(),
        }
    }
}

/// `emit`: a raw payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Emit {
    /// Any JSON value, sent as is.
    #[serde(default)]
    pub payload: Value,
    /// Send it this many times (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// Add a `"pad"` field holding a string of this many bytes (the payload
    /// must be an object): a very large payload without a very large file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pad_bytes: Option<usize>,
    /// Wrap the payload in this many nested arrays (deeply nested junk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nest: Option<u32>,
    /// The bus it is emitted on (default [`MAIN_BUS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bus: Option<String>,
}

/// The most bytes `pad_bytes` may ask for (16 MiB).
pub const MAX_PAD_BYTES: usize = 16 << 20;
/// The deepest `nest` may go.
pub const MAX_NEST: u32 = 10_000;

impl Emit {
    /// The payload to send, with `pad_bytes` and `nest` applied.
    pub fn build(&self) -> Value {
        let mut payload = self.payload.clone();
        if let (Some(n), Value::Object(map)) = (self.pad_bytes, &mut payload) {
            map.insert(
                "pad".to_owned(),
                Value::String("x".repeat(n.min(MAX_PAD_BYTES))),
            );
        }
        for _ in 0..self.nest.unwrap_or(0).min(MAX_NEST) {
            payload = Value::Array(vec![payload]);
        }
        payload
    }
}

/// `release`: let what the fault layer holds go on. With none of
/// `fetches`, `subscribes` and `events` given, everything held is released
/// (events oldest first); otherwise only what is named.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// The windows.
    pub window: WindowSel,
    /// How many of each window's held fetches, oldest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetches: Option<NonZeroU32>,
    /// How many of each window's held subscribes, oldest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribes: Option<NonZeroU32>,
    /// Which held events to deliver, in which order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<EventRelease>,
}

impl Release {
    /// Whether the step names nothing, so everything held goes.
    pub fn everything(&self) -> bool {
        self.fetches.is_none() && self.subscribes.is_none() && self.events.is_none()
    }
}

/// Which of a window's held events a `release` delivers, and in what order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum EventRelease {
    /// All of them, `"oldest_first"` or `"newest_first"`.
    All(ReleaseOrder),
    /// These, by position among the held events (0 = the oldest), in this
    /// order; the others stay held.
    Picked(Vec<usize>),
}

/// The order of an [`EventRelease::All`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReleaseOrder {
    /// In the order they were delivered to the window.
    OldestFirst,
    /// The reverse.
    NewestFirst,
}

/// `on_apply`: when `window` applies `revision`, make `mutate`'s changes
/// at once, inside the apply, before it returns. Fires once; a reaction
/// that never fires fails the case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct OnApply {
    /// The window whose apply triggers it.
    pub window: String,
    /// The revision whose apply triggers it.
    #[cfg_attr(feature = "schema", schemars(with = "RevisionText"))]
    pub revision: Revision,
    /// The change to make (`spacing_ms` is not allowed: it happens at once).
    pub mutate: Mutate,
}

/// `advance`: move virtual time forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Advance {
    /// Milliseconds.
    pub ms: u64,
}

/// `stopped`: wait for `RevisionSync::stopped`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct StoppedWait {
    /// The windows.
    pub window: WindowSel,
    /// The most virtual time `stopped()` may take (default 0: at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within_ms: Option<u64>,
    /// At least this much virtual time must pass first (an apply was still
    /// running).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before_ms: Option<u64>,
}

/// `settle`: run until nothing is in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Settle {
    /// How much virtual time to allow (default 60000 ms). Delays and retries
    /// shorter than this complete; hung fetches stay hung.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ms: Option<u64>,
}
