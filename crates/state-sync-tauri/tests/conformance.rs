//! The contract corpus against this crate on Tauri's `MockRuntime`: every
//! spec passes, or is `unsupported` for a stated capability.

mod support;

state_sync_conformance::main!(
    state_sync_conformance::Suite::new()
        .transport(support::transport())
        .snapshot_reports()
);
