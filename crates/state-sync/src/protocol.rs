//! Wire envelopes and their validation.
//!
//! Everything that arrives from a transport is untrusted `serde_json::Value`
//! (invalidations may also arrive as text: see [`crate::intake`]).
//! The functions here turn it into typed envelopes or a [`ProtocolError`]
//! that names the field, what was expected, and shows the offending value.
//! Nothing here panics on any input.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::epoch::{Epoch, Position};
use crate::revision::{JsonKind, Revision, RevisionError};

/// The most characters of an offending value that an error message shows.
const SHOWN_VALUE_CHARS: usize = 120;

/// "Something changed": the invalidation a source of truth emits after a
/// change. It carries no state; a window that receives it pulls a snapshot.
///
/// Wire form (unknown fields are ignored):
///
/// ```json
/// {"topic": "app-config", "revision": "42", "sourceId": "window:settings", "timestampMs": 1738123456789}
/// ```
///
/// A source restarted without its revision history adds its epoch
/// (`"epoch": "1733560000000"`, SRC-4); absent means `0`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvalidationEvent {
    /// The resource that changed; non-empty after trimming.
    pub topic: String,
    /// The revision of the source of truth after the change.
    pub revision: Revision,
    /// The source's run ([`Epoch`]); `0` is left out of the wire form.
    #[serde(default, skip_serializing_if = "Epoch::is_zero")]
    pub epoch: Epoch,
    /// Who made the change (observability only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    /// Epoch milliseconds of the change (observability only; never used for
    /// ordering).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_ms: Option<f64>,
}

impl InvalidationEvent {
    /// An event for `topic` at `revision` with no optional fields.
    pub fn new(topic: impl Into<String>, revision: Revision) -> Self {
        Self {
            topic: topic.into(),
            revision,
            epoch: Epoch::ZERO,
            source_id: None,
            timestamp_ms: None,
        }
    }

    /// The same event, of run `epoch`.
    pub fn with_epoch(mut self, epoch: Epoch) -> Self {
        self.epoch = epoch;
        self
    }

    /// What it announces: its epoch and revision.
    pub fn position(&self) -> Position {
        Position::new(self.epoch, self.revision)
    }

    /// Validates a raw payload.
    ///
    /// `topic` must be a string that is non-empty after trimming and
    /// `revision` a canonical revision string, and so must `epoch` be when
    /// present (EVT-8). `sourceId` and `timestampMs` of the wrong type are
    /// treated as absent; unknown fields are ignored.
    ///
    /// ```
    /// use serde_json::json;
    /// use state_sync::{InvalidationEvent, Revision};
    ///
    /// let e = InvalidationEvent::from_json(&json!({"topic": "t", "revision": "7", "extra": 1}))?;
    /// assert_eq!(e.revision, Revision::new(7));
    /// let err = InvalidationEvent::from_json(&json!({"topic": "t", "revision": 7})).unwrap_err();
    /// assert!(err.to_string().contains("revision"));
    /// # Ok::<(), state_sync::ProtocolError>(())
    /// ```
    pub fn from_json(value: &Value) -> Result<Self, ProtocolError> {
        let object = as_object(value, Envelope::Event)?;
        let topic = topic_field(object, value)?;
        let revision = revision_field(object, value, Envelope::Event)?;
        let epoch = epoch_field(object, Envelope::Event)?;
        Ok(Self {
            topic: topic.to_owned(),
            revision,
            epoch,
            source_id: object
                .get("sourceId")
                .and_then(Value::as_str)
                .map(str::to_owned),
            timestamp_ms: object.get("timestampMs").and_then(Value::as_f64),
        })
    }

    /// The wire form of this event.
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        object.insert("topic".into(), Value::String(self.topic.clone()));
        object.insert("revision".into(), Value::String(self.revision.to_string()));
        if !self.epoch.is_zero() {
            object.insert("epoch".into(), Value::String(self.epoch.to_string()));
        }
        if let Some(source_id) = &self.source_id {
            object.insert("sourceId".into(), Value::String(source_id.clone()));
        }
        if let Some(ts) = self.timestamp_ms.and_then(serde_json::Number::from_f64) {
            object.insert("timestampMs".into(), Value::Number(ts));
        }
        Value::Object(object)
    }
}

