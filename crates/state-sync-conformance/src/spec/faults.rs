//! Faults a scenario injects: into a window's ends (`faults`) and into the
//! backend's source of truth (`backend`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::vocab::{Probability, RangeMs, WindowSel};

/// `faults`: what the fault layer does to a window's ends from now on.
/// Probabilities are in `[0, 1]`; every random choice is seeded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Faults {
    /// The windows.
    pub window: WindowSel,
    /// Drop an incoming event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop: Option<Probability>,
    /// Make the next N `subscribe` calls fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribe_fail_next: Option<u32>,
    /// Hold the next N `subscribe` calls before they reach the transport,
    /// until a `release` lets them go (never: a subscribe that hangs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribe_hold_next: Option<u32>,
    /// Hold every event delivered to the window from now on, until a
    /// `release` delivers them in a chosen order (`false` stops holding;
    /// what is held stays held).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_events: Option<bool>,
    /// Drop the next N incoming events (before any probability).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_next: Option<u32>,
    /// Deliver an incoming event twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<Probability>,
    /// Hold an event back and deliver it after the next one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reorder: Option<Probability>,
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
    /// Fail the next N snapshot requests that reach the backend (default 0).
    #[serde(default)]
    pub fail_next: u32,
    /// From now on the backend serves one snapshot request at a time,
    /// whichever window asks: the others wait their turn, oldest first
    /// (`false` ends it). A request's turn lasts until it is answered,
    /// snapshot delays included, so a slow answer delays every window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<bool>,
    /// The error value the backend fails with (default the string
    /// `"backend unavailable"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    /// Answer the next N snapshot requests that reach the backend with this
    /// raw payload instead of the source's snapshot — garbage, a
    /// non-canonical revision, anything — so that it travels the
    /// transport's snapshot path (after any `fail_next`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace_next: Option<Replace>,
}

/// Faults of the snapshot provider.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SnapshotFaults {
    /// Fail a fetch with this probability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail: Option<Probability>,
    /// Fail the next N fetches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_next: Option<u32>,
    /// Never answer the next N fetches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hang_next: Option<u32>,
    /// Hold the next N fetches before they reach the transport, until a
    /// `release` step lets them go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_next: Option<u32>,
    /// Delay every fetch by a random time in `[min, max]` ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<RangeMs>,
    /// With `delay_ms`: the provider reads the state when it answers, after
    /// the delay, instead of when it was asked (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_late: Option<bool>,
    /// Serve the previous revision's snapshot with this probability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale: Option<Probability>,
    /// Serve the previous revision's snapshot for the next N fetches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_next: Option<u32>,
    /// Replace the next N snapshots with this raw payload (garbage snapshots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace_next: Option<Replace>,
    /// Cancel the next N fetches while the transport works on them: once
    /// the request has reached the backend, the window stops waiting (the
    /// fetch fails) and drops the request, and only then does the backend
    /// answer — into a request nobody waits for any more. A request the
    /// transport answers without asking the backend is not cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_next: Option<u32>,
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
    pub fail: Option<Probability>,
    /// Fail the next N applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_next: Option<u32>,
    /// Every apply takes a random time in `[min, max]` ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<RangeMs>,
}
