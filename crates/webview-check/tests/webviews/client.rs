//! The client app: webview windows whose JavaScript test client
//! (`client.html`) syncs through `window.__TAURI__` as the original adapter
//! does and reports what it sees through the `report` command; this
//! process drives the backend and checks:
//!
//! 1. a change made in Rust reaches both windows' JavaScript (event, then
//!    the snapshot through `get_snapshot`);
//! 2. a burst of 50 changes converges both to the last;
//! 3. a window opened late gets the state;
//! 4. garbage emitted by the backend is what the JavaScript receives;
//! 5. after `unlisten`, a window's handler hears nothing more, and the
//!    others keep syncing after that window closed.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use state_sync_tauri::{BuilderExt, DEFAULT_EVENT, StateSync, StateSyncExt};
use tauri::{AppHandle, Emitter, Manager, WebviewUrl, WebviewWindowBuilder, Wry};

/// How long one step may wait for the windows.
const STEP: Duration = Duration::from_secs(60);
/// How long the whole run may take.
const WHOLE: Duration = Duration::from_secs(240);

/// Where the client's reports go.
struct Reports(Mutex<Sender<Value>>);

mod commands {
    use serde_json::Value;

    /// What a window's test client saw.
    #[tauri::command]
    pub fn report(reports: tauri::State<'_, super::Reports>, report: Value) {
        if let Ok(reports) = reports.0.lock() {
            let _ = reports.send(report);
        }
    }
}

/// The client page, served as the app's `index.html`.
struct Client;

impl tauri::Assets<Wry> for Client {
    fn get(&self, key: &tauri::utils::assets::AssetKey) -> Option<std::borrow::Cow<'_, [u8]>> {
        (key.as_ref() == "/index.html")
            .then(|| std::borrow::Cow::Borrowed(include_str!("client.html").as_bytes()))
    }

    fn iter(&self) -> Box<tauri::utils::assets::AssetsIter<'_>> {
        Box::new(std::iter::empty())
    }

    fn csp_hashes(
        &self,
        _html_path: &tauri::utils::assets::AssetKey,
    ) -> Box<dyn Iterator<Item = tauri::utils::assets::CspHash<'_>> + '_> {
        Box::new(std::iter::empty())
    }
}

/// Runs the client app: the webview checks below.
pub fn run() -> ExitCode {
    let (tx, rx) = channel();
    let sync = StateSync::new().topic("settings", json!({"n": 0}));
    let app = tauri::Builder::<Wry>::new()
        .manage(Reports(Mutex::new(tx)))
        .state_sync_and(sync, tauri::generate_handler![commands::report])
        .build(crate::context(Box::new(Client)));
    crate::run_beside(app, "real webviews", WHOLE, move |app| scenario(app, &rx))
}

/// What each window's client reported last, by kind.
#[derive(Default)]
struct Seen(BTreeMap<(String, String), Value>);

