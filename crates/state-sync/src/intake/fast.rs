//! The fast path of the borrowed decode: a byte scanner for the shape
//! invalidations have in practice — an object of plain strings, numbers
//! and literals, maybe shallow nesting in fields the engine does not read.
//!
//! It checks the JSON grammar of the whole text and answers only when it
//! is sure; on anything it does not handle — an escape, nesting deeper
//! than 64 levels, a syntax error — it answers `None` and the serde decode
//! in [`super::scan`] decides.
//! So it may only ever be stricter than JSON, never looser, and where it
//! answers it answers what the serde decode would (its tests check that).

use std::borrow::Cow;

use super::scan::{Field, Fields};

/// The fields of `text` when it is one JSON object this scanner reads
/// through; `None` when it cannot say.
pub(crate) fn fields(text: &str) -> Option<Fields<'_>> {
    let mut s = Scanner {
        text,
        bytes: text.as_bytes(),
        at: 0,
    };
    s.ws();
    s.eat(b'{')?;
    let mut fields = Fields::default();
    s.ws();
    if !s.eat_if(b'}') {
        loop {
            s.ws();
            let key = s.string()?;
            s.ws();
            s.eat(b':')?;
            s.ws();
            match key {
                "topic" => fields.topic = s.field()?,
                "revision" => fields.revision = s.field()?,
                "sourceId" => fields.source_id = s.field()?,
                "epoch" => fields.epoch = s.field()?,
                _ => s.skip_value()?,
            }
            s.ws();
            match s.next()? {
                b',' => {}
                b'}' => break,
                _ => return None,
            }
        }
    }
    s.ws();
    (s.at == s.bytes.len()).then_some(fields)
}

struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.next()? == byte).then_some(())
    }

    fn eat_if(&mut self, byte: u8) -> bool {
        let here = self.peek() == Some(byte);
        if here {
            self.at += 1;
        }
        here
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    /// A string without escapes or control characters, borrowed.
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.at;
        let end = start
            + self.bytes[start..]
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        if self.bytes[end] != b'"' {
            return None;
        }
        self.at = end + 1;
        // Both ends are at an ASCII quote: character boundaries.
        self.text.get(start..end)
    }

    /// One of the fields read: a string, or any other value.
    fn field(&mut self) -> Option<Field<'a>> {
        if self.peek()? == b'"' {
            Some(Field::Str(Cow::Borrowed(self.string()?)))
        } else {
            self.skip_value()?;
            Some(Field::Other)
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.at + word.len();
        (self.bytes.get(self.at..end)? == word).then(|| self.at = end)
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
        self.at - start
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    fn number(&mut self) -> Option<()> {
        self.eat_if(b'-');
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.eat_if(b'.') && self.digits() == 0 {
            return None;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if !self.eat_if(b'+') {
                self.eat_if(b'-');
            }
            if self.digits() == 0 {
                return None;
            }
        }
        Some(())
    }

    /// Skips one value, nested ones included, without recursion: `open`
    /// holds one bit per enclosing container (1: object, 0: array).
    fn skip_value(&mut self) -> Option<()> {
        let (mut open, mut depth) = (0_u64, 0_u32);
        loop {
            // A value begins here.
            self.ws();
            let container = match self.next()? {
                b'"' => {
                    self.at -= 1;
                    self.string()?;
                    None
                }
                b'{' => Some(1),
                b'[' => Some(0),
                b't' => self.literal(b"rue").map(|()| None)?,
                b'f' => self.literal(b"alse").map(|()| None)?,
                b'n' => self.literal(b"ull").map(|()| None)?,
                b'-' | b'0'..=b'9' => {
                    self.at -= 1;
                    self.number()?;
                    None
                }
                _ => return None,
            };
            if let Some(kind) = container {
                self.ws();
                let close = if kind == 1 { b'}' } else { b']' };
                if !self.eat_if(close) {
                    if depth == 64 {
                        return None;
                    }
                    open = open << 1 | kind;
                    depth += 1;
                    if kind == 1 {
                        self.key()?;
                    }
                    continue;
                }
            }
            // A value ended: close what ends with it, or go to the next.
            loop {
                if depth == 0 {
                    return Some(());
                }
                self.ws();
                let in_object = open & 1 == 1;
                match self.next()? {
                    b',' => {
                        if in_object {
                            self.key()?;
                        }
                        break;
                    }
                    b'}' if in_object => {}
                    b']' if !in_object => {}
                    _ => return None,
                }
                open >>= 1;
                depth -= 1;
            }
        }
    }

    /// An object member's key and colon.
    fn key(&mut self) -> Option<()> {
        self.ws();
        self.string()?;
        self.ws();
        self.eat(b':')
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;

    /// Where the scanner answers, the serde decode answers the same.
    fn agrees(text: &[u8]) -> Result<(), TestCaseError> {
        let Ok(text) = std::str::from_utf8(text) else {
            return Ok(()); // not text: the intake reports it before reading
        };
        if let Some(fast) = fields(text) {
            let slow = super::super::scan::serde_fields(text);
            prop_assert_eq!(Some(fast), slow, "{}", text);
        }
        Ok(())
    }

    #[test]
    fn the_common_shape_is_read_here() {
        let text = r#" { "topic" : "t", "revision":"42","sourceId":"wé","timestampMs":1.5e3,
            "data":{"a":[1,-0.5,{"b":null}],"c":[[],{}],"d":true,"e":false} } "#;
        let f = fields(text).expect("read here");
        assert_eq!(f.topic.as_str(), Some("t"));
        assert!(matches!(f.source_id, Field::Str(Cow::Borrowed("wé"))));
        assert!(fields("{}").is_some());
        assert!(fields(r#"{"topic":[{"a":{}}],"revision":2}"#).is_some());
    }

    #[test]
    fn what_it_does_not_handle_is_left_to_serde() {
        for text in [
            r#"{"topic":"t\u0031","revision":"1"}"#,
            r#"{"topic":"t","revision":"1","x":"\n"}"#,
            "{\"topic\":\"t\u{1}\",\"revision\":\"1\"}",
            r#"{"topic":"t","revision":"1"} 1"#,
            r#"{"topic":"t","revision":"1""#,
            r#"{"topic":"t","revision":01}"#,
            r#"{"topic":"t","revision":1.}"#,
            r#"{"topic":"t","revision":1e}"#,
            r#"{"topic":"t","revision":-}"#,
            r#"{"topic":"t","revision":tru}"#,
            r#"{"topic":"t",}"#,
            r#"{"topic":"t","x":[1,]}"#,
            r#"{"topic":"t","x":{"a"}}"#,
            r#"{"topic":"t","x":[}"#,
            r#"[{"topic":"t"}]"#,
        ] {
            assert!(fields(text).is_none(), "{text}");
        }
        let deep = format!(r#"{{"x":{}1{}}}"#, "[".repeat(65), "]".repeat(65));
        assert!(fields(&deep).is_none());
        let deep = format!(r#"{{"x":{}1{}}}"#, "[".repeat(64), "]".repeat(64));
        assert!(fields(&deep).is_some());
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            "[ -~é\"\\\\\n]{0,6}".prop_map(Value::from),
            prop_oneof![
                Just("topic"),
                Just("revision"),
                Just("sourceId"),
                Just("7"),
                Just("")
            ]
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::vec(
                    (
                        prop_oneof![
                            Just("topic".to_owned()),
                            Just("revision".to_owned()),
                            Just("sourceId".to_owned()),
                            "[a-z]{0,3}"
                        ],
                        inner
                    ),
                    0..4
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn answers_agree_with_serde_on_json(value in json_value(), pretty in any::<bool>()) {
            let text = if pretty {
                serde_json::to_string_pretty(&value)
            } else {
                serde_json::to_string(&value)
            }.expect("text");
            agrees(text.as_bytes())?;
        }

        #[test]
        fn answers_agree_with_serde_on_damaged_json(
            value in json_value(),
            cut in any::<prop::sample::Index>(),
            byte in prop_oneof![Just(b'"'), Just(b','), Just(b'}'), Just(b']'), Just(b'0'), Just(b'-'), Just(b'.'), Just(b'e'), Just(b' '), any::<u8>()],
        ) {
            let mut text = serde_json::to_vec(&json!({"topic": "t", "revision": "1", "x": value})).expect("text");
            let at = cut.index(text.len());
            text[at] = byte;
            agrees(&text)?;
            text.insert(at, byte);
            agrees(&text)?;
            agrees(&text[..at])?;
        }
    }
}
