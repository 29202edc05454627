//! The revision: a `u64` whose wire form is the canonical decimal string.
//!
//! Revisions travel as strings because a JSON number above 2^53 loses
//! precision in JavaScript. Parsing is strict on purpose: two peers must agree
//! on one spelling per value, so `"01"`, `"+1"` or `" 1"` are protocol errors
//! rather than aliases of `1`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// A monotonic version of a topic's state.
///
/// The wire form is the canonical decimal string of a `u64`: `"0"`, or a
/// non-zero digit followed by ASCII digits, at most `"18446744073709551615"`.
/// Ordering is numeric.
///
/// ```
/// use state_sync::Revision;
///
/// let r: Revision = "42".parse()?;
/// assert_eq!(r.get(), 42);
/// assert_eq!(r.to_string(), "42");
/// assert!("042".parse::<Revision>().is_err());
/// assert!(Revision::new(9) < Revision::new(10));
/// # Ok::<(), state_sync::RevisionError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Revision(u64);

/// Why a string or JSON value is not a canonical revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RevisionError {
    /// The string is empty.
    #[error("revision is empty")]
    Empty,
    /// A character other than an ASCII digit `0`-`9` (signs, spaces, letters,
    /// non-ASCII digits).
    #[error("revision contains a character that is not an ASCII digit")]
    NotDigits,
    /// More than one character and the first one is `0`.
    #[error("revision has a leading zero")]
    LeadingZero,
    /// The value does not fit into a `u64`.
    #[error("revision does not fit into a u64 (max 18446744073709551615)")]
    Overflow,
    /// The JSON value is not a string (numbers are rejected too: they lose
    /// precision in JavaScript).
    #[error("revision must be a JSON string, found {0}")]
    NotAString(JsonKind),
}

/// The kind of a JSON value, used in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonKind {
    /// `null`
    Null,
    /// `true` or `false`
    Bool,
    /// a number
    Number,
    /// a string
    String,
    /// an array
    Array,
    /// an object
    Object,
}

impl JsonKind {
    /// The kind of `value`.
    pub fn of(value: &Value) -> Self {
        match value {
            Value::Null => Self::Null,
            Value::Bool(_) => Self::Bool,
            Value::Number(_) => Self::Number,
            Value::String(_) => Self::String,
            Value::Array(_) => Self::Array,
            Value::Object(_) => Self::Object,
        }
    }
}

impl fmt::Display for JsonKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Null => "null",
            Self::Bool => "a boolean",
            Self::Number => "a number",
            Self::String => "a string",
            Self::Array => "an array",
            Self::Object => "an object",
        })
    }
}

impl Revision {
    /// Revision `0`, the initial local revision of a window.
    pub const ZERO: Revision = Revision(0);
    /// The largest revision, `18446744073709551615`.
    pub const MAX: Revision = Revision(u64::MAX);

    /// Wraps a `u64`.
    pub const fn new(value: u64) -> Self {
        Self(value)
    }

    /// The numeric value.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The next revision, or `None` at [`Revision::MAX`].
    pub const fn checked_next(self) -> Option<Revision> {
        match self.0.checked_add(1) {
            Some(v) => Some(Revision(v)),
            None => None,
        }
    }

    /// Parses the canonical decimal form. See [`Revision`] for the rules.
    pub fn parse(s: &str) -> Result<Self, RevisionError> {
        let bytes = s.as_bytes();
        if bytes.is_empty() {
            return Err(RevisionError::Empty);
        }
        if !bytes.iter().all(u8::is_ascii_digit) {
            return Err(RevisionError::NotDigits);
        }
        if bytes.len() > 1 && bytes[0] == b'0' {
            return Err(RevisionError::LeadingZero);
        }
        let mut value: u64 = 0;
        for &b in bytes {
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(b - b'0')))
                .ok_or(RevisionError::Overflow)?;
        }
        Ok(Self(value))
    }

    /// Reads a revision from a raw JSON value: it must be a string in
    /// canonical form.
    pub fn from_json(value: &Value) -> Result<Self, RevisionError> {
        match value {
            Value::String(s) => Self::parse(s),
            other => Err(RevisionError::NotAString(JsonKind::of(other))),
        }
    }
}

