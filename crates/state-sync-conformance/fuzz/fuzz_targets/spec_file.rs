//! Spec-file parsing: `corpus::parse_spec` on any text, then `check_spec` on
//! whatever parses. Neither may panic; errors must render.
#![no_main]

use std::collections::BTreeSet;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use state_sync_conformance::corpus::{check_spec, clauses, parse_spec};

fn known() -> &'static BTreeSet<String> {
    static KNOWN: OnceLock<BTreeSet<String>> = OnceLock::new();
    KNOWN.get_or_init(|| clauses().into_iter().map(|c| c.id).collect())
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_spec(text, "fuzz.json") {
        Ok(spec) => {
            for error in check_spec(&spec, "fuzz.json", known()) {
                let _ = error.to_string();
            }
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
});
