//! The frames of the IPC transport: one JSON object per line.
//!
//! A window's connection sends [`ToServer`] frames and receives
//! [`ToWindow`] frames. Every frame carries a `type`; ids are chosen by
//! the window and echoed by the server.
//!
//! ```text
//! → {"type":"subscribe","id":1,"topic":"todos","label":"main","resume":false}
//! ← {"type":"subscribed","id":1}
//! → {"type":"snapshot","id":2,"topic":"todos"}
//! ← {"type":"snapshot","id":2,"result":{"ok":{"revision":"3","data":["milk"]}}}
//! ← {"type":"event","sub":1,"payload":{"topic":"todos","revision":"4"}}
//! → {"type":"ping","id":3}
//! ← {"type":"pong","id":3}
//! → {"type":"unsubscribe","id":1}
//! ```

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use state_sync::PortError;

/// The longest line either side accepts, by default (64 MiB).
pub const DEFAULT_MAX_FRAME_BYTES: usize = 64 * 1024 * 1024;

/// The deepest nesting of arrays and objects a frame may have. A payload
/// nested deeper is not sent (it is logged), and a frame nested deeper
/// closes the connection: parsing, cloning and dropping recurse once per
/// level, and the I/O threads' stacks are sized for this depth.
pub const MAX_NESTING: usize = 16_384;

/// A frame a window sends to the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub(crate) enum ToServer {
    /// Deliver the invalidations of the bus to subscription `id`, whose
    /// window syncs `topic`. `resume`: the connection of an existing
    /// subscription dropped and came back; events may have been missed.
    /// `after`: register only once the backend has taken in emit number
    /// `after` of its controller ([`ChildBackend`](super::ChildBackend)),
    /// which the window's process made before subscribing.
    Subscribe {
        id: u64,
        topic: String,
        label: String,
        resume: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<u64>,
    },
    /// Stop delivering to subscription `id`.
    Unsubscribe { id: u64 },
    /// The snapshot of `topic`.
    Snapshot { id: u64, topic: String },
    /// Answer once everything sent before has been handled and every event
    /// emitted before it has been written.
    Ping { id: u64 },
}

/// A frame the server sends to a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub(crate) enum ToWindow {
    /// Subscription `id` is live: events emitted from now on reach it.
    Subscribed { id: u64 },
    /// An invalidation for subscription `sub`, exactly as emitted.
    Event { sub: u64, payload: Value },
    /// The answer to snapshot request `id`.
    Snapshot { id: u64, result: Reply },
    /// The answer to ping `id`.
    Pong { id: u64 },
}

/// A snapshot handler's answer as it crosses the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Reply {
    /// The raw snapshot JSON.
    Ok(Value),
    /// A [`PortError`]: its message and, when it has one, its JSON detail.
    Error {
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<Value>,
    },
}

impl Reply {
    pub(crate) fn from_result(result: Result<Value, PortError>) -> Self {
        match result {
            Ok(value) => Self::Ok(value),
            Err(e) => Self::Error {
                message: e.message().to_owned(),
                detail: e.detail().cloned(),
            },
        }
    }

    pub(crate) fn into_result(self) -> Result<Value, PortError> {
        match self {
            Self::Ok(value) => Ok(value),
            Self::Error {
                detail: Some(detail),
                ..
            } => Err(PortError::from_json(detail)),
            Self::Error { message, .. } => Err(PortError::new(message)),
        }
    }
}

/// One frame as a line of text (without the newline).
pub(crate) fn encode<T: Serialize>(frame: &T) -> String {
    // Frames are maps with string keys and JSON values: serializing cannot
    // fail.
    serde_json::to_string(frame).unwrap_or_else(|e| {
        tracing::error!(error = %e, "state-sync ipc: a frame did not serialize");
        String::from("{}")
    })
}

/// An event frame around a payload serialized once for every subscriber.
pub(crate) fn event_line(sub: u64, payload_json: &str) -> String {
    format!(r#"{{"type":"event","sub":{sub},"payload":{payload_json}}}"#)
}

/// An event frame as received, its payload borrowed from the line.
#[derive(Debug, Deserialize)]
pub(crate) struct EventFrame<'a> {
    #[serde(rename = "type")]
    _type: EventTag,
    pub(crate) sub: u64,
    #[serde(borrow)]
    pub(crate) payload: &'a RawValue,
}

/// The `type` of an event frame.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum EventTag {
    Event,
}