/// The fields of an event the engine's hot path needs, borrowed from the raw
/// payload without allocating.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventRef<'a> {
    /// The topic, as sent (not trimmed).
    pub topic: &'a str,
    /// The announced revision.
    pub revision: Revision,
    /// The source's run (`0` when the event has no `epoch`).
    pub epoch: Epoch,
    /// The `sourceId`, when it is a string.
    pub source_id: Option<&'a str>,
}

impl<'a> EventRef<'a> {
    /// Validates like [`InvalidationEvent::from_json`] but borrows.
    pub fn from_json(value: &'a Value) -> Result<Self, ProtocolError> {
        let object = as_object(value, Envelope::Event)?;
        let topic = topic_field(object, value)?;
        let revision = revision_field(object, value, Envelope::Event)?;
        let epoch = epoch_field(object, Envelope::Event)?;
        Ok(Self {
            topic,
            revision,
            epoch,
            source_id: object.get("sourceId").and_then(Value::as_str),
        })
    }

    /// What it announces: its epoch and revision.
    pub fn position(&self) -> Position {
        Position::new(self.epoch, self.revision)
    }

    /// An owned copy, for hooks that keep the event.
    pub fn to_event(&self, value: &Value) -> InvalidationEvent {
        InvalidationEvent {
            topic: self.topic.to_owned(),
            revision: self.revision,
            epoch: self.epoch,
            source_id: self.source_id.map(str::to_owned),
            timestamp_ms: value.get("timestampMs").and_then(Value::as_f64),
        }
    }
}

/// The source of truth's state at one revision: `{"revision": "...", "data": ...}`,
/// with `"epoch"` from a source restarted without its history (SRC-4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotEnvelope<T> {
    /// The revision this data belongs to.
    pub revision: Revision,
    /// The source's run ([`Epoch`]); `0` is left out of the wire form.
    #[serde(default, skip_serializing_if = "Epoch::is_zero")]
    pub epoch: Epoch,
    /// The state itself.
    pub data: T,
}

impl<T> SnapshotEnvelope<T> {
    /// Pairs data with its revision (of epoch `0`).
    pub fn new(revision: Revision, data: T) -> Self {
        Self {
            revision,
            epoch: Epoch::ZERO,
            data,
        }
    }

    /// The same snapshot, of run `epoch`.
    pub fn with_epoch(mut self, epoch: Epoch) -> Self {
        self.epoch = epoch;
        self
    }

    /// Where it puts a window: its epoch and revision.
    pub fn position(&self) -> Position {
        Position::new(self.epoch, self.revision)
    }
}

impl<T: DeserializeOwned> SnapshotEnvelope<T> {
    /// Validates a raw snapshot: an object with a canonical `revision` string
    /// (and `epoch`, when present: SNAP-4) and a `data` field that decodes
    /// into `T` with serde. Unknown fields are ignored.
    ///
    /// ```
    /// use serde_json::json;
    /// use state_sync::SnapshotEnvelope;
    ///
    /// let s: SnapshotEnvelope<Vec<u8>> =
    ///     SnapshotEnvelope::from_json(json!({"revision": "3", "data": [1, 2]}))?;
    /// assert_eq!(s.data, vec![1, 2]);
    /// let err = SnapshotEnvelope::<Vec<u8>>::from_json(json!({"revision": "3", "data": "x"}))
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("data"));
    /// # Ok::<(), state_sync::ProtocolError>(())
    /// ```
    pub fn from_json(mut value: Value) -> Result<Self, ProtocolError> {
        let (revision, epoch) = {
            let object = as_object(&value, Envelope::Snapshot)?;
            if !object.contains_key("data") {
                return Err(ProtocolError::new(
                    Envelope::Snapshot,
                    "data",
                    ProblemKind::Missing,
                    &value,
                ));
            }
            (
                revision_field(object, &value, Envelope::Snapshot)?,
                epoch_field(object, Envelope::Snapshot)?,
            )
        };
        let data_value = value
            .as_object_mut()
            .and_then(|o| o.remove("data"))
            .unwrap_or(Value::Null);
        match T::deserialize(&data_value) {
            Ok(data) => Ok(Self {
                revision,
                epoch,
                data,
            }),
            Err(e) => Err(ProtocolError::new(
                Envelope::Snapshot,
                "data",
                ProblemKind::Decode(cut(&e.to_string(), SHOWN_VALUE_CHARS * 2)),
                &data_value,
            )),
        }
    }
}

