//! The revision golden vectors (`contract-specs/vectors/revisions.json`),
//! run against a driver's revision parser: the same inputs every
//! implementation of the protocol must classify the same way.

use serde::Deserialize;
use serde_json::Value;

use super::protocol::Reply;
use super::{Connection, Driver};
use crate::activity::Activity;

/// The golden vectors embedded in the kit.
pub const REVISION_VECTORS: &str = include_str!("../../contract-specs/vectors/revisions.json");

/// One vector's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VectorResult {
    /// The input, as JSON text.
    pub input: String,
    /// What the vectors file says (`valid "x"` or `invalid: reason`).
    pub expected: String,
    /// What the driver said.
    pub got: String,
}

impl VectorResult {
    /// Whether the driver agreed with the vector.
    pub fn passed(&self) -> bool {
        self.expected == self.got
    }
}

#[derive(Deserialize)]
struct File {
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    input: Value,
    valid: bool,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

/// Runs every vector against `driver`'s revision parser (it must claim
/// `revision_parser`).
pub fn run(driver: &Driver) -> Result<Vec<VectorResult>, String> {
    let info = driver.info().map_err(str::to_owned)?;
    if !info.capabilities.contains("revision_parser") {
        return Err(format!(
            "driver {} does not claim `revision_parser`",
            info.describe()
        ));
    }
    let file: File = serde_json::from_str(REVISION_VECTORS)
        .map_err(|e| format!("the embedded vectors do not parse: {e}"))?;
    let activity = Activity::new(true);
    let parking = activity.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .on_thread_park(move || parking.parking())
        .build()
        .map_err(|e| format!("could not build a tokio runtime: {e}"))?;
    runtime.block_on(async {
        let connection = Connection::start(driver, &activity, crate::case::DEFAULT_HANG_LIMIT)?;
        let mut results = Vec::new();
        for v in file.vectors {
            let expected = if v.valid {
                format!("valid {:?}", v.value.unwrap_or_default())
            } else {
                format!("invalid: {}", v.reason.unwrap_or_default())
            };
            let input = v.input.to_string();
            let got = match connection.parse_revision(v.input).await? {
                Reply::Ok(Value::String(s)) => format!("valid {s:?}"),
                Reply::Ok(other) => format!("valid, but not a string: {other}"),
                Reply::Error(e) => format!("invalid: {}", e.message),
            };
            results.push(VectorResult {
                input,
                expected,
                got,
            });
        }
        Ok(results)
    })
}
