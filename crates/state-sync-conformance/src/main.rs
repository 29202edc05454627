//! `state-sync-conformance`: run the contract suite against the reference
//! transports, list specs, print the spec schema, or check spec files.
//!
//! ```text
//! state-sync-conformance run                       # the whole suite, reports in ./conformance-report
//! state-sync-conformance run --transport memory --spec late-join-after-changes --seed 42
//! state-sync-conformance list --tag coalescing
//! state-sync-conformance check my-specs/
//! state-sync-conformance schema > spec.schema.json
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use state_sync_conformance::corpus::Corpus;
use state_sync_conformance::{Suite, report, schema};

/// The conformance kit for state-sync transports.
#[derive(Debug, Parser)]
#[command(name = "state-sync-conformance", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the suite: print the matrix, write report.json, report.md and junit.xml.
    Run(RunArgs),
    /// List the specs (id, level, clauses, title).
    List(CorpusArgs),
    /// Print the JSON Schema of spec files.
    Schema,
    /// Check spec files or folders (default: the embedded corpus).
    Check {
        /// Spec files or folders.
        paths: Vec<PathBuf>,
    },
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
    /// Only this reference transport (repeatable): memory, channel, tauri-mock.
    #[arg(long = "transport", value_name = "NAME")]
    transports: Vec<String>,
    /// Run every case with this seed.
    #[arg(long)]
    seed: Option<u64>,
    /// A known-failures file (JSON).
    #[arg(long, value_name = "FILE")]
    known_failures: Option<PathBuf>,
    /// Where to write the reports.
    #[arg(long, value_name = "DIR", default_value = "conformance-report")]
    out: PathBuf,
}

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

    fn selects(&self, spec: &state_sync_conformance::Spec) -> bool {
        let id_ok = self.specs.is_empty()
            || self.specs.iter().any(|p| match p.strip_suffix('*') {
                Some(prefix) => spec.id.starts_with(prefix),
                None => spec.id == *p,
            });
        let tag_ok = self.tags.is_empty() || spec.tags.iter().any(|t| self.tags.contains(t));
        id_ok && tag_ok
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => run(&args),
        Command::List(args) => list(&args),
        Command::Schema => {
            print!("{}", schema::spec_schema_json());
            ExitCode::SUCCESS
        }
        Command::Check { paths } => check(&paths),
    }
}

fn run(args: &RunArgs) -> ExitCode {
    let mut suite = args.corpus.suite();
    let available = state_sync_conformance::reference::all();
    for name in &args.transports {
        if !available.iter().any(|t| t.name() == name) {
            let names: Vec<&str> = available.iter().map(|t| t.name()).collect();
            eprintln!(
                "error: unknown transport {name:?}; the reference transports are {}",
                names.join(", ")
            );
            return ExitCode::from(2);
        }
    }
    for t in available {
        if args.transports.is_empty() || args.transports.iter().any(|n| n == t.name()) {
            suite = suite.transport_arc(t);
        }
    }
    if let Some(seed) = args.seed {
        suite = suite.seed(seed);
    }
    if let Some(path) = &args.known_failures {
        suite = suite.known_failures(path);
    }
    let started = Instant::now();
    let report = match suite.run_filtered(|_, spec| args.corpus.selects(spec)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let elapsed = started.elapsed();
    print!("{}", report::to_markdown(&report));
    let total = report.summary.total;
    eprintln!(
        "{total} cases in {:.1} ms ({:.3} ms per case)",
        elapsed.as_secs_f64() * 1e3,
        if total == 0 {
            0.0
        } else {
            elapsed.as_secs_f64() * 1e3 / total as f64
        }
    );
    match report::write_reports(&report, &args.out) {
        Ok(written) => eprintln!(
            "reports: {}, {}, {}",
            written.json.display(),
            written.markdown.display(),
            written.junit.display()
        ),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    }
    if total == 0 {
        eprintln!("error: zero cases ran: check the --spec, --tag and --transport filters");
        return ExitCode::FAILURE;
    }
    if report.summary.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn list(args: &CorpusArgs) -> ExitCode {
    let corpus = match args.suite().corpus() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    for loaded in corpus.specs().iter().filter(|s| args.selects(&s.spec)) {
        let s = &loaded.spec;
        println!(
            "{:<44} {:<6} {:<28} {}",
            s.id,
            s.level.as_str(),
            s.clauses.join(","),
            s.title
        );
    }
    ExitCode::SUCCESS
}

fn check(paths: &[PathBuf]) -> ExitCode {
    let mut corpus = Corpus::default();
    let mut failed = false;
    let mut loads = Vec::new();
    if paths.is_empty() {
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
        match load.and_then(|c| corpus.merge(c)) {
            Ok(()) => {}
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    if failed {
        return ExitCode::from(2);
    }
    println!("{} spec(s) OK", corpus.specs().len());
    ExitCode::SUCCESS
}
