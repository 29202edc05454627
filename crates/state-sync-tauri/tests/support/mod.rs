//! The conformance kit's view of this crate: a backend that is a Tauri app
//! on `MockRuntime`, registered with `state_sync`, whose windows are
//! webview windows. Invalidations go out through `Emitter::emit` and reach
//! each window through the crate's Rust [`Subscriber`]; snapshot requests
//! go through the webview's IPC exactly as the JavaScript adapter's
//! `invoke("get_snapshot", {topic})` does (`Webview::on_message`), and are
//! answered by the crate's command.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use parking_lot::Mutex;
use serde_json::{Value, json};
use state_sync::{PortError, SnapshotProvider};
use state_sync_conformance::{Backend, Capabilities, SnapshotHandler, Transport, WindowEnds};
use state_sync_tauri::{
    BuilderExt, DEFAULT_COMMAND, DEFAULT_EVENT, SnapshotSource, StateSync, StateSyncExt,
};
use state_sync_transports::tauri_mock::InvokeError;
use tauri::ipc::{CallbackFn, InvokeBody, InvokeResponse};
use tauri::test::{MockRuntime, mock_builder, mock_context, noop_assets};
use tauri::webview::InvokeRequest;
use tauri::{
    App, AppHandle, Emitter, Manager, Runtime, WebviewUrl, WebviewWindow, WebviewWindowBuilder,
};

/// The transport the kit runs: every capability, as `tauri_mock` claims.
pub fn transport() -> Transport {
    Transport::try_new("tauri", TauriBackend::open).with_capabilities(Capabilities::all())
}

/// Serves the kit's source of truth through the app's snapshot command.
#[derive(Default, Clone)]
pub struct KitSource(Arc<Mutex<Option<SnapshotHandler>>>);

impl KitSource {
    /// Serves `handler` from now on (`None`: nothing is served).
    pub fn set(&self, handler: Option<SnapshotHandler>) {
        *self.0.lock() = handler;
    }
}

impl SnapshotSource for KitSource {
    fn snapshot(&self, topic: &str) -> BoxFuture<'static, Result<Value, Value>> {
        let handler = self.0.lock().clone();
        let topic = topic.to_owned();
        Box::pin(async move {
            let Some(handler) = handler else {
                return Err(json!("no source is served yet"));
            };
            // A backend error rejects with its JSON value, or its message,
            // as the Tauri mock's command does.
            handler
                .call(topic)
                .await
                .map_err(|e| InvokeError::from_port_error(&e).0)
        })
    }
}

/// A Tauri app on `MockRuntime` with state-sync registered.
pub struct TauriBackend {
    /// Kept for as long as the backend lives (an `App` is not `Sync`).
    _app: Mutex<App<MockRuntime>>,
    app: AppHandle<MockRuntime>,
    source: KitSource,
    /// One webview window per window label, made on first use.
    webviews: Mutex<BTreeMap<String, WebviewWindow<MockRuntime>>>,
}

impl TauriBackend {
    /// A new app.
    pub fn open() -> Result<Self, tauri::Error> {
        let source = KitSource::default();
        let app = mock_builder()
            .state_sync(StateSync::with_source(source.clone()))
            .build(mock_context(noop_assets()))?;
        Ok(Self {
            app: app.handle().clone(),
            _app: Mutex::new(app),
            source,
            webviews: Mutex::default(),
        })
    }

    /// The webview window standing for the kit's window `label` (Tauri's
    /// labels allow fewer characters than the kit's: each label gets one
    /// of its own).
    pub fn webview_window(&self, label: &str) -> WebviewWindow<MockRuntime> {
        let mut webviews = self.webviews.lock();
        let n = webviews.len();
        if let Some(w) = webviews.get(label) {
            return w.clone();
        }
        let window =
            WebviewWindowBuilder::new(&self.app, format!("window-{n}"), WebviewUrl::default())
                .build()
                .expect("a webview window on MockRuntime");
        webviews.insert(label.to_owned(), window.clone());
        window
    }
}

impl Backend for TauriBackend {
    fn emit(&self, payload: &Value) {
        emit(&self.app, payload);
    }

    fn serve(&self, handler: SnapshotHandler) {
        self.source.set(Some(handler));
    }

    fn window_ends(&self, label: &str, topic: &str) -> WindowEnds {
        window_ends(&self.app, self.webview_window(label), topic)
    }

    fn active_subscriptions(&self) -> Option<usize> {
        self.app.rust_listeners().ok()
    }
}

/// Emits `payload` on the app's invalidation event, as the kit's backend.
pub fn emit<R: Runtime>(app: &AppHandle<R>, payload: &Value) {
    if let Err(e) = app.emit(DEFAULT_EVENT, payload) {
        panic!("Tauri refused to emit: {e}");
    }
}

/// A kit window's ends on `app`: the crate's Rust subscriber for `topic`,
/// and snapshot requests through `webview`'s IPC.
pub fn window_ends<R: Runtime>(
    app: &AppHandle<R>,
    webview: WebviewWindow<R>,
    topic: &str,
) -> WindowEnds {
    let (subscriber, _) = app.window_ends(topic).expect("state-sync is registered");
    WindowEnds {
        subscriber: Arc::new(subscriber),
        provider: Arc::new(WebviewProvider {
            webview,
            topic: topic.to_owned(),
        }),
    }
}

/// Asks for snapshots the way a webview does: an IPC request for the
/// snapshot command with `{"topic": …}`.
pub struct WebviewProvider<R: Runtime = MockRuntime> {
    pub webview: WebviewWindow<R>,
    pub topic: String,
}

impl<R: Runtime> SnapshotProvider for WebviewProvider<R> {
    fn get_snapshot(&self) -> BoxFuture<'_, Result<Value, PortError>> {
        let response = invoke(
            &self.webview,
            DEFAULT_COMMAND,
            json!({ "topic": self.topic }),
        );
        Box::pin(async move {
            match response.await {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(rejected)) => Err(PortError::from_json(rejected)),
                Err(_) => Err(PortError::new("the snapshot command never answered")),
            }
        })
    }
}

/// Invokes `command` with `args` from `webview`, as `invoke` in its
/// JavaScript would: the resolved value, or the value it rejects with.
pub fn invoke<R: Runtime>(
    webview: &WebviewWindow<R>,
    command: &str,
    args: Value,
) -> futures::channel::oneshot::Receiver<Result<Value, Value>> {
    let (tx, rx) = futures::channel::oneshot::channel();
    let request = InvokeRequest {
        cmd: command.to_owned(),
        callback: CallbackFn(0),
        error: CallbackFn(1),
        url: "tauri://localhost".parse().expect("a URL"),
        body: InvokeBody::Json(args),
        headers: Default::default(),
        invoke_key: webview.app_handle().invoke_key().to_owned(),
    };
    webview.as_ref().clone().on_message(
        request,
        Box::new(move |_webview, _command, response, _callback, _error| {
            let answer = match response {
                InvokeResponse::Ok(body) => body
                    .deserialize::<Value>()
                    .map_err(|e| Value::String(format!("the answer is not JSON: {e}"))),
                InvokeResponse::Err(rejected) => Err(rejected.0),
            };
            let _ = tx.send(answer);
        }),
    );
    rx
}
