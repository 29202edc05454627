//! Verdicts and the results of cases and suites.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::spec::Level;

/// How one (spec, transport) case ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Every check held.
    Pass,
    /// Every MUST check held; a check of a SHOULD clause did not (the
    /// clauses are in [`CaseResult::broken_clauses`]). Listed, not failed —
    /// unless the run is strict ([`Summary::strict`]). Autobahn calls this
    /// NON-STRICT.
    NonStrict,
    /// A check of a MUST clause did not hold.
    Fail,
    /// A step of the spec cannot be carried out on this target (a
    /// capability the scenario needs is missing), or every expectation it
    /// holds reads something the target does not offer.
    Unsupported,
    /// Failed, and the known-failures file says it would.
    ExpectedFail,
    /// Passed, but the known-failures file says it fails: update the file.
    UnexpectedPass,
    /// The transport or the engine panicked.
    Error,
    /// The case did not finish within its virtual-time budget, or made no
    /// progress for the hang limit of real time
    /// ([`RunOptions::hang_limit`](crate::RunOptions::hang_limit)).
    Timeout,
}

impl Verdict {
    /// Every verdict, in report order.
    pub const ALL: [Verdict; 8] = [
        Verdict::Pass,
        Verdict::NonStrict,
        Verdict::Fail,
        Verdict::Unsupported,
        Verdict::ExpectedFail,
        Verdict::UnexpectedPass,
        Verdict::Error,
        Verdict::Timeout,
    ];

    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::NonStrict => "non-strict",
            Verdict::Fail => "fail",
            Verdict::Unsupported => "unsupported",
            Verdict::ExpectedFail => "expected-fail",
            Verdict::UnexpectedPass => "unexpected-pass",
            Verdict::Error => "error",
            Verdict::Timeout => "timeout",
        }
    }

    /// Whether this verdict makes a run fail (a `non-strict` one does only
    /// in a strict run: see [`is_unexpected_in`](Self::is_unexpected_in)).
    pub fn is_unexpected(self) -> bool {
        self.is_unexpected_in(false)
    }

    /// Whether this verdict makes a run fail, the run being `strict` (SHOULD
    /// clauses graded as MUST) or not.
    pub fn is_unexpected_in(self, strict: bool) -> bool {
        match self {
            Verdict::Fail | Verdict::UnexpectedPass | Verdict::Error | Verdict::Timeout => true,
            Verdict::NonStrict => strict,
            Verdict::Pass | Verdict::Unsupported | Verdict::ExpectedFail => false,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of a case's event trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceEntry {
    /// Virtual milliseconds since the case began.
    pub at_ms: u64,
    /// The window (or `source` / `bus`) the event belongs to.
    pub window: String,
    /// What happened.
    pub event: String,
}

impl fmt::Display for TraceEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:>8} ms  {:<10} {}",
            self.at_ms, self.window, self.event
        )
    }
}

/// The result of one (spec, transport) case.
///
/// Built by the kit; more fields may be added in later versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CaseResult {
    /// The transport's name.
    pub transport: String,
    /// The spec's id.
    pub spec: String,
    /// The spec's title.
    pub title: String,
    /// MUST or SHOULD.
    pub level: Level,
    /// The clauses the spec checks.
    pub clauses: Vec<String>,
    /// The verdict.
    pub verdict: Verdict,
    /// The seed the fault layer used; rerunning with it reproduces the case.
    pub seed: u64,
    /// Virtual milliseconds the case took (real milliseconds on real time).
    pub virtual_ms: u64,
    /// The case ran on real time
    /// ([`Transport::on_real_time`](crate::Transport::on_real_time)):
    /// `virtual_ms` is real time, depends on the machine and is left out of
    /// report snapshots ([`SuiteReport::reproducible`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub on_real_time: bool,
    /// What went wrong (empty on pass). A failed check's line begins with
    /// the clause it defends (`CO-2: step 12 (expect): …`); a hang or a
    /// crash names none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
    /// The clauses the failed checks defend, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub broken_clauses: Vec<String>,
    /// Checks the case carried out: expectation fields, outcomes of
    /// `start`/`refresh`/`join`, `stopped` bounds (0 for a case that did
    /// not run). The always-on invariants come on top.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub checked: usize,
    /// Checks skipped because the target does not offer what they read,
    /// one entry per reading.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_checked: Vec<NotChecked>,
    /// The reason from the known-failures file, if the case is listed there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_failure: Option<String>,
    /// Missing capabilities, for `unsupported` (or, when every expectation
    /// was skipped, the [`not_checked`](Self::not_checked) lines).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// The event trace, kept for cases that did not pass.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trace: Vec<TraceEntry>,
    /// A command that reruns just this case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rerun: Option<String>,
}

