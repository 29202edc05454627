//! The driver's reports, taken in: requests to the window's ports served
//! on the case's runtime (aborted by `cancel`), errors recorded by the
//! window's observer, call results, state and acknowledgements. A report
//! that breaks the protocol is the connection's failure, with the line.

use std::sync::Arc;

use serde_json::Value;
use state_sync::{
    Epoch, ErrorContext, Lifecycle, Payload, Phase, PortError, Position, Revision,
    SnapshotEnvelope, SyncError,
};

use super::super::protocol::{
    CallFailure, CommandBody, ErrorReport, Reply, Report, TEXT_DEPTH, WireError, depth,
};
use super::{Inner, Ports};
use crate::case::CallError;
use crate::driver::process;

impl Inner {
    /// Handles one line of the driver's output.
    pub(super) fn handle(self: &Arc<Self>, line: &str) {
        let report: Report = match serde_json::from_str(line) {
            Ok(r) => r,
            Err(e) => {
                return self.fail(format!(
                    "printed a line that is not a protocol message ({e}): {}",
                    process::shown(line)
                ));
            }
        };
        if let Err(why) = self.report(report) {
            self.fail(format!("{why}: {}", process::shown(line)));
        }
    }

    fn report(self: &Arc<Self>, report: Report) -> Result<(), String> {
        match report {
            Report::Hello { .. } => return Err("a second hello".to_owned()),
            Report::Subscribe { window, request } => {
                let ports = self.window(&window)?;
                let weak = Arc::downgrade(self);
                self.serve(request, async move {
                    let handler = {
                        let weak = weak.clone();
                        Arc::new(move |payload: Payload<'_>| {
                            if let Some(inner) = weak.upgrade() {
                                inner.deliver(request, payload);
                            }
                        })
                    };
                    let result = ports.subscriber.subscribe_payloads(handler).await;
                    let Some(inner) = weak.upgrade() else { return };
                    let error = match result {
                        Ok(subscription) => {
                            inner.subscriptions.lock().insert(request, subscription);
                            None
                        }
                        Err(e) => Some(wire_error(&e)),
                    };
                    inner.send(CommandBody::Subscribed { request, error });
                });
            }
            Report::Unsubscribe { subscription } => {
                let sub = self.subscriptions.lock().remove(&subscription);
                if let Some(sub) = sub {
                    sub.unsubscribe();
                }
            }
            Report::GetSnapshot { window, request } => {
                let ports = self.window(&window)?;
                let weak = Arc::downgrade(self);
                self.serve(request, async move {
                    let result = match ports.provider.get_snapshot().await {
                        Ok(v) => Reply::Ok(v),
                        Err(e) => Reply::Error(wire_error(&e)),
                    };
                    if let Some(inner) = weak.upgrade() {
                        inner.send(CommandBody::Snapshot { request, result });
                    }
                });
            }
            Report::Apply {
                window,
                request,
                revision,
                epoch,
                data,
            } => {
                let ports = self.window(&window)?;
                let at = match position(&revision, epoch.as_deref()) {
                    Ok(at) => at,
                    Err(e) => {
                        // The engine let a non-canonical revision through
                        // to its applier: its fault, not the driver's.
                        ports.observer.engine_broke(
                            REVISION_CLAUSE,
                            format!(
                                "the engine applied {e}: a snapshot with it is a protocol error"
                            ),
                        );
                        self.send(CommandBody::Applied {
                            request,
                            error: Some(WireError {
                                message: format!("revision {revision:?} is not canonical"),
                                detail: None,
                            }),
                        });
                        return Ok(());
                    }
                };
                let weak = Arc::downgrade(self);
                self.serve(request, async move {
                    let result = ports
                        .applier
                        .apply(SnapshotEnvelope::new(at.revision, data).with_epoch(at.epoch))
                        .await;
                    if let Some(inner) = weak.upgrade() {
                        let error = result.err().map(|e| wire_error(&e));
                        inner.send(CommandBody::Applied { request, error });
                    }
                });
            }
            Report::Cancel { request } => {
                if let Some(task) = self.requests.lock().remove(&request) {
                    task.abort();
                }
            }
            Report::Error { window, report } => {
                let ports = self.window(&window)?;
                let (ctx, not_canonical) = error_context(report)?;
                for (field, text) in not_canonical {
                    ports.observer.engine_broke(
                        CONTEXT_CLAUSE,
                        format!("the engine reported a {} error whose {field} is {text:?}: a context carries revisions in canonical form only (leave the field out when there is none)", ctx.phase),
                    );
                }
                ports.observer.record_error(&ctx);
            }
            Report::Result { call, error } => {
                let tx = self.calls.lock().remove(&call);
                let tx =
                    tx.ok_or_else(|| format!("a result for call {call}, which is not running"))?;
                let _ = tx.send(match error {
                    None => Ok(()),
                    Some(CallFailure { phase, message }) => Err(CallError {
                        phase: Phase::parse(&phase)
                            .ok_or_else(|| format!("unknown phase {phase:?}"))?,
                        message,
                    }),
                });
            }
            Report::State {
                window,
                local_revision,
                local_epoch,
                lifecycle,
                metrics,
            } => {
                let position = match position(&local_revision, local_epoch.as_deref()) {
                    Ok(position) => Some(position),
                    Err(e) => {
                        let ports = self.window(&window)?;
                        ports
                            .observer
                            .engine_broke(REVISION_CLAUSE, format!("the engine holds local {e}"));
                        None
                    }
                };
                let lifecycle = lifecycle.map(|l| lifecycle_of(&l)).transpose()?;
                let mut windows = self.windows.lock();
                let served = windows
                    .get_mut(window.as_str())
                    .ok_or_else(|| format!("state of unknown window {window:?}"))?;
                if let Some(position) = position {
                    served.local_position = position;
                }
                if let Some(l) = lifecycle {
                    served.lifecycle = l;
                }
                if let Some(m) = metrics {
                    served.metrics = m.into();
                }
            }
            Report::Parsed { seq, result } => {
                let tx = self.parses.lock().remove(&seq);
                let tx = tx
                    .ok_or_else(|| format!("a parse result for command {seq}, which asked none"))?;
                let _ = tx.send(result);
            }
            Report::Done { seq, timer_ms } => {
                *self.timer.lock() = timer_ms;
                self.timer_changed.notify_one();
                let acknowledged = {
                    let mut pending = self.pending.lock();
                    let was = pending.contains_key(&seq);
                    pending.retain(|s, _| *s > seq);
                    was
                };
                self.acknowledged.notify_waiters();
                if !acknowledged {
                    return Err(format!("done for command {seq}, which is not pending"));
                }
            }
        }
        Ok(())
    }

    fn window(&self, window: &str) -> Result<Arc<Ports>, String> {
        self.ports(window)
            .ok_or_else(|| format!("a request for unknown window {window:?}"))
    }

    /// Serves request `request` on the case's runtime (aborted by `cancel`).
    fn serve(
        self: &Arc<Self>,
        request: u64,
        work: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        let weak = Arc::downgrade(self);
        let task = self.runtime.spawn(async move {
            work.await;
            if let Some(inner) = weak.upgrade() {
                inner.requests.lock().remove(&request);
            }
        });
        self.requests.lock().insert(request, task.abort_handle());
    }

    /// A payload for subscription `subscription`'s handler.
    fn deliver(&self, subscription: u64, payload: Payload<'_>) {
        let (payload, text) = match payload.to_value() {
            Ok(v) if depth(&v) <= TEXT_DEPTH => (v.into_owned(), None),
            Ok(v) => (Value::Null, Some(v.to_string())),
            Err(_) => match payload {
                Payload::Text(t) => (Value::Null, Some(t.to_owned())),
                Payload::Bytes(b) => (Value::Null, Some(String::from_utf8_lossy(b).into_owned())),
                Payload::Value(v) => (v.clone(), None),
            },
        };
        self.send(CommandBody::Deliver {
            subscription,
            payload,
            text,
        });
    }
}

