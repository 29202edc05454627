//! The scenario format: what a contract spec file says.
//!
//! A spec is a JSON file with a stable `id`, the protocol clauses it checks,
//! the transport capabilities it needs, and a list of steps. Steps act
//! (open a window, start, mutate the source, emit a raw payload, inject
//! faults, advance virtual time) or check (`expect`).
//! [`docs/spec-format.md`](https://github.com/state-sync/state-sync/blob/main/docs/spec-format.md)
//! describes every step with an example; the JSON Schema in
//! `contract-specs/schema/spec.schema.json` is generated from these types.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The topic a step uses when it names none.
pub const DEFAULT_TOPIC: &str = "topic";

/// One contract scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The schema this file follows (for editors); ignored by the kit.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Stable identifier: lowercase letters, digits and `-`. Never a position.
    pub id: String,
    /// One line saying what the scenario shows.
    pub title: String,
    /// Longer explanation, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Clause ids from `docs/protocol.md` / `docs/lifecycle.md` this spec checks.
    pub clauses: Vec<String>,
    /// Whether failing it breaks a MUST or a SHOULD.
    pub level: Level,
    /// Transport capabilities the scenario needs; a transport lacking one
    /// gets `unsupported`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<Capability>,
    /// Free-form tags for filtering (`--tag`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Seed for the fault layer's randomness (default: derived from the id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Virtual-time budget of the whole case in milliseconds (default 600000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_ms: Option<u64>,
    /// What happens, in order.
    pub steps: Vec<Step>,
}

/// How binding a spec is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// A MUST clause.
    Must,
    /// A SHOULD clause.
    Should,
}

impl Level {
    /// `must` or `should`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Must => "must",
            Level::Should => "should",
        }
    }
}

/// Something a transport may or may not offer. More may be added in later
/// versions.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// The bus reports its number of active subscriptions (leak checks).
    SubscriptionCount,
    /// `emit` delivers to every subscriber before it returns.
    SynchronousDelivery,
    /// Events reach each subscriber in emit order (absent faults).
    OrderedDelivery,
    /// Payloads arrive exactly as emitted, integers above 2^53 included.
    ExactJson,
    /// A subscription is active as soon as `subscribe` resolves (no
    /// registration delay during which events are lost).
    ImmediateSubscribe,
}

impl Capability {
    /// Every capability.
    pub const ALL: [Capability; 5] = [
        Capability::SubscriptionCount,
        Capability::SynchronousDelivery,
        Capability::OrderedDelivery,
        Capability::ExactJson,
        Capability::ImmediateSubscribe,
    ];

    /// The kebab-case name used in spec files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::SubscriptionCount => "subscription-count",
            Capability::SynchronousDelivery => "synchronous-delivery",
            Capability::OrderedDelivery => "ordered-delivery",
            Capability::ExactJson => "exact-json",
            Capability::ImmediateSubscribe => "immediate-subscribe",
        }
    }
}

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
    /// Emit a raw payload through the backend, garbage included.
    Emit(Emit),
    /// Set the fault layer's behaviour for windows.
    Faults(Faults),
    /// Make the backend's snapshot source fail: the transport must carry
    /// the failure to the window as an error.
    Backend(BackendFaults),
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

/// Which windows a step addresses: `"a"`, or a range such as `"w[0..20]"`
/// meaning `w0` … `w19`.
pub type WindowSel = String;

/// `open`: create windows.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
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
}

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
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
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
}

/// `join`: wait for background calls.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Join {
    /// The windows.
    pub window: WindowSel,
    /// The expected outcome of each background call (default `ok`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Outcome>,
}

/// The outcome of `start` or `refresh`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Outcome {
    /// Succeeds.
    Ok,
    /// Fails in this phase (`start`, `subscribe`, `getSnapshot`, `protocol`,
    /// `apply`, `refresh`).
    Fail(String),
}

/// `stop` / `close`: windows only.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
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
    /// How many changes in a row (default 1); each bumps the revision and,
    /// with `emit`, emits its invalidation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
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

