//! The Markdown report, for a CI summary.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::verdict::{CaseResult, SuiteReport, Verdict};

use super::lines::transport_names;

/// e.g. `✅ pass`.
pub fn verdict_badge(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "✅ pass",
        Verdict::NonStrict => "🟡 non-strict",
        Verdict::Fail => "❌ fail",
        Verdict::Unsupported => "➖ unsupported",
        Verdict::ExpectedFail => "⚠️ expected-fail",
        Verdict::UnexpectedPass => "❗ unexpected-pass",
        Verdict::Error => "💥 error",
        Verdict::Timeout => "⏱️ timeout",
    }
}

/// Escapes text for Markdown prose: neutralises raw HTML.
fn md_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Escapes text for a Markdown table cell.
fn md_cell(s: &str) -> String {
    md_text(s).replace('|', "\\|").replace('\n', " ")
}

/// Inline code that survives backticks inside `s`.
fn md_code(s: &str) -> String {
    let longest = longest_backtick_run(s);
    let fence = "`".repeat(longest + 1);
    if longest == 0 {
        format!("`{s}`")
    } else {
        format!("{fence} {s} {fence}")
    }
}

fn longest_backtick_run(s: &str) -> usize {
    let (mut longest, mut run) = (0, 0);
    for c in s.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    longest
}

/// A fenced code block that survives fences inside `body`.
fn md_fence(out: &mut String, info: &str, body: &str) {
    let fence = "`".repeat((longest_backtick_run(body) + 1).max(3));
    let _ = writeln!(out, "{fence}{info}");
    out.push_str(body);
    if !body.ends_with('\n') {
        out.push('\n');
    }
    let _ = writeln!(out, "{fence}");
}

/// A Markdown report for a CI summary: a header with the kit and suite
/// versions, the verdict counts, a matrix (one row per spec, one column per
/// transport), the unexpected results with failures, trace and rerun command
/// (section left out when there are none), and clause coverage.
pub fn to_markdown(report: &SuiteReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## {} {} · suite {}\n",
        md_text(&report.kit),
        md_text(&report.kit_version),
        md_text(&report.suite_version)
    );

    // Summary line.
    let status = if report.summary.ok {
        "✅ **conformant**"
    } else {
        "❌ **not conformant**"
    };
    if report.summary.total == 0 {
        let _ = writeln!(out, "{status}: no cases ran\n");
    } else {
        let counts: Vec<String> = Verdict::ALL
            .iter()
            .filter_map(|v| {
                let n = report.summary.verdicts.get(v).copied().unwrap_or(0);
                (n > 0).then(|| format!("{n} {}", verdict_badge(*v)))
            })
            .collect();
        let _ = writeln!(
            out,
            "{status}: {} {} — {}\n",
            report.summary.total,
            if report.summary.total == 1 {
                "case"
            } else {
                "cases"
            },
            counts.join(", ")
        );
        let _ = writeln!(out, "{}\n", md_text(&crate::summary::checks_line(report)));
    }

    // Matrix.
    let transports = transport_names(report);
    let mut rows: BTreeMap<&str, (&CaseResult, BTreeMap<&str, Verdict>)> = BTreeMap::new();
    for case in &report.cases {
        rows.entry(case.spec.as_str())
            .or_insert_with(|| (case, BTreeMap::new()))
            .1
            .insert(case.transport.as_str(), case.verdict);
    }
    let _ = writeln!(out, "### Matrix\n");
    if rows.is_empty() {
        let _ = writeln!(out, "No cases.\n");
    } else {
        out.push_str("| Spec | Level |");
        for t in &transports {
            let _ = write!(out, " {} |", md_cell(t));
        }
        out.push_str("\n| --- | --- |");
        for _ in &transports {
            out.push_str(" --- |");
        }
        out.push('\n');
        for (spec, (first, cells)) in &rows {
            let _ = write!(
                out,
                "| {} | {} |",
                md_cell(&md_code(spec)),
                first.level.as_str().to_uppercase()
            );
            for t in &transports {
                let cell = cells.get(t.as_str()).map_or("—", |v| verdict_badge(*v));
                let _ = write!(out, " {cell} |");
            }
            out.push('\n');
        }
        out.push('\n');
    }
    let with_caps: Vec<String> = report
        .transports
        .iter()
        .map(|t| {
            let caps = if t.capabilities.is_empty() {
                "no capabilities".to_owned()
            } else {
                t.capabilities.join(", ")
            };
            format!("{}: {}", md_code(&t.name), md_text(&caps))
        })
        .collect();
    if !with_caps.is_empty() {
        let _ = writeln!(out, "Capabilities — {}\n", with_caps.join("; "));
    }
    let drivers: Vec<String> = report
        .transports
        .iter()
        .filter_map(|t| {
            let d = t.driver.as_ref()?;
            Some(format!("{}: {}", md_code(&t.name), md_text(d)))
        })
        .collect();
    if !drivers.is_empty() {
        let _ = writeln!(out, "Engines run by drivers — {}\n", drivers.join("; "));
    }

    // SHOULD differences: listed, not failed (unless the run is strict).
    let listed: Vec<&CaseResult> = report
        .cases
        .iter()
        .filter(|c| c.verdict == Verdict::NonStrict && !report.summary.strict)
        .collect();
    if !listed.is_empty() {
        let _ = writeln!(
            out,
            "### SHOULD differences\n\nListed, not failed: every MUST check of these cases held (a strict run fails them).\n"
        );
        for case in listed {
            let _ = writeln!(
                out,
                "- {} ({}): {}",
                md_code(&case.name()),
                md_text(&case.broken_clauses.join(", ")),
                md_text(&super::lines::headline(case))
            );
        }
        out.push('\n');
    }

    // Failures.
    let unexpected: Vec<&CaseResult> = report
        .cases
        .iter()
        .filter(|c| c.verdict.is_unexpected_in(report.summary.strict))
        .collect();
    if !unexpected.is_empty() {
        let _ = writeln!(out, "### Failures, grouped\n");
        for group in crate::summary::failure_groups(report) {
            let names: Vec<String> = group.cases.iter().map(|c| md_code(c)).collect();
            let _ = writeln!(
                out,
                "- **{}** × {}: {}",
                group.cases.len(),
                md_text(&group.what),
                names.join(", ")
            );
        }
        out.push('\n');
        let _ = writeln!(out, "### Failures\n");
        for case in unexpected {
            write_failure(&mut out, case);
        }
    }

    // Clause coverage.
    let _ = writeln!(out, "### Clause coverage\n");
    if report.coverage.is_empty() {
        let _ = writeln!(out, "No clauses listed.");
    } else {
        let covered = report.coverage.values().filter(|s| !s.is_empty()).count();
        let _ = writeln!(
            out,
            "{covered} of {} clauses have at least one spec.\n",
            report.coverage.len()
        );
        out.push_str("| Clause | Specs |\n| --- | --- |\n");
        for (clause, specs) in &report.coverage {
            let cell = if specs.is_empty() {
                "⚠️ no spec".to_owned()
            } else {
                specs
                    .iter()
                    .map(|s| md_cell(&md_code(s)))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let _ = writeln!(out, "| {} | {cell} |", md_cell(&md_code(clause)));
        }
    }
    out
}

