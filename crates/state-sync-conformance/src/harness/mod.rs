//! The `cargo test` harness: every (transport, spec) case, each in a
//! worker process, then — on a full run — the reports, the report
//! snapshots and the accept step, from the same single run of the corpus.
//!
//! Use it through [`main!`](crate::main) in a test target declared with
//! `harness = false`:
//!
//! ```toml
//! [[test]]
//! name = "conformance"
//! harness = false
//! ```
//!
//! ```no_run
//! // tests/conformance.rs
//! use state_sync_conformance::{Suite, reference};
//!
//! state_sync_conformance::main!(Suite::new().transport(reference::memory()).snapshot_reports());
//! ```
//!
//! Without `harness = false`, the target does not compile: the macro turns
//! the mistake (which would otherwise run zero tests and pass) into an error
//! that says what to add.
//!
//! # What a run does
//!
//! * **A full run** (`cargo test`, no filter) runs every case in worker
//!   processes — copies of the test binary, one case at a time each, one
//!   per core — printing a character per case (`.` pass, `F` fails the
//!   run, `i` ignored: unsupported, an expected failure, a SHOULD
//!   difference). It writes `report.json`, `report.md` and `junit.xml`
//!   (into [`REPORTS_ENV`], or `target/state-sync-conformance/<target>/`),
//!   checks the report snapshots if
//!   [`Suite::snapshot_reports`](crate::Suite::snapshot_reports) asked for
//!   them (printing only the changed lines), and ends with the verdict
//!   line, the failures grouped (each group with its clause, its reason
//!   and the command that reruns its first case) and, on a red run, the
//!   command that accepts it.
//! * **A crash is one case.** A case that takes its process down (a stack
//!   overflow on a transport's thread, an abort, a `std::process::exit`)
//!   is that case's `error`, naming the signal, with its trace so far; the
//!   run goes on. A panic on any thread is charged to the case whose
//!   worker it happened in — one case per worker, so never to a bystander.
//! * **Selecting cases** (a filter, `--exact`, `--skip`, `--ignored`) or
//!   asking for libtest's `--format` runs libtest's way: one trial per case
//!   named `transport::spec-id`, `--list` lists them; cases that did not
//!   pass and do not fail the run are `ignored` with the reason, never
//!   `ok`; a filter matching no case exits 1. Several selected cases run in
//!   workers; one case (`--exact`, as every rerun command does) runs in
//!   the test process itself, where a debugger can follow it, and prints
//!   the end of its trace.
//! * **cargo-nextest** runs each case in a process of its own; each writes
//!   its record for the merge step, which then does what a full run does
//!   after the cases: `STATE_SYNC_CONFORMANCE_MERGE=1 cargo test -p <package>
//!   --test <target>` ([`MERGE_ENV`]). Records of several `--partition`s
//!   merge when their `nextest/` folders (under the reports folder) are
//!   copied together; the newest record of a case wins.
//! * A failing case's rerun command sets its seed:
//!   `STATE_SYNC_CONFORMANCE_SEED=… cargo test -p <package> --test <target> -- --exact <name>`.
//! * [`HANG_LIMIT_ENV`]`=<seconds>` sets the hang limit
//!   ([`RunOptions::hang_limit`](crate::RunOptions::hang_limit)).
//! * [`TRACE_ENV`]`=1` prints the end of every failing case's trace in
//!   runs that select cases.
//! * [`STRICT_ENV`]`=1` grades SHOULD clauses as MUST
//!   ([`Suite::strict`](crate::Suite::strict)).
//! * [`BLESS_ENV`]`=1` accepts the run in one step: it rewrites the
//!   [known-failures file](crate::known_failures) from the result (keeping
//!   existing reasons and links) and the report snapshots from the same run
//!   (removing any pending `.snap.new`, so a stale one can never be
//!   accepted later), and succeeds. With [`MERGE_ENV`] it accepts the
//!   merged run.
//!
//! Exit codes: 0 when the run conforms (and every snapshot matched), 1
//! otherwise — an unexpected verdict, a differing snapshot, a filter that
//! matches nothing, a harness misconfigured (no transport, a bad spec or
//! known-failures file), a merge missing cases.

