//! Payloads as the layers carry them: as the transport handed them over
//! (a tree or JSON text), so that an engine is given text when its
//! transport carries text — what it gets outside the kit.

use std::borrow::Cow;
use std::fmt::Write as _;

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

/// What identifies a payload: its compact JSON text, with every number
/// written as a double unless `exact` (a transport whose medium is
/// JavaScript may turn `1` into `1.0` and round integers above 2^53).
pub(crate) fn key(payload: &Value, exact: bool) -> String {
    if exact {
        return serde_json::to_string(payload).unwrap_or_default();
    }
    let mut out = String::new();
    loose(payload, &mut out);
    out
}

fn loose(value: &Value, out: &mut String) {
    match value {
        Value::Number(n) => {
            let _ = write!(out, "{:?}", n.as_f64().unwrap_or(f64::NAN));
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                loose(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).unwrap_or_default());
                out.push(':');
                loose(v, out);
            }
            out.push('}');
        }
        other => out.push_str(&serde_json::to_string(other).unwrap_or_default()),
    }
}
