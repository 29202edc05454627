//! What a window's fault layer is in the middle of, so that a case on real
//! time can tell quiet from busy: fetches it keeps hanging, around which
//! the case is quiet (as around what [`Holds`](super::holds::Holds) keeps
//! for a `release`), and deliveries it scheduled on a timer — a delayed or
//! reordered event — which the case must see through before it is quiet.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One window's counts. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub(crate) struct Pending(Arc<Counts>);

#[derive(Debug, Default)]
struct Counts {
    kept: AtomicUsize,
    scheduled: AtomicUsize,
}

/// One call kept waiting, or one delivery scheduled, until dropped.
pub(crate) struct PendingGuard {
    counts: Arc<Counts>,
    scheduled: bool,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        let counter = if self.scheduled {
            &self.counts.scheduled
        } else {
            &self.counts.kept
        };
        counter.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Pending {
    fn guard(&self, scheduled: bool) -> PendingGuard {
        let counts = &self.0;
        let counter = if scheduled {
            &counts.scheduled
        } else {
            &counts.kept
        };
        counter.fetch_add(1, Ordering::AcqRel);
        PendingGuard {
            counts: counts.clone(),
            scheduled,
        }
    }

    /// A fetch the layer keeps hanging.
    pub(crate) fn keep(&self) -> PendingGuard {
        self.guard(false)
    }

    /// A delivery the layer scheduled on a timer.
    pub(crate) fn schedule(&self) -> PendingGuard {
        self.guard(true)
    }

    /// Fetches kept hanging now.
    pub(crate) fn kept(&self) -> usize {
        self.0.kept.load(Ordering::Acquire)
    }

    /// Deliveries scheduled now.
    pub(crate) fn scheduled(&self) -> usize {
        self.0.scheduled.load(Ordering::Acquire)
    }
}
