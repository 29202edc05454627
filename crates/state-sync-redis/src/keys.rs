//! The names of a bus's keys and channels.
//!
//! All of them hold the bus in a hash tag (`{bus}`), so that on Redis
//! Cluster they live in one slot.

/// The keys and channels of one bus.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    /// The channel invalidations and settle barriers are published on.
    pub events: String,
    /// The hash of each topic's newest invalidation (catch-up after a
    /// reconnect).
    pub latest: String,
    /// The list snapshot requests wait in for the backend.
    pub requests: String,
    prefix: String,
}

impl Keys {
    pub(crate) fn new(bus: &str) -> Self {
        let prefix = format!("state-sync:{{{bus}}}:");
        Self {
            events: format!("{prefix}events"),
            latest: format!("{prefix}latest"),
            requests: format!("{prefix}requests"),
            prefix,
        }
    }

    /// The channel the snapshots a client asked for are answered on.
    pub(crate) fn replies(&self, client: &str) -> String {
        format!("{}replies:{client}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_holds_the_bus_as_a_hash_tag() {
        let keys = Keys::new("app");
        for name in [
            &keys.events,
            &keys.latest,
            &keys.requests,
            &keys.replies("c1"),
        ] {
            assert!(name.starts_with("state-sync:{app}:"), "{name}");
        }
        assert_ne!(Keys::new("a").events, Keys::new("b").events);
    }
}
