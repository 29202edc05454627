//! What one case of the corpus costs the kit, per in-process reference
//! transport, next to a baseline measured in the same rounds: the same
//! number of cases of the smallest spec (`start-at-revision-zero`: open,
//! start, check), on the same transport. The ratio is what is read; the
//! absolute figures move with the machine.
//!
//! `cargo bench -p state-sync-conformance --bench corpus`

use std::time::{Duration, Instant};

use state_sync_conformance::{Corpus, RunOptions, Transport, reference, run_case};

const ROUNDS: usize = 5;
const MINIMAL: &str = "start-at-revision-zero";

fn main() {
    let corpus = Corpus::embedded().expect("the embedded corpus loads");
    let specs: Vec<_> = corpus.specs().iter().map(|s| &s.spec).collect();
    let minimal = specs
        .iter()
        .find(|s| s.id == MINIMAL)
        .copied()
        .expect("the minimal spec is in the corpus");
    let options = RunOptions::default();
    let transports: Vec<Transport> = vec![
        reference::memory(),
        reference::channel(),
        reference::tauri_mock(),
    ];
    let time = |transport: &Transport, cases: &mut dyn Iterator<Item = _>| {
        let started = Instant::now();
        let mut n = 0_u32;
        for spec in cases {
            let result = run_case(spec, transport, &options);
            assert!(!result.verdict.is_unexpected(), "{}", result.explain());
            n += 1;
        }
        started.elapsed() / n
    };
    let mut figures: Vec<Vec<(Duration, Duration)>> = vec![Vec::new(); transports.len()];
    for _ in 0..ROUNDS {
        for (t, transport) in transports.iter().enumerate() {
            let base = time(transport, &mut std::iter::repeat_n(minimal, specs.len()));
            let all = time(transport, &mut specs.iter().copied());
            figures[t].push((all, base));
        }
    }
    println!(
        "{} specs, {ROUNDS} rounds, one case at a time; median and range of the ratio",
        specs.len()
    );
    println!(
        "{:<11} {:>14} {:>16} {:>7} {:>13}",
        "transport", "corpus ms/case", "minimal ms/case", "ratio", "ratio range"
    );
    for (t, transport) in transports.iter().enumerate() {
        let mut rows = figures[t].clone();
        rows.sort_by(|a, b| {
            let (ra, rb) = (ratio(a), ratio(b));
            ra.total_cmp(&rb)
        });
        let (all, base) = rows[rows.len() / 2];
        println!(
            "{:<11} {:>14.3} {:>16.3} {:>7.2} {:>6.2}–{:<6.2}",
            transport.name(),
            ms(all),
            ms(base),
            ratio(&(all, base)),
            ratio(&rows[0]),
            ratio(&rows[rows.len() - 1]),
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn ratio((all, base): &(Duration, Duration)) -> f64 {
    all.as_secs_f64() / base.as_secs_f64()
}
