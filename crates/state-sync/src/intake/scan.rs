//! The borrowed decode of an invalidation's text: the fields the engine
//! reads, straight from the bytes, without building a tree.
//!
//! A byte scanner ([`super::fast`]) reads the common shape; for the rest,
//! serde_json's deserializer checks the grammar of the whole document;
//! the fields are taken as borrowed slices of the input (owned only when a
//! string holds escapes), and every other value is skipped without being
//! built. Keys repeat the way a `serde_json::Map` treats them: the last
//! occurrence wins.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::epoch::Epoch;
use crate::protocol::EventRef;
use crate::revision::Revision;

/// The top-level fields of an event's text that the engine reads.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Fields<'a> {
    pub(crate) topic: Field<'a>,
    pub(crate) revision: Field<'a>,
    pub(crate) source_id: Field<'a>,
    pub(crate) epoch: Field<'a>,
}

/// One field as found in the text.
#[derive(Debug, Default, PartialEq)]
pub(crate) enum Field<'a> {
    /// Not present.
    #[default]
    Absent,
    /// A JSON string.
    Str(Cow<'a, str>),
    /// Any other JSON value.
    Other,
}

impl<'a> Field<'a> {
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => Some(s),
            Self::Absent | Self::Other => None,
        }
    }
}

/// A valid event read from text; its strings borrow from it unless they
/// held escapes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Decoded<'a> {
    pub(crate) topic: Cow<'a, str>,
    pub(crate) revision: Revision,
    pub(crate) epoch: Epoch,
    pub(crate) source_id: Option<Cow<'a, str>>,
}

impl Decoded<'_> {
    /// The event as the engine's hooks see it.
    #[inline]
    pub(crate) fn as_ref(&self) -> EventRef<'_> {
        EventRef {
            topic: &self.topic,
            revision: self.revision,
            epoch: self.epoch,
            source_id: self.source_id.as_deref(),
        }
    }
}

/// The fields of `text` when it is one JSON object, read by serde; `None`
/// when it is anything else (another JSON value, or not JSON).
pub(crate) fn serde_fields(text: &str) -> Option<Fields<'_>> {
    let mut de = serde_json::Deserializer::from_str(text);
    let fields = Fields::deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(fields)
}

impl<'a> Fields<'a> {
    /// The event these fields make, when they make a valid one (EVT-2,
    /// EVT-3, EVT-8; EVT-4: a `sourceId` that is not a string counts as
    /// absent).
    pub(crate) fn into_event(self) -> Option<Decoded<'a>> {
        let Field::Str(topic) = self.topic else {
            return None;
        };
        if topic.trim().is_empty() {
            return None;
        }
        let revision = Revision::parse(self.revision.as_str()?).ok()?;
        let epoch = match self.epoch {
            Field::Absent => Epoch::ZERO,
            other => Epoch::parse(other.as_str()?).ok()?,
        };
        let source_id = match self.source_id {
            Field::Str(s) => Some(s),
            Field::Absent | Field::Other => None,
        };
        Some(Decoded {
            topic,
            revision,
            epoch,
            source_id,
        })
    }
}

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(FieldsVisitor)
    }
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an invalidation object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = Fields::default();
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Topic => fields.topic = map.next_value()?,
                Key::Revision => fields.revision = map.next_value()?,
                Key::SourceId => fields.source_id = map.next_value()?,
                Key::Epoch => fields.epoch = map.next_value()?,
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(fields)
    }
}

/// A key of the event object: one of the fields read, or another.
enum Key {
    Topic,
    Revision,
    SourceId,
    Epoch,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
        Ok(match key {
            "topic" => Key::Topic,
            "revision" => Key::Revision,
            "sourceId" => Key::SourceId,
            "epoch" => Key::Epoch,
            // `timestampMs` included: the engine never reads it.
            _ => Key::Other,
        })
    }
}

impl<'de> Deserialize<'de> for Field<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldVisitor)
    }
}

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = Field<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        // Only a string with escapes is not borrowed.
        Ok(Field::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Field::Other)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Field::Other)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Field::Other)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Field::Other)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Field::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Field::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Field::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both decoders, as the engine uses them.
    fn event(text: &str) -> Option<Decoded<'_>> {
        super::super::fields(text)?.into_event()
    }

    #[test]
    fn the_four_fields_are_borrowed_and_the_rest_skipped() {
        let text = r#"{"data":{"a":[1,{"b":null}]},"topic":"t","revision":"42","sourceId":"w","timestampMs":1.5e3}"#;
        let e = event(text).expect("valid");
        assert!(matches!(e.topic, Cow::Borrowed("t")));
        assert_eq!(e.revision, Revision::new(42));
        assert!(matches!(e.source_id, Some(Cow::Borrowed("w"))));
    }

    #[test]
    fn escaped_strings_are_owned_and_the_last_duplicate_wins() {
        let e = event(r#"{"topic":5,"top\u0069c":"caf\u00e9","revision":"1","revision":"2"}"#)
            .expect("valid");
        assert_eq!(e.topic, "café");
        assert_eq!(e.revision, Revision::new(2));
        assert_eq!(event(r#"{"topic":"t","revision":"1","topic":" "}"#), None);
    }

    #[test]
    fn anything_but_a_valid_event_object_is_not_decoded() {
        for text in [
            "",
            "null",
            "[]",
            r#""topic""#,
            r#"{"topic":"t","revision":"1"} x"#,
            r#"{"topic":"t","revision":"1""#,
            r#"{"topic":"t"}"#,
            r#"{"revision":"1"}"#,
            r#"{"topic":"t","revision":1}"#,
            r#"{"topic":"t","revision":"01"}"#,
            r#"{"topic":["t"],"revision":"1"}"#,
        ] {
            assert_eq!(event(text), None, "{text}");
        }
        let e = event(r#"{"topic":"t","revision":"1","sourceId":{"x":[1]}}"#).expect("valid");
        assert_eq!(e.source_id, None, "EVT-4");
    }
}