/// The position a driver reported as a revision and an optional epoch, or
/// what is not canonical in it.
fn position(revision: &str, epoch: Option<&str>) -> Result<Position, String> {
    let revision = Revision::parse(revision)
        .map_err(|e| format!("revision {revision:?}, which is not canonical ({e})"))?;
    let epoch = match epoch {
        None => Epoch::ZERO,
        Some(text) => Epoch::parse(text)
            .map_err(|e| format!("epoch {text:?}, which is not canonical ({e})"))?,
    };
    Ok(Position::new(epoch, revision))
}

fn wire_error(e: &PortError) -> WireError {
    WireError {
        message: e.message().to_owned(),
        detail: e.detail().cloned(),
    }
}

fn lifecycle_of(name: &str) -> Result<Lifecycle, String> {
    Ok(match name {
        "idle" => Lifecycle::Idle,
        "starting" => Lifecycle::Starting,
        "running" => Lifecycle::Running,
        "stopped" => Lifecycle::Stopped,
        other => return Err(format!("unknown lifecycle {other:?}")),
    })
}

/// The clause an engine breaks by holding or applying a revision that is
/// not canonical.
const REVISION_CLAUSE: &str = "REV-2";
/// The clause an engine breaks by reporting an error with a context that
/// does not hold.
const CONTEXT_CLAUSE: &str = "ERR-2";

/// Revision fields of an error report that were not canonical:
/// `(field, text)`.
type NotCanonical = Vec<(&'static str, String)>;

/// The error hook's report, as the engine's own type, and the revision
/// fields that were not canonical (left out of the context: the engine's
/// fault). An unknown phase is the driver's.
fn error_context(r: ErrorReport) -> Result<(ErrorContext, NotCanonical), String> {
    let phase = Phase::parse(&r.phase).ok_or_else(|| format!("unknown phase {:?}", r.phase))?;
    let mut not_canonical = Vec::new();
    let mut rev = |field: &'static str, r: Option<String>| {
        let text = r?;
        let parsed = Revision::parse(&text).ok();
        if parsed.is_none() {
            not_canonical.push((field, text));
        }
        parsed
    };
    let mut ctx = ErrorContext::new(phase, &r.topic, r.message.clone());
    ctx.local_revision = rev("local_revision", r.local_revision);
    ctx.event_revision = rev("event_revision", r.event_revision);
    ctx.snapshot_revision = rev("snapshot_revision", r.snapshot_revision);
    // Only whether there is one is checked: text stands for a payload
    // nested too deeply to travel as a tree.
    ctx.source_event = r.source_event.or(r.source_event_text.map(Value::String));
    ctx.source_id = r.source_id;
    ctx.attempt = r.attempt;
    ctx.will_retry = r.will_retry;
    if let Some(detail) = r.detail {
        let port = PortError::from_json(detail);
        ctx.error = match phase {
            Phase::Subscribe => Some(SyncError::Subscribe(port)),
            Phase::GetSnapshot => Some(SyncError::GetSnapshot(port)),
            Phase::Apply => Some(SyncError::Apply(port)),
            _ => None,
        };
    }
    Ok((ctx, not_canonical))
}
