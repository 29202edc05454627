//! Which specs need virtual time: their meaning depends on how long things
//! take, so a transport run on real time cannot be judged by them.

use super::steps::{Open, Step};
use super::{Faults, Spec};

impl Spec {
    /// Why the scenario needs exact virtual timing, if it does: it sets a
    /// budget, advances or spaces time, debounces, throttles, retries after
    /// delays, or injects delays or reordering (which releases on a timer).
    /// On real time such a spec is `unsupported` ("virtual-time").
    pub fn needs_virtual_time(&self) -> Option<&'static str> {
        if self.budget_ms.is_some() {
            return Some("it sets a virtual-time budget");
        }
        self.steps.iter().find_map(step_timing)
    }
}

fn step_timing(step: &Step) -> Option<&'static str> {
    match step {
        Step::Open(open) => open_timing(open),
        Step::Mutate(m) if m.spacing_ms.is_some() => Some("it spaces changes in time"),
        Step::Advance(_) => Some("it advances time"),
        Step::Settle(s) if s.ms.is_some() => Some("it settles for a given time"),
        Step::Stopped(w) if w.within_ms.is_some() || w.not_before_ms.is_some() => {
            Some("it times `stopped`")
        }
        Step::Faults(f) => fault_timing(f),
        _ => None,
    }
}

fn open_timing(open: &Open) -> Option<&'static str> {
    if open.throttle.is_some() {
        Some("it debounces or throttles")
    } else if open.retry.is_some() {
        Some("it retries after delays")
    } else {
        None
    }
}

fn fault_timing(f: &Faults) -> Option<&'static str> {
    let delayed = f.delay_ms.is_some()
        || f.snapshot.as_ref().is_some_and(|s| s.delay_ms.is_some())
        || f.apply.as_ref().is_some_and(|a| a.delay_ms.is_some());
    if delayed {
        Some("it injects delays")
    } else if f.reorder.is_some() {
        Some("it reorders events (a held event is released on a timer)")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use crate::corpus::parse_spec;

    fn needs(steps: &str) -> Option<&'static str> {
        let text = format!(
            r#"{{"id": "t", "title": "t", "clauses": ["LIFE-1"], "level": "must", "steps": {steps}}}"#
        );
        parse_spec(&text, "test")
            .expect("valid")
            .needs_virtual_time()
    }

    #[test]
    fn timing_is_found_wherever_it_hides() {
        assert_eq!(
            needs(r#"[{"open": {"window": "a"}}, {"start": {"window": "a"}}, {"settle": {}}]"#),
            None
        );
        for (steps, why) in [
            (r#"[{"advance": {"ms": 5}}]"#, "it advances time"),
            (
                r#"[{"mutate": {"count": 2, "spacing_ms": 5}}]"#,
                "it spaces changes in time",
            ),
            (r#"[{"settle": {"ms": 5}}]"#, "it settles for a given time"),
            (
                r#"[{"open": {"window": "a", "throttle": {"debounce_ms": 5}}}]"#,
                "it debounces or throttles",
            ),
            (
                r#"[{"open": {"window": "a", "retry": {}}}]"#,
                "it retries after delays",
            ),
            (
                r#"[{"open": {"window": "a"}}, {"faults": {"window": "a", "snapshot": {"delay_ms": {"min": 1, "max": 2}}}}]"#,
                "it injects delays",
            ),
            (
                r#"[{"open": {"window": "a"}}, {"faults": {"window": "a", "reorder": 0.5}}]"#,
                "it reorders events (a held event is released on a timer)",
            ),
            (
                r#"[{"open": {"window": "a"}}, {"stopped": {"window": "a", "within_ms": 5}}]"#,
                "it times `stopped`",
            ),
        ] {
            assert_eq!(needs(steps), Some(why), "{steps}");
        }
    }
}
