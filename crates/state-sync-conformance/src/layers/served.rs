//! What a bus's backend served: every snapshot and every error value its
//! snapshot handler gave the transport, by topic — so that what a window's
//! provider returns can be checked against it, as the ledger checks
//! deliveries against emits:
//!
//! * TR-1: a snapshot answer is one the backend served (JSON-equal; a
//!   transport may not validate, repair, normalise or drop members of it);
//! * TR-6: with `exact-json` claimed, it is exactly equal, numbers
//!   included, and so is an error value the transport carried.
//!
//! It watches the transport's side of the provider, below the fault layer:
//! what the spec's faults replace is not the transport's doing.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use parking_lot::Mutex;
use serde_json::Value;
use state_sync::PortError;
use state_sync_transports::SnapshotHandler;

use crate::failure::Failure;

use super::payload::key;

/// What the backend of one bus served. Shared by the handler it serves
/// through and by every window's provider on that bus.
pub(crate) struct Served {
    exact: bool,
    state: Mutex<HashMap<String, Seen>>,
}

/// The payloads served for one topic, by the hash of their key: as the
/// check compares them (exact when claimed), and loosely too with
/// `exact-json` claimed, to tell a changed number from a changed payload.
#[derive(Default)]
struct Seen {
    answers: HashSet<u64>,
    answers_loose: HashSet<u64>,
    errors: HashSet<u64>,
    errors_loose: HashSet<u64>,
}

fn hash(value: &Value, exact: bool) -> u64 {
    let mut h = DefaultHasher::new();
    key(value, exact).hash(&mut h);
    h.finish()
}

impl Served {
    /// Checks answers exactly when the transport claims `exact-json`.
    pub(crate) fn new(exact: bool) -> Self {
        Self {
            exact,
            state: Mutex::default(),
        }
    }

    /// `inner`, with what it serves remembered.
    pub(crate) fn handler(self: &std::sync::Arc<Self>, inner: SnapshotHandler) -> SnapshotHandler {
        let served = self.clone();
        SnapshotHandler::new(move |topic: String| {
            let (served, inner) = (served.clone(), inner.clone());
            async move {
                let outcome = inner.call(topic.clone()).await;
                served.remember(&topic, &outcome);
                outcome
            }
        })
    }

    fn remember(&self, topic: &str, outcome: &Result<Value, PortError>) {
        let mut state = self.state.lock();
        let seen = state.entry(topic.to_owned()).or_default();
        let (value, exact, loose) = match outcome {
            Ok(v) => (v, &mut seen.answers, &mut seen.answers_loose),
            Err(e) => match e.detail() {
                Some(v) => (v, &mut seen.errors, &mut seen.errors_loose),
                None => return,
            },
        };
        exact.insert(hash(value, self.exact));
        if self.exact {
            loose.insert(hash(value, false));
        }
    }

    /// A window's request for `topic` was answered with `answer`: what is
    /// wrong with it, if anything. An error the backend did not serve (the
    /// transport's own: a lost connection) is the transport's to give.
    pub(crate) fn answered(
        &self,
        topic: &str,
        answer: &Result<Value, PortError>,
    ) -> Option<Failure> {
        let state = self.state.lock();
        let seen = state.get(topic);
        let served = |set: fn(&Seen) -> &HashSet<u64>, value: &Value, exact: bool| {
            seen.is_some_and(|s| set(s).contains(&hash(value, exact)))
        };
        match answer {
            Ok(value) => {
                if served(|s| &s.answers, value, self.exact) {
                    return None;
                }
                let preview = state_sync::protocol::preview(value, 120);
                Some(
                    if self.exact && served(|s| &s.answers_loose, value, false) {
                        Failure::of(
                            "TR-6",
                            format!(
                                "a snapshot of {topic:?} arrived with other numbers than the backend served, but the transport claims exact-json (drop the claim if it does not provide it): {preview}"
                            ),
                        )
                    } else {
                        Failure::of(
                            "TR-1",
                            format!(
                                "a snapshot of {topic:?} arrived that the backend never served (the transport changed it): {preview}"
                            ),
                        )
                    },
                )
            }
            Err(e) => {
                let value = e.detail()?;
                let changed = self.exact
                    && !served(|s| &s.errors, value, true)
                    && served(|s| &s.errors_loose, value, false);
                changed.then(|| {
                    Failure::of(
                        "TR-6",
                        format!(
                            "the error value of a failed snapshot request of {topic:?} arrived with other numbers than the backend failed with, but the transport claims exact-json (drop the claim if it does not provide it): {}",
                            state_sync::protocol::preview(value, 120)
                        ),
                    )
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::{Value, json};
    use state_sync::PortError;
    use state_sync_transports::SnapshotHandler;

    use super::Served;

    /// `served` after its handler answered `topic` with `outcome`.
    async fn serving(exact: bool, outcome: Result<Value, PortError>) -> Arc<Served> {
        let served = Arc::new(Served::new(exact));
        let answer = outcome.clone();
        let handler = served.handler(SnapshotHandler::sync(move |_| answer.clone()));
        assert_eq!(handler.call("t".into()).await, outcome);
        served
    }

    fn clause(served: &Served, topic: &str, answer: Result<Value, PortError>) -> Option<String> {
        served
            .answered(topic, &answer)
            .map(|f| f.clause.unwrap_or_default())
    }

    #[tokio::test]
    async fn answers_are_what_was_served_exactly_when_claimed() {
        let snapshot =
            json!({"revision": "1", "data": {"big": 9007199254740993_u64, "none": null}});
        let exact = serving(true, Ok(snapshot.clone())).await;
        assert_eq!(clause(&exact, "t", Ok(snapshot.clone())), None);
        let rounded = json!({"revision": "1", "data": {"big": 9007199254740992.0, "none": null}});
        assert_eq!(
            clause(&exact, "t", Ok(rounded.clone())).as_deref(),
            Some("TR-6")
        );
        let dropped = json!({"revision": "1", "data": {"big": 9007199254740993_u64}});
        assert_eq!(
            clause(&exact, "t", Ok(dropped.clone())).as_deref(),
            Some("TR-1")
        );
        // Served for another topic is not served for this one.
        assert_eq!(
            clause(&exact, "u", Ok(snapshot.clone())).as_deref(),
            Some("TR-1")
        );

        let loose = serving(false, Ok(snapshot)).await;
        assert_eq!(
            clause(&loose, "t", Ok(rounded)),
            None,
            "doubles are allowed"
        );
        assert_eq!(clause(&loose, "t", Ok(dropped)).as_deref(), Some("TR-1"));
    }

    #[tokio::test]
    async fn error_values_keep_their_numbers_when_claimed_and_own_errors_pass() {
        let value = json!({"code": 9007199254740993_u64});
        let exact = serving(true, Err(PortError::from_json(value.clone()))).await;
        assert_eq!(clause(&exact, "t", Err(PortError::from_json(value))), None);
        let rounded = json!({"code": 9007199254740992.0});
        assert_eq!(
            clause(&exact, "t", Err(PortError::from_json(rounded))).as_deref(),
            Some("TR-6")
        );
        // The transport's own failure (a lost connection) is its to give.
        assert_eq!(
            clause(&exact, "t", Err(PortError::new("connection reset"))),
            None
        );
        assert_eq!(
            clause(
                &exact,
                "t",
                Err(PortError::from_json(json!({"errno": 104})))
            ),
            None
        );
    }
}
