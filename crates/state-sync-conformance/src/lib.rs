//! # state-sync-conformance
//!
//! The conformance kit for state-sync transports (in progress).

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