fn write_failure(out: &mut String, case: &CaseResult) {
    let _ = writeln!(
        out,
        "#### {} {}\n",
        verdict_badge(case.verdict),
        md_code(&case.name())
    );
    let clauses = if case.clauses.is_empty() {
        String::new()
    } else {
        format!("; clauses {}", case.clauses.join(", "))
    };
    let _ = writeln!(
        out,
        "{} ({}{}; seed {}; {} virtual ms)\n",
        md_text(&case.title),
        case.level.as_str().to_uppercase(),
        md_text(&clauses),
        case.seed,
        case.virtual_ms
    );
    if case.verdict == Verdict::UnexpectedPass {
        let _ = writeln!(
            out,
            "Passed, but the known-failures file lists it{}: remove the entry.\n",
            case.known_failure
                .as_deref()
                .map(|k| format!(" ({})", md_text(k)))
                .unwrap_or_default()
        );
    }
    if !case.failures.is_empty() || !case.not_checked.is_empty() {
        for f in &case.failures {
            let _ = writeln!(out, "- {}", md_text(f).replace('\n', "\n  "));
        }
        for n in &case.not_checked {
            let _ = writeln!(out, "- not checked: {}", md_text(&n.to_string()));
        }
        out.push('\n');
    }
    if !case.trace.is_empty() {
        let _ = writeln!(
            out,
            "<details><summary>Trace ({} {})</summary>\n",
            case.trace.len(),
            if case.trace.len() == 1 {
                "event"
            } else {
                "events"
            }
        );
        let body: String = case.trace.iter().map(|t| format!("{t}\n")).collect();
        md_fence(out, "text", &body);
        let _ = writeln!(out, "\n</details>\n");
    }
    if let Some(rerun) = &case.rerun {
        out.push_str("Rerun:\n\n");
        md_fence(out, "sh", rerun);
        out.push('\n');
    }
}

