//! The known-failures file: specs a transport is expected to fail.
//!
//! The file is owned by the user of the kit. It maps spec ids to the reason
//! they fail, optionally a link (an issue) and optionally the transports the
//! entry is limited to:
//!
//! ```json
//! {
//!   "late-join": {
//!     "reason": "the IPC bridge drops events sent before the first listen",
//!     "link": "https://example.com/issues/12",
//!     "transports": ["my-ipc"]
//!   }
//! }
//! ```
//!
//! An empty file (`{}`) lists nothing. A listed case that fails becomes
//! [`Verdict::ExpectedFail`]; a listed case that passes becomes
//! [`Verdict::UnexpectedPass`], which fails the run so the stale entry gets
//! removed (see [`adjust`]).
//!
//! ```
//! use state_sync_conformance::known_failures::KnownFailures;
//! use state_sync_conformance::Verdict;
//!
//! let known = KnownFailures::parse(
//!     r#"{"late-join": {"reason": "drops early events", "transports": ["my-ipc"]}}"#,
//!     "known-failures.json",
//! )?;
//! known.validate(["late-join", "coalescing"])?;
//! let entry = known.lookup("my-ipc", "late-join");
//! assert_eq!(KnownFailures::adjust(Verdict::Fail, entry), Verdict::ExpectedFail);
//! assert_eq!(known.lookup("memory", "late-join"), None);
//! # Ok::<(), state_sync_conformance::known_failures::KnownFailuresError>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::verdict::{CaseResult, Verdict};

/// One entry of the known-failures file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an entry object: {\"reason\": \"...\", \"link\": \"...\" (optional), \"transports\": [...] (optional)}"
)]
pub struct KnownFailure {
    /// Why the spec fails (must not be empty).
    pub reason: String,
    /// Where to read more, e.g. an issue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Limit the entry to these transports (default: every transport). When
    /// given, the list must not be empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transports: Option<Vec<String>>,
}

impl KnownFailure {
    /// `reason (link)`, or just `reason` without a link: the text the
    /// report shows in a case's `known_failure` field.
    pub fn describe(&self) -> String {
        match &self.link {
            Some(link) => format!("{} ({link})", self.reason),
            None => self.reason.clone(),
        }
    }

    /// Whether the entry applies to `transport`.
    pub fn applies_to(&self, transport: &str) -> bool {
        self.transports
            .as_ref()
            .is_none_or(|ts| ts.iter().any(|t| t == transport))
    }
}

/// A parsed known-failures file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KnownFailures {
    origin: String,
    entries: BTreeMap<String, KnownFailure>,
}

/// A known-failures file could not be read, parsed or validated. Every
/// message names the file.
#[derive(Debug, thiserror::Error)]
pub enum KnownFailuresError {
    /// The file could not be read.
    #[error("could not read the known-failures file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The file could not be written (when blessing).
    #[error("could not write the known-failures file {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The file is not valid JSON, or not of the expected shape.
    #[error(
        "{origin}: invalid known-failures file{}: {message}",
        path.as_ref().map(|p| format!(" at `{p}`")).unwrap_or_default()
    )]
    Parse {
        /// The file (or other origin) the text came from.
        origin: String,
        /// The JSON path of the offending value (`.` for the top level), when
        /// known.
        path: Option<String>,
        /// What was found and what was expected.
        message: String,
    },
    /// An entry is well-formed JSON but makes no sense.
    #[error("{origin}: entry `{spec}`: {message}")]
    Invalid {
        /// The file.
        origin: String,
        /// The entry's spec id.
        spec: String,
        /// What is wrong.
        message: String,
    },
    /// Entries name specs the suite does not have.
    #[error(
        "{origin}: {} {} no spec of the suite (fix the id or remove the entry)",
        if specs.len() == 1 { "entry" } else { "entries" },
        name_list(specs, if specs.len() == 1 { "names" } else { "name" })
    )]
    UnknownSpecs {
        /// The file.
        origin: String,
        /// The entries, sorted.
        specs: Vec<String>,
    },
}

