//! Payloads as the layers carry them: as the transport handed them over
//! (a tree or JSON text), so that an engine is given text when its
//! transport carries text — what it gets outside the kit.

use std::borrow::Cow;

use serde_json::Value;
use state_sync::Payload;

/// A payload kept for later (held, delayed, duplicated).
#[derive(Debug, Clone)]
pub(crate) enum Owned {
    Value(Value),
    Text(String),
}

impl Owned {
    /// Keeps `payload`.
    pub(crate) fn of(payload: Payload<'_>) -> Self {
        match payload {
            Payload::Value(v) => Self::Value(v.clone()),
            Payload::Text(t) => Self::Text(t.to_owned()),
            Payload::Bytes(b) => match std::str::from_utf8(b) {
                Ok(t) => Self::Text(t.to_owned()),
                Err(_) => Self::Text(String::from_utf8_lossy(b).into_owned()),
            },
        }
    }

    /// The payload to hand on.
    pub(crate) fn as_payload(&self) -> Payload<'_> {
        match self {
            Self::Value(v) => Payload::Value(v),
            Self::Text(t) => Payload::Text(t),
        }
    }
}

/// `payload` as a tree (borrowed when it is one); text that is not JSON
/// becomes a JSON string holding it, so that it can still be described.
pub(crate) fn tree<'a>(payload: &Payload<'a>) -> Cow<'a, Value> {
    payload.to_value().unwrap_or_else(|_| {
        Cow::Owned(Value::String(match payload {
            Payload::Text(t) => (*t).to_owned(),
            Payload::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            Payload::Value(v) => v.to_string(),
        }))
    })
}
