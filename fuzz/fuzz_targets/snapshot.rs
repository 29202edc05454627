//! Snapshot validation (SNAP-1 to SNAP-3): `SnapshotEnvelope::<T>::from_json`
//! on any JSON document, for a few application types, against the rules.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use state_sync::{Revision, SnapshotEnvelope};

/// The most bytes an error shows of the offending value, plus `…`.
const SHOWN_MAX: usize = 120 + '…'.len_utf8();

/// An application type with some structure.
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Doc {
    theme: String,
    size: Option<u8>,
    tags: Vec<String>,
}

fn check<T: DeserializeOwned>(v: &Value) {
    let expected = v.as_object().and_then(|o| {
        let data = o.get("data")?;
        let revision = Revision::from_json(o.get("revision")?).ok()?;
        serde_json::from_value::<T>(data.clone()).ok()?;
        Some(revision)
    });
    match SnapshotEnvelope::<T>::from_json(v.clone()) {
        Ok(s) => assert_eq!(Some(s.revision), expected),
        Err(e) => {
            assert_eq!(expected, None);
            assert!(e.shown.len() <= SHOWN_MAX, "{} bytes shown", e.shown.len());
            let _ = e.to_string();
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    check::<Value>(&v);
    check::<u64>(&v);
    check::<String>(&v);
    check::<Vec<u8>>(&v);
    check::<Doc>(&v);
});
