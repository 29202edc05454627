//! Which specs need virtual time: those whose verdict hangs on timing
//! exact to a few milliseconds, which real time cannot promise. Every other
//! spec runs on real time too ([`Transport::on_real_time`]): its advances,
//! spacings, delays, throttles and retries take real time, and its settles
//! wait until the case is quiet.
//!
//! [`Transport::on_real_time`]: crate::Transport::on_real_time

use super::Spec;

impl Spec {
    /// Why the scenario needs virtual time, if it does: it says its timing
    /// is exact ([`Spec::exact_timing`]), or it sets a virtual-time budget.
    /// On real time such a spec is `unsupported` ("virtual-time").
    pub fn needs_virtual_time(&self) -> Option<&'static str> {
        if self.exact_timing {
            Some("its timing is exact to the millisecond")
        } else if self.budget_ms.is_some() {
            Some("it sets a virtual-time budget")
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::corpus::parse_spec;

    fn needs(fields: &str, steps: &str) -> Option<&'static str> {
        let text = format!(
            r#"{{"id": "t", "title": "t", "clauses": ["LIFE-1"], "level": "must", {fields} "steps": {steps}}}"#
        );
        parse_spec(&text, "test")
            .expect("valid")
            .needs_virtual_time()
    }

    #[test]
    fn only_exact_timing_or_a_budget_needs_virtual_time() {
        let timed = r#"[{"open": {"window": "a", "throttle": {"debounce_ms": 5}, "retry": {}}},
            {"faults": {"window": "a", "delay_ms": {"min": 1, "max": 2}, "reorder": 0.5}},
            {"mutate": {"count": 2, "spacing_ms": 5}}, {"advance": {"ms": 5}},
            {"settle": {"ms": 5}}, {"stopped": {"window": "a", "within_ms": 5}}]"#;
        assert_eq!(needs("", timed), None, "timed steps run on real time");
        assert_eq!(
            needs(r#""exact_timing": true,"#, "[]"),
            Some("its timing is exact to the millisecond")
        );
        assert_eq!(
            needs(r#""budget_ms": 1000,"#, "[]"),
            Some("it sets a virtual-time budget")
        );
    }
}
