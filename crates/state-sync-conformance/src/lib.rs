//! # state-sync-conformance
//!
//! The conformance kit for state-sync transports: it proves that a transport
//! lets the engine keep the protocol's promises (late join, missed and
//! reordered events, coalescing, stop quiescence, no leaked subscriptions,
//! garbage reported instead of crashing, convergence under faults).
//!
//! * Your transport implements one trait,
//!   [`Backend`] from
//!   `state-sync-transports` (re-exported here): emit a raw payload, serve
//!   snapshots, give a window its two ends, and optionally count
//!   subscriptions and wait for work in flight. A [`Transport`] names it and
//!   says which [`Capabilities`] it claims.
//! * Scenarios are declarative JSON files (the `contract-specs/` corpus,
//!   embedded in this crate) citing the clauses of the protocol they check
//!   ([`spec`]). The kit wraps your window ends in a seeded fault layer and
//!   runs every scenario on paused virtual time ([`case`]).
//! * Each case ends with a [`Verdict`]; a [`SuiteReport`] renders as
//!   canonical JSON (for `insta`), Markdown or JUnit ([`report`]). Expected
//!   failures live in a file you own ([`known_failures`]).
//! * Engines in other languages are checked through a [`driver`]: a child
//!   process speaking a JSON-lines protocol, hosting the engine while the
//!   kit plays the source of truth and the transport
//!   ([`Suite::driver`], [`Transport::with_driver`]; `state-sync-reference-driver`
//!   is the Rust one, [`reference_driver`]).
//!
//! The usual set-up is a test target with `harness = false` whose whole
//! body is one [`main!`]: one `cargo test` trial per (transport, spec),
//! named `transport::spec-id`, and on a full run the reports and their
//! snapshots from the same run:
//!
//! ```no_run
//! // tests/conformance.rs
//! use state_sync_conformance::{Capabilities, Suite, Transport};
//! # mod my_transport { pub use state_sync_transports::memory::Bus; }
//!
//! state_sync_conformance::main!(
//!     Suite::new()
//!         .transport(
//!             Transport::new("my-transport", my_transport::Bus::new)
//!                 .with_capabilities(Capabilities::all()),
//!         )
//!         .snapshot_reports()
//! );
//! ```
//!
//! The walk-through, with a complete outside crate, is
//! [`docs/writing-a-transport.md`](https://docs.rs/crate/state-sync-conformance/latest/source/docs/writing-a-transport.md);
//! the scenario format is
//! [`docs/spec-format.md`](https://docs.rs/crate/state-sync-conformance/latest/source/docs/spec-format.md).
//!
//! ## Time
//!
//! Every case runs on paused virtual time, so minutes of scenario cost
//! microseconds. The clock moves only when the case is quiescent: while
//! the transport has work in flight (a subscribe, a snapshot request, a
//! settle) or a driver has a command unacknowledged, it is held still,
//! however long the work takes in real time — so a transport doing real
//! I/O, on a loaded machine or an idle one, gives the same trace and the
//! same verdict. Work that waits on tokio time declares it
//! ([`state_sync_transports::clock`], [`simulated_latency`]) and the clock
//! runs through it. A case that makes no progress for the hang limit
//! ([`RunOptions::hang_limit`]) ends as `timeout`, naming the work that
//! never finished. [`Transport::on_real_time`] runs a transport that
//! cannot live on virtual time on real time instead.
//!
//! ## Verdicts and clauses
//!
//! Every check names the clause of the protocol it defends — an `expect`
//! step's `clause`, or its spec's first clause; the always-on invariants
//! their own (`TR-*` for the transport's promises) — and a failed check's
//! line starts with it (`CO-2: step 12 (expect): …`,
//! [`CaseResult::broken_clauses`]). A case that broke only SHOULD clauses
//! is [`Verdict::NonStrict`]: listed, not failed, unless the run is strict
//! ([`Suite::strict`]). A spec is [`Verdict::Unsupported`] only when a
//! step cannot be carried out on the target; an expectation that reads what
//! the target does not offer is skipped and listed
//! ([`CaseResult::not_checked`]).
//!
//! ```
//! use state_sync_conformance::{Spec, Transport, Verdict, run_case, RunOptions};
//! use state_sync_transports::memory;
//!
//! let spec: Spec = serde_json::from_str(r#"{
//!     "id": "counts", "title": "the engine counts one fetch",
//!     "clauses": ["LIFE-2", "MET-1"], "level": "must",
//!     "steps": [{"open": {"window": "a"}}, {"start": {"window": "a"}},
//!               {"expect": {"window": "a", "local_revision": "0"}},
//!               {"expect": {"clause": "MET-1", "window": "a", "metrics": {"fetches": 5}}}]
//! }"#).unwrap();
//! let result = run_case(&spec, &Transport::new("memory", memory::Bus::new), &RunOptions::default());
//! // Only the SHOULD clause MET-1 broke: listed, not failed.
//! assert_eq!(result.verdict, Verdict::NonStrict);
//! assert!(result.failures[0].starts_with("MET-1: step 3 (expect)"));
//! ```
//!
//! ## Features
//!
//! * `cli` (default) — the `state-sync-conformance` binary (clap) and
//!   `schema`.
//! * `schema` — [`schema`], the JSON Schema of spec files (schemars).
//!
//! A dev-dependency that only runs the suite can turn both off:
//! `state-sync-conformance = { version = "0.1", default-features = false }`.

