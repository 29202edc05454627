//! K windows in M processes converging through a Redis server, next to the
//! same windows over the IPC transport (a Unix socket straight to the
//! backend, no broker) measured in the same run: this machine is shared
//! and noisy, so only figures taken side by side compare.
//!
//! For each update: the time from the backend's change to each window's
//! apply (p50, p99 over every apply), the time until the last window holds
//! the last update, and — for Redis — what the broker did per update
//! (commands and bytes in and out, from `INFO stats`).
//!
//! `cargo bench -p state-sync-redis --bench converge [-- --windows K
//! --processes M --updates N --spacing-ms S]` (defaults 16, 4, 200, 2).
//! Needs `redis-server` (see `RedisServer`).

use std::error::Error;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::AsyncCommands;
use serde_json::json;
use state_sync::RevisionSync;
use state_sync::appliers::WatchApplier;
use state_sync::source::SourceOfTruth;
use state_sync_redis::{RedisBackend, RedisConfig, RedisServer, RedisWindows};
use state_sync_transports::Backend;
use state_sync_transports::ipc::{Client, Server};

const TOPIC: &str = "bench";
const BUS: &str = "bench";

type Res<T> = Result<T, Box<dyn Error>>;

#[derive(Debug, Clone, Copy)]
struct Params {
    windows: usize,
    processes: usize,
    updates: u64,
    spacing_ms: u64,
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("window-process") {
        return window_process(&args[1..]);
    }
    let mut params = Params {
        windows: 16,
        processes: 4,
        updates: 200,
        spacing_ms: 2,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value =
            || -> Res<u64> { Ok(it.next().ok_or(format!("{arg} needs a value"))?.parse()?) };
        match arg.as_str() {
            "--windows" => params.windows = usize::try_from(value()?)?,
            "--processes" => params.processes = usize::try_from(value()?)?.max(1),
            "--updates" => params.updates = value()?.max(1),
            "--spacing-ms" => params.spacing_ms = value()?,
            // What `cargo bench` passes to every bench target.
            "--bench" => {}
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    println!(
        "{} windows in {} processes, {} updates {} ms apart",
        params.windows, params.processes, params.updates, params.spacing_ms
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let server = RedisServer::start()?;
    let ipc = runtime.block_on(run_ipc(params))?;
    let (redis, traffic) = runtime.block_on(run_redis(params, &server.url()))?;
    println!();
    println!(
        "| transport | p50 change→apply | p99 change→apply | last update everywhere | applies seen |"
    );
    println!("|---|---|---|---|---|");
    for (name, m) in [("ipc (baseline)", &ipc), ("redis", &redis)] {
        println!(
            "| {name} | {:.2} ms | {:.2} ms | {:.2} ms | {} |",
            m.p50_ms, m.p99_ms, m.last_ms, m.applies
        );
    }
    println!(
        "\nredis / ipc: p50 ×{:.2}, p99 ×{:.2}",
        redis.p50_ms / ipc.p50_ms,
        redis.p99_ms / ipc.p99_ms
    );
    println!(
        "broker per update: {:.1} commands, {:.0} bytes in, {:.0} bytes out ({} windows)",
        traffic.commands, traffic.bytes_in, traffic.bytes_out, params.windows
    );
    Ok(())
}

struct Measured {
    p50_ms: f64,
    p99_ms: f64,
    last_ms: f64,
    applies: usize,
}

struct Traffic {
    commands: f64,
    bytes_in: f64,
    bytes_out: f64,
}

fn now_us() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros())
}

async fn run_ipc(params: Params) -> Res<Measured> {
    let source = Arc::new(SourceOfTruth::new(TOPIC, json!(0)));
    let server = Server::new()?;
    server.serve_source(source.clone());
    let address = server.address().to_string();
    drive(params, &server, &source, &["ipc", &address]).await
}

async fn run_redis(params: Params, url: &str) -> Res<(Measured, Traffic)> {
    let source = Arc::new(SourceOfTruth::new(TOPIC, json!(0)));
    let backend = RedisBackend::connect(url, RedisConfig::new(BUS))?;
    backend.serve_source(source.clone());
    let before = stats(url).await?;
    let measured = drive(params, &backend, &source, &["redis", url]).await?;
    let after = stats(url).await?;
    let per = |i: usize| (after[i] - before[i]) as f64 / params.updates as f64;
    Ok((
        measured,
        Traffic {
            commands: per(0),
            bytes_in: per(1),
            bytes_out: per(2),
        },
    ))
}

/// `total_commands_processed`, `total_net_input_bytes`,
/// `total_net_output_bytes`.
async fn stats(url: &str) -> Res<[i64; 3]> {
    let mut connection = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query_async(&mut connection)
        .await?;
    let field = |name: &str| -> i64 {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    let _: () = connection.set("state-sync:bench:probe", 1).await?;
    Ok([
        field("total_commands_processed"),
        field("total_net_input_bytes"),
        field("total_net_output_bytes"),
    ])
}

/// Starts the window processes, makes the updates, and gathers what they
/// applied when.
async fn drive(
    params: Params,
    backend: &dyn Backend,
    source: &SourceOfTruth<serde_json::Value>,
    transport: &[&str],
) -> Res<Measured> {
    let mut children: Vec<(Child, BufReader<std::process::ChildStdout>)> = Vec::new();
    for p in 0..params.processes {
        let count =
            params.windows / params.processes + usize::from(p < params.windows % params.processes);
        let mut child = Command::new(std::env::current_exe()?)
            .arg("window-process")
            .args(transport)
            .args([count.to_string(), params.updates.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut out = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        let mut ready = String::new();
        out.read_line(&mut ready)?;
        if ready.trim() != "ready" {
            return Err(format!("a window process said {ready:?} instead of ready").into());
        }
        children.push((child, out));
    }
    let mut emitted = Vec::with_capacity(params.updates as usize + 1);
    emitted.push(0);
    for n in 1..=params.updates {
        emitted.push(now_us());
        backend.emit(&source.set(json!(n))?.to_json());
        tokio::time::sleep(Duration::from_millis(params.spacing_ms)).await;
    }
    let mut latencies = Vec::new();
    let mut last = 0u128;
    for (mut child, out) in children {
        if let Some(stdin) = child.stdin.as_mut() {
            writeln!(stdin, "report")?;
        }
        for line in out.lines() {
            let line = line?;
            let mut fields = line.split_whitespace();
            let (Some("applied"), Some(n), Some(at)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let (n, at): (usize, u128) = (n.parse()?, at.parse()?);
            let since = at.saturating_sub(emitted[n]);
            latencies.push(since);
            if n as u64 == params.updates {
                last = last.max(since);
            }
        }
        let status = child.wait()?;
        if !status.success() {
            return Err(format!("a window process ended with {status}").into());
        }
    }
    latencies.sort_unstable();
    let pick = |q: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * q).round() as usize)
            .map_or(0.0, |us| *us as f64 / 1000.0)
    };
    Ok(Measured {
        p50_ms: pick(0.5),
        p99_ms: pick(0.99),
        last_ms: last as f64 / 1000.0,
        applies: latencies.len(),
    })
}

/// A window process: `window-process ipc|redis ADDRESS COUNT UPDATES`.
/// Prints `ready` once every window has started, then, once they all hold
/// the last update and the parent asks, `applied N MICROS` per apply.
fn window_process(args: &[String]) -> Res<()> {
    let [transport, address, count, updates] = args else {
        return Err("window-process ipc|redis ADDRESS COUNT UPDATES".into());
    };
    let (count, updates): (usize, u64) = (count.parse()?, updates.parse()?);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let ipc = match transport.as_str() {
            "ipc" => Some(Client::connect(address.parse()?)?),
            _ => None,
        };
        let redis = (transport == "redis")
            .then(|| RedisWindows::connect(address, RedisConfig::new(BUS)))
            .transpose()?;
        let mut watchers = Vec::new();
        let mut syncs = Vec::new();
        for i in 0..count {
            let label = format!("w{i}");
            let (applier, applied) = WatchApplier::<serde_json::Value>::new();
            let sync = match (&ipc, &redis) {
                (Some(client), _) => {
                    let window = client.window(&label, TOPIC);
                    RevisionSync::builder(TOPIC, window.clone(), window, applier).build()
                }
                (_, Some(windows)) => {
                    let window = Arc::new(windows.window(&label, TOPIC));
                    RevisionSync::builder(TOPIC, window.clone(), window, applier).build()
                }
                _ => {
                    return Err::<(), Box<dyn Error>>(
                        format!("unknown transport {transport}").into(),
                    );
                }
            };
            sync.start().await?;
            syncs.push(sync);
            watchers.push(tokio::spawn(async move {
                let mut applied = applied;
                let mut seen = Vec::new();
                while applied.changed().await.is_ok() {
                    let at = now_us();
                    let revision = applied
                        .borrow_and_update()
                        .as_ref()
                        .and_then(|s| s.revision.to_string().parse::<u64>().ok());
                    if let Some(revision) = revision.filter(|r| *r > 0) {
                        seen.push((revision, at));
                        if revision == updates {
                            break;
                        }
                    }
                }
                seen
            }));
        }
        println!("ready");
        std::io::stdout().flush()?;
        let mut all = Vec::new();
        for watcher in watchers {
            match tokio::time::timeout(Duration::from_secs(60), watcher).await {
                Ok(Ok(seen)) => all.extend(seen),
                _ => return Err("a window did not reach the last update within 60 s".into()),
            }
        }
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        for (revision, at) in all {
            println!("applied {revision} {at}");
        }
        for sync in syncs {
            sync.stop();
        }
        Ok(())
    })
}
