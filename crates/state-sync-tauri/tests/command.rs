//! The snapshot command and the invalidation event as a webview sees them,
//! on Tauri's `MockRuntime`.

mod support;

use serde_json::{Value, json};
use state_sync::{InvalidationSubscriber, Payload, SnapshotProvider};
use state_sync_tauri::{BuilderExt, DEFAULT_EVENT, Error, StateSync, StateSyncExt};
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
    let app = app(StateSync::new()
        .topic("settings", json!({}))
        .topic("other", json!({})));
    let window = webview(&app);
    let cases = [
        (
            json!({"topic": 42}),
            "invalid args `topic` for command `get_snapshot`: invalid type: integer `42`, expected a string",
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

/// The adapter wired without `args` (as the original project's own tests
/// do): an app with one topic serves it.
#[test]
fn the_default_command_without_args_serves_the_only_topic() {
    let app = app(StateSync::new().topic("settings", json!({"theme": "light"})));
    let window = webview(&app);
    for args in [json!({}), json!(null), json!({"Topic": "settings"})] {
        assert_eq!(
            invoke(&window, "get_snapshot", args.clone()),
            Ok(json!({"revision": "0", "data": {"theme": "light"}})),
            "{args}"
        );
    }
}

/// With several topics a request without `topic` cannot be answered: the
/// rejection names the topics and both fixes.
#[test]
fn the_default_command_without_args_names_the_fix_when_there_are_several_topics() {
    let app = app(StateSync::new()
        .topic("settings", json!({}))
        .topic("session", json!({})));
    let window = webview(&app);
    assert_eq!(
        invoke(&window, "get_snapshot", json!({})),
        Err(json!(
            "command `get_snapshot` was called without `topic`, and this app serves 2 topics (\"session\", \"settings\"): pass `args: {topic}` to the adapter's provider, or give each topic a command of its own (`StateSync::topic_command`)"
        ))
    );
    let own_source = self::app(StateSync::with_source(state_sync_tauri::Topics::default()));
    let window = webview(&own_source);
    let Err(Value::String(why)) = invoke(&window, "get_snapshot", json!({})) else {
        panic!("a request without topic is rejected");
    };
    assert!(why.contains("does not list its topics"), "{why}");
}

/// Every payload heard on `event` by a Rust listener (what a webview's
/// `listen(event)` receives), parsed.
fn heard_on(app: &App<MockRuntime>, event: &str) -> std::sync::Arc<parking_lot::Mutex<Vec<Value>>> {
    use tauri::Listener;
    let heard = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
    let sink = heard.clone();
    app.listen_any(event, move |e| {
        sink.lock()
            .push(serde_json::from_str(e.payload()).expect("JSON"));
    });
    heard
}

/// The docs site's wiring: `eventName: 'settings:invalidated'`,
/// `commandName: 'get_settings'`, no `args`.
#[test]
fn a_topic_with_names_of_its_own_syncs_without_args() {
    let sync = StateSync::new()
        .topic("settings", json!({"theme": "light"}))
        .topic_event("settings", "settings:invalidated")
        .and_then(|s| s.topic_command("settings", "get_settings"))
        .expect("legal names");
    let app = app(sync);
    let window = webview(&app);
    let (own, shared) = (
        heard_on(&app, "settings:invalidated"),
        heard_on(&app, DEFAULT_EVENT),
    );
    assert_eq!(
        invoke(&window, "get_settings", json!({})),
        Ok(json!({"revision": "0", "data": {"theme": "light"}}))
    );
    app.set_topic("settings", json!({"theme": "dark"}))
        .expect("set");
    let event = json!({"topic": "settings", "revision": "1"});
    assert_eq!(
        *own.lock(),
        std::slice::from_ref(&event),
        "on its own event"
    );
    assert_eq!(
        *shared.lock(),
        [event],
        "and on the app's, for windows wired that way"
    );
    for args in [json!({}), json!(null), json!({"topic": "settings"})] {
        assert_eq!(
            invoke(&window, "get_settings", args.clone()),
            Ok(json!({"revision": "1", "data": {"theme": "dark"}})),
            "{args}"
        );
    }
    assert_eq!(
        invoke(&window, "get_snapshot", json!({"topic": "settings"})),
        Ok(json!({"revision": "1", "data": {"theme": "dark"}})),
        "the app's command still serves it"
    );
    assert_eq!(
        invoke(&window, "get_settings", json!({"topic": "session"})),
        Err(json!(
            "command `get_settings` serves topic \"settings\", not \"session\": leave its `args` out"
        ))
    );
}

#[test]
fn several_topics_each_with_their_own_names() {
    let sync = StateSync::new()
        .topic("settings", json!(1))
        .topic("session", json!(2))
        .topic_event("settings", "settings:invalidated")
        .and_then(|s| s.topic_command("settings", "get_settings"))
        .and_then(|s| s.topic_event("session", "session:invalidated"))
        .and_then(|s| s.topic_command("session", "get_session"))
        .expect("legal names");
    let app = app(sync);
    let window = webview(&app);
    let (settings, session) = (
        heard_on(&app, "settings:invalidated"),
        heard_on(&app, "session:invalidated"),
    );
    app.set_topic("settings", json!(10)).expect("set");
    app.set_topic("session", json!(20)).expect("set");
    assert_eq!(
        *settings.lock(),
        [json!({"topic": "settings", "revision": "1"})]
    );
    assert_eq!(
        *session.lock(),
        [json!({"topic": "session", "revision": "1"})]
    );
    assert_eq!(
        invoke(&window, "get_settings", json!({})),
        Ok(json!({"revision": "1", "data": 10}))
    );
    assert_eq!(
        invoke(&window, "get_session", json!({})),
        Ok(json!({"revision": "1", "data": 20}))
    );
    assert_eq!(
        invoke(&window, "get_snapshot", json!({"topic": "session"})),
        Ok(json!({"revision": "1", "data": 20}))
    );
}

#[test]
fn a_topics_names_are_checked_and_never_shared() {
    let taken = |r: Result<StateSync, Error>| match r {
        Err(e @ Error::NameTaken { .. }) => e.to_string(),
        Err(other) => panic!("another error: {other}"),
        Ok(_) => panic!("accepted"),
    };
    let sync = || StateSync::new().topic_command("a", "get_a").expect("legal");
    assert_eq!(
        taken(sync().topic_command("b", "get_a")),
        "command name \"get_a\" is taken: it is the snapshot command of topic \"a\""
    );
    assert_eq!(
        taken(sync().topic_command("b", "get_snapshot")),
        "command name \"get_snapshot\" is taken: it is the app's snapshot command"
    );
    assert!(taken(sync().command_name("get_a")).contains("topic \"a\""));
    assert!(
        sync().topic_command("a", "get_a").is_ok(),
        "renaming to itself"
    );
    assert!(matches!(
        StateSync::new().topic_event("a", "a.changed"),
        Err(Error::InvalidName { what: "event", .. })
    ));
    assert!(matches!(
        StateSync::new().topic_command("a", "plugin:x|get_a"),
        Err(Error::InvalidName {
            what: "command",
            ..
        })
    ));
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
