//! A case's buses: one backend of the transport per bus name the spec
//! uses, each with its ledger, all serving the case's one source of truth;
//! and the writing side — changes of the source and raw emits, each
//! invalidation emitted on the bus the step names.

use std::sync::Arc;

use serde_json::Value;
use state_sync_transports::Backend;

use crate::activity::Activity;
use crate::layers::faults::BackendFaults;
use crate::layers::ledger::Ledger;
use crate::source::Sources;
use crate::spec::{DEFAULT_TOPIC, MAIN_BUS, Mutate, Spec};
use crate::trace::Trace;
use crate::transport::Transport;

/// One open backend and what it carried.
pub(super) struct Bus {
    pub(super) name: String,
    pub(super) backend: Arc<dyn Backend>,
    /// What was emitted on it and what every subscription received.
    pub(super) ledger: Arc<Ledger>,
}

/// How a message names the bus `name`: not at all for [`MAIN_BUS`] (most
/// cases have no other), ` (bus "name")` otherwise.
pub(super) fn which_bus(name: &str) -> String {
    if name == MAIN_BUS {
        String::new()
    } else {
        format!(" (bus {name:?})")
    }
}

/// Every bus of a case, the source of truth they serve, and where changes
/// are traced. Cheap to clone.
#[derive(Clone)]
pub(super) struct Buses(Arc<Inner>);

struct Inner {
    buses: Vec<Bus>,
    sources: Sources,
    activity: Activity,
    trace: Trace,
}

impl Buses {
    /// Opens one backend per bus `spec` names ([`MAIN_BUS`] first), each
    /// serving `sources` through `faults`, each settled after its work.
    pub(super) fn open(
        spec: &Spec,
        transport: &Transport,
        sources: Sources,
        faults: &Arc<BackendFaults>,
        activity: &Activity,
        trace: &Trace,
    ) -> Result<Self, String> {
        let mut buses = Vec::new();
        for name in spec.buses() {
            let backend: Arc<dyn Backend> = Arc::from(transport.open().map_err(|e| {
                format!(
                    "the transport's backend{} did not open: {e}",
                    which_bus(name)
                )
            })?);
            let ledger = Arc::new(Ledger::new(transport.capabilities()));
            backend.serve(ledger.served.handler(faults.handler(sources.handler())));
            buses.push(Bus {
                name: name.to_owned(),
                backend,
                ledger,
            });
        }
        let settled = buses
            .iter()
            .map(|b| (b.backend.clone(), b.ledger.clone()))
            .collect();
        tokio::spawn(activity.clone().settle_after_work(settled));
        Ok(Self(Arc::new(Inner {
            buses,
            sources,
            activity: activity.clone(),
            trace: trace.clone(),
        })))
    }

    /// The source of truth every bus serves.
    pub(super) fn sources(&self) -> &Sources {
        &self.0.sources
    }

    /// The bus called `name` (default [`MAIN_BUS`]); every bus the spec
    /// names was opened.
    pub(super) fn get(&self, name: Option<&str>) -> &Bus {
        let name = name.unwrap_or(MAIN_BUS);
        self.0
            .buses
            .iter()
            .find(|b| b.name == name)
            .unwrap_or(&self.0.buses[0])
    }

    /// Every bus, [`MAIN_BUS`] first.
    pub(super) fn all(&self) -> &[Bus] {
        &self.0.buses
    }

    /// The first failure a backend reported, naming its bus when there are
    /// several.
    pub(super) fn failure(&self) -> Option<String> {
        self.0.buses.iter().find_map(|b| {
            b.backend.failure().map(|why| {
                if self.0.buses.len() > 1 {
                    format!("bus {:?}: {why}", b.name)
                } else {
                    why
                }
            })
        })
    }

    /// Awaits every backend's `settle` (see [`Activity::settle`]).
    pub(super) async fn settle(&self) {
        for bus in self.0.buses.iter() {
            self.0.activity.settle(&*bus.backend, &bus.ledger).await;
        }
    }

    /// Change `k` of a `mutate` step: bumps the topic's revision, sets its
    /// data and, unless told not to, emits the invalidation on the step's
    /// bus.
    pub(super) fn change(&self, m: &Mutate, k: u32) -> Result<(), String> {
        let topic = m.topic.as_deref().unwrap_or(DEFAULT_TOPIC);
        let event = self
            .0
            .sources
            .mutate(
                topic,
                m.data_of(k).cloned(),
                m.pad_bytes,
                m.source_id.as_deref(),
            )
            .map_err(|e| e.to_string())?;
        self.0
            .trace
            .log("source", format!("{topic} -> revision {}", event.revision));
        if m.emit.unwrap_or(true) {
            self.emit(m.bus.as_deref(), &event.to_json());
        }
        Ok(())
    }

    /// A handle that does not keep the backends alive: what is handed to
    /// code a transport may end up owning (a reaction inside an applier
    /// the transport's handler reaches), so that no transport owns itself.
    pub(super) fn downgrade(&self) -> WeakBuses {
        WeakBuses(Arc::downgrade(&self.0))
    }

    /// Emits `payload` on bus `name`, through its ledger.
    pub(super) fn emit(&self, name: Option<&str>, payload: &Value) {
        let bus = self.get(name);
        let seq = bus.ledger.emitting(payload);
        bus.backend.emit(payload);
        bus.ledger.emitted(seq);
        self.0.activity.unsettled();
    }
}

/// [`Buses`] that do not keep the backends alive.
#[derive(Clone)]
pub(super) struct WeakBuses(std::sync::Weak<Inner>);

impl WeakBuses {
    /// The buses, while the case still holds them.
    pub(super) fn upgrade(&self) -> Option<Buses> {
        self.0.upgrade().map(Buses)
    }
}
