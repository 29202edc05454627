//! Running a case on real time ([`Transport::on_real_time`]): time passes
//! by itself, so "let time pass until everything is done" becomes "wait
//! until the case is quiet", and how long that takes is the machine's
//! business, not the verdict's.
//!
//! Quiet means: the transport has settled (its [`Backend::settle`]
//! resolved) and has nothing in flight, every task of the case made ready
//! meanwhile has run (the runtime is about to park), and every window is
//! idle — or waits only on what the fault layer keeps waiting (a hung
//! fetch, a fetch or subscribe held for a `release`) with no timer of its
//! engine armed — and no delivery the fault layer scheduled is still due. It is
//! checked again after every settle, not after a fixed quiet period: a
//! case whose work is done goes on at once. A case that is not quiet fails
//! its settle only once nothing has moved in it — no delivery, no call
//! started or answered, no apply — for half the hang limit
//! ([`RunOptions::hang_limit`]), or four times that has passed in all: a
//! starved machine that works slowly is waited for.
//!
//! An `advance` or a `settle` with a duration sleeps it, then waits for
//! the same minus the windows' own state: what fell due within the span
//! has happened and every window has reacted to it (an engine handed an
//! event has issued its fetch), whatever the machine's load did to the
//! timers. Timers still armed stay armed.
//!
//! [`Transport::on_real_time`]: crate::Transport::on_real_time
//! [`RunOptions::hang_limit`]: crate::RunOptions::hang_limit
//! [`Backend::settle`]: state_sync_transports::Backend::settle

use std::time::Duration;

use tokio::time::Instant;

use super::steps::Case;
use super::wiring::Window;

/// A wait on real time gives up after this many times the case's cap
/// without progress ([`Case::budget`]) in all, progress or not: a window
/// that keeps working without ever becoming quiet (an engine fetching in a
/// loop) is not waited for until the watchdog.
const WAITS_IN_ALL: u32 = 4;
/// How often quiet is checked while something still runs.
const POLL: Duration = Duration::from_millis(1);

/// How a `settle` lets time pass.
#[derive(Clone, Copy)]
pub(super) enum Span {
    /// Until everything in flight and every timer under way is done: on
    /// real time, until the case is quiet (a failure if it is not and
    /// nothing moved in it for the case's cap, see [`Case::within`]).
    Everything(Duration),
    /// Exactly this long; on real time, then until the transport has
    /// settled, nothing is in flight and every task made ready meanwhile
    /// has run (timers may still be armed): what became due within the
    /// span has happened, and the windows have reacted to it.
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
        let windows_too = match span {
            Span::Everything(_) => true,
            Span::Exactly(d) => {
                tokio::time::sleep(d).await;
                false
            }
        };
        let began = Instant::now();
        loop {
            let settled = self.within(began, self.buses.settle()).await.is_some();
            // Then every task made ready by what happened meanwhile (an
            // event handed to an engine that spawns its fetch, a channel
            // closed by an unsubscribe) runs as far as it can.
            let idle = settled
                && self
                    .within(began, self.activity.runtime_idle())
                    .await
                    .is_some();
            let busy = if !settled {
                Some("the transport's `Backend::settle` did not resolve".to_owned())
            } else if !idle {
                Some("the case's tasks never stopped running".to_owned())
            } else {
                self.busy(windows_too)
            };
            let Some(busy) = busy else {
                return Ok(());
            };
            if Instant::now() >= self.give_up_at(began) {
                return Err(format!(
                    "the case was not quiet, and {}: {busy}",
                    self.gave_up()
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// `wait`'s output, or `None` once the case has made no progress (no
    /// delivery, no call started or answered, no apply) for its cap
    /// ([`Case::budget`]) since `began`, or [`WAITS_IN_ALL`] caps have
    /// passed since then: a starved machine that works slowly is waited
    /// for, a case stuck on something is not.
    pub(super) async fn within<F: Future>(&self, began: Instant, wait: F) -> Option<F::Output> {
        let mut wait = std::pin::pin!(wait);
        loop {
            let give_up = self.give_up_at(began);
            match tokio::time::timeout_at(give_up, wait.as_mut()).await {
                Ok(out) => return Some(out),
                Err(_) if Instant::now() >= self.give_up_at(began) => return None,
                Err(_) => {}
            }
        }
    }

    /// Why a real-time wait gave up: `nothing moved in the case for … s of
    /// real time (or … s passed in all)`.
    pub(super) fn gave_up(&self) -> String {
        format!(
            "nothing moved in the case for {} s of real time (or {} s passed in all)",
            self.budget.as_secs_f64(),
            (self.budget * WAITS_IN_ALL).as_secs_f64()
        )
    }

    /// When a wait that began at `began` gives up: a cap after the later of
    /// its start and the case's last progress, and at most
    /// [`WAITS_IN_ALL`] caps after its start.
    fn give_up_at(&self, began: Instant) -> Instant {
        let cap = self.budget;
        let progress = Instant::now()
            .checked_sub(self.activity.stalled_for())
            .unwrap_or(began);
        (began.max(progress) + cap).min(began + cap * WAITS_IN_ALL)
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
