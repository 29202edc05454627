//! The layers a case puts around a transport's window ends: decorators of
//! the port traits they wrap, composed in one place (`case::wiring`).
//!
//! * [`faults`] — seeded fault injection; it records nothing and reports
//!   what it did as notes.
//! * [`observe`] — records, the trace and the always-on invariants; it
//!   knows nothing of faults.

pub(crate) mod faults;
pub(crate) mod ledger;
pub(crate) mod observe;
pub(crate) mod payload;
pub(crate) mod record;
pub(crate) mod served;
