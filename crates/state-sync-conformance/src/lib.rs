//! # state-sync-conformance
//!
//! The conformance kit for state-sync transports: it proves that a transport
//! lets the engine keep the protocol's promises (late join, missed and
//! reordered events, coalescing, stop quiescence, no leaked subscriptions,
//! garbage reported instead of crashing, convergence under faults).
//!
//! * Scenarios are declarative JSON files (`contract-specs/`, embedded in
//!   this crate) citing the clauses of `docs/protocol.md` and
//!   `docs/lifecycle.md` they check. See [`spec`] and `docs/spec-format.md`.
//! * You implement [`Transport`] and [`Bus`] for your transport (see
//!   [`transport`]); the kit wraps your window ends in a seeded fault layer
//!   and runs every scenario on paused virtual time ([`runner`]).
//! * Each case ends with a [`Verdict`]; a [`SuiteReport`] renders as
//!   canonical JSON (snapshot it with `insta`), Markdown or JUnit
//!   ([`report`]). Expected failures live in a file you own
//!   ([`known_failures`]).
//!
//! The usual set-up is a test target with `harness = false` whose `main` is
//! one call; it gives one `cargo test` case per (transport, spec), named
//! `transport::spec-id`:
//!
//! ```no_run
//! // tests/conformance.rs
//! use state_sync_conformance::Suite;
//! # use state_sync_conformance::reference::Memory as MyTransport;
//!
//! fn main() -> std::process::ExitCode {
//!     Suite::new().transport(MyTransport).main()
//! }
//! ```
//!
//! and a report snapshot in an ordinary test:
//!
//! ```no_run
//! use state_sync_conformance::{Suite, report};
//! # use state_sync_conformance::reference::Memory as MyTransport;
//!
//! let result = Suite::new().transport(MyTransport).run().expect("suite runs");
//! assert!(result.summary.ok, "{}", report::to_markdown(&result));
//! // insta::assert_snapshot!(report::to_json(&result));
//! ```
//!
//! `docs/writing-a-transport.md` in the repository walks through it all.

pub mod corpus;
mod faults;
pub mod known_failures;
mod panics;
mod record;
pub mod reference;
pub mod report;
pub mod runner;
pub mod schema;
mod source;
pub mod spec;
pub mod suite;
pub mod transport;
pub mod verdict;

pub use crate::corpus::{Corpus, SpecError, SpecErrors};
pub use crate::runner::{RunOptions, run_case};
pub use crate::spec::{Capability, Level, Spec, Step};
pub use crate::suite::{Suite, SuiteError};
pub use crate::transport::{Bus, Capabilities, SnapshotServer, Transport, WindowEnds};
pub use crate::verdict::{CaseResult, SuiteReport, TraceEntry, TransportInfo, Verdict};
