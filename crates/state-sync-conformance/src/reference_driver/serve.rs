//! The reference driver's command loop.

use std::collections::HashMap;
use std::io::BufRead;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;
use state_sync::{Lifecycle, Payload, Position, Revision, RevisionSync, SyncError};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use super::engine::{self, DELIBERATE};
use super::ports::{Answer, Shared};
use crate::driver::protocol::{
    CallFailure, Command, CommandBody, PROTOCOL_VERSION, Reply, Report, WireError, WireMetrics,
    epoch_field,
};

/// The stack of the engine's thread.
const STACK_BYTES: usize = 64 << 20;

/// Runs the driver on stdin and stdout until `quit` or the end of input.
pub fn serve() -> ExitCode {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = state_sync::ports::panic_message(info.payload());
        if !message.contains(DELIBERATE) {
            default_hook(info);
        }
    }));
    let idle = Arc::new(Idle::default());
    let parked = idle.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .on_thread_park(move || {
            if parked.wanted.swap(false, Ordering::AcqRel) {
                parked.notify.notify_one();
            }
        })
        .build();
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("state-sync-reference-driver: could not build a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Deeply nested payloads are cloned and dropped recursively: the
    // engine runs on a thread with a large stack, as in the kit's cases.
    let worker = std::thread::Builder::new()
        .name("state-sync-reference-driver".to_owned())
        .stack_size(STACK_BYTES)
        .spawn(move || runtime.block_on(run(idle)));
    match worker.map(std::thread::JoinHandle::join) {
        Ok(Ok(code)) => code,
        _ => ExitCode::FAILURE,
    }
}

/// Wakes the loop when the runtime has nothing left to run.
#[derive(Default)]
struct Idle {
    wanted: AtomicBool,
    notify: Notify,
}

impl Idle {
    /// Returns once every task has run as far as it can (twice over, so
    /// that timers due at this very moment have fired too).
    async fn settle(&self) {
        for _ in 0..2 {
            self.wanted.store(true, Ordering::Release);
            self.notify.notified().await;
            tokio::task::yield_now().await;
        }
    }
}

struct Window {
    sync: RevisionSync<Value>,
    /// The state last reported.
    reported: Option<(Position, Lifecycle, WireMetrics)>,
}

struct Driver {
    shared: Arc<Shared>,
    windows: HashMap<String, Window>,
    epoch: Instant,
    idle: Arc<Idle>,
}

async fn run(idle: Arc<Idle>) -> ExitCode {
    let (tx, mut rx) = mpsc::unbounded_channel::<Result<Vec<Command>, String>>();
    // A blocking task in flight keeps the paused clock from moving by
    // itself: this one runs as long as stdin is open. It hands over whole
    // batches, so that no engine runs while a batch is still arriving.
    let reader = tokio::task::spawn_blocking(move || {
        let mut batch = Vec::new();
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { return };
            match serde_json::from_str::<Command>(&line) {
                Ok(c) => {
                    let end = c.last || matches!(c.body, CommandBody::Quit);
                    batch.push(c);
                    if end && tx.send(Ok(std::mem::take(&mut batch))).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(format!("not a command ({e}): {line}")));
                    return;
                }
            }
        }
    });
    let shared = Arc::new(Shared::default());
    shared.write(&Report::Hello {
        protocol: PROTOCOL_VERSION,
        name: "state-sync".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        language: Some("rust".to_owned()),
        capabilities: crate::driver::CAPABILITIES
            .iter()
            .map(|(c, _)| (*c).to_owned())
            .collect(),
    });
    let mut driver = Driver {
        shared,
        windows: HashMap::new(),
        epoch: Instant::now(),
        idle,
    };
    while let Some(batch) = rx.recv().await {
        let batch = match batch {
            Ok(b) => b,
            Err(why) => {
                eprintln!("state-sync-reference-driver: {why}");
                return ExitCode::FAILURE;
            }
        };
        let mut quit = false;
        let mut last_seq = 0;
        for command in batch {
            driver
                .advance_to(driver.epoch + Duration::from_millis(command.now_ms))
                .await;
            quit |= matches!(command.body, CommandBody::Quit);
            last_seq = command.seq;
            if let Err(why) = driver.handle(command.seq, command.body) {
                eprintln!(
                    "state-sync-reference-driver: command {}: {why}",
                    command.seq
                );
                return ExitCode::FAILURE;
            }
        }
        // The engines run once the whole batch is in.
        driver.idle.settle().await;
        driver.report_states();
        let timer_ms = driver.next_timer().map(|at| driver.ms_of(at));
        driver.shared.write(&Report::Done {
            seq: last_seq,
            timer_ms,
        });
        if quit {
            break;
        }
    }
    reader.abort();
    ExitCode::SUCCESS
}

impl Driver {
    /// Moves the clock to `target`, stopping at every timer on the way.
    async fn advance_to(&mut self, target: Instant) {
        loop {
            let now = Instant::now();
            if now >= target {
                return;
            }
            let to = self.next_timer().filter(|t| *t <= target).unwrap_or(target);
            tokio::time::advance(to - now).await;
            self.idle.settle().await;
        }
    }

