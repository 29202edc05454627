//! The embedded corpus is the definition of conformance: every MUST clause
//! of `docs/protocol.md` and `docs/lifecycle.md` is checked by at least one
//! spec, every clause a spec cites exists, and the corpus does not shrink
//! below its published size.

use state_sync_conformance::Level;
use state_sync_conformance::corpus::{self, Corpus};

/// The corpus never has fewer specs than this.
const MIN_SPECS: usize = 143;

fn embedded() -> Corpus {
    Corpus::embedded().unwrap_or_else(|e| panic!("the embedded corpus does not load:\n{e}"))
}

#[test]
fn every_must_clause_has_a_spec() {
    let coverage = embedded().coverage();
    let clauses = corpus::clauses();
    assert!(
        !clauses.is_empty(),
        "contract-specs/clauses.json is empty or unreadable"
    );
    let uncovered: Vec<String> = clauses
        .iter()
        .filter(|c| c.level == Level::Must)
        .filter(|c| coverage.get(&c.id).is_none_or(Vec::is_empty))
        .map(|c| format!("{} ({}): {}", c.id, c.doc, c.summary))
        .collect();
    assert!(
        uncovered.is_empty(),
        "MUST clauses no spec in contract-specs/ cites:\n  {}",
        uncovered.join("\n  ")
    );
}

#[test]
fn cited_clauses_exist_and_the_corpus_is_complete() {
    let corpus = embedded();
    let known: Vec<String> = corpus::clauses().into_iter().map(|c| c.id).collect();
    for loaded in corpus.specs() {
        for clause in &loaded.spec.clauses {
            assert!(
                known.contains(clause),
                "{}: cites {clause}, which is not in contract-specs/clauses.json",
                loaded.origin
            );
        }
    }
    let n = corpus.specs().len();
    assert!(
        n >= MIN_SPECS,
        "the corpus holds {n} specs, expected at least {MIN_SPECS}"
    );
}

/// Every capability gates at least one spec: a transport that claims it is
/// judged by something that needs it (the kit also checks every claim
/// directly, in every case: TR-6).
#[test]
fn every_capability_gates_a_spec() {
    let corpus = embedded();
    let unused: Vec<&str> = state_sync_conformance::Capability::ALL
        .iter()
        .filter(|cap| !corpus.specs().iter().any(|s| s.spec.requires.contains(cap)))
        .map(|cap| cap.as_str())
        .collect();
    assert!(
        unused.is_empty(),
        "capabilities no spec requires: {unused:?}"
    );
}
