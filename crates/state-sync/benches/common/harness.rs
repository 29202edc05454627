//! Engines on one in-process bus whose snapshot fetch hangs until the
//! burst is over, so that the whole burst arrives while a fetch is in
//! flight.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::future::BoxFuture;
use parking_lot::Mutex;
use serde_json::Value;
use state_sync::appliers::FnApplier;
use state_sync::ports::tree_handler;
use state_sync::{
    InvalidationHandler, InvalidationSubscriber, Payload, PayloadHandler, PortError, RevisionSync,
    SnapshotEnvelope, SnapshotProvider, Subscription,
};
use tokio::sync::watch;

use super::feed::TOPIC;

/// How payloads are handed to the engines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intake {
    /// As pre-parsed `serde_json::Value`s.
    Value,
    /// As JSON text.
    Text,
}

impl Intake {
    /// Its name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Value => "value",
            Self::Text => "text",
        }
    }

    /// The intake called `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Value, Self::Text]
            .into_iter()
            .find(|i| i.name() == name)
    }
}

/// Keeps the handler of every engine subscribed.
#[derive(Default)]
pub struct Bus(Mutex<Vec<PayloadHandler>>);

impl InvalidationSubscriber for Bus {
    fn subscribe(
        &self,
        handler: InvalidationHandler,
    ) -> BoxFuture<'_, Result<Subscription, PortError>> {
        self.subscribe_payloads(tree_handler(handler))
    }

    fn subscribe_payloads(
        &self,
        handler: PayloadHandler,
    ) -> BoxFuture<'_, Result<Subscription, PortError>> {
        self.0.lock().push(handler);
        Box::pin(async { Ok(Subscription::noop()) })
    }
}

/// Answers the first `immediate` fetches at once (the engines' starts);
/// later ones wait for the gate, then serve the revision at that moment.
pub struct Provider {
    revision: AtomicU64,
    calls: AtomicU64,
    immediate: u64,
    gate: watch::Sender<bool>,
}

impl SnapshotProvider for Provider {
    fn get_snapshot(&self) -> BoxFuture<'_, Result<Value, PortError>> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        let mut open = self.gate.subscribe();
        Box::pin(async move {
            if call >= self.immediate {
                let _ = open.wait_for(|o| *o).await;
            }
            let revision = self.revision.load(Ordering::SeqCst).to_string();
            Ok(serde_json::json!({"revision": revision, "data": null}))
        })
    }
}

/// `windows` running engines on one bus.
pub struct Engines {
    provider: Arc<Provider>,
    syncs: Vec<RevisionSync<Value>>,
    /// One handler per engine.
    pub handlers: Vec<PayloadHandler>,
}

/// What the engines ended with.
#[derive(Debug)]
pub struct Outcome {
    /// The most fetches one engine made, its start's included.
    pub max_fetches: u64,
    /// Whether every engine ended at the burst's last revision.
    pub converged: bool,
}

impl Engines {
    /// Starts `windows` engines (inside a runtime).
    pub async fn start(windows: usize) -> Self {
        let bus = Arc::new(Bus::default());
        let provider = Arc::new(Provider {
            revision: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            immediate: windows as u64,
            gate: watch::channel(false).0,
        });
        let mut syncs = Vec::with_capacity(windows);
        for _ in 0..windows {
            let sync = RevisionSync::builder(
                TOPIC,
                bus.clone(),
                provider.clone(),
                FnApplier::new(|_: SnapshotEnvelope<Value>| Ok(())),
            )
            .build();
            sync.start().await.expect("start");
            syncs.push(sync);
        }
        let handlers = bus.0.lock().clone();
        Self {
            provider,
            syncs,
            handlers,
        }
    }

    /// Hands `payload` to every engine.
    pub fn emit(&self, payload: Payload<'_>) {
        for handler in &self.handlers {
            handler(payload);
        }
    }

    /// The source is at `revision` now (what a late fetch serves).
    pub fn source_at(&self, revision: u64) {
        self.provider.revision.store(revision, Ordering::SeqCst);
    }

    /// Stops every engine.
    pub fn stop(&self) {
        for sync in &self.syncs {
            sync.stop();
        }
    }

    /// Lets the hung fetches finish, waits for every engine to settle at
    /// `last`, and stops them.
    pub async fn finish(self, last: u64) -> Outcome {
        self.source_at(last);
        self.provider.gate.send_replace(true);
        let mut outcome = Outcome {
            max_fetches: 0,
            converged: true,
        };
        for sync in &self.syncs {
            // Queued behind the fetch in flight and its follow-up: resolves
            // when they are done, without a fetch of its own.
            sync.refresh().await.expect("refresh");
            outcome.max_fetches = outcome.max_fetches.max(sync.metrics().fetches);
            outcome.converged &= sync.local_revision().get() == last;
            sync.stop();
        }
        outcome
    }
}
