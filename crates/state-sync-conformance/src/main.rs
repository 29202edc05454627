//! `state-sync-conformance`: run the contract suite against the reference
//! transports, list specs, print the spec schema, or check spec files.
//!
//! ```text
//! state-sync-conformance run                       # the whole suite, reports in ./conformance-report
//! state-sync-conformance run --transport memory --spec late-join-after-changes --seed 42
//! state-sync-conformance run --known-failures known.json --bless
//! state-sync-conformance run --specs-dir my-specs --verbose   # failing cases with their traces
//! state-sync-conformance run --driver "node drivers/js/driver.mjs my-engine.mjs"
//! state-sync-conformance vectors --driver state-sync-reference-driver
//! state-sync-conformance list --tag coalescing
//! state-sync-conformance check my-specs/
//! state-sync-conformance schema > spec.schema.json
//! ```
//!
//! Reports are written before anything is printed; a closed stdout (`run |
//! head -1`) ends the output quietly with the run's own exit status.
//!
//! Exit status: 0 the run conforms, 1 a case fails the run or none ran, 2
//! the command could not do its job (`--help` says it in full).

use std::io::{self, IsTerminal, Write};
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use state_sync_conformance::case::parse_seconds;
use state_sync_conformance::corpus::Corpus;
use state_sync_conformance::driver::{Driver, vectors};
use state_sync_conformance::known_failures;
use state_sync_conformance::summary::{self, Style};
use state_sync_conformance::{RunOptions, Suite, report, schema};

/// What each exit status means.
const EXIT_STATUS: &str = "Exit status:
  0  the run conforms (check: every spec is valid; vectors: all classified as expected)
  1  a case fails the run (fail, unexpected-pass, error, timeout; non-strict under --strict),
     zero cases ran, or a vector was classified otherwise
  2  the command could not do its job: bad arguments, an unknown transport or --spec,
     an unreadable or invalid spec or known-failures file, reports that cannot be written";

/// The conformance kit for state-sync transports.
#[derive(Debug, Parser)]
#[command(name = "state-sync-conformance", version, about, after_help = EXIT_STATUS)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the suite: write report.json, report.md and junit.xml, print a summary.
    Run(RunArgs),
    /// List the specs (id, level, clauses, required capabilities, title).
    List(CorpusArgs),
    /// Print the JSON Schema of spec files.
    Schema,
    /// Check spec files or folders, together with the embedded corpus
    /// (ids must not clash with it).
    Check {
        /// Spec files or folders (none: the embedded corpus alone).
        paths: Vec<PathBuf>,
        /// Check the files on their own, not against the embedded corpus.
        #[arg(long)]
        no_embedded: bool,
    },
    /// Run the revision golden vectors against a driver's revision parser.
    Vectors {
        /// The driver's command line.
        #[arg(long, value_name = "COMMAND LINE")]
        driver: String,
    },
    /// Serve as the backend process of the `ipc-child` transport (an IPC
    /// server controlled over standard input and output).
    #[command(hide = true)]
    IpcBackend,
}

