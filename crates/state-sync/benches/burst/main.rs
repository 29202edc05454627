//! Burst benchmark: how fast running engines swallow invalidations,
//! next to what the same machine does in the same process without an
//! engine (see `docs/performance.md` for how to read it).
//!
//! Every run emits a burst of increasing-revision invalidations, all of
//! the same shape (`topic`, `revision`, `sourceId`, `timestampMs`), into
//! engines whose snapshot fetch hangs until the burst is over, and prints
//! each engine figure next to the two baselines measured on the same
//! chunks in the same process:
//!
//! * `bare` — the bare validate+gate loop over pre-parsed
//!   `serde_json::Value`s (`EventRef::from_json`, topic, revision), the
//!   least any engine does per event;
//! * `parse` — `serde_json::from_str::<Value>` of the text, then the same
//!   gate: what a tree-only intake costs a transport that receives text.
//!
//! The ratios are what is read (the machine's absolute speed varies).
//! Afterwards the fetches finish: a run fails if an engine made more than
//! 3 fetches (its start's, the one the burst found in flight, and one
//! follow-up) or did not end at the last revision.
//!
//! ```text
//! cargo bench -p state-sync --bench burst                # the whole matrix
//! cargo bench -p state-sync --bench burst -- quick       # bursts up to 1e6
//! cargo bench -p state-sync --bench burst -- intake=text burst=1e6 emitters=2 windows=1
//! ```
//!
//! The matrix runs each configuration in a process of its own, so that each
//! peak RSS is its own.

#[path = "../common/mod.rs"]
mod common;
mod scenario;

use std::process::{Command, ExitCode};

use common::harness::Intake;
use common::rss::peak_rss_kib;
use scenario::{Measured, Setup};

const MAX_FETCHES: u64 = 3;

/// The configurations of the full matrix.
fn matrix(quick: bool) -> Vec<Setup> {
    let bursts: &[u64] = if quick {
        &[10_000, 100_000, 1_000_000]
    } else {
        &[10_000, 100_000, 1_000_000, 10_000_000]
    };
    let mut setups = Vec::new();
    for intake in [Intake::Value, Intake::Text] {
        for &burst in bursts {
            setups.push(Setup {
                intake,
                burst,
                emitters: 1,
                windows: 1,
            });
        }
    }
    for intake in [Intake::Value, Intake::Text] {
        for (emitters, windows) in [(2, 1), (4, 1), (1, 16)] {
            setups.push(Setup {
                intake,
                burst: 1_000_000,
                emitters,
                windows,
            });
        }
    }
    setups
}

fn parse_setup(args: &[String]) -> Option<Setup> {
    let mut setup = Setup {
        intake: Intake::Text,
        burst: 1_000_000,
        emitters: 1,
        windows: 1,
    };
    let mut any = false;
    for arg in args {
        let (key, value) = arg.split_once('=')?;
        let number = || -> u64 {
            let value = value.replace('_', "");
            value
                .parse::<f64>()
                .map(|n| n as u64)
                .unwrap_or_else(|_| panic!("{key}: not a number: {value}"))
        };
        match key {
            "intake" => {
                setup.intake =
                    Intake::parse(value).unwrap_or_else(|| panic!("intake: value or text"));
            }
            "burst" => setup.burst = number(),
            "emitters" => setup.emitters = number().max(1) as usize,
            "windows" => setup.windows = number().max(1) as usize,
            _ => panic!("unknown argument {arg}"),
        }
        any = true;
    }
    any.then_some(setup)
}

fn describe(setup: &Setup) -> Vec<String> {
    vec![
        format!("intake={}", setup.intake.name()),
        format!("burst={}", setup.burst),
        format!("emitters={}", setup.emitters),
        format!("windows={}", setup.windows),
    ]
}

/// Runs one configuration and prints its line.
fn run_one(setup: Setup) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let Measured {
        engine,
        bare,
        parse,
        outcome,
    } = runtime.block_on(scenario::run(setup));
    println!(
        "{} engine_per_sec={engine:.0} bare_per_sec={bare:.0} vs_bare={:.2} parse_per_sec={parse:.0} vs_parse={:.2} max_fetches={} peak_rss_kib={}",
        describe(&setup).join(" "),
        engine / bare,
        engine / parse,
        outcome.max_fetches,
        peak_rss_kib()
    );
    if outcome.max_fetches > MAX_FETCHES || !outcome.converged {
        eprintln!(
            "FAIL: {} fetches (max {MAX_FETCHES}); every engine at the last revision: {}",
            outcome.max_fetches, outcome.converged
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let quick = args.iter().any(|a| a == "quick");
    let args: Vec<String> = args.into_iter().filter(|a| a != "quick").collect();
    if let Some(setup) = parse_setup(&args) {
        return run_one(setup);
    }
    // One process per configuration, so that each peak RSS is its own.
    let exe = std::env::current_exe().expect("own path");
    let mut ok = true;
    for setup in matrix(quick) {
        let status = Command::new(&exe)
            .args(describe(&setup))
            .status()
            .expect("run the benchmark");
        ok &= status.success();
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
