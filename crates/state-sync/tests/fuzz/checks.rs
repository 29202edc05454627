//! The properties the fuzz targets check, shared by the targets in
//! `fuzz/fuzz_targets/` and by `tests/fuzz_regressions.rs` of this crate,
//! which replays the committed inputs in the normal test suite. One copy, so
//! the two can never drift apart. Each includes this file with `#[path]`.

#![allow(dead_code)] // each includer uses some of the checks

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use state_sync::intake::read_event;
use state_sync::{
    Epoch, EventRef, InvalidationEvent, Payload, Position, Revision, RevisionError,
    SnapshotEnvelope,
};

/// The most bytes an error shows of the offending value, plus `…`.
const SHOWN_MAX: usize = 120 + '…'.len_utf8();

/// Revision parsing (REV-1 to REV-4): `Revision::parse` on any string and
/// `Revision::from_json` on any JSON value, against an oracle built on
/// `u64::from_str`.
pub fn check_revision(data: &[u8]) {
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

/// Invalidation validation (EVT-1 to EVT-5, EVT-8): `EventRef` and
/// `InvalidationEvent` agree with each other and with the rules, keep error
/// previews bounded, and read back their own wire form; the text intake
/// reads any bytes without panicking and, where they are a JSON document,
/// exactly as the tree intake reads its tree.
pub fn check_event(data: &[u8]) {
    check_text_intake(data);
    fn oracle(v: &Value) -> Option<(&str, Position)> {
        let o = v.as_object()?;
        let topic = o.get("topic")?.as_str()?;
        if topic.trim().is_empty() {
            return None;
        }
        let revision = Revision::from_json(o.get("revision")?).ok()?;
        Some((topic, Position::new(epoch(o)?, revision)))
    }
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let borrowed = EventRef::from_json(&v);
    let owned = InvalidationEvent::from_json(&v);
    match (&borrowed, &owned) {
        (Ok(b), Ok(o)) => {
            assert_eq!(Some((b.topic, b.position())), oracle(&v));
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

fn check_text_intake(data: &[u8]) {
    let text = read_event(Payload::Bytes(data));
    if let Err((error, _)) = &text {
        assert!(
            error.shown.len() <= SHOWN_MAX,
            "{} bytes shown",
            error.shown.len()
        );
    }
    if let Ok(v) = serde_json::from_slice::<Value>(data) {
        assert_eq!(text, read_event(Payload::Value(&v)), "the intakes disagree");
    }
}

/// An application type with some structure.
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Doc {
    theme: String,
    size: Option<u8>,
    tags: Vec<String>,
}

/// The `epoch` of an envelope: `0` when absent, `None` when present and
/// not canonical (EVT-8, SNAP-4).
fn epoch(o: &serde_json::Map<String, Value>) -> Option<Epoch> {
    match o.get("epoch") {
        None => Some(Epoch::ZERO),
        Some(raw) => Epoch::from_json(raw).ok(),
    }
}

/// Snapshot validation (SNAP-1 to SNAP-4) for a few application types.
pub fn check_snapshot(data: &[u8]) {
    fn check<T: DeserializeOwned>(v: &Value) {
        let expected = v.as_object().and_then(|o| {
            let data = o.get("data")?;
            let revision = Revision::from_json(o.get("revision")?).ok()?;
            let epoch = epoch(o)?;
            serde_json::from_value::<T>(data.clone()).ok()?;
            Some(Position::new(epoch, revision))
        });
        match SnapshotEnvelope::<T>::from_json(v.clone()) {
            Ok(s) => assert_eq!(Some(s.position()), expected),
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
