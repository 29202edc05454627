//! The wire names: the invalidation event and the snapshot command.

use crate::Error;

/// The event the invalidations travel on, as the JavaScript adapter
/// listens for it.
pub const DEFAULT_EVENT: &str = "state-sync:invalidation";
/// The command that answers snapshot requests, as the JavaScript adapter
/// invokes it.
pub const DEFAULT_COMMAND: &str = "get_snapshot";

/// The names one app uses on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Names {
    pub(crate) event: &'static str,
    pub(crate) command: &'static str,
}

impl Default for Names {
    fn default() -> Self {
        Self {
            event: DEFAULT_EVENT,
            command: DEFAULT_COMMAND,
        }
    }
}

/// Checks `name` against Tauri's rule for event names: not empty, and only
/// alphanumeric characters, `-`, `/`, `:` and `_` (Tauri's `listen` panics
/// on anything else, and `emit` fails).
pub(crate) fn check_event(name: &'static str) -> Result<&'static str, Error> {
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
pub(crate) fn check_command(name: &'static str) -> Result<&'static str, Error> {
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
