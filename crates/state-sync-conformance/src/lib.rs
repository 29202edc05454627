//! # state-sync-conformance
//!
//! The conformance kit for state-sync transports (in progress).

pub mod known_failures;
pub mod report;
pub mod spec;
pub mod transport;
pub mod verdict;

pub use crate::spec::{Capability, Level, Spec, Step};
pub use crate::transport::{Bus, Capabilities, SnapshotServer, Transport, WindowEnds};
pub use crate::verdict::{CaseResult, SuiteReport, TraceEntry, TransportInfo, Verdict};
