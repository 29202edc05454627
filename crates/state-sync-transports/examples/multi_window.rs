//! Three windows kept in sync over the Tauri mock.
//!
//! The backend owns a `Settings` source of truth and emits an invalidation
//! after every change. Two windows start right away; a burst of updates
//! follows, and a third window opens in the middle of it — its `listen` is
//! an asynchronous IPC round trip, so it misses the events emitted before
//! that completes and gets no replay of earlier ones. Every window still
//! converges, because it fetches a snapshot after subscribing and each
//! invalidation it does see makes it fetch the latest one.
//!
//! Run with `cargo run -p state-sync-transports --example multi_window`.
//! It prints each window's revision and data and exits with status 1 if
//! the windows do not converge.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use state_sync::appliers::WatchApplier;
use state_sync::source::SourceOfTruth;
use state_sync::{RevisionSync, SnapshotEnvelope};
use state_sync_transports::Backend;
use state_sync_transports::tauri_mock::{Bus, TauriMockConfig};
use tokio::sync::watch;

const TOPIC: &str = "settings";
const UPDATES: u32 = 30;
const LATE_JOIN_AT: u32 = 12;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Settings {
    theme: String,
    font_size: u32,
    recent_files: Vec<String>,
}

struct Window {
    label: &'static str,
    sync: RevisionSync<Settings>,
    state: watch::Receiver<Option<SnapshotEnvelope<Settings>>>,
}

fn open(bus: &Bus, label: &'static str) -> Window {
    let end = bus.window(TOPIC).with_label(label);
    let (applier, state) = WatchApplier::new();
    let sync = RevisionSync::builder(TOPIC, end.clone(), end, applier)
        .on_error(move |ctx| eprintln!("[{label}] sync error: {ctx}"))
        .build();
    Window { label, sync, state }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<bool, Box<dyn std::error::Error>> {
    // The backend: the source of truth, served as the `get_snapshot` command
    // of an app whose IPC hops take a millisecond.
    let source = Arc::new(SourceOfTruth::new(
        TOPIC,
        Settings {
            theme: "light".into(),
            font_size: 12,
            recent_files: Vec::new(),
        },
    ));
    let bus = Bus::with_config(TauriMockConfig {
        ipc_latency: Some(Duration::from_millis(1)),
        ..TauriMockConfig::default()
    });
    bus.serve_source(source.clone());

    let mut windows = vec![open(&bus, "main"), open(&bus, "settings")];
    for window in &windows {
        window.sync.start().await?;
    }
    println!(
        "started windows `main` and `settings` at revision {}",
        source.revision()
    );

    // A burst of updates, each followed by its invalidation.
    let late = open(&bus, "late");
    let mut late_start = None;
    for n in 1..=UPDATES {
        let event = source.update(|s| {
            s.font_size = 12 + n;
            s.theme = if n % 2 == 0 { "dark" } else { "light" }.into();
            s.recent_files.push(format!("file-{n}.txt"));
            if s.recent_files.len() > 3 {
                s.recent_files.remove(0);
            }
        })?;
        bus.emit(&event.to_json());
        if n == LATE_JOIN_AT {
            // The late window opens while the burst goes on.
            let sync = late.sync.clone();
            late_start = Some(tokio::spawn(async move { sync.start().await }));
            println!("window `late` opens after update {n}");
        }
        if n % 3 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    if let Some(start) = late_start {
        start.await??;
    }
    windows.push(late);
    println!("burst of {UPDATES} updates emitted");

    // Wait (at most five seconds) for every window to reach the source.
    let target = source.revision();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while windows.iter().any(|w| w.sync.local_revision() != target)
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }

    let expected = source.snapshot();
    println!();
    println!("{:<9} {:>8}  data", "window", "revision");
    println!(
        "{:<9} {:>8}  {}",
        "(source)",
        expected.revision,
        serde_json::to_string(&expected.data)?
    );
    let mut converged = true;
    for window in &windows {
        let applied = window.state.borrow().clone();
        let (revision, data) = match &applied {
            Some(s) => (s.revision.to_string(), serde_json::to_string(&s.data)?),
            None => ("-".to_owned(), "(nothing applied)".to_owned()),
        };
        let metrics = window.sync.metrics();
        println!(
            "{:<9} {:>8}  {data}   [fetches {}, applies {}, coalesced {}]",
            window.label, revision, metrics.fetches, metrics.applies, metrics.coalesced
        );
        converged &= applied.as_ref() == Some(&expected);
    }
    println!();

    for window in &windows {
        window.sync.stop();
    }
    bus.settle().await;

    if converged {
        println!(
            "converged: all {} windows show revision {} with the source's data \
             ({} listeners left after stop)",
            windows.len(),
            expected.revision,
            bus.active_subscriptions().unwrap_or(0)
        );
    } else {
        eprintln!("NOT converged: a window differs from the source of truth");
    }
    Ok(converged)
}