mod activity;
mod capabilities;
pub mod case;
pub mod corpus;
pub mod driver;
mod failure;
pub mod harness;
pub mod known_failures;
mod layers;
mod plain_thread;
pub mod reference;
pub mod reference_driver;
pub mod report;
#[cfg(feature = "schema")]
pub mod schema;
pub mod service;
mod source;
pub mod spec;
pub mod suite;
pub mod summary;
mod trace;
pub mod transport;
pub mod verdict;

pub use crate::activity::simulated_latency;
pub use crate::capabilities::Capabilities;
pub use crate::case::{CallError, RunOptions, VIRTUAL_TIME, run_case};
pub use crate::corpus::{Corpus, SpecError, SpecErrors};
pub use crate::service::{Service, service_env};
pub use crate::spec::{Capability, Level, Spec, Step};
pub use crate::suite::{Suite, SuiteError};
pub use crate::transport::Transport;
pub use crate::verdict::{CaseResult, NotChecked, SuiteReport, TraceEntry, TransportInfo, Verdict};
pub use state_sync_transports::{Backend, SnapshotHandler, WindowEnds};

/// The project's documents as doctests: every Rust block in them that is
/// not `ignore` compiles and runs under `cargo test` (the walk-through's
/// blocks are `ignore` here because they are the example crate's files,
/// which CI builds and checks against the document).
#[cfg(doctest)]
mod documents {
    #[doc = include_str!("../docs/architecture.md")]
    struct Architecture;
    #[doc = include_str!("../docs/driver-protocol.md")]
    struct DriverProtocol;
    #[doc = include_str!("../docs/fuzzing.md")]
    struct Fuzzing;
    #[doc = include_str!("../docs/lifecycle.md")]
    struct Lifecycle;
    #[doc = include_str!("../docs/performance.md")]
    struct Performance;
    #[doc = include_str!("../docs/protocol.md")]
    struct Protocol;
    #[doc = include_str!("../docs/spec-format.md")]
    struct SpecFormat;
    #[doc = include_str!("../docs/tauri.md")]
    struct Tauri;
    #[doc = include_str!("../docs/writing-a-transport.md")]
    struct WritingATransport;
    #[doc = include_str!("../../../README.md")]
    struct Readme;
}

/// The `main` of a conformance test target: runs `suite` as the test
/// harness, one `cargo test` trial per (transport, spec) — see
/// [`harness`] for everything a run does.
///
/// The target must be declared with `harness = false`; without it, this
/// macro makes the target fail to compile with a message that says so
/// (rather than run zero tests and pass).
///
/// ```toml
/// [[test]]
/// name = "conformance"
/// harness = false
/// ```
///
/// ```no_run
/// // tests/conformance.rs
/// use state_sync_conformance::{Suite, reference};
///
/// state_sync_conformance::main!(
///     Suite::new()
///         .transport(reference::memory())
///         .known_failures("tests/known-failures.json")
///         .snapshot_reports()
/// );
/// ```
#[macro_export]
macro_rules! main {
    ($suite:expr $(,)?) => {
        // Only compiled when libtest's harness is on (`harness = true`, the
        // default), i.e. exactly when the target is misconfigured.
        #[test]
        fn state_sync_conformance_needs_harness_false() {
            ::core::compile_error!(::core::concat!(
                "state-sync-conformance: the test target `",
                ::core::env!("CARGO_CRATE_NAME"),
                "` brings its own harness; declare it in Cargo.toml with `harness = false`:\n\n",
                "[[test]]\nname = \"",
                ::core::env!("CARGO_CRATE_NAME"),
                "\"\nharness = false\n"
            ));
        }

        fn main() -> ::std::process::ExitCode {
            let target = $crate::harness::Target::__from_macro(
                ::core::env!("CARGO_PKG_NAME"),
                ::core::env!("CARGO_CRATE_NAME"),
                ::core::env!("CARGO_MANIFEST_DIR"),
                (::core::file!(), ::core::module_path!()),
            );
            $crate::Suite::harness($suite, target)
        }
    };
}
