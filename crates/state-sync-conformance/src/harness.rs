//! The `cargo test` harness: one libtest trial per (transport, spec), then,
//! on a full run, the reports, the report snapshots and the known-failures
//! blessing — from the same single run of the corpus.
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
//! * Every case is a trial named `transport::spec-id`; libtest's arguments
//!   work as usual (`--list`, a filter, `--exact`, `--skip`), and so does
//!   cargo-nextest, which runs each trial in its own process (and shards a
//!   large matrix with `--partition`).
//! * A case whose spec needs a capability the transport does not claim is
//!   an ignored trial; the summary after libtest's output names the missing
//!   capability.
//! * A failing trial prints its failures, the last lines of its trace and
//!   the command that reruns it with its seed:
//!   `STATE_SYNC_CONFORMANCE_SEED=… cargo test -p <package> --test <target> -- --exact <name>`.
//! * When every case ran (no filter), the harness also writes `report.json`,
//!   `report.md` and `junit.xml` (into `STATE_SYNC_CONFORMANCE_REPORTS`, or
//!   `target/state-sync-conformance/<target>/`), checks the report
//!   snapshots if [`Suite::snapshot_reports`](crate::Suite::snapshot_reports)
//!   asked for them, and prints a summary in which many cases failing the
//!   same way are one line.
//! * `STATE_SYNC_CONFORMANCE_HANG_LIMIT=<seconds>` sets the hang limit
//!   ([`RunOptions::hang_limit`](crate::RunOptions::hang_limit)): a case
//!   that makes no progress that long ends as `timeout`.
//! * `STATE_SYNC_CONFORMANCE_STRICT=1` grades SHOULD clauses as MUST
//!   ([`Suite::strict`](crate::Suite::strict)): a case that broke only
//!   SHOULD clauses (`non-strict`) fails instead of being listed.
//! * `STATE_SYNC_CONFORMANCE_BLESS=1` rewrites the
//!   [known-failures file](crate::known_failures) from the result, keeping
//!   existing reasons and links, and succeeds.

use std::io::IsTerminal;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::suite::Suite;
use crate::summary::{self, Style};
use crate::verdict::{CaseResult, SuiteReport};

/// Environment variable: run every case with this seed.
pub const SEED_ENV: &str = "STATE_SYNC_CONFORMANCE_SEED";
/// Environment variable: `1` rewrites the known-failures file from the run.
pub const BLESS_ENV: &str = "STATE_SYNC_CONFORMANCE_BLESS";
/// Environment variable: where a full run writes its reports.
pub const REPORTS_ENV: &str = "STATE_SYNC_CONFORMANCE_REPORTS";
/// Environment variable: the hang limit in seconds
/// ([`RunOptions::hang_limit`](crate::RunOptions::hang_limit)).
pub const HANG_LIMIT_ENV: &str = "STATE_SYNC_CONFORMANCE_HANG_LIMIT";
/// Environment variable: `1` grades SHOULD clauses as MUST
/// ([`Suite::strict`](crate::Suite::strict)).
pub const STRICT_ENV: &str = "STATE_SYNC_CONFORMANCE_STRICT";
/// How many trace lines a failing trial prints.
const TRACE_LINES: usize = 30;

/// Asserts one snapshot: `(name, contents)`. Built by [`main!`](crate::main)
/// in the test target, so that `insta` files the snapshot next to it.
pub type SnapshotFn = fn(&str, &str);

/// The test target a harness runs in. Made by [`main!`](crate::main).
#[derive(Debug, Clone)]
pub struct Target {
    package: &'static str,
    name: &'static str,
    manifest_dir: &'static str,
    snapshot: SnapshotFn,
}

impl Target {
    /// Not public API: [`main!`](crate::main) calls it.
    #[doc(hidden)]
    pub fn __from_macro(
        package: &'static str,
        name: &'static str,
        manifest_dir: &'static str,
        snapshot: SnapshotFn,
    ) -> Self {
        Self {
            package,
            name,
            manifest_dir,
            snapshot,
        }
    }

    /// The command that reruns one case of this target.
    pub(crate) fn rerun(&self, case: &str, seed: u64) -> String {
        format!(
            "{SEED_ENV}={seed} cargo test -p {} --test {} -- --exact {case}",
            self.package, self.name
        )
    }

    /// Where a full run writes its reports.
    fn reports_dir(&self) -> PathBuf {
        if let Some(dir) = std::env::var_os(REPORTS_ENV) {
            return PathBuf::from(dir);
        }
        // The test binary is `<target-dir>/<profile>/deps/<name>-<hash>`.
        let target_dir = std::env::current_exe().ok().and_then(|exe| {
            exe.ancestors()
                .find(|p| p.file_name().is_some_and(|n| n == "deps"))
                .and_then(Path::parent)
                .and_then(Path::parent)
                .map(Path::to_path_buf)
        });
        target_dir
            .unwrap_or_else(|| Path::new(self.manifest_dir).join("target"))
            .join("state-sync-conformance")
            .join(self.name)
    }
}

impl Suite {
    /// The `cargo test` entry point; use [`main!`](crate::main), which
    /// makes the [`Target`].
    pub fn harness(self, target: Target) -> ExitCode {
        run(self, target)
    }
}

