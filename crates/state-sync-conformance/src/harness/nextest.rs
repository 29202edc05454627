//! cargo-nextest runs every case in a process of its own (`--exact
//! transport::spec-id`), so no process sees the whole run. Each writes its
//! case's record stream to `<reports>/nextest/<run id>/`; the merge step
//! (`STATE_SYNC_CONFORMANCE_MERGE=1 cargo test …`) reads every record there
//! — the newest per case, so a later run or retry wins and the records of
//! several `--partition`s merge — and finishes the run as `cargo test`
//! does: the same reports, summary, snapshot check and accept step.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::Mutex;

use super::record::{Record, RecordSink, Recorded};
use crate::case::RunOptions;
use crate::suite::Plan;
use crate::verdict::CaseResult;

/// Environment variable nextest sets in the processes of one run.
const RUN_ID_ENV: &str = "NEXTEST_RUN_ID";

/// How many missing cases a failed merge names.
const MISSING_SHOWN: usize = 5;

/// The nextest run this process belongs to, if any.
pub(super) fn run_id() -> Option<String> {
    std::env::var(RUN_ID_ENV).ok().filter(|id| !id.is_empty())
}

/// The folder that keeps the records of nextest runs.
fn records_dir(reports: &Path) -> PathBuf {
    reports.join("nextest")
}

/// A sink writing the records of case `name` of run `run_id` to its file.
pub(super) fn recorder(reports: &Path, run_id: &str, name: &str) -> Result<RecordSink, String> {
    let dir = records_dir(reports).join(file_safe(run_id));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(format!("{}.jsonl", file_safe(name)));
    let file = File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file = Mutex::new(file);
    Ok(Arc::new(move |record: &Record| {
        if let Ok(mut line) = serde_json::to_string(record) {
            line.push('\n');
            // Unbuffered: what was written survives a crash.
            let _ = file.lock().write_all(line.as_bytes());
        }
    }))
}

/// `name` with every character a file name may not hold replaced.
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '@'
            }
        })
        .collect()
}

/// The results of `plan`'s cases from the records nextest's processes
/// wrote (raw: known failures not applied), with a line saying where they
/// came from; an error naming the cases that have none.
pub(super) fn merge(
    plan: &Plan,
    options: &RunOptions,
    reports: &Path,
) -> Result<(Vec<CaseResult>, String), String> {
    let dir = records_dir(reports);
    let mut newest: BTreeMap<String, (SystemTime, String, Recorded)> = BTreeMap::new();
    let runs = std::fs::read_dir(&dir).map_err(|e| {
        format!(
            "no case records in {} ({e}): run the cases with `cargo nextest run` first",
            dir.display()
        )
    })?;
    for run in runs.flatten() {
        let run_name = run.file_name().to_string_lossy().into_owned();
        let Ok(files) = std::fs::read_dir(run.path()) else {
            continue;
        };
        for file in files.flatten() {
            let path = file.path();
            if path.extension().is_none_or(|e| e != "jsonl") {
                continue;
            }
            let modified = file
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH);
            let recorded = read(&path)?;
            let Some(case) = recorded.case.clone() else {
                continue;
            };
            if newest.get(&case).is_none_or(|(t, _, _)| *t <= modified) {
                newest.insert(case, (modified, run_name.clone(), recorded));
            }
        }
    }
    let mut results = Vec::with_capacity(plan.cases.len());
    let mut missing = Vec::new();
    let mut runs = std::collections::BTreeSet::new();
    for (transport, spec) in &plan.cases {
        let name = super::case_name(transport.name(), &spec.id);
        match newest.remove(&name) {
            Some((_, run, recorded)) => {
                runs.insert(run);
                results.push(recorded.into_result(transport, spec, options, || {
                    "the case's process ended before the case did (a crash: nextest's output for the case names the signal)".to_owned()
                }));
            }
            None => missing.push(name),
        }
    }
    if !missing.is_empty() {
        let shown: Vec<&str> = missing
            .iter()
            .take(MISSING_SHOWN)
            .map(String::as_str)
            .collect();
        let more = missing.len().saturating_sub(MISSING_SHOWN);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        return Err(format!(
            "{} of {} cases have no record in {}: {}{more} — run every case with `cargo nextest run` (every `--partition`, their `nextest/` folders copied together) before merging",
            missing.len(),
            plan.cases.len(),
            dir.display(),
            shown.join(", ")
        ));
    }
    let said = format!(
        "merged {} case records from {} nextest run(s) in {}",
        results.len(),
        runs.len(),
        dir.display()
    );
    Ok((results, said))
}

/// The records of one file (a torn last line, from a crash, is skipped).
fn read(path: &Path) -> Result<Recorded, String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut recorded = Recorded::default();
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|e| format!("{}: {e}", path.display()))?;
        if let Ok(record) = serde_json::from_str::<Record>(&line) {
            recorded.push(record);
        }
    }
    Ok(recorded)
}
