//! Retry as a decorator of [`SnapshotProvider`].
//!
//! The engine makes one `get_snapshot` attempt per fetch; retrying is a
//! policy that depends on the source, so it wraps the provider instead:
//! `with_retry(provider, RetryPolicy::default())`. Without the wrapper there
//! is no retry.
//!
//! Delays grow exponentially from `base_delay`, capped at `max_delay`, with
//! "equal jitter": the wait for attempt *n* is drawn uniformly from
//! `[d/2, d]` where `d = min(max_delay, base_delay * 2^(n-1))`. The jitter is
//! seeded, so a test sees the same delays every run. Waits use
//! `tokio::time`, so they run on paused time in tests, and dropping the fetch
//! (as `stop` does) cancels the wait.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use parking_lot::Mutex;
use serde_json::Value;

use crate::error::PortError;
use crate::ports::SnapshotProvider;

/// Decides whether an error is worth another attempt.
pub type RetryPredicate = Arc<dyn Fn(&PortError) -> bool + Send + Sync>;
/// Hears about every failed attempt that will be retried.
pub type RetryHook = Arc<dyn Fn(&RetryEvent) + Send + Sync>;

/// A failed attempt that will be retried.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryEvent {
    /// The attempt that failed (1 is the first).
    pub attempt: u32,
    /// Its error.
    pub error: PortError,
    /// How long the wrapper waits before the next attempt.
    pub next_delay: Duration,
}

/// How to retry. `RetryPolicy::default()` is the recommended policy: 3
/// attempts, 100 ms base delay, 2 s cap, every error retried.
///
/// ```
/// use std::time::Duration;
/// use state_sync::retry::RetryPolicy;
///
/// let policy = RetryPolicy::default()
///     .max_attempts(5)
///     .should_retry(|e| !e.message().contains("forbidden"))
///     .on_retry(|ev| eprintln!("attempt {} failed, next in {:?}", ev.attempt, ev.next_delay));
/// assert_eq!(policy.delay_bounds(1), (Duration::from_millis(50), Duration::from_millis(100)));
/// ```
#[derive(Clone)]
pub struct RetryPolicy {
    max_attempts: u32,
    base_delay: Duration,
    max_delay: Duration,
    seed: u64,
    should_retry: Option<RetryPredicate>,
    on_retry: Option<RetryHook>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            seed: 0x5eed,
            should_retry: None,
            on_retry: None,
        }
    }
}

impl fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("max_attempts", &self.max_attempts)
            .field("base_delay", &self.base_delay)
            .field("max_delay", &self.max_delay)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl RetryPolicy {
    /// Total attempts, the first included (at least 1; `1` means no retry).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// The delay before the second attempt.
    pub fn base_delay(mut self, delay: Duration) -> Self {
        self.base_delay = delay;
        self
    }

    /// The cap on any delay.
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// The seed of the jitter.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Retry only errors for which `predicate` returns `true`.
    pub fn should_retry(
        mut self,
        predicate: impl Fn(&PortError) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.should_retry = Some(Arc::new(predicate));
        self
    }

    /// Call `hook` for every failed attempt that will be retried. A panic in
    /// the hook is caught and logged.
    pub fn on_retry(mut self, hook: impl Fn(&RetryEvent) + Send + Sync + 'static) -> Self {
        self.on_retry = Some(Arc::new(hook));
        self
    }

    /// The configured number of attempts.
    pub fn attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The range the delay after failed attempt `attempt` (1-based) is drawn
    /// from.
    pub fn delay_bounds(&self, attempt: u32) -> (Duration, Duration) {
        let exp = attempt.saturating_sub(1).min(31);
        let full = self
            .base_delay
            .saturating_mul(1u32 << exp)
            .min(self.max_delay);
        (full / 2, full)
    }
}

/// A provider that retries failed fetches. Build it with [`with_retry`].
pub struct Retry<P> {
    inner: P,
    policy: RetryPolicy,
    rng: Mutex<fastrand::Rng>,
}

/// Wraps `provider` so failed fetches are retried by `policy`.
pub fn with_retry<P: SnapshotProvider>(provider: P, policy: RetryPolicy) -> Retry<P> {
    let rng = Mutex::new(fastrand::Rng::with_seed(policy.seed));
    Retry {
        inner: provider,
        policy,
        rng,
    }
}

impl<P> Retry<P> {
    fn next_delay(&self, attempt: u32) -> Duration {
        // Whole milliseconds: tokio's timers have millisecond resolution, so
        // the delay reported to the hook is exactly the time waited.
        let (low, high) = self.policy.delay_bounds(attempt);
        let (low, high) = (whole_ms(low), whole_ms(high));
        let extra = self.rng.lock().u64(0..=high.saturating_sub(low));
        Duration::from_millis(low + extra)
    }

