//! What a spec's engine options become in `state-sync`'s engine: one
//! translation for the in-process engine and the reference driver's.

use std::time::Duration;

use state_sync::retry::RetryPolicy;
use state_sync::{EventRef, Throttle};

use super::steps::{Filter, RetrySpec, ThrottleSpec};

impl RetrySpec {
    /// The retry policy this describes, its jitter seeded with `seed`.
    pub(crate) fn policy(&self, seed: u64) -> RetryPolicy {
        let mut policy = RetryPolicy::default().seed(seed);
        if let Some(n) = self.max_attempts {
            policy = policy.max_attempts(n);
        }
        if let Some(ms) = self.base_delay_ms {
            policy = policy.base_delay(Duration::from_millis(ms));
        }
        if let Some(ms) = self.max_delay_ms {
            policy = policy.max_delay(Duration::from_millis(ms));
        }
        policy
    }
}

impl ThrottleSpec {
    /// The engine's throttle.
    pub(crate) fn throttle(&self) -> Throttle {
        match *self {
            ThrottleSpec::DebounceMs(ms) => Throttle::debounce(Duration::from_millis(ms)),
            ThrottleSpec::Throttle {
                interval_ms,
                leading,
                trailing,
            } => Throttle::Throttle {
                interval: Duration::from_millis(interval_ms),
                leading,
                trailing,
            },
        }
    }
}

impl Filter {
    /// The `should_refresh` filter this describes; `Panic` panics with
    /// `deliberate` (the message the caller recognises as its own).
    pub(crate) fn should_refresh(
        self,
        deliberate: &'static str,
    ) -> impl Fn(&EventRef<'_>) -> bool + Send + Sync + 'static {
        move |event| match &self {
            Filter::IgnoreSourceId(id) => event.source_id != Some(id.as_str()),
            Filter::OnlySourceId(id) => event.source_id == Some(id.as_str()),
            Filter::Never => false,
            Filter::Panic => panic!("{deliberate} in should_refresh"),
        }
    }
}
