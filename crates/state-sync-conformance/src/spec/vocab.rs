//! The scenario vocabulary: every value a spec names — windows, phases,
//! revisions, lifecycle states, metrics, probabilities, durations, counts —
//! is a type that checks itself when the file is parsed. A spec that parses
//! is well-formed down to its last value, and the runner never reads text
//! again: it matches on these types.
//!
//! Each type's error says what was found and what was expected; the corpus
//! loader adds the file and the JSON path.

use std::fmt;

use serde::{Deserialize, Serialize};
use state_sync::{Lifecycle, Metrics, Phase, Revision};

/// Which windows a step addresses: `"a"`, or a range such as `"w[0..20]"`
/// meaning `w0` … `w19` (at most 1000 windows).
///
/// ```
/// use state_sync_conformance::spec::WindowSel;
///
/// let sel = WindowSel::parse("w[1..4]")?;
/// assert_eq!(sel.names(), ["w1", "w2", "w3"]);
/// assert!(WindowSel::parse("w[3..1]").is_err());
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WindowSel {
    text: String,
    names: Vec<String>,
}

impl WindowSel {
    /// Parses a selector.
    pub fn parse(text: &str) -> Result<Self, String> {
        Ok(Self {
            text: text.to_owned(),
            names: expand_windows(text)?,
        })
    }

    /// The window names it stands for, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The selector as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl TryFrom<String> for WindowSel {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        Self::parse(&text)
    }
}

impl From<WindowSel> for String {
    fn from(sel: WindowSel) -> String {
        sel.text
    }
}

impl fmt::Display for WindowSel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Expands a window selector: `"a"` → `["a"]`, `"w[0..3]"` → `["w0", "w1", "w2"]`.
fn expand_windows(sel: &str) -> Result<Vec<String>, String> {
    let Some(open) = sel.find('[') else {
        return if sel.is_empty() {
            Err("window name is empty".to_owned())
        } else {
            Ok(vec![sel.to_owned()])
        };
    };
    let prefix = &sel[..open];
    let range = sel[open + 1..]
        .strip_suffix(']')
        .ok_or_else(|| format!("window range {sel:?} must end with `]`"))?;
    let (a, b) = range
        .split_once("..")
        .ok_or_else(|| format!("window range {sel:?} must look like `name[0..10]`"))?;
    let parse = |s: &str| {
        s.parse::<u32>()
            .map_err(|_| format!("window range {sel:?}: {s:?} is not a number"))
    };
    let (a, b) = (parse(a)?, parse(b)?);
    if a >= b || b - a > 1000 {
        return Err(format!(
            "window range {sel:?} must be non-empty and hold at most 1000 windows"
        ));
    }
    Ok((a..b).map(|i| format!("{prefix}{i}")).collect())
}

/// An error phase, by its wire name (`getSnapshot`, `protocol`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhaseName(pub Phase);

impl PhaseName {
    /// Whether errors of this phase are counted once per delivery of an
    /// event (`protocol`: garbage; `invalidation`: a failing filter): a
    /// transport that may redeliver or shed changes their number.
    pub fn counts_deliveries(self) -> bool {
        matches!(self.0, Phase::Protocol | Phase::Invalidation)
    }
}

impl TryFrom<String> for PhaseName {
    type Error = String;
    fn try_from(name: String) -> Result<Self, String> {
        Phase::parse(&name).map(PhaseName).ok_or_else(|| {
            format!(
                "unknown phase {name:?}: expected one of {}",
                Phase::ALL.map(Phase::as_str).join(", ")
            )
        })
    }
}

impl From<PhaseName> for String {
    fn from(p: PhaseName) -> String {
        p.0.as_str().to_owned()
    }
}

impl fmt::Display for PhaseName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

/// A window's expected local revision: a canonical revision, or `"source"`
/// for the source's current revision of the window's topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum LocalRevision {
    /// The source's current revision of the window's topic.
    Source,
    /// This revision.
    Exactly(Revision),
}

impl TryFrom<String> for LocalRevision {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        if text == "source" {
            return Ok(Self::Source);
        }
        Revision::parse(&text)
            .map(Self::Exactly)
            .map_err(|e| format!("{text:?}: {e}: expected a canonical revision or \"source\""))
    }
}

