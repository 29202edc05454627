//! Which program a driver is, and what its handshake said.

use std::fmt;
use std::sync::{Arc, OnceLock};

use super::process::{self, DriverInfo};

/// A driver: the command line that starts it, and (once asked) what its
/// handshake said. Cheap to clone.
///
/// ```no_run
/// use state_sync_conformance::driver::Driver;
///
/// let driver = Driver::parse("node drivers/js/driver.mjs engine.mjs").expect("a command line");
/// let info = driver.info().expect("the driver starts and says hello");
/// println!("{} {}", info.name, info.version);
/// ```
#[derive(Clone)]
pub struct Driver {
    argv: Vec<String>,
    info: Arc<OnceLock<Result<DriverInfo, String>>>,
}

impl Driver {
    /// The driver started by `program` with `args`.
    pub fn new(program: impl Into<String>, args: impl IntoIterator<Item = String>) -> Self {
        let mut argv = vec![program.into()];
        argv.extend(args);
        Self {
            argv,
            info: Arc::default(),
        }
    }

    /// The driver started by a command line: words split on whitespace,
    /// `"..."` or `'...'` quoting a word with spaces.
    pub fn parse(command_line: &str) -> Result<Self, String> {
        let argv = split_words(command_line)?;
        if argv.is_empty() {
            return Err("the driver's command line is empty".to_owned());
        }
        Ok(Self {
            argv,
            info: Arc::default(),
        })
    }

    /// The command line.
    pub fn argv(&self) -> &[String] {
        &self.argv
    }

    /// Starts the driver once to read its handshake (kept for later
    /// calls), or says why that failed.
    pub fn info(&self) -> Result<&DriverInfo, &str> {
        self.info
            .get_or_init(|| {
                let running = process::start(&self.argv, crate::case::DEFAULT_HANG_LIMIT, |_| {})?;
                let info = running.info.clone();
                drop(running.stdin);
                process::finish(running.child);
                Ok(info)
            })
            .as_ref()
            .map_err(String::as_str)
    }

    /// The name for reports and test names: the handshake's name made of
    /// letters, digits, `-` and `_` only (`driver` when there is none).
    pub fn subject_name(&self) -> String {
        let name = self.info().map(|i| i.name.clone()).unwrap_or_default();
        let clean: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        if clean.is_empty() {
            "driver".to_owned()
        } else {
            clean
        }
    }
}

impl fmt::Debug for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driver").field("argv", &self.argv).finish()
    }
}

/// Splits a command line into words.
fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, c) if c.is_whitespace() => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    if let Some(q) = quote {
        return Err(format!(
            "unclosed {q} in the driver's command line {line:?}"
        ));
    }
    words.extend(word);
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::split_words;

    #[test]
    fn command_lines_split_on_spaces_and_keep_quoted_words() {
        assert_eq!(
            split_words(r#"node "my dir/driver.mjs" 'a b' c"#).ok(),
            Some(vec![
                "node".to_owned(),
                "my dir/driver.mjs".to_owned(),
                "a b".to_owned(),
                "c".to_owned()
            ])
        );
        assert!(split_words("node 'open").is_err());
    }
}
