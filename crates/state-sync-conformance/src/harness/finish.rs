//! The end of a full run (under `cargo test`, or the merge of nextest's
//! records): the reports, the snapshot check, the grouped summary and what
//! to do — or, when accepting, the known-failures file and the snapshots
//! rewritten from the run.

use std::io::IsTerminal;
use std::process::ExitCode;

use super::BLESS_ENV;
use super::snapshots::Snapshots;
use super::target::Target;
use crate::known_failures::KnownFailures;
use crate::suite::{Plan, Suite, finish_case};
use crate::summary::{self, Style};
use crate::verdict::{CaseResult, SuiteReport};

/// What the finishing step needs to know.
pub(super) struct Finish<'a> {
    pub(super) suite: &'a Suite,
    pub(super) plan: &'a Plan,
    pub(super) target: &'a Target,
    /// The report snapshots, if the suite keeps them.
    pub(super) snapshots: Option<Snapshots<'a>>,
}

impl Finish<'_> {
    /// The report of `raw` results, `known` failures applied.
    fn report(&self, raw: &[CaseResult], known: Option<&KnownFailures>) -> SuiteReport {
        let results = raw.iter().cloned().map(|r| finish_case(r, known)).collect();
        self.suite.report(self.plan, results)
    }

    /// Each transport's verdict sheet, named as its snapshot.
    fn sheets(&self, report: &SuiteReport) -> Vec<(String, String)> {
        if self.snapshots.is_none() {
            return Vec::new();
        }
        report
            .transports
            .iter()
            .map(|t| {
                let sheet =
                    crate::report::to_verdict_sheet(&report.only_transport(&t.name).reproducible());
                (format!("report-{}", t.name), sheet)
            })
            .collect()
    }
}

/// Finishes a full run from its raw results (known failures not applied).
/// The code says whether the run conforms and every snapshot matched
/// (accepting always succeeds, or errs).
pub(super) fn finish(
    raw: &[CaseResult],
    finish: &Finish<'_>,
    bless: bool,
) -> Result<ExitCode, String> {
    let style = Style::detect(std::io::stdout().is_terminal());
    let mut report = finish.report(raw, finish.plan.known.as_deref());
    if bless {
        // The known-failures file first: the reports and the snapshots are
        // then those of the run as accepted — what the next run gives.
        if let Some(known) = accept_known_failures(&report, finish)? {
            report = finish.report(raw, Some(&known));
        }
    }
    let written = crate::report::write_reports(&report, &finish.target.reports_dir())
        .map_err(|e| e.to_string())?;
    let reports = format!(
        "reports: {}, {}, {}",
        written.json.display(),
        written.markdown.display(),
        written.junit.display()
    );
    let sheets = finish.sheets(&report);
    if bless {
        println!();
        print!("{}", summary::to_text(&report, style));
        println!("{reports}");
        if let Some(snapshots) = &finish.snapshots {
            for (name, sheet) in &sheets {
                let path = snapshots.accept(name, sheet)?;
                println!("accepted report snapshot `{name}`: {}", path.display());
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    // The snapshots first (their changed lines), so that the run ends with
    // the verdict, the grouped failures and what to do.
    let mut differing = Vec::new();
    if let Some(snapshots) = &finish.snapshots {
        for (name, sheet) in &sheets {
            if let Some(differs) = snapshots.check(name, sheet)? {
                print!("\n{}", differs.text);
                differing.push(name.as_str());
            }
        }
    }
    println!();
    print!("{}", summary::to_text(&report, style));
    println!("{reports}");
    if !differing.is_empty() {
        println!(
            "report snapshots differing from the run: {}",
            differing.join(", ")
        );
    }
    let ok = report.summary.ok && differing.is_empty();
    if !ok {
        let what = match (
            finish.suite.known_failures.is_some(),
            finish.snapshots.is_some(),
        ) {
            (true, true) => "the known-failures file and the report snapshots",
            (true, false) => "the known-failures file",
            (false, true) => "the report snapshots",
            (false, false) => "",
        };
        if !what.is_empty() {
            println!(
                "to accept this run as it is ({what}), run: {}",
                finish.target.command(&format!("{BLESS_ENV}=1"))
            );
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The accept step's first half ([`BLESS_ENV`]): the known-failures file
/// takes this run's results (keeping reasons and links); its new contents.
fn accept_known_failures(
    report: &SuiteReport,
    finish: &Finish<'_>,
) -> Result<Option<KnownFailures>, String> {
    let path = finish.suite.known_failures.as_deref();
    if path.is_none() && finish.snapshots.is_none() {
        return Err(format!(
            "{BLESS_ENV} is set but the suite keeps neither a known-failures file nor report snapshots: add `.known_failures(\"tests/known-failures.json\")` or `.snapshot_reports()`"
        ));
    }
    let Some(path) = path else { return Ok(None) };
    let said = crate::known_failures::bless_file(path, &report.cases).map_err(|e| e.to_string())?;
    println!("{said}");
    KnownFailures::load(path)
        .map(Some)
        .map_err(|e| e.to_string())
}
