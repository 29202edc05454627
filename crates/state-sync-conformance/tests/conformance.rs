//! The kit's own corpus against the three reference transports, one
//! `cargo test` case per (transport, spec) — `cargo test -p
//! state-sync-conformance --test conformance -- memory::late-join` — and,
//! on a full run, the reports and a snapshot of each transport's canonical
//! JSON report (`tests/snapshots/conformance__report-*.snap`): a change in
//! any verdict, seed, virtual duration or clause coverage shows up there
//! for review (`cargo insta review`).

use state_sync_conformance::Suite;

state_sync_conformance::main!(Suite::new().reference_transports().snapshot_reports());
