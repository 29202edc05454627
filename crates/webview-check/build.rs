//! Tells the test where Tauri's global API script is (the `window.__TAURI__`
//! a generated context would inject with `withGlobalTauri`).

fn main() {
    const KEY: &str = "DEP_TAURI_GLOBAL_API_SCRIPT_PATH";
    println!("cargo:rerun-if-env-changed={KEY}");
    match std::env::var(KEY) {
        Ok(path) => println!("cargo:rustc-env=TAURI_GLOBAL_API_SCRIPT={path}"),
        Err(_) => panic!(
            "{KEY} is not set: the `tauri` dependency did not say where its global API script is"
        ),
    }
}
