//! The invalidation handler an engine installs with its subscriber: the
//! hot path.
//!
//! It validates without a lock and settles ignored and coalesced events on
//! the published gate alone ([`super::hot`]); only what changes the
//! machine — a fetch to start, a follow-up to queue, a report — reaches
//! the engine, under its lock.
//!
//! The code an ignored or coalesced event runs is kept small on purpose:
//! a tree is validated in line, text by a call of its own, and everything
//! that can allocate, lock, unwind or report is out of line behind
//! `#[cold]`. A handler that inlines its rare cases pays for them on every
//! event (stack frame, spills, drop flags).

use std::borrow::Cow;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Weak};

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::driver::{Inner, RefreshFilter};
use super::hot::HotGate;
use crate::intake::{Payload, Read};
use crate::ports::{PayloadHandler, panic_message};
use crate::protocol::{EventRef, ProtocolError};

/// What the handler holds. The engine only weakly, so a transport keeping
/// the handler does not keep the engine alive (a dropped engine's gate
/// lets nothing through).
struct Handler<T> {
    gate: Arc<HotGate>,
    inner: Weak<Inner<T>>,
    filter: Option<RefreshFilter>,
}

/// The handler of the engine `inner`.
pub(super) fn handler<T: DeserializeOwned + Send + 'static>(
    inner: &Arc<Inner<T>>,
) -> PayloadHandler {
    let handler = Handler {
        gate: inner.driver.gate.clone(),
        inner: Arc::downgrade(inner),
        filter: inner.should_refresh.clone(),
    };
    Arc::new(move |payload: Payload<'_>| handler.call(payload))
}

impl<T: DeserializeOwned + Send + 'static> Handler<T> {
    #[inline]
    fn call(&self, payload: Payload<'_>) {
        if !self.gate.listening() {
            return;
        }
        match payload {
            Payload::Value(value) => match EventRef::from_json(value) {
                Ok(event) => self.event(payload, event),
                Err(error) => self.invalid(error, Cow::Borrowed(value)),
            },
            Payload::Text(_) | Payload::Bytes(_) => self.text(payload),
        }
    }

    /// Text: read by a call of its own, so that the tree's path stays small.
    #[inline(never)]
    fn text(&self, payload: Payload<'_>) {
        match payload.read() {
            Read::Tree(event) => self.event(payload, event),
            Read::Text(decoded) => self.event(payload, decoded.as_ref()),
            Read::Invalid(invalid) => {
                let (error, shown) = *invalid;
                self.invalid(error, shown);
            }
        }
    }

    /// A valid event: ignored or coalesced on the gate, or to the machine.
    #[inline]
    fn event(&self, payload: Payload<'_>, event: EventRef<'_>) {
        if !self.gate.candidate(&event) {
            return;
        }
        if self.filter.is_none() && self.gate.coalesce(event.position()) {
            return;
        }
        self.decide(payload, event);
    }

    /// A candidate the gate could not settle: the `should_refresh` filter
    /// (GATE-4), then the follow-up, then the machine under its lock.
    #[cold]
    #[inline(never)]
    fn decide(&self, payload: Payload<'_>, event: EventRef<'_>) {
        if let Some(filter) = &self.filter {
            match catch_unwind(AssertUnwindSafe(|| filter(&event))) {
                Ok(true) => {}
                Ok(false) => return,
                Err(panic) => {
                    if let Some(inner) = self.inner.upgrade() {
                        let shown = payload.for_report();
                        inner.filter_panicked(&event, &shown, panic_message(&*panic));
                    }
                    return;
                }
            }
            if self.gate.coalesce(event.position()) {
                return;
            }
        }
        if let Some(inner) = self.inner.upgrade() {
            Inner::request(&inner, event);
        }
    }

    /// An invalid payload: the machine counts and reports it.
    #[cold]
    #[inline(never)]
    fn invalid(&self, error: ProtocolError, shown: Cow<'_, Value>) {
        if let Some(inner) = self.inner.upgrade() {
            inner.invalid(error, &shown);
        }
    }
}