/// `faults`: what the fault layer does to a window's ends from now on.
/// Probabilities are in `[0, 1]`; every random choice is seeded.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Faults {
    /// The windows.
    pub window: WindowSel,
    /// Drop an incoming event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop: Option<f64>,
    /// Make the next N `subscribe` calls fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribe_fail_next: Option<u32>,
    /// Drop the next N incoming events (before any probability).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_next: Option<u32>,
    /// Deliver an incoming event twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<f64>,
    /// Hold an event back and deliver it after the next one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reorder: Option<f64>,
    /// Delay every event by a random time in `[min, max]` ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<RangeMs>,
    /// Snapshot faults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<SnapshotFaults>,
    /// Applier faults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply: Option<ApplyFaults>,
    /// Remove every fault of these windows first.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub clear: bool,
}

/// `backend`: failures of the source of truth itself, behind the transport.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct BackendFaults {
    /// Fail the next N snapshot requests that reach the backend.
    pub fail_next: u32,
    /// The error value the backend fails with (default the string
    /// `"backend unavailable"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
}

/// An inclusive range of milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RangeMs {
    /// Lower bound.
    pub min: u64,
    /// Upper bound (>= min).
    pub max: u64,
}

/// Faults of the snapshot provider.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SnapshotFaults {
    /// Fail a fetch with this probability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail: Option<f64>,
    /// Fail the next N fetches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_next: Option<u32>,
    /// Never answer the next N fetches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hang_next: Option<u32>,
    /// Delay every fetch by a random time in `[min, max]` ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<RangeMs>,
    /// Serve the previous revision's snapshot with this probability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale: Option<f64>,
    /// Serve the previous revision's snapshot for the next N fetches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_next: Option<u32>,
    /// Replace the next N snapshots with this raw payload (garbage snapshots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace_next: Option<Replace>,
}

/// A payload to serve instead of the real snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Replace {
    /// How many fetches.
    pub count: u32,
    /// The payload.
    pub payload: Value,
}

/// Faults of the applier.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ApplyFaults {
    /// Fail an apply with this probability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail: Option<f64>,
    /// Fail the next N applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_next: Option<u32>,
    /// Every apply takes a random time in `[min, max]` ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<RangeMs>,
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
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
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

/// The metric names `expect.metrics` accepts.
pub const METRIC_NAMES: [&str; 6] = [
    "fetches",
    "applies",
    "coalesced",
    "stale_skips",
    "protocol_errors",
    "lag",
];

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

/// `expect`: checks. Every field is optional; the ones given must hold.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The windows checked by the window fields below.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowSel>,
    /// The window's local revision: a revision string, or `"source"` for the
    /// source's current revision of the window's topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_revision: Option<String>,
    /// Exactly this sequence of applied revisions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<Vec<String>>,
    /// The window's data equals this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// The window holds the source's current revision and data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub converged: Option<bool>,
    /// Bounds on the number of snapshot fetches the window made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetches: Option<Bound>,
    /// Bounds on the number of applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applies: Option<Bound>,
    /// Errors reported to `on_error`, by phase (phases not named are not
    /// checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<BTreeMap<String, Bound>>,
    /// Fields of the last error reported in a phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_context: Option<ErrorContextExpect>,
    /// The window's lifecycle: `idle`, `starting`, `running` or `stopped`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<String>,
    /// Calls the engine made to the window's `subscribe`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribes: Option<Bound>,
    /// The engine's own counters (`RevisionSync::metrics`), by name:
    /// `fetches`, `applies`, `coalesced`, `stale_skips`, `protocol_errors`,
    /// `lag`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<BTreeMap<String, Bound>>,
    /// The bus's active subscriptions (needs `subscription-count`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscriptions: Option<Bound>,
    /// The source's revision of a topic: `{"topic": "...", "revision": "..."}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceExpect>,
}