/// The event frame `line` is, with its payload's text as it was emitted
/// (the window's engine reads it without a tree); `None` for any other
/// frame, and for a line [`decode`] refuses.
pub(crate) fn decode_event(line: &str) -> Option<EventFrame<'_>> {
    if !line.starts_with(r#"{"type":"event","#) || crate::json::nests_deeper_than(line, MAX_NESTING)
    {
        return None;
    }
    crate::json::parse_unbounded(line).ok()
}

/// Parses one line received from the peer.
pub(crate) fn decode<'de, T: Deserialize<'de>>(line: &'de str) -> Result<T, String> {
    if crate::json::nests_deeper_than(line, MAX_NESTING) {
        return Err(format!(
            "a frame nested deeper than {MAX_NESTING} levels ({} bytes)",
            line.len()
        ));
    }
    crate::json::parse_unbounded(line).map_err(|e| {
        format!(
            "not a frame of the state-sync IPC protocol ({e}): {}",
            state_sync::protocol::preview(&Value::String(line.to_owned()), 200)
        )
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn frames_round_trip_through_their_text() {
        let frames = [
            ToServer::Subscribe {
                id: 1,
                topic: "todos".into(),
                label: "main".into(),
                resume: false,
                after: Some(4),
            },
            ToServer::Unsubscribe { id: 1 },
            ToServer::Snapshot {
                id: 2,
                topic: "todos".into(),
            },
            ToServer::Ping { id: 3 },
        ];
        for frame in frames {
            assert_eq!(decode::<ToServer>(&encode(&frame)), Ok(frame));
        }
        let reply = ToWindow::Snapshot {
            id: 2,
            result: Reply::Ok(json!({"revision": "3", "data": [1]})),
        };
        assert_eq!(
            encode(&reply),
            r#"{"type":"snapshot","id":2,"result":{"ok":{"data":[1],"revision":"3"}}}"#
        );
        assert_eq!(decode::<ToWindow>(&encode(&reply)), Ok(reply));
    }

    #[test]
    fn an_event_line_carries_the_payload_exactly() {
        let payload = json!({"topic": "t", "revision": "18446744073709551615", "n": 9007199254740993_u64, "f": 0.1});
        let line = event_line(7, &serde_json::to_string(&payload).expect("json"));
        assert_eq!(
            decode::<ToWindow>(&line),
            Ok(ToWindow::Event { sub: 7, payload })
        );
    }

    #[test]
    fn an_event_line_hands_over_the_payload_text_as_emitted() {
        let text = r#"{"topic":"t","revision":"1","n":9007199254740993,"f":1.0}"#;
        let line = event_line(3, text);
        let event = decode_event(&line).expect("an event");
        assert_eq!((event.sub, event.payload.get()), (3, text));
        for other in [
            encode(&ToWindow::Pong { id: 1 }),
            r#"{"type":"event","sub":1}"#.to_owned(),
            format!(
                r#"{{"type":"event","sub":1,"payload":{}}}"#,
                "[".repeat(MAX_NESTING)
            ),
        ] {
            assert!(decode_event(&other).is_none(), "{other}");
        }
    }

    #[test]
    fn errors_keep_their_message_and_detail() {
        for error in [
            PortError::new("down"),
            PortError::from_json(json!({"code": 503})),
            PortError::from_json(json!("plain")),
        ] {
            let text = encode(&Reply::from_result(Err(error.clone())));
            let back = decode::<Reply>(&text).expect("reply").into_result();
            assert_eq!(back, Err(error));
        }
    }

    #[test]
    fn the_deepest_payload_allowed_survives_an_io_thread() {
        std::thread::Builder::new()
            .stack_size(super::super::io::IO_STACK_BYTES)
            .spawn(move || {
                let mut payload = json!("leaf");
                for _ in 0..MAX_NESTING - 2 {
                    payload = Value::Array(vec![payload]);
                }
                let line = event_line(1, &serde_json::to_string(&payload).expect("json"));
                let too_deep = format!("[[{line}]]");
                let frame = decode::<ToWindow>(&line).expect("as deep as allowed");
                let copy = frame.clone();
                assert_eq!(copy, frame);
                let err = decode::<ToWindow>(&too_deep).expect_err("one level deeper");
                assert!(err.contains("deeper than 16384"), "{err}");
            })
            .expect("thread")
            .join()
            .expect("no overflow");
    }

    #[test]
    fn garbage_is_an_error_that_shows_the_line() {
        let err = decode::<ToServer>(r#"{"type":"launch"}"#).expect_err("unknown");
        assert!(err.contains("launch"), "{err}");
        assert!(decode::<ToWindow>("not json").is_err());
    }
}
