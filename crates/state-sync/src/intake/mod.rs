//! What a transport hands the engine: an invalidation payload as a tree or
//! as the JSON text it received.
//!
//! A transport that holds a `serde_json::Value` passes it as
//! [`Payload::Value`]. One that receives text — a Tauri listener, a socket,
//! a queue of serialized messages — passes the text itself
//! ([`Payload::Text`] from a `&str` or a
//! [`RawValue`], [`Payload::Bytes`] from a
//! `&[u8]`): the engine then reads only
//! `topic`, `revision`, `epoch` and `sourceId`, borrowed from the bytes, and skips
//! everything else without building a tree. A valid event costs no
//! allocation that way (strings with escapes excepted).
//!
//! Both intakes classify every payload the same (docs/protocol.md, EVT-1
//! to EVT-5) and report an invalid one identically: its text is parsed
//! into a tree only then, for the report. Text that is not one JSON
//! document — which no tree can stand for — is reported as `protocol` with
//! [`ProblemKind::NotJson`](crate::protocol::ProblemKind::NotJson), the text
//! carried as a JSON string; so is invalid text nested deeper than
//! [`MAX_NESTING`], which is not parsed at all (a tree that deep can only
//! arrive as [`Payload::Value`]). The text intake checks the grammar of
//! what it skips, not whether a `Value` could hold it: a number beyond
//! `f64` in an unknown field does not fail a valid event.
//!
//! ```
//! use serde_json::json;
//! use state_sync::Payload;
//!
//! let text = r#"{"topic":"todos","revision":"7","data":[1,2,3]}"#;
//! assert!(Payload::from(text).topic_is("todos"));
//! let value = json!({"topic": "todos", "revision": "7"});
//! assert!(Payload::from(&value).topic_is("todos"));
//! assert_eq!(*Payload::from("[1]").to_value()?, json!([1]));
//! assert!(Payload::from("not json").to_value().is_err());
//! # Ok::<(), state_sync::ProtocolError>(())
//! ```

mod fast;
mod scan;
mod tree;

use std::borrow::Cow;

use serde_json::Value;
use serde_json::value::RawValue;

use crate::protocol::{EventRef, ProtocolError};

pub(crate) use self::scan::Decoded;
pub use self::tree::MAX_NESTING;
#[doc(hidden)]
pub use self::tree::nests_deeper_than;

/// An invalidation payload as a transport received it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Payload<'a> {
    /// A tree the transport already holds.
    Value(&'a Value),
    /// The JSON text the transport received.
    Text(&'a str),
    /// The JSON text as bytes not yet known to be UTF-8 (the engine checks,
    /// like the rest of the grammar).
    Bytes(&'a [u8]),
}

impl<'a> From<&'a Value> for Payload<'a> {
    fn from(value: &'a Value) -> Self {
        Self::Value(value)
    }
}

impl<'a> From<&'a str> for Payload<'a> {
    fn from(text: &'a str) -> Self {
        Self::Text(text)
    }
}

impl<'a> From<&'a [u8]> for Payload<'a> {
    fn from(text: &'a [u8]) -> Self {
        Self::Bytes(text)
    }
}

impl<'a> From<&'a RawValue> for Payload<'a> {
    fn from(raw: &'a RawValue) -> Self {
        Self::Text(raw.get())
    }
}

impl<'a> Payload<'a> {
    /// Whether the payload is an object whose `topic` is the string `topic`
    /// (valid or not otherwise): what a transport that sheds load keeps
    /// (TR-4). Text is read without building a tree.
    pub fn topic_is(&self, topic: &str) -> bool {
        match self {
            Self::Value(value) => value.get("topic").and_then(Value::as_str) == Some(topic),
            Self::Text(text) => {
                fields(text).is_some_and(|fields| fields.topic.as_str() == Some(topic))
            }
            Self::Bytes(bytes) => {
                std::str::from_utf8(bytes).is_ok_and(|text| Self::Text(text).topic_is(topic))
            }
        }
    }