fn name_list(specs: &[String], verb: &str) -> String {
    let names: Vec<String> = specs.iter().map(|s| format!("`{s}`")).collect();
    format!("{} {verb}", names.join(", "))
}

impl KnownFailures {
    /// No entries.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Parses the text of a known-failures file. `origin` (usually the
    /// file's path) names the file in errors. Unknown fields, an empty
    /// `reason` and an empty `transports` list are errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, KnownFailuresError> {
        let mut de = serde_json::Deserializer::from_str(text);
        let entries: BTreeMap<String, KnownFailure> = serde_path_to_error::deserialize(&mut de)
            .map_err(|e| KnownFailuresError::Parse {
                origin: origin.to_owned(),
                path: Some(e.path().to_string()).filter(|p| !p.contains('?')),
                message: e.inner().to_string(),
            })?;
        de.end().map_err(|e| KnownFailuresError::Parse {
            origin: origin.to_owned(),
            path: None,
            message: e.to_string(),
        })?;
        for (spec, entry) in &entries {
            let invalid = |message: &str| KnownFailuresError::Invalid {
                origin: origin.to_owned(),
                spec: spec.clone(),
                message: message.to_owned(),
            };
            if entry.reason.trim().is_empty() {
                return Err(invalid(
                    "`reason` must not be empty: say why the spec fails",
                ));
            }
            if entry.transports.as_ref().is_some_and(Vec::is_empty) {
                return Err(invalid(
                    "`transports` must not be empty: omit it to cover every transport",
                ));
            }
        }
        Ok(Self {
            origin: origin.to_owned(),
            entries,
        })
    }

    /// Reads and parses the file at `path`.
    pub fn load(path: &Path) -> Result<Self, KnownFailuresError> {
        let text = std::fs::read_to_string(path).map_err(|source| KnownFailuresError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Checks that every entry names one of `spec_ids`; the error lists every
    /// entry that does not.
    pub fn validate<'a>(
        &self,
        spec_ids: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), KnownFailuresError> {
        let known: BTreeSet<&str> = spec_ids.into_iter().collect();
        let unknown: Vec<String> = self
            .entries
            .keys()
            .filter(|id| !known.contains(id.as_str()))
            .cloned()
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(KnownFailuresError::UnknownSpecs {
                origin: self.origin.clone(),
                specs: unknown,
            })
        }
    }

    /// The entry for `spec` on `transport`, if any.
    pub fn lookup(&self, transport: &str, spec: &str) -> Option<&KnownFailure> {
        self.entries
            .get(spec)
            .filter(|entry| entry.applies_to(transport))
    }

    /// The verdict after taking a known failure into account; the same as
    /// the free function [`adjust`].
    pub fn adjust(raw: Verdict, known: Option<&KnownFailure>) -> Verdict {
        adjust(raw, known)
    }

    /// Where the entries came from (the file's path, or the `origin` given
    /// to [`KnownFailures::parse`]); empty for [`KnownFailures::empty`].
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entries, by spec id.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &KnownFailure)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }
}

/// What [`KnownFailures::bless`] changed, by spec id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Blessed {
    /// The file after blessing.
    pub file: KnownFailures,
    /// New entries.
    pub added: Vec<String>,
    /// Entries whose transports changed.
    pub changed: Vec<String>,
    /// Entries removed because their cases pass now.
    pub removed: Vec<String>,
}

