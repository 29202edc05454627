//! The `state-sync-conformance` command line (in progress).

fn main() {}