#[derive(Debug, clap::Args)]
struct CorpusArgs {
    /// Add the specs in this folder (repeatable).
    #[arg(long = "specs-dir", value_name = "DIR")]
    specs_dirs: Vec<PathBuf>,
    /// Leave out the embedded corpus.
    #[arg(long)]
    no_embedded: bool,
    /// Only specs with this id (repeatable; a trailing `*` matches a prefix).
    #[arg(long = "spec", value_name = "ID")]
    specs: Vec<String>,
    /// Only specs with this tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    #[command(flatten)]
    corpus: CorpusArgs,
    /// Only this reference transport (repeatable): memory, channel,
    /// tauri-mock, ipc, ipc-child.
    #[arg(long = "transport", value_name = "NAME")]
    transports: Vec<String>,
    /// Check the engine of a driver process instead of the in-process
    /// engine (repeatable): its command line, speaking the driver protocol
    /// (docs/driver-protocol.md). Runs over the memory transport, or over
    /// each `--transport` given.
    #[arg(long = "driver", value_name = "COMMAND LINE")]
    drivers: Vec<String>,
    /// Run every case with this seed.
    #[arg(long)]
    seed: Option<u64>,
    /// End a case that makes no progress for this many seconds of real
    /// time as `timeout` (default 60): only a hang meets it, a slow
    /// machine only takes longer.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    hang_limit: Option<Duration>,
    /// Run on real time instead of virtual time: delays take real time,
    /// settles end when the case is quiet, specs whose timing is exact to
    /// the millisecond are unsupported.
    #[arg(long)]
    real_time: bool,
    /// With --real-time: multiply every duration a spec states (advances,
    /// delays, debounce, throttle, retry timing) by this, widening its
    /// margins against a loaded machine's late timers (default 4; 1 runs
    /// the spec's timing as written).
    #[arg(long, value_name = "FACTOR", requires = "real_time")]
    real_time_stretch: Option<NonZeroU32>,
    /// Grade SHOULD clauses as MUST: a case that broke only SHOULD
    /// clauses (`non-strict`, listed but not failed by default) makes the
    /// run not conformant.
    #[arg(long)]
    strict: bool,
    /// A known-failures file (JSON).
    #[arg(long, value_name = "FILE")]
    known_failures: Option<PathBuf>,
    /// Rewrite the known-failures file from this run (keeping reasons and
    /// links) instead of failing on unexpected verdicts.
    #[arg(long, requires = "known_failures")]
    bless: bool,
    /// Where to write the reports.
    #[arg(long, value_name = "DIR", default_value = "conformance-report")]
    out: PathBuf,
    /// Print only the verdict line.
    #[arg(long, short)]
    quiet: bool,
    /// Before the summary, print every case that fails the run: its
    /// failures, the last lines of its trace and its rerun command.
    #[arg(long, short, conflicts_with = "quiet")]
    verbose: bool,
}

/// How many trace lines `--verbose` prints per failing case.
const VERBOSE_TRACE_LINES: usize = 30;

impl CorpusArgs {
    fn suite(&self) -> Suite {
        let mut suite = Suite::new();
        if self.no_embedded {
            suite = suite.without_embedded_specs();
        }
        for dir in &self.specs_dirs {
            suite = suite.specs_dir(dir);
        }
        suite
    }

    /// The `--spec` patterns that match no spec of `corpus`, as an error.
    fn unmatched(&self, corpus: &Corpus) -> Result<(), String> {
        let unmatched: Vec<&str> = self
            .specs
            .iter()
            .filter(|p| !corpus.specs().iter().any(|s| id_matches(p, &s.spec.id)))
            .map(String::as_str)
            .collect();
        if unmatched.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "no spec matches --spec {}: `state-sync-conformance list` shows the ids",
                unmatched.join(", --spec ")
            ))
        }
    }

    fn selects(&self, spec: &state_sync_conformance::Spec) -> bool {
        let id_ok = self.specs.is_empty() || self.specs.iter().any(|p| id_matches(p, &spec.id));
        let tag_ok = self.tags.is_empty() || spec.tags.iter().any(|t| self.tags.contains(t));
        id_ok && tag_ok
    }
}

/// Whether `--spec` pattern `pattern` (an id, or a prefix ending in `*`)
/// matches spec `id`.
fn id_matches(pattern: &str, id: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => id.starts_with(prefix),
        None => id == pattern,
    }
}

/// Exit status 2: the command could not do its job (bad arguments, files).
const USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut out = Output::stdout();
    let code = match cli.command {
        Command::Run(args) => run(&args, &mut out),
        Command::List(args) => list(&args, &mut out),
        Command::Schema => {
            out.print(&schema::spec_schema_json());
            ExitCode::SUCCESS
        }
        Command::Check { paths, no_embedded } => check(&paths, no_embedded, &mut out),
        Command::Vectors { driver } => vectors(&driver, &mut out),
        Command::IpcBackend => match state_sync_transports::ipc::serve_stdio() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: ipc-backend: {e}");
                ExitCode::FAILURE
            }
        },
    };
    out.flush();
    code
}

/// Standard output that stops writing, without an error, once the reader
/// has gone away (a closed pipe).
struct Output {
    stdout: io::Stdout,
    closed: bool,
}

impl Output {
    fn stdout() -> Self {
        Self {
            stdout: io::stdout(),
            closed: false,
        }
    }

    fn print(&mut self, text: &str) {
        if self.closed {
            return;
        }
        if let Err(e) = self.stdout.lock().write_all(text.as_bytes()) {
            self.failed(&e);
        }
    }

