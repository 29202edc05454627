//! The messages of the driver protocol (`docs/driver-protocol.md`), one
//! JSON object per line each way. The kit writes [`Command`]s to the
//! driver's stdin; the driver writes [`Report`]s to its stdout.
//!
//! These types are the protocol's reference: the kit's side and the Rust
//! reference driver both use them, and a driver in another language
//! reads and writes the same shapes.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::spec::{Filter, RetrySpec, ThrottleSpec};

/// How deeply `v` nests (iteratively: payloads may be very deep).
pub fn depth(v: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(v, 1)];
    while let Some((v, d)) = stack.pop() {
        deepest = deepest.max(d);
        match v {
            Value::Array(a) => stack.extend(a.iter().map(|x| (x, d + 1))),
            Value::Object(o) => stack.extend(o.values().map(|x| (x, d + 1))),
            _ => {}
        }
    }
    deepest
}

/// An `epoch` field of a report (`apply`, `state`): left out at epoch 0.
pub fn epoch_field(epoch: state_sync::Epoch) -> Option<String> {
    (!epoch.is_zero()).then(|| epoch.to_string())
}

/// The protocol version this kit speaks; the driver's `hello` must name it.
pub const PROTOCOL_VERSION: u32 = 1;

/// Payloads nested deeper than this are delivered as `text`.
pub const TEXT_DEPTH: usize = 64;

/// A message from the kit: a sequence number, the kit's virtual time (ms
/// since the case began; the driver moves its clock there, firing its
/// timers in order, before it handles the message), whether it ends a
/// batch, and the message itself. The kit sends commands in batches — what
/// it did in one turn of its runtime, all at the same virtual time — and
/// the driver acknowledges each batch with one [`Report::Done`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    /// Increases by one with every command, from 1.
    pub seq: u64,
    /// The kit's virtual time, in ms since the case began.
    pub now_ms: u64,
    /// The last command of a batch: the driver handles a batch's commands
    /// one after the other, lets its engines run until they are idle, and
    /// then acknowledges the batch (`done` with this command's `seq`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub last: bool,
    /// What to do.
    #[serde(flatten)]
    pub body: CommandBody,
}

/// What the kit asks of the driver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CommandBody {
    /// Create an engine for window `window` on `topic` (not started).
    Open {
        /// The window's name (unique within the case).
        window: String,
        /// The topic the engine syncs.
        topic: String,
        /// The engine's options.
        #[serde(default)]
        options: WindowOptions,
    },
    /// Call `start` on a window; answer with [`Report::Result`] for `call`.
    Start {
        /// The window.
        window: String,
        /// The call's id.
        call: u64,
    },
    /// Call `refresh` on a window; answer with [`Report::Result`].
    Refresh {
        /// The window.
        window: String,
        /// The call's id.
        call: u64,
    },
    /// Call `stop` on a window (no answer beyond `done`).
    Stop {
        /// The window.
        window: String,
    },
    /// Wait until the window has stopped (its `stopped()`), then answer
    /// with [`Report::Result`] for `call`.
    Stopped {
        /// The window.
        window: String,
        /// The call's id.
        call: u64,
    },
    /// The answer to [`Report::Subscribe`] `request`: subscribed, or why not.
    Subscribed {
        /// The request answered.
        request: u64,
        /// Why subscribing failed; absent on success.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<WireError>,
    },
    /// An invalidation payload for the handler of subscription
    /// `subscription` (the id of the [`Report::Subscribe`] that made it).
    Deliver {
        /// The subscription.
        subscription: u64,
        /// The payload (any JSON value; `null` when `text` is given).
        #[serde(default)]
        payload: Value,
        /// The payload as JSON text instead — for text that is not JSON,
        /// and for payloads nested too deeply for a JSON parser with a
        /// recursion limit (more than [`TEXT_DEPTH`] levels): hand it to
        /// the engine as the text a transport received.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
    /// The answer to [`Report::GetSnapshot`] `request`.
    Snapshot {
        /// The request answered.
        request: u64,
        /// The raw snapshot, or the provider's error.
        result: Reply,
    },
    /// The answer to [`Report::Apply`] `request`.
    Applied {
        /// The request answered.
        request: u64,
        /// Why applying failed; absent on success.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<WireError>,
    },
    /// Only move the clock to `now_ms`.
    Advance,
    /// Parse `input` with the implementation's revision parser; answer with
    /// [`Report::Parsed`].
    ParseRevision {
        /// A raw JSON value found where a revision is expected.
        input: Value,
    },
    /// The case is over: exit.
    Quit,
}

