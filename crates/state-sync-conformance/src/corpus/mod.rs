//! Loading and checking spec files: the embedded corpus, user folders,
//! and the clause registry.
//!
//! A bad file gives a [`SpecError`] naming the file, the JSON path inside it
//! and what was expected; nothing here panics on any input.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use include_dir::{Dir, include_dir};
use serde::Deserialize;

use crate::spec::{Level, Spec};

mod check;
mod error;

pub use self::check::check_spec;
pub use self::error::{SpecError, SpecErrors};

/// The scenario corpus shipped with the kit: `contract-specs/` of the
/// repository (linked into the crate, so that it is packaged with it).
static EMBEDDED: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/contract-specs");

/// The version of the embedded scenario corpus, kept apart from the crate
/// version: it changes whenever a spec is added, removed or changed.
pub const SUITE_VERSION: &str = "0.6.0";

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

/// The level of clause `id` in the registry (`None` for an id it does not
/// hold).
///
/// ```
/// use state_sync_conformance::corpus::clause_level;
/// use state_sync_conformance::spec::Level;
///
/// assert_eq!(clause_level("CO-2"), Some(Level::Must));
/// assert_eq!(clause_level("RETRY-2"), Some(Level::Should));
/// assert_eq!(clause_level("NOPE-1"), None);
/// ```
pub fn clause_level(id: &str) -> Option<Level> {
    static LEVELS: OnceLock<BTreeMap<String, Level>> = OnceLock::new();
    LEVELS
        .get_or_init(|| clauses().into_iter().map(|c| (c.id, c.level)).collect())
        .get(id)
        .copied()
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
        // A map key that failed to parse shows as `?`: the map's path says
        // where, the message says which key.
        let path = e.path().to_string();
        let path = path.strip_suffix(".?").map_or(path.clone(), str::to_owned);
        SpecError::new(origin, path, e.into_inner().to_string())
    })?;
    de.end()
        .map_err(|e| SpecError::new(origin, ".", format!("trailing characters: {e}")))?;
    Ok(spec)
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
    fn values_are_checked_when_parsed_with_their_path() {
        let cases = [
            (
                r#"[{"open": {"window": "b"}}, {"faults": {"window": "b", "drop": 1.5}}]"#,
                "steps[1].faults.drop",
                "1.5: expected a probability in [0, 1]",
            ),
            (
                r#"[{"open": {"window": "b"}}, {"start": {"window": "b", "expect": {"fail": "nowhere"}}}]"#,
                "steps[1].start.expect.fail",
                "unknown phase \"nowhere\": expected one of start, subscribe",
            ),
            (
                r#"[{"open": {"window": "b"}}, {"expect": {"window": "b", "local_revision": "01"}}]"#,
                "steps[1].expect.local_revision",
                "\"01\": revision has a leading zero: expected a canonical revision or \"source\"",
            ),
            (
                r#"[{"open": {"window": "w[3..1]"}}]"#,
                "steps[0].open.window",
                "window range \"w[3..1]\" must be non-empty",
            ),
            (
                r#"[{"open": {"window": "b"}}, {"expect": {"window": "b", "metrics": {"fetchez": 1}}}]"#,
                "steps[1].expect.metrics",
                "unknown variant `fetchez`",
            ),
            (
                r#"[{"open": {"window": "b"}}, {"expect": {"window": "b", "lifecycle": "asleep"}}]"#,
                "steps[1].expect.lifecycle",
                "unknown variant `asleep`",
            ),
            (
                r#"[{"open": {"window": "b"}}, {"expect": {"window": "b", "fetches": {"min": 3, "max": 1}}}]"#,
                "steps[1].expect.fetches",
                "",
            ),
            (
                r#"[{"open": {"window": "b"}}, {"faults": {"window": "b", "delay_ms": {"min": 9, "max": 1}}}]"#,
                "steps[1].faults.delay_ms",
                "min 9 is above max 1",
            ),
            (
                r#"[{"mutate": {"count": 0}}]"#,
                "steps[0].mutate.count",
                "nonzero",
            ),
        ];
        for (steps, path, message) in cases {
            let err = parse_spec(&minimal(steps), "f").expect_err(steps);
            assert_eq!(err.path, path, "{err}");
            assert!(err.message.contains(message), "{message:?} in {err}");
        }
    }

    #[test]
    fn order_errors() {
        let text = minimal(
            r#"[{"start": {"window": "a"}},
                {"open": {"window": "b"}},
                {"open": {"window": "b"}},
                {"close": {"window": "b"}},
                {"stop": {"window": "b"}},
                {"expect": {"local_revision": "1"}},
                {"expect": {"subscriptions": 0, "clause": "CO-2"}}]"#,
        );
        let spec = parse_spec(&text, "f").expect("parses");
        let known = ["LIFE-1".to_owned()].into_iter().collect();
        let errors = check_spec(&spec, "f", &known);
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                ".steps[0].start.window",
                ".steps[2].open.window",
                ".steps[4].stop.window",
                ".steps[5].expect.window",
                ".steps[6].expect.clause",
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
