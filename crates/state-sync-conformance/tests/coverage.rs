//! The embedded corpus is the definition of conformance: every MUST clause
//! of `docs/protocol.md` and `docs/lifecycle.md` is checked by at least one
//! spec, every clause a spec cites exists, every check names a clause its
//! spec cites and the spec's level is the highest of them, and the corpus
//! does not shrink below its published size.

use state_sync_conformance::corpus::{self, Corpus};
use state_sync_conformance::{Level, Step};

/// The corpus never has fewer specs than this.
const MIN_SPECS: usize = 176;

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

/// Each check of a spec defends one clause — the step's `clause`, or the
/// spec's first — which the spec cites (a `stopped` bound defends STOP-3);
/// a spec's `level` is the highest level among its checks' clauses, so a
/// spec whose checks only defend SHOULD clauses is a SHOULD spec.
#[test]
fn every_check_names_a_cited_clause_and_the_level_is_the_checks() {
    let mut problems = Vec::new();
    for loaded in embedded().specs() {
        let spec = &loaded.spec;
        let mut defended = Vec::new();
        for step in &spec.steps {
            match step {
                Step::Expect(e) => defended.push(spec.clause_of(e.clause.as_deref())),
                Step::Start(s) | Step::Refresh(s) => {
                    defended.push(spec.clause_of(s.clause.as_deref()));
                }
                Step::Join(j) => defended.push(spec.clause_of(j.clause.as_deref())),
                Step::Stopped(_) => defended.push("STOP-3"),
                _ => {}
            }
        }
        for clause in &defended {
            if !spec.clauses.iter().any(|c| c == clause) {
                problems.push(format!(
                    "{}: a check defends {clause}, which it does not cite",
                    loaded.origin
                ));
            }
        }
        let level = defended
            .iter()
            .filter_map(|c| corpus::clause_level(c))
            .min()
            .unwrap_or(Level::Should);
        if level != spec.level {
            problems.push(format!(
                "{}: level {} but its checks defend {:?} (level {})",
                loaded.origin,
                spec.level.as_str(),
                defended,
                level.as_str()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every capability gates at least one spec or check: a transport that
/// claims it is judged by something that needs it (the kit also checks
/// every claim directly, in every case: TR-6). `subscription-count` gates
/// the `subscriptions` expectations.
#[test]
fn every_capability_gates_a_spec() {
    let corpus = embedded();
    let counts_subscriptions = corpus.specs().iter().any(|s| {
        s.spec
            .steps
            .iter()
            .any(|step| matches!(step, Step::Expect(e) if e.subscriptions.is_some()))
    });
    let unused: Vec<&str> = state_sync_conformance::Capability::ALL
        .iter()
        .filter(|cap| !corpus.specs().iter().any(|s| s.spec.requires.contains(cap)))
        .filter(|cap| {
            !(**cap == state_sync_conformance::Capability::SubscriptionCount
                && counts_subscriptions)
        })
        .map(|cap| cap.as_str())
        .collect();
    assert!(
        unused.is_empty(),
        "capabilities no spec requires: {unused:?}"
    );
}

/// Every field of the scenario language, as a path of keys under a step
/// (`faults.snapshot.hold_next`, `release.events`), read from the spec
/// schema. A type used in several places (`Mutate` in `mutate` and in
/// `on_apply`) counts its fields at the first place only.
#[cfg(feature = "schema")]
fn language_fields() -> std::collections::BTreeSet<String> {
    use serde_json::Value;
    use std::collections::BTreeSet;
    fn walk(
        node: &Value,
        defs: &Value,
        path: &str,
        seen: &mut BTreeSet<String>,
        out: &mut BTreeSet<String>,
    ) {
        if let Some(target) = node.get("$ref").and_then(Value::as_str) {
            let name = target.trim_start_matches("#/$defs/");
            if seen.insert(name.to_owned()) {
                walk(&defs[name], defs, path, seen, out);
            }
        }
        for branch in ["oneOf", "anyOf", "allOf"] {
            for b in node
                .get(branch)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                walk(b, defs, path, seen, out);
            }
        }
        if let Some(items) = node.get("items") {
            walk(items, defs, path, seen, out);
        }
        for (key, sub) in node
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let here = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            if !path.is_empty() {
                out.insert(here.clone());
            }
            walk(sub, defs, &here, seen, out);
        }
    }
    let schema: Value = serde_json::from_str(&state_sync_conformance::schema::spec_schema_json())
        .expect("the spec schema is JSON");
    let mut out = BTreeSet::new();
    walk(
        &schema["$defs"]["Step"],
        &schema["$defs"],
        "",
        &mut BTreeSet::new(),
        &mut out,
    );
    out
}

/// The key paths a spec's steps use.
#[cfg(feature = "schema")]
fn used_fields(
    value: &serde_json::Value,
    path: &str,
    out: &mut std::collections::BTreeSet<String>,
) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, sub) in map {
                let here = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                out.insert(here.clone());
                used_fields(sub, &here, out);
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                used_fields(item, path, out);
            }
        }
        _ => {}
    }
}