impl Blessed {
    /// Whether nothing changed.
    pub fn is_unchanged(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}

/// Blesses the known-failures file at `path` with `results` (see
/// [`KnownFailures::bless`]): reads it (a missing file is empty), writes it
/// back if anything changed, and says what it did in one line.
pub fn bless_file(path: &Path, results: &[CaseResult]) -> Result<String, KnownFailuresError> {
    let existing = if path.exists() {
        KnownFailures::load(path)?
    } else {
        KnownFailures::empty()
    };
    let blessed = existing.bless(results);
    if blessed.is_unchanged() {
        return Ok(format!("known failures: {} is up to date", path.display()));
    }
    blessed.file.write(path)?;
    Ok(format!(
        "known failures: wrote {} ({} added, {} changed, {} removed); edit the reasons of new entries",
        path.display(),
        blessed.added.len(),
        blessed.changed.len(),
        blessed.removed.len()
    ))
}

impl KnownFailures {
    /// The file that makes `results` (the cases of one run, verdicts already
    /// adjusted by this file) all expected: failing cases get an entry,
    /// entries whose cases all pass are removed, and existing reasons and
    /// links are kept. A new entry's reason is the case's first failure;
    /// edit it to say why. SHOULD differences (`non-strict`) get entries
    /// too, so that the file holds for a strict run. Transports that did not take part in the run
    /// keep their entries as they were.
    pub fn bless(&self, results: &[CaseResult]) -> Blessed {
        let failing = |v: Verdict| {
            matches!(
                v,
                Verdict::Fail
                    | Verdict::NonStrict
                    | Verdict::Error
                    | Verdict::Timeout
                    | Verdict::ExpectedFail
            )
        };
        let ran: BTreeSet<&str> = results.iter().map(|c| c.transport.as_str()).collect();
        let mut by_spec: BTreeMap<&str, Vec<&CaseResult>> = BTreeMap::new();
        for case in results {
            by_spec.entry(case.spec.as_str()).or_default().push(case);
        }
        let mut blessed = Blessed {
            file: self.clone(),
            ..Blessed::default()
        };
        for (spec, cases) in by_spec {
            let mut fails: Vec<String> = cases
                .iter()
                .filter(|c| failing(c.verdict))
                .map(|c| c.transport.clone())
                .collect();
            fails.sort();
            let existing = self.entries.get(spec);
            // Transports outside this run keep what the file said of them.
            let kept: Vec<String> = existing
                .and_then(|e| e.transports.as_ref())
                .into_iter()
                .flatten()
                .filter(|t| !ran.contains(t.as_str()))
                .cloned()
                .collect();
            let mut transports: Vec<String> = fails.iter().cloned().chain(kept).collect();
            transports.sort();
            transports.dedup();
            let entries = &mut blessed.file.entries;
            match existing {
                None if fails.is_empty() => {}
                None => {
                    let first = cases
                        .iter()
                        .find(|c| failing(c.verdict))
                        .and_then(|c| c.failures.first())
                        .map_or("fails", |f| f.lines().next().unwrap_or("fails"));
                    entries.insert(
                        spec.to_owned(),
                        KnownFailure {
                            reason: cut(first, 200),
                            link: None,
                            transports: Some(transports),
                        },
                    );
                    blessed.added.push(spec.to_owned());
                }
                Some(_) if transports.is_empty() => {
                    entries.remove(spec);
                    blessed.removed.push(spec.to_owned());
                }
                Some(entry) => {
                    let every = entry.transports.is_none()
                        && cases
                            .iter()
                            .all(|c| failing(c.verdict) || c.verdict == Verdict::Unsupported);
                    let new = if every { None } else { Some(transports) };
                    if new != entry.transports {
                        let mut updated = entry.clone();
                        updated.transports = new;
                        entries.insert(spec.to_owned(), updated);
                        blessed.changed.push(spec.to_owned());
                    }
                }
            }
        }
        blessed
    }

    /// The file's text: pretty JSON, entries sorted by spec id, with a
    /// trailing newline.
    pub fn to_json(&self) -> String {
        let text = serde_json::to_string_pretty(&self.entries)
            .expect("known-failures entries always serialize");
        format!("{text}\n")
    }

