//! The fuzz targets' properties, in the normal test suite.
//!
//! `fuzz/` (outside the workspace, see `docs/fuzzing.md`) fuzzes the
//! revision, event and snapshot validators with cargo-fuzz. The checks here
//! are the same as the targets' and run over:
//!
//! * the seed inputs committed in `fuzz/seeds/<target>/`;
//! * every input that once made a target fail, committed in
//!   `fuzz/regressions/<target>/` (a crash found by fuzzing is minimized
//!   with `cargo fuzz tmin` and added there, so it is checked on every
//!   `cargo test` from then on, with no fuzz toolchain).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use state_sync::{EventRef, InvalidationEvent, Revision, RevisionError, SnapshotEnvelope};

/// The most bytes an error shows of the offending value, plus `…`.
const SHOWN_MAX: usize = 120 + '…'.len_utf8();

// ---------------------------------------------------------------------------
// The checks of fuzz/fuzz_targets/*.rs

/// `fuzz_targets/revision.rs`.
fn check_revision(data: &[u8]) {
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
    if let Ok(s) = std::str::from_utf8(data) {
        let parsed = Revision::parse(s);
        assert_eq!(parsed.map(Revision::get), oracle(s), "{s:?}");
        if let Ok(r) = parsed {
            assert_eq!(r.to_string(), s);
        }
        assert_eq!(Revision::from_json(&Value::String(s.to_owned())), parsed);
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
}

/// `fuzz_targets/event.rs`.
fn check_event(data: &[u8]) {
    fn oracle(v: &Value) -> Option<(&str, Revision)> {
        let o = v.as_object()?;
        let topic = o.get("topic")?.as_str()?;
        if topic.trim().is_empty() {
            return None;
        }
        let revision = Revision::from_json(o.get("revision")?).ok()?;
        Some((topic, revision))
    }
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let borrowed = EventRef::from_json(&v);
    let owned = InvalidationEvent::from_json(&v);
    match (&borrowed, &owned) {
        (Ok(b), Ok(o)) => {
            assert_eq!(Some((b.topic, b.revision)), oracle(&v));
            assert_eq!(b.to_event(&v), *o);
            assert_eq!(InvalidationEvent::from_json(&o.to_json()).as_ref(), Ok(o));
        }
        (Err(b), Err(o)) => {
            assert_eq!(oracle(&v), None);
            assert_eq!(b, o);
            assert!(b.shown.len() <= SHOWN_MAX, "{} bytes shown", b.shown.len());
            let _ = b.to_string();
        }
        _ => panic!("EventRef {borrowed:?} and InvalidationEvent {owned:?} disagree"),
    }
}

/// An application type with some structure (as in `fuzz_targets/snapshot.rs`).
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Doc {
    theme: String,
    size: Option<u8>,
    tags: Vec<String>,
}

/// `fuzz_targets/snapshot.rs`.
fn check_snapshot(data: &[u8]) {
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
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    check::<Value>(&v);
    check::<u64>(&v);
    check::<String>(&v);
    check::<Vec<u8>>(&v);
    check::<Doc>(&v);
}

// ---------------------------------------------------------------------------
// Replaying the committed inputs

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// Every file in `fuzz/seeds/<target>/` and `fuzz/regressions/<target>/`.
fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for kind in ["seeds", "regressions"] {
        let dir = fuzz_dir().join(kind).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("a readable directory entry").path();
            let data = std::fs::read(&path).expect("a readable input file");
            files.push((path, data));
        }
    }
    files.sort();
    files
}

fn replay(target: &str, check: fn(&[u8])) {
    let inputs = inputs(target);
    assert!(
        !inputs.is_empty(),
        "no inputs for {target} under {}",
        fuzz_dir().display()
    );
    for (path, data) in inputs {
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(
            outcome.is_ok(),
            "{target}: {} fails its check (reproduce with `cargo fuzz run {target} {}`)",
            path.display(),
            path.display()
        );
    }
}

#[test]
fn revision_inputs() {
    replay("revision", check_revision);
}

#[test]
fn event_inputs() {
    replay("event", check_event);
}

#[test]
fn snapshot_inputs() {
    replay("snapshot", check_snapshot);
}

/// Inputs at the edges the fuzz targets probe, kept readable here.
#[test]
fn edge_inputs() {
    let revisions: [&[u8]; 8] = [
        b"18446744073709551615",
        b"18446744073709551616",
        b"\"18446744073709551615\"",
        b"00",
        "١".as_bytes(),
        b"\xff",
        b"",
        b"1e3",
    ];
    for input in revisions {
        check_revision(input);
    }
    let events: [&[u8]; 6] = [
        br#"{"topic":"\ufeff","revision":"1"}"#,
        br#"{"topic":" ","revision":"1"}"#,
        br#"{"topic":"t","revision":"1","revision":"x"}"#,
        br#"{"topic":"t","revision":"18446744073709551615","timestampMs":1e308}"#,
        br#"{"topic":"t","revision":"1","sourceId":null,"timestampMs":-0}"#,
        br#"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"#,
    ];
    for input in events {
        check_event(input);
    }
    let snapshots: [&[u8]; 4] = [
        br#"{"revision":"1","data":18446744073709551616}"#,
        br#"{"revision":"1","data":{"theme":"x","tags":[],"size":256}}"#,
        br#"{"revision":"1","data":"\ud800"}"#,
        br#"{"data":1,"revision":"1","data":2}"#,
    ];
    for input in snapshots {
        check_snapshot(input);
    }
}
