//! The kit's own corpus against the three reference transports, one
//! `cargo test` case per (transport, spec): `cargo test -p
//! state-sync-conformance --test conformance -- memory::late-join`.

use std::process::ExitCode;

fn main() -> ExitCode {
    state_sync_conformance::Suite::new()
        .reference_transports()
        .main()
}
