//! What crosses the IPC boundary: event names, JSON text, argument keys.

use serde_json::{Number, Value};

use super::config::NumberMode;
use super::error::TauriError;

/// Checks an event name with Tauri's rule: only alphanumeric characters
/// (Unicode letters and digits count), `-`, `/`, `:` and `_`.
///
/// ```
/// use state_sync_transports::tauri_mock::{TauriError, validate_event_name};
///
/// assert!(validate_event_name("state-sync:invalidation").is_ok());
/// assert!(validate_event_name("état/über_1").is_ok());
/// assert_eq!(
///     validate_event_name("state-sync.invalidated"),
///     Err(TauriError::IllegalEventName("state-sync.invalidated".into()))
/// );
/// ```
pub fn validate_event_name(event: &str) -> Result<(), TauriError> {
    if event
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '-' | '/' | ':' | '_'))
    {
        Ok(())
    } else {
        Err(TauriError::IllegalEventName(event.to_owned()))
    }
}

/// Parses JSON text the way the receiving side of the IPC would (without
/// serde_json's nesting limit, like a webview's `JSON.parse`).
pub(crate) fn parse(text: &str, mode: NumberMode) -> Result<Value, serde_json::Error> {
    let mut value: Value = crate::json::parse_unbounded(text)?;
    if mode == NumberMode::JavaScript {
        to_js_numbers(&mut value);
    }
    Ok(value)
}

/// Rounds every number to what JavaScript's `JSON.parse` would give.
fn to_js_numbers(value: &mut Value) {
    match value {
        Value::Number(n) => *n = js_number(n),
        Value::Array(items) => items.iter_mut().for_each(to_js_numbers),
        Value::Object(map) => map.values_mut().for_each(to_js_numbers),
        Value::Null | Value::Bool(_) | Value::String(_) => {}
    }
}

/// 2^64 as a double: the first integral double a `u64` cannot hold.
const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;
/// -2^63 as a double: the smallest `i64`.
const MINUS_TWO_POW_63: f64 = -9_223_372_036_854_775_808.0;

fn js_number(n: &Number) -> Number {
    let Some(double) = n.as_f64() else {
        return n.clone();
    };
    // An integral double is shown as an integer, as JavaScript prints it.
    // The casts are exact: `double` is integral and inside the range.
    if double.fract() == 0.0 {
        if (0.0..TWO_POW_64).contains(&double) {
            return Number::from(double as u64);
        }
        if (MINUS_TWO_POW_63..0.0).contains(&double) {
            return Number::from(double as i64);
        }
    }
    Number::from_f64(double).unwrap_or_else(|| n.clone())
}

/// The wire key of a command argument named `name` in Rust: lower camel
/// case, as Tauri's command macro writes it (`window_label` → `windowLabel`,
/// `_unused` → `unused`).
pub(crate) fn camel_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = !out.is_empty();
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn js_numbers_lose_precision_above_2_pow_53() {
        let exact =
            parse("[9007199254740993, 1.0, -3, 0.5, 1e300]", NumberMode::Exact).expect("json");
        assert_eq!(exact[0], json!(9_007_199_254_740_993_u64));
        let js = parse(
            "[9007199254740993, 1.0, -3, 0.5, 1e300, 18446744073709551615]",
            NumberMode::JavaScript,
        )
        .expect("json");
        assert_eq!(js[0], json!(9_007_199_254_740_992_u64));
        assert_eq!(js[1], json!(1));
        assert_eq!(js[2], json!(-3));
        assert_eq!(js[3], json!(0.5));
        assert_eq!(js[4], json!(1e300));
        // u64::MAX rounds up to 2^64, which is no longer a u64.
        assert_eq!(js[5], json!(TWO_POW_64));
    }

    #[test]
    fn camel_case_matches_tauri() {
        assert_eq!(camel_case("topic"), "topic");
        assert_eq!(camel_case("window_label"), "windowLabel");
        assert_eq!(camel_case("a_b_c"), "aBC");
        assert_eq!(camel_case("_unused"), "unused");
    }
}
