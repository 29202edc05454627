//! What a case can check on its target. A spec is `unsupported` only when
//! one of its steps cannot be carried out; an expectation that reads
//! something the target does not offer — the engine's lifecycle or
//! counters through a driver without those accessors, the bus's
//! subscription count on a transport that does not claim it — is *not
//! checked*, listed on the case, and the verdict comes from every other
//! check. A case whose every expectation is unchecked has nothing of
//! substance left to pass: it is `unsupported`.

use std::collections::BTreeMap;

use crate::driver::DriverInfo;
use crate::spec::{Capability, Expect, Spec, Step};
use crate::transport::Transport;
use crate::verdict::NotChecked;

/// Something an expectation reads that a target may not offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Reading {
    /// `lifecycle`: the engine's lifecycle (driver capability `lifecycle`).
    Lifecycle,
    /// `metrics`: the engine's counters (driver capability `metrics`).
    Metrics,
    /// `subscriptions`: the bus's active subscriptions (transport
    /// capability `subscription-count`).
    Subscriptions,
    /// Counts of what each delivery causes — errors of the `protocol` and
    /// `invalidation` phases (in `errors` and `error_phases`), the
    /// `protocol_errors` and `coalesced` counters — which a transport that
    /// may redeliver or shed changes (transport capability `exactly-once`).
    DeliveryCounts,
}

impl Reading {
    /// The expectation field that reads it.
    fn field(self) -> &'static str {
        match self {
            Reading::Lifecycle => "lifecycle",
            Reading::Metrics => "metrics",
            Reading::Subscriptions => "subscriptions",
            Reading::DeliveryCounts => "delivery counts",
        }
    }

    /// Why a target lacks it.
    fn lacking(self) -> &'static str {
        match self {
            Reading::Lifecycle => "the driver has no lifecycle accessor (capability `lifecycle`)",
            Reading::Metrics => {
                "the driver does not report the engine's counters (capability `metrics`)"
            }
            Reading::Subscriptions => {
                "the transport does not count its subscriptions (capability `subscription-count`)"
            }
            Reading::DeliveryCounts => {
                "the transport may deliver a payload more than once or shed it (no `exactly-once` claim): what deliveries cause is not counted"
            }
        }
    }

    /// Whether expectation `e` reads it.
    fn read_by(self, e: &Expect) -> bool {
        match self {
            Reading::Lifecycle => e.lifecycle.is_some(),
            Reading::Metrics => e.metrics.is_some(),
            Reading::Subscriptions => e.subscriptions.is_some(),
            Reading::DeliveryCounts => {
                e.errors
                    .iter()
                    .flatten()
                    .any(|(phase, _)| phase.counts_deliveries())
                    || e.error_phases
                        .iter()
                        .flatten()
                        .any(|phase| phase.counts_deliveries())
                    || e.metrics
                        .iter()
                        .flatten()
                        .any(|(metric, _)| metric.counts_deliveries())
            }
        }
    }

    const ALL: [Reading; 4] = [
        Reading::Lifecycle,
        Reading::Metrics,
        Reading::Subscriptions,
        Reading::DeliveryCounts,
    ];
}

/// What a case checks on its target, worked out before it runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Gate {
    /// What the target does not offer: expectations reading it are skipped.
    pub(crate) lacking: Vec<Reading>,
    /// Checks the case carries out: each expectation field, each outcome
    /// of `start`/`refresh`/`join`, each `stopped` bound.
    pub(crate) checked: usize,
    /// Checks skipped, one entry per reading.
    pub(crate) not_checked: Vec<NotChecked>,
    /// Every expectation field of the spec is skipped (and it has some).
    pub(crate) nothing_left: bool,
}