/// Fields of the language that no portable spec can use, because what they
/// check is one engine's own (an exact message's wording). The kit's unit
/// tests check them instead (`case::checks`).
#[cfg(feature = "schema")]
const ENGINE_SPECIFIC: &[&str] = &["expect.error_context.message"];

/// Every step kind and every field of the scenario language is used by at
/// least one spec of the corpus: nothing in the language is untested.
#[cfg(feature = "schema")]
#[test]
fn every_construct_of_the_language_is_used_by_a_spec() {
    let mut used = std::collections::BTreeSet::new();
    for loaded in embedded().specs() {
        let steps = serde_json::to_value(&loaded.spec.steps).expect("steps serialize");
        used_fields(&steps, "", &mut used);
    }
    let fields = language_fields();
    assert!(fields.len() > 50, "the schema walk found only {fields:?}");
    let unused: Vec<&String> = fields
        .iter()
        .filter(|f| !used.contains(*f) && !ENGINE_SPECIFIC.contains(&f.as_str()))
        .collect();
    assert!(
        unused.is_empty(),
        "fields of the scenario language no spec uses:\n  {}",
        unused
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n  ")
    );
}

/// Every count of what deliveries cause is justified: a spec counting
/// errors of the `protocol` or `invalidation` phase, or the `coalesced` or
/// `protocol_errors` counters, either requires `exactly-once` or has those
/// counts gated — on a transport without the claim (one that may redeliver
/// or shed, as TR-4 and TR-7 allow) they are listed as not checked, never
/// judged. Run against such a transport, each of those specs shows it.
#[test]
fn every_count_of_deliveries_is_justified_by_a_capability() {
    use state_sync_conformance::{Capabilities, Capability, RunOptions, reference, run_case};

    let counts_deliveries = |e: &state_sync_conformance::spec::Expect| {
        e.errors
            .iter()
            .flatten()
            .any(|(p, _)| p.counts_deliveries())
            || e.error_phases
                .iter()
                .flatten()
                .any(|p| p.counts_deliveries())
            || e.metrics
                .iter()
                .flatten()
                .any(|(m, _)| m.counts_deliveries())
    };
    let without_claim = reference::memory()
        .renamed("at-least-once")
        .with_capabilities(Capabilities::all().without(Capability::ExactlyOnce));
    let options = RunOptions::default();
    let mut counting = 0;
    let mut unjustified = Vec::new();
    for loaded in embedded().specs() {
        let spec = &loaded.spec;
        let counts = spec
            .steps
            .iter()
            .any(|step| matches!(step, Step::Expect(e) if counts_deliveries(e)));
        if !counts || spec.requires.contains(&Capability::ExactlyOnce) {
            continue;
        }
        counting += 1;
        let result = run_case(spec, &without_claim, &options);
        let gated = result
            .not_checked
            .iter()
            .any(|n| n.field == "delivery counts");
        if !gated {
            unjustified.push(format!("{} ({})", spec.id, result.verdict));
        }
    }
    assert!(counting > 10, "specs counting deliveries: {counting}");
    assert!(
        unjustified.is_empty(),
        "specs counting what deliveries cause, neither requiring exactly-once nor gated: {unjustified:?}"
    );
}
