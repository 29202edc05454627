//! Events: targets, listeners and dispatch in the core. The app's API
//! (`emit`, `listen`) is in `emit.rs`, the webview side
//! of `listen` is in `webview.rs`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use std::sync::atomic::AtomicU32;

use parking_lot::Mutex;
use serde_json::Value;

use super::config::{ListenerOrder, TauriMockConfig};

/// The id of a listener (not of an event: every delivery to one listener
/// carries the same id).
pub type EventId = u32;

/// Who an event is for, and who a listener listens as (Tauri's
/// `EventTarget`).
///
/// `From<&str>` and `From<String>` give [`EventTarget::AnyLabel`], as in
/// Tauri (`emit_to("main", ...)`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EventTarget {
    /// Everything. A listener on `Any` receives every event, including those
    /// sent with `emit_to` to other targets; JavaScript's `listen()` uses it
    /// unless told otherwise.
    Any,
    /// Any window, webview or webview window with this label.
    AnyLabel {
        /// The label.
        label: String,
    },
    /// The app (`App` and `AppHandle` listeners).
    App,
    /// A window.
    Window {
        /// The window's label.
        label: String,
    },
    /// A webview.
    Webview {
        /// The webview's label.
        label: String,
    },
    /// A webview window.
    WebviewWindow {
        /// The webview window's label.
        label: String,
    },
}

impl EventTarget {
    /// [`EventTarget::AnyLabel`].
    pub fn labeled(label: impl Into<String>) -> Self {
        Self::AnyLabel {
            label: label.into(),
        }
    }

    /// [`EventTarget::Window`].
    pub fn window(label: impl Into<String>) -> Self {
        Self::Window {
            label: label.into(),
        }
    }

    /// [`EventTarget::Webview`].
    pub fn webview(label: impl Into<String>) -> Self {
        Self::Webview {
            label: label.into(),
        }
    }

    /// [`EventTarget::WebviewWindow`].
    pub fn webview_window(label: impl Into<String>) -> Self {
        Self::WebviewWindow {
            label: label.into(),
        }
    }

    /// The label, for the labelled targets.
    pub fn label(&self) -> Option<&str> {
        match self {
            Self::AnyLabel { label }
            | Self::Window { label }
            | Self::Webview { label }
            | Self::WebviewWindow { label } => Some(label),
            Self::Any | Self::App => None,
        }
    }

    /// Whether `emit_to(self, ..)` reaches a listener registered on
    /// `listener`, by Tauri's rules:
    ///
    /// * an `Any` listener receives everything;
    /// * `emit_to(Any)` is a plain `emit` and reaches every listener;
    /// * `emit_to(AnyLabel(l))` reaches `Window`, `Webview`, `WebviewWindow`
    ///   and `AnyLabel` listeners labelled `l`;
    /// * `emit_to(Window(l))` reaches `Window(l)` and `AnyLabel(l)` listeners
    ///   (not `WebviewWindow(l)`); likewise for `Webview` and
    ///   `WebviewWindow`;
    /// * `emit_to(App)` reaches `App` listeners.
    ///
    /// ```
    /// use state_sync_transports::tauri_mock::EventTarget;
    ///
    /// let to_main = EventTarget::labeled("main");
    /// assert!(to_main.reaches(&EventTarget::webview_window("main")));
    /// assert!(to_main.reaches(&EventTarget::Any));
    /// assert!(!to_main.reaches(&EventTarget::webview_window("other")));
    /// assert!(!EventTarget::window("main").reaches(&EventTarget::webview_window("main")));
    /// ```
    pub fn reaches(&self, listener: &EventTarget) -> bool {
        use EventTarget::{Any, AnyLabel, App, Webview, WebviewWindow, Window};
        match (self, listener) {
            (_, Any) | (Any, _) => true,
            (AnyLabel { label }, other) => other.label() == Some(label.as_str()) && *other != App,
            (Window { label }, AnyLabel { label: l } | Window { label: l })
            | (Webview { label }, AnyLabel { label: l } | Webview { label: l })
            | (WebviewWindow { label }, AnyLabel { label: l } | WebviewWindow { label: l }) => {
                l == label
            }
            (App, App) => true,
            _ => false,
        }
    }
}

impl From<&str> for EventTarget {
    fn from(label: &str) -> Self {
        Self::labeled(label)
    }
}

impl From<String> for EventTarget {
    fn from(label: String) -> Self {
        Self::labeled(label)
    }
}

/// An event as a Rust listener receives it: the listener's id and the
/// payload as JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    id: EventId,
    event: Arc<str>,
    payload: Arc<str>,
}

impl Event {
    /// The id of the listener being called.
    pub fn id(&self) -> EventId {
        self.id
    }

    /// The event name.
    pub fn event(&self) -> &str {
        &self.event
    }

    /// The payload as JSON text, serialized once at emit.
    pub fn payload(&self) -> &str {
        &self.payload
    }
}

/// An event as a webview listener receives it (the JavaScript event object
/// `{event, id, payload}`): the payload parsed from JSON text in the mock's
/// [`NumberMode`](super::NumberMode).
#[derive(Debug, Clone, PartialEq)]
pub struct JsEvent {
    /// The event name.
    pub event: String,
    /// The id of the listener being called (not a sequence number).
    pub id: EventId,
    /// The parsed payload: a copy, never shared with the emitter.
    pub payload: Value,
}

pub(crate) type Callback = Arc<dyn Fn(Event) + Send + Sync>;

struct Listener {
    id: EventId,
    event: Arc<str>,
    target: EventTarget,
    callback: Callback,
}

