//! What the kit's property tests share.

/// A current-thread tokio runtime on paused virtual time: what a case runs
/// on, for tests that drive transports and engines by hand.
pub fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime")
}
