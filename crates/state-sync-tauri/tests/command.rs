//! The snapshot command and the invalidation event as a webview sees them,
//! on Tauri's `MockRuntime`.

mod support;

use serde_json::{Value, json};
use state_sync::{InvalidationSubscriber, Payload, SnapshotProvider};
use state_sync_tauri::{BuilderExt, Error, StateSync, StateSyncExt};
use tauri::test::{MockRuntime, mock_builder, mock_context, noop_assets};
use tauri::{App, Manager, WebviewUrl, WebviewWindow, WebviewWindowBuilder};

fn app(sync: StateSync) -> App<MockRuntime> {
    mock_builder()
        .state_sync(sync)
        .build(mock_context(noop_assets()))
        .expect("the app builds")
}

fn webview(app: &App<MockRuntime>) -> WebviewWindow<MockRuntime> {
    WebviewWindowBuilder::new(app, "main", WebviewUrl::default())
        .build()
        .expect("a webview window")
}

fn invoke(
    webview: &WebviewWindow<MockRuntime>,
    command: &str,
    args: Value,
) -> Result<Value, Value> {
    futures::executor::block_on(support::invoke(webview, command, args)).expect("an answer")
}

#[test]
fn a_webview_gets_the_snapshot_with_its_revision_as_a_string() {
    let app = app(StateSync::new().topic("settings", json!({"theme": "light"})));
    let window = webview(&app);
    assert_eq!(
        invoke(&window, "get_snapshot", json!({"topic": "settings"})),
        Ok(json!({"revision": "0", "data": {"theme": "light"}}))
    );
    app.update_topic("settings", |d| d["theme"] = json!("dark"))
        .expect("update");
    assert_eq!(
        invoke(&window, "get_snapshot", json!({"topic": "settings"})),
        Ok(json!({"revision": "1", "data": {"theme": "dark"}}))
    );
}

#[test]
fn wrong_arguments_get_tauris_own_error_text() {
    let app = app(StateSync::new().topic("settings", json!({})));
    let window = webview(&app);
    let cases = [
        (
            json!({}),
            "invalid args `topic` for command `get_snapshot`: command get_snapshot missing required key topic",
        ),
        (
            json!({"topic": 42}),
            "invalid args `topic` for command `get_snapshot`: invalid type: integer `42`, expected a string",
        ),
        (
            json!({"Topic": "settings"}),
            "invalid args `topic` for command `get_snapshot`: command get_snapshot missing required key topic",
        ),
        (
            json!("settings"),
            "invalid args `topic` for command `get_snapshot`: command get_snapshot missing required key topic",
        ),
    ];
    for (args, text) in cases {
        assert_eq!(
            invoke(&window, "get_snapshot", args.clone()),
            Err(json!(text)),
            "{args}"
        );
    }
    assert_eq!(
        invoke(&window, "get_snapshot", json!({"topic": "nope"})),
        Err(json!("unknown topic \"nope\""))
    );
    assert_eq!(
        invoke(&window, "no_such_cmd", json!({})),
        Err(json!("Command no_such_cmd not found"))
    );
}

#[test]
fn the_names_are_configurable_and_checked() {
    let sync = StateSync::new()
        .topic("t", json!(1))
        .event_name("app:changed")
        .and_then(|s| s.command_name("fetch_snapshot"))
        .expect("legal names");
    let app = app(sync);
    let window = webview(&app);
    assert_eq!(
        invoke(&window, "fetch_snapshot", json!({"topic": "t"})),
        Ok(json!({"revision": "0", "data": 1}))
    );
    assert_eq!(
        invoke(&window, "get_snapshot", json!({"topic": "t"})),
        Err(json!("Command get_snapshot not found"))
    );
    let error = StateSync::new().event_name("state-sync.invalidated").err();
    assert_eq!(
        error.map(|e| e.to_string()).as_deref(),
        Some(
            "invalid event name \"state-sync.invalidated\": expected alphanumeric characters, `-`, `/`, `:` and `_` only"
        )
    );
    assert!(StateSync::new().command_name("plugin:x|y").is_err());
}

#[test]
fn the_apps_own_commands_still_answer() {
    mod commands {
        #[tauri::command]
        pub fn greet(name: String) -> String {
            format!("hello, {name}")
        }
    }
    let app = mock_builder()
        .state_sync_and(
            StateSync::new().topic("t", json!(null)),
            tauri::generate_handler![commands::greet],
        )
        .build(mock_context(noop_assets()))
        .expect("the app builds");
    let window = webview(&app);
    assert_eq!(
        invoke(&window, "greet", json!({"name": "ada"})),
        Ok(json!("hello, ada"))
    );
    assert_eq!(
        invoke(&window, "get_snapshot", json!({"topic": "t"})),
        Ok(json!({"revision": "0", "data": null}))
    );
}

#[test]
fn rust_ends_hear_the_invalidation_as_text_and_read_the_same_source() {
    let app = app(StateSync::new().topic("settings", json!({"n": 0})));
    let (subscriber, provider) = app.window_ends("settings").expect("registered");
    let heard = std::sync::Arc::new(parking_lot::Mutex::new(Vec::<String>::new()));
    let sink = heard.clone();
    let subscription = futures::executor::block_on(subscriber.subscribe_payloads(
        std::sync::Arc::new(move |payload: Payload<'_>| {
            if let Payload::Text(text) = payload {
                sink.lock().push(text.to_owned());
            }
        }),
    ))
    .expect("subscribed");
    assert_eq!(app.rust_listeners().ok(), Some(1));
    let event = app.set_topic("settings", json!({"n": 1})).expect("set");
    assert_eq!(event.revision.get(), 1);
    let texts = heard.lock().clone();
    let parsed: Vec<Value> = texts
        .iter()
        .map(|t| serde_json::from_str(t).expect("JSON text"))
        .collect();
    assert_eq!(parsed, [json!({"topic": "settings", "revision": "1"})]);
    assert_eq!(
        futures::executor::block_on(provider.get_snapshot()).ok(),
        Some(json!({"revision": "1", "data": {"n": 1}}))
    );
    subscription.unsubscribe();
    assert_eq!(app.rust_listeners().ok(), Some(0));
    app.set_topic("settings", json!({"n": 2})).expect("set");
    assert_eq!(heard.lock().len(), 1, "nothing after unsubscribe");
}

#[test]
fn an_app_without_state_sync_says_so() {
    let app = mock_builder()
        .build(mock_context(noop_assets()))
        .expect("the app builds");
    assert!(matches!(
        app.update_topic("t", |_| {}),
        Err(Error::NotRegistered)
    ));
    assert!(app.handle().try_state::<()>().is_none());
    let app = self::app(StateSync::new());
    assert!(matches!(
        app.update_topic("missing", |_| {}),
        Err(Error::UnknownTopic(t)) if t == "missing"
    ));
}