impl From<LocalRevision> for String {
    fn from(r: LocalRevision) -> String {
        match r {
            LocalRevision::Source => "source".to_owned(),
            LocalRevision::Exactly(r) => r.to_string(),
        }
    }
}

/// A lifecycle state of the engine, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum LifecycleName {
    /// Created, not started (or reset after a failed start).
    Idle,
    /// `start` is running.
    Starting,
    /// Started.
    Running,
    /// Stopped.
    Stopped,
}

impl From<Lifecycle> for LifecycleName {
    fn from(l: Lifecycle) -> Self {
        match l {
            Lifecycle::Idle => Self::Idle,
            Lifecycle::Starting => Self::Starting,
            Lifecycle::Running => Self::Running,
            Lifecycle::Stopped => Self::Stopped,
        }
    }
}

impl fmt::Display for LifecycleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Idle => "idle",
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Stopped => "stopped",
        })
    }
}

/// One of the engine's counters (`RevisionSync::metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Snapshot fetches begun.
    Fetches,
    /// Snapshots applied.
    Applies,
    /// Refresh requests folded into a fetch in flight.
    Coalesced,
    /// Snapshots skipped as not newer.
    StaleSkips,
    /// Payloads rejected as protocol errors.
    ProtocolErrors,
    /// Highest announced revision minus the local revision.
    Lag,
}

impl Metric {
    /// Whether the counter counts per delivery of an event (`coalesced`,
    /// `protocol_errors`): a transport that may redeliver or shed changes
    /// it.
    pub fn counts_deliveries(self) -> bool {
        matches!(self, Self::Coalesced | Self::ProtocolErrors)
    }

    /// This counter's value in `m`.
    pub fn of(self, m: &Metrics) -> u64 {
        match self {
            Self::Fetches => m.fetches,
            Self::Applies => m.applies,
            Self::Coalesced => m.coalesced,
            Self::StaleSkips => m.stale_skips,
            Self::ProtocolErrors => m.protocol_errors,
            Self::Lag => m.lag,
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Fetches => "fetches",
            Self::Applies => "applies",
            Self::Coalesced => "coalesced",
            Self::StaleSkips => "stale_skips",
            Self::ProtocolErrors => "protocol_errors",
            Self::Lag => "lag",
        })
    }
}

/// A probability in `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Probability(f64);

impl Probability {
    /// The value.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl TryFrom<f64> for Probability {
    type Error = String;
    fn try_from(p: f64) -> Result<Self, String> {
        if (0.0..=1.0).contains(&p) {
            Ok(Self(p))
        } else {
            Err(format!("{p}: expected a probability in [0, 1]"))
        }
    }
}

impl From<Probability> for f64 {
    fn from(p: Probability) -> f64 {
        p.0
    }
}

/// An inclusive range of milliseconds, `{"min": 5, "max": 20}`, `min <= max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(try_from = "RangeMsFields")]
pub struct RangeMs {
    /// Lower bound.
    pub min: u64,
    /// Upper bound (>= min).
    pub max: u64,
}

/// An inclusive range of milliseconds, `min <= max`.
#[derive(Deserialize)]
#[cfg_attr(
    feature = "schema",
    derive(schemars::JsonSchema),
    schemars(rename = "RangeMs")
)]
#[serde(deny_unknown_fields)]
struct RangeMsFields {
    /// Lower bound.
    min: u64,
    /// Upper bound (>= min).
    max: u64,
}

impl TryFrom<RangeMsFields> for RangeMs {
    type Error = String;
    fn try_from(r: RangeMsFields) -> Result<Self, String> {
        if r.min > r.max {
            return Err(format!("min {} is above max {}", r.min, r.max));
        }
        Ok(Self {
            min: r.min,
            max: r.max,
        })
    }
}

/// A count that must be exact (`3`) or within bounds (`{"min": 1, "max": 2}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum Bound {
    /// Exactly this many.
    Exactly(u64),
    /// Within these inclusive bounds.
    Range(Range),
}

/// Inclusive bounds: `{"min": 1, "max": 2}`, either may be left out, `min <=
/// max`. Unknown keys are errors, so a typo cannot silently turn a check off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(try_from = "RangeFields")]
pub struct Range {
    /// At least.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u64>,
    /// At most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
}

