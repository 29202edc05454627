//! The snapshot command, answered the way a `#[tauri::command]` taking
//! `topic: String` would be: the same argument errors, word for word,
//! because the argument goes through Tauri's own `CommandArg`.

use tauri::ipc::{CommandArg, CommandItem, Invoke, InvokeError};
use tauri::{Manager, Runtime};

use crate::sync::Shared;

/// Answers `invoke` if it is the snapshot command of the app's
/// [`StateSync`](crate::StateSync); `false` (not handled) otherwise.
pub(crate) fn handle<R: Runtime>(invoke: Invoke<R>) -> bool {
    let Some(shared) = invoke.message.webview_ref().try_state::<Shared>() else {
        return false;
    };
    let name = shared.names.command;
    if invoke.message.command() != name {
        return false;
    }
    let item = CommandItem {
        plugin: None,
        name,
        key: "topic",
        message: &invoke.message,
        acl: &invoke.acl,
    };
    let topic = match String::from_command(item) {
        Ok(topic) => topic,
        Err(error) => {
            invoke.resolver.reject(error.0);
            return true;
        }
    };
    let answer = shared.source.snapshot(&topic);
    invoke
        .resolver
        .respond_async(async move { answer.await.map_err(InvokeError) });
    true
}