impl CaseResult {
    /// `transport::spec-id`, the name of the case in test output.
    pub fn name(&self) -> String {
        format!("{}::{}", self.transport, self.spec)
    }

    /// A readable explanation: failures, then the whole trace, then the
    /// rerun command.
    pub fn explain(&self) -> String {
        self.explain_with_trace(usize::MAX)
    }

    /// [`explain`](Self::explain) with only the last `trace_lines` entries
    /// of the trace (and a line saying how many were left out; with 0, one
    /// line saying where the trace is): what the test harness prints, so
    /// that a hundred failing cases stay readable.
    pub fn explain_brief(&self, trace_lines: usize) -> String {
        self.explain_with_trace(trace_lines)
    }

    fn explain_with_trace(&self, trace_lines: usize) -> String {
        let mut out = format!("{} {}: {}\n", self.name(), self.verdict, self.title);
        if let Some(reason) = &self.known_failure {
            out.push_str(&format!("known failure: {reason}\n"));
        }
        for f in &self.failures {
            out.push_str(&format!("  - {f}\n"));
        }
        for n in &self.not_checked {
            out.push_str(&format!("  not checked: {n}\n"));
        }
        if !self.missing.is_empty() {
            out.push_str(&format!(
                "  missing capabilities: {}\n",
                self.missing.join(", ")
            ));
        }
        if !self.trace.is_empty() && trace_lines == 0 {
            out.push_str(&format!(
                "trace: {} entries (seed {}), in the JSON and Markdown reports; rerun this case alone to see it here\n",
                self.trace.len(),
                self.seed
            ));
        } else if !self.trace.is_empty() {
            out.push_str(&format!("trace (seed {}):\n", self.seed));
            let skipped = self.trace.len().saturating_sub(trace_lines);
            if skipped > 0 {
                out.push_str(&format!(
                    "  … {skipped} earlier entries (the whole trace is in the JSON and Markdown reports)\n"
                ));
            }
            for t in &self.trace[skipped..] {
                out.push_str(&format!("  {t}\n"));
            }
        }
        if let Some(rerun) = &self.rerun {
            out.push_str(&format!("rerun: {rerun}\n"));
        }
        out
    }
}

/// Checks of a case skipped because its target does not offer what they
/// read (shown as `lifecycle × 2 — the driver has no lifecycle accessor …`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NotChecked {
    /// The expectation field (`lifecycle`, `metrics`, `subscriptions`).
    pub field: String,
    /// How many of the spec's expectations use it.
    pub count: usize,
    /// Why the target does not offer it.
    pub why: String,
}

impl fmt::Display for NotChecked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} × {} — {}", self.field, self.count, self.why)
    }
}

/// A transport as listed in a report header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TransportInfo {
    /// Its name.
    pub name: String,
    /// Its capabilities, sorted.
    pub capabilities: Vec<String>,
    /// The driver whose engines ran its cases (`name version (language)`
    /// from the handshake), when the engines were not in-process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
}

/// Counts of verdicts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Summary {
    /// Cases run.
    pub total: usize,
    /// Count per verdict (every verdict present, zeros included).
    pub verdicts: BTreeMap<Verdict, usize>,
    /// Checks carried out, over every case.
    #[serde(default)]
    pub checked: usize,
    /// Checks skipped because a target does not offer what they read,
    /// over every case.
    #[serde(default)]
    pub not_checked: usize,
    /// The run graded SHOULD clauses as MUST: a `non-strict` case fails it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub strict: bool,
    /// Whether the run is a success: at least one case ran and none had an
    /// unexpected verdict.
    pub ok: bool,
}

/// The results of a whole run.
///
/// Built by the kit ([`Suite::run`](crate::Suite::run)); more fields may be
/// added in later versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SuiteReport {
    /// The kit crate's name.
    pub kit: String,
    /// The kit crate's version.
    pub kit_version: String,
    /// The version of the scenario corpus (kept apart from the crate's).
    pub suite_version: String,
    /// The transports, sorted by name.
    pub transports: Vec<TransportInfo>,
    /// The verdict counts.
    pub summary: Summary,
    /// Clause id → ids of the specs that cite it (every known clause listed).
    pub coverage: BTreeMap<String, Vec<String>>,
    /// Every case, sorted by transport then spec id.
    pub cases: Vec<CaseResult>,
}

