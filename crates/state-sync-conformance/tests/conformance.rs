//! The conformance suite against the reference transports (in progress).

fn main() {}
