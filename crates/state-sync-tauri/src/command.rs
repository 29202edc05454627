//! The snapshot commands: the app's, answered the way a
//! `#[tauri::command]` taking `topic: String` would be — the same argument
//! errors, word for word, because the argument goes through Tauri's own
//! `CommandArg` — and each topic's own, which take no arguments.

use serde_json::Value;
use tauri::ipc::{CommandArg, CommandItem, Invoke, InvokeBody, InvokeError};
use tauri::{Manager, Runtime};

use crate::sync::Shared;

/// Answers `invoke` if it is one of the snapshot commands of the app's
/// [`StateSync`](crate::StateSync); `false` (not handled) otherwise.
pub(crate) fn handle<R: Runtime>(invoke: Invoke<R>) -> bool {
    let Some(shared) = invoke.message.webview_ref().try_state::<Shared>() else {
        return false;
    };
    let command = invoke.message.command();
    if !shared.names.is_command(command) {
        return false;
    }
    let topic = match topic_of(&invoke, &shared) {
        Ok(topic) => topic,
        Err(error) => {
            invoke.resolver.reject(error);
            return true;
        }
    };
    let answer = shared.source.snapshot(&topic);
    invoke
        .resolver
        .respond_async(async move { answer.await.map_err(InvokeError) });
    true
}

/// What a request's arguments say of the topic.
enum Asked<'a> {
    /// No `topic`: `{}`, `{"other": …}` or no arguments at all.
    Nothing,
    /// `{"topic": …}`.
    Topic(&'a Value),
    /// A body that is not an object of arguments.
    Other,
}

/// The topic a snapshot request asks for, or the value it is rejected
/// with.
fn topic_of<R: Runtime>(invoke: &Invoke<R>, shared: &Shared) -> Result<String, Value> {
    let command = invoke.message.command();
    let asked = match invoke.message.payload() {
        InvokeBody::Json(Value::Object(args)) => {
            args.get("topic").map_or(Asked::Nothing, Asked::Topic)
        }
        InvokeBody::Json(Value::Null) => Asked::Nothing,
        _ => Asked::Other,
    };
    // A topic's own command: its name says the topic.
    if let Some(own) = shared.names.topic_of_command(command) {
        return match asked {
            Asked::Topic(t) if t.as_str() != Some(own) => Err(Value::String(format!(
                "command `{command}` serves topic {own:?}, not {t}: leave its `args` out"
            ))),
            _ => Ok(own.to_owned()),
        };
    }
    // The app's command called without `topic`: the one topic the app
    // has, if it has one.
    if matches!(asked, Asked::Nothing) {
        let known = shared.known_topics();
        if let [only] = known.as_slice() {
            return Ok(only.clone());
        }
        return Err(Value::String(without_topic(command, &known)));
    }
    let item = CommandItem {
        plugin: None,
        name: shared.names.command,
        key: "topic",
        message: &invoke.message,
        acl: &invoke.acl,
    };
    String::from_command(item).map_err(|error| error.0)
}

/// Why the app's command cannot answer a request without `topic`.
fn without_topic(command: &str, known: &[String]) -> String {
    let serves = if known.is_empty() {
        "this app does not list its topics (it serves them from its own source)".to_owned()
    } else {
        format!(
            "this app serves {} topics ({})",
            known.len(),
            known
                .iter()
                .map(|t| format!("{t:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    format!(
        "command `{command}` was called without `topic`, and {serves}: pass `args: {{topic}}` to the adapter's provider, or give each topic a command of its own (`StateSync::topic_command`)"
    )
}