struct EmitArgs {
    event: Arc<str>,
    /// `None` for a plain `emit` (reaches every listener).
    to: Option<EventTarget>,
    payload: Arc<str>,
}

enum Op {
    Emit(EmitArgs),
    Listen(Listener),
    Unlisten(EventId),
}

/// The core's listener table.
struct Registry {
    listeners: Vec<Listener>,
    dispatching: bool,
    pending: VecDeque<Op>,
    rng: fastrand::Rng,
}

impl Registry {
    fn new(order: ListenerOrder) -> Self {
        let seed = match order {
            ListenerOrder::Registration => 0,
            ListenerOrder::Unspecified { seed } => seed,
        };
        Self {
            listeners: Vec::new(),
            dispatching: false,
            pending: VecDeque::new(),
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    fn count(&self, event: Option<&str>) -> usize {
        match event {
            None => self.listeners.len(),
            Some(event) => self.listeners.iter().filter(|l| &*l.event == event).count(),
        }
    }

    /// Applies `op`; returns the emit to dispatch, if it is one. A removed
    /// listener goes to `trash`, to be dropped once the lock is released
    /// (its handler may own something whose drop calls back into the app).
    fn apply(&mut self, op: Op, trash: &mut Vec<Listener>) -> Option<EmitArgs> {
        match op {
            Op::Emit(args) => Some(args),
            Op::Listen(listener) => {
                self.listeners.push(listener);
                None
            }
            Op::Unlisten(id) => {
                if let Some(at) = self.listeners.iter().position(|l| l.id == id) {
                    trash.push(self.listeners.remove(at));
                }
                None
            }
        }
    }

    /// The listeners an emit reaches, in the configured order.
    fn recipients(&mut self, args: &EmitArgs, order: ListenerOrder) -> Vec<(EventId, Callback)> {
        let mut recipients: Vec<_> = self
            .listeners
            .iter()
            .filter(|l| l.event == args.event)
            .filter(|l| args.to.as_ref().is_none_or(|to| to.reaches(&l.target)))
            .map(|l| (l.id, l.callback.clone()))
            .collect();
        if let ListenerOrder::Unspecified { .. } = order {
            self.rng.shuffle(&mut recipients);
        }
        recipients
    }
}

/// Resets the dispatching flag if a listener panics, so later emits are
/// not queued forever.
struct DispatchGuard<'a>(&'a EventCore);

impl Drop for DispatchGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.registry.lock().dispatching = false;
        }
    }
}

fn call_all(args: &EmitArgs, recipients: Vec<(EventId, Callback)>) {
    for (id, callback) in recipients {
        callback(Event {
            id,
            event: args.event.clone(),
            payload: args.payload.clone(),
        });
    }
}

/// The core's event system: the listener table behind its lock, and how
/// it dispatches.
pub(crate) struct EventCore {
    registry: Mutex<Registry>,
    next_id: AtomicU32,
    order: ListenerOrder,
    defer_reentrant: bool,
}

impl EventCore {
    /// An empty table dispatching as `config` says.
    pub(crate) fn new(config: &TauriMockConfig) -> Self {
        Self {
            registry: Mutex::new(Registry::new(config.listener_order)),
            next_id: AtomicU32::new(0),
            order: config.listener_order,
            defer_reentrant: config.defer_reentrant,
        }
    }

    /// How many listeners the table holds, for `event` or for every event.
    pub(crate) fn count(&self, event: Option<&str>) -> usize {
        self.registry.lock().count(event)
    }

    /// Adds a listener (queued behind a dispatch in progress); its id.
    pub(crate) fn register(&self, event: &str, target: EventTarget, callback: Callback) -> EventId {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.run(Op::Listen(Listener {
            id,
            event: event.into(),
            target,
            callback,
        }));
        id
    }

    /// Removes a listener (queued behind a dispatch in progress).
    pub(crate) fn unlisten(&self, id: EventId) {
        self.run(Op::Unlisten(id));
    }

    /// Runs `op` now, or queues it behind the dispatch in progress.
    fn run(&self, op: Op) {
        let order = self.order;
        let mut trash = Vec::new();
        if !self.defer_reentrant {
            let mut registry = self.registry.lock();
            let emit = registry.apply(op, &mut trash);
            let recipients = emit.as_ref().map(|args| registry.recipients(args, order));
            drop(registry);
            drop(trash);
            if let (Some(args), Some(recipients)) = (emit, recipients) {
                call_all(&args, recipients);
            }
            return;
        }
        let mut registry = self.registry.lock();
        if registry.dispatching {
            registry.pending.push_back(op);
            return;
        }
        registry.dispatching = true;
        let _guard = DispatchGuard(self);
        let mut op = op;
        loop {
            if let Some(args) = registry.apply(op, &mut trash) {
                let recipients = registry.recipients(&args, order);
                drop(registry);
                drop(std::mem::take(&mut trash));
                call_all(&args, recipients);
                registry = self.registry.lock();
            }
            match registry.pending.pop_front() {
                Some(next) => op = next,
                None => {
                    registry.dispatching = false;
                    drop(registry);
                    return;
                }
            }
        }
    }

    /// Emits `payload`, already JSON text, to the listeners `to` reaches
    /// (every listener of `event` when `None`).
    pub(crate) fn emit_text(&self, event: &str, to: Option<EventTarget>, payload: String) {
        self.run(Op::Emit(EmitArgs {
            event: event.into(),
            to,
            payload: payload.into(),
        }));
    }
}
