//! The reference transports of `state-sync-transports`, plugged into the
//! kit. They are what the kit checks itself against, and examples of the
//! glue a user writes for their own transport.

use std::sync::Arc;

use serde_json::Value;
use state_sync::{InvalidationSubscriber, SnapshotProvider};
use state_sync_transports::{SnapshotHandler, channel, memory, tauri_mock};

use crate::spec::Capability;
use crate::transport::{Bus, Capabilities, SnapshotServer, Transport, WindowEnds};

/// What the kit needs of a reference transport's bus: the three share one
/// shape, so one adapter serves them all.
trait ReferenceBus: Send + Sync + 'static {
    type Window: InvalidationSubscriber + SnapshotProvider + Clone;
    fn serve_handler(&self, handler: SnapshotHandler);
    fn emit(&self, payload: &Value);
    fn window(&self, label: &str, topic: &str) -> Self::Window;
    fn active_subscriptions(&self) -> usize;
}

/// Serves the kit's source of truth on `bus` and wraps it as a [`Bus`].
fn adapt<B: ReferenceBus>(bus: B, server: SnapshotServer) -> Box<dyn Bus> {
    bus.serve_handler(SnapshotHandler::sync(move |topic| server.snapshot(topic)));
    Box::new(Adapter(bus))
}

struct Adapter<B>(B);

impl<B: ReferenceBus> Bus for Adapter<B> {
    fn emit(&self, payload: &Value) {
        self.0.emit(payload);
    }

    fn window(&self, label: &str, topic: &str) -> WindowEnds {
        let w = self.0.window(label, topic);
        WindowEnds::new(w.clone(), w)
    }

    fn active_subscriptions(&self) -> Option<usize> {
        Some(self.0.active_subscriptions())
    }
}

impl ReferenceBus for memory::Bus {
    type Window = memory::Window;
    fn serve_handler(&self, handler: SnapshotHandler) {
        memory::Bus::serve_handler(self, handler);
    }
    fn emit(&self, payload: &Value) {
        memory::Bus::emit(self, payload);
    }
    fn window(&self, _label: &str, topic: &str) -> Self::Window {
        memory::Bus::window(self, topic)
    }
    fn active_subscriptions(&self) -> usize {
        memory::Bus::active_subscriptions(self)
    }
}

impl ReferenceBus for channel::Bus {
    type Window = channel::Window;
    fn serve_handler(&self, handler: SnapshotHandler) {
        channel::Bus::serve_handler(self, handler);
    }
    fn emit(&self, payload: &Value) {
        channel::Bus::emit(self, payload);
    }
    fn window(&self, _label: &str, topic: &str) -> Self::Window {
        channel::Bus::window(self, topic)
    }
    fn active_subscriptions(&self) -> usize {
        channel::Bus::active_subscriptions(self)
    }
}

impl ReferenceBus for tauri_mock::Bus {
    type Window = tauri_mock::Window;
    fn serve_handler(&self, handler: SnapshotHandler) {
        tauri_mock::Bus::serve_handler(self, handler);
    }
    fn emit(&self, payload: &Value) {
        tauri_mock::Bus::emit(self, payload);
    }
    /// Each window is its own webview, labelled with the window's name.
    fn window(&self, label: &str, topic: &str) -> Self::Window {
        tauri_mock::Bus::window(self, topic).with_label(label)
    }
    fn active_subscriptions(&self) -> usize {
        tauri_mock::Bus::active_subscriptions(self)
    }
}

/// The in-memory transport: synchronous delivery in subscription order.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory;

impl Transport for Memory {
    fn name(&self) -> &str {
        "memory"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::all()
    }

    fn open(&self, server: SnapshotServer) -> Box<dyn Bus> {
        adapt(memory::Bus::new(), server)
    }
}

/// The tokio channel transport: asynchronous delivery, bounded buffers.
#[derive(Debug, Clone, Default)]
pub struct Channel {
    config: channel::ChannelConfig,
}

impl Channel {
    /// With a custom configuration.
    pub fn with_config(config: channel::ChannelConfig) -> Self {
        Self { config }
    }
}

impl Transport for Channel {
    fn name(&self) -> &str {
        "channel"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::all().without(Capability::SynchronousDelivery)
    }

    fn open(&self, server: SnapshotServer) -> Box<dyn Bus> {
        adapt(channel::Bus::with_config(self.config), server)
    }
}

/// The Tauri v2 IPC emulation: events to webview listeners, snapshots
/// through an `invoke` of a command, JSON round-trips, asynchronous listen
/// and unlisten. Each window gets its own webview label.
#[derive(Debug, Clone, Default)]
pub struct TauriMock {
    config: tauri_mock::TauriMockConfig,
}

impl TauriMock {
    /// With custom switches.
    pub fn with_config(config: tauri_mock::TauriMockConfig) -> Self {
        Self { config }
    }
}

impl Transport for TauriMock {
    fn name(&self) -> &str {
        "tauri-mock"
    }

    fn capabilities(&self) -> Capabilities {
        let caps = Capabilities::all();
        match self.config.number_mode {
            tauri_mock::NumberMode::Exact => caps,
            tauri_mock::NumberMode::JavaScript => caps.without(Capability::ExactJson),
        }
    }

    fn open(&self, server: SnapshotServer) -> Box<dyn Bus> {
        adapt(tauri_mock::Bus::with_config(self.config.clone()), server)
    }
}

/// The three reference transports.
pub fn all() -> Vec<Arc<dyn Transport>> {
    vec![
        Arc::new(Memory),
        Arc::new(Channel::default()),
        Arc::new(TauriMock::default()),
    ]
}
