//! The wire names: the invalidation event and the snapshot command.

use std::collections::BTreeMap;

use crate::Error;

/// The event the invalidations travel on, as the JavaScript adapter
/// listens for it.
pub const DEFAULT_EVENT: &str = "state-sync:invalidation";
/// The command that answers snapshot requests, as the JavaScript adapter
/// invokes it.
pub const DEFAULT_COMMAND: &str = "get_snapshot";

/// The names one app uses on the wire: the app's event and command, and
/// the names of topics that have their own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Names {
    pub(crate) event: &'static str,
    pub(crate) command: &'static str,
    /// Topics with names of their own, by topic.
    pub(crate) topics: BTreeMap<String, TopicNames>,
}

/// A topic's own wire names (each optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TopicNames {
    /// Its invalidations go out on this event too.
    pub(crate) event: Option<String>,
    /// This command answers its snapshot, without arguments.
    pub(crate) command: Option<String>,
}

impl Default for Names {
    fn default() -> Self {
        Self {
            event: DEFAULT_EVENT,
            command: DEFAULT_COMMAND,
            topics: BTreeMap::new(),
        }
    }
}

impl Names {
    /// Whether `command` is one of the app's snapshot commands.
    pub(crate) fn is_command(&self, command: &str) -> bool {
        command == self.command || self.topic_of_command(command).is_some()
    }

    /// The topic whose own command `command` is.
    pub(crate) fn topic_of_command(&self, command: &str) -> Option<&str> {
        self.topics
            .iter()
            .find(|(_, n)| n.command.as_deref() == Some(command))
            .map(|(topic, _)| topic.as_str())
    }

    /// The events an invalidation of `topic` goes out on: the app's, and
    /// the topic's own if it has one.
    pub(crate) fn events_of(&self, topic: &str) -> impl Iterator<Item = &str> {
        let own = self.topics.get(topic).and_then(|n| n.event.as_deref());
        std::iter::once(self.event).chain(own.filter(|e| *e != self.event))
    }

    /// Fails if `command` already answers for something else than `topic`
    /// (`None`: the app's command).
    pub(crate) fn check_free(&self, command: &str, topic: Option<&str>) -> Result<(), Error> {
        let taken_by = if command == self.command && topic.is_some() {
            Some("the app's snapshot command".to_owned())
        } else {
            self.topic_of_command(command)
                .filter(|t| Some(*t) != topic)
                .map(|t| format!("the snapshot command of topic {t:?}"))
        };
        match taken_by {
            Some(by) => Err(Error::NameTaken {
                name: command.to_owned(),
                by,
            }),
            None => Ok(()),
        }
    }
}

/// Checks `name` against Tauri's rule for event names: not empty, and only
/// alphanumeric characters, `-`, `/`, `:` and `_` (Tauri's `listen` panics
/// on anything else, and `emit` fails).
pub(crate) fn check_event(name: &str) -> Result<&str, Error> {
    let legal = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '/' | ':' | '_'));
    if legal {
        Ok(name)
    } else {
        Err(Error::InvalidName {
            what: "event",
            name: name.to_owned(),
            rule: "alphanumeric characters, `-`, `/`, `:` and `_` only",
        })
    }
}

/// Checks a command name: not empty, no whitespace, not a plugin command
/// (`plugin:…|…`, which Tauri routes to plugins, never to the app).
pub(crate) fn check_command(name: &str) -> Result<&str, Error> {
    let legal =
        !name.is_empty() && !name.starts_with("plugin:") && !name.chars().any(char::is_whitespace);
    if legal {
        Ok(name)
    } else {
        Err(Error::InvalidName {
            what: "command",
            name: name.to_owned(),
            rule: "not empty, no whitespace, not `plugin:…`",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_follow_tauris_rule() {
        assert!(check_event(DEFAULT_EVENT).is_ok());
        assert!(check_event("app/settings_changed-2").is_ok());
        for bad in ["", "state-sync.invalidated", "with space", "emoji🙂"] {
            let error = check_event(bad).expect_err(bad);
            assert!(error.to_string().contains("event name"), "{error}");
        }
    }

    #[test]
    fn command_names_are_app_commands() {
        assert!(check_command(DEFAULT_COMMAND).is_ok());
        for bad in ["", "plugin:state-sync|get_snapshot", "get snapshot"] {
            assert!(check_command(bad).is_err(), "{bad:?}");
        }
    }
}
