//! Catching panics on a case's thread, spawned tasks included.
//!
//! tokio swallows a panic inside a spawned task (the task just ends), so a
//! transport whose delivery task panics would otherwise go unnoticed. A
//! process-wide panic hook, installed once, records the message of every
//! panic on a thread that asked for capture and keeps it off stderr; other
//! threads keep the previous hook. The kit's own deliberate panics (a
//! panicking `on_error` hook checks that the engine survives) are marked and
//! not counted.

use std::cell::RefCell;
use std::sync::Once;

/// The prefix of the kit's deliberate panics.
pub(crate) const DELIBERATE: &str = "state-sync-conformance: deliberate panic";

thread_local! {
    static CAPTURED: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

static INSTALL: Once = Once::new();

/// Starts recording panics raised on the current thread.
pub(crate) fn capture_on_this_thread() {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = message(info.payload());
            let captured = CAPTURED.with(|c| {
                let mut c = c.borrow_mut();
                match c.as_mut() {
                    Some(list) => {
                        if !message.starts_with(DELIBERATE) {
                            let at = info
                                .location()
                                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                                .unwrap_or_default();
                            list.push(format!("{message}{at}"));
                        }
                        true
                    }
                    None => false,
                }
            });
            if !captured {
                previous(info);
            }
        }));
    });
    CAPTURED.with(|c| *c.borrow_mut() = Some(Vec::new()));
}

/// The unexpected panics recorded on this thread so far (and clears them).
pub(crate) fn take_unexpected() -> Vec<String> {
    CAPTURED.with(|c| {
        c.borrow_mut()
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    })
}

/// Whether a panic with this message was recorded on this thread.
pub(crate) fn is_captured(message: &str) -> bool {
    CAPTURED.with(|c| {
        c.borrow()
            .as_ref()
            .is_some_and(|list| list.iter().any(|m| m.starts_with(message)))
    })
}

/// The text of a panic payload.
pub(crate) use state_sync::ports::panic_message as message;
