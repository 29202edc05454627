//! Loading and checking spec files: the embedded corpus, user folders,
//! and the clause registry.
//!
//! A bad file gives a [`SpecError`] naming the file, the JSON path inside it
//! and what was expected; nothing here panics on any input.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use include_dir::{Dir, include_dir};
use serde::Deserialize;
use state_sync::{Phase, Revision};

use crate::spec::{
    Bound, Capability, Expect, Faults, Level, METRIC_NAMES, Outcome, Range, RangeMs, Spec, Step,
    expand_windows,
};

/// The scenario corpus shipped with the kit: `contract-specs/` of the
/// repository (linked into the crate, so that it is packaged with it).
static EMBEDDED: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/contract-specs");

/// The version of the embedded scenario corpus, kept apart from the crate
/// version: it changes whenever a spec is added, removed or changed.
pub const SUITE_VERSION: &str = "0.1.0";

/// A spec file that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SpecError {
    /// The file (or `embedded:<name>`).
    pub origin: String,
    /// The JSON path inside it (`.` for the whole file).
    pub path: String,
    /// What was wrong and what was expected.
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: at {}: {}", self.origin, self.path, self.message)
    }
}

impl SpecError {
    fn new(origin: &str, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            origin: origin.to_owned(),
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Several spec errors, reported together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SpecErrors(pub Vec<SpecError>);

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// A clause of `docs/protocol.md` or `docs/lifecycle.md`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clause {
    /// Its id, such as `LIFE-4`.
    pub id: String,
    /// MUST or SHOULD.
    pub level: Level,
    /// The document that defines it.
    pub doc: String,
    /// One line.
    pub summary: String,
}

/// The clause registry shipped in `contract-specs/clauses.json`.
pub fn clauses() -> Vec<Clause> {
    EMBEDDED
        .get_file("clauses.json")
        .and_then(|f| f.contents_utf8())
        .and_then(|text| serde_json::from_str::<Vec<Clause>>(text).ok())
        .unwrap_or_default()
}

/// A spec and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedSpec {
    /// The spec.
    pub spec: Spec,
    /// Its file (`embedded:<name>` for the shipped corpus).
    pub origin: String,
}

/// A checked set of specs with unique ids, sorted by id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Corpus {
    specs: Vec<LoadedSpec>,
}

impl Corpus {
    /// The corpus shipped with the kit.
    pub fn embedded() -> Result<Self, SpecErrors> {
        let mut files = Vec::new();
        collect_embedded(&EMBEDDED, &mut files);
        Self::from_sources(files)
    }

    /// Every `*.json` spec file under `dir` (recursively; `schema/` and
    /// `vectors/` folders and `clauses.json` are skipped).
    pub fn load_dir(dir: &Path) -> Result<Self, SpecErrors> {
        let mut files = Vec::new();
        collect_dir(dir, &mut files).map_err(|e| SpecErrors(vec![e]))?;
        Self::from_sources(files)
    }

    /// Parses and checks `(origin, text)` pairs.
    pub fn from_sources(files: Vec<(String, String)>) -> Result<Self, SpecErrors> {
        let known: BTreeSet<String> = clauses().into_iter().map(|c| c.id).collect();
        let mut errors = Vec::new();
        let mut specs = Vec::new();
        for (origin, text) in files {
            match parse_spec(&text, &origin) {
                Ok(spec) => {
                    errors.extend(check_spec(&spec, &origin, &known));
                    specs.push(LoadedSpec { spec, origin });
                }
                Err(e) => errors.push(e),
            }
        }
        let mut corpus = Corpus::default();
        if let Err(e) = corpus.extend(specs) {
            errors.extend(e.0);
        }
        if errors.is_empty() {
            Ok(corpus)
        } else {
            Err(SpecErrors(errors))
        }
    }

    /// Adds specs; a duplicate id is an error naming both files.
    pub fn extend(
        &mut self,
        specs: impl IntoIterator<Item = LoadedSpec>,
    ) -> Result<(), SpecErrors> {
        let mut errors = Vec::new();
        for loaded in specs {
            if let Some(existing) = self.specs.iter().find(|s| s.spec.id == loaded.spec.id) {
                errors.push(SpecError::new(
                    &loaded.origin,
                    ".id",
                    format!(
                        "duplicate spec id {:?}: already defined in {}",
                        loaded.spec.id, existing.origin
                    ),
                ));
            } else {
                self.specs.push(loaded);
            }
        }
        self.specs.sort_by(|a, b| a.spec.id.cmp(&b.spec.id));
        if errors.is_empty() {
            Ok(())
        } else {
            Err(SpecErrors(errors))
        }
    }