/// The options of an engine, as the spec's `open` step gives them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowOptions {
    /// A `should_refresh` filter (`{"ignore_source_id": "x"}`,
    /// `{"only_source_id": "x"}`, `"never"`, `"panic"`: throw from it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub should_refresh: Option<Filter>,
    /// Debounce or throttle event-triggered refreshes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle: Option<ThrottleSpec>,
    /// Wrap the provider with the implementation's retry wrapper.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetrySpec>,
    /// The seed of the retry wrapper's jitter, when it takes one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_seed: Option<u64>,
    /// Bound on refetches after a stale snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_stale_refetches: Option<u32>,
    /// The `on_error` hook throws (panics) after reporting.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub panicking_error_hook: bool,
}

/// A value or an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// The value.
    Ok(Value),
    /// The error.
    Error(WireError),
}

/// A port's error: its message and, when it carries one, the JSON value
/// the source failed with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireError {
    /// Readable message.
    pub message: String,
    /// The error value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Value>,
}

/// A message from the driver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Report {
    /// The first line: who the driver is and what it can do.
    Hello {
        /// Must be [`PROTOCOL_VERSION`].
        protocol: u32,
        /// The implementation's name (letters, digits, `-`, `_`).
        name: String,
        /// The implementation's version.
        version: String,
        /// The implementation's language.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        language: Option<String>,
        /// What the driver supports (see `docs/driver-protocol.md`).
        #[serde(default)]
        capabilities: Vec<String>,
    },
    /// The engine of `window` subscribes; the kit answers
    /// [`CommandBody::Subscribed`].
    Subscribe {
        /// The window.
        window: String,
        /// The request's id, unique within the case; later the
        /// subscription's id.
        request: u64,
    },
    /// The engine ends subscription `subscription`.
    Unsubscribe {
        /// The subscription.
        subscription: u64,
    },
    /// The engine of `window` asks for a snapshot (one attempt; a retry
    /// wrapper asks once per attempt); the kit answers
    /// [`CommandBody::Snapshot`].
    GetSnapshot {
        /// The window.
        window: String,
        /// The request's id.
        request: u64,
    },
    /// The engine of `window` applies a snapshot; the kit answers
    /// [`CommandBody::Applied`].
    Apply {
        /// The window.
        window: String,
        /// The request's id.
        request: u64,
        /// The snapshot's revision (canonical decimal string).
        revision: String,
        /// The snapshot's epoch (canonical decimal string), when not `0`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        epoch: Option<String>,
        /// The snapshot's data.
        data: Value,
    },
    /// The engine gave up waiting for request `request` (a subscribe,
    /// snapshot or apply it no longer awaits).
    Cancel {
        /// The request.
        request: u64,
    },
    /// The engine's error hook was called.
    Error {
        /// The window.
        window: String,
        /// What the hook was given.
        report: ErrorReport,
    },
    /// A `start`, `refresh` or `stopped` call ended.
    Result {
        /// The call.
        call: u64,
        /// Why it failed; absent on success.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<CallFailure>,
    },
    /// A window's state, sent whenever it may have changed (before `done`).
    State {
        /// The window.
        window: String,
        /// The local revision (canonical decimal string, `"0"` before the
        /// first apply).
        local_revision: String,
        /// The epoch of the last apply (canonical decimal string), when not
        /// `0`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        local_epoch: Option<String>,
        /// `idle`, `starting`, `running` or `stopped`, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lifecycle: Option<String>,
        /// The engine's counters, when it keeps them.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        metrics: Option<WireMetrics>,
    },
    /// The answer to [`CommandBody::ParseRevision`] of command `seq`.
    Parsed {
        /// The command answered.
        seq: u64,
        /// The canonical string, or the reason it is invalid (`empty`,
        /// `not_digits`, `leading_zero`, `overflow`, `not_a_string`).
        result: Reply,
    },
    /// Every command up to `seq` (the last of a batch) is handled and
    /// everything they caused has settled.
    Done {
        /// The last command of the batch.
        seq: u64,
        /// The next moment (ms since the case began) the driver's engines
        /// want the clock to reach, if any timer is armed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timer_ms: Option<u64>,
    },
}

