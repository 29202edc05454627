//! Revision parsing (REV-1 to REV-4): `Revision::parse` on any string and
//! `Revision::from_json` on any JSON value, against an oracle built on
//! `u64::from_str`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use state_sync::{Revision, RevisionError};

/// The canonical-form rules, in the golden vectors' order of reasons.
fn oracle(s: &str) -> Result<u64, RevisionError> {
    if s.is_empty() {
        Err(RevisionError::Empty)
    } else if !s.bytes().all(|b| b.is_ascii_digit()) {
        Err(RevisionError::NotDigits)
    } else if s.len() > 1 && s.starts_with('0') {
        Err(RevisionError::LeadingZero)
    } else {
        s.parse::<u64>().map_err(|_| RevisionError::Overflow)
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let parsed = Revision::parse(s);
        assert_eq!(parsed.map(Revision::get), oracle(s), "{s:?}");
        if let Ok(r) = parsed {
            assert_eq!(r.to_string(), s);
        }
        let as_json = Revision::from_json(&Value::String(s.to_owned()));
        assert_eq!(as_json, parsed);
        let _ = parsed.map_err(|e| e.to_string());
    }
    if let Ok(v) = serde_json::from_slice::<Value>(data) {
        let r = Revision::from_json(&v);
        match &v {
            Value::String(s) => assert_eq!(r, Revision::parse(s)),
            _ => assert!(matches!(r, Err(RevisionError::NotAString(_)))),
        }
        assert_eq!(serde_json::from_value::<Revision>(v).ok(), r.ok());
    }
});
