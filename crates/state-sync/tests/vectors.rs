//! Runs the language-neutral golden vectors in
//! `contract-specs/vectors/revisions.json` of the repository (linked as
//! `tests/vectors/revisions.json`, so that the crate's package has them)
//! through [`Revision::from_json`] (docs/protocol.md, REV-1 to REV-5).

use std::cmp::Ordering;
use std::path::PathBuf;

use serde_json::Value;
use state_sync::{Revision, RevisionError};

/// The fewest vectors the file may hold; fewer means it was truncated.
const MIN_VECTORS: usize = 25;

fn vectors_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/revisions.json")
}

/// One vector, as written in the file.
struct Vector {
    index: usize,
    input: Value,
    valid: bool,
    value: Option<String>,
    reason: Option<String>,
}

fn load() -> Vec<Vector> {
    let path = vectors_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let file: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()));
    let list = file
        .get("vectors")
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("{}: `vectors` must be an array", path.display()));
    list.iter()
        .enumerate()
        .map(|(index, v)| {
            let input = v
                .get("input")
                .unwrap_or_else(|| panic!("vector #{index}: `input` is missing: {v}"))
                .clone();
            let valid = v
                .get("valid")
                .and_then(Value::as_bool)
                .unwrap_or_else(|| panic!("vector #{index}: `valid` must be a boolean: {v}"));
            let text_field = |name: &str| -> Option<String> {
                v.get(name).map(|x| {
                    x.as_str()
                        .unwrap_or_else(|| {
                            panic!("vector #{index}: `{name}` must be a string: {v}")
                        })
                        .to_owned()
                })
            };
            Vector {
                index,
                input,
                valid,
                value: text_field("value"),
                reason: text_field("reason"),
            }
        })
        .collect()
}

/// The file's name for a [`RevisionError`].
fn reason_of(error: &RevisionError) -> &'static str {
    match error {
        RevisionError::Empty => "empty",
        RevisionError::NotDigits => "not_digits",
        RevisionError::LeadingZero => "leading_zero",
        RevisionError::Overflow => "overflow",
        RevisionError::NotAString(_) => "not_a_string",
    }
}

/// What is wrong with one vector's outcome, if anything.
fn check(v: &Vector) -> Option<String> {
    let outcome = Revision::from_json(&v.input);
    match (v.valid, outcome) {
        (true, Ok(revision)) => {
            let Some(expected) = &v.value else {
                return Some("a valid vector must give `value`".to_owned());
            };
            if v.reason.is_some() {
                return Some("a valid vector must not give `reason`".to_owned());
            }
            let canonical = revision.to_string();
            if &canonical != expected {
                return Some(format!(
                    "parsed to {canonical:?}, expected value {expected:?}"
                ));
            }
            if v.input.as_str() != Some(expected.as_str()) {
                return Some(format!(
                    "value {expected:?} differs from the input: a canonical input is its own value"
                ));
            }
            None
        }
        (true, Err(error)) => Some(format!(
            "expected valid, got error {} ({error})",
            reason_of(&error)
        )),
        (false, Ok(revision)) => Some(format!("expected invalid, parsed to {revision}")),
        (false, Err(error)) => {
            if v.value.is_some() {
                return Some("an invalid vector must not give `value`".to_owned());
            }
            let Some(expected) = &v.reason else {
                return Some("an invalid vector must give `reason`".to_owned());
            };
            let got = reason_of(&error);
            (got != expected).then(|| format!("expected reason {expected}, got {got} ({error})"))
        }
    }
}

#[test]
fn revision_vectors() {
    let vectors = load();
    assert!(
        vectors.len() >= MIN_VECTORS,
        "{} holds {} vectors, expected at least {MIN_VECTORS}",
        vectors_path().display(),
        vectors.len()
    );
    let failures: Vec<String> = vectors
        .iter()
        .filter_map(|v| {
            check(v).map(|problem| format!("vector #{} (input {}): {problem}", v.index, v.input))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} revision vectors failed:\n  {}",
        failures.len(),
        vectors.len(),
        failures.join("\n  ")
    );
}

/// REV-5: for canonical strings, (length, lexicographic) order is numeric
/// order, so a peer without 64-bit integers can still compare revisions.
#[test]
fn canonical_strings_order_by_length_then_lexicographically() {
    let valid: Vec<(usize, String, Revision)> = load()
        .into_iter()
        .filter(|v| v.valid)
        .filter_map(|v| {
            let revision = Revision::from_json(&v.input).ok()?;
            Some((v.index, v.value?, revision))
        })
        .collect();
    assert!(valid.len() >= 2, "too few valid vectors to compare");
    for (i, a, ra) in &valid {
        for (j, b, rb) in &valid {
            let by_text = a.len().cmp(&b.len()).then_with(|| a.cmp(b));
            let numeric: Ordering = ra.cmp(rb);
            assert_eq!(
                by_text, numeric,
                "vectors #{i} ({a:?}) and #{j} ({b:?}): string order {by_text:?}, numeric order {numeric:?}"
            );
        }
    }
}