    /// Writes [`to_json`](Self::to_json) to `path`.
    pub fn write(&self, path: &Path) -> Result<(), KnownFailuresError> {
        std::fs::write(path, self.to_json()).map_err(|source| KnownFailuresError::Write {
            path: path.to_owned(),
            source,
        })
    }
}

/// `text` cut to at most `max` characters, with `…` when cut.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// The verdict of a case after taking its known-failures entry into account:
///
/// * `fail`, `non-strict`, `error` or `timeout` with an entry →
///   `expected-fail`;
/// * `pass` with an entry → `unexpected-pass` (the entry is stale);
/// * anything else (no entry, `unsupported`, verdicts already adjusted) is
///   unchanged.
pub fn adjust(raw: Verdict, known: Option<&KnownFailure>) -> Verdict {
    match (raw, known) {
        (Verdict::Fail | Verdict::NonStrict | Verdict::Error | Verdict::Timeout, Some(_)) => {
            Verdict::ExpectedFail
        }
        (Verdict::Pass, Some(_)) => Verdict::UnexpectedPass,
        (v, _) => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "known-failures.json";

    fn entry(transports: Option<&[&str]>) -> KnownFailure {
        KnownFailure {
            reason: "drops early events".to_owned(),
            link: None,
            transports: transports.map(|ts| ts.iter().map(|t| (*t).to_owned()).collect()),
        }
    }

    fn parse_err(text: &str) -> String {
        KnownFailures::parse(text, FILE)
            .expect_err("should not parse")
            .to_string()
    }

    #[test]
    fn empty_file_is_fine() {
        let known = KnownFailures::parse("{}", FILE).expect("parses");
        assert!(known.is_empty());
        assert_eq!(known.len(), 0);
        assert_eq!(known.origin(), FILE);
        known.validate(["a"]).expect("nothing to validate");
        known.validate([]).expect("nothing to validate");
        assert_eq!(known.lookup("memory", "a"), None);
        assert!(KnownFailures::empty().is_empty());
    }

    #[test]
    fn parses_every_field() {
        let known = KnownFailures::parse(
            r#"{
                "late-join": {"reason": "r1", "link": "https://x/1", "transports": ["ipc", "ws"]},
                "coalescing": {"reason": "r2"}
            }"#,
            FILE,
        )
        .expect("parses");
        assert_eq!(known.len(), 2);
        let late = known.lookup("ipc", "late-join").expect("listed for ipc");
        assert_eq!(late.link.as_deref(), Some("https://x/1"));
        assert!(known.lookup("ws", "late-join").is_some());
        assert_eq!(
            known.lookup("memory", "late-join"),
            None,
            "limited to ipc, ws"
        );
        assert!(
            known.lookup("memory", "coalescing").is_some(),
            "every transport"
        );
        assert_eq!(known.lookup("memory", "other"), None);
        let ids: Vec<&str> = known.iter().map(|(id, _)| id).collect();
        assert_eq!(ids, ["coalescing", "late-join"]);
    }

    #[test]
    fn describe_shows_reason_and_link() {
        let mut e = entry(None);
        assert_eq!(e.describe(), "drops early events");
        e.link = Some("https://example.com/12".to_owned());
        assert_eq!(e.describe(), "drops early events (https://example.com/12)");
    }

    #[test]
    fn adjust_rules() {
        let e = entry(None);
        let known = Some(&e);
        for raw in [
            Verdict::Fail,
            Verdict::NonStrict,
            Verdict::Error,
            Verdict::Timeout,
        ] {
            assert_eq!(adjust(raw, known), Verdict::ExpectedFail, "{raw}");
            assert_eq!(adjust(raw, None), raw, "{raw} unlisted");
        }
        assert_eq!(adjust(Verdict::Pass, known), Verdict::UnexpectedPass);
        assert_eq!(adjust(Verdict::Pass, None), Verdict::Pass);
        assert_eq!(adjust(Verdict::Unsupported, known), Verdict::Unsupported);
        assert_eq!(adjust(Verdict::Unsupported, None), Verdict::Unsupported);
        for already in [Verdict::ExpectedFail, Verdict::UnexpectedPass] {
            assert_eq!(adjust(already, known), already);
            assert_eq!(adjust(already, None), already);
        }
        assert_eq!(
            KnownFailures::adjust(Verdict::Fail, known),
            Verdict::ExpectedFail
        );
    }

    #[test]
    fn lookup_respects_transport_limits() {
        assert!(entry(None).applies_to("anything"));
        assert!(entry(Some(&["a", "b"])).applies_to("b"));
        assert!(!entry(Some(&["a", "b"])).applies_to("c"));
    }

    #[test]
    fn unknown_field_names_path_and_expected_fields() {
        let msg = parse_err(r#"{"late-join": {"reason": "r", "reasons": "x"}}"#);
        assert!(msg.starts_with("known-failures.json: "), "{msg}");
        assert!(msg.contains("late-join"), "{msg}");
        assert!(msg.contains("unknown field `reasons`"), "{msg}");
        assert!(msg.contains("`reason`, `link`, `transports`"), "{msg}");
    }

    #[test]
    fn missing_reason_is_an_error() {
        let msg = parse_err(r#"{"late-join": {"link": "https://x"}}"#);
        assert!(msg.contains("at `late-join`"), "{msg}");
        assert!(msg.contains("missing field `reason`"), "{msg}");
    }

    #[test]
    fn wrong_types_name_the_path() {
        let msg = parse_err(r#"{"late-join": {"reason": "r", "transports": ["a", 3]}}"#);
        assert!(msg.contains("at `late-join.transports[1]`"), "{msg}");
        assert!(msg.contains("expected a string"), "{msg}");

        let msg = parse_err(r#"{"late-join": {"reason": 7}}"#);
        assert!(msg.contains("at `late-join.reason`"), "{msg}");
        assert!(msg.contains("expected a string"), "{msg}");

        let msg = parse_err(r#"{"late-join": "flaky"}"#);
        assert!(msg.contains("at `late-join`"), "{msg}");
        assert!(msg.contains("expected an entry object"), "{msg}");

        let msg = parse_err(r#"["late-join"]"#);
        assert!(msg.contains("at `.`"), "{msg}");
        assert!(msg.contains("expected a map"), "{msg}");
    }

    #[test]
    fn bad_json_is_an_error() {
        let msg = parse_err(r#"{"late-join": {"reason": "r"}"#);
        assert!(
            msg.starts_with("known-failures.json: invalid known-failures file: EOF"),
            "{msg}"
        );

        let msg = parse_err(r#"{} {}"#);
        assert!(msg.contains("trailing characters"), "{msg}");

        let msg = parse_err("");
        assert!(msg.contains("EOF"), "{msg}");
    }

    #[test]
    fn empty_reason_and_transports_are_errors() {
        let msg = parse_err(r#"{"late-join": {"reason": "  "}}"#);
        assert_eq!(
            msg,
            "known-failures.json: entry `late-join`: `reason` must not be empty: say why the spec fails"
        );
        let msg = parse_err(r#"{"late-join": {"reason": "r", "transports": []}}"#);
        assert!(msg.contains("entry `late-join`"), "{msg}");
        assert!(msg.contains("`transports` must not be empty"), "{msg}");
    }

    #[test]
    fn validate_names_unknown_entries_and_the_file() {
        let known = KnownFailures::parse(
            r#"{"late-join": {"reason": "r"}, "nope": {"reason": "r"}, "gone": {"reason": "r"}}"#,
            FILE,
        )
        .expect("parses");
        known
            .validate(["late-join", "nope", "gone", "extra"])
            .expect("all exist");
        let msg = known
            .validate(["late-join", "gone"])
            .expect_err("nope is unknown")
            .to_string();
        assert_eq!(
            msg,
            "known-failures.json: entry `nope` names no spec of the suite (fix the id or remove the entry)"
        );
        let msg = known
            .validate(["late-join"])
            .expect_err("two unknown")
            .to_string();
        assert_eq!(
            msg,
            "known-failures.json: entries `gone`, `nope` name no spec of the suite (fix the id or remove the entry)"
        );
    }

    #[test]
    fn load_reads_a_file_and_names_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let dir = dir.path();
        let path = dir.join("known-failures.json");
        std::fs::write(&path, r#"{"late-join": {"reason": "r"}}"#).expect("write");
        let known = KnownFailures::load(&path).expect("loads");
        assert_eq!(known.origin(), path.display().to_string());
        assert!(known.lookup("memory", "late-join").is_some());

        std::fs::write(&path, r#"{"late-join": {}}"#).expect("write");
        let msg = KnownFailures::load(&path).expect_err("invalid").to_string();
        assert!(msg.starts_with(&path.display().to_string()), "{msg}");

        let missing = dir.join("missing.json");
        let msg = KnownFailures::load(&missing)
            .expect_err("missing")
            .to_string();
        assert!(
            msg.contains("could not read the known-failures file"),
            "{msg}"
        );
        assert!(msg.contains("missing.json"), "{msg}");
    }

    fn result(transport: &str, spec: &str, verdict: Verdict) -> CaseResult {
        let mut c = CaseResult::stub(transport, spec, verdict);
        if verdict != Verdict::Pass {
            c.failures = vec![format!("{spec} broke\nsecond line")];
        }
        c
    }

    #[test]
    fn bless_adds_failing_cases_and_removes_passing_ones() {
        let known = KnownFailures::parse(
            r#"{
                "now-passes": {"reason": "was broken"},
                "still-fails": {"reason": "kept", "link": "https://x/1", "transports": ["a", "elsewhere"]}
            }"#,
            FILE,
        )
        .expect("parses");
        let results = [
            result("a", "now-passes", Verdict::UnexpectedPass),
            result("b", "now-passes", Verdict::Pass),
            result("a", "still-fails", Verdict::ExpectedFail),
            result("b", "still-fails", Verdict::Fail),
            result("a", "new-failure", Verdict::Timeout),
            result("b", "new-failure", Verdict::Pass),
            result("a", "fine", Verdict::Pass),
        ];
        let blessed = known.bless(&results);
        assert_eq!(blessed.added, ["new-failure"]);
        assert_eq!(blessed.changed, ["still-fails"]);
        assert_eq!(blessed.removed, ["now-passes"]);
        let file = &blessed.file;
        let kept = file.lookup("b", "still-fails").expect("now listed for b");
        assert_eq!(
            (kept.reason.as_str(), kept.link.as_deref()),
            ("kept", Some("https://x/1"))
        );
        assert_eq!(
            kept.transports.as_deref(),
            Some(&["a".to_owned(), "b".to_owned(), "elsewhere".to_owned()][..]),
            "a transport outside the run keeps its entry"
        );
        let new = file.lookup("a", "new-failure").expect("added");
        assert_eq!(new.reason, "new-failure broke", "the first failure line");
        assert_eq!(file.lookup("b", "new-failure"), None);
        assert_eq!(file.lookup("a", "fine"), None);
        let again = KnownFailures::parse(&file.to_json(), FILE).expect("round trip");
        assert_eq!(again.len(), 2);
        let adjusted: Vec<CaseResult> = results
            .iter()
            .map(|r| {
                let mut r = r.clone();
                let raw = match r.verdict {
                    Verdict::ExpectedFail => Verdict::Fail,
                    Verdict::UnexpectedPass => Verdict::Pass,
                    v => v,
                };
                r.verdict = adjust(raw, again.lookup(&r.transport, &r.spec));
                r
            })
            .collect();
        assert!(
            adjusted.iter().all(|r| !r.verdict.is_unexpected()),
            "after blessing, nothing is unexpected: {adjusted:?}"
        );
        assert!(
            again.bless(&adjusted).is_unchanged(),
            "blessing is idempotent"
        );
    }

    #[test]
    fn bless_keeps_an_every_transport_entry_while_all_fail() {
        let known = KnownFailures::parse(r#"{"s": {"reason": "r"}}"#, FILE).expect("parses");
        let blessed = known.bless(&[
            result("a", "s", Verdict::ExpectedFail),
            result("b", "s", Verdict::Unsupported),
        ]);
        assert!(blessed.is_unchanged(), "{blessed:?}");
    }
}
