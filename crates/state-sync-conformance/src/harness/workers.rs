//! Crash isolation: the harness runs its cases in worker processes — copies
//! of the test binary, each running one case at a time and streaming its
//! records back. A case that takes its process down (a stack overflow, an
//! abort, a `std::process::exit` in the transport) is that case's `error`,
//! naming the signal, with its trace so far; a fresh worker takes the next
//! case. A panic on any thread of a worker is charged to the one case that
//! worker runs, never to a case running beside it. Workers live for the
//! whole run, so isolation costs a pipe round trip per case, not a process.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitCode, ExitStatus, Stdio};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::record::{Record, RecordSink, Recorded, run_recorded};
use crate::case::RunOptions;
use crate::spec::Spec;
use crate::suite::Plan;
use crate::transport::Transport;
use crate::verdict::CaseResult;

/// Environment variable: set (by the harness) in a worker process.
pub(super) const WORKER_ENV: &str = "STATE_SYNC_CONFORMANCE_WORKER";

/// What begins a record line on a worker's stdout (anything else there is
/// the transport's own output, passed through).
const MARK: &str = "\u{1e}state-sync-conformance-record ";

/// How many of a dead worker's last stderr lines its case's error quotes.
const STDERR_QUOTED: usize = 3;

/// How long an idle worker gets to exit once told the run is over.
const EXIT_GRACE: Duration = Duration::from_secs(5);

/// A worker process's loop: reads case names (`transport::spec-id`) from
/// stdin, one per line, runs each and writes its records to stdout, until
/// stdin closes.
pub(super) fn serve(plan: &Plan, options: &RunOptions) -> ExitCode {
    let cases: HashMap<String, &(Transport, Spec)> = plan
        .cases
        .iter()
        .map(|case| (super::case_name(case.0.name(), &case.1.id), case))
        .collect();
    let sink: RecordSink = Arc::new(|record: &Record| {
        let Ok(json) = serde_json::to_string(record) else {
            return;
        };
        let mut out = std::io::stdout().lock();
        // A newline first ends whatever the transport printed without one.
        let _ = write!(out, "\n{MARK}{json}\n");
        let _ = out.flush();
    });
    for line in std::io::stdin().lock().lines() {
        let Ok(name) = line else { break };
        let Some((transport, spec)) = cases.get(name.trim()) else {
            eprintln!("state-sync-conformance worker: no case is named {name:?}");
            return ExitCode::FAILURE;
        };
        run_recorded(transport, spec, options, &sink);
    }
    ExitCode::SUCCESS
}

/// The worker processes of one run; each case borrows an idle one.
pub(super) struct Pool {
    program: PathBuf,
    /// Set in each worker's environment (besides [`WORKER_ENV`]).
    env: Vec<(String, String)>,
    idle: Mutex<Vec<Worker>>,
}

