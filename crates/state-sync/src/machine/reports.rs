//! The machine's error reports: every one carries the context known when
//! it happened (ERR-2), built here so that the driver only delivers it.

use serde_json::Value;

use crate::error::{ErrorContext, Phase, PortError, SyncError};
use crate::protocol::{EventRef, ProtocolError};
use crate::revision::Revision;

use super::{Failure, Machine};

impl Machine {
    /// A report of `error` in `phase`, with the topic and local revision.
    pub(super) fn report(&self, phase: Phase, error: SyncError) -> ErrorContext {
        let mut ctx = self.context(phase, error.to_string());
        ctx.error = Some(error);
        ctx
    }

    /// A report of `error` that is also returned to a caller.
    pub(super) fn failure(&self, phase: Phase, error: SyncError) -> Failure {
        Failure {
            report: self.report(phase, error.clone()),
            error,
        }
    }

    /// A report without a typed error.
    fn context(&self, phase: Phase, message: String) -> ErrorContext {
        let mut ctx = ErrorContext::new(phase, &self.topic, message);
        if self.applied_any {
            ctx.local_revision = Some(self.local.revision);
        }
        ctx
    }

    /// An invalid event payload (ERR-1): the payload goes with the report.
    pub(super) fn invalid_event(&self, error: ProtocolError, payload: &Value) -> ErrorContext {
        let mut ctx = self.report(Phase::Protocol, SyncError::Protocol(error));
        ctx.source_event = Some(payload.clone());
        ctx
    }

    /// The `should_refresh` filter panicked on `event` (GATE-4).
    pub(crate) fn filter_panicked(
        &self,
        event: &EventRef<'_>,
        payload: &Value,
        panic: &str,
    ) -> ErrorContext {
        let mut ctx = self.context(
            Phase::Invalidation,
            format!("should_refresh panicked: {panic}"),
        );
        ctx.event_revision = Some(event.revision);
        ctx.source_event = Some(payload.clone());
        ctx.source_id = event.source_id.map(str::to_owned);
        ctx
    }

    /// The throttle's timer for an event at `revision` could not be armed
    /// (no runtime to run it on).
    pub(crate) fn timer_unavailable(&self, revision: Revision) -> ErrorContext {
        let mut ctx = self.context(
            Phase::Throttle,
            "no tokio runtime to schedule the throttled refresh".to_owned(),
        );
        ctx.event_revision = Some(revision);
        ctx
    }

    /// The snapshot provider failed, possibly after retries (RETRY-2).
    pub(crate) fn fetch_failed(&self, error: PortError) -> Failure {
        let attempt = error.attempts();
        let mut failure = self.failure(Phase::GetSnapshot, SyncError::GetSnapshot(error));
        failure.report.attempt = attempt;
        failure.report.will_retry = attempt.map(|_| false);
        failure
    }

    /// The applier failed on the snapshot at `revision`.
    pub(crate) fn apply_failed(&self, revision: Revision, error: PortError) -> Failure {
        let mut failure = self.failure(Phase::Apply, SyncError::Apply(error));
        failure.report.snapshot_revision = Some(revision);
        failure
    }
}
