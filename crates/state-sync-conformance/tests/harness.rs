//! The `cargo test` harness itself, run as a user's test target would be:
//! this binary (`harness = false`) re-runs itself as a suite — chosen by
//! [`FIXTURE_ENV`] — and checks what those runs print, exit with and
//! write. Crashes and panics of transports, the one-step accept, and the
//! merge of per-case records as cargo-nextest leaves them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::Value;
use state_sync_conformance::harness::Target;
use state_sync_conformance::{
    Backend, Capabilities, SnapshotHandler, Suite, Transport, WindowEnds,
};
use state_sync_transports::memory;

/// Environment variable: which suite this binary runs as (unset: the
/// checks).
const FIXTURE_ENV: &str = "HARNESS_FIXTURE";
/// Environment variable: the fixture's folder (known failures, snapshots).
const DIR_ENV: &str = "HARNESS_FIXTURE_DIR";

/// How a fixture transport breaks, on every emit.
#[derive(Clone, Copy)]
enum Breakage {
    /// Its delivery thread overflows its stack (the process aborts).
    OverflowsItsStack,
    /// Its delivery thread panics.
    PanicsOnItsThread,
    /// It drops the event.
    Drops,
}

/// The memory transport with one [`Breakage`].
struct Broken {
    inner: memory::Bus,
    breakage: Breakage,
}

impl Backend for Broken {
    fn emit(&self, payload: &Value) {
        match self.breakage {
            Breakage::OverflowsItsStack => {
                // Deliberately bottomless: the thread's default stack ends it.
                let thread = std::thread::spawn(|| dive(0));
                let _ = thread.join();
            }
            Breakage::PanicsOnItsThread => {
                let thread = std::thread::Builder::new()
                    .name("fixture delivery".to_owned())
                    .spawn(|| panic!("fixture transport: delivery thread broke"))
                    .expect("thread");
                let _ = thread.join();
                self.inner.emit(payload);
            }
            Breakage::Drops => {}
        }
    }

    fn serve(&self, handler: SnapshotHandler) {
        self.inner.serve(handler);
    }

    fn window_ends(&self, label: &str, topic: &str) -> WindowEnds {
        self.inner.window_ends(label, topic)
    }

    fn active_subscriptions(&self) -> Option<usize> {
        self.inner.active_subscriptions()
    }
}

/// Recurses until the stack runs out.
fn dive(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth; 64]);
    if depth == u64::MAX {
        return frame[0];
    }
    dive(depth + 1).wrapping_add(frame[1])
}

fn broken(name: &str, breakage: Breakage) -> Transport {
    Transport::new(name, move || Broken {
        inner: memory::Bus::new(),
        breakage,
    })
    .with_capabilities(Capabilities::all())
}

fn fixture_specs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/harness-specs")
}

/// The suite this binary runs as, when [`FIXTURE_ENV`] says which.
fn fixture_suite(which: &str) -> Suite {
    let suite = Suite::new()
        .without_embedded_specs()
        .specs_dir(fixture_specs());
    let dir = PathBuf::from(std::env::var_os(DIR_ENV).unwrap_or_default());
    match which {
        "crashes" => suite
            .transport(state_sync_conformance::reference::memory())
            .transport(broken("overflows", Breakage::OverflowsItsStack))
            .transport(broken("panics", Breakage::PanicsOnItsThread)),
        "accept" => suite
            .transport(state_sync_conformance::reference::memory())
            .transport(broken("drops", Breakage::Drops))
            .known_failures(dir.join("known-failures.json"))
            .snapshot_reports_in(dir.join("snapshots")),
        "service" => suite.transport(served_transport(&dir)),
        other => panic!("no fixture {other:?}"),
    }
}

/// Appends `line` to the fixture folder's `service.log`.
fn log_line(dir: &Path, line: &str) {
    use std::io::Write;
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("service.log"))
        .expect("service.log");
    writeln!(log, "{line}").expect("logged");
}

/// The service's guard: logs its stop.
struct Stops(PathBuf);

impl Drop for Stops {
    fn drop(&mut self) {
        log_line(&self.0, "stopped");
    }
}

/// A memory transport behind a service that logs its start and its stop
/// (and, with `HARNESS_SERVICE_FAILS` set, does not start).
fn served_transport(dir: &Path) -> Transport {
    let dir = dir.to_owned();
    let service = state_sync_conformance::Service::new("fixture-broker", move || {
        if std::env::var_os("HARNESS_SERVICE_FAILS").is_some() {
            return Err("its program is missing".to_owned());
        }
        log_line(&dir, "started");
        Ok((
            format!("broker-of-{}", std::process::id()),
            Stops(dir.clone()),
        ))
    });
    Transport::with_service("served", &service, |address: &str| {
        if address.starts_with("broker-of-") {
            Ok(memory::Bus::new())
        } else {
            Err(format!("not the service's address: {address:?}"))
        }
    })
    .with_capabilities(Capabilities::all())
}

