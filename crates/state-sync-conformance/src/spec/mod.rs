//! The scenario format: what a contract spec file says.
//!
//! A spec is a JSON file with a stable `id`, the protocol clauses it checks,
//! the transport capabilities it needs, and a list of steps. Steps act
//! (open a window, start, mutate the source, emit a raw payload, inject
//! faults, advance virtual time) or check (`expect`).
//! [`docs/spec-format.md`](https://docs.rs/crate/state-sync-conformance/latest/source/docs/spec-format.md)
//! describes every step with an example; the JSON Schema in
//! `contract-specs/schema/spec.schema.json` is generated from these types.

mod engine_options;
mod expect;
mod faults;
mod steps;
mod stretch;
mod timing;
mod vocab;
#[cfg(feature = "schema")]
mod vocab_schema;

use serde::{Deserialize, Serialize};

pub use self::expect::{ErrorContextExpect, Expect, SourceExpect};
pub use self::faults::{ApplyFaults, BackendFaults, Faults, Replace, SnapshotFaults};
pub use self::steps::{
    Advance, Emit, EventRelease, Filter, Join, MAIN_BUS, MAX_NEST, MAX_PAD_BYTES, Mutate, OnApply,
    Open, Outcome, Release, ReleaseOrder, RestartSource, RestartTransport, RetrySpec, Settle,
    SourceHistory, Start, Step, StoppedWait, Targets, ThrottleSpec,
};
pub use self::vocab::{
    Bound, LifecycleName, LocalRevision, Metric, PhaseName, Probability, Range, RangeMs, WindowSel,
};

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
    /// The verdict depends on timing exact to a few milliseconds (a
    /// boundary 1 ms away, a count over a stream of timed events): the
    /// spec needs virtual time, and on real time it is `unsupported`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exact_timing: bool,
    /// What happens, in order.
    pub steps: Vec<Step>,
}

impl Spec {
    /// The clause a check defends: `named` (the step's `clause`) if given,
    /// else the spec's first clause, its main one.
    pub fn clause_of<'s>(&'s self, named: Option<&'s str>) -> &'s str {
        named
            .or_else(|| self.clauses.first().map(String::as_str))
            .unwrap_or_default()
    }

    /// Every bus the spec's steps name, [`MAIN_BUS`] first.
    pub fn buses(&self) -> Vec<&str> {
        let mut buses = vec![MAIN_BUS];
        for step in &self.steps {
            let bus = match step {
                Step::Open(o) => o.bus.as_deref(),
                Step::Mutate(m) => m.bus.as_deref(),
                Step::OnApply(r) => r.mutate.bus.as_deref(),
                Step::Emit(e) => e.bus.as_deref(),
                Step::RestartTransport(r) => r.bus.as_deref(),
                Step::Expect(e) => e.bus.as_deref(),
                _ => None,
            };
            if let Some(bus) = bus
                && !buses.contains(&bus)
            {
                buses.push(bus);
            }
        }
        buses
    }
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
    /// Every payload emitted while a subscription is live reaches it
    /// exactly once: never twice (no redelivery, no replay after a
    /// reconnect) and never shed (no bounded buffer that drops).
    ExactlyOnce,
    /// [`Backend::restart`](state_sync_transports::Backend::restart)
    /// restarts the transport's broker or server, as a crash and a restart
    /// would, and the transport recovers (TR-8). An ability of the backend
    /// rather than a promise about deliveries: not part of
    /// [`Capabilities::all`](crate::Capabilities::all).
    Restarts,
}

impl Capability {
    /// Every capability.
    pub const ALL: [Capability; 7] = [
        Capability::SubscriptionCount,
        Capability::SynchronousDelivery,
        Capability::OrderedDelivery,
        Capability::ExactJson,
        Capability::ImmediateSubscribe,
        Capability::ExactlyOnce,
        Capability::Restarts,
    ];

    /// The kebab-case name used in spec files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::SubscriptionCount => "subscription-count",
            Capability::SynchronousDelivery => "synchronous-delivery",
            Capability::OrderedDelivery => "ordered-delivery",
            Capability::ExactJson => "exact-json",
            Capability::ImmediateSubscribe => "immediate-subscribe",
            Capability::ExactlyOnce => "exactly-once",
            Capability::Restarts => "restarts",
        }
    }
}
