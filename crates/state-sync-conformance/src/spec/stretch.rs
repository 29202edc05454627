//! A spec's timing stretched for real time: every duration it states —
//! advances, settles, spacings, injected delays, debounce and throttle
//! periods, retry back-off, the bounds of `stopped` and of retry delays —
//! multiplied by one factor.
//!
//! On virtual time a spec's margins are exact: a snapshot delayed 100 ms
//! is still on its way after an `advance` of 50. On real time a loaded
//! machine wakes the case late, and a 50 ms margin is gone. The durations
//! are the spec's own (the kit injects the delays and configures the
//! engine's timers), so stretching them all keeps every relation between
//! them and widens every margin against the machine's lateness; only the
//! transport's own timing stays as it is — the reason to run on real time.

use std::num::NonZeroU32;

use super::Spec;
use super::expect::Expect;
use super::faults::Faults;
use super::steps::{Mutate, Open, RetrySpec, Step, ThrottleSpec};
use super::vocab::{Bound, Range, RangeMs};

/// The retry policy's first delay when a spec gives none (`RetryPolicy`'s
/// default).
const DEFAULT_BASE_DELAY_MS: u64 = 100;
/// The retry policy's delay cap when a spec gives none.
const DEFAULT_MAX_DELAY_MS: u64 = 2_000;

impl Spec {
    /// This spec with every duration it states multiplied by `factor`.
    pub(crate) fn stretched(&self, factor: NonZeroU32) -> Spec {
        let k = u64::from(factor.get());
        let mut spec = self.clone();
        if let Some(ms) = spec.budget_ms.as_mut() {
            times(ms, k);
        }
        for step in &mut spec.steps {
            stretch_step(step, k);
        }
        spec
    }
}

/// `ms` multiplied by `k`.
fn times(ms: &mut u64, k: u64) {
    *ms = ms.saturating_mul(k);
}

fn stretch_step(step: &mut Step, k: u64) {
    match step {
        Step::Open(open) => stretch_open(open, k),
        Step::Mutate(mutate) => stretch_mutate(mutate, k),
        Step::OnApply(reaction) => stretch_mutate(&mut reaction.mutate, k),
        Step::Faults(faults) => stretch_faults(faults, k),
        Step::Advance(advance) => times(&mut advance.ms, k),
        Step::Settle(settle) => {
            if let Some(ms) = settle.ms.as_mut() {
                times(ms, k);
            }
        }
        Step::Stopped(wait) => {
            for ms in [wait.within_ms.as_mut(), wait.not_before_ms.as_mut()]
                .into_iter()
                .flatten()
            {
                times(ms, k);
            }
        }
        Step::Expect(expect) => stretch_expect(expect, k),
        _ => {}
    }
}

fn stretch_open(open: &mut Open, k: u64) {
    match open.throttle.as_mut() {
        Some(ThrottleSpec::DebounceMs(ms)) => times(ms, k),
        Some(ThrottleSpec::Throttle { interval_ms, .. }) => times(interval_ms, k),
        None => {}
    }
    if let Some(RetrySpec {
        base_delay_ms,
        max_delay_ms,
        ..
    }) = open.retry.as_mut()
    {
        times(base_delay_ms.get_or_insert(DEFAULT_BASE_DELAY_MS), k);
        times(max_delay_ms.get_or_insert(DEFAULT_MAX_DELAY_MS), k);
    }
}

fn stretch_mutate(mutate: &mut Mutate, k: u64) {
    if let Some(ms) = mutate.spacing_ms.as_mut() {
        times(ms, k);
    }
}

fn stretch_faults(faults: &mut Faults, k: u64) {
    let ranges = [
        faults.delay_ms.as_mut(),
        faults.snapshot.as_mut().and_then(|s| s.delay_ms.as_mut()),
        faults.apply.as_mut().and_then(|a| a.delay_ms.as_mut()),
    ];
    for RangeMs { min, max } in ranges.into_iter().flatten() {
        times(min, k);
        times(max, k);
    }
}

fn stretch_expect(expect: &mut Expect, k: u64) {
    for bound in expect.retry_delays_ms.iter_mut().flatten() {
        match bound {
            Bound::Exactly(ms) => times(ms, k),
            Bound::Range(Range { min, max }) => {
                for ms in [min.as_mut(), max.as_mut()].into_iter().flatten() {
                    times(ms, k);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stated_duration_is_multiplied_and_nothing_else() {
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "id": "stretch-me",
            "title": "t",
            "clauses": ["LIFE-1"],
            "level": "must",
            "steps": [
                {"open": {"window": "a", "throttle": {"debounce_ms": 20},
                          "retry": {"max_attempts": 3}}},
                {"open": {"window": "b", "throttle": {"throttle": {"interval_ms": 30}}}},
                {"start": {"window": "a"}},
                {"faults": {"window": "a", "delay_ms": {"min": 1, "max": 2},
                            "snapshot": {"delay_ms": {"min": 100, "max": 100}},
                            "apply": {"delay_ms": {"min": 5, "max": 7}}}},
                {"mutate": {"count": 3, "spacing_ms": 4}},
                {"advance": {"ms": 50}},
                {"settle": {"ms": 60}},
                {"settle": {}},
                {"stop": {"window": "a"}},
                {"stopped": {"window": "a", "within_ms": 500, "not_before_ms": 350}},
                {"expect": {"window": "a", "fetches": 2,
                            "retry_delays_ms": [100, {"min": 10, "max": 20}]}}
            ]
        }))
        .expect("a valid spec");
        let stretched =
            serde_json::to_value(spec.stretched(NonZeroU32::new(10).expect("ten is not zero")))
                .expect("serializes");
        let steps = &stretched["steps"];
        assert_eq!(steps[0]["open"]["throttle"]["debounce_ms"], 200);
        // The policy's defaults, stretched too.
        assert_eq!(steps[0]["open"]["retry"]["base_delay_ms"], 1_000);
        assert_eq!(steps[0]["open"]["retry"]["max_delay_ms"], 20_000);
        assert_eq!(steps[0]["open"]["retry"]["max_attempts"], 3);
        assert_eq!(steps[1]["open"]["throttle"]["throttle"]["interval_ms"], 300);
        assert_eq!(steps[3]["faults"]["delay_ms"]["max"], 20);
        assert_eq!(steps[3]["faults"]["snapshot"]["delay_ms"]["min"], 1_000);
        assert_eq!(steps[3]["faults"]["apply"]["delay_ms"]["max"], 70);
        assert_eq!(steps[4]["mutate"]["spacing_ms"], 40);
        assert_eq!(steps[4]["mutate"]["count"], 3);
        assert_eq!(steps[5]["advance"]["ms"], 500);
        assert_eq!(steps[6]["settle"]["ms"], 600);
        assert!(steps[7]["settle"].get("ms").is_none());
        assert_eq!(steps[9]["stopped"]["within_ms"], 5_000);
        assert_eq!(steps[9]["stopped"]["not_before_ms"], 3_500);
        assert_eq!(steps[10]["expect"]["fetches"], 2);
        assert_eq!(steps[10]["expect"]["retry_delays_ms"][0], 1_000);
        assert_eq!(steps[10]["expect"]["retry_delays_ms"][1]["max"], 200);
    }
}