fn main() -> std::process::ExitCode {
    if let Ok(which) = std::env::var(FIXTURE_ENV) {
        let target = Target::__from_macro(
            env!("CARGO_PKG_NAME"),
            env!("CARGO_CRATE_NAME"),
            env!("CARGO_MANIFEST_DIR"),
            (file!(), module_path!()),
        );
        return fixture_suite(&which).harness(target);
    }
    let args = Arguments::from_args();
    let trials = vec![
        Trial::test(
            "a_crash_is_one_case_s_error_and_the_run_goes_on",
            crash_is_one_case,
        ),
        Trial::test(
            "a_panic_on_a_transport_thread_is_charged_to_its_case_alone",
            panic_is_its_case_s,
        ),
        Trial::test(
            "one_accept_turns_a_red_run_green_even_with_a_stale_pending_snapshot",
            accept_in_one_step,
        ),
        Trial::test(
            "nextest_records_merge_into_the_full_run_s_reports",
            nextest_merge,
        ),
        Trial::test(
            "a_filter_matching_nothing_and_ignored_runs_exit_non_zero",
            empty_selections,
        ),
        Trial::test(
            "a_service_runs_once_per_run_for_every_worker_and_stops_after_it",
            service_once_per_run,
        ),
    ];
    libtest_mimic::run(&args, trials).exit_code()
}

/// A fresh folder for one check.
fn temp_dir(name: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix(&format!("ssc-harness-{name}-"))
        .tempdir()
        .expect("temp dir");
    std::fs::write(dir.path().join("known-failures.json"), "{}\n").expect("known failures");
    dir
}

/// Runs this binary as fixture `which` with `args` and `env`, its reports
/// in `dir/reports`.
fn fixture(which: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let exe = std::env::current_exe().expect("the test binary");
    let mut command = Command::new(exe);
    command
        .args(args)
        .env(FIXTURE_ENV, which)
        .env(DIR_ENV, dir)
        .env("STATE_SYNC_CONFORMANCE_REPORTS", dir.join("reports"))
        .env_remove("NEXTEST_RUN_ID")
        .env_remove("STATE_SYNC_CONFORMANCE_BLESS")
        .env_remove("STATE_SYNC_CONFORMANCE_MERGE");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("the fixture runs")
}

