//! Settles: after every emit and unsubscribe the case awaits each
//! backend's [`Backend::settle`] as work in flight, and numbers the settles
//! so that the observation layer can tell a delivery racing an unsubscribe
//! from one after the transport had settled.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use state_sync_transports::Backend;
use tokio::sync::Notify;

use crate::layers::ledger::Ledger;

use super::Activity;

#[derive(Default)]
pub(super) struct Settles {
    /// Work may have started that the backend's `settle` covers.
    unsettled: AtomicBool,
    /// `Backend::settle` calls started so far, and the highest number
    /// among those that resolved.
    started: AtomicU64,
    settled_upto: AtomicU64,
    due: Notify,
}

impl Activity {
    /// Work has started that `Backend::settle` covers (an emit, an
    /// unsubscribe): the settler task waits for it.
    pub(crate) fn unsettled(&self) {
        let settles = &self.inner.settles;
        settles.unsettled.store(true, Ordering::Release);
        settles.due.notify_one();
    }

    /// The settler: after every [`unsettled`](Self::unsettled), awaits
    /// each backend's `settle` as work in flight. Runs as a task on the
    /// case runtime for the whole case.
    pub(crate) async fn settle_after_work(self, backends: Vec<(Arc<dyn Backend>, Arc<Ledger>)>) {
        let settles = &self.inner.settles;
        loop {
            settles.due.notified().await;
            while settles.unsettled.swap(false, Ordering::AcqRel) {
                for (backend, ledger) in &backends {
                    self.settle(&**backend, ledger).await;
                }
            }
        }
    }

    /// Awaits the backend's `settle` as work in flight, and notes that what
    /// the transport had started before the call is done once it resolves
    /// (the ledger then checks what every subscription received).
    pub(crate) async fn settle(&self, backend: &dyn Backend, ledger: &Ledger) {
        let settles = &self.inner.settles;
        let number = settles.started.fetch_add(1, Ordering::AcqRel) + 1;
        let mark = ledger.mark();
        self.track(|| "Backend::settle".to_owned(), backend.settle())
            .await;
        settles.settled_upto.fetch_max(number, Ordering::AcqRel);
        ledger.settled(mark);
    }

    /// A mark for [`settled_since`](Self::settled_since): the settles
    /// started so far.
    pub(crate) fn settle_mark(&self) -> u64 {
        self.inner.settles.started.load(Ordering::Acquire)
    }

    /// Whether a settle that started after `mark` has resolved: work the
    /// transport had started at the mark is over.
    pub(crate) fn settled_since(&self, mark: u64) -> bool {
        self.inner.settles.settled_upto.load(Ordering::Acquire) > mark
    }
}
