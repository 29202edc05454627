//! state-sync-tauri in real webviews: a Tauri app on the real runtime (wry,
//! WebKitGTK), its windows running a small JavaScript test client
//! (`client.html`) that uses `window.__TAURI__`'s `listen` and `invoke` as
//! the original adapter does. The client reports what it sees through the
//! `report` command; this process drives the backend and checks:
//!
//! 1. a change made in Rust reaches both windows' JavaScript (event, then
//!    the snapshot through `get_snapshot`);
//! 2. a burst of 50 changes converges both to the last;
//! 3. a window opened late gets the state;
//! 4. garbage emitted by the backend is what the JavaScript receives;
//! 5. after `unlisten`, a window's handler hears nothing more, and the
//!    others keep syncing after that window closed.
//!
//! Without a display, the process starts Xvfb on a free display number,
//! runs itself again under it, and stops Xvfb by PID. Without Xvfb either,
//! it says what it skipped and how to run it, and passes. Every wait is
//! bounded: a hang fails the run.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use state_sync_tauri::{BuilderExt, DEFAULT_EVENT, StateSync, StateSyncExt};
use tauri::utils::acl::resolved::{Resolved, ResolvedCommand};
use tauri::{AppHandle, Emitter, Manager, WebviewUrl, WebviewWindowBuilder, Wry};

/// Set in the process that runs the app under the display it was given.
const CHILD: &str = "STATE_SYNC_WEBVIEW_CHILD";
/// How long one step may wait for the windows.
const STEP: Duration = Duration::from_secs(60);
/// How long the whole run may take.
const WHOLE: Duration = Duration::from_secs(240);

fn main() -> ExitCode {
    if std::env::var_os(CHILD).is_some() {
        return run_app();
    }
    if std::env::var_os("DISPLAY").is_some() {
        return under(None);
    }
    match start_xvfb() {
        Ok(Some(xvfb)) => under(Some(xvfb)),
        Ok(None) => {
            println!(
                "real webviews: SKIPPED — no display and no Xvfb here. Install xvfb (Debian: \
                 `apt-get install xvfb`), or run `.ci/webviews`, which does."
            );
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("real webviews: could not start Xvfb: {why}");
            ExitCode::FAILURE
        }
    }
}

/// An Xvfb server this process started, stopped (by PID) when dropped.
struct Xvfb {
    child: Child,
    display: String,
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts Xvfb on the first free display from :90, if Xvfb is installed.
fn start_xvfb() -> Result<Option<Xvfb>, String> {
    let installed = Command::new("Xvfb")
        .arg("-help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !installed {
        return Ok(None);
    }
    let n = (90..200)
        .find(|n| {
            !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
                && !Path::new(&format!("/tmp/.X{n}-lock")).exists()
        })
        .ok_or("no free display number from :90 to :199")?;
    let display = format!(":{n}");
    let child = Command::new("Xvfb")
        .args([&display, "-screen", "0", "1280x1024x24", "-nolisten", "tcp"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("Xvfb {display}: {e}"))?;
    let xvfb = Xvfb { child, display };
    let socket = format!("/tmp/.X11-unix/X{n}");
    let started = Instant::now();
    while !Path::new(&socket).exists() {
        if started.elapsed() > Duration::from_secs(20) {
            return Err(format!(
                "Xvfb {} did not open {socket} within 20 s",
                xvfb.display
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Some(xvfb))
}

/// Runs this binary again as the app, on `xvfb`'s display (or the one the
/// environment names), and passes its verdict on.
fn under(xvfb: Option<Xvfb>) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("real webviews: where is this test binary? {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut app = Command::new(exe);
    app.env(CHILD, "1")
        // Software rendering: no GPU under Xvfb or in a container.
        .env("WEBKIT_DISABLE_DMABUF_RENDERER", "1")
        .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
        .env("LIBGL_ALWAYS_SOFTWARE", "1");
    if let Some(xvfb) = &xvfb {
        app.env("DISPLAY", &xvfb.display);
    }
    let status = app.status();
    drop(xvfb);
    match status {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(s) => {
            eprintln!("real webviews: FAILED ({s})");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("real webviews: the app did not start: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Tauri's global API (`window.__TAURI__`), as a generated context carries it.
const GLOBAL_API_SCRIPTS: &[&str] = &[include_str!(env!("TAURI_GLOBAL_API_SCRIPT"))];

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

/// The ACL a generated context would carry for the two event commands the
/// client calls, on every window, for the app's own pages.
fn event_acl() -> Resolved {
    let everywhere = ResolvedCommand {
        windows: vec![glob::Pattern::new("*").expect("a glob")],
        ..ResolvedCommand::default()
    };
    let mut resolved = Resolved::default();
    for command in ["plugin:event|listen", "plugin:event|unlisten"] {
        resolved
            .allowed_commands
            .insert(command.to_owned(), vec![everywhere.clone()]);
    }
    resolved
}

fn run_app() -> ExitCode {
    let (tx, rx) = channel();
    // What `tauri::generate_context!` would give an app with
    // `withGlobalTauri` and a capability allowing the event commands.
    let mock = tauri::test::mock_context::<Wry, _>(tauri::test::noop_assets());
    let mut config = mock.config().clone();
    config.app.with_global_tauri = true;
    let context = tauri::Context::new(
        config,
        Box::new(Client),
        None,
        None,
        mock.package_info().clone(),
        tauri::Pattern::Brownfield,
        tauri::runtime_authority!(Default::default(), event_acl()),
        Some(GLOBAL_API_SCRIPTS),
    );
    let sync = StateSync::new().topic("settings", json!({"n": 0}));
    let app = tauri::Builder::<Wry>::new()
        .manage(Reports(Mutex::new(tx)))
        .state_sync_and(sync, tauri::generate_handler![commands::report])
        .build(context);
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            eprintln!("real webviews: the app did not build: {e}");
            return ExitCode::FAILURE;
        }
    };
    let handle = app.handle().clone();
    std::thread::spawn(move || {
        let code = match scenario(&handle, &rx) {
            Ok(()) => {
                println!("real webviews: all checks passed");
                0
            }
            Err(why) => {
                eprintln!("real webviews: {why}");
                1
            }
        };
        handle.exit(code);
    });
    std::thread::spawn(|| {
        std::thread::sleep(WHOLE);
        eprintln!(
            "real webviews: the run took longer than {} s",
            WHOLE.as_secs()
        );
        std::process::exit(1);
    });
    let code = app.run_return(|_, _| {});
    if code == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
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