/// Runs `suite` as the test harness of `target` (see the module docs).
fn run(mut suite: Suite, target: Target) -> ExitCode {
    let args = libtest_mimic::Arguments::from_args();
    let rerun_target = target.clone();
    suite.options.rerun = Arc::new(move |transport, spec, seed| {
        rerun_target.rerun(&format!("{transport}::{spec}"), seed)
    });
    if let Some(seed) = std::env::var(SEED_ENV).ok().and_then(|s| s.parse().ok()) {
        suite.options.seed = Some(seed);
    }
    if let Ok(limit) = std::env::var(HANG_LIMIT_ENV) {
        match crate::case::parse_seconds(&limit) {
            Ok(limit) => suite.options.hang_limit = limit,
            Err(e) => {
                eprintln!("state-sync-conformance: {HANG_LIMIT_ENV}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if std::env::var_os(STRICT_ENV).is_some_and(|v| v == "1") {
        suite.strict = true;
    }
    let strict = suite.strict;
    let bless = std::env::var_os(BLESS_ENV).is_some_and(|v| v == "1");
    let plan = match suite.plan(bless) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("state-sync-conformance: {e}");
            return ExitCode::FAILURE;
        }
    };
    if plan.cases.is_empty() {
        eprintln!("state-sync-conformance: zero cases: the corpus has no specs");
        return ExitCode::FAILURE;
    }
    let collected: Arc<Mutex<Vec<CaseResult>>> = Arc::default();
    let mut unsupported = Vec::new();
    let mut trials = Vec::new();
    for (transport, spec) in &plan.cases {
        let name = format!("{}::{}", transport.name(), spec.id);
        let missing = !transport.capabilities().missing(&spec.requires).is_empty();
        let (transport, spec) = (transport.clone(), spec.clone());
        let (options, known, sink) = (suite.options.clone(), plan.known.clone(), collected.clone());
        let case = move || {
            let result = crate::suite::finish_case(
                crate::case::run_case(&spec, &transport, &options),
                known.as_deref(),
            );
            let outcome = trial_outcome(&result, strict);
            sink.lock().push(result);
            outcome
        };
        if missing {
            // Not run by libtest (ignored); its result is known already.
            unsupported.push(case.clone());
        }
        trials.push(libtest_mimic::Trial::test(name, case).with_ignored_flag(missing));
    }
    let conclusion = libtest_mimic::run(&args, trials);
    if !selects_everything(&args) {
        if bless {
            eprintln!("state-sync-conformance: {BLESS_ENV} needs a full run: drop the filter");
            return ExitCode::FAILURE;
        }
        return conclusion.exit_code();
    }
    for case in unsupported {
        // An unsupported case returns at once, without running anything.
        let _ = case();
    }
    let report = suite.report(&plan, std::mem::take(&mut *collected.lock()));
    let finish = Finish {
        target: &target,
        snapshots: suite.snapshot_reports,
        known_failures: suite.known_failures.as_deref(),
    };
    match finish_full_run(&report, &finish, bless) {
        // Blessing accepts the failures libtest just reported.
        Ok(_) if !bless && conclusion.has_failed() => ExitCode::FAILURE,
        Ok(code) => code,
        Err(e) => {
            eprintln!("state-sync-conformance: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The trial body's answer for one case (a SHOULD difference passes,
/// unless the run is `strict`; the summary lists it).
fn trial_outcome(result: &CaseResult, strict: bool) -> Result<(), libtest_mimic::Failed> {
    if result.verdict.is_unexpected_in(strict) {
        Err(result.explain_brief(TRACE_LINES).into())
    } else {
        Ok(())
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

/// What the finishing step needs to know.
struct Finish<'a> {
    target: &'a Target,
    snapshots: bool,
    known_failures: Option<&'a Path>,
}

/// After libtest, on a full run: the reports, the grouped summary, then
/// either the blessing or the snapshots. The code says whether the run
/// conforms and every snapshot matched.
fn finish_full_run(
    report: &SuiteReport,
    finish: &Finish<'_>,
    bless: bool,
) -> Result<ExitCode, String> {
    let written = crate::report::write_reports(report, &finish.target.reports_dir())
        .map_err(|e| e.to_string())?;
    let style = Style::detect(std::io::stdout().is_terminal());
    println!();
    print!("{}", summary::to_text(report, style));
    println!(
        "reports: {}, {}, {}",
        written.json.display(),
        written.markdown.display(),
        written.junit.display()
    );
    if bless {
        let Some(path) = finish.known_failures else {
            return Err(format!(
                "{BLESS_ENV} is set but the suite has no known-failures file: add `.known_failures(\"tests/known-failures.json\")`"
            ));
        };
        let said =
            crate::known_failures::bless_file(path, &report.cases).map_err(|e| e.to_string())?;
        println!("{said}");
        return Ok(ExitCode::SUCCESS);
    }
    let mut ok = report.summary.ok;
    if finish.snapshots {
        for transport in &report.transports {
            let name = format!("report-{}", transport.name);
            let json =
                crate::report::to_json(&report.only_transport(&transport.name).reproducible());
            let snapshot = finish.target.snapshot;
            if catch_unwind(AssertUnwindSafe(|| snapshot(&name, &json))).is_err() {
                println!("report snapshot `{name}` differs: review it with `cargo insta review`");
                ok = false;
            }
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
