//! What a spec needs of a driver. A driver names what it supports in its
//! handshake; a spec whose steps need more is `unsupported` through it,
//! never failed. An expectation that reads what a driver lacks (`metrics`,
//! `lifecycle`) does not make the spec unsupported: it is not checked, and
//! the case lists it.

use crate::spec::{Spec, Step};

/// Every capability a driver may claim, with what it means.
pub const CAPABILITIES: &[(&str, &str)] = &[
    (
        "virtual_clock",
        "the engine's timers run on the clock the kit moves (`now_ms`, `timer_ms`)",
    ),
    ("throttle", "debounce and throttle options"),
    (
        "retry",
        "a retry wrapper around the provider, with its options",
    ),
    (
        "max_stale_refetches",
        "a bound on refetches after a stale snapshot",
    ),
    ("metrics", "the engine's counters in `state`"),
    ("lifecycle", "the engine's lifecycle in `state`"),
    (
        "stopped",
        "a `stopped` command: wait until the engine has stopped",
    ),
    ("revision_parser", "`parse_revision` for the golden vectors"),
];

/// The driver capabilities `spec`'s steps need to be carried out, sorted
/// (the accessors its expectations read are not among them).
pub fn needs(spec: &Spec) -> Vec<&'static str> {
    let mut needs = Vec::new();
    if spec.needs_virtual_time().is_some() {
        needs.push("virtual_clock");
    }
    for step in &spec.steps {
        match step {
            Step::Open(o) => {
                if o.throttle.is_some() {
                    needs.push("throttle");
                }
                if o.retry.is_some() {
                    needs.push("retry");
                }
                if o.max_stale_refetches.is_some() {
                    needs.push("max_stale_refetches");
                }
            }
            Step::Stopped(_) => needs.push("stopped"),
            _ => {}
        }
    }
    needs.sort_unstable();
    needs.dedup();
    needs
}
