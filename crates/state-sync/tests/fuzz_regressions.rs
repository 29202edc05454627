//! The fuzz targets' properties, in the normal test suite.
//!
//! `fuzz/` of this crate (outside the workspace, see `docs/fuzzing.md`)
//! fuzzes the revision, event and snapshot validators with cargo-fuzz. Its
//! checks live in `tests/fuzz/checks.rs`, included here, and run over:
//!
//! * the seed inputs committed in `tests/fuzz/seeds/<target>/`;
//! * every input that once made a target fail, committed in
//!   `tests/fuzz/regressions/<target>/` (a crash found by fuzzing is
//!   minimized with `cargo fuzz tmin` and added there, so it is checked on
//!   every `cargo test` from then on, with no fuzz toolchain).
//!
//! They live under `tests/` so that they are part of the crate's package.

use std::path::{Path, PathBuf};

#[path = "fuzz/checks.rs"]
mod checks;

use checks::{check_event, check_revision, check_snapshot};

// ---------------------------------------------------------------------------
// Replaying the committed inputs

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz")
}

/// Every file in `tests/fuzz/seeds/<target>/` and
/// `tests/fuzz/regressions/<target>/`.
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
