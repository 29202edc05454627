//! The control channel between a [`ChildBackend`](super::ChildBackend) and
//! its child: JSON lines over the child's standard input and output.

use futures::SinkExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::AsyncWrite;
use tokio::sync::mpsc;
use tokio_util::codec::{FramedWrite, LinesCodec};

use super::wire::Reply;

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub(super) enum ToChild {
    /// Emit number `seq` (from 1, in order).
    Emit {
        seq: u64,
        payload: Value,
    },
    Reply {
        id: u64,
        result: Reply,
    },
    Settle {
        id: u64,
    },
    /// The first frame to a child started again: the parent's emits so
    /// far are numbered up to `seq`, and `newest` holds each topic's
    /// newest payload, for the windows that reconnect.
    Resume {
        seq: u64,
        newest: Vec<Value>,
    },
}

/// [`ToChild::Emit`] as the parent writes it: borrowing the payload, so
/// that an emit does not copy it into the frame.
#[derive(Serialize)]
#[serde(tag = "type", rename = "emit")]
pub(super) struct EmitFrame<'a> {
    pub(super) seq: u64,
    pub(super) payload: &'a Value,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub(super) enum FromChild {
    Listening { address: String },
    Snapshot { id: u64, topic: String },
    Subscriptions { count: usize },
    Settled { id: u64, subscriptions: usize },
}

/// Writes every line received to `out`.
pub(super) async fn write_lines(
    out: impl AsyncWrite + Unpin,
    mut lines: mpsc::UnboundedReceiver<String>,
) {
    let mut sink = FramedWrite::new(out, LinesCodec::new());
    while let Some(line) = lines.recv().await {
        if sink.send(line).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_emit_frame_reads_back_as_the_emit_it_stands_for() {
        let payload = json!({"topic": "t", "revision": "3", "n": [1, 2]});
        let line = serde_json::to_string(&EmitFrame {
            seq: 7,
            payload: &payload,
        })
        .expect("serializes");
        match serde_json::from_str::<ToChild>(&line).expect("reads back") {
            ToChild::Emit { seq, payload: read } => {
                assert_eq!((seq, read), (7, payload));
            }
            other => panic!("not an emit: {other:?}"),
        }
    }
}