impl<T: Serialize> SnapshotEnvelope<T> {
    /// The wire form of this snapshot.
    pub fn to_json(&self) -> Result<Value, serde_json::Error> {
        serde_json::to_value(self)
    }
}

/// Which envelope a protocol error was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    /// An invalidation event.
    Event,
    /// A snapshot envelope.
    Snapshot,
}

impl fmt::Display for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Event => "invalidation event",
            Self::Snapshot => "snapshot",
        })
    }
}

/// What was wrong with a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProblemKind {
    /// The payload is not a JSON object.
    NotAnObject(JsonKind),
    /// A required field is absent.
    Missing,
    /// A field has the wrong JSON type.
    WrongType {
        /// What the protocol expects.
        expected: &'static str,
        /// What arrived.
        found: JsonKind,
    },
    /// The topic is empty or only whitespace.
    BlankTopic,
    /// The revision is a string but not canonical.
    Revision(RevisionError),
    /// `data` did not decode into the application's type.
    Decode(String),
    /// The payload arrived as text that is not one JSON document (or is
    /// nested deeper than [`MAX_NESTING`](crate::intake::MAX_NESTING)):
    /// why.
    NotJson(String),
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAnObject(kind) => write!(f, "expected a JSON object, found {kind}"),
            Self::Missing => f.write_str("required field is missing"),
            Self::WrongType { expected, found } => write!(f, "expected {expected}, found {found}"),
            Self::BlankTopic => f.write_str("topic must be non-empty after trimming whitespace"),
            Self::Revision(e) => fmt::Display::fmt(e, f),
            Self::Decode(e) => write!(f, "data does not decode: {e}"),
            Self::NotJson(e) => write!(f, "expected one JSON document: {e}"),
        }
    }
}

/// A payload that breaks the protocol. It names the envelope and field, says
/// what was expected, and shows (a prefix of) the offending value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {envelope}: field `{field}`: {problem} (got {shown})")]
pub struct ProtocolError {
    /// The envelope the problem was found in.
    pub envelope: Envelope,
    /// The field (`""` for the payload itself).
    pub field: &'static str,
    /// What was wrong.
    pub problem: ProblemKind,
    /// The offending value as compact JSON, cut to a readable length.
    pub shown: String,
}

impl ProtocolError {
    fn new(envelope: Envelope, field: &'static str, problem: ProblemKind, value: &Value) -> Self {
        Self {
            envelope,
            field,
            problem,
            shown: show_value(value),
        }
    }
}

/// Compact JSON of `value`, cut after [`SHOWN_VALUE_CHARS`] characters.
pub(crate) fn show_value(value: &Value) -> String {
    preview(value, SHOWN_VALUE_CHARS)
}

/// Compact JSON of `value`, cut after `max_bytes` bytes (at a character
/// boundary) with `…` appended when cut.
///
/// Serialization stops as soon as the limit is reached, so a huge or deeply
/// nested payload costs no more than a small one (and cannot exhaust the
/// stack the way `value.to_string()` can).
///
/// Not public API: the sibling crates of this workspace use it for their
/// messages; it may change in any release.
#[doc(hidden)]
pub fn preview(value: &Value, max_bytes: usize) -> String {
    let mut out = Bounded {
        buf: Vec::with_capacity(max_bytes.min(4096) + 4),
        limit: max_bytes,
        cut: false,
    };
    // The only error is our own "limit reached".
    let _ = serde_json::to_writer(&mut out, value);
    let mut text = String::from_utf8_lossy(&out.buf).into_owned();
    if out.cut {
        text.push('…');
    }
    text
}

