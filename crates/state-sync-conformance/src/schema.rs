//! The JSON Schema of spec files, generated from the Rust types.
//!
//! The checked-in copy lives at `contract-specs/schema/spec.schema.json`; a
//! test fails when it is stale, and `state-sync-conformance schema` prints
//! a fresh one.

use crate::spec::Spec;

/// The schema as pretty JSON with a trailing newline.
pub fn spec_schema_json() -> String {
    let schema = schemars::schema_for!(Spec);
    let mut text = serde_json::to_string_pretty(&schema)
        .unwrap_or_else(|e| format!("{{\"error\": \"schema does not serialize: {e}\"}}"));
    text.push('\n');
    text
}