/// Inclusive bounds, either may be left out, `min <= max`.
#[derive(Deserialize)]
#[cfg_attr(
    feature = "schema",
    derive(schemars::JsonSchema),
    schemars(rename = "Range")
)]
#[serde(deny_unknown_fields)]
struct RangeFields {
    /// At least.
    #[serde(default)]
    min: Option<u64>,
    /// At most.
    #[serde(default)]
    max: Option<u64>,
}

impl TryFrom<RangeFields> for Range {
    type Error = String;
    fn try_from(r: RangeFields) -> Result<Self, String> {
        if let (Some(a), Some(b)) = (r.min, r.max)
            && a > b
        {
            return Err(format!("min {a} is above max {b}"));
        }
        Ok(Self {
            min: r.min,
            max: r.max,
        })
    }
}

impl Bound {
    /// Whether `n` satisfies the bound.
    pub fn holds(self, n: u64) -> bool {
        match self {
            Bound::Exactly(x) => n == x,
            Bound::Range(Range { min, max }) => {
                min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m)
            }
        }
    }
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bound::Exactly(x) => write!(f, "exactly {x}"),
            Bound::Range(Range {
                min: Some(a),
                max: Some(b),
            }) => write!(f, "between {a} and {b}"),
            Bound::Range(Range {
                min: Some(a),
                max: None,
            }) => write!(f, "at least {a}"),
            Bound::Range(Range {
                min: None,
                max: Some(b),
            }) => write!(f, "at most {b}"),
            Bound::Range(Range {
                min: None,
                max: None,
            }) => f.write_str("any number"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_ranges_expand() {
        assert_eq!(expand_windows("a"), Ok(vec!["a".to_owned()]));
        assert_eq!(
            expand_windows("w[1..4]"),
            Ok(vec!["w1".to_owned(), "w2".to_owned(), "w3".to_owned()])
        );
        for bad in ["", "w[3..1]", "w[1..x]", "w[1-3]", "w[1..3", "w[0..1001]"] {
            assert!(expand_windows(bad).is_err(), "{bad}");
        }
        assert!(expand_windows("w[0..1000]").is_ok());
    }

    #[test]
    fn bounds() {
        assert!(Bound::Exactly(2).holds(2));
        assert!(!Bound::Exactly(2).holds(3));
        let b: Bound = serde_json::from_str(r#"{"max": 2}"#).expect("bound");
        assert!(b.holds(0) && b.holds(2) && !b.holds(3));
        assert_eq!(b.to_string(), "at most 2");
        assert!(
            serde_json::from_str::<Bound>(r#"{"mx": 2}"#).is_err(),
            "typos are errors"
        );
        assert!(serde_json::from_str::<Bound>(r#"{"min": 3, "max": 2}"#).is_err());
    }

    #[test]
    fn values_are_checked_when_parsed() {
        let phase: PhaseName = serde_json::from_str(r#""getSnapshot""#).expect("a phase");
        assert_eq!(phase.0, Phase::GetSnapshot);
        let err = serde_json::from_str::<PhaseName>(r#""nowhere""#).expect_err("no phase");
        assert!(
            err.to_string().contains("unknown phase \"nowhere\""),
            "{err}"
        );
        assert_eq!(
            serde_json::from_str::<LocalRevision>(r#""source""#).expect("source"),
            LocalRevision::Source
        );
        let err = serde_json::from_str::<LocalRevision>(r#""01""#).expect_err("leading zero");
        assert!(err.to_string().contains("leading zero"), "{err}");
        assert!(serde_json::from_str::<Probability>("1.5").is_err());
        assert!(serde_json::from_str::<RangeMs>(r#"{"min": 9, "max": 1}"#).is_err());
        let m: std::collections::BTreeMap<Metric, Bound> =
            serde_json::from_str(r#"{"stale_skips": 1}"#).expect("a metric");
        assert_eq!(m.keys().next(), Some(&Metric::StaleSkips));
        assert!(serde_json::from_str::<Metric>(r#""nope""#).is_err());
        let sel: WindowSel = serde_json::from_str(r#""w[0..2]""#).expect("a range");
        assert_eq!(serde_json::to_string(&sel).expect("text"), r#""w[0..2]""#);
    }
}
