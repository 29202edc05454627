//! The backend process of `state_sync_transports::ipc::ChildBackend`: an
//! IPC server controlled over standard input and output.

fn main() -> std::io::Result<()> {
    state_sync_transports::ipc::serve_stdio()
}
