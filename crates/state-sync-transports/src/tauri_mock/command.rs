//! Commands: registration, arguments, `invoke`.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde::Serialize;
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde_json::Value;
use state_sync::PortError;
use tokio::sync::oneshot;

use super::app::{MockApp, hop};
use super::config::{ArgCase, CommandExecution};
use super::webview::Webview;
use super::wire::{camel_case, parse};
use state_sync::ports::panic_message;

pub(crate) type CommandFn =
    Arc<dyn Fn(CommandArgs) -> BoxFuture<'static, Result<String, InvokeError>> + Send + Sync>;

/// What an `invoke` rejects with: the JSON value the JavaScript promise
/// rejects with.
///
/// A command's error of any `Serialize` type converts into it (`?` works),
/// becoming its serialized value: a string error stays a string, a struct
/// becomes an object, as in Tauri.
///
/// ```
/// use serde_json::json;
/// use state_sync_transports::tauri_mock::InvokeError;
///
/// #[derive(serde::Serialize)]
/// struct Busy { retry_ms: u32 }
///
/// assert_eq!(InvokeError::from("locked").0, json!("locked"));
/// assert_eq!(InvokeError::from(Busy { retry_ms: 5 }).0, json!({"retry_ms": 5}));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct InvokeError(pub Value);

impl<T: Serialize> From<T> for InvokeError {
    fn from(error: T) -> Self {
        Self(serde_json::to_value(error).unwrap_or_else(|e| Value::String(e.to_string())))
    }
}

impl InvokeError {
    /// The rejection value.
    pub fn value(&self) -> &Value {
        &self.0
    }

    /// A [`PortError`] carrying the rejection value (a string becomes the
    /// message as is).
    pub fn into_port_error(self) -> PortError {
        PortError::from_json(self.0)
    }

    /// The value a command rejects with for `error`: its JSON detail when it
    /// has one, else its message as a string.
    pub fn from_port_error(error: &PortError) -> Self {
        Self(
            error
                .detail()
                .cloned()
                .unwrap_or_else(|| Value::String(error.message().to_owned())),
        )
    }
}

impl fmt::Display for InvokeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Value::String(s) => f.write_str(s),
            other => write!(f, "{other}"),
        }
    }
}

impl std::error::Error for InvokeError {}

/// The arguments of one command call, read the way Tauri's generated
/// command wrapper reads them.
#[derive(Debug, Clone)]
pub struct CommandArgs {
    command: Arc<str>,
    body: Value,
    case: ArgCase,
}

impl CommandArgs {
    /// The command's name.
    pub fn command(&self) -> &str {
        &self.command
    }

    /// The whole argument body as it arrived.
    pub fn body(&self) -> &Value {
        &self.body
    }

    /// The argument the Rust command declares as `name` (snake_case), read
    /// from its wire key (`windowLabel` for `window_label` under
    /// [`ArgCase::Camel`]).
    ///
    /// Errors are Tauri's, word for word:
    ///
    /// * missing key (or a body that is not an object):
    ///   ``invalid args `topic` for command `get_snapshot`: command get_snapshot missing required key topic``;
    /// * wrong type:
    ///   ``invalid args `topic` for command `get_snapshot`: invalid type: integer `42`, expected a string``.
    ///
    /// An `Option<T>` argument whose key is missing is `None`, so a
    /// snake_case key sent for a camelCase argument is silently ignored.
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<T, InvokeError> {
        let key = match self.case {
            ArgCase::Camel => camel_case(name),
            ArgCase::Snake => name.to_owned(),
        };
        let outcome = match self.body.get(&key) {
            Some(value) => T::deserialize(value),
            None => T::deserialize(Missing {
                command: &self.command,
                key: &key,
            }),
        };
        outcome.map_err(|e| {
            InvokeError(Value::String(format!(
                "invalid args `{key}` for command `{}`: {e}",
                self.command
            )))
        })
    }
}

/// Deserializes an absent key: `None` for an `Option`, else Tauri's
/// "missing required key" error.
struct Missing<'a> {
    command: &'a str,
    key: &'a str,
}

impl<'de> Deserializer<'de> for Missing<'_> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom(format!(
            "command {} missing required key {}",
            self.command, self.key
        )))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_none()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

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
                let args = CommandArgs {
                    command: command.into(),
                    body,
                    case: inner.config.arg_case,
                };
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

impl InvokeError {
    fn from_error(error: serde_json::Error) -> Self {
        Self(Value::String(error.to_string()))
    }
}
