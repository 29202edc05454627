//! JSON text as it crosses a process or IPC boundary.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

/// Parses one JSON document from `text` without serde_json's nesting limit
/// of 128.
///
/// The text was written by `serde_json` from a value that already existed
/// at that depth (a JavaScript peer's `JSON.parse` has no such limit
/// either), so deeply nested payloads arrive like any other.
pub(crate) fn parse_unbounded<'de, T: Deserialize<'de>>(
    text: &'de str,
) -> Result<T, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    de.disable_recursion_limit();
    let value = T::deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// `payload` as JSON text, serialized once for every receiver; `None`
/// (logged) if it does not serialize, which a `Value` always does.
pub(crate) fn to_text(payload: &Value) -> Option<Arc<str>> {
    match serde_json::to_string(payload) {
        Ok(text) => Some(text.into()),
        Err(e) => {
            tracing::error!(error = %e, "state-sync-transports: a payload did not serialize");
            None
        }
    }
}

#[cfg(feature = "ipc")]
/// Whether `text` nests arrays and objects more than `max` levels deep
/// (strings are skipped; the text need not be valid JSON). Parsing,
/// cloning and dropping a value recurse once per level, so a peer's text is
/// measured before it is parsed.
pub(crate) fn nests_deeper_than(text: &str, max: usize) -> bool {
    state_sync::intake::nests_deeper_than(text.as_bytes(), max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_deeper_than_serde_json_allows_parses() {
        let text = format!("{}{}", "[".repeat(300), "]".repeat(300));
        assert!(serde_json::from_str::<Value>(&text).is_err());
        let value: Value = parse_unbounded(&text).expect("parses");
        assert_eq!(serde_json::to_string(&value).expect("text"), text);
    }

    #[test]
    fn trailing_text_is_an_error() {
        assert!(parse_unbounded::<Value>("1 2").is_err());
    }
}
