//! Debounce and throttle for event-triggered refreshes, as pure logic.
//!
//! The driver feeds in events and timer expiries with the current instant;
//! the logic answers whether to refresh now and when the timer should next
//! fire. Manual `refresh` and the initial refresh of `start` are never
//! delayed.

use std::time::Duration;

use tokio::time::Instant;

/// How event-triggered refreshes are spaced out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    /// Refresh once events have been quiet for this long.
    Debounce(Duration),
    /// Refresh at most once per `interval`.
    Throttle {
        /// The minimum spacing of refreshes.
        interval: Duration,
        /// Refresh at once on the first event of a quiet period.
        leading: bool,
        /// Refresh at the end of a window in which events arrived (after the
        /// leading refresh, if any).
        trailing: bool,
    },
}

impl Throttle {
    /// Debounce by `quiet`.
    pub const fn debounce(quiet: Duration) -> Self {
        Self::Debounce(quiet)
    }

    /// Throttle to one refresh per `interval`, on both edges.
    #[allow(clippy::self_named_constructors)]
    pub const fn throttle(interval: Duration) -> Self {
        Self::Throttle {
            interval,
            leading: true,
            trailing: true,
        }
    }
}

/// What the driver does after an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ThrottleStep {
    /// Request a refresh now.
    pub(crate) fire: bool,
    /// Make sure a timer fires at this instant (`None`: no timer needed).
    pub(crate) timer: Option<Instant>,
}

/// The timing state of one engine.
#[derive(Debug, Clone)]
pub(crate) struct ThrottleState {
    policy: Throttle,
    /// Debounce: when the quiet period ends. Throttle: when the window ends.
    deadline: Option<Instant>,
    trailing_pending: bool,
}

impl ThrottleState {
    /// A fresh state for `policy`.
    pub(crate) fn new(policy: Throttle) -> Self {
        Self {
            policy,
            deadline: None,
            trailing_pending: false,
        }
    }

    /// An event asked for a refresh at `now`.
    pub(crate) fn on_event(&mut self, now: Instant) -> ThrottleStep {
        match self.policy {
            Throttle::Debounce(quiet) => {
                self.deadline = Some(now + quiet);
                ThrottleStep {
                    fire: false,
                    timer: self.deadline,
                }
            }
            Throttle::Throttle {
                interval, leading, ..
            } => match self.deadline {
                Some(end) if now < end => {
                    self.trailing_pending = true;
                    ThrottleStep {
                        fire: false,
                        timer: Some(end),
                    }
                }
                _ => {
                    let end = now + interval;
                    self.deadline = Some(end);
                    self.trailing_pending = !leading;
                    ThrottleStep {
                        fire: leading,
                        timer: Some(end),
                    }
                }
            },
        }
    }

    /// The timer fired at `now`.
    pub(crate) fn on_timer(&mut self, now: Instant) -> ThrottleStep {
        let Some(deadline) = self.deadline else {
            return ThrottleStep {
                fire: false,
                timer: None,
            };
        };
        if now < deadline {
            return ThrottleStep {
                fire: false,
                timer: Some(deadline),
            };
        }
        match self.policy {
            Throttle::Debounce(_) => {
                self.deadline = None;
                ThrottleStep {
                    fire: true,
                    timer: None,
                }
            }
            Throttle::Throttle {
                interval, trailing, ..
            } => {
                if self.trailing_pending && trailing {
                    self.trailing_pending = false;
                    let end = now + interval;
                    self.deadline = Some(end);
                    ThrottleStep {
                        fire: true,
                        timer: Some(end),
                    }
                } else {
                    self.trailing_pending = false;
                    self.deadline = None;
                    ThrottleStep {
                        fire: false,
                        timer: None,
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn debounce_fires_once_after_quiet() {
        let t0 = Instant::now();
        let mut s = ThrottleState::new(Throttle::debounce(ms(50)));
        assert!(!s.on_event(t0).fire);
        assert_eq!(s.on_event(t0 + ms(30)).timer, Some(t0 + ms(80)));
        // The first timer (armed for 50) finds the deadline moved.
        let step = s.on_timer(t0 + ms(50));
        assert_eq!((step.fire, step.timer), (false, Some(t0 + ms(80))));
        let step = s.on_timer(t0 + ms(80));
        assert_eq!((step.fire, step.timer), (true, None));
    }

    #[test]
    fn throttle_leading_and_trailing() {
        let t0 = Instant::now();
        let mut s = ThrottleState::new(Throttle::throttle(ms(100)));
        assert!(s.on_event(t0).fire, "leading edge");
        assert!(!s.on_event(t0 + ms(10)).fire);
        assert!(!s.on_event(t0 + ms(20)).fire);
        let step = s.on_timer(t0 + ms(100));
        assert!(step.fire, "trailing edge");
        assert_eq!(step.timer, Some(t0 + ms(200)));
        let step = s.on_timer(t0 + ms(200));
        assert_eq!((step.fire, step.timer), (false, None), "quiet window ends");
        assert!(s.on_event(t0 + ms(250)).fire, "new leading edge");
    }

    #[test]
    fn throttle_without_leading_waits_for_window_end() {
        let t0 = Instant::now();
        let mut s = ThrottleState::new(Throttle::Throttle {
            interval: ms(100),
            leading: false,
            trailing: true,
        });
        assert!(!s.on_event(t0).fire);
        assert!(s.on_timer(t0 + ms(100)).fire);
    }

    #[test]
    fn throttle_without_trailing_drops_window_events() {
        let t0 = Instant::now();
        let mut s = ThrottleState::new(Throttle::Throttle {
            interval: ms(100),
            leading: true,
            trailing: false,
        });
        assert!(s.on_event(t0).fire);
        assert!(!s.on_event(t0 + ms(50)).fire);
        assert!(!s.on_timer(t0 + ms(100)).fire);
    }
}