    /// Merges another corpus; duplicate ids are errors.
    pub fn merge(&mut self, other: Corpus) -> Result<(), SpecErrors> {
        self.extend(other.specs)
    }

    /// The specs, sorted by id.
    pub fn specs(&self) -> &[LoadedSpec] {
        &self.specs
    }

    /// Keeps only the specs `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(&Spec) -> bool) {
        self.specs.retain(|s| keep(&s.spec));
    }

    /// Clause id → ids of the specs citing it; every registered clause is
    /// listed, cited or not.
    pub fn coverage(&self) -> BTreeMap<String, Vec<String>> {
        let mut map: BTreeMap<String, Vec<String>> =
            clauses().into_iter().map(|c| (c.id, Vec::new())).collect();
        for s in &self.specs {
            for c in &s.spec.clauses {
                map.entry(c.clone()).or_default().push(s.spec.id.clone());
            }
        }
        map
    }
}

fn collect_embedded(dir: &Dir<'static>, out: &mut Vec<(String, String)>) {
    for file in dir.files() {
        let path = file.path();
        if is_spec_path(path)
            && let Some(text) = file.contents_utf8()
        {
            out.push((format!("embedded:{}", path.display()), text.to_owned()));
        }
    }
    for sub in dir.dirs() {
        if !is_skipped_dir(sub.path()) {
            collect_embedded(sub, out);
        }
    }
}

fn collect_dir(dir: &Path, out: &mut Vec<(String, String)>) -> Result<(), SpecError> {
    let origin = dir.display().to_string();
    let entries = std::fs::read_dir(dir)
        .map_err(|e| SpecError::new(&origin, ".", format!("cannot read spec folder: {e}")))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            if !is_skipped_dir(&path) {
                collect_dir(&path, out)?;
            }
        } else if is_spec_path(&path) {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                SpecError::new(
                    &path.display().to_string(),
                    ".",
                    format!("cannot read: {e}"),
                )
            })?;
            out.push((path.display().to_string(), text));
        }
    }
    Ok(())
}

fn is_skipped_dir(path: &Path) -> bool {
    matches!(
        path.file_name().and_then(|n| n.to_str()),
        Some("schema" | "vectors")
    )
}

fn is_spec_path(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "json")
        && path.file_name().and_then(|n| n.to_str()) != Some("clauses.json")
}

/// Parses one spec file; errors carry the JSON path.
pub fn parse_spec(text: &str, origin: &str) -> Result<Spec, SpecError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let spec: Spec = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        SpecError::new(origin, path, e.into_inner().to_string())
    })?;
    de.end()
        .map_err(|e| SpecError::new(origin, ".", format!("trailing characters: {e}")))?;
    Ok(spec)
}

