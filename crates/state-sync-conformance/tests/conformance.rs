//! The kit's own corpus against the reference transports, one `cargo test`
//! case per (transport, spec) — `cargo test -p state-sync-conformance
//! --test conformance -- memory::late-join` — and, on a full run, the
//! reports and a snapshot of each transport's canonical JSON report
//! (`tests/snapshots/conformance__report-*.snap`): a change in any verdict,
//! seed, virtual duration or clause coverage shows up there for review
//! (`cargo insta review`).
//!
//! `ipc-child` runs the IPC backend in a child process: the kit's own
//! binary, `state-sync-conformance ipc-backend` (built with the `cli`
//! feature).

use state_sync_conformance::{Suite, reference};

fn suite() -> Suite {
    let suite = Suite::new().reference_transports().snapshot_reports();
    match option_env!("CARGO_BIN_EXE_state-sync-conformance") {
        Some(kit) => suite.transport(reference::ipc_child(kit, &["ipc-backend"])),
        None => suite,
    }
}

state_sync_conformance::main!(suite());