impl SuiteReport {
    /// Builds a report in canonical order — transports by name with their
    /// capabilities sorted, cases by transport then spec id, each clause's
    /// spec ids sorted and deduplicated (traces and failure messages keep
    /// their order) — and counts the verdicts.
    pub fn new(
        suite_version: &str,
        mut transports: Vec<TransportInfo>,
        mut cases: Vec<CaseResult>,
        mut coverage: BTreeMap<String, Vec<String>>,
    ) -> Self {
        transports.sort_by(|a, b| a.name.cmp(&b.name));
        for t in &mut transports {
            t.capabilities.sort();
            t.capabilities.dedup();
        }
        cases.sort_by(|a, b| (&a.transport, &a.spec).cmp(&(&b.transport, &b.spec)));
        for specs in coverage.values_mut() {
            specs.sort();
            specs.dedup();
        }
        let mut verdicts: BTreeMap<Verdict, usize> = Verdict::ALL.iter().map(|v| (*v, 0)).collect();
        for c in &cases {
            *verdicts.entry(c.verdict).or_default() += 1;
        }
        let ok = !cases.is_empty() && !cases.iter().any(|c| c.verdict.is_unexpected());
        let checked = cases.iter().map(|c| c.checked).sum();
        let not_checked = cases
            .iter()
            .flat_map(|c| &c.not_checked)
            .map(|n| n.count)
            .sum();
        Self {
            kit: env!("CARGO_PKG_NAME").to_owned(),
            kit_version: env!("CARGO_PKG_VERSION").to_owned(),
            suite_version: suite_version.to_owned(),
            transports,
            summary: Summary {
                total: cases.len(),
                verdicts,
                checked,
                not_checked,
                strict: false,
                ok,
            },
            coverage,
            cases,
        }
    }
}

impl SuiteReport {
    /// The same report graded strictly (`strict`) or not: in a strict run
    /// a `non-strict` case — one that broke only SHOULD clauses — fails
    /// the run.
    pub fn graded(mut self, strict: bool) -> SuiteReport {
        self.summary.strict = strict;
        self.summary.ok = !self.cases.is_empty()
            && !self
                .cases
                .iter()
                .any(|c| c.verdict.is_unexpected_in(strict));
        self
    }

    /// The same report with what depends on real time taken out: every
    /// case run on real time has `virtual_ms` 0. (On virtual time the kit
    /// moves the clock only when the case is quiescent, so `virtual_ms` is
    /// the same on any machine, under any load.) What stays is what a
    /// snapshot can hold run after run.
    pub fn reproducible(&self) -> SuiteReport {
        let mut report = self.clone();
        for case in report.cases.iter_mut().filter(|c| c.on_real_time) {
            case.virtual_ms = 0;
        }
        report
    }

    /// The same report restricted to one transport's cases (its header,
    /// counts and cases; the coverage is unchanged).
    pub fn only_transport(&self, name: &str) -> SuiteReport {
        let strict = self.summary.strict;
        SuiteReport::new(
            &self.suite_version,
            self.transports
                .iter()
                .filter(|t| t.name == name)
                .cloned()
                .collect(),
            self.cases
                .iter()
                .filter(|c| c.transport == name)
                .cloned()
                .collect(),
            self.coverage.clone(),
        )
        .graded(strict)
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[cfg(test)]
impl CaseResult {
    /// A bare result for the kit's unit tests: no failures, trace or rerun.
    pub(crate) fn stub(transport: &str, spec: &str, verdict: Verdict) -> Self {
        Self {
            transport: transport.to_owned(),
            spec: spec.to_owned(),
            title: format!("{spec} works"),
            level: Level::Must,
            clauses: vec!["LIFE-1".to_owned()],
            verdict,
            seed: 7,
            virtual_ms: 120,
            on_real_time: false,
            failures: Vec::new(),
            broken_clauses: Vec::new(),
            checked: 1,
            not_checked: Vec::new(),
            known_failure: None,
            missing: Vec::new(),
            trace: Vec::new(),
            rerun: None,
        }
    }
}
