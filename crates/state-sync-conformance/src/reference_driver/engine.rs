//! An engine of the reference driver, as the `open` command's options
//! describe it, and the engine's values in the protocol's words.

use std::sync::Arc;

use serde_json::Value;
use state_sync::{Lifecycle, RevisionError, RevisionSync, SyncError, with_retry};
use tokio::time::Instant;

use super::ports::{Proxy, Shared};
use crate::driver::protocol::{ErrorReport, Report, TEXT_DEPTH, WindowOptions, depth};

/// What a deliberate panic (a spec's panicking hook or filter) says.
pub(super) const DELIBERATE: &str = "state-sync-reference-driver: deliberate panic";

/// The engine of window `name`, as the options say.
pub(super) fn build(
    shared: &Arc<Shared>,
    name: &str,
    topic: String,
    options: WindowOptions,
) -> RevisionSync<Value> {
    let proxy = Proxy {
        shared: shared.clone(),
        window: name.to_owned(),
    };
    let builder = match &options.retry {
        Some(r) => {
            let (shared, window) = (shared.clone(), name.to_owned());
            let policy = r
                .policy(options.retry_seed.unwrap_or(0))
                .on_retry(move |ev| {
                    shared
                        .backoffs
                        .lock()
                        .insert(window.clone(), Instant::now() + ev.next_delay);
                });
            RevisionSync::builder(
                topic,
                proxy.clone(),
                with_retry(proxy.clone(), policy),
                proxy,
            )
        }
        None => RevisionSync::builder(topic, proxy.clone(), proxy.clone(), proxy),
    };
    let (shared, window, panicking) = (
        shared.clone(),
        name.to_owned(),
        options.panicking_error_hook,
    );
    let mut builder = builder.on_error(move |ctx| {
        shared.write(&Report::Error {
            window: window.clone(),
            report: error_report(ctx),
        });
        if panicking {
            panic!("{DELIBERATE} in on_error");
        }
    });
    if let Some(n) = options.max_stale_refetches {
        builder = builder.max_stale_refetches(n);
    }
    if let Some(t) = &options.throttle {
        builder = builder.throttle(t.throttle());
    }
    if let Some(filter) = options.should_refresh {
        builder = builder.should_refresh(filter.should_refresh(DELIBERATE));
    }
    builder.build()
}

/// The protocol's name for a lifecycle.
pub(super) fn lifecycle_name(l: Lifecycle) -> &'static str {
    match l {
        Lifecycle::Idle => "idle",
        Lifecycle::Starting => "starting",
        Lifecycle::Running => "running",
        Lifecycle::Stopped => "stopped",
    }
}

/// The golden vectors' name for a revision error.
pub(super) fn reason(e: RevisionError) -> &'static str {
    match e {
        RevisionError::Empty => "empty",
        RevisionError::NotDigits => "not_digits",
        RevisionError::LeadingZero => "leading_zero",
        RevisionError::Overflow => "overflow",
        RevisionError::NotAString(_) => "not_a_string",
    }
}

fn error_report(ctx: &state_sync::ErrorContext) -> ErrorReport {
    let detail = match &ctx.error {
        Some(SyncError::Subscribe(p) | SyncError::GetSnapshot(p) | SyncError::Apply(p)) => {
            p.detail().cloned()
        }
        _ => None,
    };
    ErrorReport {
        phase: ctx.phase.as_str().to_owned(),
        topic: ctx.topic.clone(),
        message: ctx.message.clone(),
        detail,
        local_revision: ctx.local_revision.map(|r| r.to_string()),
        event_revision: ctx.event_revision.map(|r| r.to_string()),
        snapshot_revision: ctx.snapshot_revision.map(|r| r.to_string()),
        source_event: ctx.source_event.clone().filter(|e| depth(e) <= TEXT_DEPTH),
        source_event_text: ctx
            .source_event
            .as_ref()
            .filter(|e| depth(e) > TEXT_DEPTH)
            .map(Value::to_string),
        source_id: ctx.source_id.clone(),
        attempt: ctx.attempt,
        will_retry: ctx.will_retry,
    }
}
