//! Invalidation validation (EVT-1 to EVT-5): `EventRef::from_json` and
//! `InvalidationEvent::from_json` on any JSON document. They must agree with
//! each other and with the rules, keep error previews bounded, and read back
//! their own wire form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use state_sync::{EventRef, InvalidationEvent, Revision};

/// The most bytes an error shows of the offending value, plus `…`.
const SHOWN_MAX: usize = 120 + '…'.len_utf8();

fn oracle(v: &Value) -> Option<(&str, Revision)> {
    let o = v.as_object()?;
    let topic = o.get("topic")?.as_str()?;
    if topic.trim().is_empty() {
        return None;
    }
    let revision = Revision::from_json(o.get("revision")?).ok()?;
    Some((topic, revision))
}

fuzz_target!(|data: &[u8]| {
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
});
