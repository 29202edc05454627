//! Commands: what a command is, its arguments and its errors. Registering
//! and invoking one is in `invoke.rs`.

use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde::Serialize;
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde_json::Value;
use state_sync::PortError;

use super::config::ArgCase;
use super::wire::camel_case;

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
    /// The arguments `body` of a call of `command`, read with `case`.
    pub(super) fn new(command: &str, body: Value, case: ArgCase) -> Self {
        Self {
            command: command.into(),
            body,
            case,
        }
    }

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

impl InvokeError {
    /// A JSON error, as its text.
    pub(super) fn from_error(error: serde_json::Error) -> Self {
        Self(Value::String(error.to_string()))
    }
}