/// Checks what the types cannot: ids, clause names, selectors, phases,
/// probabilities, revisions, and that windows exist before use.
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
    let mut open: BTreeSet<String> = BTreeSet::new();
    for (i, step) in spec.steps.iter().enumerate() {
        let at = |field: &str| format!(".steps[{i}].{}{field}", step_name(step));
        let windows = |sel: &str, must_exist: bool, errs: &mut dyn FnMut(String, String)| {
            match expand_windows(sel) {
                Ok(names) => {
                    if must_exist {
                        for n in &names {
                            if !open.contains(n) {
                                errs(
                                    at(".window"),
                                    format!("window {n:?} is not open at this step"),
                                );
                            }
                        }
                    }
                    names
                }
                Err(e) => {
                    errs(at(".window"), e);
                    Vec::new()
                }
            }
        };
        match step {
            Step::Open(o) => {
                for n in windows(&o.window, false, &mut err) {
                    if !open.insert(n.clone()) {
                        err(at(".window"), format!("window {n:?} is already open"));
                    }
                }
                if let Some(t) = &o.topic
                    && t.trim().is_empty()
                {
                    err(at(".topic"), "expected a non-blank topic".into());
                }
            }
            Step::Start(s) | Step::Refresh(s) => {
                windows(&s.window, true, &mut err);
                check_outcome(s.expect.as_ref(), &at(".expect"), &mut err);
            }
            Step::Join(j) => {
                windows(&j.window, true, &mut err);
                check_outcome(j.expect.as_ref(), &at(".expect"), &mut err);
            }
            Step::Stopped(w) => {
                windows(&w.window, true, &mut err);
            }
            Step::Stop(t) => {
                windows(&t.window, true, &mut err);
            }
            Step::Close(t) => {
                for n in windows(&t.window, true, &mut err) {
                    open.remove(&n);
                }
            }
            Step::Faults(f) => {
                windows(&f.window, true, &mut err);
                check_faults(f, &at(""), &mut err);
            }
            Step::Expect(e) => {
                if let Some(sel) = &e.window {
                    windows(sel, true, &mut err);
                } else if has_window_checks(e) {
                    err(at(".window"), "window checks need a `window`".into());
                }
                check_expect(spec, e, &at(""), &mut err);
            }
            Step::Mutate(m) => {
                if m.count == Some(0) {
                    err(at(".count"), "expected a count of at least 1".into());
                }
            }
            Step::Emit(_) | Step::Backend(_) | Step::Advance(_) | Step::Settle(_) => {}
        }
    }
    errors
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
        Step::Emit(_) => "emit",
        Step::Faults(_) => "faults",
        Step::Backend(_) => "backend",
        Step::Advance(_) => "advance",
        Step::Settle(_) => "settle",
        Step::Stopped(_) => "stopped",
        Step::Expect(_) => "expect",
    }
}

fn check_outcome(outcome: Option<&Outcome>, path: &str, err: &mut dyn FnMut(String, String)) {
    if let Some(Outcome::Fail(phase)) = outcome
        && Phase::parse(phase).is_none()
    {
        err(
            format!("{path}.fail"),
            format!("unknown phase {phase:?}: expected one of {}", phase_names()),
        );
    }
}

fn phase_names() -> String {
    Phase::ALL.map(Phase::as_str).join(", ")
}

fn check_faults(f: &Faults, path: &str, err: &mut dyn FnMut(String, String)) {
    let mut prob = |name: &str, p: Option<f64>| {
        if let Some(p) = p
            && !(0.0..=1.0).contains(&p)
        {
            err(
                format!("{path}.{name}"),
                format!("{p}: expected a probability in [0, 1]"),
            );
        }
    };
    prob("drop", f.drop);
    prob("duplicate", f.duplicate);
    prob("reorder", f.reorder);
    if let Some(s) = &f.snapshot {
        prob("snapshot.fail", s.fail);
        prob("snapshot.stale", s.stale);
    }
    if let Some(a) = &f.apply {
        prob("apply.fail", a.fail);
    }
    let mut range = |name: &str, r: Option<RangeMs>| {
        if let Some(r) = r
            && r.min > r.max
        {
            err(
                format!("{path}.{name}"),
                format!("min {} is above max {}", r.min, r.max),
            );
        }
    };
    range("delay_ms", f.delay_ms);
    range(
        "snapshot.delay_ms",
        f.snapshot.as_ref().and_then(|s| s.delay_ms),
    );
    range("apply.delay_ms", f.apply.as_ref().and_then(|a| a.delay_ms));
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
}

