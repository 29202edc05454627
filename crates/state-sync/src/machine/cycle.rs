//! The fetch cycle: a fetch begins, its snapshot is validated and applied
//! (or not), and the cycle ends — answering the requests it covers and
//! deciding whether to fetch again (CO-1, CO-2, GATE-5) and whether a failed
//! start rolls back (LIFE-4).

use crate::epoch::Position;
use crate::error::SyncError;
use crate::protocol::ProtocolError;
use crate::revision::Revision;

use super::{ApplyDecision, CycleEnd, Failure, Fetched, Lifecycle, Machine, Phase};

impl Machine {
    pub(super) fn clear_follow_up(&mut self) {
        self.follow_up = false;
        self.follow_up_forced = false;
        self.follow_up_for = None;
    }

    /// A fetch is about to begin (each turn of the fetch loop).
    pub(crate) fn begin_fetch(&mut self) {
        self.covers = self.requested;
        self.clear_follow_up();
        self.metrics.fetches += 1;
    }

    /// A snapshot payload failed validation: counted, and reported.
    pub(crate) fn snapshot_invalid(
        &mut self,
        error: ProtocolError,
        snapshot_revision: Option<Revision>,
    ) -> Failure {
        self.metrics.protocol_errors += 1;
        let mut failure = self.failure(Phase::Protocol, SyncError::Protocol(error));
        failure.report.snapshot_revision = snapshot_revision;
        failure
    }

    /// A valid snapshot at `position` arrived: apply, skip or discard
    /// (GATE-1 on positions: GATE-6).
    pub(crate) fn snapshot_ready(&mut self, position: Position) -> ApplyDecision {
        if self.lifecycle == Lifecycle::Stopped {
            ApplyDecision::Discard
        } else if self.applied_any && position <= self.local {
            self.metrics.stale_skips += 1;
            ApplyDecision::Stale
        } else {
            ApplyDecision::Apply
        }
    }

    /// The applier accepted the snapshot at `position`.
    pub(crate) fn applied(&mut self, position: Position) {
        self.local = position;
        self.applied_any = true;
        self.stale_refetches = 0;
        self.metrics.applies += 1;
    }

    /// The fetch cycle ended with `outcome` (`Ok` for applied, stale or
    /// discarded; the error otherwise). Answers the requests it covers,
    /// decides whether to fetch again and whether a failed start rolls
    /// back.
    pub(crate) fn finish_fetch(&mut self, outcome: Result<(), SyncError>) -> CycleEnd {
        let mut completed = self.covers;
        let mut start_outcome = None;
        let mut unsubscribe = false;
        if self
            .initial_ticket
            .is_some_and(|initial| initial <= completed)
        {
            self.initial_ticket = None;
            let result = match (&outcome, self.lifecycle) {
                (_, Lifecycle::Stopped) => Err(SyncError::StoppedDuringStart),
                (Err(e), _) => Err(e.clone()),
                (Ok(()), _) => Ok(()),
            };
            match result {
                Ok(()) => self.lifecycle = Lifecycle::Running,
                Err(_) if self.lifecycle == Lifecycle::Starting => {
                    // Roll back: unsubscribe; queued work is dropped and its
                    // requests answered with this failure.
                    self.lifecycle = Lifecycle::Idle;
                    self.clear_follow_up();
                    completed = self.requested;
                    unsubscribe = true;
                }
                Err(_) => {}
            }
            start_outcome = Some(result);
        }
        let needed = self.follow_up
            && (self.follow_up_forced || self.follow_up_for.is_some_and(|r| r > self.local));
        if self.follow_up && !needed && self.lifecycle != Lifecycle::Stopped {
            // Only invalidations asked, and the fetch reached what they
            // announced: they are answered by it (CO-2).
            completed = self.requested;
        }
        let again = if self.lifecycle == Lifecycle::Stopped {
            false
        } else if needed {
            true
        } else if outcome.is_ok() && self.behind_announced() {
            if self.stale_refetches < self.max_stale_refetches {
                self.stale_refetches += 1;
                true
            } else {
                false
            }
        } else {
            false
        };
        if !again {
            self.fetching = false;
            // A start whose initial refresh was queued behind this fetch (a
            // `refresh` called before `start`) loses its follow-up to `stop`:
            // answer it now, or it would wait forever.
            if self.lifecycle == Lifecycle::Stopped && self.initial_ticket.take().is_some() {
                start_outcome = Some(Err(SyncError::StoppedDuringStart));
            }
        }
        if completed >= self.completed {
            self.completed = completed;
            self.last = Some(outcome);
        }
        if let Some(result) = &start_outcome {
            self.answer_start(self.start_attempt, result.clone());
        }
        CycleEnd {
            completed,
            again,
            start_outcome,
            unsubscribe,
        }
    }

    /// The fetch cycle in flight ended as `fetched`: records it, reports
    /// its failure (if any), answers the requests it covers, and — when the
    /// machine fetches again — begins the next fetch.
    pub(crate) fn end_cycle(&mut self, fetched: Fetched) -> (CycleEnd, Option<Failure>) {
        let failure = match fetched {
            Fetched::Cancelled | Fetched::Skipped => None,
            Fetched::Applied(position) => {
                self.applied(position);
                None
            }
            Fetched::Failed(port) => Some(self.fetch_failed(port)),
            Fetched::Invalid(error, revision) => Some(self.snapshot_invalid(error, revision)),
            Fetched::ApplyFailed(position, port) => {
                Some(self.apply_failed(position.revision, port))
            }
        };
        let outcome = failure.as_ref().map_or(Ok(()), |f| Err(f.error.clone()));
        let end = self.finish_fetch(outcome);
        if end.again {
            self.begin_fetch();
        }
        (end, failure)
    }

    fn behind_announced(&self) -> bool {
        self.announced
            .is_some_and(|a| a > self.local || !self.applied_any)
    }
}
