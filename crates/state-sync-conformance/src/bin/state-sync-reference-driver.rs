//! The Rust reference driver: `state-sync`'s engine behind the driver
//! protocol (`docs/driver-protocol.md`) on stdin and stdout.
//!
//! ```text
//! state-sync-conformance run --driver state-sync-reference-driver
//! ```

fn main() -> std::process::ExitCode {
    state_sync_conformance::reference_driver::serve()
}