fn check_expect(spec: &Spec, e: &Expect, path: &str, err: &mut dyn FnMut(String, String)) {
    let revision = |s: &str| Revision::parse(s).map_err(|r| format!("{s:?}: {r}"));
    if let Some(r) = &e.local_revision
        && r != "source"
        && let Err(m) = revision(r)
    {
        err(
            format!("{path}.local_revision"),
            format!("{m}: expected a canonical revision or \"source\""),
        );
    }
    for (i, r) in e.applied.iter().flatten().enumerate() {
        if let Err(m) = revision(r) {
            err(format!("{path}.applied[{i}]"), m);
        }
    }
    if let Some(s) = &e.source
        && let Err(m) = revision(&s.revision)
    {
        err(format!("{path}.source.revision"), m);
    }
    let context_phase = e.error_context.as_ref().map(|c| &c.phase);
    for phase in e.errors.iter().flat_map(|m| m.keys()).chain(context_phase) {
        if Phase::parse(phase).is_none() {
            err(
                format!("{path}.errors.{phase}"),
                format!("unknown phase {phase:?}: expected one of {}", phase_names()),
            );
        }
    }
    let bounds = [
        ("fetches", e.fetches),
        ("applies", e.applies),
        ("subscriptions", e.subscriptions),
    ];
    for (name, b) in bounds {
        if let Some(Bound::Range(Range {
            min: Some(a),
            max: Some(b),
        })) = b
            && a > b
        {
            err(
                format!("{path}.{name}"),
                format!("min {a} is above max {b}"),
            );
        }
    }
    for name in e.metrics.iter().flat_map(|m| m.keys()) {
        if !METRIC_NAMES.contains(&name.as_str()) {
            err(
                format!("{path}.metrics.{name}"),
                format!(
                    "unknown metric {name:?}: expected one of {}",
                    METRIC_NAMES.join(", ")
                ),
            );
        }
    }
    if let Some(l) = &e.lifecycle
        && !["idle", "starting", "running", "stopped"].contains(&l.as_str())
    {
        err(
            format!("{path}.lifecycle"),
            format!("{l:?}: expected idle, starting, running or stopped"),
        );
    }
    if e.subscriptions.is_some() && !spec.requires.contains(&Capability::SubscriptionCount) {
        err(
            format!("{path}.subscriptions"),
            "checking subscriptions needs `\"requires\": [\"subscription-count\"]`".into(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal(steps: &str) -> String {
        format!(
            r#"{{"id": "x-1", "title": "t", "clauses": ["LIFE-1"], "level": "must", "steps": {steps}}}"#
        )
    }

    #[test]
    fn type_errors_name_file_and_path() {
        let text = minimal(r#"[{"open": {"window": "a"}}, {"start": {"window": 3}}]"#);
        let err = parse_spec(&text, "specs/x.json").expect_err("bad type");
        assert_eq!(err.origin, "specs/x.json");
        assert_eq!(err.path, "steps[1].start.window");
        assert!(err.message.contains("expected a string"), "{err}");
        let shown = err.to_string();
        assert!(
            shown.starts_with("specs/x.json: at steps[1].start.window: "),
            "{shown}"
        );
    }

    #[test]
    fn unknown_step_and_field_are_errors() {
        let err = parse_spec(&minimal(r#"[{"jump": {}}]"#), "f").expect_err("unknown step");
        assert!(err.message.contains("unknown variant `jump`"), "{err}");
        let err = parse_spec(&minimal(r#"[{"open": {"window": "a", "colour": 1}}]"#), "f")
            .expect_err("unknown field");
        assert_eq!(err.path, "steps[0].open.colour");
        assert!(err.message.contains("unknown field `colour`"), "{err}");
        let err = parse_spec("{", "f").expect_err("truncated");
        assert!(err.message.contains("EOF"), "{err}");
    }

    #[test]
    fn semantic_errors() {
        let text = minimal(
            r#"[{"start": {"window": "a"}},
                {"open": {"window": "b"}},
                {"faults": {"window": "b", "drop": 1.5}},
                {"start": {"window": "b", "expect": {"fail": "nowhere"}}},
                {"expect": {"window": "b", "local_revision": "01", "subscriptions": 0}}]"#,
        );
        let spec = parse_spec(&text, "f").expect("parses");
        let known = ["LIFE-1".to_owned()].into_iter().collect();
        let errors = check_spec(&spec, "f", &known);
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                ".steps[0].start.window",
                ".steps[2].faults.drop",
                ".steps[3].start.expect.fail",
                ".steps[4].expect.local_revision",
                ".steps[4].expect.subscriptions",
            ],
            "{errors:#?}"
        );
    }

    #[test]
    fn duplicate_ids_name_both_files() {
        let a = (String::from("a.json"), minimal(r#"[{"settle": {}}]"#));
        let b = (String::from("b.json"), minimal(r#"[{"settle": {}}]"#));
        let err = Corpus::from_sources(vec![a, b]).expect_err("duplicate");
        assert_eq!(err.0.len(), 1);
        let shown = err.to_string();
        assert!(
            shown.contains("b.json") && shown.contains("a.json") && shown.contains("duplicate"),
            "{shown}"
        );
    }

    #[test]
    fn embedded_corpus_loads() {
        let corpus = Corpus::embedded().unwrap_or_else(|e| panic!("{e}"));
        assert!(!corpus.specs().is_empty());
        let ids: Vec<_> = corpus.specs().iter().map(|s| s.spec.id.clone()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
    }
}