impl From<u64> for Revision {
    fn from(value: u64) -> Self {
        Self(value)
    }
}

impl From<Revision> for u64 {
    fn from(value: Revision) -> Self {
        value.0
    }
}

impl FromStr for Revision {
    type Err = RevisionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl Serialize for Revision {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Revision {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Revision;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a canonical decimal u64 string such as \"42\"")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Revision, E> {
                Revision::parse(v).map_err(|e| E::custom(format_args!("{e}: {v:?}")))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn accepts_canonical_forms() {
        assert_eq!(Revision::parse("0"), Ok(Revision(0)));
        assert_eq!(Revision::parse("1"), Ok(Revision(1)));
        assert_eq!(
            Revision::parse("18446744073709551615"),
            Ok(Revision(u64::MAX))
        );
    }

    #[test]
    fn rejects_non_canonical_forms() {
        use RevisionError::*;
        let cases = [
            ("", Empty),
            ("01", LeadingZero),
            ("00", LeadingZero),
            ("+1", NotDigits),
            ("-1", NotDigits),
            (" 1", NotDigits),
            ("1 ", NotDigits),
            ("1e3", NotDigits),
            ("0x1", NotDigits),
            ("١", NotDigits),
            ("１", NotDigits),
            ("18446744073709551616", Overflow),
            ("100000000000000000000", Overflow),
        ];
        for (input, expected) in cases {
            assert_eq!(Revision::parse(input), Err(expected), "input {input:?}");
        }
    }

    #[test]
    fn json_non_strings_are_rejected() {
        for v in [
            json!(1),
            json!(null),
            json!(true),
            json!(["1"]),
            json!({"r": "1"}),
        ] {
            assert!(matches!(
                Revision::from_json(&v),
                Err(RevisionError::NotAString(_))
            ));
            assert!(serde_json::from_value::<Revision>(v).is_err());
        }
    }

    #[test]
    fn serde_uses_the_string_form() {
        let r = Revision::new(u64::MAX);
        let text = serde_json::to_string(&r).expect("serialize");
        assert_eq!(text, "\"18446744073709551615\"");
        assert_eq!(serde_json::from_str::<Revision>(&text).expect("parse"), r);
        let err = serde_json::from_str::<Revision>("\"007\"").expect_err("non-canonical");
        assert!(err.to_string().contains("leading zero"), "{err}");
    }

    #[test]
    fn converts_to_and_from_u64() {
        assert_eq!(Revision::from(42_u64), Revision::new(42));
        assert_eq!(u64::from(Revision::new(42)), 42);
        assert_eq!(u64::from(Revision::from(u64::MAX)), u64::MAX);
    }

    #[test]
    fn a_wrong_json_type_says_what_was_expected() {
        let err = serde_json::from_str::<Revision>("42").expect_err("a number is not a revision");
        assert_eq!(
            err.to_string(),
            "invalid type: integer `42`, expected a canonical decimal u64 string such as \"42\" at line 1 column 2"
        );
    }

    proptest! {
        #[test]
        fn round_trip(v in any::<u64>()) {
            let r = Revision::new(v);
            prop_assert_eq!(Revision::parse(&r.to_string()), Ok(r));
            let json = serde_json::to_value(r).expect("serialize");
            prop_assert_eq!(serde_json::from_value::<Revision>(json).expect("parse"), r);
        }

        #[test]
        fn order_is_u64_order(a in any::<u64>(), b in any::<u64>()) {
            prop_assert_eq!(Revision::new(a).cmp(&Revision::new(b)), a.cmp(&b));
        }

        #[test]
        fn arbitrary_strings_accepted_only_if_canonical(s in "\\PC{0,24}|[0-9]{0,22}|0[0-9]{0,3}") {
            let canonical = s.parse::<u64>().ok().filter(|v| v.to_string() == s);
            match Revision::parse(&s) {
                Ok(r) => prop_assert_eq!(Some(r.get()), canonical),
                Err(_) => prop_assert_eq!(canonical, None),
            }
        }
    }
}
