//! One thing that went wrong in a case, and the clause it breaks.
//!
//! A failed check (an expectation, the outcome of a call, an always-on
//! invariant) names the clause it defends; its level grades the case
//! (`non-strict` when only SHOULD clauses broke). What is not a check — a
//! hang, a crash, a case that could not be set up — names none.

use std::fmt;

use crate::corpus::clause_level;
use crate::spec::Level;

/// A failure, with the clause it breaks if it is a failed check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) clause: Option<String>,
    pub(crate) message: String,
}

impl Failure {
    /// A failed check of `clause`.
    pub(crate) fn of(clause: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            clause: Some(clause.into()),
            message: message.into(),
        }
    }

    /// Something that went wrong outside any check (a hang, a crash).
    pub(crate) fn unclaused(message: impl Into<String>) -> Self {
        Self {
            clause: None,
            message: message.into(),
        }
    }

    /// The level of its clause; a failure outside any check, or of a
    /// clause the registry does not hold, counts as MUST.
    pub(crate) fn level(&self) -> Level {
        self.clause
            .as_deref()
            .and_then(clause_level)
            .unwrap_or(Level::Must)
    }
}

impl fmt::Display for Failure {
    /// `CO-2: message`, or the bare message outside any check.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.clause {
            Some(clause) => write!(f, "{clause}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// The clauses `failures` break, sorted and deduplicated.
pub(crate) fn broken_clauses(failures: &[Failure]) -> Vec<String> {
    let mut clauses: Vec<String> = failures.iter().filter_map(|f| f.clause.clone()).collect();
    clauses.sort();
    clauses.dedup();
    clauses
}

/// Whether every one of `failures` breaks a SHOULD clause (and there is
/// one): the case is `non-strict`, not failed.
pub(crate) fn only_should(failures: &[Failure]) -> bool {
    !failures.is_empty() && failures.iter().all(|f| f.level() == Level::Should)
}

#[cfg(test)]
mod tests {
    use super::{Failure, broken_clauses, only_should};

    #[test]
    fn a_failure_names_its_clause_and_is_graded_by_its_level() {
        let retry = Failure::of("RETRY-2", "step 3 (expect): attempt: expected 3, got 1");
        let gate = Failure::of("GATE-1", "applies not strictly increasing");
        let hang = Failure::unclaused("no progress for 60 s");
        assert_eq!(
            retry.to_string(),
            "RETRY-2: step 3 (expect): attempt: expected 3, got 1"
        );
        assert_eq!(hang.to_string(), "no progress for 60 s");
        assert!(only_should(std::slice::from_ref(&retry)));
        assert!(!only_should(&[retry.clone(), gate.clone()]));
        assert!(!only_should(&[retry.clone(), hang]));
        assert!(!only_should(&[]));
        assert_eq!(
            broken_clauses(&[gate, retry.clone(), retry]),
            ["GATE-1", "RETRY-2"]
        );
    }
}
