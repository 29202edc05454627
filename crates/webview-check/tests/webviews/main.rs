//! state-sync-tauri on Tauri's real runtime (wry, WebKitGTK), in two
//! apps, each a process of its own (a process can run one event loop):
//!
//! - **client** (`client.rs`): webview windows running a small JavaScript
//!   test client (`client.html`) that uses `window.__TAURI__`'s `listen`
//!   and `invoke` as the original adapter does — a change reaches both
//!   windows, a burst converges, a late window gets the state, garbage
//!   arrives as emitted, `unlisten` leaves nothing behind;
//! - **corpus** (`corpus.rs`): the contract corpus on the crate's Rust
//!   window ends over the real runtime's event system, on real time, next
//!   to the same corpus on `MockRuntime`, and every spec both run must get
//!   the same verdict.
//!
//! Without a display, the process starts Xvfb on a free display number,
//! runs itself again under it for each app, and stops Xvfb by PID. Without
//! Xvfb either, it says what it skipped and how to run it, and passes.
//! Every wait is bounded: a hang fails the run.

mod client;
mod corpus;
#[path = "../../../state-sync-tauri/tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use tauri::utils::acl::resolved::{Resolved, ResolvedCommand};
use tauri::{App, AppHandle, Wry};

/// Set in the process that runs an app under the display it was given:
/// which app.
const CHILD: &str = "STATE_SYNC_WEBVIEW_CHILD";
/// The apps, in the order they run.
const APPS: [&str; 2] = ["client", "corpus"];

fn main() -> ExitCode {
    match std::env::var(CHILD).as_deref() {
        Ok("client") => return client::run(),
        Ok("corpus") => return corpus::run(),
        Ok(other) => {
            eprintln!("real webviews: no app {other:?} (one of {APPS:?})");
            return ExitCode::FAILURE;
        }
        Err(_) => {}
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

/// Runs this binary again as each app, on `xvfb`'s display (or the one the
/// environment names): fails if any app failed.
fn under(xvfb: Option<Xvfb>) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("real webviews: where is this test binary? {e}");
            return ExitCode::FAILURE;
        }
    };
    let failed: Vec<&str> = APPS
        .into_iter()
        .filter(|name| !run_child(&exe, name, xvfb.as_ref()))
        .collect();
    drop(xvfb);
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("real webviews: FAILED: {}", failed.join(", "));
        ExitCode::FAILURE
    }
}

/// Runs app `name` in a child process; whether it passed.
fn run_child(exe: &Path, name: &str, xvfb: Option<&Xvfb>) -> bool {
    let mut app = Command::new(exe);
    app.env(CHILD, name)
        // Software rendering: no GPU under Xvfb or in a container.
        .env("WEBKIT_DISABLE_DMABUF_RENDERER", "1")
        .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
        .env("LIBGL_ALWAYS_SOFTWARE", "1");
    if let Some(xvfb) = xvfb {
        app.env("DISPLAY", &xvfb.display);
    }
    match app.status() {
        Ok(s) if s.success() => true,
        Ok(s) => {
            eprintln!("real webviews: the {name} app failed ({s})");
            false
        }
        Err(e) => {
            eprintln!("real webviews: the {name} app did not start: {e}");
            false
        }
    }
}

/// Tauri's global API (`window.__TAURI__`), as a generated context carries it.
const GLOBAL_API_SCRIPTS: &[&str] = &[include_str!(env!("TAURI_GLOBAL_API_SCRIPT"))];

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

/// What `tauri::generate_context!` would give an app with
/// `withGlobalTauri` and a capability allowing the event commands, serving
/// `assets`.
fn context(assets: Box<dyn tauri::Assets<Wry>>) -> tauri::Context<Wry> {
    let mock = tauri::test::mock_context::<Wry, _>(tauri::test::noop_assets());
    let mut config = mock.config().clone();
    config.app.with_global_tauri = true;
    tauri::Context::new(
        config,
        assets,
        None,
        None,
        mock.package_info().clone(),
        tauri::Pattern::Brownfield,
        tauri::runtime_authority!(Default::default(), event_acl()),
        Some(GLOBAL_API_SCRIPTS),
    )
}

/// Runs `check` on a thread of its own beside `app`'s event loop, which
/// this thread runs; the app exits with the check's verdict, or fails
/// when the check takes longer than `whole`. `name` starts every line.
fn run_beside(
    app: Result<App<Wry>, tauri::Error>,
    name: &'static str,
    whole: Duration,
    check: impl FnOnce(&AppHandle<Wry>) -> Result<(), String> + Send + 'static,
) -> ExitCode {
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            eprintln!("{name}: the app did not build: {e}");
            return ExitCode::FAILURE;
        }
    };
    let handle = app.handle().clone();
    std::thread::spawn(move || {
        let code = match check(&handle) {
            Ok(()) => {
                println!("{name}: all checks passed");
                0
            }
            Err(why) => {
                eprintln!("{name}: {why}");
                1
            }
        };
        handle.exit(code);
    });
    std::thread::spawn(move || {
        std::thread::sleep(whole);
        eprintln!("{name}: the run took longer than {} s", whole.as_secs());
        std::process::exit(1);
    });
    let code = app.run_return(|_, _| {});
    if code == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
