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
//!   snapshots (the [verdict sheets](crate::report::to_verdict_sheet)) if
//!   [`Suite::snapshot_reports`](crate::Suite::snapshot_reports) asked for
//!   them, and prints a summary in which many cases failing the same way
//!   are one line — last, after any snapshot diff.
//! * `STATE_SYNC_CONFORMANCE_HANG_LIMIT=<seconds>` sets the hang limit
//!   ([`RunOptions::hang_limit`](crate::RunOptions::hang_limit)): a case
//!   that makes no progress that long ends as `timeout`.
//! * A failing case prints its failures and its rerun command; its trace
//!   is in the reports, and printed (its last lines) when the run selects
//!   that one case — as its rerun command does — or with
//!   `STATE_SYNC_CONFORMANCE_TRACE=1`.
//! * `STATE_SYNC_CONFORMANCE_STRICT=1` grades SHOULD clauses as MUST
//!   ([`Suite::strict`](crate::Suite::strict)): a case that broke only
//!   SHOULD clauses (`non-strict`) fails instead of being listed.
//! * `STATE_SYNC_CONFORMANCE_BLESS=1` accepts the run in one step: it
//!   rewrites the [known-failures file](crate::known_failures) from the
//!   result (keeping existing reasons and links) and the report snapshots
//!   from the same run (removing any pending `.snap.new`, so a stale one
//!   can never be accepted later), and succeeds. A red run ends with the
//!   command that does it.

use std::io::IsTerminal;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::suite::Suite;
use crate::summary::{self, Style};
use crate::verdict::{CaseResult, SuiteReport, Verdict};

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
/// Environment variable: `1` prints the end of every failing case's trace
/// (by default only a run of one case does).
pub const TRACE_ENV: &str = "STATE_SYNC_CONFORMANCE_TRACE";
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
    /// `file!()` of the test target (where `insta` files its snapshots).
    file: &'static str,
    /// `module_path!()` of the test target (the snapshots' name prefix).
    module: &'static str,
    snapshot: SnapshotFn,
}

impl Target {
    /// Not public API: [`main!`](crate::main) calls it.
    #[doc(hidden)]
    pub fn __from_macro(
        package: &'static str,
        name: &'static str,
        manifest_dir: &'static str,
        (file, module): (&'static str, &'static str),
        snapshot: SnapshotFn,
    ) -> Self {
        Self {
            package,
            name,
            manifest_dir,
            file,
            module,
            snapshot,
        }
    }

    /// The command that runs this target's whole suite with `env` set.
    fn command(&self, env: &str) -> String {
        format!("{env} cargo test -p {} --test {}", self.package, self.name)
    }

    /// The file `insta` keeps snapshot `name` in: `snapshots/` next to the
    /// test target's source, `<module>__<name>.snap` (the test source is
    /// found from the manifest directory up, as `file!()` is relative to
    /// the workspace root).
    fn snapshot_file(&self, name: &str) -> Option<PathBuf> {
        let source = Path::new(self.manifest_dir)
            .ancestors()
            .map(|dir| dir.join(self.file))
            .find(|p| p.is_file())?;
        Some(
            source
                .parent()?
                .join("snapshots")
                .join(format!("{}__{name}.snap", self.module.replace("::", "__"))),
        )
    }

    /// Accepts `contents` as snapshot `name`, in `insta`'s file format, and
    /// removes a pending `.snap.new` of it (a stale one must never be
    /// accepted later).
    fn accept_snapshot(&self, name: &str, contents: &str) -> Result<PathBuf, String> {
        let path = self.snapshot_file(name).ok_or_else(|| {
            format!(
                "cannot find {} to file snapshot `{name}` next to it",
                self.file
            )
        })?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let text = format!(
            "---\nsource: {}\nexpression: contents\n---\n{}\n",
            self.file,
            contents.trim_end()
        );
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        let pending = path.with_extension("snap.new");
        if pending.exists() {
            std::fs::remove_file(&pending).map_err(|e| format!("{}: {e}", pending.display()))?;
        }
        Ok(path)
    }

