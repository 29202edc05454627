//! libtest's way of running: one trial per case, for runs that select
//! cases (a filter, `--exact`, `--skip`, `--ignored`), ask for libtest's
//! `--format`, list (`--list`), or run under cargo-nextest.

use std::path::PathBuf;
use std::sync::Arc;

use libtest_mimic::{Completion, Failed, Trial};
use parking_lot::Mutex;

use super::nextest;
use super::record::run_recorded;
use super::workers::Pool;
use crate::case::{RunOptions, run_case};
use crate::suite::{Plan, finish_case};
use crate::verdict::{CaseResult, Verdict};

/// Where a trial runs its case.
#[derive(Clone)]
pub(super) enum Runner {
    /// In this process (a run of one case, which a debugger can follow).
    InProcess,
    /// In this process, its records written for the merge step: the
    /// process is one nextest started for this case alone.
    Nextest {
        /// The reports folder.
        reports: PathBuf,
        /// The nextest run.
        run_id: String,
    },
    /// In a worker process (crash isolation).
    Workers(Arc<Pool>),
}

impl Runner {
    fn run(
        &self,
        transport: &crate::Transport,
        spec: &crate::Spec,
        options: &RunOptions,
    ) -> CaseResult {
        match self {
            Runner::InProcess => run_case(spec, transport, options),
            Runner::Nextest { reports, run_id } => {
                let name = super::case_name(transport.name(), &spec.id);
                match nextest::recorder(reports, run_id, &name) {
                    Ok(sink) => run_recorded(transport, spec, options, &sink),
                    Err(e) => {
                        eprintln!(
                            "state-sync-conformance: cannot keep the case's record for the merge step: {e}"
                        );
                        run_case(spec, transport, options)
                    }
                }
            }
            Runner::Workers(pool) => pool.run(transport, spec, options),
        }
    }
}

/// Raw results of the trials that ran, with their place in the plan.
pub(super) type Collected = Arc<Mutex<Vec<(usize, CaseResult)>>>;

/// One trial per case of `plan`.
pub(super) fn trials(
    plan: &Plan,
    options: &RunOptions,
    strict: bool,
    trace_lines: usize,
    runner: &Runner,
    collected: &Collected,
) -> Vec<Trial> {
    plan.cases
        .iter()
        .enumerate()
        .map(|(i, (transport, spec))| {
            let name = super::case_name(transport.name(), &spec.id);
            let (transport, spec) = (transport.clone(), spec.clone());
            let (options, known) = (options.clone(), plan.known.clone());
            let (runner, sink) = (runner.clone(), collected.clone());
            // Every case runs in its trial (an unsupported one returns at
            // once); libtest shows what did not pass as `ignored` with why.
            Trial::ignorable_test(name, move || {
                let raw = runner.run(&transport, &spec, &options);
                let result = finish_case(raw.clone(), known.as_deref());
                let outcome = outcome(&result, strict, trace_lines);
                sink.lock().push((i, raw));
                outcome
            })
        })
        .collect()
}

/// The trial body's answer for one case, with the last `trace_lines` of
/// its trace when it failed. A case that did not pass and does not fail the
/// run is `ignored` with why — unsupported, an expected failure, a SHOULD
/// difference (unless the run is `strict`) — never `ok`.
fn outcome(result: &CaseResult, strict: bool, trace_lines: usize) -> Result<Completion, Failed> {
    if result.verdict.is_unexpected_in(strict) {
        return Err(result.explain_brief(trace_lines).into());
    }
    Ok(match result.verdict {
        Verdict::Unsupported => Completion::ignored_with(format!(
            "unsupported: missing {}",
            result.missing.join(", ")
        )),
        Verdict::ExpectedFail => Completion::ignored_with(format!(
            "expected failure: {}",
            result.known_failure.as_deref().unwrap_or("listed")
        )),
        Verdict::NonStrict => Completion::ignored_with(format!(
            "non-strict: broke only {} (a SHOULD difference, listed)",
            result.broken_clauses.join(", ")
        )),
        _ => Completion::Completed,
    })
}
