//! Snapshots of the canonical JSON report for each reference transport.
//! A change in any verdict, seed, virtual duration or clause coverage shows
//! up here for review (`cargo insta review`).

use state_sync_conformance::{Suite, report};

fn snapshot(transport: &str) {
    let suite = Suite::new().reference_transports();
    let report = suite
        .run_filtered(|t, _| t == transport)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(report.summary.ok, "{}", report::to_markdown(&report));
    insta::assert_snapshot!(format!("report-{transport}"), report::to_json(&report));
}

#[test]
fn memory_report() {
    snapshot("memory");
}

#[test]
fn channel_report() {
    snapshot("channel");
}

#[test]
fn tauri_mock_report() {
    snapshot("tauri-mock");
}
