//! Why a report could not be built or written.

use std::io;
use std::path::PathBuf;

/// A report could not be built or written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The JUnit XML could not be serialized.
    #[error(
        "could not build the JUnit report{}: {source}: {}",
        path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default(),
        source_chain(source)
    )]
    Junit {
        /// The file it was meant for, when writing one.
        path: Option<PathBuf>,
        /// Why.
        #[source]
        source: quick_junit::SerializeError,
    },
    /// The report directory could not be created.
    #[error("could not create the report directory {}: {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A report file could not be written.
    #[error("could not write the report {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut causes = Vec::new();
    let mut next = e.source();
    while let Some(cause) = next {
        causes.push(cause.to_string());
        next = cause.source();
    }
    if causes.is_empty() {
        "no further detail".to_owned()
    } else {
        causes.join(": ")
    }
}
