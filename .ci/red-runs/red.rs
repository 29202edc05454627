//! The walk-through's transport made wrong three ways, for `.ci/red-runs`:
//! what a user sees when the kit says no. `RED_VARIANT` picks the mistake.

use std::sync::{Arc, Mutex};

use serde_json::Value;
use state_sync::{
    BoxFuture, InvalidationHandler, InvalidationSubscriber, PortError, SnapshotProvider,
    Subscription,
};
use state_sync_conformance::{Capabilities, Capability, Suite, Transport};
use state_sync_transports::{Backend, SnapshotHandler, WindowEnds};

/// How the transport is wrong.
#[derive(Clone, Copy)]
enum Mistake {
    /// Snapshot requests are never answered.
    Silent,
    /// Unsubscribing does nothing: every subscription stays alive.
    Leak,
}

struct Wrong {
    bus: my_transport::Bus,
    mistake: Mistake,
    kept: Arc<Mutex<Vec<Subscription>>>,
}

struct NeverAnswers;

impl SnapshotProvider for NeverAnswers {
    fn get_snapshot(&self) -> BoxFuture<'_, Result<Value, PortError>> {
        Box::pin(std::future::pending())
    }
}

struct NeverLetsGo {
    inner: Arc<dyn InvalidationSubscriber>,
    kept: Arc<Mutex<Vec<Subscription>>>,
}

impl InvalidationSubscriber for NeverLetsGo {
    fn subscribe(&self, handler: InvalidationHandler) -> BoxFuture<'_, Result<Subscription, PortError>> {
        Box::pin(async move {
            let real = self.inner.subscribe(handler).await?;
            self.kept.lock().expect("not poisoned").push(real);
            Ok(Subscription::noop())
        })
    }
}

impl Backend for Wrong {
    fn emit(&self, payload: &Value) {
        self.bus.emit(payload);
    }
    fn serve(&self, handler: SnapshotHandler) {
        self.bus.serve(handler);
    }
    fn window_ends(&self, label: &str, topic: &str) -> WindowEnds {
        let ends = self.bus.window_ends(label, topic);
        match self.mistake {
            Mistake::Silent => WindowEnds {
                subscriber: ends.subscriber,
                provider: Arc::new(NeverAnswers),
            },
            Mistake::Leak => WindowEnds {
                subscriber: Arc::new(NeverLetsGo {
                    inner: ends.subscriber,
                    kept: self.kept.clone(),
                }),
                provider: ends.provider,
            },
        }
    }
    fn active_subscriptions(&self) -> Option<usize> {
        self.bus.active_subscriptions()
    }
    fn settle(&self) -> BoxFuture<'_, ()> {
        self.bus.settle()
    }
}

fn wrong(mistake: Mistake) -> Transport {
    Transport::new("my-transport", move || Wrong {
        bus: my_transport::Bus::new(),
        mistake,
        kept: Arc::default(),
    })
    .with_capabilities(Capabilities::all().without(Capability::SynchronousDelivery))
}

fn suite() -> Suite {
    let transport = match std::env::var("RED_VARIANT").as_deref() {
        // The README's snippet with `Capabilities::all()`: a false claim.
        Ok("false-claim") => {
            Transport::new("my-transport", my_transport::Bus::new).with_capabilities(Capabilities::all())
        }
        Ok("silent") => wrong(Mistake::Silent),
        Ok("leak") => wrong(Mistake::Leak),
        other => panic!("RED_VARIANT: false-claim, silent or leak, not {other:?}"),
    };
    Suite::new().transport(transport).snapshot_reports()
}

state_sync_conformance::main!(suite());
