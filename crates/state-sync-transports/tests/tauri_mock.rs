//! Tests of the Tauri v2 IPC mock: one per behaviour, switch and error
//! message, then the state-sync ends and end-to-end convergence.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::{Engine, Recorder};
use parking_lot::Mutex;
use serde_json::{Value, json};
use state_sync::{InvalidationSubscriber, Phase, PortError, Revision, SnapshotProvider, SyncError};
use state_sync_transports::tauri_mock::{
    ArgCase, Bus, CommandArgs, CommandExecution, EventTarget, InvokeError, JsEvent, ListenerOrder,
    MockApp, NumberMode, SNAPSHOT_COMMAND, TauriError, TauriMockConfig,
};
use state_sync_transports::{Backend, SnapshotHandler, WindowEnds};

fn config(change: impl FnOnce(&mut TauriMockConfig)) -> TauriMockConfig {
    let mut config = TauriMockConfig::default();
    change(&mut config);
    config
}

/// Collects what Rust listeners receive, tagged.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, entry: impl Into<String>) {
        self.0.lock().push(entry.into());
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock())
    }
}

fn js_recorder() -> (Recorder, impl Fn(JsEvent) + Send + Sync + 'static) {
    let recorder = Recorder::default();
    let handler = recorder.handler();
    (recorder, move |e: JsEvent| handler(&e.payload))
}

// ---------------------------------------------------------------- names

#[test]
fn event_names_follow_tauri_rules() {
    let app = MockApp::default();
    for legal in [
        "state-sync:invalidation",
        "a/b_c-d:e",
        "état",
        "数据",
        "x1",
        "",
    ] {
        assert_eq!(app.emit(legal, &1), Ok(()), "{legal:?}");
        let id = app.listen(legal, EventTarget::Any, |_| {}).expect("legal");
        app.unlisten(id);
    }
    for illegal in [
        "state-sync.invalidated",
        "a b",
        "a\r",
        "a*",
        "tab\t",
        "emoji😀",
    ] {
        let expected = TauriError::IllegalEventName(illegal.to_owned());
        assert_eq!(app.emit(illegal, &1), Err(expected.clone()));
        assert_eq!(app.emit_to("main", illegal, &1), Err(expected.clone()));
        assert_eq!(
            app.listen(illegal, EventTarget::Any, |_| {}).err(),
            Some(expected)
        );
    }
    assert_eq!(
        app.emit("state-sync.invalidated", &1)
            .expect_err("illegal")
            .to_string(),
        r#"only alphanumeric, '-', '/', ':', '_' permitted for event names: "state-sync.invalidated""#
    );
    assert_eq!(app.listener_count(), 0);
    assert!(matches!(
        Bus::on_app(app, "state-sync.invalidated", SNAPSHOT_COMMAND),
        Err(TauriError::IllegalEventName(_))
    ));
}

#[tokio::test(start_paused = true)]
async fn a_webview_listen_on_an_illegal_name_is_rejected() {
    let app = MockApp::default();
    let outcome = app
        .webview("main")
        .listen("a.b", EventTarget::Any, |_| {})
        .await;
    assert_eq!(
        outcome.err(),
        Some(TauriError::IllegalEventName("a.b".into()))
    );
    assert_eq!(app.listener_count(), 0);
}

// ------------------------------------------------------------- payloads

