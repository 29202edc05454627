//! Runs the language-neutral golden vectors in
//! `contract-specs/vectors/positions.json` of the repository (linked as
//! `tests/vectors/positions.json`, so that the crate's package has them):
//! the `epoch` of invalidations and snapshots (docs/protocol.md, EVT-8,
//! SNAP-4) through `EventRef`, `InvalidationEvent`, the text intake and
//! `SnapshotEnvelope`, and the order of positions (docs/lifecycle.md,
//! GATE-6).

use std::cmp::Ordering;
use std::path::PathBuf;

use serde_json::Value;
use state_sync::intake::read_event;
use state_sync::{
    Epoch, EventRef, InvalidationEvent, Payload, Position, Revision, SnapshotEnvelope,
};

/// The fewest vectors the file may hold; fewer means it was truncated.
const MIN_VECTORS: usize = 20;

fn file() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/positions.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()))
}

fn text<'a>(v: &'a Value, name: &str) -> &'a str {
    v.get(name)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("`{name}` must be a string: {v}"))
}

fn position(epoch: &str, revision: &str) -> Position {
    Position::new(
        epoch
            .parse::<Epoch>()
            .expect("a canonical epoch in the file"),
        revision
            .parse::<Revision>()
            .expect("a canonical revision in the file"),
    )
}

/// How each reader reads `input`: the position, or the field it names.
fn readings(envelope: &str, input: &Value) -> Vec<(&'static str, Result<Position, String>)> {
    let field = |e: state_sync::ProtocolError| e.field.to_owned();
    match envelope {
        "event" => {
            let text = input.to_string();
            vec![
                (
                    "EventRef",
                    EventRef::from_json(input)
                        .map(|e| e.position())
                        .map_err(field),
                ),
                (
                    "InvalidationEvent",
                    InvalidationEvent::from_json(input)
                        .map(|e| e.position())
                        .map_err(field),
                ),
                (
                    "the text intake",
                    read_event(Payload::Text(&text))
                        .map(|(_, p, _)| p)
                        .map_err(|(e, _)| field(e)),
                ),
            ]
        }
        "snapshot" => vec![(
            "SnapshotEnvelope",
            SnapshotEnvelope::<Value>::from_json(input.clone())
                .map(|s| s.position())
                .map_err(field),
        )],
        other => panic!("unknown envelope {other:?}"),
    }
}

#[test]
fn every_reader_reads_every_epoch_vector_as_the_file_says() {
    let file = file();
    let vectors = file["vectors"].as_array().expect("`vectors` is an array");
    assert!(vectors.len() >= MIN_VECTORS, "{} vectors", vectors.len());
    let mut wrong = Vec::new();
    for (i, v) in vectors.iter().enumerate() {
        let expected = if v["valid"] == Value::Bool(true) {
            Ok(position(text(v, "epoch"), text(v, "revision")))
        } else {
            Err(text(v, "field").to_owned())
        };
        for (reader, got) in readings(text(v, "envelope"), &v["input"]) {
            if got != expected {
                wrong.push(format!(
                    "#{i} {}: {reader} gives {got:?}, expected {expected:?}",
                    v["input"]
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn positions_order_as_the_file_says() {
    let file = file();
    let order = file["order"].as_array().expect("`order` is an array");
    assert!(order.len() >= 4);
    for o in order {
        let pair = |name: &str| {
            let p = o[name]
                .as_array()
                .unwrap_or_else(|| panic!("`{name}`: {o}"));
            position(
                p[0].as_str().expect("epoch"),
                p[1].as_str().expect("revision"),
            )
        };
        let expected = match text(o, "order") {
            "less" => Ordering::Less,
            "equal" => Ordering::Equal,
            "greater" => Ordering::Greater,
            other => panic!("unknown order {other:?}"),
        };
        assert_eq!(pair("a").cmp(&pair("b")), expected, "{o}");
    }
}
