//! Two processes keep a to-do list in sync through a Redis server.
//!
//! This process starts a `redis-server` of its own (on a Unix socket in a
//! temporary folder, stopped when the example ends), holds the source of
//! truth and runs a `RedisBackend`. It starts a second process — this same
//! program, as `window URL` — which connects a window to the bus through
//! the broker, syncs, and prints every snapshot it applies. The backend then
//! adds items one by one and emits an invalidation after each; the window
//! process exits once it holds the whole list.
//!
//! Run with `cargo run -p state-sync-redis --example redis_two_processes`
//! (needs `redis-server` on the `PATH`, or `STATE_SYNC_REDIS_SERVER`; pass a
//! URL as the only argument to use a running server instead). It exits with
//! status 1 if the window process does not converge.

use std::error::Error;
use std::io::{BufRead, BufReader};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::Duration;

use state_sync::appliers::WatchApplier;
use state_sync::source::SourceOfTruth;
use state_sync::{Revision, RevisionSync};
use state_sync_redis::{RedisBackend, RedisConfig, RedisServer, RedisWindows};
use state_sync_transports::Backend;

const BUS: &str = "two-processes";
const TOPIC: &str = "todos";
const ITEMS: [&str; 3] = ["milk", "bread", "tea"];

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let ran = match (args.next(), args.next()) {
        (Some(mode), Some(url)) if mode == "window" => window(&url),
        (Some(url), None) => backend(&url),
        (None, _) => RedisServer::start().map_err(Into::into).and_then(|server| {
            println!(
                "backend: started redis-server {:?} at {}",
                server.pid(),
                server.url()
            );
            backend(&server.url())
        }),
        _ => Err("usage: redis_two_processes [REDIS-URL]".into()),
    };
    match ran {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The process with the source of truth.
fn backend(url: &str) -> Result<(), Box<dyn Error>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let source = Arc::new(SourceOfTruth::new(TOPIC, Vec::<String>::new()));
    let backend = RedisBackend::connect(url, RedisConfig::new(BUS))?;
    backend.serve_source(source.clone());

    let mut child = Command::new(std::env::current_exe()?)
        .args(["window", url])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
    // The window has subscribed and fetched its first snapshot.
    let ready = lines.next().transpose()?.unwrap_or_default();
    println!("window process: {ready}");

    runtime.block_on(async {
        for item in ITEMS {
            let event = source.update(|todos| todos.push(item.to_owned()))?;
            backend.emit(&event.to_json());
            // Let the window see each change (it would converge anyway).
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok::<(), Box<dyn Error>>(())
    })?;
    for line in lines {
        println!("window process: {}", line?);
    }
    let status = child.wait()?;
    if !status.success() {
        return Err(format!("the window process ended with {status}").into());
    }
    if let Some(failure) = backend.failure() {
        return Err(failure.into());
    }
    println!(
        "backend: the window process holds all {} items",
        ITEMS.len()
    );
    Ok(())
}

/// The process with the window: connects, syncs, exits once it holds every
/// item.
fn window(url: &str) -> Result<(), Box<dyn Error>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let windows = RedisWindows::connect(url, RedisConfig::new(BUS))?;
        let window = Arc::new(windows.window("second-process", TOPIC));
        let (applier, mut applied) = WatchApplier::<Vec<String>>::new();
        let sync = RevisionSync::builder(TOPIC, window.clone(), window, applier).build();
        sync.start().await?;
        println!("started at revision {}", sync.local_revision());
        let last = Revision::new(ITEMS.len() as u64);
        let converged = tokio::time::timeout(Duration::from_secs(10), async {
            while applied.changed().await.is_ok() {
                if let Some(snapshot) = applied.borrow_and_update().clone() {
                    println!(
                        "applied revision {}: {:?}",
                        snapshot.revision, snapshot.data
                    );
                    if snapshot.revision == last {
                        return true;
                    }
                }
            }
            false
        })
        .await;
        sync.stop();
        match converged {
            Ok(true) => Ok(()),
            _ => Err(format!("did not reach revision {last} within 10 s").into()),
        }
    })
}
