//! The checks on Tauri's real runtime — webview windows whose JavaScript
//! syncs through `window.__TAURI__`, and the contract corpus on the real
//! event system — live in `crates/webview-check`, outside the workspace, so
//! that the real runtime (wry, WebKitGTK) stays out of every other build.
//! `.ci/webviews` (part of `.ci/run`) builds and runs them under an Xvfb it
//! starts and stops itself.
//!
//! A plain `cargo test` lists the test below as ignored, saying so; run it
//! from a checkout of the repository with
//! `cargo test -p state-sync-tauri --test real_webviews -- --ignored`
//! (needs the WebKitGTK libraries and Xvfb: `.ci/system-libraries`
//! installs them on Debian and Ubuntu).

use std::path::Path;
use std::process::Command;

#[test]
#[ignore = "Tauri's real runtime (webviews under Xvfb, the corpus on the real event system) is checked by `.ci/webviews`, part of `.ci/run`; to run it here: `cargo test -p state-sync-tauri --test real_webviews -- --ignored`"]
fn real_runtime_checks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let script = root.join(".ci/webviews");
    assert!(
        script.is_file(),
        "{} is not here: the real-runtime checks run from a checkout of the repository, not from a packaged crate",
        script.display()
    );
    let status = Command::new("bash")
        .arg(&script)
        .current_dir(&root)
        .status()
        .expect("bash runs");
    assert!(status.success(), "{} failed: {status}", script.display());
}
