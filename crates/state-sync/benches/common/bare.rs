//! The baselines: the least any engine must do per event, with no engine
//! around it — validate the payload, compare topic and revision, remember
//! the newest revision announced.

use std::hint::black_box;

use serde_json::Value;
use state_sync::{EventRef, Revision};

use super::feed::TOPIC;

/// One window's bare gate.
#[derive(Debug, Default, Clone)]
pub struct BareGate {
    local: Revision,
    announced: Revision,
}

impl BareGate {
    /// Validates a pre-parsed payload and gates it.
    pub fn value(&mut self, payload: &Value) -> bool {
        match EventRef::from_json(black_box(payload)) {
            Ok(event) => self.gate(&event),
            Err(_) => false,
        }
    }

    /// Gates an event: this topic, newer than the local revision.
    fn gate(&mut self, event: &EventRef<'_>) -> bool {
        let wanted = event.topic == TOPIC && event.revision > self.local;
        if wanted {
            self.announced = self.announced.max(event.revision);
        }
        black_box(wanted)
    }

    /// The newest revision let through.
    pub fn announced(&self) -> Revision {
        self.announced
    }
}

/// `serde_json::from_str::<Value>` of a payload's text: what an engine
/// with only a tree intake makes every text-carrying transport do first.
pub fn parse(text: &str) -> Value {
    serde_json::from_str(black_box(text)).expect("valid JSON")
}
