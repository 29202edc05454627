//! Wiring: a spec window made real. This is the one place that composes
//! the layers, in the order of the data path:
//!
//! ```text
//! transport's ends → observe (transport side) → faults → observe (engine side) → retry → engine
//!                                  applies:  engine → observe (checks) → faults → observe (record)
//! ```
//!
//! and turns the fault layer's notes into trace lines.

use std::sync::Arc;

use serde_json::Value;
use state_sync::{RevisionSync, with_retry};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::activity::Activity;
use crate::driver::protocol::WindowOptions;
use crate::driver::{self, Connection};
use crate::layers::faults::{self, BackendFaults, FaultState, Injected, Notes};
use crate::layers::observe::{self, AppliedHook, Observer};
use crate::layers::record::Record;
use crate::source::Sources;
use crate::spec::{DEFAULT_TOPIC, Open};
use crate::trace::Trace;

use super::bus::Bus;
use super::call_error::CallError;
use super::engine::Engine;
use super::outcome::{DELIBERATE, fnv1a};

/// One window under test.
pub(super) struct Window {
    pub(super) topic: String,
    pub(super) sync: Engine,
    pub(super) record: Record,
    pub(super) faults: Arc<FaultState>,
    /// `start`/`refresh` calls running in the background (`join` waits),
    /// each with its name.
    pub(super) background: Vec<(&'static str, JoinHandle<Result<(), CallError>>)>,
}

/// What opening a window needs from the case.
pub(super) struct Context<'a> {
    /// The bus the window uses.
    pub(super) bus: &'a Bus,
    pub(super) sources: &'a Sources,
    pub(super) trace: &'a Trace,
    pub(super) activity: &'a Activity,
    /// What runs after each of the window's applies.
    pub(super) on_applied: AppliedHook,
    pub(super) backend_faults: &'a Arc<BackendFaults>,
    pub(super) seed: u64,
    /// The driver hosting the engines, when they are not in-process.
    pub(super) driver: Option<&'a Connection>,
}

/// Opens window `name` as the `open` step describes it.
pub(super) fn open(cx: &Context<'_>, name: &str, open: &Open) -> Window {
    let topic = open
        .topic
        .clone()
        .unwrap_or_else(|| DEFAULT_TOPIC.to_owned());
    let observer = Observer {
        name: Arc::from(name),
        record: Record::default(),
        trace: cx.trace.clone(),
        activity: cx.activity.clone(),
        ledger: cx.bus.ledger.clone(),
        topic: Arc::from(topic.as_str()),
        on_applied: Some(cx.on_applied.clone()),
    };
    let state = Arc::new(FaultState::new(cx.seed ^ fnv1a(name.as_bytes())));
    let layer = faults::Layer {
        state: state.clone(),
        notes: notes(cx.trace, name),
        runtime: Handle::current(),
        past: cx.sources.past(&topic),
        backend: cx.backend_faults.clone(),
        topic: Arc::from(topic.as_str()),
    };
    let ends = cx
        .bus
        .backend
        .window_ends(open.label.as_deref().unwrap_or(name), &topic);
    let subscriber = observer.engine_side(Arc::new(
        layer.subscriber(Arc::new(observer.transport_side(ends.subscriber))),
    ));
    let provider = observer.provider(Arc::new(
        layer.provider(Arc::new(observer.transport_provider(ends.provider))),
    ));
    let applier = observer.applier(Arc::new(layer.applier(Arc::new(observer.recorder()))));
    cx.trace.log(name, format!("open on topic {topic:?}"));
    let record = observer.record.clone();
    let sync = match cx.driver {
        Some(driver) => {
            let options = WindowOptions {
                should_refresh: open.should_refresh.clone(),
                throttle: open.throttle.clone(),
                retry: open.retry.clone(),
                retry_seed: open.retry.as_ref().map(|_| cx.seed),
                max_stale_refetches: open.max_stale_refetches,
                panicking_error_hook: open.panicking_error_hook,
            };
            let ports = driver::Ports {
                subscriber: Arc::new(subscriber),
                provider: Arc::new(provider),
                applier: Arc::new(applier),
                observer,
            };
            Engine::Driver(driver.open(name, &topic, options, ports))
        }
        None => Engine::InProcess(in_process(
            cx, &topic, open, observer, subscriber, provider, applier,
        )),
    };
    Window {
        topic,
        sync,
        record,
        faults: state,
        background: Vec::new(),
    }
}

/// `state-sync`'s own engine over the window's ports.
fn in_process(
    cx: &Context<'_>,
    topic: &str,
    open: &Open,
    observer: Observer,
    subscriber: observe::EngineSide,
    provider: observe::WatchedProvider,
    applier: observe::WatchedApplier,
) -> RevisionSync<Value> {
    let topic = topic.to_owned();
    let builder = match &open.retry {
        Some(r) => RevisionSync::builder(
            topic.clone(),
            subscriber,
            with_retry(provider, r.policy(cx.seed)),
            applier,
        ),
        None => RevisionSync::builder(topic.clone(), subscriber, provider, applier),
    };
    let hook = {
        let (observer, panicking) = (observer.clone(), open.panicking_error_hook);
        move |ctx: &state_sync::ErrorContext| {
            observer.record_error(ctx);
            if panicking {
                panic!("{DELIBERATE} in on_error");
            }
        }
    };
    let mut builder = builder.on_error(hook);
    if let Some(n) = open.max_stale_refetches {
        builder = builder.max_stale_refetches(n);
    }
    if let Some(t) = &open.throttle {
        builder = builder.throttle(t.throttle());
    }
    if let Some(filter) = &open.should_refresh {
        builder = builder.should_refresh(filter.clone().should_refresh(DELIBERATE));
    }
    builder.build()
}

/// The fault layer's notes, as lines of the trace.
fn notes(trace: &Trace, name: &str) -> Notes {
    let (trace, name) = (trace.clone(), name.to_owned());
    Arc::new(move |injected: Injected<'_>| {
        let line = match injected {
            Injected::SubscribeFails => "subscribe fails (fault)".to_owned(),
            Injected::SubscribeHeld => "subscribe held until released (fault)".to_owned(),
            Injected::SubscribeReleased => "held subscribe released".to_owned(),
            Injected::EventDropped(p) => format!("drop {} (fault)", observe::describe(p)),
            Injected::EventHeld(p) => {
                format!("hold back {} (reorder fault)", observe::describe(p))
            }
            Injected::EventHeldForRelease(p) => {
                format!("hold {} until released (fault)", observe::describe(p))
            }
            Injected::EventReleased(p) => format!("release held {}", observe::describe(p)),
            Injected::FetchHangs => "fetch hangs (fault)".to_owned(),
            Injected::FetchHeld => "fetch held until released (fault)".to_owned(),
            Injected::FetchReleased => "held fetch released".to_owned(),
            Injected::FetchFails => "fetch fails (fault)".to_owned(),
            Injected::FetchReplaced => "fetch replaced by garbage (fault)".to_owned(),
            Injected::FetchStale => "fetch served stale (fault)".to_owned(),
            Injected::FetchCancelled => {
                "fetch given up while the backend works on it (fault)".to_owned()
            }
            Injected::ApplySlowed(r, d) => {
                format!("apply {r} slowed by {} ms", d.as_millis())
            }
            Injected::ApplyFails(r) => format!("apply {r} fails (injected)"),
        };
        trace.log(&name, line);
    })
}