#[tokio::test(start_paused = true)]
async fn payloads_are_json_text_at_emit_and_parsed_at_delivery() {
    let app = MockApp::default();
    let log = Log::default();
    let sink = log.clone();
    app.listen("e", EventTarget::App, move |e| sink.push(e.payload()))
        .expect("listen");
    let (recorder, handler) = js_recorder();
    let _js = app
        .webview("main")
        .listen("e", EventTarget::Any, handler)
        .await
        .expect("listen");

    #[derive(serde::Serialize)]
    struct Payload {
        #[serde(rename = "camelCase")]
        camel: Vec<u8>,
        none: Option<u8>,
    }
    app.emit(
        "e",
        &Payload {
            camel: vec![1, 2],
            none: None,
        },
    )
    .expect("emit");
    assert_eq!(log.take(), [r#"{"camelCase":[1,2],"none":null}"#]);
    assert_eq!(
        recorder.seen(),
        [json!({"camelCase": [1, 2], "none": null})]
    );

    // Serialization happens at emit, so its failure is the emitter's error.
    let mut bad = BTreeMap::new();
    bad.insert(vec![1u8], 1u8);
    assert!(matches!(app.emit("e", &bad), Err(TauriError::Serialize(_))));
    assert_eq!(recorder.seen().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn number_mode_switch() {
    let big = json!({"big": 9_007_199_254_740_993_u64, "float": 1.0, "neg": -5});
    for (mode, expected) in [
        (NumberMode::Exact, big.clone()),
        (
            NumberMode::JavaScript,
            json!({"big": 9_007_199_254_740_992_u64, "float": 1, "neg": -5}),
        ),
    ] {
        let bus = Bus::with_config(config(|c| c.number_mode = mode));
        let (recorder, handler) = js_recorder();
        let _js = bus
            .app()
            .webview("main")
            .listen(bus.event_name(), EventTarget::Any, handler)
            .await
            .expect("listen");
        bus.emit(&big);
        assert_eq!(recorder.seen(), std::slice::from_ref(&expected), "{mode:?}");

        // Command results cross the same way.
        let answer = big.clone();
        bus.app().register_command("big", move |_: CommandArgs| {
            let answer = answer.clone();
            async move { Ok::<_, InvokeError>(answer) }
        });
        let got = bus.app().webview("main").invoke("big", json!({})).await;
        assert_eq!(got, Ok(expected), "{mode:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn revisions_survive_javascript_numbers() {
    let bus = Bus::with_config(config(|c| c.number_mode = NumberMode::JavaScript));
    bus.serve(SnapshotHandler::new(|_| async {
        Ok(json!({"revision": "9007199254740993", "data": {"big": 9_007_199_254_740_993_u64}}))
    }));
    let engine = Engine::new("t", WindowEnds::of(bus.window("t")));
    engine.sync.start().await.expect("start");
    // The revision travels as a string and stays exact; the number in the
    // data was rounded, as in a webview.
    assert_eq!(engine.revision(), Revision::new(9_007_199_254_740_993));
    assert_eq!(
        engine.applier.state(),
        json!({"big": 9_007_199_254_740_992_u64})
    );
}

// -------------------------------------------------------------- targets

#[test]
fn targets_follow_tauri_rules() {
    let app = MockApp::new(config(|c| c.listener_order = ListenerOrder::Registration));
    let log = Log::default();
    let listeners = [
        ("any", EventTarget::Any),
        ("app", EventTarget::App),
        ("anylabel", EventTarget::labeled("main")),
        ("window", EventTarget::window("main")),
        ("webview", EventTarget::webview("main")),
        ("webviewwindow", EventTarget::webview_window("main")),
        ("other", EventTarget::webview_window("other")),
    ];
    for (name, target) in listeners {
        let sink = log.clone();
        app.listen("e", target, move |_| sink.push(name))
            .expect("listen");
    }
    let cases: [(EventTarget, &[&str]); 8] = [
        (
            EventTarget::Any,
            &[
                "any",
                "app",
                "anylabel",
                "window",
                "webview",
                "webviewwindow",
                "other",
            ],
        ),
        (
            EventTarget::labeled("main"),
            &["any", "anylabel", "window", "webview", "webviewwindow"],
        ),
        (EventTarget::App, &["any", "app"]),
        (EventTarget::window("main"), &["any", "anylabel", "window"]),
        (
            EventTarget::webview("main"),
            &["any", "anylabel", "webview"],
        ),
        (
            EventTarget::webview_window("main"),
            &["any", "anylabel", "webviewwindow"],
        ),
        (EventTarget::webview_window("other"), &["any", "other"]),
        // A label nobody uses: only `Any` listeners, and no error.
        (EventTarget::labeled("nobody"), &["any"]),
    ];
    for (target, expected) in cases {
        app.emit_to(target.clone(), "e", &()).expect("emit_to");
        assert_eq!(log.take(), expected, "emit_to({target:?})");
    }
    // A plain emit reaches everyone.
    app.emit("e", &()).expect("emit");
    assert_eq!(log.take().len(), 7);
}

#[tokio::test(start_paused = true)]
async fn any_windows_receive_emit_to_meant_for_others() {
    let bus = Bus::new();
    let any = Recorder::default();
    let own = Recorder::default();
    let _any = bus
        .window("t")
        .with_label("a")
        .subscribe(any.handler())
        .await
        .expect("subscribe");
    let _own = bus
        .window("t")
        .with_label("b")
        .with_target(EventTarget::webview_window("b"))
        .subscribe(own.handler())
        .await
        .expect("subscribe");

    bus.emit_to("c", &json!("to c"));
    bus.emit_to(EventTarget::webview_window("b"), &json!("to b"));
    bus.emit_to(EventTarget::window("b"), &json!("to window b"));
    bus.emit(&json!("to all"));
    assert_eq!(
        any.seen(),
        [
            json!("to c"),
            json!("to b"),
            json!("to window b"),
            json!("to all")
        ]
    );
    assert_eq!(own.seen(), [json!("to b"), json!("to all")]);
}

// ------------------------------------------------------------- delivery

fn reentrant_order(defer: bool) -> Vec<String> {
    let app = MockApp::new(config(|c| c.defer_reentrant = defer));
    let log = Log::default();
    let (sink, emitter) = (log.clone(), app.clone());
    app.listen_any("e", move |e| {
        if e.payload() == r#""outer""# {
            sink.push("outer-start");
            emitter.emit("e", "inner").expect("emit");
            sink.push("outer-end");
        } else {
            sink.push(e.payload().trim_matches('"'));
        }
    })
    .expect("listen");
    app.emit("e", "outer").expect("emit");
    log.take()
}

#[test]
fn reentrant_emits_are_deferred_until_the_outer_dispatch_ends() {
    assert_eq!(reentrant_order(true), ["outer-start", "outer-end", "inner"]);
}

#[test]
fn defer_reentrant_switch_off_nests_the_inner_emit() {
    assert_eq!(
        reentrant_order(false),
        ["outer-start", "inner", "outer-end"]
    );
}

#[test]
fn reentrant_listen_and_unlisten_are_queued_in_order() {
    let app = MockApp::new(config(|c| c.listener_order = ListenerOrder::Registration));
    let log = Log::default();

    // The first listener removes the second, registers a third and emits
    // again, all from inside its handler: the second still receives the
    // event being dispatched; the queued emit comes after the queued
    // listen, so the third receives it.
    let second_id = Arc::new(Mutex::new(None));
    let (sink, inner_app, second) = (log.clone(), app.clone(), second_id.clone());
    app.listen_any("e", move |e| {
        sink.push(format!("first {}", e.payload()));
        if e.payload() == "1" {
            if let Some(id) = *second.lock() {
                inner_app.unlisten(id);
            }
            let sink = sink.clone();
            inner_app
                .listen_any("e", move |e| sink.push(format!("third {}", e.payload())))
                .expect("listen");
            inner_app.emit("e", &2).expect("emit");
        }
    })
    .expect("listen");
    let sink = log.clone();
    *second_id.lock() = Some(
        app.listen_any("e", move |e| sink.push(format!("second {}", e.payload())))
            .expect("listen"),
    );
    app.emit("e", &1).expect("emit");
    assert_eq!(log.take(), ["first 1", "second 1", "first 2", "third 2"]);
}

#[test]
fn listener_order_switch() {
    let order = |listener_order| {
        let app = MockApp::new(config(|c| c.listener_order = listener_order));
        let log = Log::default();
        for i in 0..8 {
            let sink = log.clone();
            app.listen_any("e", move |_| sink.push(i.to_string()))
                .expect("listen");
        }
        (0..4)
            .map(|_| {
                app.emit("e", &()).expect("emit");
                log.take().concat()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(order(ListenerOrder::Registration), vec!["01234567"; 4]);
    let shuffled = order(ListenerOrder::Unspecified { seed: 7 });
    assert!(shuffled.iter().any(|o| o != "01234567"), "{shuffled:?}");
    for run in &shuffled {
        let mut digits: Vec<char> = run.chars().collect();
        digits.sort_unstable();
        assert_eq!(
            digits.into_iter().collect::<String>(),
            "01234567",
            "every listener once"
        );
    }
    // Reproducible from the seed.
    assert_eq!(order(ListenerOrder::Unspecified { seed: 7 }), shuffled);
    assert_eq!(
        TauriMockConfig::default().listener_order,
        ListenerOrder::Unspecified { seed: 0 }
    );
}

#[test]
fn the_same_handler_registered_twice_is_called_twice() {
    let app = MockApp::default();
    let log = Log::default();
    let sink = log.clone();
    let handler =
        Arc::new(move |e: state_sync_transports::tauri_mock::Event| sink.push(e.payload()));
    for _ in 0..2 {
        let handler = handler.clone();
        app.listen_any("e", move |e| handler(e)).expect("listen");
    }
    app.emit("e", &1).expect("emit");
    assert_eq!(log.take(), ["1", "1"]);
}

#[tokio::test(start_paused = true)]
async fn removing_a_listener_that_owns_another_does_not_deadlock() {
    let app = MockApp::new(config(|c| {
        c.async_listen = false;
        c.async_unlisten = false;
    }));
    let owned = app
        .webview("main")
        .listen("e", EventTarget::Any, |_| {})
        .await
        .expect("listen")
        .into_subscription();
    let holder = Mutex::new(Some(owned));
    let owner = app
        .listen_any("e", move |_| {
            let _owned = holder.lock();
        })
        .expect("listen");
    assert_eq!(app.listener_count(), 2);
    // Dropping the owner's handler unlistens the owned listener.
    app.unlisten(owner);
    assert_eq!(app.listener_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn late_listener_gets_no_replay() {
    let bus = Bus::new();
    let early = Recorder::default();
    let _early = bus
        .window("t")
        .subscribe(early.handler())
        .await
        .expect("subscribe");
    bus.emit(&json!(1));
    let late = Recorder::default();
    let _late = bus
        .window("t")
        .subscribe(late.handler())
        .await
        .expect("subscribe");
    assert!(late.seen().is_empty());
    bus.emit(&json!(2));
    assert_eq!(early.seen(), [json!(1), json!(2)]);
    assert_eq!(late.seen(), [json!(2)]);
}

// ---------------------------------------------------- listen / unlisten

#[tokio::test(start_paused = true)]
async fn listen_is_asynchronous_and_misses_events_emitted_before_it_completes() {
    let latency = Duration::from_millis(10);
    let bus = Bus::with_config(config(|c| c.ipc_latency = Some(latency)));
    let recorder = Recorder::default();
    let window = bus.window("t");
    let handler = recorder.handler();
    let listening = tokio::spawn(async move { window.subscribe(handler).await });

    bus.emit(&json!("before"));
    assert_eq!(bus.active_subscriptions(), Some(0));
    // One hop later the core has the listener, but the answer is still on
    // its way back: the handler can fire before `subscribe` resolves.
    tokio::time::sleep(latency + Duration::from_millis(5)).await;
    assert_eq!(bus.active_subscriptions(), Some(1));
    assert!(!listening.is_finished());
    bus.emit(&json!("during"));
    let _subscription = listening.await.expect("task").expect("subscribe");
    bus.emit(&json!("after"));
    assert_eq!(recorder.seen(), [json!("during"), json!("after")]);
}

#[tokio::test(start_paused = true)]
async fn async_listen_switch_off_registers_at_once() {
    let bus = Bus::with_config(config(|c| c.async_listen = false));
    let recorder = Recorder::default();
    let window = bus.window("t");
    let subscribing = window.subscribe(recorder.handler());
    // Not polled yet, and already registered.
    assert_eq!(bus.active_subscriptions(), Some(1));
    bus.emit(&json!("early"));
    let _subscription = subscribing.await.expect("subscribe");
    assert_eq!(recorder.seen(), [json!("early")]);
}

#[tokio::test(start_paused = true)]
async fn dropping_a_pending_listen_removes_the_listener() {
    let latency = Duration::from_millis(10);
    let bus = Bus::with_config(config(|c| c.ipc_latency = Some(latency)));
    let window = bus.window("t");
    let listening = tokio::spawn(async move { window.subscribe(Arc::new(|_: &Value| {})).await });
    tokio::time::sleep(latency + Duration::from_millis(5)).await;
    assert_eq!(bus.active_subscriptions(), Some(1));
    listening.abort();
    let _ = listening.await;
    bus.settle().await;
    assert_eq!(bus.active_subscriptions(), Some(0));
}

#[tokio::test(start_paused = true)]
async fn unlisten_detaches_at_once_and_frees_the_entry_later() {
    let bus = Bus::new();
    let recorder = Recorder::default();
    let subscription = bus
        .window("t")
        .subscribe(recorder.handler())
        .await
        .expect("subscribe");
    bus.emit(&json!(1));
    subscription.unsubscribe();
    bus.emit(&json!(2));
    assert_eq!(recorder.seen(), [json!(1)], "detached at once");
    assert_eq!(
        bus.active_subscriptions(),
        Some(1),
        "the core still has the entry"
    );
    bus.settle().await;
    assert_eq!(bus.active_subscriptions(), Some(0));
}

#[tokio::test(start_paused = true)]
async fn dropping_the_subscription_unsubscribes() {
    let bus = Bus::new();
    let recorder = Recorder::default();
    let subscription = bus
        .window("t")
        .subscribe(recorder.handler())
        .await
        .expect("subscribe");
    drop(subscription);
    bus.emit(&json!(1));
    assert!(recorder.seen().is_empty());
    // A yield lets the removal task run.
    tokio::task::yield_now().await;
    tokio::task::yield_now().await;
    assert_eq!(bus.active_subscriptions(), Some(0));
}

#[tokio::test(start_paused = true)]
async fn awaited_unlisten_resolves_after_the_removal() {
    let latency = Duration::from_millis(10);
    let app = MockApp::new(config(|c| c.ipc_latency = Some(latency)));
    let (recorder, handler) = js_recorder();
    let listener = app
        .webview("main")
        .listen("e", EventTarget::Any, handler)
        .await
        .expect("listen");
    let start = tokio::time::Instant::now();
    listener.unlisten().await;
    assert_eq!(start.elapsed(), latency);
    assert_eq!(app.listener_count(), 0);
    app.emit("e", &1).expect("emit");
    assert!(recorder.seen().is_empty());
}

#[tokio::test(start_paused = true)]
async fn async_unlisten_switch_off_frees_the_entry_at_once() {
    let bus = Bus::with_config(config(|c| c.async_unlisten = false));
    let subscription = bus
        .window("t")
        .subscribe(Arc::new(|_: &Value| {}))
        .await
        .expect("subscribe");
    subscription.unsubscribe();
    assert_eq!(bus.active_subscriptions(), Some(0));
}

#[tokio::test(start_paused = true)]
async fn ipc_latency_switch_spaces_every_hop() {
    let latency = Duration::from_millis(25);
    let bus = Bus::with_config(config(|c| c.ipc_latency = Some(latency)));
    bus.serve(SnapshotHandler::new(|_| async {
        Ok(json!({"revision": "1", "data": null}))
    }));
    let window = bus.window("t");
    let start = tokio::time::Instant::now();
    let _subscription = window
        .subscribe(Arc::new(|_: &Value| {}))
        .await
        .expect("subscribe");
    assert_eq!(start.elapsed(), latency * 2, "listen is a round trip");
    let start = tokio::time::Instant::now();
    window.get_snapshot().await.expect("snapshot");
    assert_eq!(start.elapsed(), latency * 2, "invoke is a round trip");
}

// ------------------------------------------------------------- commands

fn where_am_i(app: &MockApp) {
    app.register_command("where_am_i", |args: CommandArgs| async move {
        let label: String = args.get("window_label")?;
        Ok::<_, InvokeError>(label)
    });
}

#[tokio::test(start_paused = true)]
async fn command_argument_keys_are_camel_case() {
    let app = MockApp::default();
    where_am_i(&app);
    let main = app.webview("main");
    assert_eq!(
        main.invoke("where_am_i", json!({"windowLabel": "main"}))
            .await,
        Ok(json!("main"))
    );
    assert_eq!(
        main.invoke("where_am_i", json!({"window_label": "main"}))
            .await,
        Err(InvokeError(json!(
            "invalid args `windowLabel` for command `where_am_i`: command where_am_i missing required key windowLabel"
        )))
    );
}

#[tokio::test(start_paused = true)]
async fn arg_case_switch_snake() {
    let app = MockApp::new(config(|c| c.arg_case = ArgCase::Snake));
    where_am_i(&app);
    let main = app.webview("main");
    assert_eq!(
        main.invoke("where_am_i", json!({"window_label": "main"}))
            .await,
        Ok(json!("main"))
    );
    assert!(
        main.invoke("where_am_i", json!({"windowLabel": "main"}))
            .await
            .is_err()
    );
}

#[tokio::test(start_paused = true)]
async fn a_snake_case_key_for_an_optional_argument_is_silently_none() {
    let app = MockApp::default();
    app.register_command("maybe", |args: CommandArgs| async move {
        let label: Option<String> = args.get("window_label")?;
        Ok::<_, InvokeError>(label)
    });
    let main = app.webview("main");
    assert_eq!(
        main.invoke("maybe", json!({"window_label": "main"})).await,
        Ok(Value::Null)
    );
    assert_eq!(
        main.invoke("maybe", json!({"windowLabel": "main"})).await,
        Ok(json!("main"))
    );
}

#[tokio::test(start_paused = true)]
async fn missing_argument_error_is_tauris() {
    let bus = Bus::new();
    bus.serve(SnapshotHandler::new(|_| async { Ok(json!(null)) }));
    let main = bus.app().webview("main");
    let expected = InvokeError(json!(
        "invalid args `topic` for command `get_snapshot`: command get_snapshot missing required key topic"
    ));
    for body in [
        json!({}),
        json!({"Topic": "t"}),
        json!([1]),
        json!("t"),
        Value::Null,
    ] {
        assert_eq!(
            main.invoke(SNAPSHOT_COMMAND, body.clone()).await,
            Err(expected.clone()),
            "{body}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn wrong_type_error_is_tauris() {
    let bus = Bus::new();
    bus.serve(SnapshotHandler::new(|_| async { Ok(json!(null)) }));
    let main = bus.app().webview("main");
    assert_eq!(
        main.invoke(SNAPSHOT_COMMAND, json!({"topic": 42})).await,
        Err(InvokeError(json!(
            "invalid args `topic` for command `get_snapshot`: invalid type: integer `42`, expected a string"
        )))
    );
}

#[tokio::test(start_paused = true)]
async fn unknown_command_error_is_tauris() {
    let app = MockApp::default();
    assert_eq!(
        app.webview("main").invoke("no_such_cmd", json!({})).await,
        Err(InvokeError(json!("Command no_such_cmd not found")))
    );
}

#[tokio::test(start_paused = true)]
async fn command_errors_are_serialized_json_values() {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Busy {
        retry_after_ms: u32,
    }
    let app = MockApp::default();
    app.register_command("text", |_: CommandArgs| async {
        Err::<(), _>(InvokeError::from("locked"))
    });
    app.register_command("object", |_: CommandArgs| async {
        Err::<(), _>(InvokeError::from(Busy { retry_after_ms: 20 }))
    });
    let main = app.webview("main");
    assert_eq!(
        main.invoke("text", json!({})).await,
        Err(InvokeError(json!("locked")))
    );
    assert_eq!(
        main.invoke("object", json!({})).await,
        Err(InvokeError(json!({"retryAfterMs": 20})))
    );
}

#[tokio::test(start_paused = true)]
async fn a_panicking_command_rejects() {
    let app = MockApp::default();
    app.register_command("boom", |_: CommandArgs| async {
        if true {
            panic!("kaboom");
        }
        Ok::<(), InvokeError>(())
    });
    assert_eq!(
        app.webview("main").invoke("boom", json!({})).await,
        Err(InvokeError(json!("command boom panicked: kaboom")))
    );
}

fn slow_echo(app: &MockApp) {
    app.register_command("echo_after", |args: CommandArgs| async move {
        let delay_ms: u64 = args.get("delay_ms")?;
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        Ok::<_, InvokeError>(delay_ms)
    });
}

async fn resolution_order(execution: CommandExecution) -> Vec<u64> {
    let app = MockApp::new(config(|c| c.command_execution = execution));
    slow_echo(&app);
    let done = Arc::new(Mutex::new(Vec::new()));
    let call = |delay: u64| {
        let (main, done) = (app.webview("main"), done.clone());
        async move {
            let answer = main.invoke("echo_after", json!({"delayMs": delay})).await;
            done.lock()
                .push(answer.expect("answer").as_u64().expect("number"));
        }
    };
    // Made a millisecond apart, so they reach the core in this order.
    let mut calls = Vec::new();
    for delay in [30, 10, 20] {
        calls.push(tokio::spawn(call(delay)));
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    for call in calls {
        call.await.expect("call");
    }
    done.lock().clone()
}

#[tokio::test(start_paused = true)]
async fn async_commands_run_concurrently_and_resolve_out_of_order() {
    let start = tokio::time::Instant::now();
    assert_eq!(
        resolution_order(CommandExecution::Concurrent).await,
        [10, 20, 30]
    );
    assert!(
        start.elapsed() < Duration::from_millis(35),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn command_execution_switch_serial_resolves_in_call_order() {
    let start = tokio::time::Instant::now();
    assert_eq!(
        resolution_order(CommandExecution::Serial).await,
        [30, 10, 20]
    );
    assert!(start.elapsed() >= Duration::from_millis(60));
}

// ----------------------------------------------------- state-sync ends

#[tokio::test(start_paused = true)]
async fn snapshot_errors_surface_as_port_errors() {
    let bus = Bus::new();
    let window = bus.window("t");

    let err = window.get_snapshot().await.expect_err("not served yet");
    assert_eq!(err.message(), "Command get_snapshot not found");

    bus.serve(SnapshotHandler::new(|topic| async move {
        match topic.as_str() {
            "t" => Err(PortError::from_json(json!({"code": 503}))),
            "text" => Err(PortError::new("database locked")),
            _ => panic!("backend bug"),
        }
    }));
    let err = window.get_snapshot().await.expect_err("handler error");
    assert_eq!(err.detail(), Some(&json!({"code": 503})));
    assert_eq!(err.message(), r#"{"code":503}"#);

    let err = bus
        .window("text")
        .get_snapshot()
        .await
        .expect_err("handler error");
    assert_eq!(err.message(), "database locked");

    let err = bus
        .window("other")
        .get_snapshot()
        .await
        .expect_err("handler panic");
    assert_eq!(err.message(), "snapshot handler panicked: backend bug");

    let engine = Engine::new("t", WindowEnds::of(window));
    let outcome = engine.sync.start().await;
    assert!(
        matches!(outcome, Err(SyncError::GetSnapshot(_))),
        "{outcome:?}"
    );
    assert_eq!(engine.errors.lock()[0].phase, Phase::GetSnapshot);
    bus.settle().await;
    assert_eq!(bus.active_subscriptions(), Some(0));
}

#[tokio::test(start_paused = true)]
async fn windows_get_distinct_labels() {
    let bus = Bus::new();
    assert_eq!(bus.window("t").label(), "window-1");
    assert_eq!(bus.window("t").label(), "window-2");
    let named = bus.window("t").with_label("settings");
    assert_eq!((named.label(), named.topic()), ("settings", "t"));
    assert_eq!(named.target(), &EventTarget::Any);
}
