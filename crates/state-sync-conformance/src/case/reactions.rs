//! `on_apply` reactions: changes of the source made from inside a window's
//! apply, the moment it applies a chosen revision.

use std::sync::Arc;

use parking_lot::Mutex;
use state_sync::Revision;

use crate::failure::Failure;
use crate::layers::observe::AppliedHook;
use crate::spec::OnApply;

use super::bus::Buses;

/// The reactions a case registered. Cheap to clone.
#[derive(Clone, Default)]
pub(super) struct Reactions {
    inner: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    pending: Vec<Pending>,
    /// Problems met while reacting, for the case's failures.
    problems: Vec<String>,
}

struct Pending {
    step: usize,
    reaction: OnApply,
}

impl Reactions {
    /// Registers the reaction of step `step`.
    pub(super) fn add(&self, step: usize, reaction: &OnApply) {
        self.inner.lock().pending.push(Pending {
            step,
            reaction: reaction.clone(),
        });
    }

    /// What window `name` runs after each apply: the reactions waiting for
    /// that revision fire, once each, their changes made through `buses`.
    pub(super) fn hook(&self, name: &str, buses: &Buses) -> AppliedHook {
        // Weak: the hook ends up in handlers the transport owns, and the
        // buses own the transport.
        let (reactions, name, buses) = (self.clone(), name.to_owned(), buses.downgrade());
        Arc::new(move |revision: Revision| {
            let due: Vec<Pending> = {
                let mut state = reactions.inner.lock();
                let (due, waiting) = std::mem::take(&mut state.pending)
                    .into_iter()
                    .partition(|p| p.reaction.window == name && p.reaction.revision == revision);
                state.pending = waiting;
                due
            };
            let Some(buses) = buses.upgrade().filter(|_| !due.is_empty()) else {
                return;
            };
            for p in due {
                let m = &p.reaction.mutate;
                for k in 0..m.changes() {
                    if let Err(e) = buses.change(m, k) {
                        reactions.inner.lock().problems.push(format!(
                            "step {} (on_apply): window {name:?} applied {revision}: {e}",
                            p.step
                        ));
                        break;
                    }
                }
            }
        })
    }

    /// Problems met while reacting (no check failed: a change could not be
    /// made), and a failed check of `main` (the spec's main clause) for
    /// each reaction that never fired: the window never applied what the
    /// spec expects it to.
    pub(super) fn problems(&self, main: &str) -> Vec<Failure> {
        let mut state = self.inner.lock();
        let mut problems: Vec<Failure> = std::mem::take(&mut state.problems)
            .into_iter()
            .map(Failure::unclaused)
            .collect();
        for p in &state.pending {
            problems.push(Failure::of(
                main,
                format!(
                    "step {} (on_apply): window {:?} never applied revision {}, so the reaction never fired",
                    p.step, p.reaction.window, p.reaction.revision
                ),
            ));
        }
        problems
    }
}
