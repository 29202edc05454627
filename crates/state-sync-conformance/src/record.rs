//! What the runner records while a case runs: the trace, and per window
//! the applies, errors, fetches, deliveries and invariant violations.

use std::sync::Arc;

use futures::future::BoxFuture;
use parking_lot::Mutex;
use serde_json::Value;
use state_sync::{ErrorContext, Phase, PortError, Revision, SnapshotApplier, SnapshotEnvelope};
use tokio::time::Instant;

use crate::faults::FaultState;
use crate::verdict::TraceEntry;

/// Most trace entries kept per case; later ones are counted, not stored.
const TRACE_CAP: usize = 4000;

/// The case's event trace, stamped with virtual time.
#[derive(Debug, Clone)]
pub(crate) struct Trace {
    t0: Instant,
    entries: Arc<Mutex<(Vec<TraceEntry>, usize)>>,
}

impl Trace {
    pub(crate) fn new() -> Self {
        Self {
            t0: Instant::now(),
            entries: Arc::default(),
        }
    }

    /// Virtual milliseconds since the case began.
    pub(crate) fn now_ms(&self) -> u64 {
        u64::try_from(self.t0.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    pub(crate) fn log(&self, window: &str, event: impl Into<String>) {
        let mut entries = self.entries.lock();
        if entries.0.len() < TRACE_CAP {
            let at_ms = self.now_ms();
            entries.0.push(TraceEntry {
                at_ms,
                window: window.to_owned(),
                event: event.into(),
            });
        } else {
            entries.1 += 1;
        }
    }

    pub(crate) fn take(&self) -> Vec<TraceEntry> {
        let mut entries = self.entries.lock();
        let mut out = std::mem::take(&mut entries.0);
        if entries.1 > 0 {
            out.push(TraceEntry {
                at_ms: self.now_ms(),
                window: "kit".to_owned(),
                event: format!("{} more entries not kept", entries.1),
            });
        }
        out
    }
}

/// Everything recorded about one window.
#[derive(Debug, Default)]
pub(crate) struct WindowRecord {
    pub(crate) applied: Vec<Revision>,
    pub(crate) data: Option<Value>,
    pub(crate) errors: Vec<ErrorContext>,
    pub(crate) stopped: bool,
    pub(crate) violations: Vec<String>,
    pub(crate) fetches: u64,
    /// Calls to the window's `subscribe`.
    pub(crate) subscribes: u64,
    /// Invalid payloads handed to the engine while subscribed.
    pub(crate) garbage_forwarded: u64,
    /// Protocol errors the engine reported for an event payload.
    pub(crate) event_protocol_errors: u64,
    /// Successful subscribes minus unsubscribes.
    pub(crate) open_subscriptions: i64,
}

/// A window's shared record.
pub(crate) type Record = Arc<Mutex<WindowRecord>>;

/// The applier every window uses: records applies, checks ordering and
/// quiescence, and carries out apply faults.
pub(crate) struct RecordingApplier {
    pub(crate) name: String,
    pub(crate) record: Record,
    pub(crate) faults: Arc<FaultState>,
    pub(crate) trace: Trace,
}

impl SnapshotApplier<Value> for RecordingApplier {
    fn apply(&self, snapshot: SnapshotEnvelope<Value>) -> BoxFuture<'_, Result<(), PortError>> {
        let revision = snapshot.revision;
        {
            let mut rec = self.record.lock();
            if rec.stopped {
                rec.violations
                    .push(format!("apply of revision {revision} called after stop"));
            }
            if let Some(last) = rec.applied.last().copied()
                && revision <= last
            {
                rec.violations.push(format!(
                    "applies not strictly increasing: {revision} after {last}"
                ));
            }
        }
        let plan = self.faults.apply_plan();
        Box::pin(async move {
            if let Some(delay) = plan.delay {
                self.trace.log(
                    &self.name,
                    format!("apply {revision} slowed by {} ms", delay.as_millis()),
                );
                tokio::time::sleep(delay).await;
            }
            if plan.fail {
                self.trace
                    .log(&self.name, format!("apply {revision} fails (injected)"));
                return Err(PortError::new("injected apply failure"));
            }
            self.trace.log(&self.name, format!("apply {revision}"));
            let mut rec = self.record.lock();
            rec.applied.push(revision);
            rec.data = Some(snapshot.data);
            Ok(())
        })
    }
}

/// Records an error the engine reported; the message goes to the trace.
pub(crate) fn record_error(record: &Record, trace: &Trace, name: &str, ctx: &ErrorContext) {
    let from_event = ctx.phase == Phase::Protocol && ctx.source_event.is_some();
    {
        let mut rec = record.lock();
        rec.errors.push(ctx.clone());
        if from_event {
            rec.event_protocol_errors += 1;
        }
    }
    trace.log(name, format!("error [{}] {}", ctx.phase, ctx.message));
}