    /// The earliest timer still ahead of now.
    fn next_timer(&self) -> Option<Instant> {
        let now = Instant::now();
        let timers = self
            .windows
            .values()
            .filter_map(|w| w.sync.timer_deadline());
        let backoffs: Vec<Instant> = self.shared.backoffs.lock().values().copied().collect();
        timers.chain(backoffs).filter(|t| *t > now).min()
    }

    /// `at` in ms since the case began, rounded up (tokio's timers fire on
    /// whole milliseconds).
    fn ms_of(&self, at: Instant) -> u64 {
        let d = at.saturating_duration_since(self.epoch);
        let ms = d.as_millis() + u128::from(!d.subsec_nanos().is_multiple_of(1_000_000));
        u64::try_from(ms).unwrap_or(u64::MAX)
    }

    fn window(&self, name: &str) -> Result<&Window, String> {
        self.windows
            .get(name)
            .ok_or_else(|| format!("no window {name:?} is open"))
    }

    fn handle(&mut self, seq: u64, body: CommandBody) -> Result<(), String> {
        match body {
            CommandBody::Open {
                window,
                topic,
                options,
            } => {
                let sync = engine::build(&self.shared, &window, topic, options);
                self.windows.insert(
                    window,
                    Window {
                        sync,
                        reported: None,
                    },
                );
            }
            CommandBody::Start { window, call } => {
                let sync = self.window(&window)?.sync.clone();
                self.call(call, async move { sync.start().await });
            }
            CommandBody::Refresh { window, call } => {
                let sync = self.window(&window)?.sync.clone();
                self.call(call, async move { sync.refresh().await });
            }
            CommandBody::Stopped { window, call } => {
                let sync = self.window(&window)?.sync.clone();
                self.call(call, async move {
                    sync.stopped().await;
                    Ok(())
                });
            }
            CommandBody::Stop { window } => self.window(&window)?.sync.stop(),
            CommandBody::Subscribed { request, error } => {
                let ok = error.is_none();
                if !self.answer(request, Answer::Subscribed(error)) && ok {
                    // The engine gave up on it: end what the kit opened.
                    self.shared.write(&Report::Unsubscribe {
                        subscription: request,
                    });
                }
            }
            CommandBody::Deliver {
                subscription,
                payload,
                text,
            } => {
                let handler = self.shared.handlers.lock().get(&subscription).cloned();
                if let Some(handler) = handler {
                    match &text {
                        Some(t) => handler(Payload::Text(t)),
                        None => handler(Payload::Value(&payload)),
                    }
                }
            }
            CommandBody::Snapshot { request, result } => {
                self.answer(request, Answer::Snapshot(result));
            }
            CommandBody::Applied { request, error } => {
                self.answer(request, Answer::Applied(error));
            }
            CommandBody::ParseRevision { input } => {
                let result = match Revision::from_json(&input) {
                    Ok(r) => Reply::Ok(Value::String(r.to_string())),
                    Err(e) => Reply::Error(WireError {
                        message: engine::reason(e).to_owned(),
                        detail: None,
                    }),
                };
                self.shared.write(&Report::Parsed { seq, result });
            }
            CommandBody::Advance | CommandBody::Quit => {}
        }
        Ok(())
    }

    /// Hands the kit's answer to the request waiting for it (false: none
    /// is waiting any more).
    fn answer(&self, request: u64, answer: Answer) -> bool {
        let waiting = self.shared.waiting.lock().remove(&request);
        waiting.is_some_and(|tx| tx.send(answer).is_ok())
    }

    /// Runs a `start`/`refresh`/`stopped` call and reports its result.
    fn call(
        &self,
        call: u64,
        work: impl std::future::Future<Output = Result<(), SyncError>> + Send + 'static,
    ) {
        let shared = self.shared.clone();
        tokio::spawn(async move {
            let error = work.await.err().map(|e| CallFailure {
                phase: e.phase().as_str().to_owned(),
                message: e.to_string(),
            });
            shared.write(&Report::Result { call, error });
        });
    }

    /// Reports each window whose state changed since it was last reported.
    fn report_states(&mut self) {
        let mut names: Vec<&String> = self.windows.keys().collect();
        names.sort();
        let mut reports = Vec::new();
        for name in names {
            let w = &self.windows[name];
            let now = (
                w.sync.local_position(),
                w.sync.lifecycle(),
                WireMetrics::from(w.sync.metrics()),
            );
            if w.reported != Some(now) {
                reports.push((name.clone(), now));
            }
        }
        for (name, now) in reports {
            self.shared.write(&Report::State {
                window: name.clone(),
                local_revision: now.0.revision.to_string(),
                local_epoch: epoch_field(now.0.epoch),
                lifecycle: Some(engine::lifecycle_name(now.1).to_owned()),
                metrics: Some(now.2),
            });
            if let Some(w) = self.windows.get_mut(&name) {
                w.reported = Some(now);
            }
        }
    }
}
