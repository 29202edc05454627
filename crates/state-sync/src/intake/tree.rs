//! The cold path of the text intake: the whole payload as a
//! `serde_json::Value`, for the reports of invalid events and for hooks
//! that are handed the raw payload.

use serde::Deserialize;
use serde_json::Value;

use crate::protocol::{Envelope, ProblemKind, ProtocolError, show_value};

/// The deepest nesting of arrays and objects a text payload is parsed to
/// a tree at. Parsing and dropping a tree recurse once per level; deeper
/// text is reported without being parsed.
pub const MAX_NESTING: usize = 16_384;

/// `text` parsed into a tree, without serde_json's nesting limit of 128
/// (the IPC transports carry payloads a JavaScript peer built at any depth
/// up to [`MAX_NESTING`]).
pub(crate) fn parse(text: &[u8]) -> Result<Value, ProtocolError> {
    if nests_deeper_than(text, MAX_NESTING) {
        return Err(not_json(
            text,
            format!("nested deeper than {MAX_NESTING} levels"),
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(text);
    de.disable_recursion_limit();
    let parsed = Value::deserialize(&mut de).and_then(|value| de.end().map(|()| value));
    parsed.map_err(|e| not_json(text, e.to_string()))
}

/// The report of a text that is not one JSON document.
fn not_json(text: &[u8], reason: String) -> ProtocolError {
    ProtocolError {
        envelope: Envelope::Event,
        field: "",
        problem: ProblemKind::NotJson(reason),
        shown: show_value(&as_string(text)),
    }
}

/// The text itself as a JSON string value, so that a report can carry a
/// payload that is not JSON (invalid UTF-8 replaced).
pub(crate) fn as_string(text: &[u8]) -> Value {
    Value::String(String::from_utf8_lossy(text).into_owned())
}

/// Whether `text` nests arrays and objects more than `max` levels deep
/// (strings are skipped; the text need not be valid JSON). It is measured
/// without recursion, before anything recursive touches it.
///
/// Not public API: the sibling crates of this workspace use it for their
/// frames; it may change in any release.
#[doc(hidden)]
pub fn nests_deeper_than(text: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0_usize, false, false);
    for &byte in text {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_measured_outside_strings() {
        assert!(!nests_deeper_than(br#"{"a":[1,{"b":2}]}"#, 3));
        assert!(nests_deeper_than(br#"{"a":[1,{"b":[]}]}"#, 3));
        assert!(!nests_deeper_than(br#"{"a":"[[[[[[\"[[[["}"#, 1));
        assert!(!nests_deeper_than(b"]]]]{}", 1));
        let deep = format!("{}{}", "[".repeat(50), "]".repeat(50));
        assert!(nests_deeper_than(deep.as_bytes(), 49));
        assert!(!nests_deeper_than(deep.as_bytes(), 50));
    }

    #[test]
    fn deeper_than_serde_json_allows_parses_and_deeper_than_the_bound_is_refused() {
        let text = format!("{}{}", "[".repeat(300), "]".repeat(300));
        let value = parse(text.as_bytes()).expect("parses");
        assert_eq!(serde_json::to_string(&value).expect("text"), text);
        let text = "[".repeat(MAX_NESTING + 1);
        let err = parse(text.as_bytes()).expect_err("too deep");
        assert!(err.to_string().contains("nested deeper"), "{err}");
        assert!(err.shown.len() < 400);
    }

    #[test]
    fn text_that_is_not_json_is_reported_with_a_preview() {
        for text in [&b"not json"[..], b"", b"{\"topic\":", b"1 2", b"\xff\xfe"] {
            let err = parse(text).expect_err("not JSON");
            assert_eq!(err.field, "");
            assert!(matches!(err.problem, ProblemKind::NotJson(_)));
            assert!(err.to_string().starts_with("invalid invalidation event"));
        }
    }
}
