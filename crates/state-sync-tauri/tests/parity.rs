//! Verdict parity: `tauri_mock` is this project's claim about how Tauri
//! behaves, so on every spec it must get the verdict real Tauri gets (on
//! `MockRuntime`, through this crate), and its snapshot command must answer
//! every request — malformed ones included — with the very value Tauri
//! answers with.
//!
//! `cargo test -p state-sync-tauri --test parity -- --nocapture` prints the
//! table.

mod support;

use std::collections::BTreeMap;

use serde_json::{Value, json};
use state_sync::PortError;
use state_sync_conformance::reference;
use state_sync_conformance::{Backend, SnapshotHandler, Suite};
use state_sync_transports::tauri_mock;

#[test]
fn every_spec_gets_the_same_verdict_on_tauri_and_on_the_mock() {
    let report = Suite::new()
        .transport(support::transport())
        .transport(reference::tauri_mock())
        .run()
        .expect("the suite runs");
    let mut verdicts: BTreeMap<&str, BTreeMap<&str, String>> = BTreeMap::new();
    for case in &report.cases {
        verdicts
            .entry(case.spec.as_str())
            .or_default()
            .insert(case.transport.as_str(), case.verdict.to_string());
    }
    let mut pairs: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut differ = Vec::new();
    for (spec, by) in &verdicts {
        let (real, mock) = (by["tauri"].clone(), by["tauri-mock"].clone());
        if real != mock {
            differ.push(format!("{spec}: tauri {real}, tauri-mock {mock}"));
        }
        *pairs.entry((real, mock)).or_default() += 1;
    }
    println!("| tauri (MockRuntime) | tauri-mock | specs |\n|---|---|---|");
    for ((real, mock), n) in &pairs {
        println!("| {real} | {mock} | {n} |");
    }
    assert_eq!(verdicts.len(), report.cases.len() / 2);
    assert!(
        differ.is_empty(),
        "verdicts differ:\n  {}",
        differ.join("\n  ")
    );
}

/// What both serve: one topic, and an error value for any other.
fn handler() -> SnapshotHandler {
    SnapshotHandler::sync(|topic| match topic {
        "settings" => Ok(
            json!({"revision": "18446744073709551615", "data": {"theme": "dark", "big": 9007199254740993_u64}}),
        ),
        other => Err(PortError::from_json(json!({"code": 404, "topic": other}))),
    })
}

#[tokio::test]
async fn the_mock_command_answers_every_request_as_tauri_does() {
    let real = support::TauriBackend::open().expect("a Tauri app");
    real.serve(handler());
    let real_window = real.webview_window("main");
    let mock = tauri_mock::Bus::new();
    mock.serve(handler());
    let mock_window = mock.window("settings");
    let requests = [
        ("get_snapshot", json!({"topic": "settings"})),
        ("get_snapshot", json!({"topic": "elsewhere"})),
        ("get_snapshot", json!({"topic": 42})),
        ("get_snapshot", json!({"topic": null})),
        ("get_snapshot", json!({"topic": ["settings"]})),
        ("get_snapshot", json!({"topic": "settings", "extra": true})),
        ("get_snapshot", json!("settings")),
        ("get_snapshot", json!([1, 2])),
        ("no_such_command", json!({"topic": "settings"})),
    ];
    let mut differ = Vec::new();
    for (command, args) in requests {
        let from_tauri = support::invoke(&real_window, command, args.clone())
            .await
            .expect("Tauri answers");
        let from_mock = mock_window
            .webview()
            .invoke(command, args.clone())
            .await
            .map_err(|e| e.value().clone());
        println!("{command} {args}\n  tauri:      {from_tauri:?}\n  tauri-mock: {from_mock:?}");
        if from_tauri != from_mock {
            differ.push(format!(
                "{command} {args}: tauri {from_tauri:?}, mock {from_mock:?}"
            ));
        }
    }
    // Where the crate serves more than a plain `topic: String` command (and
    // the mock, an emulation of Tauri, does not): a request without
    // `topic`. This app does not list its topics, so it rejects naming
    // the fix; the mock rejects as Tauri would.
    for args in [json!({}), json!({"Topic": "settings"}), json!(null)] {
        let from_tauri = support::invoke(&real_window, "get_snapshot", args.clone())
            .await
            .expect("Tauri answers");
        let from_mock = mock_window
            .webview()
            .invoke("get_snapshot", args.clone())
            .await
            .map_err(|e| e.value().clone());
        let said = |answer: &Result<Value, Value>, part: &str| matches!(answer, Err(Value::String(why)) if why.contains(part));
        if !said(&from_tauri, "was called without `topic`")
            || !said(&from_mock, "missing required key topic")
        {
            differ.push(format!(
                "get_snapshot {args}: tauri {from_tauri:?}, mock {from_mock:?}"
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "answers differ:\n  {}",
        differ.join("\n  ")
    );
}