/// What the last error of a phase carried. Fields left out are not checked;
/// revisions are canonical strings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ErrorContextExpect {
    /// The phase whose last error is checked.
    pub phase: String,
    /// The topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// The window's revision when it happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_revision: Option<String>,
    /// The revision the event involved announced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_revision: Option<String>,
    /// The revision of the snapshot involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_revision: Option<String>,
    /// The `sourceId` of the event involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    /// Whether the raw event payload is attached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_event: Option<bool>,
    /// The attempt count a retry wrapper reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// Whether another attempt follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub will_retry: Option<bool>,
}

/// An expectation on the source of truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SourceExpect {
    /// The topic (default `"topic"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Its revision.
    pub revision: String,
}

/// A count that must be exact (`3`) or within bounds (`{"min": 1, "max": 2}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum Bound {
    /// Exactly this many.
    Exactly(u64),
    /// Within these inclusive bounds.
    Range(Range),
}

/// Inclusive bounds: `{"min": 1, "max": 2}`, either may be left out. Unknown
/// keys are errors, so a typo cannot silently turn a check off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Range {
    /// At least.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u64>,
    /// At most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
}

impl Bound {
    /// Whether `n` satisfies the bound.
    pub fn holds(self, n: u64) -> bool {
        match self {
            Bound::Exactly(x) => n == x,
            Bound::Range(Range { min, max }) => {
                min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m)
            }
        }
    }
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bound::Exactly(x) => write!(f, "exactly {x}"),
            Bound::Range(Range {
                min: Some(a),
                max: Some(b),
            }) => write!(f, "between {a} and {b}"),
            Bound::Range(Range {
                min: Some(a),
                max: None,
            }) => write!(f, "at least {a}"),
            Bound::Range(Range {
                min: None,
                max: Some(b),
            }) => write!(f, "at most {b}"),
            Bound::Range(Range {
                min: None,
                max: None,
            }) => f.write_str("any number"),
        }
    }
}

/// Expands a window selector: `"a"` → `["a"]`, `"w[0..3]"` → `["w0", "w1", "w2"]`.
pub fn expand_windows(sel: &str) -> Result<Vec<String>, String> {
    let Some(open) = sel.find('[') else {
        return if sel.is_empty() {
            Err("window name is empty".to_owned())
        } else {
            Ok(vec![sel.to_owned()])
        };
    };
    let prefix = &sel[..open];
    let range = sel[open + 1..]
        .strip_suffix(']')
        .ok_or_else(|| format!("window range {sel:?} must end with `]`"))?;
    let (a, b) = range
        .split_once("..")
        .ok_or_else(|| format!("window range {sel:?} must look like `name[0..10]`"))?;
    let parse = |s: &str| {
        s.parse::<u32>()
            .map_err(|_| format!("window range {sel:?}: {s:?} is not a number"))
    };
    let (a, b) = (parse(a)?, parse(b)?);
    if a >= b || b - a > 1000 {
        return Err(format!(
            "window range {sel:?} must be non-empty and hold at most 1000 windows"
        ));
    }
    Ok((a..b).map(|i| format!("{prefix}{i}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_ranges_expand() {
        assert_eq!(expand_windows("a"), Ok(vec!["a".to_owned()]));
        assert_eq!(
            expand_windows("w[1..4]"),
            Ok(vec!["w1".to_owned(), "w2".to_owned(), "w3".to_owned()])
        );
        for bad in ["", "w[3..1]", "w[1..x]", "w[1-3]", "w[1..3"] {
            assert!(expand_windows(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bounds() {
        assert!(Bound::Exactly(2).holds(2));
        assert!(!Bound::Exactly(2).holds(3));
        let b: Bound = serde_json::from_str(r#"{"max": 2}"#).expect("bound");
        assert!(b.holds(0) && b.holds(2) && !b.holds(3));
        assert_eq!(b.to_string(), "at most 2");
        assert!(
            serde_json::from_str::<Bound>(r#"{"mx": 2}"#).is_err(),
            "typos are errors"
        );
    }
}
