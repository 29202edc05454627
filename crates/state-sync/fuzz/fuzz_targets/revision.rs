//! Revision parsing (REV-1 to REV-4); the check is in `tests/fuzz/checks.rs` of the crate.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/fuzz/checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::check_revision(data));