impl Gate {
    /// The gate of `spec` on `transport`, whose driver (if any) said
    /// `driver` in its handshake.
    pub(crate) fn new(spec: &Spec, transport: &Transport, driver: Option<&DriverInfo>) -> Self {
        let lacking: Vec<Reading> = Reading::ALL
            .into_iter()
            .filter(|r| match r {
                Reading::Subscriptions => {
                    !transport.capabilities().has(Capability::SubscriptionCount)
                }
                Reading::DeliveryCounts => !transport.capabilities().has(Capability::ExactlyOnce),
                Reading::Lifecycle | Reading::Metrics => {
                    driver.is_some_and(|d| !d.capabilities.contains(r.field()))
                }
            })
            .collect();
        let mut expectations = 0;
        let mut calls = 0;
        let mut skipped: BTreeMap<Reading, usize> = BTreeMap::new();
        for step in &spec.steps {
            match step {
                Step::Expect(e) => {
                    expectations += fields(e);
                    for r in lacking.iter().filter(|r| r.read_by(e)) {
                        *skipped.entry(*r).or_default() += 1;
                    }
                }
                Step::Start(_) | Step::Refresh(_) | Step::Join(_) | Step::Stopped(_) => calls += 1,
                _ => {}
            }
        }
        let unchecked: usize = skipped.values().sum();
        Self {
            lacking,
            checked: expectations + calls - unchecked,
            not_checked: skipped
                .iter()
                .map(|(r, n)| NotChecked {
                    field: r.field().to_owned(),
                    count: *n,
                    why: r.lacking().to_owned(),
                })
                .collect(),
            nothing_left: expectations > 0 && unchecked == expectations,
        }
    }
}

/// The number of checking fields of an expectation (every field but the
/// ones that say where and why: `window`, `bus`, `clause`).
fn fields(e: &Expect) -> usize {
    match serde_json::to_value(e) {
        Ok(serde_json::Value::Object(map)) => map
            .keys()
            .filter(|k| !matches!(k.as_str(), "window" | "bus" | "clause"))
            .count(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::{Gate, Reading};
    use crate::driver::DriverInfo;
    use crate::reference;
    use crate::spec::Spec;

    fn spec(steps: &str) -> Spec {
        serde_json::from_str(&format!(
            r#"{{"id": "s", "title": "t", "clauses": ["LIFE-7"], "level": "must", "steps": {steps}}}"#
        ))
        .expect("a spec")
    }

    fn driver(capabilities: &[&str]) -> DriverInfo {
        DriverInfo::for_tests(
            capabilities
                .iter()
                .map(|c| (*c).to_owned())
                .collect::<BTreeSet<_>>(),
        )
    }

    #[test]
    fn an_expectation_reading_a_missing_accessor_is_skipped_not_the_spec() {
        let s = spec(
            r#"[{"open": {"window": "a"}}, {"start": {"window": "a"}},
                {"expect": {"window": "a", "converged": true, "lifecycle": "running"}},
                {"stop": {"window": "a"}},
                {"expect": {"window": "a", "lifecycle": "stopped", "metrics": {"fetches": 1}}}]"#,
        );
        let memory = reference::memory();
        let gate = Gate::new(&s, &memory, Some(&driver(&["metrics"])));
        assert_eq!(gate.lacking, [Reading::Lifecycle]);
        assert_eq!(gate.checked, 3, "start, converged, metrics");
        let lines: Vec<String> = gate.not_checked.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            ["lifecycle × 2 — the driver has no lifecycle accessor (capability `lifecycle`)"]
        );
        assert!(!gate.nothing_left);
        let everything = Gate::new(&s, &memory, None);
        assert_eq!((everything.checked, everything.not_checked.len()), (5, 0));
    }

    #[test]
    fn a_case_whose_every_expectation_is_skipped_has_nothing_left() {
        let s = spec(
            r#"[{"open": {"window": "a"}}, {"start": {"window": "a"}},
                {"expect": {"window": "a", "lifecycle": "running"}}]"#,
        );
        let gate = Gate::new(&s, &reference::memory(), Some(&driver(&[])));
        assert!(gate.nothing_left);
    }
}