use crate::service::Running;

mod finish;
mod full_run;
mod nextest;
mod record;
mod snapshots;
mod target;
mod trials;
mod workers;

use std::process::ExitCode;
use std::sync::Arc;

use self::finish::Finish;
use self::snapshots::Snapshots;
pub use self::target::Target;
use self::trials::Runner;
use crate::suite::Suite;

/// Environment variable: run every case with this seed.
pub const SEED_ENV: &str = "STATE_SYNC_CONFORMANCE_SEED";
/// Environment variable: `1` accepts the run (the known-failures file and
/// the report snapshots).
pub const BLESS_ENV: &str = "STATE_SYNC_CONFORMANCE_BLESS";
/// Environment variable: where a full run writes its reports.
pub const REPORTS_ENV: &str = "STATE_SYNC_CONFORMANCE_REPORTS";
/// Environment variable: the hang limit in seconds
/// ([`RunOptions::hang_limit`](crate::RunOptions::hang_limit)).
pub const HANG_LIMIT_ENV: &str = "STATE_SYNC_CONFORMANCE_HANG_LIMIT";
/// Environment variable: `1` grades SHOULD clauses as MUST
/// ([`Suite::strict`](crate::Suite::strict)).
pub const STRICT_ENV: &str = "STATE_SYNC_CONFORMANCE_STRICT";
/// Environment variable: `1` prints the end of every failing case's trace
/// (by default only a run of one case does).
pub const TRACE_ENV: &str = "STATE_SYNC_CONFORMANCE_TRACE";
/// Environment variable: `1` finishes a run that cargo-nextest made, from
/// the records its processes wrote, instead of running cases.
pub const MERGE_ENV: &str = "STATE_SYNC_CONFORMANCE_MERGE";
/// How many trace lines a failing trial prints.
const TRACE_LINES: usize = 30;

impl Suite {
    /// The `cargo test` entry point; use [`main!`](crate::main), which
    /// makes the [`Target`].
    pub fn harness(self, target: Target) -> ExitCode {
        match run(self, &target) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("state-sync-conformance: {e}");
                ExitCode::FAILURE
            }
        }
    }
}

/// Reads the harness's environment variables into `suite`.
fn configure(suite: &mut Suite, target: &Target) -> Result<(), String> {
    let rerun_target = target.clone();
    suite.options.rerun = Arc::new(move |transport, spec, seed| {
        rerun_target.rerun(&case_name(transport, spec), seed)
    });
    if let Ok(seed) = std::env::var(SEED_ENV) {
        let seed = seed
            .trim()
            .parse()
            .map_err(|_| format!("{SEED_ENV}: {seed:?} is not a seed (a u64)"))?;
        suite.options.seed = Some(seed);
    }
    if let Ok(limit) = std::env::var(HANG_LIMIT_ENV) {
        suite.options.hang_limit =
            crate::case::parse_seconds(&limit).map_err(|e| format!("{HANG_LIMIT_ENV}: {e}"))?;
    }
    if is_set(STRICT_ENV) {
        suite.strict = true;
    }
    Ok(())
}

/// A case's name, `transport::spec-id`: its trial, its record, its rerun.
pub(super) fn case_name(transport: &str, spec: &str) -> String {
    format!("{transport}::{spec}")
}

/// A pool of worker processes (their environment: the running services'
/// addresses), or why there can be none.
fn pool(services: &Running) -> Result<workers::Pool, String> {
    workers::Pool::new(services.env())
        .map_err(|e| format!("cannot find the test binary to run cases in: {e}"))
}

/// Whether environment variable `name` is `1`.
fn is_set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| v == "1")
}

