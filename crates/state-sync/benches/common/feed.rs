//! The payloads: one shape for every contender, built in reused chunks so
//! that input memory does not grow with the burst.

use std::fmt::Write;

use serde_json::Value;

/// The topic every engine syncs.
pub const TOPIC: &str = "bench";

/// The most payloads built, and delivered, per chunk (per emitter thread).
pub const CHUNK: usize = 10_000;

/// An invalidation as a source of truth emits it (all four fields).
pub fn write_payload(out: &mut String, topic: &str, revision: u64) {
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        r#"{{"topic":"{topic}","revision":"{revision}","sourceId":"bench:backend","timestampMs":1738123456789}}"#
    );
}

/// A chunk of payloads as text and as pre-parsed trees, refilled in place.
#[derive(Default)]
pub struct Chunk {
    text: String,
    ends: Vec<usize>,
    values: Vec<Value>,
}

impl Chunk {
    /// Refills the chunk with the payloads of `revisions`.
    pub fn fill(&mut self, revisions: impl Iterator<Item = u64>) {
        self.fill_for(TOPIC, revisions);
    }

    /// Refills the chunk with payloads of `revisions` for `topic`.
    pub fn fill_for(&mut self, topic: &str, revisions: impl Iterator<Item = u64>) {
        self.text.clear();
        self.ends.clear();
        self.values.clear();
        for revision in revisions {
            write_payload(&mut self.text, topic, revision);
            self.ends.push(self.text.len());
        }
        let values: Vec<Value> = self
            .texts()
            .map(|t| serde_json::from_str(t).expect("valid JSON"))
            .collect();
        self.values = values;
    }

    /// The payloads as text.
    pub fn texts(&self) -> impl Iterator<Item = &str> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(self.ends.iter().copied())
            .map(|(start, end)| &self.text[start..end])
    }

    /// The payloads as trees.
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// How many payloads the chunk holds.
    pub fn len(&self) -> usize {
        self.ends.len()
    }
}
