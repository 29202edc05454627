//! Reference transports for state-sync (in progress).
