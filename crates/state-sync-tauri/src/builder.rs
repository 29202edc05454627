//! Registering state-sync on a Tauri app in one line.

use tauri::ipc::Invoke;
use tauri::{Builder, Runtime};

use crate::command;
use crate::sync::StateSync;

/// Registers state-sync on a [`tauri::Builder`].
///
/// ```
/// use serde_json::json;
/// use state_sync_tauri::{BuilderExt, StateSync};
///
/// let app = tauri::test::mock_builder()
///     .state_sync(StateSync::new().topic("settings", json!({"theme": "light"})))
///     .build(tauri::test::mock_context(tauri::test::noop_assets()))
///     .expect("the app builds");
/// # drop(app);
/// ```
pub trait BuilderExt<R: Runtime>: Sized {
    /// Manages `sync` and answers its snapshot command. This sets the app's
    /// invoke handler: an app with commands of its own registers them with
    /// [`state_sync_and`](Self::state_sync_and) instead.
    fn state_sync(self, sync: StateSync) -> Self;

    /// [`state_sync`](Self::state_sync), with the app's own commands
    /// (`tauri::generate_handler![…]`) answering every other invoke.
    ///
    /// ```
    /// use state_sync_tauri::{BuilderExt, StateSync};
    ///
    /// mod commands {
    ///     #[tauri::command]
    ///     pub fn greet(name: String) -> String {
    ///         format!("hello, {name}")
    ///     }
    /// }
    ///
    /// let builder = tauri::test::mock_builder()
    ///     .state_sync_and(StateSync::new(), tauri::generate_handler![commands::greet]);
    /// # drop(builder);
    /// ```
    fn state_sync_and<F>(self, sync: StateSync, commands: F) -> Self
    where
        F: Fn(Invoke<R>) -> bool + Send + Sync + 'static;
}

impl<R: Runtime> BuilderExt<R> for Builder<R> {
    fn state_sync(self, sync: StateSync) -> Self {
        self.state_sync_and(sync, |_| false)
    }

    fn state_sync_and<F>(self, sync: StateSync, commands: F) -> Self
    where
        F: Fn(Invoke<R>) -> bool + Send + Sync + 'static,
    {
        let names = sync.names.clone();
        self.manage(sync.into_shared())
            .invoke_handler(move |invoke: Invoke<R>| {
                if names.is_command(invoke.message.command()) {
                    command::handle(invoke)
                } else {
                    commands(invoke)
                }
            })
    }
}
