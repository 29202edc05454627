//! The command line: exit codes, filters, reports and errors.

use std::process::{Command, Output, Stdio};

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_state-sync-conformance"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn temp_dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("state-sync-cli-{name}-"))
        .tempdir()
        .expect("temp dir")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn run_filters_prints_the_matrix_and_writes_three_reports() {
    let out = temp_dir("run");
    let out = out.path();
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
    assert_eq!(
        stdout, "conformant: 1 case — 1 pass\nchecks: 6 carried out, 0 not checked\n",
        "plain text: not a terminal"
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
    let out = out.path();
    let o = cli(&[
        "run",
        "--tag",
        "no-such-tag",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("zero cases"),
        "{}",
        text(&o.stderr)
    );
    // A --spec naming no spec is a usage error, before anything runs.
    let o = cli(&[
        "run",
        "--spec",
        "no-such-spec",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("no spec matches --spec no-such-spec"),
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
    let dir = dir.path();
    std::fs::write(
        dir.join("bad.json"),
        r#"{"id": "Bad Id", "title": "t", "clauses": ["NOPE-1"], "level": "must", "steps": [{"settle": {}}]}"#,
    )
    .expect("write");
    std::fs::write(
        dir.join("worse.json"),
        r#"{"id": "worse", "title": "t", "clauses": ["LIFE-1"], "level": "must", "steps": [{"start": {"window": "nowhere"}}]}"#,
    )
    .expect("write");
    let o = cli(&["check", dir.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    // Every error of every file, in one pass.
    assert!(
        err.contains("worse.json: at .steps[0].start.window: window \"nowhere\" is not open"),
        "{err}"
    );
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

    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("late-join-after-changes ")),
        "{listed}"
    );
    let o = cli(&[
        "list",
        "--spec",
        "late-join-after-changes",
        "--spec",
        "no-such-spec",
    ]);
    assert_eq!(o.status.code(), Some(2), "an unknown id is an error");
    assert!(
        text(&o.stderr).contains("no-such-spec"),
        "{}",
        text(&o.stderr)
    );
    let o = cli(&["list", "--spec", "claims-synchronous*"]);
    assert!(
        text(&o.stdout).contains("synchronous-delivery"),
        "list shows what a spec requires: {}",
        text(&o.stdout)
    );

    let o = cli(&["schema"]);
    assert_eq!(o.status.code(), Some(0));
    let schema: serde_json::Value = serde_json::from_slice(&o.stdout).expect("schema is JSON");
    assert_eq!(schema["title"], "Spec");
}

#[test]
fn quiet_prints_one_line_and_failures_are_grouped() {
    let out = temp_dir("quiet");
    let out = out.path();
    let o = cli(&[
        "run",
        "--quiet",
        "--transport",
        "memory",
        "--spec",
        "late-join*",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let stdout = text(&o.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.starts_with("conformant: "), "{stdout}");
    assert!(text(&o.stderr).is_empty(), "{}", text(&o.stderr));
}

#[test]
fn a_closed_stdout_is_not_an_error_and_the_reports_are_written() {
    let out = temp_dir("pipe");
    let out = out.path();
    let mut child = Command::new(env!("CARGO_BIN_EXE_state-sync-conformance"))
        .args([
            "run",
            "--transport",
            "memory",
            "--spec",
            "late-join*",
            "--out",
        ])
        .arg(out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    // The reader goes away before anything is written (`run | head -0`).
    drop(child.stdout.take());
    let o = child.wait_with_output().expect("it ends");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(!text(&o.stderr).contains("panicked"), "{}", text(&o.stderr));
    for file in ["report.json", "report.md", "junit.xml"] {
        assert!(out.join(file).is_file(), "{file} written");
    }
}

#[test]
fn check_rejects_an_id_the_embedded_corpus_has() {
    let dir = temp_dir("clash");
    let dir = dir.path();
    std::fs::write(
        dir.join("mine.json"),
        r#"{"id": "late-join-after-changes", "title": "t", "clauses": ["LIFE-1"], "level": "must", "steps": [{"settle": {}}]}"#,
    )
    .expect("write");
    let o = cli(&["check", dir.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("duplicate spec id"),
        "{}",
        text(&o.stderr)
    );
    let o = cli(&["check", "--no-embedded", dir.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
}

#[test]
fn bless_writes_the_known_failures_file() {
    let dir = temp_dir("bless");
    let dir = dir.path();
    let specs = dir.join("specs");
    std::fs::create_dir_all(&specs).expect("mkdir");
    std::fs::write(
        specs.join("failing.json"),
        r#"{"id": "user-failing", "title": "t", "clauses": ["LIFE-1"], "level": "must",
            "steps": [{"open": {"window": "a"}}, {"start": {"window": "a"}},
                      {"expect": {"window": "a", "local_revision": "9"}}]}"#,
    )
    .expect("write");
    let known = dir.join("known.json");
    let reports = dir.join("out");
    let args = [
        "run",
        "--no-embedded",
        "--specs-dir",
        specs.to_str().expect("utf-8"),
        "--transport",
        "memory",
        "--out",
        reports.to_str().expect("utf-8"),
        "--known-failures",
        known.to_str().expect("utf-8"),
    ];
    let o = cli(&args);
    assert_eq!(o.status.code(), Some(2), "the file does not exist yet");
    let mut blessing = args.to_vec();
    blessing.push("--bless");
    let o = cli(&blessing);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&known).expect("written")).expect("JSON");
    assert_eq!(
        written["user-failing"]["transports"],
        serde_json::json!(["memory"])
    );
    assert!(
        written["user-failing"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("local revision")),
        "{written}"
    );
    let o = cli(&args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "expected-fail now: {}",
        text(&o.stderr)
    );
}

#[test]
fn run_driver_checks_the_drivers_engine_over_each_transport_given() {
    let out = temp_dir("driver");
    let out = out.path();
    let o = cli(&[
        "run",
        "--driver",
        env!("CARGO_BIN_EXE_state-sync-reference-driver"),
        "--transport",
        "memory",
        "--transport",
        "channel",
        "--spec",
        "late-join-after-changes",
        "--out",
        out.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stdout),
        "conformant: 2 cases — 2 pass\nchecks: 12 carried out, 0 not checked\n"
    );
    let json = std::fs::read_to_string(out.join("report.json")).expect("report");
    for name in ["state-sync-on-memory", "state-sync-on-channel"] {
        assert!(
            json.contains(&format!("\"transport\": \"{name}\"")),
            "{json}"
        );
    }
    assert!(
        json.contains("\"driver\": \"state-sync 0.1.0 (rust)\""),
        "{json}"
    );
}

#[test]
fn a_driver_that_does_not_start_errors_every_case_with_a_rerun_naming_it() {
    let out = temp_dir("no-driver");
    let out = out.path();
    let o = cli(&[
        "run",
        "--driver",
        "/nonexistent/driver --flag",
        "--spec",
        "late-join-after-changes",
        "--out",
        out.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let json = std::fs::read_to_string(out.join("report.json")).expect("report");
    assert!(json.contains("\"verdict\": \"error\""), "{json}");
    assert!(json.contains("could not start the driver"), "{json}");
    assert!(
        json.contains("run --driver '/nonexistent/driver --flag' --transport memory --spec late-join-after-changes"),
        "{json}"
    );
}

#[test]
fn vectors_runs_the_golden_vectors_through_a_driver() {
    let o = cli(&[
        "vectors",
        "--driver",
        env!("CARGO_BIN_EXE_state-sync-reference-driver"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stdout),
        "58 of 58 revision vectors classified as the vectors file says\n"
    );
}

/// A failing case of a user's spec folder prints a rerun line that works as
/// printed: it names the folder, and running it reproduces the failure.
#[test]
fn a_rerun_line_works_as_printed_for_a_spec_folder() {
    let specs = temp_dir("rerun-specs");
    let specs = specs.path();
    std::fs::write(
        specs.join("mine.json"),
        r#"{"id": "mine", "title": "t", "clauses": ["LIFE-2"], "level": "must",
            "steps": [{"open": {"window": "a"}}, {"start": {"window": "a"}},
                      {"expect": {"window": "a", "local_revision": "7"}}]}"#,
    )
    .expect("spec");
    let out = temp_dir("rerun-out");
    let out = out.path();
    let dir = specs.to_str().expect("utf-8");
    let o = cli(&[
        "run",
        "--no-embedded",
        "--specs-dir",
        dir,
        "--transport",
        "memory",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).expect("report"))
            .expect("JSON");
    let rerun = report["cases"][0]["rerun"].as_str().expect("a rerun line");
    assert!(
        rerun.contains(&format!("--specs-dir {dir}")) && rerun.contains("--no-embedded"),
        "{rerun}"
    );
    let words: Vec<&str> = rerun.split_whitespace().skip(1).collect();
    let again = temp_dir("rerun-again");
    let again = again.path();
    let mut args = words.clone();
    args.extend(["--out", again.to_str().expect("utf-8"), "--verbose"]);
    let o = cli(&args);
    assert_eq!(
        o.status.code(),
        Some(1),
        "the rerun reproduces the failure: {}",
        text(&o.stderr)
    );
    let stdout = text(&o.stdout);
    assert!(stdout.contains("1 fail"), "{stdout}");
    // --verbose: the failing case with its failure, trace and rerun line.
    assert!(
        stdout.contains("memory::mine fail") && stdout.contains("LIFE-2: step 2 (expect)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("rerun: state-sync-conformance run"),
        "{stdout}"
    );
}

#[test]
fn help_documents_the_exit_status() {
    let o = cli(&["--help"]);
    let help = text(&o.stdout);
    for line in [
        "Exit status:",
        "0  the run conforms",
        "1  a case fails the run",
        "2  the command could not do its job",
    ] {
        assert!(help.contains(line), "{help}");
    }
}