/// Runs `suite` as the test harness of `target` (see the module docs).
fn run(mut suite: Suite, target: &Target) -> Result<ExitCode, String> {
    configure(&mut suite, target)?;
    if std::env::var_os(workers::WORKER_ENV).is_some() {
        let plan = suite.plan(true).map_err(|e| e.to_string())?;
        // The services run in the process that started the worker: their
        // addresses are in the environment.
        let _services = plan.services();
        return Ok(workers::serve(&plan, &suite.options));
    }
    let args = libtest_mimic::Arguments::from_args();
    let (bless, merge, strict) = (is_set(BLESS_ENV), is_set(MERGE_ENV), suite.strict);
    let plan = suite.plan(bless).map_err(|e| e.to_string())?;
    if plan.cases.is_empty() {
        return Err("zero cases: the corpus has no specs".to_owned());
    }
    let full = selects_everything(&args);
    if bless && !full {
        return Err(format!(
            "{BLESS_ENV} accepts a whole run: drop the filter (under cargo-nextest, accept with the merge step: {BLESS_ENV}=1 {MERGE_ENV}=1 {})",
            target.command("")
        ));
    }
    let finish = Finish {
        suite: &suite,
        plan: &plan,
        target,
        snapshots: suite.snapshot_reports.then_some(Snapshots {
            target,
            dir: suite.snapshot_dir.as_deref(),
        }),
    };
    if merge {
        if !full {
            return Err(format!("{MERGE_ENV} merges a whole run: drop the filter"));
        }
        let (results, said) = nextest::merge(&plan, &suite.options, &target.reports_dir())?;
        println!("{said}");
        return finish::finish(&results, &finish, bless);
    }
    let nextest_run = nextest::run_id();
    if full && args.format.is_none() && nextest_run.is_none() {
        let services = plan.services();
        let parallel = full_run::parallelism(&plan, args.test_threads);
        let results = full_run::run(&plan, &suite.options, &pool(&services)?, parallel, strict);
        drop(services);
        return finish::finish(&results, &finish, bless);
    }
    let selected = plan
        .cases
        .iter()
        .filter(|(t, s)| {
            let probe = libtest_mimic::Trial::test(case_name(t.name(), &s.id), || Ok(()));
            !args.is_filtered_out(&probe)
        })
        .count();
    if selected == 0 && !args.list {
        return Err(format!(
            "no case matches {:?}{}{}: `-- --list` lists them (`transport::spec-id`)",
            args.filter.as_deref().unwrap_or_default(),
            if args.exact { " exactly" } else { "" },
            if args.ignored {
                " among ignored ones (no case is ignored before it runs: its trial says why it was not run)"
            } else {
                ""
            }
        ));
    }
    // Listing runs nothing: no service is started for it.
    let services = if args.list {
        Running::none()
    } else {
        plan.services()
    };
    let runner = match nextest_run {
        Some(run_id) => Runner::Nextest {
            reports: target.reports_dir(),
            run_id,
        },
        None if selected <= 1 || args.list => Runner::InProcess,
        None => Runner::Workers(Arc::new(pool(&services)?)),
    };
    let collected = trials::Collected::default();
    let all = trials::trials(
        &plan,
        &suite.options,
        strict,
        trace_lines(&args),
        &runner,
        &collected,
    );
    let conclusion = libtest_mimic::run(&args, all);
    drop(services);
    if !full || args.list {
        return Ok(conclusion.exit_code());
    }
    // A full run in libtest's way (`--format`): finish it as well.
    let mut results = std::mem::take(&mut *collected.lock());
    results.sort_by_key(|(i, _)| *i);
    let results: Vec<_> = results.into_iter().map(|(_, r)| r).collect();
    let code = finish::finish(&results, &finish, bless)?;
    Ok(if conclusion.has_failed() && !bless {
        ExitCode::FAILURE
    } else {
        code
    })
}

/// How much of a failing case's trace its trial prints: the last
/// [`TRACE_LINES`] when the run selects one case (`--exact`, as the rerun
/// command does) or [`TRACE_ENV`] is `1`; else none (it is in the reports),
/// so that a red run reads in a screen or two.
fn trace_lines(args: &libtest_mimic::Arguments) -> usize {
    let one_case = args.exact && args.filter.is_some();
    if one_case || is_set(TRACE_ENV) {
        TRACE_LINES
    } else {
        0
    }
}

/// Whether the arguments run every trial (and only them).
fn selects_everything(args: &libtest_mimic::Arguments) -> bool {
    args.filter.is_none()
        && args.skip.is_empty()
        && !args.ignored
        && !args.include_ignored
        && !args.list
}
