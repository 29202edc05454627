//! The short account of a run for a terminal: one verdict line, the
//! failures grouped (a hundred cases failing the same invariant are one
//! line), and the unsupported cases grouped by the capability they lack.
//!
//! The test harness prints it after libtest's own output; the CLI prints it
//! instead of the whole Markdown report.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::verdict::{CaseResult, SuiteReport, Verdict};

/// How many case names a group lists before it says "and N more".
const NAMES_SHOWN: usize = 4;

/// Cases that failed the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// What they share: a failure message (as the first of them worded it)
    /// or, for unsupported cases, the missing capability.
    pub what: String,
    /// The cases, `transport::spec-id`, sorted.
    pub cases: Vec<String>,
    /// The command that reruns the first of them (failure groups only).
    pub rerun: Option<String>,
}

/// The failures of every case with an unexpected verdict, grouped by
/// message. Messages that differ only in quoted names and numbers
/// (`window "a"` / `window "b"`, `got 1` / `got 2`) are one group. Largest
/// group first.
pub fn failure_groups(report: &SuiteReport) -> Vec<Group> {
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    let strict = report.summary.strict;
    for case in report
        .cases
        .iter()
        .filter(|c| c.verdict.is_unexpected_in(strict))
    {
        let mut seen = Vec::new();
        for message in failure_lines(case) {
            let key = shape(&message);
            if seen.contains(&key) {
                continue;
            }
            seen.push(key.clone());
            groups
                .entry(key)
                .or_insert_with(|| Group {
                    what: message,
                    cases: Vec::new(),
                    rerun: None,
                })
                .cases
                .push(case.name());
        }
    }
    let mut groups = sorted(groups);
    for g in &mut groups {
        g.rerun = g.cases.first().and_then(|first| {
            report
                .cases
                .iter()
                .find(|c| c.name() == *first)
                .and_then(|c| c.rerun.clone())
        });
    }
    groups
}

/// The unsupported cases, grouped by missing capability.
pub fn unsupported_groups(report: &SuiteReport) -> Vec<Group> {
    grouped(report, Verdict::Unsupported, |case| {
        format!("missing {}", case.missing.join(" and "))
    })
}

/// The cases with `verdict`, grouped by what `what` says of each.
fn grouped(
    report: &SuiteReport,
    verdict: Verdict,
    what: impl Fn(&CaseResult) -> String,
) -> Vec<Group> {
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for case in report.cases.iter().filter(|c| c.verdict == verdict) {
        let what = what(case);
        groups
            .entry(what.clone())
            .or_insert_with(|| Group {
                what,
                cases: Vec::new(),
                rerun: None,
            })
            .cases
            .push(case.name());
    }
    sorted(groups)
}

fn sorted(groups: BTreeMap<String, Group>) -> Vec<Group> {
    let mut groups: Vec<Group> = groups.into_values().collect();
    for g in &mut groups {
        g.cases.sort();
    }
    groups.sort_by(|a, b| b.cases.len().cmp(&a.cases.len()).then(a.what.cmp(&b.what)));
    groups
}

/// What a case's failure lines are, for grouping: its failures, or a word
/// for the verdict when it has none.
fn failure_lines(case: &CaseResult) -> Vec<String> {
    if case.failures.is_empty() {
        let what = match case.verdict {
            Verdict::UnexpectedPass => {
                "passed, but the known-failures file says it fails: remove the entry"
            }
            Verdict::Timeout => "did not finish within its budget",
            _ => "failed",
        };
        return vec![what.to_owned()];
    }
    case.failures
        .iter()
        .map(|f| f.lines().next().unwrap_or_default().to_owned())
        .collect()
}

/// A message with every quoted string and every number blanked out.
fn shape(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut chars = message.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' {
            out.push_str("\"…\"");
            for d in chars.by_ref() {
                if d == '"' {
                    break;
                }
            }
        } else if c.is_ascii_digit() {
            out.push('N');
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether to colour verdict words with ANSI escapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Plain text.
    Plain,
    /// Coloured verdicts (a terminal that did not set `NO_COLOR`).
    Color,
}

impl Style {
    /// [`Style::Color`] when `terminal` and `NO_COLOR` is unset or empty.
    pub fn detect(terminal: bool) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        if terminal && !no_color {
            Style::Color
        } else {
            Style::Plain
        }
    }

    fn paint(self, verdict: Verdict, text: &str) -> String {
        let code = match verdict {
            Verdict::Pass => "32",
            Verdict::Unsupported | Verdict::ExpectedFail | Verdict::NonStrict => "33",
            Verdict::Fail | Verdict::UnexpectedPass | Verdict::Error | Verdict::Timeout => "31",
        };
        match self {
            Style::Plain => text.to_owned(),
            Style::Color => format!("\u{1b}[{code}m{text}\u{1b}[0m"),
        }
    }
}

/// One line: whether the run conforms, and the verdict counts.
///
/// `conformant: 408 cases — 400 pass, 8 unsupported`
pub fn headline(report: &SuiteReport, style: Style) -> String {
    let summary = &report.summary;
    let status = if summary.ok {
        style.paint(Verdict::Pass, "conformant")
    } else {
        style.paint(Verdict::Fail, "NOT conformant")
    };
    if summary.total == 0 {
        return format!("{status}: no cases ran");
    }
    let counts: Vec<String> = summary
        .verdicts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(v, n)| format!("{n} {}", style.paint(*v, v.as_str())))
        .collect();
    format!(
        "{status}: {} {} — {}",
        summary.total,
        if summary.total == 1 { "case" } else { "cases" },
        counts.join(", ")
    )
}

