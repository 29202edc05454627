//! One measured run: a burst into running engines, with the baselines
//! measured on the same chunks in the same process.
//!
//! Per round, every emitter fills its chunk (its share of the revisions,
//! interleaved with the other emitters'), then three phases run over the
//! same chunks, in alternating order from round to round so that neither
//! side always finds the caches warm: the engines (the intake under test),
//! the bare validate+gate loop over the pre-parsed trees, and
//! `serde_json::from_str::<Value>` of the text followed by the same gate.
//! Emitters run on threads of their own when there are several, each
//! phase starting together behind a barrier; a phase lasts as long as its
//! slowest emitter.
//!
//! A contender's figure is its median time per event over the rounds: the
//! machine is shared, and a round that another process preempted says
//! nothing about either side.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use state_sync::Payload;

use crate::common::bare::{self, BareGate};
use crate::common::feed::{CHUNK, Chunk};
use crate::common::harness::{Engines, Intake, Outcome};

/// The fewest rounds a figure is the median of.
const MIN_ROUNDS: u64 = 10;

/// What to run.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    /// How the engines are handed payloads.
    pub intake: Intake,
    /// Invalidations emitted, in all.
    pub burst: u64,
    /// Threads emitting them into the engines at once.
    pub emitters: usize,
    /// Engines on the bus, each handed every invalidation.
    pub windows: usize,
}

/// Each contender's deliveries per second (from its median round).
#[derive(Debug)]
pub struct Measured {
    /// The engines.
    pub engine: f64,
    /// The bare validate+gate loop over pre-parsed trees.
    pub bare: f64,
    /// Parse to a tree, then the same gate.
    pub parse: f64,
    /// What the engines ended with.
    pub outcome: Outcome,
}

#[derive(Clone, Copy)]
enum Phase {
    Engine,
    Bare,
    Parse,
}

/// One emitter's chunk and, for the baselines, one bare gate per window.
struct Emitter {
    chunk: Chunk,
    gates: Vec<BareGate>,
}

/// Runs `setup` on the current runtime.
pub async fn run(setup: Setup) -> Measured {
    let engines = Engines::start(setup.windows).await;
    let threads = setup.emitters.max(1);
    let mut emitters: Vec<Emitter> = (0..threads)
        .map(|_| Emitter {
            chunk: Chunk::default(),
            gates: vec![BareGate::default(); setup.windows],
        })
        .collect();
    // Seconds per delivery, per round.
    let (mut engine, mut bare, mut parse) = (Vec::new(), Vec::new(), Vec::new());
    // One untimed round first, of payloads for another topic (ignored by
    // every contender), so that no contender pays for cold caches.
    for emitter in emitters.iter_mut() {
        emitter.chunk.fill_for("warm-up", 1..=CHUNK as u64);
    }
    for phase in [Phase::Engine, Phase::Bare, Phase::Parse] {
        timed(&mut emitters, |e| work(phase, setup.intake, &engines, e));
    }
    // Small bursts in smaller chunks, so that every figure is a median of
    // at least MIN_ROUNDS rounds.
    let chunk = (setup.burst / (MIN_ROUNDS * threads as u64)).clamp(1, CHUNK as u64);
    let per_round = chunk * threads as u64;
    let mut next = 1;
    let mut round = 0;
    while next <= setup.burst {
        let last = (next + per_round - 1).min(setup.burst);
        for (t, emitter) in emitters.iter_mut().enumerate() {
            emitter
                .chunk
                .fill((next + t as u64..=last).step_by(threads));
        }
        engines.source_at(last);
        let order = if round % 2 == 0 {
            [Phase::Engine, Phase::Bare, Phase::Parse]
        } else {
            [Phase::Parse, Phase::Bare, Phase::Engine]
        };
        let deliveries = ((last + 1 - next) * setup.windows as u64) as f64;
        for phase in order {
            let took = timed(&mut emitters, |e| work(phase, setup.intake, &engines, e));
            let per_delivery = took.as_secs_f64() / deliveries;
            match phase {
                Phase::Engine => engine.push(per_delivery),
                Phase::Bare => bare.push(per_delivery),
                Phase::Parse => parse.push(per_delivery),
            }
        }
        if round == 0 {
            // Let the fetch the first event started reach the provider, so
            // the rest of the burst arrives while it is in flight.
            for _ in 0..4 {
                tokio::task::yield_now().await;
            }
        }
        next = last + 1;
        round += 1;
    }
    for emitter in &emitters {
        for gate in &emitter.gates {
            assert!(gate.announced().get() > 0, "the baseline gated nothing");
        }
    }
    Measured {
        engine: 1.0 / median(engine),
        bare: 1.0 / median(bare),
        parse: 1.0 / median(parse),
        outcome: engines.finish(setup.burst).await,
    }
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// One emitter's share of a phase.
fn work(phase: Phase, intake: Intake, engines: &Engines, emitter: &mut Emitter) {
    let Emitter { chunk, gates } = emitter;
    match (phase, intake) {
        (Phase::Engine, Intake::Value) => {
            for value in chunk.values() {
                engines.emit(Payload::Value(value));
            }
        }
        (Phase::Engine, Intake::Text) => {
            for text in chunk.texts() {
                engines.emit(Payload::from(text));
            }
        }
        (Phase::Bare, _) => {
            for value in chunk.values() {
                for gate in gates.iter_mut() {
                    gate.value(value);
                }
            }
        }
        (Phase::Parse, _) => {
            for text in chunk.texts() {
                let value = bare::parse(text);
                for gate in gates.iter_mut() {
                    gate.value(&value);
                }
            }
        }
    }
}

/// How long `work` takes over every emitter: on this thread for one; for
/// several, on a thread each, started together, from the first start to
/// the last end (wall time, also when there are more emitters than cores).
fn timed(emitters: &mut [Emitter], work: impl Fn(&mut Emitter) + Sync) -> Duration {
    if let [only] = emitters {
        let started = Instant::now();
        work(only);
        return started.elapsed();
    }
    let barrier = Barrier::new(emitters.len());
    let (barrier, work) = (&barrier, &work);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
        let running: Vec<_> = emitters
            .iter_mut()
            .map(|emitter| {
                s.spawn(move || {
                    barrier.wait();
                    let started = Instant::now();
                    work(emitter);
                    (started, Instant::now())
                })
            })
            .collect();
        running
            .into_iter()
            .map(|t| t.join().expect("emitter"))
            .collect()
    });
    let first = spans.iter().map(|s| s.0).min();
    let last = spans.iter().map(|s| s.1).max();
    match (first, last) {
        (Some(first), Some(last)) => last - first,
        _ => Duration::ZERO,
    }
}
