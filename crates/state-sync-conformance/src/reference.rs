//! The reference transports of `state-sync-transports`, plugged into the
//! kit. They are what the kit checks itself against, and examples of the
//! glue a user writes for their own transport.

use std::sync::Arc;

use serde_json::Value;
use state_sync_transports::{SnapshotHandler, channel, memory, tauri_mock};

use crate::spec::Capability;
use crate::transport::{Bus, Capabilities, SnapshotServer, Transport, WindowEnds};

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
        let bus = memory::Bus::new();
        bus.serve_handler(SnapshotHandler::sync(move |topic| server.snapshot(topic)));
        Box::new(MemoryBus(bus))
    }
}

struct MemoryBus(memory::Bus);

impl Bus for MemoryBus {
    fn emit(&self, payload: &Value) {
        self.0.emit(payload);
    }

    fn window(&self, _label: &str, topic: &str) -> WindowEnds {
        let w = self.0.window(topic);
        WindowEnds::new(w.clone(), w)
    }

    fn active_subscriptions(&self) -> Option<usize> {
        Some(self.0.active_subscriptions())
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
        let bus = channel::Bus::with_config(self.config);
        bus.serve_handler(SnapshotHandler::sync(move |topic| server.snapshot(topic)));
        Box::new(ChannelBus(bus))
    }
}

struct ChannelBus(channel::Bus);

impl Bus for ChannelBus {
    fn emit(&self, payload: &Value) {
        self.0.emit(payload);
    }

    fn window(&self, _label: &str, topic: &str) -> WindowEnds {
        let w = self.0.window(topic);
        WindowEnds::new(w.clone(), w)
    }

    fn active_subscriptions(&self) -> Option<usize> {
        Some(self.0.active_subscriptions())
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
        let bus = tauri_mock::Bus::with_config(self.config.clone());
        bus.serve_handler(SnapshotHandler::sync(move |topic| server.snapshot(topic)));
        Box::new(TauriBus(bus))
    }
}

struct TauriBus(tauri_mock::Bus);

impl Bus for TauriBus {
    fn emit(&self, payload: &Value) {
        self.0.emit(payload);
    }

    fn window(&self, label: &str, topic: &str) -> WindowEnds {
        let w = self.0.window(topic).with_label(label);
        WindowEnds::new(w.clone(), w)
    }

    fn active_subscriptions(&self) -> Option<usize> {
        Some(self.0.active_subscriptions())
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