    /// The payload as a tree: borrowed when it is one, parsed from text
    /// otherwise (up to [`MAX_NESTING`] levels deep). Text that is not one
    /// JSON document is the protocol error the engine would report for it.
    pub fn to_value(&self) -> Result<Cow<'a, Value>, ProtocolError> {
        match *self {
            Self::Value(value) => Ok(Cow::Borrowed(value)),
            Self::Text(text) => tree::parse(text.as_bytes()).map(Cow::Owned),
            Self::Bytes(bytes) => tree::parse(bytes).map(Cow::Owned),
        }
    }

    /// The payload for a report's `source_event`: the tree, or the text
    /// as a JSON string when it cannot be one.
    pub(crate) fn for_report(&self) -> Cow<'a, Value> {
        let bytes = match *self {
            Self::Value(value) => return Cow::Borrowed(value),
            Self::Text(text) => text.as_bytes(),
            Self::Bytes(bytes) => bytes,
        };
        Cow::Owned(tree::parse(bytes).unwrap_or_else(|_| tree::as_string(bytes)))
    }

    /// Validates the payload: the event, or why it is invalid together with
    /// the payload for the report. Allocates only for an invalid payload,
    /// or for text strings that hold escapes.
    #[inline]
    pub(crate) fn read(&self) -> Read<'a> {
        match *self {
            Self::Value(value) => match EventRef::from_json(value) {
                Ok(event) => Read::Tree(event),
                Err(error) => Read::Invalid(Box::new((error, Cow::Borrowed(value)))),
            },
            Self::Text(text) => Self::read_text(text),
            Self::Bytes(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => Self::read_text(text),
                Err(_) => Self::read_tree(bytes),
            },
        }
    }

    /// Text: read without a tree, unless it is not a valid event.
    #[inline]
    fn read_text(text: &'a str) -> Read<'a> {
        match fields(text).and_then(scan::Fields::into_event) {
            Some(event) => Read::Text(event),
            None => Self::read_tree(text.as_bytes()),
        }
    }

    /// The cold path of text: the tree decides, as for [`Payload::Value`].
    fn read_tree(text: &[u8]) -> Read<'a> {
        match tree::parse(text) {
            Ok(value) => match EventRef::from_json(&value) {
                Err(error) => Read::Invalid(Box::new((error, Cow::Owned(value)))),
                // The borrowed decode found it invalid; should the tree
                // disagree, the tree's answer stands.
                Ok(event) => Read::Text(Decoded {
                    topic: Cow::Owned(event.topic.to_owned()),
                    revision: event.revision,
                    epoch: event.epoch,
                    source_id: event.source_id.map(|s| Cow::Owned(s.to_owned())),
                }),
            },
            Err(error) => Read::Invalid(Box::new((error, Cow::Owned(tree::as_string(text))))),
        }
    }
}

/// An event as the engine reads it from a payload: topic, revision, epoch
/// and `sourceId`, or the protocol error and the payload its report
/// carries.
///
/// Not public API: this crate's fuzz checks compare the intakes with it;
/// it may change in any release.
#[doc(hidden)]
#[allow(clippy::type_complexity)]
pub fn read_event(
    payload: Payload<'_>,
) -> Result<(String, crate::Position, Option<String>), (ProtocolError, Value)> {
    let owned = |e: EventRef<'_>| {
        (
            e.topic.to_owned(),
            e.position(),
            e.source_id.map(str::to_owned),
        )
    };
    match payload.read() {
        Read::Tree(event) => Ok(owned(event)),
        Read::Text(decoded) => Ok(owned(decoded.as_ref())),
        Read::Invalid(invalid) => {
            let (error, value) = *invalid;
            Err((error, value.into_owned()))
        }
    }
}

/// The fields of `text` when it is one JSON object; `None` when it is
/// anything else (another JSON value, or not JSON). The byte scanner of
/// [`fast`] reads the common shape; serde reads the rest.
fn fields(text: &str) -> Option<scan::Fields<'_>> {
    fast::fields(text).or_else(|| scan::serde_fields(text))
}

/// A validated payload.
#[derive(Debug)]
pub(crate) enum Read<'a> {
    /// A valid event, borrowed from the tree it was handed as.
    Tree(EventRef<'a>),
    /// A valid event read from text.
    Text(Decoded<'a>),
    /// An invalid payload: the error, and the payload for the report
    /// (`source_event`); boxed, so that the valid case stays small.
    Invalid(Box<(ProtocolError, Cow<'a, Value>)>),
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn text_and_tree_read_alike() {
        let payloads = [
            json!({"topic": "t", "revision": "3", "sourceId": "w", "x": [1]}),
            json!({"topic": "t", "revision": "03"}),
            json!({"topic": "  ", "revision": "3"}),
            json!([1, 2]),
            json!({"topic": "t\u{0}\"", "revision": "3", "sourceId": 4}),
            json!({"topic": "t", "revision": "3", "epoch": "12"}),
            json!({"topic": "t", "revision": "3", "epoch": "012"}),
            json!({"topic": "t", "revision": "3", "epoch": 12}),
            json!({"topic": "t", "revision": "3", "epoch": null}),
        ];
        for value in payloads {
            let text = value.to_string();
            match (
                Payload::from(&value).read(),
                Payload::from(text.as_str()).read(),
            ) {
                (Read::Tree(a), Read::Text(b)) => assert_eq!(a, b.as_ref()),
                (Read::Invalid(a), Read::Invalid(b)) => assert_eq!(a, b),
                (a, b) => panic!("{value}: {a:?} vs {b:?}"),
            }
        }
    }

    #[test]
    fn raw_values_and_bytes_are_text() {
        let raw =
            serde_json::from_str::<Box<RawValue>>(r#"{"topic":"t","revision":"1"}"#).expect("raw");
        assert!(matches!(Payload::from(&*raw), Payload::Text(_)));
        assert!(Payload::from(&br#"{"topic":"t"}"#[..]).topic_is("t"));
        assert!(Payload::from(&*raw).topic_is("t"));
        assert!(!Payload::from(&b"{\"topic\":\"t\""[..]).topic_is("t"));
        let Read::Invalid(invalid) = Payload::from(&b"\xff"[..]).read() else {
            panic!("not UTF-8 is not JSON");
        };
        let (error, shown) = *invalid;
        assert_eq!(error.field, "");
        assert_eq!(*shown, json!("\u{fffd}"));
    }
}
