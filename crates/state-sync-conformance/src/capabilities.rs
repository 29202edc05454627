//! The capabilities a transport claims: which specs apply to it.

use std::collections::BTreeSet;

use crate::spec::Capability;

/// A set of [`Capability`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities(BTreeSet<Capability>);

impl Capabilities {
    /// No capabilities.
    pub fn none() -> Self {
        Self::default()
    }

    /// Every promise about deliveries and subscriptions: every
    /// capability but [`Capability::Restarts`], an ability a transport
    /// claims on its own (`.with(Capability::Restarts)`) when its backend
    /// implements `Backend::restart`.
    pub fn all() -> Self {
        Self(
            Capability::ALL
                .into_iter()
                .filter(|c| *c != Capability::Restarts)
                .collect(),
        )
    }

    /// These capabilities.
    pub fn of(caps: impl IntoIterator<Item = Capability>) -> Self {
        Self(caps.into_iter().collect())
    }

    /// Adds one.
    pub fn with(mut self, cap: Capability) -> Self {
        self.0.insert(cap);
        self
    }

    /// Removes one.
    pub fn without(mut self, cap: Capability) -> Self {
        self.0.remove(&cap);
        self
    }

    /// Whether `cap` is present.
    pub fn has(&self, cap: Capability) -> bool {
        self.0.contains(&cap)
    }

    /// The capabilities of `required` that are missing, in order.
    pub fn missing(&self, required: &[Capability]) -> Vec<Capability> {
        required.iter().copied().filter(|c| !self.has(*c)).collect()
    }

    /// The names, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|c| c.as_str()).collect()
    }
}
