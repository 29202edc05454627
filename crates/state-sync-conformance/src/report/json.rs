//! The canonical JSON report, the one to snapshot.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::verdict::SuiteReport;

/// Rebuilds every object with its keys inserted in sorted order, so the
/// output is sorted even when serde_json's `preserve_order` feature is
/// enabled somewhere in the dependency graph.
fn sort_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<String, Value> =
                map.into_iter().map(|(k, v)| (k, sort_keys(v))).collect();
            Value::Object(sorted.into_iter().collect::<Map<String, Value>>())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

/// The canonical JSON report: the [`SuiteReport`] in canonical order (see the
/// module docs), keys sorted at every level, pretty-printed with two-space
/// indentation and a trailing newline. Byte-identical across runs and
/// machines; this is what to snapshot.
pub fn to_json(report: &SuiteReport) -> String {
    // Serializing a SuiteReport cannot fail: it is plain derived data with
    // string map keys.
    let value = serde_json::to_value(report).expect("a SuiteReport always serializes to JSON");
    format!("{:#}\n", sort_keys(value))
}

/// The short symbol-and-word form of a verdict used in the Markdown matrix,
#[cfg(test)]
mod tests {
    use super::super::fixtures::sample;
    use super::*;

    fn assert_sorted(value: &Value, at: &str) {
        match value {
            Value::Object(map) => {
                let keys: Vec<&String> = map.keys().collect();
                let mut sorted = keys.clone();
                sorted.sort();
                assert_eq!(keys, sorted, "keys at {at}");
                for (k, v) in map {
                    assert_sorted(v, &format!("{at}.{k}"));
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    assert_sorted(v, &format!("{at}[{i}]"));
                }
            }
            _ => {}
        }
    }

    #[test]
    fn json_is_sorted_pretty_and_round_trips() {
        let json = to_json(&sample());
        assert!(json.ends_with("}\n") && !json.ends_with("\n\n"));
        assert!(json.starts_with("{\n  \"cases\": [\n    {\n"), "{json}");
        let value: Value = serde_json::from_str(&json).expect("valid JSON");
        assert_sorted(&value, "");
        // The text order follows the sorted keys too.
        let pos = |k: &str| json.find(&format!("\n  \"{k}\"")).expect(k);
        assert!(pos("cases") < pos("coverage"));
        assert!(pos("coverage") < pos("kit"));
        assert!(pos("kit") < pos("kit_version"));
        assert!(pos("summary") < pos("transports"));
        // It is the report itself, in canonical order.
        let back: SuiteReport = serde_json::from_value(value).expect("a SuiteReport");
        assert_eq!(back, sample());
        assert_eq!(back.cases[0].transport, "channel");
        assert_eq!(back.coverage["LIFE-1"], ["coalescing", "late-join"]);
        assert!(!json.contains("time\""), "no wall-clock fields");
    }

    #[test]
    fn sort_keys_sorts_nested_objects() {
        let v = serde_json::json!({"b": 1, "a": [{"d": 1, "c": 2}]});
        assert_eq!(
            format!("{:#}", sort_keys(v)),
            "{\n  \"a\": [\n    {\n      \"c\": 2,\n      \"d\": 1\n    }\n  ],\n  \"b\": 1\n}"
        );
    }
}