impl Pool {
    /// A pool of copies of this process's program (none started yet).
    pub(super) fn new(env: Vec<(String, String)>) -> std::io::Result<Self> {
        Ok(Self {
            program: std::env::current_exe()?,
            env,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// Runs one case in a worker and gives its raw result.
    pub(super) fn run(
        &self,
        transport: &Transport,
        spec: &Spec,
        options: &RunOptions,
    ) -> CaseResult {
        let name = super::case_name(transport.name(), &spec.id);
        let idle = self.idle.lock().pop();
        let mut worker = match idle.map_or_else(|| Worker::spawn(&self.program, &self.env), Ok) {
            Ok(worker) => worker,
            Err(e) => {
                return crate::case::crashed(
                    spec,
                    transport,
                    options,
                    format!("could not start a process to run the case in: {e}"),
                    Vec::new(),
                );
            }
        };
        let recorded = worker.run(&name);
        if recorded.result.is_some() {
            self.idle.lock().push(worker);
            return recorded.into_result(transport, spec, options, String::new);
        }
        recorded.into_result(transport, spec, options, || worker.death())
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        for worker in self.idle.get_mut().drain(..) {
            worker.finish();
        }
    }
}

/// One worker process.
struct Worker {
    child: Child,
    stdin: Option<ChildStdin>,
    records: mpsc::Receiver<Record>,
    stdout: Option<JoinHandle<()>>,
    stderr: Option<JoinHandle<VecDeque<String>>>,
}

impl Worker {
    fn spawn(program: &PathBuf, env: &[(String, String)]) -> std::io::Result<Self> {
        let mut child = Command::new(program)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env(WORKER_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let (stdin, stdout, stderr) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take());
        let (tx, records) = mpsc::channel();
        let stdout = stdout.map(|out| std::thread::spawn(move || read_records(out, &tx)));
        let stderr = stderr.map(|err| std::thread::spawn(move || pass_stderr(err)));
        Ok(Self {
            child,
            stdin,
            records,
            stdout,
            stderr,
        })
    }

    /// Sends the case and collects its records until its result, or until
    /// the worker's stdout closes (it died).
    fn run(&mut self, name: &str) -> Recorded {
        let mut recorded = Recorded::default();
        let sent = self.stdin.as_mut().is_some_and(|stdin| {
            writeln!(stdin, "{name}")
                .and_then(|()| stdin.flush())
                .is_ok()
        });
        if !sent {
            return recorded;
        }
        while let Ok(record) = self.records.recv() {
            recorded.push(record);
            if recorded.result.is_some() {
                break;
            }
        }
        recorded
    }

    /// Why the worker ended: how it exited and its last stderr lines.
    fn death(&mut self) -> String {
        drop(self.stdin.take());
        let status = self.child.wait();
        if let Some(reader) = self.stdout.take() {
            let _ = reader.join();
        }
        let tail = self
            .stderr
            .take()
            .and_then(|reader| reader.join().ok())
            .unwrap_or_default();
        let how = match status {
            Ok(status) => exit_description(status),
            Err(e) => format!("its exit status is unknown ({e})"),
        };
        let said: Vec<String> = tail
            .iter()
            .map(|l| without_thread_ids(l.trim()))
            .filter(|l| !l.is_empty())
            .collect();
        let said = said[said.len().saturating_sub(STDERR_QUOTED)..].join(" / ");
        if said.is_empty() {
            format!("the case's process ended before the case did: {how}")
        } else {
            format!("the case's process ended before the case did: {how}; it said: {said}")
        }
    }

    /// Tells an idle worker the run is over and waits for it (a bounded
    /// time: one that does not exit is killed).
    fn finish(mut self) {
        drop(self.stdin.take());
        let began = Instant::now();
        while began.elapsed() < EXIT_GRACE {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads a worker's stdout: record lines become records, any other line is
/// the transport's own output and goes to this process's stdout.
fn read_records(out: impl Read, tx: &mpsc::Sender<Record>) {
    let mut reader = BufReader::new(out);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\n', '\r']);
        if let Some(json) = text.strip_prefix(MARK) {
            if let Ok(record) = serde_json::from_str(json) {
                let _ = tx.send(record);
            }
        } else if !text.is_empty() {
            println!("{text}");
        }
    }
}

/// Passes a worker's stderr through, keeping its last lines.
fn pass_stderr(err: impl Read) -> VecDeque<String> {
    let mut tail = VecDeque::new();
    for line in BufReader::new(err).lines() {
        let Ok(line) = line else { break };
        eprintln!("{line}");
        if tail.len() == STDERR_QUOTED * 4 {
            tail.pop_front();
        }
        tail.push_back(line);
    }
    tail
}

/// `line` without the numeric thread ids Rust prints after a thread's name
/// (`thread 'main' (4242) has overflowed its stack`): they differ from run
/// to run, and the reports must not.
fn without_thread_ids(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find("' (") {
        let (before, after) = rest.split_at(at + 1);
        out.push_str(before);
        let digits = after[2..]
            .find(')')
            .filter(|&n| n > 0 && after[2..2 + n].bytes().all(|b| b.is_ascii_digit()));
        match digits {
            Some(n) => rest = &after[2 + n + 1..],
            None => {
                out.push_str(&after[..2]);
                rest = &after[2..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// How a process exited, in words: the signal that killed it, by name.
fn exit_description(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("killed by signal {signal} ({})", signal_name(signal));
        }
    }
    match status.code() {
        Some(code) => {
            format!("it exited with code {code} (a `std::process::exit` in the transport?)")
        }
        None => format!("it ended: {status}"),
    }
}

/// The usual name of a POSIX signal.
#[cfg(unix)]
fn signal_name(signal: i32) -> &'static str {
    match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        4 => "SIGILL",
        6 => "SIGABRT",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => "a signal",
    }
}

#[cfg(test)]
mod tests {
    use super::without_thread_ids;

    #[test]
    fn thread_ids_are_left_out_of_what_a_dead_worker_said() {
        assert_eq!(
            without_thread_ids("thread '<unknown>' (15614) has overflowed its stack"),
            "thread '<unknown>' has overflowed its stack"
        );
        assert_eq!(
            without_thread_ids("thread 'a' (1) and 'b' (x) stay"),
            "thread 'a' and 'b' (x) stay"
        );
        assert_eq!(without_thread_ids("no thread here"), "no thread here");
    }
}
