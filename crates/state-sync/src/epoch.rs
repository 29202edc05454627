//! The epoch: which run of a source of truth a revision belongs to.
//!
//! A source that restarts without its revision history counts from 0
//! again; windows that were at a higher revision would ignore every new
//! state (GATE-1, GATE-2). Such a source moves to a greater epoch instead,
//! and a window orders what it hears by [`Position`]: epoch first, then
//! revision (docs/protocol.md, SRC-4 and GATE-6). An epoch has a
//! revision's wire form; a payload without one is at epoch `0`, so the
//! wire of a source that never restarts this way does not change.

use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::revision::{Revision, RevisionError};

/// One run of a source of truth, ordered: a source restarted without its
/// revision history uses a greater epoch than every run before.
///
/// The wire form (`"epoch"` in invalidations and snapshots) is a
/// revision's: a canonical decimal `u64` string. Absent means `0`.
///
/// ```
/// use state_sync::Epoch;
///
/// let e: Epoch = "1733560000000".parse()?;
/// assert_eq!(e.get(), 1_733_560_000_000);
/// assert!("01".parse::<Epoch>().is_err());
/// assert!(Epoch::ZERO < e);
/// # Ok::<(), state_sync::RevisionError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Epoch(u64);

impl Epoch {
    /// Epoch `0`: that of every payload without an `epoch` field.
    pub const ZERO: Epoch = Epoch(0);

    /// Wraps a `u64`.
    pub const fn new(value: u64) -> Self {
        Self(value)
    }

    /// The numeric value.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// Whether this is epoch `0` (the wire form leaves it out).
    pub const fn is_zero(&self) -> bool {
        self.0 == 0
    }

    /// The epoch of a run starting now, for a source that keeps nothing
    /// across restarts: the milliseconds since the Unix epoch, which a
    /// later start exceeds as long as the clock does not go back by more
    /// than the time between the two starts. A source that can keep a
    /// number across restarts (a file, a database row) should count its
    /// runs instead: that holds whatever the clock does.
    pub fn from_clock() -> Self {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Self(ms.max(1))
    }

    /// Parses the canonical decimal form (a revision's rules).
    pub fn parse(s: &str) -> Result<Self, RevisionError> {
        Revision::parse(s).map(|r| Self(r.get()))
    }

    /// Reads an epoch from a raw JSON value: a string in canonical form.
    pub fn from_json(value: &Value) -> Result<Self, RevisionError> {
        Revision::from_json(value).map(|r| Self(r.get()))
    }
}

impl From<u64> for Epoch {
    fn from(value: u64) -> Self {
        Self(value)
    }
}

impl FromStr for Epoch {
    type Err = RevisionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl Serialize for Epoch {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Epoch {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Revision::deserialize(deserializer).map(|r| Self(r.get()))
    }
}

/// Where a window is, or what a payload announces: an epoch and a
/// revision, ordered by epoch first (GATE-6). Every comparison of the gate
/// (GATE-1, GATE-2, GATE-5) and of coalescing (CO-2) is on positions.
///
/// ```
/// use state_sync::{Epoch, Position, Revision};
///
/// let before = Position::new(Epoch::ZERO, Revision::new(57));
/// let restarted = Position::new(Epoch::new(2), Revision::new(1));
/// assert!(restarted > before, "a newer run is newer whatever its revision");
/// assert_eq!(Position::from(Revision::new(3)), Position::new(Epoch::ZERO, Revision::new(3)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position {
    /// The source's run.
    pub epoch: Epoch,
    /// The revision within that run.
    pub revision: Revision,
}

impl Position {
    /// Epoch `0`, revision `0`: a window before its first apply.
    pub const ZERO: Position = Position {
        epoch: Epoch::ZERO,
        revision: Revision::ZERO,
    };

    /// `revision` of run `epoch`.
    pub const fn new(epoch: Epoch, revision: Revision) -> Self {
        Self { epoch, revision }
    }
}

impl From<Revision> for Position {
    /// A revision of epoch `0` (a payload without `epoch`).
    fn from(revision: Revision) -> Self {
        Self::new(Epoch::ZERO, revision)
    }
}

impl fmt::Display for Position {
    /// `42`, or `42 of epoch 3` when the epoch is not `0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.epoch.is_zero() {
            write!(f, "{}", self.revision)
        } else {
            write!(f, "{} of epoch {}", self.revision, self.epoch)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn the_wire_form_is_a_revisions() {
        assert_eq!(Epoch::from_json(&json!("7")), Ok(Epoch::new(7)));
        assert_eq!(
            Epoch::from_json(&json!("07")),
            Err(RevisionError::LeadingZero)
        );
        assert!(matches!(
            Epoch::from_json(&json!(7)),
            Err(RevisionError::NotAString(_))
        ));
        assert_eq!(
            serde_json::to_value(Epoch::new(9)).expect("serialize"),
            json!("9")
        );
        assert!(serde_json::from_value::<Epoch>(json!("+9")).is_err());
    }

    #[test]
    fn a_clock_epoch_is_not_zero_and_does_not_go_back() {
        let a = Epoch::from_clock();
        let b = Epoch::from_clock();
        assert!(a > Epoch::ZERO);
        assert!(b >= a);
    }

    #[test]
    fn positions_show_their_epoch_only_when_it_is_not_zero() {
        assert_eq!(Position::from(Revision::new(4)).to_string(), "4");
        assert_eq!(
            Position::new(Epoch::new(2), Revision::new(4)).to_string(),
            "4 of epoch 2"
        );
    }

    proptest! {
        #[test]
        fn positions_order_by_epoch_then_revision(a in any::<(u64, u64)>(), b in any::<(u64, u64)>()) {
            let p = |(e, r): (u64, u64)| Position::new(Epoch::new(e), Revision::new(r));
            prop_assert_eq!(p(a).cmp(&p(b)), a.cmp(&b));
        }
    }
}
