//! The command line: exit codes, filters, reports and errors.

use std::path::PathBuf;
use std::process::{Command, Output};

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_state-sync-conformance"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("state-sync-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn run_filters_prints_the_matrix_and_writes_three_reports() {
    let out = temp_dir("run");
    let o = cli(&[
        "run",
        "--transport",
        "memory",
        "--spec",
        "late-join-after-changes",
        "--out",
        out.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let stdout = text(&o.stdout);
    assert!(stdout.contains("| `late-join-after-changes` |"), "{stdout}");
    assert!(
        stdout.contains("1 cases") || stdout.contains("1 case"),
        "{stdout}"
    );
    for file in ["report.json", "report.md", "junit.xml"] {
        assert!(out.join(file).is_file(), "{file} written");
    }
    let json = std::fs::read_to_string(out.join("report.json")).expect("report");
    assert!(json.contains("\"transport\": \"memory\""), "{json}");
}

#[test]
fn zero_cases_is_a_failure() {
    let out = temp_dir("zero");
    let o = cli(&[
        "run",
        "--spec",
        "no-such-spec",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("zero cases"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn unknown_transport_is_a_usage_error() {
    let o = cli(&["run", "--transport", "carrier-pigeon"]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains("carrier-pigeon") && err.contains("memory, channel, tauri-mock"),
        "{err}"
    );
}

#[test]
fn check_reports_bad_files_with_path_and_exit_code_2() {
    let dir = temp_dir("check");
    std::fs::write(
        dir.join("bad.json"),
        r#"{"id": "Bad Id", "title": "t", "clauses": ["NOPE-1"], "level": "must", "steps": [{"settle": {}}]}"#,
    )
    .expect("write");
    let o = cli(&["check", dir.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(err.contains("bad.json: at .id"), "{err}");
    assert!(
        err.contains("bad.json: at .clauses[0]: unknown clause \"NOPE-1\""),
        "{err}"
    );

    let o = cli(&["check"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("spec(s) OK"));
}

#[test]
fn list_and_schema() {
    let o = cli(&["list", "--tag", "late-join"]);
    assert_eq!(o.status.code(), Some(0));
    let listed = text(&o.stdout);
    assert!(listed.contains("late-join-after-changes"), "{listed}");
    assert!(!listed.contains("topic-isolation "), "{listed}");

    let o = cli(&["schema"]);
    assert_eq!(o.status.code(), Some(0));
    let schema: serde_json::Value = serde_json::from_slice(&o.stdout).expect("schema is JSON");
    assert_eq!(schema["title"], "Spec");
}
