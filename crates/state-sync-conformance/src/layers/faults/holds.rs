//! What a window's fault layer holds until a `release` step lets it go:
//! fetches (`snapshot.hold_next`), subscribes (`subscribe_hold_next`) and
//! events (`hold_events`).

use std::collections::VecDeque;
use std::fmt;

use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::spec::{EventRelease, ReleaseOrder};

/// A held event: delivers it to the engine when called.
pub(crate) type HeldEvent = Box<dyn FnOnce() + Send>;

/// One window's held work.
#[derive(Default)]
pub(crate) struct Holds {
    inner: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    fetches: VecDeque<oneshot::Sender<()>>,
    subscribes: VecDeque<oneshot::Sender<()>>,
    /// How many of the next subscribes to hold.
    subscribe_next: u32,
    /// Whether incoming events are held.
    holding_events: bool,
    /// Held events, oldest first.
    events: Vec<HeldEvent>,
}

impl fmt::Debug for Holds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let held = self.inner.lock();
        f.debug_struct("Holds")
            .field("fetches", &held.fetches.len())
            .field("subscribes", &held.subscribes.len())
            .field("subscribe_next", &held.subscribe_next)
            .field("holding_events", &held.holding_events)
            .field("events", &held.events.len())
            .finish()
    }
}

impl Holds {
    /// Applies the `faults` fields about holding. `clear` ends holding
    /// first; what is already held stays held.
    pub(crate) fn configure(
        &self,
        clear: bool,
        subscribe_hold_next: Option<u32>,
        hold_events: Option<bool>,
    ) {
        let mut held = self.inner.lock();
        if clear {
            held.subscribe_next = 0;
            held.holding_events = false;
        }
        if let Some(n) = subscribe_hold_next {
            held.subscribe_next = n;
        }
        if let Some(on) = hold_events {
            held.holding_events = on;
        }
    }

    /// Holds a fetch: it may go on once the receiver resolves (an error:
    /// never).
    pub(crate) fn hold_fetch(&self) -> oneshot::Receiver<()> {
        let (release, held) = oneshot::channel();
        self.inner.lock().fetches.push_back(release);
        held
    }

    /// Holds this subscribe if one is due to be held.
    pub(crate) fn hold_subscribe(&self) -> Option<oneshot::Receiver<()>> {
        let mut held = self.inner.lock();
        if held.subscribe_next == 0 {
            return None;
        }
        held.subscribe_next -= 1;
        let (release, waiting) = oneshot::channel();
        held.subscribes.push_back(release);
        Some(waiting)
    }

    /// While events are held, keeps the one `event` makes and says so.
    pub(crate) fn hold_event(&self, event: impl FnOnce() -> HeldEvent) -> bool {
        let mut held = self.inner.lock();
        if held.holding_events {
            held.events.push(event());
        }
        held.holding_events
    }

    /// Fetches and subscribes held now, waiting for a release (a release
    /// lets them go at once, before they run again).
    pub(crate) fn waiting(&self) -> usize {
        let held = self.inner.lock();
        let live = |q: &VecDeque<oneshot::Sender<()>>| q.iter().filter(|s| !s.is_closed()).count();
        live(&held.fetches) + live(&held.subscribes)
    }

    /// Releases up to `count` held fetches (all for `None`), oldest first;
    /// how many were released.
    pub(crate) fn release_fetches(&self, count: Option<u32>) -> usize {
        release(&mut self.inner.lock().fetches, count)
    }

    /// Releases up to `count` held subscribes (all for `None`), oldest
    /// first; how many were released.
    pub(crate) fn release_subscribes(&self, count: Option<u32>) -> usize {
        release(&mut self.inner.lock().subscribes, count)
    }

    /// Delivers the held events `which` names, in its order; how many. A
    /// position that holds no event, or one named twice, is an error and
    /// delivers nothing.
    pub(crate) fn release_events(&self, which: &EventRelease) -> Result<usize, String> {
        let chosen: Vec<HeldEvent> = {
            let mut held = self.inner.lock();
            let count = held.events.len();
            match which {
                EventRelease::All(ReleaseOrder::OldestFirst) => held.events.drain(..).collect(),
                EventRelease::All(ReleaseOrder::NewestFirst) => {
                    held.events.drain(..).rev().collect()
                }
                EventRelease::Picked(positions) => {
                    let mut seen = vec![false; count];
                    for &p in positions {
                        match seen.get_mut(p) {
                            None => {
                                return Err(format!("no held event at position {p}: {count} held"));
                            }
                            Some(true) => return Err(format!("position {p} named twice")),
                            Some(slot) => *slot = true,
                        }
                    }
                    let mut slots: Vec<Option<HeldEvent>> =
                        held.events.drain(..).map(Some).collect();
                    let chosen = positions.iter().filter_map(|&p| slots[p].take()).collect();
                    held.events = slots.into_iter().flatten().collect();
                    chosen
                }
            }
        };
        let n = chosen.len();
        // Delivered outside the lock: the engine may act at once.
        for deliver in chosen {
            deliver();
        }
        Ok(n)
    }
}

/// Lets up to `count` (all for `None`) of `waiting` go, oldest first.
fn release(waiting: &mut VecDeque<oneshot::Sender<()>>, count: Option<u32>) -> usize {
    let n = count.map_or(waiting.len(), |c| (c as usize).min(waiting.len()));
    for release in waiting.drain(..n) {
        // One cancelled meanwhile (stop) has dropped its end.
        let _ = release.send(());
    }
    n
}
