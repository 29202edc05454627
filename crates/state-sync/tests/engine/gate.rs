//! The revision gate: what applies and what triggers a refresh (GATE-1 to GATE-4).

use crate::prelude::*;

#[tokio::test(start_paused = true)]
async fn snapshots_not_newer_than_local_are_skipped() {
    let h = Harness::new();
    h.provider.set_revision(5);
    let sync = h.engine();
    sync.start().within().await.expect("start");
    h.provider.script([Step::Rev(5), Step::Rev(3)]);
    sync.refresh().within().await.expect("same revision");
    sync.refresh().within().await.expect("older revision");
    assert_eq!(h.applier.revisions(), [5]);
    assert_eq!(sync.metrics().stale_skips, 2);
    h.provider.set_revision(6);
    sync.refresh().within().await.expect("newer");
    assert_eq!(h.applier.revisions(), [5, 6]);
}

#[tokio::test(start_paused = true)]
async fn events_not_newer_than_local_are_ignored() {
    let h = Harness::new();
    h.provider.set_revision(5);
    let sync = h.engine();
    sync.start().within().await.expect("start");
    for r in [5, 4, 0] {
        h.bus.emit(&event(TOPIC, r));
    }
    settle().await;
    assert_eq!(h.provider.calls(), 1, "no fetch for old news");
    h.publish(6);
    settle().await;
    assert_eq!(h.provider.calls(), 2);
    assert_eq!(sync.local_revision(), rev(6));
}

#[tokio::test(start_paused = true)]
async fn events_for_other_topics_are_ignored() {
    let h = Harness::new();
    let sync = h.engine();
    sync.start().within().await.expect("start");
    h.provider.set_revision(7);
    h.bus.emit(&event("auth-state", 7));
    settle().await;
    assert_eq!(h.provider.calls(), 1);
    assert!(h.errors.all().is_empty(), "another topic is not an error");
    h.bus.emit(&event(TOPIC, 7));
    settle().await;
    assert_eq!(sync.local_revision(), rev(7));
}

#[tokio::test(start_paused = true)]
async fn should_refresh_false_prevents_the_fetch() {
    let h = Harness::new();
    let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let log = seen.clone();
    let sync = h
        .builder()
        .should_refresh(move |e| {
            log.lock()
                .push((e.revision.get(), e.source_id.map(str::to_owned)));
            e.source_id != Some("window:self")
        })
        .build();
    sync.start().within().await.expect("start");
    h.provider.set_revision(6);
    h.bus.emit(&event_from(TOPIC, 6, "window:self"));
    settle().await;
    assert_eq!(h.provider.calls(), 1, "own change filtered out");
    h.provider.set_revision(7);
    h.bus.emit(&event_from(TOPIC, 7, "window:other"));
    settle().await;
    assert_eq!(h.provider.calls(), 2);
    assert_eq!(sync.local_revision(), rev(7));
    assert_eq!(
        *seen.lock(),
        [
            (6, Some("window:self".to_owned())),
            (7, Some("window:other".to_owned()))
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_panicking_should_refresh_is_reported_and_the_engine_keeps_working() {
    let h = Harness::new();
    let sync = h
        .builder()
        .should_refresh(|e| {
            assert!(e.revision.get() != 6, "filter bug");
            true
        })
        .build();
    sync.start().within().await.expect("start");
    let payload = event_from(TOPIC, 6, "window:a");
    h.provider.set_revision(6);
    h.bus.emit(&payload);
    settle().await;
    assert_eq!(h.provider.calls(), 1, "no refresh for the event");
    let errors = h.errors.all();
    assert_eq!(errors.len(), 1);
    let ctx = &errors[0];
    assert_eq!(ctx.phase, Phase::Invalidation);
    assert_eq!(ctx.topic, TOPIC);
    assert_eq!(ctx.event_revision, Some(rev(6)));
    assert_eq!(ctx.local_revision, Some(rev(0)));
    assert_eq!(ctx.source_event.as_ref(), Some(&payload));
    assert_eq!(ctx.source_id.as_deref(), Some("window:a"));
    assert!(ctx.message.contains("filter bug"), "{}", ctx.message);

    h.publish(7);
    settle().await;
    assert_eq!(sync.local_revision(), rev(7));
}
