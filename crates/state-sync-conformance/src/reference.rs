//! The reference transports of `state-sync-transports`, as the kit runs
//! them: what it checks itself against, and examples of a [`Transport`]
//! built from a [`Backend`](state_sync_transports::Backend).

use state_sync_transports::{channel, memory, tauri_mock};

use crate::spec::Capability;
use crate::transport::{Capabilities, Transport};

/// The in-memory transport: synchronous delivery in subscription order.
pub fn memory() -> Transport {
    Transport::new("memory", memory::Bus::new).with_capabilities(Capabilities::all())
}

/// The tokio channel transport with the default buffers: asynchronous
/// delivery.
pub fn channel() -> Transport {
    channel_with(channel::ChannelConfig::default())
}

/// The tokio channel transport with custom buffer sizes.
pub fn channel_with(config: channel::ChannelConfig) -> Transport {
    Transport::new("channel", move || channel::Bus::with_config(config))
        .with_capabilities(Capabilities::all().without(Capability::SynchronousDelivery))
}

/// The Tauri v2 IPC emulation with its realistic defaults: events to webview
/// listeners, snapshots through an `invoke` of a command, JSON round-trips,
/// asynchronous listen and unlisten. Each window is its own webview,
/// labelled with the window's label.
pub fn tauri_mock() -> Transport {
    tauri_mock_with(tauri_mock::TauriMockConfig::default())
}

/// The Tauri v2 IPC emulation with custom switches.
pub fn tauri_mock_with(config: tauri_mock::TauriMockConfig) -> Transport {
    let capabilities = match config.number_mode {
        tauri_mock::NumberMode::Exact => Capabilities::all(),
        tauri_mock::NumberMode::JavaScript => Capabilities::all().without(Capability::ExactJson),
    };
    Transport::new("tauri-mock", move || {
        tauri_mock::Bus::with_config(config.clone())
    })
    .with_capabilities(capabilities)
}

/// The three reference transports: memory, channel, tauri-mock.
pub fn all() -> Vec<Transport> {
    vec![memory(), channel(), tauri_mock()]
}
