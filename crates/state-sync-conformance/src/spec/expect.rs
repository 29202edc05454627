//! `expect`: what a scenario checks, and the fields it may name.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use state_sync::{Epoch, Revision};

use super::vocab::{Bound, LifecycleName, LocalRevision, Metric, PhaseName, WindowSel};
#[cfg(feature = "schema")]
use super::vocab_schema::RevisionText;

/// `expect`: checks. Every field is optional; the ones given must hold.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The clause these checks defend in this spec (one of its `clauses`;
    /// default: the spec's first clause). A failure names it, and its
    /// level grades the failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clause: Option<String>,
    /// The windows checked by the window fields below.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowSel>,
    /// The window's local revision: a revision string, or `"source"` for the
    /// source's current revision of the window's topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_revision: Option<LocalRevision>,
    /// The epoch of the window's local position (GATE-6): with
    /// `local_revision`, the revision is of this epoch; alone, only the
    /// epoch is checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(with = "Option<RevisionText>"))]
    pub local_epoch: Option<Epoch>,
    /// Exactly this sequence of applied revisions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(with = "Option<Vec<RevisionText>>"))]
    pub applied: Option<Vec<Revision>>,
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
    pub errors: Option<BTreeMap<PhaseName, Bound>>,
    /// Fields of the last error reported in a phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_context: Option<ErrorContextExpect>,
    /// Exactly this sequence of phases among the errors reported to
    /// `on_error`, in order, since the window opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_phases: Option<Vec<PhaseName>>,
    /// The window's lifecycle: `idle`, `starting`, `running` or `stopped`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<LifecycleName>,
    /// Bounds on the waits between the window's last fetch attempts, in
    /// virtual ms: from the end of each attempt to the start of the next,
    /// for the last `n + 1` attempts (what a retry policy's backoff makes).
    /// Independent of how long the transport takes to answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_delays_ms: Option<Vec<Bound>>,
    /// Calls the engine made to the window's `subscribe`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribes: Option<Bound>,
    /// The engine's own counters (`RevisionSync::metrics`), by name:
    /// `fetches`, `applies`, `coalesced`, `stale_skips`, `protocol_errors`,
    /// `lag`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<BTreeMap<Metric, Bound>>,
    /// The window holds the same revision and data as this other window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub same_as: Option<String>,
    /// The bus's active subscriptions (needs `subscription-count`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscriptions: Option<Bound>,
    /// The bus `subscriptions` counts on (default `"main"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bus: Option<String>,
    /// The source's revision of a topic: `{"topic": "...", "revision": "..."}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceExpect>,
}

/// What the last error of a phase carried. Fields left out are not checked;
/// revisions are canonical strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ErrorContextExpect {
    /// The phase whose last error is checked.
    pub phase: PhaseName,
    /// The topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// The window's revision when it happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(with = "Option<RevisionText>"))]
    pub local_revision: Option<Revision>,
    /// The revision the event involved announced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(with = "Option<RevisionText>"))]
    pub event_revision: Option<Revision>,
    /// The revision of the snapshot involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(with = "Option<RevisionText>"))]
    pub snapshot_revision: Option<Revision>,
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
    /// The error's message, exactly (what an engine says around a port's
    /// message is its own: prefer `message_contains` in portable specs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Text the error's message contains, such as the failing port's own
    /// message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_contains: Option<String>,
    /// The JSON value the failing port's error carried
    /// (`PortError::detail`), exactly; `null` for an error without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Value>,
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
    #[cfg_attr(feature = "schema", schemars(with = "RevisionText"))]
    pub revision: Revision,
    /// Its epoch (not checked when left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(with = "Option<RevisionText>"))]
    pub epoch: Option<Epoch>,
}
