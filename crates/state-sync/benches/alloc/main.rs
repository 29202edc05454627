//! Allocation benchmark: the bytes a running engine allocates per
//! invalidation it ignores or coalesces — which must be 0 — for both
//! intakes, counted by a counting global allocator.
//!
//! Separate from the `burst` benchmark so that counting costs the
//! baselines there nothing. Each class is a chunk of 10,000 payloads of
//! the burst benchmark's shape, delivered to one engine:
//!
//! * `not-newer` — revision `0`, not newer than the local one;
//! * `other-topic` — another topic;
//! * `coalesced` — newer revisions while a fetch is in flight and its
//!   follow-up is already queued;
//! * `stopped` — anything, after `stop`;
//! * and, as a control that the counter counts, invalid payloads (blank
//!   topic), which are reported — and a report allocates.
//!
//! ```text
//! cargo bench -p state-sync --bench alloc
//! ```
//!
//! It prints one line per (intake, class) and fails if any of them
//! allocated.

#[path = "../common/mod.rs"]
mod common;

use std::alloc::System;
use std::process::ExitCode;

use state_sync::Payload;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

use common::feed::{CHUNK, Chunk};
use common::harness::{Engines, Intake};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// What delivering one chunk allocated.
struct Counted {
    bytes: usize,
    allocations: usize,
}

/// Delivers `chunk` to `engines` through `intake`, counting.
fn deliver(engines: &Engines, intake: Intake, chunk: &Chunk) -> Counted {
    let region = Region::new(GLOBAL);
    match intake {
        Intake::Value => {
            for value in chunk.values() {
                engines.emit(Payload::Value(value));
            }
        }
        Intake::Text => {
            for text in chunk.texts() {
                engines.emit(Payload::from(text));
            }
        }
    }
    let change = region.change();
    Counted {
        bytes: change.bytes_allocated + change.bytes_reallocated.max(0) as usize,
        allocations: change.allocations + change.reallocations,
    }
}

/// Every class for one intake: (class, what it allocated).
async fn classes(intake: Intake) -> Vec<(&'static str, Counted)> {
    let engines = Engines::start(1).await;
    let mut chunk = Chunk::default();
    let mut counted = Vec::new();

    chunk.fill(std::iter::repeat_n(0, CHUNK));
    counted.push(("not-newer", deliver(&engines, intake, &chunk)));
    chunk.fill_for("other", 1..=CHUNK as u64);
    counted.push(("other-topic", deliver(&engines, intake, &chunk)));

    // Revision 1 starts a fetch, which hangs; revision 2 queues its
    // follow-up. Everything after joins that follow-up.
    chunk.fill(1..=1);
    deliver(&engines, intake, &chunk);
    for _ in 0..4 {
        tokio::task::yield_now().await;
    }
    chunk.fill(2..=2);
    deliver(&engines, intake, &chunk);
    let last = 2 + CHUNK as u64;
    chunk.fill(3..=last);
    counted.push(("coalesced", deliver(&engines, intake, &chunk)));
    let outcome = engines.finish(last).await;
    assert!(outcome.converged && outcome.max_fetches <= 3, "{outcome:?}");

    // The control: an invalid payload is reported, and a report allocates.
    let control = Engines::start(1).await;
    chunk.fill_for(" ", 1..=CHUNK as u64);
    counted.push((
        "invalid (control, allocates)",
        deliver(&control, intake, &chunk),
    ));

    let stopped = Engines::start(1).await;
    stopped.stop();
    counted.push(("stopped", deliver(&stopped, intake, &chunk)));
    counted
}

fn main() -> ExitCode {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut ok = true;
    for intake in [Intake::Value, Intake::Text] {
        for (class, counted) in runtime.block_on(classes(intake)) {
            println!(
                "intake={} class={class} events={CHUNK} bytes_per_event={} allocations_per_event={}",
                intake.name(),
                counted.bytes as f64 / CHUNK as f64,
                counted.allocations as f64 / CHUNK as f64,
            );
            let allocated = counted.bytes > 0 || counted.allocations > 0;
            // The control proves the counter counts.
            ok &= allocated == class.starts_with("invalid");
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        eprintln!("FAIL: an ignored or coalesced event allocated (or the control did not)");
        ExitCode::FAILURE
    }
}
