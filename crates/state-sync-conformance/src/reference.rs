//! The reference transports of `state-sync-transports`, as the kit runs
//! them: what it checks itself against, and examples of a [`Transport`]
//! built from a [`Backend`](state_sync_transports::Backend).

use std::ffi::OsString;
use std::process::Command;

use state_sync_transports::{channel, ipc, memory, tauri_mock};

use crate::capabilities::Capabilities;
use crate::spec::Capability;
use crate::transport::Transport;

/// The in-memory transport: synchronous delivery in subscription order.
pub fn memory() -> Transport {
    Transport::new("memory", memory::Bus::new).with_capabilities(Capabilities::all())
}

/// The tokio channel transport with the default buffers: asynchronous
/// delivery.
pub fn channel() -> Transport {
    channel_with(channel::ChannelConfig::default())
}

/// The tokio channel transport with custom buffer sizes. Its buffers are
/// bounded and shed (keeping the newest payload per topic), so it does not
/// claim `exactly-once`.
pub fn channel_with(config: channel::ChannelConfig) -> Transport {
    Transport::new("channel", move || channel::Bus::with_config(config)).with_capabilities(
        Capabilities::all()
            .without(Capability::SynchronousDelivery)
            .without(Capability::ExactlyOnce),
    )
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

/// The IPC transport with the backend in this process: a Unix domain
/// socket (TCP on loopback where there are none), JSON lines, I/O on a
/// thread of its own. Delivery is asynchronous.
pub fn ipc() -> Transport {
    ipc_with(ipc::IpcConfig::default())
}

/// What the IPC transport claims: asynchronous delivery, and a slow reader
/// sheds (and a reconnecting one is sent its topic's newest payload
/// again), so not `exactly-once`.
fn ipc_capabilities() -> Capabilities {
    Capabilities::all()
        .without(Capability::SynchronousDelivery)
        .without(Capability::ExactlyOnce)
}

/// The IPC transport with custom limits.
pub fn ipc_with(config: ipc::IpcConfig) -> Transport {
    Transport::try_new("ipc", move || ipc::Server::with_config(config))
        .with_capabilities(ipc_capabilities())
}

/// The IPC transport with the backend in a child process: `program` with
/// `args`, whose `main` calls [`ipc::serve_stdio`] (the kit's own binary
/// does, as `state-sync-conformance ipc-backend`). A child that exits
/// during a case makes it `error`, with the exit status. It claims
/// `restarts`: `restart_transport` kills the child and starts it again
/// ([`ipc::ChildBackend`]'s `Backend::restart`).
pub fn ipc_child(program: impl Into<OsString>, args: &[&str]) -> Transport {
    let program: OsString = program.into();
    let args: Vec<OsString> = args.iter().map(OsString::from).collect();
    Transport::try_new("ipc-child", move || {
        let mut command = Command::new(&program);
        command.args(&args);
        ipc::ChildBackend::spawn(command)
    })
    .with_capabilities(ipc_capabilities().with(Capability::Restarts))
}

/// The in-process reference transports: memory, channel, tauri-mock, ipc.
pub fn all() -> Vec<Transport> {
    vec![memory(), channel(), tauri_mock(), ipc()]
}
