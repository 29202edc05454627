//! The JavaScript side of a webview: `listen` (an IPC hop to register,
//! another to answer), the unlisten handle (`invoke` is in `invoke.rs`).

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use state_sync::Subscription;
use tokio::runtime::Handle;

use super::app::MockApp;
use super::error::TauriError;
use super::events::{Callback, Event, EventId, EventTarget, JsEvent};
use super::wire::{parse, validate_event_name};

/// The JavaScript side of one webview: `listen` and `invoke` as
/// `@tauri-apps/api` does them, each an IPC round trip.
#[derive(Clone)]
pub struct Webview {
    pub(crate) app: MockApp,
    label: String,
}

impl fmt::Debug for Webview {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webview")
            .field("label", &self.label)
            .finish()
    }
}

impl Webview {
    /// The webview's label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The app this webview belongs to.
    pub fn app(&self) -> &MockApp {
        &self.app
    }

    /// JavaScript's `listen(event, handler, {target})`.
    ///
    /// With [`async_listen`](super::TauriMockConfig::async_listen) on (the
    /// default) the listener reaches the core after one IPC hop — events
    /// emitted before that are lost — and the returned future resolves one
    /// hop later, so the handler may already have fired. With it off, the
    /// listener is registered before this function returns.
    ///
    /// Delivery to the handler is synchronous, inside the core's emit. The
    /// handler gets a parsed copy of the payload and stops being called the
    /// moment [`JsListener::unlisten`] (or
    /// [`JsListener::unlisten_in_background`]) is called. If the future is
    /// dropped before it resolves, the listener is removed again.
    pub fn listen<F>(
        &self,
        event: &str,
        target: EventTarget,
        handler: F,
    ) -> impl Future<Output = Result<JsListener, TauriError>> + Send + 'static
    where
        F: Fn(JsEvent) + Send + Sync + 'static,
    {
        let mode = self.app.inner.config.number_mode;
        self.listen_text(event, target, move |e: &Event| {
            match parse(e.payload(), mode) {
                Ok(payload) => handler(JsEvent {
                    event: e.event().to_owned(),
                    id: e.id(),
                    payload,
                }),
                Err(error) => tracing::error!("tauri mock: payload is not JSON: {error}"),
            }
        })
    }

    /// [`listen`](Webview::listen) with a handler that gets the payload as
    /// the JSON text that crossed the IPC, before it is parsed: for a
    /// window end that reads the text itself (the engine's text intake),
    /// without a parsed copy per event. Registration and unlisten behave
    /// exactly as for `listen`.
    pub fn listen_text<F>(
        &self,
        event: &str,
        target: EventTarget,
        handler: F,
    ) -> impl Future<Output = Result<JsListener, TauriError>> + Send + 'static
    where
        F: Fn(&Event) + Send + Sync + 'static,
    {
        let checked = validate_event_name(event);
        let app = self.app.clone();
        let event: String = event.to_owned();
        let detached = Arc::new(AtomicBool::new(false));
        let is_detached = detached.clone();
        let callback: Callback = Arc::new(move |e: Event| {
            if !is_detached.load(Ordering::Acquire) {
                handler(&e);
            }
        });
        let register = move || JsListener {
            id: app.register(&event, target, callback),
            app,
            detached,
            runtime: Handle::try_current().ok(),
            remove_on_drop: true,
        };
        let latency = self.app.inner.config.ipc_latency;
        // Synchronous mode registers now, before the future is polled.
        let step = if checked.is_ok() && !self.app.inner.config.async_listen {
            Step::Now(register())
        } else {
            Step::Later(register)
        };
        async move {
            checked?;
            // Until it is returned, dropping the listener removes it again.
            let mut listener = match step {
                Step::Now(listener) => listener,
                Step::Later(register) => {
                    super::app::hop(latency).await;
                    let listener = register();
                    // The answer travels back to the webview.
                    super::app::hop(latency).await;
                    listener
                }
            };
            listener.remove_on_drop = false;
            Ok(listener)
        }
    }
}

enum Step<F> {
    Now(JsListener),
    Later(F),
}

/// A webview listener: JavaScript's `unlisten` function.
///
/// Dropping it does not unlisten (as in JavaScript, a forgotten unlisten
/// leaks the listener); convert it with [`JsListener::into_subscription`]
/// to get a handle that does.
#[must_use = "a listener stays registered until `unlisten` is called"]
pub struct JsListener {
    app: MockApp,
    id: EventId,
    detached: Arc<AtomicBool>,
    runtime: Option<Handle>,
    /// Set while the `listen` future has not handed the listener out.
    remove_on_drop: bool,
}

impl fmt::Debug for JsListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsListener")
            .field("id", &self.id)
            .field("detached", &self.detached.load(Ordering::Relaxed))
            .finish()
    }
}

impl JsListener {
    /// The listener's id.
    pub fn id(&self) -> EventId {
        self.id
    }

    /// Awaited `unlisten()`: detaches the handler at once, then removes the
    /// core's entry (one IPC hop later when
    /// [`async_unlisten`](super::TauriMockConfig::async_unlisten) is on) and
    /// resolves.
    pub async fn unlisten(mut self) {
        self.remove_on_drop = false;
        self.detached.store(true, Ordering::Release);
        let inner = &self.app.inner;
        let in_flight = inner.config.async_unlisten.then(|| inner.in_flight.start());
        if in_flight.is_some() {
            super::app::hop(inner.config.ipc_latency).await;
        }
        self.app.unlisten(self.id);
        drop(in_flight);
    }

    /// `unlisten()` without awaiting it: detaches the handler at once and
    /// leaves the removal of the core's entry to a task that runs one IPC
    /// hop later (or removes it now, when `async_unlisten` is off or no
    /// tokio runtime is left). [`MockApp::settle`] waits for such removals.
    pub fn unlisten_in_background(mut self) {
        self.remove_on_drop = false;
        self.remove_in_background();
    }

    /// A [`Subscription`] that calls
    /// [`unlisten_in_background`](JsListener::unlisten_in_background) when
    /// ended or dropped.
    pub fn into_subscription(self) -> Subscription {
        Subscription::new(move || self.unlisten_in_background())
    }

    fn remove_in_background(&self) {
        self.detached.store(true, Ordering::Release);
        let inner = &self.app.inner;
        let runtime = self
            .runtime
            .as_ref()
            .filter(|_| inner.config.async_unlisten);
        let Some(runtime) = runtime else {
            self.app.unlisten(self.id);
            return;
        };
        let latency = inner.config.ipc_latency;
        let removal = Removal {
            app: self.app.clone(),
            id: self.id,
            _in_flight: inner.in_flight.start(),
        };
        // If the runtime is shutting down the task is dropped unrun, and
        // dropping `removal` still removes the entry.
        drop(runtime.spawn(async move {
            super::app::hop(latency).await;
            drop(removal);
        }));
    }
}

impl Drop for JsListener {
    fn drop(&mut self) {
        if self.remove_on_drop {
            self.remove_in_background();
        }
    }
}

/// Removes the core's entry when dropped.
struct Removal {
    app: MockApp,
    id: EventId,
    _in_flight: super::app::InFlightGuard,
}

impl Drop for Removal {
    fn drop(&mut self) {
        self.app.unlisten(self.id);
    }
}

impl MockApp {
    /// A webview with `label`: the JavaScript side of the IPC (listen,
    /// invoke). Webviews need no creation; a label is enough.
    pub fn webview(&self, label: impl Into<String>) -> Webview {
        Webview {
            app: self.clone(),
            label: label.into(),
        }
    }
}
