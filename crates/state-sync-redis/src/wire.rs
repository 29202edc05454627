//! What travels through the broker: channel messages, snapshot requests
//! and their replies.
//!
//! The events channel carries two kinds of message, told apart by their
//! first byte: `e` followed by an invalidation payload's JSON text, exactly
//! as emitted, and `b<client> <n>`, a settle barrier of one client. The
//! newest invalidation of each topic is also kept, as its message, in the
//! bus's `latest` hash.
//!
//! A snapshot request is a JSON object pushed on the bus's request list:
//! `{"client":"<id>","id":<n>,"topic":"<topic>"}`. The backend answers on
//! the client's reply channel with `{"id":<n>,"ok":<snapshot>}` or
//! `{"id":<n>,"error":"<message>","detail":<value>}`.

use serde_json::{Value, json};
use state_sync::PortError;

/// A message of the events channel.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Message<'a> {
    /// An invalidation payload's text (not necessarily valid JSON: garbage
    /// passes through to the engine, which reports it).
    Event(&'a [u8]),
    /// A settle barrier of client `client`.
    Barrier { client: &'a str, id: u64 },
}

pub(crate) fn event(payload: &str) -> String {
    format!("e{payload}")
}

pub(crate) fn barrier(client: &str, id: u64) -> String {
    format!("b{client} {id}")
}

/// `None` for a message of neither kind (not ours: ignored).
pub(crate) fn parse(message: &[u8]) -> Option<Message<'_>> {
    match message.split_first()? {
        (b'e', payload) => Some(Message::Event(payload)),
        (b'b', rest) => {
            let text = std::str::from_utf8(rest).ok()?;
            let (client, id) = text.split_once(' ')?;
            Some(Message::Barrier {
                client,
                id: id.parse().ok()?,
            })
        }
        _ => None,
    }
}

/// The topic an invalidation names, if it is an object with a string
/// `topic`: the key its newest message is kept under.
pub(crate) fn topic_of(payload: &Value) -> Option<&str> {
    payload.get("topic")?.as_str().filter(|t| !t.is_empty())
}

pub(crate) fn request(client: &str, id: u64, topic: &str) -> String {
    json!({"client": client, "id": id, "topic": topic}).to_string()
}

/// A request read from the list.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Request {
    pub client: String,
    pub id: u64,
    pub topic: String,
}

pub(crate) fn parse_request(text: &str) -> Result<Request, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("not JSON ({e}): {text:.200}"))?;
    let field = |name: &str| {
        value
            .get(name)
            .ok_or_else(|| format!("no {name:?}: {text:.200}"))
    };
    Ok(Request {
        client: field("client")?
            .as_str()
            .ok_or_else(|| format!("\"client\" is not a string: {text:.200}"))?
            .to_owned(),
        id: field("id")?
            .as_u64()
            .ok_or_else(|| format!("\"id\" is not a u64: {text:.200}"))?,
        topic: field("topic")?
            .as_str()
            .ok_or_else(|| format!("\"topic\" is not a string: {text:.200}"))?
            .to_owned(),
    })
}

pub(crate) fn reply(id: u64, result: &Result<Value, PortError>) -> String {
    match result {
        Ok(snapshot) => json!({"id": id, "ok": snapshot}),
        Err(e) => match e.detail() {
            // An error that came as a JSON value goes on as that value.
            Some(detail) => json!({"id": id, "error": e.message(), "detail": detail}),
            None => json!({"id": id, "error": e.message()}),
        },
    }
    .to_string()
}

/// A reply: the request's id and its result; `None` for a message that is
/// not a reply.
pub(crate) fn parse_reply(text: &[u8]) -> Option<(u64, Result<Value, PortError>)> {
    let mut value: Value = serde_json::from_slice(text).ok()?;
    let id = value.get("id")?.as_u64()?;
    if let Some(snapshot) = value.get_mut("ok") {
        return Some((id, Ok(snapshot.take())));
    }
    let message = value.get("error")?.as_str()?.to_owned();
    let error = match value.get_mut("detail") {
        Some(detail) => PortError::from_json(detail.take()),
        None => PortError::new(message),
    };
    Some((id, Err(error)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_garbage_passes_as_bytes() {
        let text = event(r#"{"topic":"a","revision":"1"}"#);
        assert_eq!(
            parse(text.as_bytes()),
            Some(Message::Event(br#"{"topic":"a","revision":"1"}"#))
        );
        assert_eq!(
            parse(b"e\xff not json"),
            Some(Message::Event(b"\xff not json"))
        );
        assert_eq!(
            parse(barrier("c-1", 7).as_bytes()),
            Some(Message::Barrier {
                client: "c-1",
                id: 7
            })
        );
        assert_eq!(parse(b""), None);
        assert_eq!(parse(b"bno-id"), None);
        assert_eq!(parse(b"x"), None);
    }

    #[test]
    fn requests_and_replies_round_trip() {
        let parsed = parse_request(&request("c", 3, "todos")).expect("a request");
        assert_eq!(
            parsed,
            Request {
                client: "c".into(),
                id: 3,
                topic: "todos".into()
            }
        );
        assert!(
            parse_request("[]")
                .expect_err("no client")
                .contains("client")
        );
        assert!(
            parse_request("{")
                .expect_err("not JSON")
                .contains("not JSON")
        );

        let ok = reply(3, &Ok(json!({"revision": "1", "data": 1.0})));
        let (id, result) = parse_reply(ok.as_bytes()).expect("a reply");
        assert_eq!(
            (id, result.expect("ok")),
            (3, json!({"revision": "1", "data": 1.0}))
        );
        let failed = reply(4, &Err(PortError::new("down")));
        let (id, result) = parse_reply(failed.as_bytes()).expect("a reply");
        assert_eq!((id, result), (4, Err(PortError::new("down"))));
        let valued = PortError::from_json(json!({"code": 7}));
        let (_, result) = parse_reply(reply(5, &Err(valued.clone())).as_bytes()).expect("a reply");
        assert_eq!(result, Err(valued));
        assert_eq!(parse_reply(b"{}"), None);
    }

    #[test]
    fn only_a_non_empty_string_topic_is_kept() {
        assert_eq!(topic_of(&json!({"topic": "a"})), Some("a"));
        assert_eq!(topic_of(&json!({"topic": ""})), None);
        assert_eq!(topic_of(&json!({"topic": 1})), None);
        assert_eq!(topic_of(&json!([1])), None);
    }
}
