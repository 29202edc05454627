//! JSON Schemas of the vocabulary types that parse from text (the
//! `schema` feature).

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use state_sync::Phase;

use super::vocab::{LocalRevision, PhaseName, Probability, WindowSel};

/// A canonical revision string (REV-1, REV-2).
pub(crate) struct RevisionText;

const REVISION_PATTERN: &str = "^(0|[1-9][0-9]*)$";

impl JsonSchema for RevisionText {
    fn schema_name() -> Cow<'static, str> {
        "Revision".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A canonical decimal u64 revision string: \"0\", or no leading zero.",
            "type": "string",
            "pattern": REVISION_PATTERN
        })
    }
}

impl JsonSchema for WindowSel {
    fn schema_name() -> Cow<'static, str> {
        "WindowSel".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Which windows a step addresses: \"a\", or a range such as \"w[0..20]\" meaning w0 … w19 (at most 1000).",
            "type": "string",
            "minLength": 1
        })
    }
}

impl JsonSchema for PhaseName {
    fn schema_name() -> Cow<'static, str> {
        "Phase".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "An error phase, by its wire name.",
            "type": "string",
            "enum": Phase::ALL.map(Phase::as_str)
        })
    }
}

impl JsonSchema for LocalRevision {
    fn schema_name() -> Cow<'static, str> {
        "LocalRevision".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A canonical revision, or \"source\" for the source's current revision of the window's topic.",
            "type": "string",
            "pattern": "^(0|[1-9][0-9]*|source)$"
        })
    }
}

impl JsonSchema for Probability {
    fn schema_name() -> Cow<'static, str> {
        "Probability".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A probability in [0, 1].",
            "type": "number",
            "minimum": 0,
            "maximum": 1
        })
    }
}
