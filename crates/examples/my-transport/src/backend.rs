use state_sync::BoxFuture;
use state_sync_transports::{Backend, SnapshotHandler, WindowEnds};

impl Backend for crate::Bus {
    fn emit(&self, payload: &serde_json::Value) {
        self.publish(payload);
    }
    fn serve(&self, handler: SnapshotHandler) {
        self.serve_with(move |topic| handler.call(topic));
    }
    fn window_ends(&self, _label: &str, topic: &str) -> WindowEnds {
        WindowEnds::of(self.window(topic))
    }
    fn active_subscriptions(&self) -> Option<usize> {
        Some(self.subscribers())
    }
    fn settle(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.idle())
    }
}
