//! Invalidation validation (EVT-1 to EVT-5); the check is in `tests/fuzz/checks.rs` of the crate.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/fuzz/checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::check_event(data));
