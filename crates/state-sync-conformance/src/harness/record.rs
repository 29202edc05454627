//! A case's record stream: it started, its trace as it is written, its
//! result. A worker process sends it to the harness over its stdout, and a
//! process nextest started writes it to a file; either way a case whose
//! process crashes still has its name and its trace so far.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::case::{RunOptions, run_case};
use crate::spec::Spec;
use crate::transport::Transport;
use crate::verdict::{CaseResult, TraceEntry};

/// One line of a case's record stream.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(super) enum Record {
    /// The case `transport::spec-id` began.
    Started(String),
    /// The case wrote this trace entry.
    Trace(TraceEntry),
    /// The case ended with this (raw) result.
    Result(Box<CaseResult>),
}

/// Where a case's records go.
pub(super) type RecordSink = Arc<dyn Fn(&Record) + Send + Sync>;

/// What a record stream said of its case, so far.
#[derive(Debug, Default)]
pub(super) struct Recorded {
    /// The case's name, once it began.
    pub(super) case: Option<String>,
    /// Its trace entries, in order.
    pub(super) trace: Vec<TraceEntry>,
    /// Its result, if it ended.
    pub(super) result: Option<CaseResult>,
}

impl Recorded {
    /// Takes in one record.
    pub(super) fn push(&mut self, record: Record) {
        match record {
            Record::Started(case) => {
                *self = Recorded {
                    case: Some(case),
                    ..Recorded::default()
                };
            }
            Record::Trace(entry) => self.trace.push(entry),
            Record::Result(result) => self.result = Some(*result),
        }
    }

    /// The result, or — the case's process having ended first — an
    /// `error` saying `why`, with the trace so far.
    pub(super) fn into_result(
        self,
        transport: &Transport,
        spec: &Spec,
        options: &RunOptions,
        why: impl FnOnce() -> String,
    ) -> CaseResult {
        match self.result {
            Some(result) => result,
            None => crate::case::crashed(spec, transport, options, why(), self.trace),
        }
    }
}

/// Runs one case in this process, sending its records to `sink` as they
/// happen. Only one case may run this way at a time in a process: the
/// trace is streamed through a process-wide hook.
pub(super) fn run_recorded(
    transport: &Transport,
    spec: &Spec,
    options: &RunOptions,
    sink: &RecordSink,
) -> CaseResult {
    sink(&Record::Started(super::case_name(
        transport.name(),
        &spec.id,
    )));
    let traced = sink.clone();
    crate::trace::stream_to(Some(Arc::new(move |entry: &TraceEntry| {
        traced(&Record::Trace(entry.clone()));
    })));
    let result = run_case(spec, transport, options);
    crate::trace::stream_to(None);
    sink(&Record::Result(Box::new(result.clone())));
    result
}
