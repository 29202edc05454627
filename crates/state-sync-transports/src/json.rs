//! JSON text as it crosses a process or IPC boundary.

use serde::Deserialize;

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

#[cfg(feature = "ipc")]
/// Whether `text` nests arrays and objects more than `max` levels deep
/// (strings are skipped; the text need not be valid JSON). Parsing,
/// cloning and dropping a value recurse once per level, so a peer's text is
/// measured before it is parsed.
pub(crate) fn nests_deeper_than(text: &str, max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0_usize, false, false);
    for byte in text.bytes() {
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
    use serde_json::Value;

    use super::*;

    #[test]
    fn nesting_deeper_than_serde_json_allows_parses() {
        let text = format!("{}{}", "[".repeat(300), "]".repeat(300));
        assert!(serde_json::from_str::<Value>(&text).is_err());
        let value: Value = parse_unbounded(&text).expect("parses");
        assert_eq!(serde_json::to_string(&value).expect("text"), text);
    }

    #[cfg(feature = "ipc")]
    #[test]
    fn nesting_is_measured_outside_strings() {
        assert!(!nests_deeper_than(r#"{"a":[1,{"b":2}]}"#, 3));
        assert!(nests_deeper_than(r#"{"a":[1,{"b":[]}]}"#, 3));
        assert!(!nests_deeper_than(r#"{"a":"[[[[[[\"[[[["}"#, 1));
        assert!(!nests_deeper_than("]]]]{}", 1));
        let deep = format!("{}{}", "[".repeat(50), "]".repeat(50));
        assert!(nests_deeper_than(&deep, 49));
        assert!(!nests_deeper_than(&deep, 50));
    }

    #[test]
    fn trailing_text_is_an_error() {
        assert!(parse_unbounded::<Value>("1 2").is_err());
    }
}
