//! The JSON Schema of spec files, generated from the Rust types.
//!
//! The checked-in copy lives at `contract-specs/schema/spec.schema.json`; a
//! test fails when it is stale, and `state-sync-conformance schema` prints
//! a fresh one. Beyond the types it says what `check` enforces wherever
//! JSON Schema can say it: the id's alphabet, the clause ids of the
//! registry (in `clauses` and in every step's `clause`), at least one
//! clause and one step. What depends on the order of steps (a window open
//! before it is used, a step's clause among the spec's) only `check` sees.

use serde_json::{Value, json};

use crate::spec::Spec;

/// The schema as pretty JSON with a trailing newline.
pub fn spec_schema_json() -> String {
    let mut schema = serde_json::to_value(schemars::schema_for!(Spec))
        .unwrap_or_else(|e| json!({"error": format!("schema does not serialize: {e}")}));
    tighten(&mut schema);
    let mut text = serde_json::to_string_pretty(&schema)
        .unwrap_or_else(|e| format!("{{\"error\": \"schema does not serialize: {e}\"}}"));
    text.push('\n');
    text
}

/// Adds to the generated schema what the loader checks beyond the types.
fn tighten(schema: &mut Value) {
    let ids: Vec<Value> = crate::corpus::clauses()
        .into_iter()
        .map(|c| Value::String(c.id))
        .collect();
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        if let Some(id) = props.get_mut("id") {
            id["pattern"] = json!("^[a-z0-9-]+$");
        }
        if let Some(clauses) = props.get_mut("clauses") {
            clauses["minItems"] = json!(1);
            clauses["items"]["enum"] = Value::Array(ids.clone());
        }
        if let Some(steps) = props.get_mut("steps") {
            steps["minItems"] = json!(1);
        }
    }
    if let Some(defs) = schema.get_mut("$defs") {
        each_clause_field(defs, &ids);
    }
}

/// Gives every `clause` property under `value` the registry's ids (and
/// `null`, where the field may be null).
fn each_clause_field(value: &mut Value, ids: &[Value]) {
    match value {
        Value::Object(map) => {
            if let Some(clause) = map.get_mut("properties").and_then(|p| p.get_mut("clause")) {
                let nullable = clause["type"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| t == "null"));
                let mut allowed = ids.to_vec();
                if nullable {
                    allowed.push(Value::Null);
                }
                clause["enum"] = Value::Array(allowed);
            }
            for v in map.values_mut() {
                each_clause_field(v, ids);
            }
        }
        Value::Array(items) => {
            for v in items {
                each_clause_field(v, ids);
            }
        }
        _ => {}
    }
}