    /// The command that reruns one case of this target.
    pub(crate) fn rerun(&self, case: &str, seed: u64) -> String {
        format!(
            "{} -- --exact {case}",
            self.command(&format!("{SEED_ENV}={seed}"))
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
    let trace_lines = trace_lines(&args);
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
    let mut trials = Vec::new();
    for (transport, spec) in &plan.cases {
        let name = format!("{}::{}", transport.name(), spec.id);
        let (transport, spec) = (transport.clone(), spec.clone());
        let (options, known, sink) = (suite.options.clone(), plan.known.clone(), collected.clone());
        // Every case runs in its trial (an unsupported one returns at
        // once); libtest shows what did not pass as `ignored` with why.
        let case = move || {
            let result = crate::suite::finish_case(
                crate::case::run_case(&spec, &transport, &options),
                known.as_deref(),
            );
            let outcome = trial_outcome(&result, strict, trace_lines);
            sink.lock().push(result);
            outcome
        };
        trials.push(libtest_mimic::Trial::ignorable_test(name, case));
    }
    if args.filter.is_some() && !trials.iter().any(|t| !args.is_filtered_out(t)) {
        eprintln!(
            "state-sync-conformance: no case matches {:?}{}: `-- --list` lists them (`transport::spec-id`)",
            args.filter.as_deref().unwrap_or_default(),
            if args.exact { " exactly" } else { "" }
        );
        return ExitCode::FAILURE;
    }
    let conclusion = libtest_mimic::run(&args, trials);
    if !selects_everything(&args) {
        if bless {
            eprintln!("state-sync-conformance: {BLESS_ENV} needs a full run: drop the filter");
            return ExitCode::FAILURE;
        }
        return conclusion.exit_code();
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

/// The trial body's answer for one case, with the last `trace_lines` of
/// its trace when it failed. A case that did not pass and does not fail the
/// run is `ignored` with why — unsupported, an expected failure, a SHOULD
/// difference (unless the run is `strict`) — never `ok`.
fn trial_outcome(
    result: &CaseResult,
    strict: bool,
    trace_lines: usize,
) -> Result<libtest_mimic::Completion, libtest_mimic::Failed> {
    use libtest_mimic::Completion;
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

/// How much of a failing case's trace its trial prints: the last
/// [`TRACE_LINES`] when the run selects one case (`--exact`, as the rerun
/// command does) or [`TRACE_ENV`] is `1`; else none (it is in the reports),
/// so that a red run reads in a screen or two.
fn trace_lines(args: &libtest_mimic::Arguments) -> usize {
    let one_case = args.exact && args.filter.is_some();
    if one_case || std::env::var_os(TRACE_ENV).is_some_and(|v| v == "1") {
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
    let sheets: Vec<(String, String)> = if finish.snapshots {
        report
            .transports
            .iter()
            .map(|t| {
                let sheet =
                    crate::report::to_verdict_sheet(&report.only_transport(&t.name).reproducible());
                (format!("report-{}", t.name), sheet)
            })
            .collect()
    } else {
        Vec::new()
    };
    let reports = format!(
        "reports: {}, {}, {}",
        written.json.display(),
        written.markdown.display(),
        written.junit.display()
    );
    if bless {
        println!();
        print!("{}", summary::to_text(report, style));
        println!("{reports}");
        return accept(report, finish, &sheets).map(|()| ExitCode::SUCCESS);
    }
    // The snapshots first (a changed one prints its diff), so that the run
    // ends with the verdict, the grouped failures and what to do.
    let differing: Vec<&str> = sheets
        .iter()
        .filter(|(name, sheet)| {
            let snapshot = finish.target.snapshot;
            catch_unwind(AssertUnwindSafe(|| snapshot(name, sheet))).is_err()
        })
        .map(|(name, _)| name.as_str())
        .collect();
    println!();
    print!("{}", summary::to_text(report, style));
    println!("{reports}");
    let accept_with = finish.target.command(&format!("{BLESS_ENV}=1"));
    for name in &differing {
        let written = if std::env::var_os("CI").is_some() {
            "CI is set: nothing was written"
        } else {
            "the new one is in a `.snap.new` beside it"
        };
        println!("report snapshot `{name}` differs from the run ({written})");
    }
    let ok = report.summary.ok && differing.is_empty();
    if !ok {
        let what = match (finish.known_failures.is_some(), finish.snapshots) {
            (true, true) => "the known-failures file and the report snapshots",
            (true, false) => "the known-failures file",
            (false, true) => "the report snapshots",
            (false, false) => "",
        };
        if !what.is_empty() {
            println!("to accept this run as it is ({what}), run: {accept_with}");
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The accept step ([`BLESS_ENV`]): the known-failures file and the report
/// snapshots both take this run's results, in one go.
fn accept(
    report: &SuiteReport,
    finish: &Finish<'_>,
    sheets: &[(String, String)],
) -> Result<(), String> {
    if finish.known_failures.is_none() && sheets.is_empty() {
        return Err(format!(
            "{BLESS_ENV} is set but the suite keeps neither a known-failures file nor report snapshots: add `.known_failures(\"tests/known-failures.json\")` or `.snapshot_reports()`"
        ));
    }
    if let Some(path) = finish.known_failures {
        let said =
            crate::known_failures::bless_file(path, &report.cases).map_err(|e| e.to_string())?;
        println!("{said}");
    }
    for (name, sheet) in sheets {
        let path = finish.target.accept_snapshot(name, sheet)?;
        println!("accepted report snapshot `{name}`: {}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Target;

    #[test]
    fn accepting_writes_insta_s_file_and_drops_a_stale_pending_one() {
        let dir = std::env::temp_dir().join(format!("ssc-accept-{}", std::process::id()));
        let snapshots = dir.join("tests/snapshots");
        std::fs::create_dir_all(&snapshots).expect("dirs");
        std::fs::write(dir.join("tests/conformance.rs"), "// the test target\n").expect("source");
        let stale = snapshots.join("conformance__report-t.snap.new");
        std::fs::write(&stale, "an older run").expect("stale");
        let manifest: &'static str = Box::leak(dir.to_string_lossy().into_owned().into_boxed_str());
        let target = Target::__from_macro(
            "p",
            "conformance",
            manifest,
            ("tests/conformance.rs", "conformance"),
            |_, _| {},
        );
        let path = target
            .accept_snapshot("report-t", "pass  t::a\n")
            .expect("accepted");
        assert_eq!(path, snapshots.join("conformance__report-t.snap"));
        assert_eq!(
            std::fs::read_to_string(&path).expect("written"),
            "---\nsource: tests/conformance.rs\nexpression: contents\n---\npass  t::a\n"
        );
        assert!(
            !stale.exists(),
            "a stale .snap.new must not survive the accept"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
