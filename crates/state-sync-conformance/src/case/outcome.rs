//! What the parts of a case share: how a case ended, the default budgets,
//! the mark of the kit's deliberate panics, and stable seeds from names.

use std::time::Duration;

use crate::failure::Failure;
use crate::verdict::{TraceEntry, Verdict};

/// The default virtual-time budget of a case.
pub const DEFAULT_BUDGET_MS: u64 = 600_000;
/// The default virtual time a `settle` step allows.
pub const DEFAULT_SETTLE_MS: u64 = 60_000;

/// Slack for "at once" on real time (`stopped`).
pub(crate) const REAL_TIME_TOLERANCE: Duration = Duration::from_millis(100);

/// The prefix of the kit's deliberate panics (a panicking `on_error` hook
/// checks that the engine survives): not counted as errors.
pub(crate) const DELIBERATE: &str = "state-sync-conformance: deliberate panic";

/// FNV-1a of `bytes`: stable seeds from names.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// How a case ended, before it becomes a [`CaseResult`](crate::CaseResult).
pub(crate) struct Outcome {
    pub(crate) verdict: Verdict,
    pub(crate) failures: Vec<Failure>,
    pub(crate) trace: Vec<TraceEntry>,
    pub(crate) virtual_ms: u64,
}

impl Outcome {
    /// A case that ran: its verdict, failures and virtual time (its trace
    /// is added by the caller).
    pub(crate) fn of(verdict: Verdict, failures: Vec<Failure>, virtual_ms: u64) -> Self {
        Self {
            verdict,
            failures,
            trace: Vec::new(),
            virtual_ms,
        }
    }

    /// A case that could not run as it should: `verdict` with one message.
    pub(crate) fn broken(verdict: Verdict, message: String) -> Self {
        Self::of(verdict, vec![Failure::unclaused(message)], 0)
    }
}
