//! The driver's process: started from its command line, its first line
//! read as the handshake, its stdout read line by line on a thread of its
//! own, its stderr kept (the tail) for error messages, and killed when the
//! kit is done with it.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command as Process, Stdio};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use parking_lot::Mutex;

use super::protocol::{PROTOCOL_VERSION, Report};

/// How much of an offending line a message shows.
pub(crate) const MAX_SHOWN: usize = 200;

/// What a driver's handshake says.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DriverInfo {
    /// The implementation's name.
    pub name: String,
    /// The implementation's version.
    pub version: String,
    /// The implementation's language, when given.
    pub language: Option<String>,
    /// What it supports ([`CAPABILITIES`](super::CAPABILITIES) lists the known ones).
    pub capabilities: BTreeSet<String>,
}

impl DriverInfo {
    /// `name version (language)`, for reports.
    pub fn describe(&self) -> String {
        match &self.language {
            Some(l) => format!("{} {} ({l})", self.name, self.version),
            None => format!("{} {}", self.name, self.version),
        }
    }

    /// A handshake claiming `capabilities`, for the kit's unit tests.
    #[cfg(test)]
    pub(crate) fn for_tests(capabilities: BTreeSet<String>) -> Self {
        Self {
            name: "test-driver".to_owned(),
            version: "0".to_owned(),
            language: None,
            capabilities,
        }
    }
}

/// How long the end of the driver's output waits for its stderr to end.
const STDERR_GRACE: Duration = Duration::from_millis(500);
/// How much of the driver's stderr is kept.
const STDERR_TAIL: usize = 4096;

/// One line of the driver's stdout, or its end.
pub(crate) enum Line {
    /// A line (lossily decoded).
    Text(String),
    /// The output ended (the driver exited or closed it).
    End,
}

/// A running driver.
pub(crate) struct Running {
    pub(crate) child: Child,
    pub(crate) stdin: ChildStdin,
    pub(crate) info: DriverInfo,
    /// The tail of what the driver wrote to stderr.
    pub(crate) stderr: Arc<Mutex<String>>,
}

/// Starts `argv` and reads its handshake, waiting for it at most
/// `hello_within` of real time (the hang limit: a driver starting on a
/// loaded machine is slow, not broken). The lines after it are sent to
/// `lines` (from a thread that ends with the output).
pub(crate) fn start(
    argv: &[String],
    hello_within: Duration,
    lines: impl Fn(Line) + Send + 'static,
) -> Result<Running, String> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| "the driver's command line is empty".to_owned())?;
    let mut child = Process::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start the driver `{}`: {e}", argv.join(" ")))?;
    let stderr = Arc::new(Mutex::new(String::new()));
    let (stderr_done, stderr_ended) = mpsc::channel::<()>();
    if let Some(err) = child.stderr.take() {
        let tail = stderr.clone();
        std::thread::spawn(move || {
            keep_tail(err, &tail);
            let _ = stderr_done.send(());
        });
    }
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        let _ = child.kill();
        return Err("the driver's stdin or stdout could not be opened".to_owned());
    };
    let (hello_tx, hello_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let first = read_line(&mut reader);
        if matches!(first, Line::End) {
            let _ = stderr_ended.recv_timeout(STDERR_GRACE);
            let _ = hello_tx.send(first);
            return;
        }
        let _ = hello_tx.send(first);
        loop {
            match read_line(&mut reader) {
                Line::End => {
                    // What a crashing driver said last is on stderr: have
                    // it in before the end is reported.
                    let _ = stderr_ended.recv_timeout(STDERR_GRACE);
                    lines(Line::End);
                    return;
                }
                line => lines(line),
            }
        }
    });
    let first = match hello_rx.recv_timeout(hello_within) {
        Ok(Line::Text(line)) => line,
        Ok(Line::End) => {
            let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
            return Err(format!(
                "the driver exited before its hello ({status}){}",
                shown_stderr(&stderr)
            ));
        }
        Err(_) => {
            let _ = child.kill();
            return Err(format!(
                "the driver printed no hello within {} s (the hang limit){}",
                hello_within.as_secs(),
                shown_stderr(&stderr)
            ));
        }
    };
    match hello(&first) {
        Ok(info) => Ok(Running {
            child,
            stdin,
            info,
            stderr,
        }),
        Err(why) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(why)
        }
    }
}

/// Reads the handshake line.
fn hello(line: &str) -> Result<DriverInfo, String> {
    let report: Report = serde_json::from_str(line).map_err(|e| {
        format!(
            "the driver's first line is not a hello message ({e}): {}",
            shown(line)
        )
    })?;
    let Report::Hello {
        protocol,
        name,
        version,
        language,
        capabilities,
    } = report
    else {
        return Err(format!(
            "the driver's first line must be its hello, got: {}",
            shown(line)
        ));
    };
    if protocol != PROTOCOL_VERSION {
        return Err(format!(
            "the driver speaks protocol version {protocol}; this kit speaks version {PROTOCOL_VERSION}: {}",
            shown(line)
        ));
    }
    Ok(DriverInfo {
        name,
        version,
        language,
        capabilities: capabilities.into_iter().collect(),
    })
}

fn read_line(reader: &mut impl BufRead) -> Line {
    let mut buf = Vec::new();
    match reader.read_until(b'\n', &mut buf) {
        Ok(0) | Err(_) => Line::End,
        Ok(_) => {
            while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                buf.pop();
            }
            Line::Text(String::from_utf8_lossy(&buf).into_owned())
        }
    }
}

fn keep_tail(mut err: impl Read, tail: &Mutex<String>) {
    let mut buf = [0u8; 1024];
    while let Ok(n) = err.read(&mut buf) {
        if n == 0 {
            return;
        }
        let mut t = tail.lock();
        t.push_str(&String::from_utf8_lossy(&buf[..n]));
        if t.len() > STDERR_TAIL {
            let mut cut = t.len() - STDERR_TAIL;
            while !t.is_char_boundary(cut) {
                cut += 1;
            }
            t.drain(..cut);
        }
    }
}

/// `; its stderr ended with: ...` when it wrote any.
pub(crate) fn shown_stderr(stderr: &Mutex<String>) -> String {
    let t = stderr.lock();
    let t = t.trim();
    if t.is_empty() {
        String::new()
    } else {
        format!("; its stderr ended with: {}", shown(t))
    }
}

/// A line cut for a message.
pub(crate) fn shown(line: &str) -> String {
    if line.len() <= MAX_SHOWN {
        return format!("{line:?}");
    }
    let mut cut = MAX_SHOWN;
    while !line.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{:?}… ({} bytes)", &line[..cut], line.len())
}

/// Writes lines to the driver's stdin from a thread of its own (a driver
/// slow to read never blocks the case's thread).
pub(crate) fn writer(mut stdin: ChildStdin) -> mpsc::Sender<String> {
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in rx {
            if stdin.write_all(line.as_bytes()).is_err()
                || stdin.write_all(b"\n").is_err()
                || stdin.flush().is_err()
            {
                return;
            }
        }
    });
    tx
}

/// Asks the driver to quit, then kills it if it has not exited within a
/// moment.
pub(crate) fn finish(mut child: Child) {
    for _ in 0..50 {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = child.kill();
    let _ = child.wait();
}