/// The checks of a run: how many were carried out, how many skipped and
/// why.
///
/// `checks: 1210 carried out, 126 not checked (lifecycle × 126 — the driver has no lifecycle accessor …)`
pub fn checks_line(report: &SuiteReport) -> String {
    let summary = &report.summary;
    let mut line = format!(
        "checks: {} carried out, {} not checked",
        summary.checked, summary.not_checked
    );
    let mut by_field: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for n in report.cases.iter().flat_map(|c| &c.not_checked) {
        *by_field.entry((&n.field, &n.why)).or_default() += n.count;
    }
    if !by_field.is_empty() {
        let why: Vec<String> = by_field
            .iter()
            .map(|((field, why), n)| format!("{field} × {n} — {why}"))
            .collect();
        let _ = write!(line, " ({})", why.join("; "));
    }
    line
}

/// The cases that broke only SHOULD clauses, grouped by clause: listed,
/// not failed (empty in a strict run, where they are failures).
pub fn should_groups(report: &SuiteReport) -> Vec<Group> {
    if report.summary.strict {
        return Vec::new();
    }
    grouped(report, Verdict::NonStrict, |case| {
        format!("broke {}", case.broken_clauses.join(" and "))
    })
}

/// The headline, the checks, then the unsupported cases, the SHOULD
/// differences and — last, so that a terminal shows them — the failures,
/// grouped, each group with the command that reruns its first case.
pub fn to_text(report: &SuiteReport, style: Style) -> String {
    let mut out = headline(report, style);
    out.push('\n');
    if report.summary.total > 0 {
        out.push_str(&checks_line(report));
        out.push('\n');
    }
    let unsupported = unsupported_groups(report);
    if !unsupported.is_empty() {
        out.push_str(
            "unsupported (a step needs what the transport or driver does not claim, or nothing else was left to check):\n",
        );
        write_groups(&mut out, &unsupported);
    }
    let should = should_groups(report);
    if !should.is_empty() {
        out.push_str(
            "SHOULD differences (listed, not failed; a strict run fails them), by clause:\n",
        );
        write_groups(&mut out, &should);
    }
    let failures = failure_groups(report);
    if !failures.is_empty() {
        out.push_str("failures, grouped (most cases first):\n");
        write_groups(&mut out, &failures);
    }
    out
}

fn write_groups(out: &mut String, groups: &[Group]) {
    for g in groups {
        let _ = writeln!(out, "  {:>4} × {}", g.cases.len(), g.what);
        let shown: Vec<&str> = g
            .cases
            .iter()
            .take(NAMES_SHOWN)
            .map(String::as_str)
            .collect();
        let more = g.cases.len().saturating_sub(NAMES_SHOWN);
        let tail = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        let _ = writeln!(out, "         {}{tail}", shown.join(", "));
        if let Some(rerun) = &g.rerun {
            let _ = writeln!(out, "         rerun: {rerun}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_ignore_names_and_numbers() {
        assert_eq!(
            shape(r#"step 3 (expect): window "a": expected 12, got 1"#),
            r#"step N (expect): window "…": expected N, got N"#
        );
        assert_eq!(
            shape(r#"window "b": expected 1, got 7"#),
            shape(r#"window "a": expected 2, got 3"#)
        );
        assert_ne!(shape("expected ok"), shape("expected failure"));
        assert_eq!(shape(r#"unterminated "quote"#), r#"unterminated "…""#);
    }

    fn case(transport: &str, spec: &str, verdict: Verdict, failure: &str) -> CaseResult {
        let mut c = CaseResult::stub(transport, spec, verdict);
        if !failure.is_empty() {
            c.failures = vec![failure.to_owned()];
        }
        if verdict == Verdict::Unsupported {
            c.missing = vec!["immediate-subscribe".to_owned()];
        }
        c
    }

    #[test]
    fn many_cases_failing_alike_are_one_line() {
        let leak = |n: usize| {
            format!(
                "invariant: the transport still has {n} active subscription(s) after every window stopped"
            )
        };
        let mut cases: Vec<CaseResult> = (0..50)
            .map(|i| case("t", &format!("s{i:02}"), Verdict::Fail, &leak(1 + i % 3)))
            .collect();
        cases.push(case(
            "t",
            "other",
            Verdict::Fail,
            r#"step 2 (expect): window "a": expected 2, got 1"#,
        ));
        cases.push(case("t", "skipped1", Verdict::Unsupported, ""));
        cases.push(case("t", "skipped2", Verdict::Unsupported, ""));
        cases.push(case("t", "fine", Verdict::Pass, ""));
        let report = SuiteReport::new("1", Vec::new(), cases, Default::default());
        let groups = failure_groups(&report);
        assert_eq!(groups.len(), 2, "{groups:#?}");
        assert_eq!(groups[0].cases.len(), 50);
        assert_eq!(groups[1].cases, ["t::other"]);
        let text = to_text(&report, Style::Plain);
        assert!(
            text.starts_with("NOT conformant: 54 cases — 1 pass, 51 fail, 2 unsupported\n"),
            "{text}"
        );
        assert!(
            text.contains("  50 × invariant: the transport still has 1 active subscription(s)"),
            "{text}"
        );
        assert!(
            text.contains("t::s00, t::s01, t::s02, t::s03 and 46 more"),
            "{text}"
        );
        assert!(
            text.contains(
                "   2 × missing immediate-subscribe\n         t::skipped1, t::skipped2\n"
            ),
            "{text}"
        );
        assert!(text.lines().count() < 12, "{text}");
    }

    #[test]
    fn plain_style_has_no_escapes() {
        assert_eq!(Style::Plain.paint(Verdict::Fail, "fail"), "fail");
        assert!(Style::Color.paint(Verdict::Fail, "fail").contains('\u{1b}'));
    }
}
