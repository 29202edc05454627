//! A case's event trace: what happened, when (virtual time) and to whom.
//! The steps, the observation layer and the fault notes write to it; a case
//! that does not pass keeps it in its result.

use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use tokio::runtime::Handle;
use tokio::time::Instant;

use crate::verdict::TraceEntry;

/// Most trace entries kept per case; later ones are counted, not stored.
const TRACE_CAP: usize = 4000;

/// Where every kept entry of every trace also goes as it is written, when
/// set: a harness process running one case at a time streams its trace
/// out, so that a case that crashes the process still has one.
pub(crate) type TraceSink = Arc<dyn Fn(&TraceEntry) + Send + Sync>;

static SINK: RwLock<Option<TraceSink>> = RwLock::new(None);

/// Sends every entry kept from now on to `sink` too (`None` stops).
pub(crate) fn stream_to(sink: Option<TraceSink>) {
    *SINK.write() = sink;
}

/// The case's event trace, stamped with virtual time. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Trace {
    t0: Instant,
    /// The case's runtime, whose (virtual) clock stamps every entry, on
    /// whatever thread it is written.
    runtime: Handle,
    entries: Arc<Mutex<Entries>>,
}

#[derive(Debug, Default)]
struct Entries {
    kept: Vec<TraceEntry>,
    dropped: usize,
}

impl Trace {
    /// A trace starting now (call it inside the case's runtime).
    pub(crate) fn new() -> Self {
        Self {
            t0: Instant::now(),
            runtime: Handle::current(),
            entries: Arc::default(),
        }
    }

    /// Virtual milliseconds since the case began.
    pub(crate) fn now_ms(&self) -> u64 {
        let _clock = self.runtime.enter();
        u64::try_from(self.t0.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Notes `event` for `window` (or `source`, `bus`, `kit`).
    pub(crate) fn log(&self, window: &str, event: impl Into<String>) {
        let mut entries = self.entries.lock();
        if entries.kept.len() < TRACE_CAP {
            let entry = TraceEntry {
                at_ms: self.now_ms(),
                window: window.to_owned(),
                event: event.into(),
            };
            if let Some(sink) = SINK.read().as_ref() {
                sink(&entry);
            }
            entries.kept.push(entry);
        } else {
            entries.dropped += 1;
        }
    }

    /// The entries so far (and a last one counting those not kept).
    pub(crate) fn take(&self) -> Vec<TraceEntry> {
        let mut entries = self.entries.lock();
        let mut out = std::mem::take(&mut entries.kept);
        if entries.dropped > 0 {
            out.push(TraceEntry {
                at_ms: self.now_ms(),
                window: "kit".to_owned(),
                event: format!("{} more entries not kept", entries.dropped),
            });
        }
        out
    }
}