/// What an error hook was given.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorReport {
    /// The phase (`start`, `subscribe`, `invalidation`, `getSnapshot`,
    /// `protocol`, `apply`, `refresh`, `throttle`).
    pub phase: String,
    /// The engine's topic.
    pub topic: String,
    /// A readable message.
    pub message: String,
    /// The JSON value the failing port's error carried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Value>,
    /// The local revision when it happened (absent before the first apply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_revision: Option<String>,
    /// The revision of the event involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_revision: Option<String>,
    /// The revision of the snapshot involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_revision: Option<String>,
    /// The raw event payload involved (`null` is a payload too: absent
    /// means none).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub source_event: Option<Value>,
    /// The raw event payload involved, as JSON text instead (when it is
    /// nested more than [`TEXT_DEPTH`] levels deep).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_event_text: Option<String>,
    /// The `sourceId` of the event involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    /// The attempt number a retry wrapper reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// Whether another attempt follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub will_retry: Option<bool>,
}

/// A field that is present is `Some`, even when it is `null`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallFailure {
    /// The phase of the error.
    pub phase: String,
    /// A readable message.
    pub message: String,
}

/// An engine's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WireMetrics {
    /// Snapshot fetches begun.
    pub fetches: u64,
    /// Snapshots applied.
    pub applies: u64,
    /// Refresh requests folded into a fetch in flight or queued.
    pub coalesced: u64,
    /// Snapshots skipped as not newer.
    pub stale_skips: u64,
    /// Payloads rejected as protocol errors.
    pub protocol_errors: u64,
    /// Highest announced revision minus the local revision.
    pub lag: u64,
}

impl From<state_sync::Metrics> for WireMetrics {
    fn from(m: state_sync::Metrics) -> Self {
        Self {
            fetches: m.fetches,
            applies: m.applies,
            coalesced: m.coalesced,
            stale_skips: m.stale_skips,
            protocol_errors: m.protocol_errors,
            lag: m.lag,
        }
    }
}

impl From<WireMetrics> for state_sync::Metrics {
    fn from(w: WireMetrics) -> Self {
        let mut m = state_sync::Metrics::default();
        m.fetches = w.fetches;
        m.applies = w.applies;
        m.coalesced = w.coalesced;
        m.stale_skips = w.stale_skips;
        m.protocol_errors = w.protocol_errors;
        m.lag = w.lag;
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_is_one_flat_object() {
        let c = Command {
            seq: 3,
            now_ms: 120,
            last: false,
            body: CommandBody::Start {
                window: "a".into(),
                call: 7,
            },
        };
        let line = serde_json::to_string(&c).unwrap_or_default();
        assert_eq!(
            line,
            r#"{"seq":3,"now_ms":120,"type":"start","window":"a","call":7}"#
        );
        let back: Command = serde_json::from_str(&line).expect("parses");
        assert_eq!(back, c);
    }

    #[test]
    fn a_null_source_event_is_a_source_event() {
        let line = r#"{"phase":"protocol","topic":"t","message":"m","source_event":null}"#;
        let r: ErrorReport = serde_json::from_str(line).expect("parses");
        assert_eq!(r.source_event, Some(Value::Null));
        let none: ErrorReport =
            serde_json::from_str(r#"{"phase":"protocol","topic":"t","message":"m"}"#)
                .expect("parses");
        assert_eq!(none.source_event, None);
    }

    #[test]
    fn reports_reject_unknown_types_and_fields() {
        assert!(serde_json::from_str::<Report>(r#"{"type":"nonsense"}"#).is_err());
        assert!(serde_json::from_str::<Report>(r#"{"type":"done","seq":1,"x":2}"#).is_err());
        let done: Report = serde_json::from_str(r#"{"type":"done","seq":1}"#).expect("parses");
        assert_eq!(
            done,
            Report::Done {
                seq: 1,
                timer_ms: None
            }
        );
    }
}
