//! What is wrong with a spec file, and where.

use std::fmt;

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
    pub(super) fn new(origin: &str, path: impl Into<String>, message: impl Into<String>) -> Self {
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
