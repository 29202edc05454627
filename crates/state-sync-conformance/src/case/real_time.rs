//! Running a case on real time ([`Transport::on_real_time`]): time passes
//! by itself, so "let time pass" becomes "wait until the case is quiet".
//!
//! [`Transport::on_real_time`]: crate::Transport::on_real_time

use std::time::Duration;

use tokio::time::Instant;

use super::steps::Case;

/// How long the case must stay quiet for a `settle` to end.
const QUIET: Duration = Duration::from_millis(20);
/// The longest one `settle` waits for quiet.
const LONGEST_SETTLE: Duration = Duration::from_secs(5);
/// How often quiet is checked.
const POLL: Duration = Duration::from_millis(2);

impl Case<'_> {
    /// Lets `span` of time pass: sleeps it on virtual time; on real time,
    /// waits until the case has been quiet for a moment (or for at most
    /// `span`, capped at a few seconds).
    pub(super) async fn pass_time(&self, span: Duration) {
        if !self.real_time {
            tokio::time::sleep(span).await;
            return;
        }
        let deadline = Instant::now() + span.min(LONGEST_SETTLE);
        let mut quiet_since: Option<Instant> = None;
        while Instant::now() < deadline {
            let settle = self.buses.settle();
            if tokio::time::timeout_at(deadline, settle).await.is_err() {
                return;
            }
            if self.is_quiet() {
                if quiet_since.get_or_insert_with(Instant::now).elapsed() >= QUIET {
                    return;
                }
            } else {
                quiet_since = None;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Nothing in flight at the transport, every window idle.
    fn is_quiet(&self) -> bool {
        self.activity.nothing_in_flight()
            && self
                .windows
                .values()
                .all(|w| w.sync.is_idle() && w.background.iter().all(|(_, h)| h.is_finished()))
    }
}
