//! What the types of a spec cannot check: its id, the clauses it cites
//! (against the registry), and what depends on the order of its steps —
//! that a window is open before a step uses it, not opened twice, and that
//! the clause a check names is one the spec cites. Everything else was checked when the file was parsed.

use std::collections::BTreeSet;

use crate::spec::{Capability, Expect, Mutate, Spec, Step, WindowSel};

use super::error::SpecError;

/// Checks `spec` (from `origin`) against the clause ids `known_clauses`;
/// every problem found, each with its JSON path.
pub fn check_spec(spec: &Spec, origin: &str, known_clauses: &BTreeSet<String>) -> Vec<SpecError> {
    let mut errors = Vec::new();
    let mut err =
        |path: String, message: String| errors.push(SpecError::new(origin, path, message));
    if spec.id.is_empty()
        || !spec
            .id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        err(
            ".id".into(),
            format!("{:?}: expected lowercase letters, digits and `-`", spec.id),
        );
    }
    if spec.clauses.is_empty() {
        err(".clauses".into(), "expected at least one clause id".into());
    }
    for (i, c) in spec.clauses.iter().enumerate() {
        if !known_clauses.is_empty() && !known_clauses.contains(c) {
            err(
                format!(".clauses[{i}]"),
                format!(
                    "unknown clause {c:?}: expected an id from docs/protocol.md or docs/lifecycle.md"
                ),
            );
        }
    }
    if spec.steps.is_empty() {
        err(".steps".into(), "expected at least one step".into());
    }
    let mut open: BTreeSet<&str> = BTreeSet::new();
    for (i, step) in spec.steps.iter().enumerate() {
        let at = |field: &str| format!(".steps[{i}].{}{field}", step_name(step));
        if let Some(c) = step_clause(step)
            && !spec.clauses.iter().any(|cited| cited == c)
        {
            err(
                at(".clause"),
                format!("{c:?} is not among the spec's `clauses`: cite it there too"),
            );
        }
        let mut must_be_open = |sel: &WindowSel, open: &BTreeSet<&str>| {
            for n in sel.names() {
                if !open.contains(n.as_str()) {
                    err(
                        at(".window"),
                        format!("window {n:?} is not open at this step"),
                    );
                }
            }
        };
        match step {
            Step::Open(o) => {
                for n in o.window.names() {
                    if !open.insert(n) {
                        err(at(".window"), format!("window {n:?} is already open"));
                    }
                }
                if let Some(t) = &o.topic
                    && t.trim().is_empty()
                {
                    err(at(".topic"), "expected a non-blank topic".into());
                }
            }
            Step::Start(s) | Step::Refresh(s) => must_be_open(&s.window, &open),
            Step::Join(j) => must_be_open(&j.window, &open),
            Step::Stopped(w) => must_be_open(&w.window, &open),
            Step::Stop(t) => must_be_open(&t.window, &open),
            Step::Faults(f) => must_be_open(&f.window, &open),
            Step::Release(r) => must_be_open(&r.window, &open),
            Step::Close(t) => {
                must_be_open(&t.window, &open);
                for n in t.window.names() {
                    open.remove(n.as_str());
                }
            }
            Step::Expect(e) => match &e.window {
                Some(sel) => must_be_open(sel, &open),
                None if has_window_checks(e) => {
                    err(at(".window"), "window checks need a `window`".into());
                }
                None => {}
            },
            Step::Mutate(m) => {
                for (field, message) in mutate_problems(m) {
                    err(at(field), message);
                }
            }
            Step::OnApply(r) => {
                if !open.contains(r.window.as_str()) {
                    err(
                        at(".window"),
                        format!("window {:?} is not open at this step", r.window),
                    );
                }
                if r.mutate.spacing_ms.is_some() {
                    err(
                        at(".mutate.spacing_ms"),
                        "a reaction changes the source at once: `spacing_ms` is not allowed".into(),
                    );
                }
                for (field, message) in mutate_problems(&r.mutate) {
                    err(at(&format!(".mutate{field}")), message);
                }
            }
            Step::RestartSource(r) => {
                if let Some(t) = &r.topic
                    && t.trim().is_empty()
                {
                    err(at(".topic"), "expected a non-blank topic".into());
                }
            }
            Step::RestartTransport(_) => {
                if !spec.requires.contains(&Capability::Restarts) {
                    err(
                        at(""),
                        "restarting the transport needs the `restarts` capability: add it to the spec's `requires`".into(),
                    );
                }
            }
            Step::Emit(_) | Step::Backend(_) | Step::Advance(_) | Step::Settle(_) => {}
        }
        if let Step::Expect(e) = step
            && let Some(other) = &e.same_as
            && !open.contains(other.as_str())
        {
            err(
                at(".same_as"),
                format!("window {other:?} is not open at this step"),
            );
        }
    }
    errors
}

/// What is wrong with a `mutate`: `(field, message)`.
fn mutate_problems(m: &Mutate) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    if let Some(each) = &m.data_each {
        if each.is_empty() {
            problems.push((".data_each", "expected at least one value".to_owned()));
        }
        if m.data.is_some() {
            problems.push((
                ".data_each",
                "give `data` or `data_each`, not both".to_owned(),
            ));
        }
    }
    problems
}

fn step_name(step: &Step) -> &'static str {
    match step {
        Step::Open(_) => "open",
        Step::Start(_) => "start",
        Step::Join(_) => "join",
        Step::Stop(_) => "stop",
        Step::Close(_) => "close",
        Step::Refresh(_) => "refresh",
        Step::Mutate(_) => "mutate",
        Step::RestartSource(_) => "restart_source",
        Step::RestartTransport(_) => "restart_transport",
        Step::Emit(_) => "emit",
        Step::Faults(_) => "faults",
        Step::Backend(_) => "backend",
        Step::Release(_) => "release",
        Step::OnApply(_) => "on_apply",
        Step::Advance(_) => "advance",
        Step::Settle(_) => "settle",
        Step::Stopped(_) => "stopped",
        Step::Expect(_) => "expect",
    }
}

/// The clause a checking step names, if it names one.
fn step_clause(step: &Step) -> Option<&str> {
    match step {
        Step::Expect(e) => e.clause.as_deref(),
        Step::Start(s) | Step::Refresh(s) => s.clause.as_deref(),
        Step::Join(j) => j.clause.as_deref(),
        _ => None,
    }
}

fn has_window_checks(e: &Expect) -> bool {
    e.local_revision.is_some()
        || e.applied.is_some()
        || e.data.is_some()
        || e.converged.is_some()
        || e.fetches.is_some()
        || e.applies.is_some()
        || e.errors.is_some()
        || e.lifecycle.is_some()
        || e.error_context.is_some()
        || e.subscribes.is_some()
        || e.metrics.is_some()
        || e.retry_delays_ms.is_some()
        || e.error_phases.is_some()
        || e.same_as.is_some()
}
