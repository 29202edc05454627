//! A suite: transports × specs, run as a whole (for reports) or as one
//! `cargo test` trial per case ([`main!`](crate::main), see
//! [`harness`](crate::harness)).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use crate::case::{RunOptions, run_case};
use crate::corpus::{Corpus, SUITE_VERSION, SpecErrors};
use crate::known_failures::{KnownFailures, KnownFailuresError};
use crate::spec::Spec;
use crate::transport::Transport;
use crate::verdict::{CaseResult, SuiteReport, TransportInfo, Verdict};

/// Why a suite could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SuiteError {
    /// A spec file is malformed, or two share an id.
    #[error("{0}")]
    Specs(#[from] SpecErrors),
    /// The known-failures file is malformed or names a missing spec.
    #[error("{0}")]
    KnownFailures(#[from] KnownFailuresError),
    /// No transport was added.
    #[error("no transport: add one with `Suite::transport`")]
    NoTransport,
    /// A transport's name cannot be used, or two transports share one.
    #[error("{0}")]
    TransportName(String),
}

/// Progress of a run, reported after each case.
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    /// The case that just finished.
    pub case: &'a CaseResult,
    /// Cases finished so far, this one included.
    pub done: usize,
    /// Cases in the run.
    pub total: usize,
}

type ProgressFn = dyn Fn(Progress<'_>) + Send + Sync;

/// Transports, specs and options.
///
/// ```no_run
/// use state_sync_conformance::{Suite, reference, report};
///
/// let result = Suite::new().transport(reference::memory()).run().expect("suite runs");
/// assert!(result.summary.ok, "{}", report::to_markdown(&result));
/// ```
///
/// As a `cargo test` harness, see [`main!`](crate::main).
pub struct Suite {
    transports: Vec<Transport>,
    spec_dirs: Vec<PathBuf>,
    embedded: bool,
    pub(crate) known_failures: Option<PathBuf>,
    pub(crate) options: RunOptions,
    pub(crate) snapshot_reports: bool,
    pub(crate) snapshot_dir: Option<PathBuf>,
    pub(crate) strict: bool,
    progress: Option<Arc<ProgressFn>>,
}

impl Default for Suite {
    fn default() -> Self {
        Self::new()
    }
}

/// The cases of one run, with what they need.
pub(crate) struct Plan {
    pub(crate) cases: Vec<(Transport, Spec)>,
    pub(crate) known: Option<Arc<KnownFailures>>,
    coverage: std::collections::BTreeMap<String, Vec<String>>,
}

impl Plan {
    /// Starts the services the planned cases need; they run while the
    /// value is held.
    pub(crate) fn services(&self) -> crate::service::Running {
        crate::service::Running::start(self.cases.iter().flat_map(|(t, _)| t.services()))
    }
}

impl Suite {
    /// The embedded corpus, no transport yet.
    pub fn new() -> Self {
        Self {
            transports: Vec::new(),
            spec_dirs: Vec::new(),
            embedded: true,
            known_failures: None,
            options: RunOptions::default(),
            snapshot_reports: false,
            snapshot_dir: None,
            strict: false,
            progress: None,
        }
    }

    /// Adds a transport to test.
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transports.push(transport);
        self
    }

    /// Adds the reference transports (memory, channel, tauri-mock).
    pub fn reference_transports(mut self) -> Self {
        self.transports.extend(crate::reference::all());
        self
    }

    /// Adds an engine in another process to test, through its driver
    /// (`docs/driver-protocol.md`): every spec runs with the driver's
    /// engines over the memory transport, named after the driver's
    /// handshake. A driver that does not start gives `error` cases.
    pub fn driver(mut self, driver: crate::driver::Driver) -> Self {
        let name = driver.subject_name();
        self.transports
            .push(crate::reference::memory().renamed(name).with_driver(driver));
        self
    }

    /// Grades SHOULD clauses as MUST: a `non-strict` case (one that broke
    /// only SHOULD clauses, listed but not failed by default) fails the
    /// run. The CLI's `--strict`; the test harness's
    /// [`STRICT_ENV`](crate::harness::STRICT_ENV).
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Adds every spec file under `dir` to the corpus.
    pub fn specs_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.spec_dirs.push(dir.into());
        self
    }

    /// Leaves out the embedded corpus (only `specs_dir` folders run).
    pub fn without_embedded_specs(mut self) -> Self {
        self.embedded = false;
        self
    }

    /// Reads expected failures from a JSON file (see
    /// [`crate::known_failures`]). The harness rewrites it when
    /// `STATE_SYNC_CONFORMANCE_BLESS=1` is set.
    pub fn known_failures(mut self, path: impl Into<PathBuf>) -> Self {
        self.known_failures = Some(path.into());
        self
    }

    /// Runs every case with this seed instead of the specs' own.
    pub fn seed(mut self, seed: u64) -> Self {
        self.options.seed = Some(seed);
        self
    }

    /// Replaces the run options.
    pub fn options(mut self, options: RunOptions) -> Self {
        self.options = options;
        self
    }

    /// In the test harness: after a full run, check each transport's
    /// [verdict sheet](crate::report::to_verdict_sheet) — one line per
    /// case: verdict, clauses, failure headline — against its snapshot
    /// `report-<transport>`, kept in `insta`'s file format in
    /// `tests/snapshots/` next to the test target (`cargo insta review`
    /// works on a pending one). A difference fails the run and prints the
    /// changed lines; `STATE_SYNC_CONFORMANCE_BLESS=1` accepts it together
    /// with the known-failures file.
    pub fn snapshot_reports(mut self) -> Self {
        self.snapshot_reports = true;
        self
    }

    /// Like [`snapshot_reports`](Self::snapshot_reports), keeping the
    /// snapshots in `dir` instead of next to the test target.
    pub fn snapshot_reports_in(mut self, dir: impl Into<PathBuf>) -> Self {
        self.snapshot_reports = true;
        self.snapshot_dir = Some(dir.into());
        self
    }

    /// Calls `f` after every case of [`run`](Self::run) and
    /// [`run_filtered`](Self::run_filtered) (from the worker threads).
    pub fn on_progress(mut self, f: impl Fn(Progress<'_>) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }

    /// The transports added so far.
    pub fn transports(&self) -> &[Transport] {
        &self.transports
    }

    /// Loads and checks the corpus.
    pub fn corpus(&self) -> Result<Corpus, SpecErrors> {
        let mut corpus = if self.embedded {
            Corpus::embedded()?
        } else {
            Corpus::default()
        };
        for dir in &self.spec_dirs {
            corpus.merge(Corpus::load_dir(dir)?)?;
        }
        Ok(corpus)
    }

    /// Everything a run needs, checked: transports, corpus, known failures
    /// (a missing file counts as empty when `creating` it).
    pub(crate) fn plan(&self, creating: bool) -> Result<Plan, SuiteError> {
        if self.transports.is_empty() {
            return Err(SuiteError::NoTransport);
        }
        let mut names = BTreeSet::new();
        for t in &self.transports {
            t.check_name().map_err(SuiteError::TransportName)?;
            if !names.insert(t.name()) {
                return Err(SuiteError::TransportName(format!(
                    "two transports are named {:?}: give each its own name",
                    t.name()
                )));
            }
        }
        let corpus = self.corpus()?;
        let known = match &self.known_failures {
            Some(path) if creating && !path.exists() => None,
            Some(path) => {
                let known = KnownFailures::load(path)?;
                known.validate(corpus.specs().iter().map(|s| s.spec.id.as_str()))?;
                Some(Arc::new(known))
            }
            None => None,
        };
        let cases = self
            .transports
            .iter()
            .flat_map(|t| corpus.specs().iter().map(|s| (t.clone(), s.spec.clone())))
            .collect();
        Ok(Plan {
            cases,
            known,
            coverage: corpus.coverage(),
        })
    }

    /// The report of `results`, the cases of `plan` that ran.
    pub(crate) fn report(&self, plan: &Plan, results: Vec<CaseResult>) -> SuiteReport {
        SuiteReport::new(
            SUITE_VERSION,
            self.transports.iter().map(info).collect(),
            results,
            plan.coverage.clone(),
        )
        .graded(self.strict)
    }

    /// Runs the cases `keep(transport name, spec)` selects and builds the
    /// report.
    pub fn run_filtered(
        &self,
        keep: impl Fn(&str, &Spec) -> bool,
    ) -> Result<SuiteReport, SuiteError> {
        let mut plan = self.plan(false)?;
        plan.cases.retain(|(t, s)| keep(t.name(), s));
        let _services = plan.services();
        let results = run_parallel(
            &plan.cases,
            &self.options,
            plan.known.as_deref(),
            self.progress.as_deref(),
        );
        Ok(self.report(&plan, results))
    }

    /// Runs every case and builds the report.
    pub fn run(&self) -> Result<SuiteReport, SuiteError> {
        self.run_filtered(|_, _| true)
    }
}

fn info(t: &Transport) -> TransportInfo {
    TransportInfo {
        name: t.name().to_owned(),
        capabilities: t
            .capabilities()
            .names()
            .into_iter()
            .map(str::to_owned)
            .collect(),
        driver: t.driver().map(|d| match d.info() {
            Ok(info) => info.describe(),
            Err(_) => format!("`{}` (did not start)", d.argv().join(" ")),
        }),
    }
}

/// The verdict of a raw result once the known-failures file is applied.
pub(crate) fn finished_verdict(result: &CaseResult, known: Option<&KnownFailures>) -> Verdict {
    let entry = known.and_then(|k| k.lookup(&result.transport, &result.spec));
    KnownFailures::adjust(result.verdict, entry)
}

/// Applies the known-failures file to a raw result.
pub(crate) fn finish_case(mut result: CaseResult, known: Option<&KnownFailures>) -> CaseResult {
    let entry = known.and_then(|k| k.lookup(&result.transport, &result.spec));
    let adjusted = KnownFailures::adjust(result.verdict, entry);
    if adjusted != result.verdict {
        result.known_failure = entry.map(|e| e.describe());
    }
    result.verdict = adjusted;
    result
}

/// How many cases run at once per core when some run on real time: such
/// a case spends most of its time asleep in its scenario's delays.
const REAL_TIME_CASES_PER_CORE: usize = 4;

/// How many of `cases` run at once: one per core, four per core when some
/// run on real time.
pub(crate) fn cases_at_once(cases: &[(Transport, Spec)]) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cases.iter().any(|(t, _)| t.runs_on_real_time()) {
        cores * REAL_TIME_CASES_PER_CORE
    } else {
        cores
    }
}

/// Runs [`cases_at_once`] cases at a time, on threads; results come back
/// in input order.
fn run_parallel(
    cases: &[(Transport, Spec)],
    options: &RunOptions,
    known: Option<&KnownFailures>,
    progress: Option<&ProgressFn>,
) -> Vec<CaseResult> {
    let workers = cases_at_once(cases);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done = std::sync::atomic::AtomicUsize::new(0);
    let results = parking_lot::Mutex::new(vec![None; cases.len()]);
    std::thread::scope(|scope| {
        for _ in 0..workers.min(cases.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((transport, spec)) = cases.get(i) else {
                        break;
                    };
                    let result = finish_case(run_case(spec, transport, options), known);
                    if let Some(report) = progress {
                        let done = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                        report(Progress {
                            case: &result,
                            done,
                            total: cases.len(),
                        });
                    }
                    results.lock()[i] = Some(result);
                }
            });
        }
    });
    results.into_inner().into_iter().flatten().collect()
}