/// `text` cut to at most `max_bytes` bytes at a character boundary, with
/// `…` when cut: serde's messages quote the offending value in full.
fn cut(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_owned();
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// A writer that accepts at most `limit` bytes, then fails.
struct Bounded {
    buf: Vec<u8>,
    limit: usize,
    cut: bool,
}

impl std::io::Write for Bounded {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let room = self.limit - self.buf.len();
        if data.len() > room {
            // Keep whole UTF-8 characters only.
            let mut end = room;
            while end > 0 && (data[end] & 0b1100_0000) == 0b1000_0000 {
                end -= 1;
            }
            self.buf.extend_from_slice(&data[..end]);
            self.cut = true;
            return Err(std::io::Error::other("limit reached"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn as_object(value: &Value, envelope: Envelope) -> Result<&Map<String, Value>, ProtocolError> {
    value.as_object().ok_or_else(|| {
        ProtocolError::new(
            envelope,
            "",
            ProblemKind::NotAnObject(JsonKind::of(value)),
            value,
        )
    })
}

fn topic_field<'a>(
    object: &'a Map<String, Value>,
    whole: &Value,
) -> Result<&'a str, ProtocolError> {
    match object.get("topic") {
        None => Err(ProtocolError::new(
            Envelope::Event,
            "topic",
            ProblemKind::Missing,
            whole,
        )),
        Some(Value::String(topic)) if topic.trim().is_empty() => Err(ProtocolError::new(
            Envelope::Event,
            "topic",
            ProblemKind::BlankTopic,
            &Value::String(topic.clone()),
        )),
        Some(Value::String(topic)) => Ok(topic),
        Some(other) => Err(ProtocolError::new(
            Envelope::Event,
            "topic",
            ProblemKind::WrongType {
                expected: "a string",
                found: JsonKind::of(other),
            },
            other,
        )),
    }
}

fn revision_field(
    object: &Map<String, Value>,
    whole: &Value,
    envelope: Envelope,
) -> Result<Revision, ProtocolError> {
    let Some(raw) = object.get("revision") else {
        return Err(ProtocolError::new(
            envelope,
            "revision",
            ProblemKind::Missing,
            whole,
        ));
    };
    Revision::from_json(raw).map_err(|e| revision_problem(envelope, "revision", e, raw))
}

/// The `epoch` field: `0` when absent, else a canonical revision string
/// (EVT-8, SNAP-4).
fn epoch_field(object: &Map<String, Value>, envelope: Envelope) -> Result<Epoch, ProtocolError> {
    match object.get("epoch") {
        None => Ok(Epoch::ZERO),
        Some(raw) => Epoch::from_json(raw).map_err(|e| revision_problem(envelope, "epoch", e, raw)),
    }
}

/// The error for `field`, which must have a revision's wire form.
fn revision_problem(
    envelope: Envelope,
    field: &'static str,
    error: RevisionError,
    raw: &Value,
) -> ProtocolError {
    let problem = match error {
        RevisionError::NotAString(found) => ProblemKind::WrongType {
            expected: "a canonical decimal u64 string",
            found,
        },
        other => ProblemKind::Revision(other),
    };
    ProtocolError::new(envelope, field, problem, raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn event_optional_fields_of_wrong_type_become_absent() {
        let e = InvalidationEvent::from_json(
            &json!({"topic": "t", "revision": "1", "sourceId": 5, "timestampMs": "x", "new": []}),
        )
        .expect("valid");
        assert_eq!(e.source_id, None);
        assert_eq!(e.timestamp_ms, None);
        let e = InvalidationEvent::from_json(
            &json!({"topic": "t", "revision": "1", "sourceId": "w1", "timestampMs": 12}),
        )
        .expect("valid");
        assert_eq!(e.source_id.as_deref(), Some("w1"));
        assert_eq!(e.timestamp_ms, Some(12.0));
        assert_eq!(InvalidationEvent::from_json(&e.to_json()), Ok(e));
    }

    #[test]
    fn event_errors_name_field_and_value() {
        let cases = [
            (json!(null), "", "expected a JSON object, found null"),
            (json!([1]), "", "found an array"),
            (json!({"revision": "1"}), "topic", "missing"),
            (
                json!({"topic": 123, "revision": "1"}),
                "topic",
                "found a number",
            ),
            (
                json!({"topic": "  ", "revision": "1"}),
                "topic",
                "non-empty",
            ),
            (json!({"topic": "t"}), "revision", "missing"),
            (
                json!({"topic": "t", "revision": 5}),
                "revision",
                "found a number",
            ),
            (
                json!({"topic": "t", "revision": "01"}),
                "revision",
                "leading zero",
            ),
        ];
        for (input, field, needle) in cases {
            let err = InvalidationEvent::from_json(&input).expect_err("invalid");
            assert_eq!(err.field, field, "{input}");
            let text = err.to_string();
            assert!(text.contains(needle), "{text} should contain {needle}");
            assert!(text.starts_with("invalid invalidation event"), "{text}");
        }
        let err = InvalidationEvent::from_json(&json!({"topic": "t", "revision": "1e3"}))
            .expect_err("invalid");
        assert!(err.to_string().contains("\"1e3\""), "{err}");
    }

    #[test]
    fn shown_values_are_cut() {
        let big = "x".repeat(10_000);
        let err = InvalidationEvent::from_json(&json!({"topic": "t", "revision": big}))
            .expect_err("invalid");
        assert!(err.to_string().len() < 400, "{}", err.to_string().len());
        assert!(err.shown.ends_with('…'), "{}", err.shown);
    }

    #[test]
    fn snapshot_validation() {
        let ok: SnapshotEnvelope<String> =
            SnapshotEnvelope::from_json(json!({"revision": "0", "data": "a", "x": 1})).expect("ok");
        assert_eq!(ok, SnapshotEnvelope::new(Revision::ZERO, "a".to_owned()));
        let cases = [
            (json!("nope"), ""),
            (json!({"data": "a"}), "revision"),
            (json!({"revision": "1"}), "data"),
            (json!({"revision": 1, "data": "a"}), "revision"),
            (json!({"revision": "1", "data": 3}), "data"),
        ];
        for (input, field) in cases {
            let err = SnapshotEnvelope::<String>::from_json(input.clone()).expect_err("invalid");
            assert_eq!(err.field, field, "{input}");
            assert_eq!(err.envelope, Envelope::Snapshot);
        }
    }

    #[test]
    fn decode_errors_are_cut_to_a_readable_length() {
        let big = "é".repeat(500_000);
        let err = SnapshotEnvelope::<u32>::from_json(json!({"revision": "1", "data": big}))
            .expect_err("a string is not a u32");
        assert!(err.to_string().len() < 1000, "{}", err.to_string().len());
        assert!(matches!(&err.problem, ProblemKind::Decode(m) if m.ends_with('…')));
    }

    #[test]
    fn decode_errors_keep_a_whole_character_prefix_of_the_limit() {
        // "x" shifts the é's so that the limit falls inside one of them.
        let data = format!("x{}", "é".repeat(1000));
        let full = serde_json::from_value::<u32>(json!(data))
            .expect_err("a string is not a u32")
            .to_string();
        let err = SnapshotEnvelope::<u32>::from_json(json!({"revision": "1", "data": data}))
            .expect_err("a string is not a u32");
        let ProblemKind::Decode(message) = &err.problem else {
            panic!("a decode problem: {err:?}");
        };
        let kept = message.strip_suffix('…').expect("marked as cut");
        assert!(full.starts_with(kept), "{kept}");
        let limit = SHOWN_VALUE_CHARS * 2;
        assert!(
            kept.len() == limit || kept.len() == limit - 1,
            "{} bytes kept of a {limit}-byte limit",
            kept.len()
        );
        assert_eq!(cut("short", 10), "short");
        assert_eq!(cut("aé", 2), "a…");
    }

    #[test]
    fn previews_stop_at_the_limit_on_a_character_boundary() {
        let value = json!("abc");
        assert_eq!(
            preview(&value, 5),
            "\"abc\"",
            "exactly the limit is not cut"
        );
        assert_eq!(preview(&value, 4), "\"abc…");
        assert_eq!(preview(&value, 0), "…");
        let value = json!("éé");
        assert_eq!(preview(&value, 6), "\"éé\"");
        assert_eq!(preview(&value, 4), "\"é…", "never half a character");
        assert_eq!(preview(&value, 3), "\"é…");
        assert_eq!(preview(&value, 2), "\"…");
    }

    #[test]
    fn deep_nesting_does_not_panic() {
        let mut v = json!("leaf");
        // Deeper than serde_json's parser allows (128), shallow enough for a
        // debug-build test thread to drop recursively.
        for _ in 0..400 {
            v = Value::Array(vec![v]);
        }
        let err = InvalidationEvent::from_json(&v).expect_err("invalid");
        assert!(err.shown.len() < 400);
        let err = InvalidationEvent::from_json(&json!({"topic": v, "revision": "1"}))
            .expect_err("invalid");
        assert_eq!(err.field, "topic");
    }
}
