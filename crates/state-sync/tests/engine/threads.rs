//! Handlers called from threads outside the engine's runtime, as a
//! transport with its own I/O threads calls them: the engine keeps to its
//! runtime's clock and runs its work there.

use crate::prelude::*;

#[tokio::test(start_paused = true)]
async fn a_debounce_fed_from_a_plain_thread_keeps_the_engine_clock() {
    let h = Harness::new();
    h.provider.set_revision(1);
    let sync = h.builder().throttle(Throttle::debounce(ms(50))).build();
    sync.start().within().await.expect("start");
    // Virtual time runs far ahead of the wall clock.
    tokio::time::sleep(Duration::from_secs(600)).await;
    h.provider.set_revision(2);
    let handler = h.bus.handler();
    std::thread::spawn(move || handler(&event(TOPIC, 2)))
        .join()
        .expect("the thread delivers");
    tokio::time::sleep(ms(49)).await;
    assert_eq!(
        sync.local_revision(),
        rev(1),
        "the quiet period is 50 ms of the engine's time"
    );
    tokio::time::sleep(ms(2)).await;
    settle().await;
    assert_eq!(sync.local_revision(), rev(2));
    assert_eq!(h.provider.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn an_event_from_a_plain_thread_fetches_on_the_engine_runtime() {
    let h = Harness::new();
    let sync = h.engine();
    sync.start().within().await.expect("start");
    h.provider.set_revision(3);
    let handler = h.bus.handler();
    std::thread::spawn(move || handler(&event(TOPIC, 3)))
        .join()
        .expect("no runtime on that thread, and no panic");
    settle().await;
    assert_eq!(sync.local_revision(), rev(3));
}
