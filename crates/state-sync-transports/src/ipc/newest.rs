//! The newest payload emitted per topic, kept for windows that come back
//! after missing events (a dropped connection, a restarted backend).

use std::collections::HashMap;

/// How many topics nobody hears are remembered (garbage payloads can name
/// any topic; a real app has a few).
pub(super) const MAX_UNHEARD_TOPICS: usize = 1024;

/// The newest payload per topic.
pub(super) struct NewestPerTopic<T> {
    by_topic: HashMap<String, T>,
}

impl<T> Default for NewestPerTopic<T> {
    fn default() -> Self {
        Self {
            by_topic: HashMap::new(),
        }
    }
}

impl<T> NewestPerTopic<T> {
    /// Remembers `payload` as the newest of `topic`: always for a topic
    /// already remembered or that a subscription hears (`heard`), for
    /// others only up to [`MAX_UNHEARD_TOPICS`] topics.
    pub(super) fn remember(&mut self, topic: &str, payload: T, heard: bool) {
        if let Some(newest) = self.by_topic.get_mut(topic) {
            *newest = payload;
        } else if heard || self.by_topic.len() < MAX_UNHEARD_TOPICS {
            self.by_topic.insert(topic.to_owned(), payload);
        }
    }

    /// The newest payload of `topic`.
    pub(super) fn get(&self, topic: &str) -> Option<&T> {
        self.by_topic.get(topic)
    }

    /// Every topic's newest payload.
    pub(super) fn payloads(&self) -> impl Iterator<Item = &T> {
        self.by_topic.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_per_topic_and_bounds_topics_nobody_hears() {
        let mut newest = NewestPerTopic::default();
        for n in 0..MAX_UNHEARD_TOPICS {
            newest.remember(&format!("t{n}"), n, false);
        }
        newest.remember("t0", 7, false);
        assert_eq!(newest.get("t0"), Some(&7), "a known topic is updated");
        newest.remember("unheard", 1, false);
        assert_eq!(newest.get("unheard"), None, "beyond the bound");
        newest.remember("heard", 2, true);
        assert_eq!(newest.get("heard"), Some(&2), "a heard topic always");
        assert_eq!(newest.payloads().count(), MAX_UNHEARD_TOPICS + 1);
    }
}