fn text(output: &Output) -> String {
    format!(
        "exit: {:?}\n--- stdout\n{}--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The verdicts of a report, `transport::spec` → verdict.
fn verdicts(report: &Value) -> Vec<(String, String)> {
    report["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| {
            (
                format!(
                    "{}::{}",
                    c["transport"].as_str().unwrap_or(""),
                    c["spec"].as_str().unwrap_or("")
                ),
                c["verdict"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn report(dir: &Path) -> Value {
    let text =
        std::fs::read_to_string(dir.join("reports/report.json")).expect("report.json written");
    serde_json::from_str(&text).expect("report.json parses")
}

fn case<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| {
            format!(
                "{}::{}",
                c["transport"].as_str().unwrap_or(""),
                c["spec"].as_str().unwrap_or("")
            ) == name
        })
        .unwrap_or_else(|| panic!("no case {name}"))
}

fn ensure(ok: bool, what: impl Into<String>, output: &Output) -> Result<(), Failed> {
    if ok {
        Ok(())
    } else {
        Err(format!("{}\n{}", what.into(), text(output)).into())
    }
}

fn crash_is_one_case() -> Result<(), Failed> {
    let dir = temp_dir("crash");
    let dir = dir.path();
    let out = fixture("crashes", dir, &[], &[]);
    ensure(
        out.status.code() == Some(1),
        "a run with a crash fails (exit 1)",
        &out,
    )?;
    let report = report(dir);
    let crashed = case(&report, "overflows::one-change-arrives");
    ensure(
        crashed["verdict"] == "error",
        "the crashing case is `error`",
        &out,
    )?;
    let why = crashed["failures"][0].as_str().unwrap_or_default();
    ensure(
        why.contains("killed by signal 6 (SIGABRT)") && why.contains("overflowed its stack"),
        format!("the error names the signal and what the process said: {why}"),
        &out,
    )?;
    ensure(
        !why.contains("' ("),
        format!("no thread id (it differs from run to run): {why}"),
        &out,
    )?;
    ensure(
        crashed["trace"].as_array().is_some_and(|t| !t.is_empty()),
        "the crashed case keeps its trace so far",
        &out,
    )?;
    for (name, verdict) in verdicts(&report) {
        if name != "overflows::one-change-arrives" && name != "panics::one-change-arrives" {
            ensure(
                verdict == "pass",
                format!("{name} keeps its verdict (pass), got {verdict}"),
                &out,
            )?;
        }
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure(
        stdout.contains("NOT conformant: 6 cases — 4 pass, 2 error"),
        "the summary counts every case",
        &out,
    )?;
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

fn panic_is_its_case_s() -> Result<(), Failed> {
    let dir = temp_dir("panic");
    let dir = dir.path();
    // Two workers: the panicking case and its neighbours run side by side.
    let out = fixture("crashes", dir, &[], &[]);
    let report = report(dir);
    let panicked = case(&report, "panics::one-change-arrives");
    ensure(
        panicked["verdict"] == "error",
        "the panicking case is `error`",
        &out,
    )?;
    ensure(
        panicked["failures"].as_array().is_some_and(|f| {
            f.iter().any(|l| {
                l.as_str()
                    .is_some_and(|l| l.contains("delivery thread broke"))
            })
        }),
        "its failure quotes the panic",
        &out,
    )?;
    for name in [
        "memory::one-change-arrives",
        "memory::starts-and-reads",
        "panics::starts-and-reads",
        "overflows::starts-and-reads",
    ] {
        ensure(
            case(&report, name)["verdict"] == "pass",
            format!("{name} is not charged with the panic"),
            &out,
        )?;
    }
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

fn accept_in_one_step() -> Result<(), Failed> {
    let dir = temp_dir("accept");
    let dir = dir.path();
    let snapshots = dir.join("snapshots");
    std::fs::create_dir_all(&snapshots).expect("snapshots dir");
    let stale = snapshots.join("harness__report-drops.snap.new");
    std::fs::write(
        &stale,
        "---\nsource: old\nexpression: contents\n---\npass  drops::one-change-arrives\n",
    )
    .expect("stale");
    let red = fixture("accept", dir, &[], &[]);
    ensure(
        red.status.code() == Some(1),
        "the first run is red: a case fails and no snapshot exists",
        &red,
    )?;
    let stdout = String::from_utf8_lossy(&red.stdout);
    ensure(
        stdout.trim_end().lines().last().is_some_and(|l| {
            l.starts_with("to accept this run as it is (the known-failures file and the report snapshots), run: STATE_SYNC_CONFORMANCE_BLESS=1 cargo test -p state-sync-conformance --test harness")
        }),
        "the red run ends with the accept command",
        &red,
    )?;
    let accepted = fixture("accept", dir, &[], &[("STATE_SYNC_CONFORMANCE_BLESS", "1")]);
    ensure(
        accepted.status.success(),
        "the accept run succeeds",
        &accepted,
    )?;
    ensure(
        !stale.exists(),
        "the stale pending snapshot is gone",
        &accepted,
    )?;
    let known =
        std::fs::read_to_string(dir.join("known-failures.json")).expect("known failures written");
    ensure(
        known.contains("one-change-arrives"),
        format!("the failure is listed: {known}"),
        &accepted,
    )?;
    let green = fixture("accept", dir, &[], &[]);
    ensure(
        green.status.success(),
        "the next plain run is green",
        &green,
    )?;
    ensure(
        String::from_utf8_lossy(&green.stdout).contains("1 expected-fail"),
        "the failure is expected now",
        &green,
    )?;
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

fn nextest_merge() -> Result<(), Failed> {
    let dir = temp_dir("nextest");
    let dir = dir.path();
    let whole = dir.join("whole");
    let split = dir.join("split");
    for d in [&whole, &split] {
        std::fs::create_dir_all(d).expect("dir");
        std::fs::write(d.join("known-failures.json"), "{}\n").expect("known failures");
    }
    let full = fixture("accept", &whole, &[], &[]);
    ensure(
        full.status.code() == Some(1),
        "the full run is red (a dropping transport)",
        &full,
    )?;
    // As nextest does: list, then one process per case, `--exact`, in two
    // runs (two partitions).
    let listed = fixture("accept", &split, &["--list", "--format", "terse"], &[]);
    let names: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_owned)
        .collect();
    ensure(
        names.len() == 4,
        format!("four cases listed: {names:?}"),
        &listed,
    )?;
    for (i, name) in names.iter().enumerate() {
        let run_id = if i % 2 == 0 {
            "partition-1"
        } else {
            "partition-2"
        };
        let out = fixture(
            "accept",
            &split,
            &["--exact", name, "--nocapture"],
            &[("NEXTEST_RUN_ID", run_id)],
        );
        let fails = name == "drops::one-change-arrives";
        ensure(
            out.status.success() != fails,
            format!("{name}: its own verdict"),
            &out,
        )?;
    }
    ensure(
        !split.join("reports/report.json").exists(),
        "no process of a nextest run writes the reports",
        &listed,
    )?;
    let merged = fixture(
        "accept",
        &split,
        &[],
        &[("STATE_SYNC_CONFORMANCE_MERGE", "1")],
    );
    ensure(
        merged.status.code() == Some(1),
        "the merge is red, as the full run",
        &merged,
    )?;
    ensure(
        String::from_utf8_lossy(&merged.stdout)
            .contains("merged 4 case records from 2 nextest run(s)"),
        "the merge says what it read",
        &merged,
    )?;
    for file in ["report.json", "report.md", "junit.xml"] {
        let a = std::fs::read(whole.join("reports").join(file)).expect("whole report");
        let b = std::fs::read(split.join("reports").join(file)).expect("merged report");
        ensure(
            a == b,
            format!("{file}: the merge writes what the full run wrote"),
            &merged,
        )?;
    }
    // A partition's records missing: the merge names what it lacks.
    let partition = split.join("reports/nextest/partition-2");
    std::fs::remove_dir_all(&partition).expect("remove a partition");
    let lacking = fixture(
        "accept",
        &split,
        &[],
        &[("STATE_SYNC_CONFORMANCE_MERGE", "1")],
    );
    let stderr = String::from_utf8_lossy(&lacking.stderr);
    ensure(
        lacking.status.code() == Some(1) && stderr.contains("2 of 4 cases have no record"),
        "a merge missing cases fails, naming them",
        &lacking,
    )?;
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

fn empty_selections() -> Result<(), Failed> {
    let dir = temp_dir("select");
    let dir = dir.path();
    let none = fixture("accept", dir, &["--exact", "memory::no-such-spec"], &[]);
    ensure(
        none.status.code() == Some(1)
            && String::from_utf8_lossy(&none.stderr)
                .contains("no case matches \"memory::no-such-spec\" exactly"),
        "a filter matching nothing exits 1 and says so",
        &none,
    )?;
    let ignored = fixture("accept", dir, &["--ignored"], &[]);
    ensure(
        ignored.status.code() == Some(1),
        "`--ignored` runs nothing and says so",
        &ignored,
    )?;
    let one = fixture("accept", dir, &["--exact", "memory::starts-and-reads"], &[]);
    ensure(
        one.status.success()
            && String::from_utf8_lossy(&one.stdout)
                .contains("test memory::starts-and-reads ... ok"),
        "one case runs libtest's way",
        &one,
    )?;
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

/// A full run in worker processes starts the service once, in the process
/// that runs the suite; the workers reach it by its address; it stops when
/// the run is over. One that does not start makes its cases errors saying
/// why.
fn service_once_per_run() -> Result<(), Failed> {
    let dir = temp_dir("service");
    let dir = dir.path();
    let out = fixture("service", dir, &["--test-threads", "2"], &[]);
    ensure(out.status.code() == Some(0), "the run conforms", &out)?;
    let log = std::fs::read_to_string(dir.join("service.log")).unwrap_or_default();
    ensure(
        log == "started\nstopped\n",
        format!("started once, stopped once: {log:?}"),
        &out,
    )?;
    let passed = verdicts(&report(dir));
    ensure(
        passed.len() == 2 && passed.iter().all(|(_, v)| v == "pass"),
        format!("both cases pass in the workers: {passed:?}"),
        &out,
    )?;

    let failing = temp_dir("service-fails");
    let failing = failing.path();
    let out = fixture("service", failing, &[], &[("HARNESS_SERVICE_FAILS", "1")]);
    ensure(
        out.status.code() == Some(1),
        "the run does not conform",
        &out,
    )?;
    let report = report(failing);
    for (name, verdict) in verdicts(&report) {
        let messages = case(&report, &name)["failures"].to_string();
        ensure(
            verdict == "error"
                && messages
                    .contains("the service fixture-broker did not start: its program is missing"),
            format!("{name}: {verdict} {messages}"),
            &out,
        )?;
    }
    Ok(())
}
