//! The corpus app: the contract corpus against state-sync-tauri on Tauri's
//! real runtime, through the crate's Rust window ends — invalidations
//! emitted by the app reach each window's engine through the real event
//! system (`listen_any`), snapshot requests go through a real webview's IPC
//! (`Webview::on_message`, as `invoke("get_snapshot", {topic})` does) to
//! the crate's command — on real time, one case at a time (the app's event
//! loop is made once per process, so every case shares the app). A spec
//! that opens a second bus needs a second app beside the first, which one
//! process cannot have: those run on `MockRuntime` only, and are listed.
//!
//! Beside it, the same corpus runs on `MockRuntime` (the crate's own
//! conformance transport, on virtual time): every spec the real runtime
//! runs must get the verdict it gets on `MockRuntime`, and a spec may be
//! `unsupported` on the real runtime only because its timing is exact to
//! the millisecond (it needs virtual time).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::Value;
use state_sync_conformance::{
    Backend, Capabilities, CaseResult, SnapshotHandler, Suite, Transport, VIRTUAL_TIME, Verdict,
    WindowEnds,
};
use state_sync_tauri::{BuilderExt, StateSync, StateSyncExt};
use tauri::{AppHandle, WebviewUrl, WebviewWindow, WebviewWindowBuilder, Wry};

use crate::support::{self, KitSource};

/// What every line starts with.
const NAME: &str = "real runtime corpus";
/// How long the whole run may take (each case has the kit's own limits).
const WHOLE: Duration = Duration::from_secs(900);
/// The transport's name in the report.
const REAL: &str = "tauri-wry";
/// The `MockRuntime` transport's name (`support::transport`).
const MOCK: &str = "tauri";

/// Runs the corpus app.
pub fn run() -> ExitCode {
    let source = KitSource::default();
    let app = tauri::Builder::<Wry>::new()
        .state_sync(StateSync::with_source(source.clone()))
        .build(crate::context(Box::new(tauri::test::noop_assets())));
    crate::run_beside(app, NAME, WHOLE, move |app| check(app, source))
}

/// One case's backend: the app every case shares, serving the case's
/// source of truth while the case lasts.
struct RealBackend {
    app: AppHandle<Wry>,
    source: KitSource,
    ipc: WebviewWindow<Wry>,
}

impl RealBackend {
    /// A backend for the next case, which finds the app as a fresh one
    /// would be: no Rust listener left by a case before, and no source
    /// served (each backend stops serving when dropped).
    fn open(
        app: &AppHandle<Wry>,
        source: &KitSource,
        ipc: &WebviewWindow<Wry>,
    ) -> Result<Self, String> {
        let left = app.rust_listeners().map_err(|e| e.to_string())?;
        if left != 0 {
            return Err(format!(
                "the case before left {left} Rust listener(s) on the app"
            ));
        }
        Ok(Self {
            app: app.clone(),
            source: source.clone(),
            ipc: ipc.clone(),
        })
    }
}

impl Drop for RealBackend {
    fn drop(&mut self) {
        self.source.set(None);
    }
}

impl Backend for RealBackend {
    fn emit(&self, payload: &Value) {
        support::emit(&self.app, payload);
    }

    fn serve(&self, handler: SnapshotHandler) {
        self.source.set(Some(handler));
    }

    fn window_ends(&self, _label: &str, topic: &str) -> WindowEnds {
        support::window_ends(&self.app, self.ipc.clone(), topic)
    }

    fn active_subscriptions(&self) -> Option<usize> {
        self.app.rust_listeners().ok()
    }
}

/// The webview window whose IPC carries every snapshot request: a blank
/// page, so nothing in it calls anything itself.
fn ipc_window(app: &AppHandle<Wry>) -> Result<WebviewWindow<Wry>, String> {
    let blank = "about:blank".parse().map_err(|e| format!("{e}"))?;
    WebviewWindowBuilder::new(app, "ipc", WebviewUrl::External(blank))
        .visible(false)
        .build()
        .map_err(|e| format!("the IPC window: {e}"))
}

fn check(app: &AppHandle<Wry>, source: KitSource) -> Result<(), String> {
    let ipc = ipc_window(app)?;
    let shared = app.clone();
    let real = Transport::try_new(REAL, move || RealBackend::open(&shared, &source, &ipc))
        .with_capabilities(Capabilities::all())
        .on_real_time()
        .one_case_at_a_time();
    let started = Instant::now();
    let on_real = Suite::new()
        .transport(real)
        .run_filtered(|_, spec| spec.buses().len() == 1)
        .map_err(|e| format!("the suite did not run: {e}"))?;
    let elapsed = started.elapsed();
    let on_mock = Suite::new()
        .transport(support::transport())
        .run()
        .map_err(|e| format!("the suite did not run: {e}"))?;

    let mut by_spec: BTreeMap<&str, [Option<&CaseResult>; 2]> = BTreeMap::new();
    for case in on_real.cases.iter().chain(&on_mock.cases) {
        let slot = usize::from(case.transport == MOCK);
        by_spec.entry(case.spec.as_str()).or_default()[slot] = Some(case);
    }
    let mut pairs: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut wrong = Vec::new();
    let mut second_bus = Vec::new();
    let mut ran = 0;
    for (spec, [real, mock]) in &by_spec {
        let Some(mock) = mock else {
            wrong.push(format!("{spec}: not run on MockRuntime"));
            continue;
        };
        // Only the filter above leaves a spec out on the real runtime.
        let Some(real) = real else {
            second_bus.push(*spec);
            continue;
        };
        *pairs
            .entry((real.verdict.to_string(), mock.verdict.to_string()))
            .or_default() += 1;
        if real.verdict == Verdict::Unsupported {
            // Virtual time, or a capability neither runtime claims (the
            // Tauri backend has no broker to restart).
            let unclaimed_on_both =
                mock.verdict == Verdict::Unsupported && mock.missing == real.missing;
            if real.missing != [VIRTUAL_TIME] && !unclaimed_on_both {
                wrong.push(format!(
                    "{spec}: unsupported on the real runtime for {:?}, not only for virtual time",
                    real.missing
                ));
            }
            continue;
        }
        ran += 1;
        if real.verdict != mock.verdict {
            let why = real.failures.first().map_or("", String::as_str);
            wrong.push(format!(
                "{spec}: {REAL} {}, {MOCK} (MockRuntime) {}: {why}",
                real.verdict, mock.verdict
            ));
        }
    }
    println!("{NAME}: | {REAL} (real time) | {MOCK} (MockRuntime) | specs |");
    for ((real, mock), n) in &pairs {
        println!("{NAME}: | {real} | {mock} | {n} |");
    }
    println!(
        "{NAME}: {} spec(s) open a second bus, run on MockRuntime only: {}",
        second_bus.len(),
        second_bus.join(", ")
    );
    println!(
        "{NAME}: {ran} of {} specs ran on the real runtime (the others: a second bus, or virtual time), one at a time: {:.1} s, {:.0} ms per case run",
        by_spec.len(),
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / ran.max(1) as f64
    );
    if wrong.is_empty() {
        println!("{NAME}: every spec both ran got the same verdict on both runtimes");
        Ok(())
    } else {
        Err(format!(
            "{} spec(s) differ:\n  {}",
            wrong.len(),
            wrong.join("\n  ")
        ))
    }
}