    fn flush(&mut self) {
        if !self.closed
            && let Err(e) = self.stdout.flush()
        {
            self.failed(&e);
        }
    }

    fn failed(&mut self, e: &io::Error) {
        self.closed = true;
        if e.kind() != io::ErrorKind::BrokenPipe {
            eprintln!("error: cannot write to standard output: {e}");
        }
    }
}

/// `vectors --driver`: every golden vector through the driver's parser.
fn vectors(line: &str, out: &mut Output) -> ExitCode {
    let results = Driver::parse(line).and_then(|d| vectors::run(&d));
    let results = match results {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let failed: Vec<_> = results.iter().filter(|r| !r.passed()).collect();
    for r in &failed {
        out.print(&format!(
            "FAIL {}: expected {}, got {}\n",
            r.input, r.expected, r.got
        ));
    }
    out.print(&format!(
        "{} of {} revision vectors classified as the vectors file says\n",
        results.len() - failed.len(),
        results.len()
    ));
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `word` quoted for a shell when it needs it.
fn shell_quote(word: &str) -> String {
    if word
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./=:@+".contains(c))
    {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

fn run(args: &RunArgs, out: &mut Output) -> ExitCode {
    let mut suite = args.corpus.suite();
    match suite.corpus() {
        Ok(corpus) => {
            if let Err(e) = args.corpus.unmatched(&corpus) {
                eprintln!("error: {e}");
                return ExitCode::from(USAGE);
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(USAGE);
        }
    }
    let mut available = state_sync_conformance::reference::all();
    // The child-process backend is this very program.
    if let Ok(me) = std::env::current_exe() {
        available.push(state_sync_conformance::reference::ipc_child(
            me,
            &["ipc-backend"],
        ));
    }
    for name in &args.transports {
        if !available.iter().any(|t| t.name() == name) {
            let names: Vec<&str> = available.iter().map(|t| t.name()).collect();
            eprintln!(
                "error: unknown transport {name:?}; the reference transports are {}",
                names.join(", ")
            );
            return ExitCode::from(USAGE);
        }
    }
    let mut drivers = Vec::new();
    for line in &args.drivers {
        match Driver::parse(line) {
            Ok(d) => drivers.push((line.clone(), d)),
            Err(e) => {
                eprintln!("error: --driver {line:?}: {e}");
                return ExitCode::from(USAGE);
            }
        }
    }
    // Rerun hints name the driver's command line, not a reference transport.
    let mut reruns: Vec<(String, String)> = Vec::new();
    for t in available {
        let selected = if args.transports.is_empty() {
            drivers.is_empty() || t.name() == "memory"
        } else {
            args.transports.iter().any(|n| n == t.name())
        };
        if !selected {
            continue;
        }
        let t = if args.real_time { t.on_real_time() } else { t };
        if drivers.is_empty() {
            suite = suite.transport(t);
            continue;
        }
        for (line, d) in &drivers {
            let name = if args.transports.is_empty() {
                d.subject_name()
            } else {
                format!("{}-on-{}", d.subject_name(), t.name())
            };
            reruns.push((
                name.clone(),
                format!("--driver {} --transport {}", shell_quote(line), t.name()),
            ));
            suite = suite.transport(t.clone().renamed(name).with_driver(d.clone()));
        }
    }
    // A rerun line works as printed: the same corpus and time as this run.
    let same_run: String = args
        .corpus
        .specs_dirs
        .iter()
        .map(|d| format!(" --specs-dir {}", shell_quote(&d.display().to_string())))
        .chain(args.corpus.no_embedded.then(|| " --no-embedded".to_owned()))
        .chain(args.real_time.then(|| " --real-time".to_owned()))
        .chain(
            args.real_time_stretch
                .map(|k| format!(" --real-time-stretch {k}")),
        )
        .collect();
    let options = RunOptions::default().with_rerun(move |subject, spec, seed| {
        let which = reruns
            .iter()
            .find(|(name, _)| name == subject)
            .map_or_else(|| format!("--transport {subject}"), |(_, r)| r.clone());
        format!("state-sync-conformance run {which} --spec {spec} --seed {seed}{same_run}")
    });
    let options = match args.hang_limit {
        Some(limit) => options.with_hang_limit(limit),
        None => options,
    };
    let options = match args.real_time_stretch {
        Some(factor) => options.with_real_time_stretch(factor),
        None => options,
    };
    suite = suite.options(options).strict(args.strict);
    if let Some(seed) = args.seed {
        suite = suite.seed(seed);
    }
    if let Some(path) = &args.known_failures {
        if args.bless && !path.exists() {
            // Blessing creates the file.
        } else {
            suite = suite.known_failures(path);
        }
    }
    if io::stderr().is_terminal() && !args.quiet {
        suite = suite.on_progress(|p| {
            eprint!(
                "\r\x1b[2K{}/{} {} {}",
                p.done, p.total, p.case.transport, p.case.verdict
            );
            if p.done == p.total {
                eprintln!();
            }
        });
    }
    let started = Instant::now();
    let report = match suite.run_filtered(|_, spec| args.corpus.selects(spec)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(USAGE);
        }
    };
    let elapsed = started.elapsed();
    let written = match report::write_reports(&report, &args.out) {
        Ok(written) => written,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(USAGE);
        }
    };
    let total = report.summary.total;
    if total == 0 {
        eprintln!("error: zero cases ran: check the --spec, --tag and --transport filters");
        return ExitCode::FAILURE;
    }
    let style = Style::detect(io::stdout().is_terminal());
    if args.verbose {
        let strict = report.summary.strict;
        for case in report
            .cases
            .iter()
            .filter(|c| c.verdict.is_unexpected_in(strict))
        {
            out.print(&format!("{}\n\n", case.explain_brief(VERBOSE_TRACE_LINES)));
        }
    }
    if args.quiet {
        out.print(&format!("{}\n", summary::headline(&report, style)));
    } else {
        out.print(&summary::to_text(&report, style));
        eprintln!(
            "{total} cases in {:.1} ms ({:.3} ms per case); reports: {}, {}, {}",
            elapsed.as_secs_f64() * 1e3,
            elapsed.as_secs_f64() * 1e3 / total as f64,
            written.json.display(),
            written.markdown.display(),
            written.junit.display()
        );
    }
    if args.bless {
        return bless(args, &report);
    }
    if report.summary.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn bless(args: &RunArgs, report: &state_sync_conformance::SuiteReport) -> ExitCode {
    let Some(path) = &args.known_failures else {
        return ExitCode::from(USAGE);
    };
    match known_failures::bless_file(path, &report.cases) {
        Ok(said) => {
            eprintln!("{said}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(USAGE)
        }
    }
}

fn list(args: &CorpusArgs, out: &mut Output) -> ExitCode {
    let corpus = match args.suite().corpus() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(USAGE);
        }
    };
    if let Err(e) = args.unmatched(&corpus) {
        eprintln!("error: {e}");
        return ExitCode::from(USAGE);
    }
    for loaded in corpus.specs().iter().filter(|s| args.selects(&s.spec)) {
        let s = &loaded.spec;
        let requires: Vec<&str> = s.requires.iter().map(|c| c.as_str()).collect();
        out.print(&format!(
            "{:<44} {:<6} {:<28} {:<22} {}\n",
            s.id,
            s.level.as_str(),
            s.clauses.join(","),
            if requires.is_empty() {
                "-".to_owned()
            } else {
                requires.join(",")
            },
            s.title
        ));
    }
    ExitCode::SUCCESS
}

fn check(paths: &[PathBuf], no_embedded: bool, out: &mut Output) -> ExitCode {
    let mut corpus = Corpus::default();
    let mut failed = false;
    let mut loads = Vec::new();
    if !no_embedded || paths.is_empty() {
        loads.push(Corpus::embedded());
    }
    for path in paths {
        if path.is_dir() {
            loads.push(Corpus::load_dir(path));
        } else {
            loads.push(match std::fs::read_to_string(path) {
                Ok(text) => Corpus::from_sources(vec![(path.display().to_string(), text)]),
                Err(e) => {
                    eprintln!("error: {}: cannot read: {e}", path.display());
                    failed = true;
                    continue;
                }
            });
        }
    }
    for load in loads {
        if let Err(e) = load.and_then(|c| corpus.merge(c)) {
            eprintln!("{e}");
            failed = true;
        }
    }
    if failed {
        return ExitCode::from(USAGE);
    }
    out.print(&format!("{} spec(s) OK\n", corpus.specs().len()));
    ExitCode::SUCCESS
}
