//! Running a case on real time ([`Transport::on_real_time`]): time passes
//! by itself, so "let time pass until everything is done" becomes "wait
//! until the case is quiet", and how long that takes is the machine's
//! business, not the verdict's.
//!
//! Quiet means: the transport has settled (its [`Backend::settle`]
//! resolved) and has nothing in flight, and every window is idle — or
//! waits only on what the fault layer keeps waiting (a hung fetch, a
//! fetch or subscribe held for a `release`) with no timer of its engine
//! armed — and no delivery the fault layer scheduled is still due. It is
//! checked again after every settle, not after a fixed quiet period: a
//! case whose work is done goes on at once.
//!
//! [`Transport::on_real_time`]: crate::Transport::on_real_time
//! [`Backend::settle`]: state_sync_transports::Backend::settle

use std::time::Duration;

use tokio::time::Instant;

use super::steps::Case;
use super::wiring::Window;

/// The longest one `settle` without a duration waits for the case to
/// become quiet; past it the settle is a failure.
pub(super) const LONGEST_SETTLE: Duration = Duration::from_secs(10);
/// How often quiet is checked while something still runs.
const POLL: Duration = Duration::from_millis(1);

/// How a `settle` lets time pass.
#[derive(Clone, Copy)]
pub(super) enum Span {
    /// Until everything in flight and every timer under way is done: on
    /// real time, until the case is quiet (a failure if it is not within
    /// [`LONGEST_SETTLE`]).
    Everything(Duration),
    /// Exactly this long; on real time, then until the transport has
    /// settled and nothing is in flight (timers may still be armed).
    Exactly(Duration),
}

impl Case<'_> {
    /// Lets time pass as `span` says: sleeps it on virtual time. On real
    /// time, waits until the case is quiet (see the module docs); why it
    /// did not become quiet in time, if it did not.
    pub(super) async fn pass_time(&self, span: Span) -> Result<(), String> {
        let (Span::Everything(d) | Span::Exactly(d)) = span;
        if !self.real_time {
            tokio::time::sleep(d).await;
            return Ok(());
        }
        let (cap, windows_too) = match span {
            Span::Everything(d) => (d.min(LONGEST_SETTLE), true),
            Span::Exactly(d) => {
                tokio::time::sleep(d).await;
                (LONGEST_SETTLE, false)
            }
        };
        let deadline = Instant::now() + cap;
        loop {
            // Tasks made ready by what just happened (a channel closed by
            // an unsubscribe, a handler dropped with it) run first.
            tokio::task::yield_now().await;
            let settled = tokio::time::timeout_at(deadline, self.buses.settle()).await;
            let busy = match settled {
                Err(_) => Some("the transport's `Backend::settle` did not resolve".to_owned()),
                Ok(()) => self.busy(windows_too),
            };
            let Some(busy) = busy else {
                return Ok(());
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "the case was not quiet after {} ms of real time: {busy}",
                    cap.as_millis()
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// What keeps the case from being quiet, if anything: work in flight
    /// at the transport, and (when `windows_too`) a window still working.
    fn busy(&self, windows_too: bool) -> Option<String> {
        let waiting = self.activity.waiting_for();
        if !waiting.is_empty() {
            return Some(waiting);
        }
        if !windows_too {
            return None;
        }
        self.windows
            .iter()
            .find_map(|(name, w)| window_busy(w).map(|why| format!("window {name:?} {why}")))
    }
}

/// Why window `w` is not quiet, if it is not.
fn window_busy(w: &Window) -> Option<&'static str> {
    let pending = &w.faults.pending;
    if pending.scheduled() > 0 {
        return Some("has a delayed delivery still due");
    }
    // What the fault layer keeps waiting (and the calls waiting on it)
    // stays pending however long the case waits.
    let kept = pending.kept() + w.faults.holds.waiting() > 0;
    if !kept && !w.background.iter().all(|(_, h)| h.is_finished()) {
        return Some("has a start or refresh still running");
    }
    if w.sync.is_idle() || (kept && w.sync.timer_deadline().is_none()) {
        None
    } else {
        Some("is still working")
    }
}
