//! A suite: transports × specs, run as a whole (for reports) or as one
//! `cargo test` trial per case (with `libtest-mimic`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use crate::corpus::{Corpus, SUITE_VERSION, SpecErrors};
use crate::known_failures::{KnownFailures, KnownFailuresError};
use crate::runner::{RunOptions, run_case};
use crate::spec::Spec;
use crate::transport::Transport;
use crate::verdict::{CaseResult, SuiteReport, TransportInfo, Verdict};

/// Why a suite could not run.
#[derive(Debug, thiserror::Error)]
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
}

/// Transports, specs and options.
///
/// ```no_run
/// use state_sync_conformance::Suite;
/// # use state_sync_conformance::reference::Memory as MyTransport;
///
/// // tests/conformance.rs, with `harness = false` in Cargo.toml:
/// fn main() -> std::process::ExitCode {
///     Suite::new().transport(MyTransport).main()
/// }
/// ```
pub struct Suite {
    transports: Vec<Arc<dyn Transport>>,
    spec_dirs: Vec<PathBuf>,
    embedded: bool,
    known_failures: Option<PathBuf>,
    options: RunOptions,
}

impl Default for Suite {
    fn default() -> Self {
        Self::new()
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
        }
    }

    /// Adds a transport to test.
    pub fn transport(mut self, transport: impl Transport) -> Self {
        self.transports.push(Arc::new(transport));
        self
    }

    /// Adds a shared transport.
    pub fn transport_arc(mut self, transport: Arc<dyn Transport>) -> Self {
        self.transports.push(transport);
        self
    }

    /// Adds the reference transports (memory, channel, tauri-mock).
    pub fn reference_transports(mut self) -> Self {
        self.transports.extend(crate::reference::all());
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
    /// [`crate::known_failures`]).
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

    /// The transports added so far.
    pub fn transports(&self) -> &[Arc<dyn Transport>] {
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

    fn load_known(&self, corpus: &Corpus) -> Result<Option<KnownFailures>, KnownFailuresError> {
        let Some(path) = &self.known_failures else {
            return Ok(None);
        };
        let known = KnownFailures::load(path)?;
        known.validate(corpus.specs().iter().map(|s| s.spec.id.as_str()))?;
        Ok(Some(known))
    }

    /// Runs the cases `keep(transport name, spec)` selects and builds the
    /// report.
    pub fn run_filtered(
        &self,
        keep: impl Fn(&str, &Spec) -> bool,
    ) -> Result<SuiteReport, SuiteError> {
        if self.transports.is_empty() {
            return Err(SuiteError::NoTransport);
        }
        let corpus = self.corpus()?;
        let known = self.load_known(&corpus)?;
        let cases: Vec<(Arc<dyn Transport>, &Spec)> = self
            .transports
            .iter()
            .flat_map(|t| corpus.specs().iter().map(move |s| (t.clone(), &s.spec)))
            .filter(|(t, s)| keep(t.name(), s))
            .collect();
        let results = run_parallel(&cases, &self.options, known.as_ref());
        Ok(SuiteReport::new(
            SUITE_VERSION,
            self.transports.iter().map(|t| info(t.as_ref())).collect(),
            results,
            corpus.coverage(),
        ))
    }

    /// Runs every case and builds the report.
    pub fn run(&self) -> Result<SuiteReport, SuiteError> {
        self.run_filtered(|_, _| true)
    }

    /// The `cargo test` entry point: one trial per case, named
    /// `transport::spec-id`, honouring libtest's arguments (`--list`,
    /// filters, `--exact`, `--ignored`). Unsupported cases are ignored
    /// trials; expected failures pass. Returns a failing exit code on any
    /// unexpected verdict, and when no case exists at all.
    pub fn main(mut self) -> ExitCode {
        let args = libtest_mimic::Arguments::from_args();
        if let Some(binary) = test_binary_name() {
            self.options.rerun = Arc::new(move |transport, spec, seed| {
                format!(
                    "STATE_SYNC_CONFORMANCE_SEED={seed} cargo test --test {binary} -- --exact {transport}::{spec}"
                )
            });
        }
        if let Some(seed) = std::env::var("STATE_SYNC_CONFORMANCE_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
        {
            self.options.seed = Some(seed);
        }
        if self.transports.is_empty() {
            eprintln!("state-sync-conformance: {}", SuiteError::NoTransport);
            return ExitCode::FAILURE;
        }
        let corpus = match self.corpus() {
            Ok(c) => c,
            Err(e) => {
                eprintln!("state-sync-conformance: the spec corpus is invalid:\n{e}");
                return ExitCode::FAILURE;
            }
        };
        let known = match self.load_known(&corpus) {
            Ok(k) => k.map(Arc::new),
            Err(e) => {
                eprintln!("state-sync-conformance: {e}");
                return ExitCode::FAILURE;
            }
        };
        let mut trials = Vec::new();
        for transport in &self.transports {
            let caps = transport.capabilities();
            for loaded in corpus.specs() {
                let spec = loaded.spec.clone();
                let unsupported = !caps.missing(&spec.requires).is_empty();
                let (transport, options, known) =
                    (transport.clone(), self.options.clone(), known.clone());
                let name = format!("{}::{}", transport.name(), spec.id);
                trials.push(
                    libtest_mimic::Trial::test(name, move || {
                        let result =
                            finish(run_case(&spec, &transport, &options), known.as_deref());
                        match result.verdict {
                            Verdict::Pass | Verdict::ExpectedFail | Verdict::Unsupported => Ok(()),
                            _ => Err(result.explain().into()),
                        }
                    })
                    .with_ignored_flag(unsupported),
                );
            }
        }
        if trials.is_empty() && args.filter.is_none() && args.skip.is_empty() {
            eprintln!("state-sync-conformance: zero cases: the corpus has no specs");
            return ExitCode::FAILURE;
        }
        libtest_mimic::run(&args, trials).exit_code()
    }
}

fn info(t: &dyn Transport) -> TransportInfo {
    TransportInfo {
        name: t.name().to_owned(),
        capabilities: t
            .capabilities()
            .names()
            .into_iter()
            .map(str::to_owned)
            .collect(),
    }
}

/// Applies the known-failures file to a raw result.
fn finish(mut result: CaseResult, known: Option<&KnownFailures>) -> CaseResult {
    let entry = known.and_then(|k| k.lookup(&result.transport, &result.spec));
    let adjusted = KnownFailures::adjust(result.verdict, entry);
    if adjusted != result.verdict {
        result.known_failure = entry.map(|e| e.describe());
    }
    result.verdict = adjusted;
    result
}

/// Runs cases on as many threads as there are cores; results come back in
/// input order.
fn run_parallel(
    cases: &[(Arc<dyn Transport>, &Spec)],
    options: &RunOptions,
    known: Option<&KnownFailures>,
) -> Vec<CaseResult> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .max(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = parking_lot::Mutex::new(vec![None; cases.len()]);
    std::thread::scope(|scope| {
        for _ in 0..workers.min(cases.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((transport, spec)) = cases.get(i) else {
                        break;
                    };
                    let result = finish(run_case(spec, transport, options), known);
                    results.lock()[i] = Some(result);
                }
            });
        }
    });
    results.into_inner().into_iter().flatten().collect()
}

/// The name of the running test target (`conformance` for
/// `target/debug/deps/conformance-0123abcd`).
fn test_binary_name() -> Option<String> {
    let exe = std::env::args_os().next()?;
    let stem = Path::new(&exe).file_stem()?.to_str()?.to_owned();
    Some(match stem.rsplit_once('-') {
        Some((name, hash)) if hash.chars().all(|c| c.is_ascii_hexdigit()) => name.to_owned(),
        _ => stem,
    })
}