impl Seen {
    /// Waits until every window in `labels` has reported `kind` meeting
    /// `ok`; an `error` report fails at once.
    fn wait(
        &mut self,
        rx: &Receiver<Value>,
        labels: &[&str],
        kind: &str,
        what: &str,
        ok: impl Fn(&Value) -> bool,
    ) -> Result<(), String> {
        let deadline = Instant::now() + STEP;
        loop {
            let done = labels.iter().all(|l| {
                self.0
                    .get(&((*l).to_owned(), kind.to_owned()))
                    .is_some_and(&ok)
            });
            if done {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let report = rx.recv_timeout(left).map_err(|_| {
                format!(
                    "{what}: not seen within {} s; last reports: {}",
                    STEP.as_secs(),
                    self.summary()
                )
            })?;
            let field = |k: &str| {
                report
                    .get(k)
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_owned()
            };
            if field("kind") == "error" {
                return Err(format!(
                    "{what}: window {} reported {report}",
                    field("label")
                ));
            }
            self.0.insert((field("label"), field("kind")), report);
        }
    }

    /// One line: each window's last report of each kind, in short.
    fn summary(&self) -> String {
        let short = |r: &Value| match r.get("received").and_then(Value::as_array) {
            Some(received) => format!("{} payloads received", received.len()),
            None => format!("revision {}", r["revision"]),
        };
        self.0
            .iter()
            .map(|((label, kind), r)| format!("{label} {kind}: {}", short(r)))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// A `state` report of a window that has applied `revision`, with data
/// `{"n": revision}`.
fn at(revision: u64) -> impl Fn(&Value) -> bool {
    move |r| r["revision"] == json!(revision.to_string()) && r["data"] == json!({"n": revision})
}

fn open(app: &AppHandle<Wry>, label: &str) -> Result<(), String> {
    WebviewWindowBuilder::new(app, label, WebviewUrl::App("index.html".into()))
        .title(label)
        .on_page_load(|webview, payload| {
            if std::env::var_os("STATE_SYNC_WEBVIEW_VERBOSE").is_some() {
                eprintln!(
                    "page {:?} of {}: {:?}",
                    payload.url().as_str(),
                    webview.label(),
                    payload.event()
                );
            }
        })
        .build()
        .map(drop)
        .map_err(|e| format!("window {label}: {e}"))
}

fn set(app: &AppHandle<Wry>, n: u64) -> Result<(), String> {
    app.set_topic("settings", json!({"n": n}))
        .map(drop)
        .map_err(|e| format!("set_topic: {e}"))
}

fn scenario(app: &AppHandle<Wry>, rx: &Receiver<Value>) -> Result<(), String> {
    let mut seen = Seen::default();
    open(app, "a")?;
    open(app, "b")?;
    seen.wait(
        rx,
        &["a", "b"],
        "state",
        "both windows start at revision 0",
        at(0),
    )?;
    println!("real webviews: a and b started at revision 0");

    set(app, 1)?;
    seen.wait(
        rx,
        &["a", "b"],
        "state",
        "a change reaches both windows",
        at(1),
    )?;
    println!("real webviews: a change made in Rust reached both windows' JavaScript");

    for n in 2..=51 {
        set(app, n)?;
    }
    seen.wait(rx, &["a", "b"], "state", "a burst of 50 converges", at(51))?;
    println!("real webviews: a burst of 50 changes converged in both windows");

    open(app, "late")?;
    seen.wait(
        rx,
        &["late"],
        "state",
        "a window opened late gets the state",
        at(51),
    )?;
    println!("real webviews: a window opened late got revision 51");

    let garbage = [
        json!({"topic": "settings", "revision": 52}),
        json!("not an event"),
        json!({"topic": "settings", "revision": "052", "extra": {"nested": [1, null, {"deep": true}]}}),
        json!(null),
    ];
    for payload in &garbage {
        app.emit(DEFAULT_EVENT, payload)
            .map_err(|e| format!("emit: {e}"))?;
    }
    app.emit("test:probe", ())
        .map_err(|e| format!("emit: {e}"))?;
    let tail = |r: &Value| {
        r["received"]
            .as_array()
            .is_some_and(|got| got.ends_with(&garbage))
    };
    seen.wait(
        rx,
        &["a", "b", "late"],
        "probe",
        "garbage arrives as emitted",
        tail,
    )?;
    println!("real webviews: the garbage the backend emitted is what the JavaScript received");

    app.emit("test:unlisten", "b")
        .map_err(|e| format!("emit: {e}"))?;
    seen.wait(rx, &["b"], "unlistened", "b unlistens", |_| true)?;
    set(app, 52)?;
    seen.wait(
        rx,
        &["a", "late"],
        "state",
        "the others sync after b unlistened",
        at(52),
    )?;
    app.emit("test:probe", ())
        .map_err(|e| format!("emit: {e}"))?;
    seen.0.remove(&("b".to_owned(), "probe".to_owned()));
    let nothing = |r: &Value| r["received"] == json!([]);
    seen.wait(
        rx,
        &["b"],
        "probe",
        "nothing reaches b's handler after unlisten",
        nothing,
    )?;
    println!("real webviews: after unlisten, b's handler heard nothing");

    let b = app
        .get_webview_window("b")
        .ok_or("window b is gone before it was closed")?;
    b.destroy().map_err(|e| format!("closing b: {e}"))?;
    set(app, 53)?;
    seen.wait(
        rx,
        &["a", "late"],
        "state",
        "the others sync after b closed",
        at(53),
    )?;
    println!("real webviews: after b closed, a and late synced revision 53");
    Ok(())
}