    fn retryable(&self, error: &PortError) -> bool {
        self.policy.should_retry.as_ref().is_none_or(|p| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| p(error))).unwrap_or_else(
                |_| {
                    tracing::error!("state-sync: should_retry panicked; not retrying");
                    false
                },
            )
        })
    }

    fn notify(&self, event: &RetryEvent) {
        if let Some(hook) = &self.policy.on_retry
            && std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(event))).is_err()
        {
            tracing::error!("state-sync: on_retry hook panicked");
        }
    }
}

fn whole_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl<P: SnapshotProvider> SnapshotProvider for Retry<P> {
    fn get_snapshot(&self) -> BoxFuture<'_, Result<Value, PortError>> {
        Box::pin(async move {
            let mut attempt = 1;
            loop {
                let error = match self.inner.get_snapshot().await {
                    Ok(value) => return Ok(value),
                    Err(error) => error,
                };
                if attempt >= self.policy.max_attempts || !self.retryable(&error) {
                    return Err(error.with_attempts(attempt));
                }
                let next_delay = self.next_delay(attempt);
                tracing::debug!(
                    attempt,
                    ?next_delay,
                    "state-sync: retrying getSnapshot: {error}"
                );
                self.notify(&RetryEvent {
                    attempt,
                    error,
                    next_delay,
                });
                tokio::time::sleep(next_delay).await;
                attempt += 1;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::atomic::{AtomicU32, Ordering};
    use tokio::time::Instant;

    /// Fails the first `failures` calls.
    struct Flaky {
        failures: u32,
        calls: AtomicU32,
    }

    impl SnapshotProvider for Flaky {
        fn get_snapshot(&self) -> BoxFuture<'_, Result<Value, PortError>> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                if n < self.failures {
                    Err(PortError::new(format!("fail {n}")))
                } else {
                    Ok(json!({"revision": "1", "data": null}))
                }
            })
        }
    }

    fn flaky(failures: u32) -> Flaky {
        Flaky {
            failures,
            calls: AtomicU32::new(0),
        }
    }

    #[test]
    fn delays_grow_and_cap() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay_bounds(1).1, Duration::from_millis(100));
        assert_eq!(p.delay_bounds(2).1, Duration::from_millis(200));
        assert_eq!(p.delay_bounds(5).1, Duration::from_millis(1600));
        assert_eq!(p.delay_bounds(6).1, Duration::from_secs(2));
        assert_eq!(p.delay_bounds(60).1, Duration::from_secs(2));
        assert_eq!(RetryPolicy::default().max_attempts(0).attempts(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_until_success_with_reported_delays() {
        let events = Arc::new(Mutex::new(Vec::new()));
        let seen = events.clone();
        let policy = RetryPolicy::default().on_retry(move |e| seen.lock().push(e.clone()));
        let provider = with_retry(flaky(2), policy.clone());
        let t0 = Instant::now();
        provider
            .get_snapshot()
            .await
            .expect("third attempt succeeds");
        let events = events.lock().clone();
        assert_eq!(events.iter().map(|e| e.attempt).collect::<Vec<_>>(), [1, 2]);
        let waited: Duration = events.iter().map(|e| e.next_delay).sum();
        assert_eq!(t0.elapsed(), waited, "slept exactly the reported delays");
        for e in &events {
            let (low, high) = policy.delay_bounds(e.attempt);
            assert!(e.next_delay >= low && e.next_delay <= high, "{e:?}");
        }
        assert_eq!(provider.inner.calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_max_attempts_and_counts_them() {
        let provider = with_retry(flaky(10), RetryPolicy::default());
        let err = provider.get_snapshot().await.expect_err("gives up");
        assert_eq!(err.attempts(), Some(3));
        assert_eq!(provider.inner.calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn should_retry_false_stops_at_once() {
        let provider = with_retry(flaky(10), RetryPolicy::default().should_retry(|_| false));
        let err = provider.get_snapshot().await.expect_err("no retry");
        assert_eq!(err.attempts(), Some(1));
        assert_eq!(provider.inner.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn jitter_is_deterministic_per_seed() {
        async fn delays(seed: u64) -> Vec<Duration> {
            let events = Arc::new(Mutex::new(Vec::new()));
            let seen = events.clone();
            let policy = RetryPolicy::default()
                .max_attempts(6)
                .seed(seed)
                .on_retry(move |e| seen.lock().push(e.next_delay));
            let _ = with_retry(flaky(10), policy).get_snapshot().await;
            events.lock().clone()
        }
        assert_eq!(delays(1).await, delays(1).await);
        assert_ne!(delays(1).await, delays(2).await);
    }
}
