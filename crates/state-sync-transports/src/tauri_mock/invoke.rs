//! Commands in use: registering one on the app, and JavaScript's
//! `invoke` from a webview.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use serde::Serialize;
use serde_json::Value;
use state_sync::ports::panic_message;
use tokio::sync::oneshot;

use super::app::{MockApp, hop};
use super::command::{CommandArgs, CommandFn, InvokeError};
use super::config::CommandExecution;
use super::webview::Webview;
use super::wire::parse;

impl MockApp {
    /// Registers (or replaces) the command `name`. The handler is async; its
    /// `Ok` value is serialized to JSON and its error becomes the rejection
    /// value ([`InvokeError`]).
    ///
    /// ```
    /// use serde_json::json;
    /// use state_sync_transports::tauri_mock::{CommandArgs, InvokeError, MockApp};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let app = MockApp::default();
    /// app.register_command("greet", |args: CommandArgs| async move {
    ///     let name: String = args.get("user_name")?;
    ///     Ok::<_, InvokeError>(format!("hello {name}"))
    /// });
    /// let main = app.webview("main");
    /// assert_eq!(main.invoke("greet", json!({"userName": "ada"})).await, Ok(json!("hello ada")));
    /// assert_eq!(
    ///     main.invoke("nope", json!({})).await,
    ///     Err(InvokeError(json!("Command nope not found")))
    /// );
    /// # }
    /// ```
    pub fn register_command<F, Fut, R>(&self, name: impl Into<String>, handler: F)
    where
        F: Fn(CommandArgs) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, InvokeError>> + Send + 'static,
        R: Serialize,
    {
        let command: CommandFn = Arc::new(move |args| {
            let running = handler(args);
            Box::pin(async move {
                let value = running.await?;
                serde_json::to_string(&value).map_err(|e| InvokeError(Value::String(e.to_string())))
            })
        });
        self.inner.commands.lock().insert(name.into(), command);
    }

    /// Removes the command `name`; later invokes get "not found".
    pub fn remove_command(&self, name: &str) {
        self.inner.commands.lock().remove(name);
    }
}

impl Webview {
    /// JavaScript's `invoke(command, args)`.
    ///
    /// The arguments go to the core as JSON text (one IPC hop), the command
    /// runs on its own task — concurrently with other calls, or one at a
    /// time under [`CommandExecution::Serial`] — and its result or error
    /// comes back as JSON text (another hop), parsed in the mock's
    /// [`NumberMode`](super::NumberMode).
    ///
    /// Rejections: `Command <name> not found` for an unknown command; the
    /// argument errors of [`CommandArgs::get`]; the command's own error
    /// value. A command that panics rejects with `command <name> panicked:
    /// <message>` (real Tauri would leave the promise pending forever).
    /// Dropping the returned future does not stop a command that has begun.
    pub async fn invoke(&self, command: &str, args: Value) -> Result<Value, InvokeError> {
        let inner = self.app.inner.clone();
        let latency = inner.config.ipc_latency;
        let mode = inner.config.number_mode;
        let request = serde_json::to_string(&args).map_err(InvokeError::from_error)?;
        hop(latency).await;

        // In the core.
        let handler = inner.commands.lock().get(command).cloned();
        let outcome = match handler {
            None => Err(InvokeError(Value::String(format!(
                "Command {command} not found"
            )))),
            Some(handler) => {
                let body = serde_json::from_str(&request).map_err(InvokeError::from_error)?;
                let args = CommandArgs::new(command, body, inner.config.arg_case);
                let serial = match inner.config.command_execution {
                    CommandExecution::Concurrent => None,
                    CommandExecution::Serial => Some(inner.serial.clone()),
                };
                let (reply, answer) = oneshot::channel();
                let name = command.to_owned();
                tokio::spawn(async move {
                    let _turn = match serial {
                        Some(gate) => Some(gate.lock_owned().await),
                        None => None,
                    };
                    let outcome = AssertUnwindSafe(async move { handler(args).await })
                        .catch_unwind()
                        .await
                        .unwrap_or_else(|panic| {
                            Err(InvokeError(Value::String(format!(
                                "command {name} panicked: {}",
                                panic_message(panic.as_ref())
                            ))))
                        });
                    let _ = reply.send(outcome);
                });
                answer.await.unwrap_or_else(|_| {
                    Err(InvokeError(Value::String(format!(
                        "command {command} was dropped before it answered"
                    ))))
                })
            }
        };
        // Back to the webview, as JSON text.
        let outcome = outcome
            .map_err(|error| serde_json::to_string(&error.0).unwrap_or_else(|e| format!("{e:?}")));
        hop(latency).await;
        match outcome {
            Ok(text) => parse(&text, mode).map_err(InvokeError::from_error),
            Err(text) => Err(InvokeError(
                parse(&text, mode).unwrap_or(Value::String(text)),
            )),
        }
    }
}