/// The JUnit XML report, built with `quick-junit`: one test suite per
/// transport, one test case per spec. See the module docs for how verdicts
#[cfg(test)]
mod tests {
    use super::super::fixtures::{all_pass, sample};
    use super::*;

    #[test]
    fn markdown_has_header_summary_and_matrix() {
        let md = to_markdown(&sample());
        let first = md.lines().next().expect("header");
        assert_eq!(
            first,
            format!(
                "## state-sync-conformance {} · suite 1.2.0",
                env!("CARGO_PKG_VERSION")
            )
        );
        assert!(
            md.contains(
                "❌ **not conformant**: 7 cases — 1 ✅ pass, 1 ❌ fail, 1 ➖ unsupported, \
             1 ⚠️ expected-fail, 1 ❗ unexpected-pass, 1 💥 error, 1 ⏱️ timeout"
            ),
            "{md}"
        );
        assert!(md.contains("| Spec | Level | channel | memory |\n| --- | --- | --- | --- |\n"));
        for row in [
            "| `big-ints` | MUST | — | ❗ unexpected-pass |",
            "| `coalescing` | MUST | 💥 error | ❌ fail |",
            "| `late-join` | MUST | ⏱️ timeout | ✅ pass |",
            "| `leaks` | MUST | ➖ unsupported | ⚠️ expected-fail |",
        ] {
            assert!(md.contains(row), "missing {row} in\n{md}");
        }
        assert!(md.contains(
            "Capabilities — `channel`: no capabilities; `memory`: exact-json, subscription-count"
        ));
    }

    #[test]
    fn markdown_failures_list_only_unexpected_cases() {
        let md = to_markdown(&sample());
        let failures = md
            .split("### Failures\n")
            .nth(1)
            .and_then(|rest| rest.split("### Clause coverage").next())
            .expect("a failures section");
        for name in [
            "#### ❗ unexpected-pass `memory::big-ints`",
            "#### ❌ fail `memory::coalescing`",
            "#### ⏱️ timeout `channel::late-join`",
            "#### 💥 error `channel::coalescing`",
        ] {
            assert!(failures.contains(name), "missing {name} in\n{failures}");
        }
        assert!(
            !failures.contains("`memory::leaks`"),
            "expected-fail is not a failure"
        );
        assert!(
            !failures.contains("`channel::leaks`"),
            "unsupported is not a failure"
        );
        assert!(
            !failures.contains("`memory::late-join`"),
            "pass is not a failure"
        );
        assert!(failures.contains(
            "- coalescing: window b: expected local revision 3, got 2\n- second &lt;problem&gt; | here\n"
        ), "{failures}");
        assert!(
            failures.contains(
                "```text\n       0 ms  b          start\n      15 ms  source     mutate -> 3\n```\n"
            ),
            "{failures}"
        );
        assert!(
            failures.contains(
                "```sh\ncargo test --test conformance -- --exact memory::coalescing\n```"
            )
        );
        assert!(failures.contains("remove the entry"));

        let md = to_markdown(&all_pass());
        assert!(!md.contains("### Failures"), "{md}");
        assert!(md.contains(
            "✅ **conformant**: 4 cases — 2 ✅ pass, 1 ➖ unsupported, 1 ⚠️ expected-fail"
        ));
    }

    #[test]
    fn markdown_lists_clause_coverage() {
        let md = to_markdown(&sample());
        let coverage = md.split("### Clause coverage\n").nth(1).expect("coverage");
        assert!(coverage.contains("1 of 2 clauses have at least one spec."));
        assert!(coverage.contains("| `LIFE-1` | `coalescing`, `late-join` |"));
        assert!(coverage.contains("| `STOP-9` | ⚠️ no spec |"));
    }

    #[test]
    fn markdown_of_an_empty_run() {
        let md = to_markdown(&SuiteReport::new("1", vec![], vec![], BTreeMap::new()));
        assert!(md.contains("❌ **not conformant**: no cases ran"));
        assert!(md.contains("No cases."));
        assert!(md.contains("No clauses listed."));
    }

    #[test]
    fn markdown_code_survives_backticks() {
        assert_eq!(md_code("a"), "`a`");
        assert_eq!(md_code("a`b"), "`` a`b ``");
        let mut out = String::new();
        md_fence(&mut out, "text", "x\n```\ny");
        assert_eq!(out, "````text\nx\n```\ny\n````\n");
    }
}
