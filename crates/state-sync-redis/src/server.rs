//! A real Redis server for tests and examples: [`RedisServer`].

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Environment variable: the `redis-server` program to run (by default
/// `redis-server` on the `PATH`).
pub const REDIS_SERVER_ENV: &str = "STATE_SYNC_REDIS_SERVER";

/// How long a server may take to accept connections.
const STARTUP_LIMIT: Duration = Duration::from_secs(20);

/// A `redis-server` process of its own, listening only on a Unix socket
/// in a temporary folder (no TCP port, nothing persisted), stopped by its
/// PID when dropped — and when this process dies without dropping it
/// (killed with SIGKILL): a small `sh` guard beside the server holds a pipe
/// from this process and kills the server when the pipe closes.
///
/// For tests and examples: a real broker, never a mock of one.
///
/// ```no_run
/// use state_sync_redis::RedisServer;
///
/// let server = RedisServer::start()?;
/// println!("Redis (pid {:?}) at {}", server.pid(), server.url());
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct RedisServer {
    child: Option<Guarded>,
    socket: PathBuf,
    // Removed (with the socket) when the server is dropped.
    folder: tempfile::TempDir,
}

impl RedisServer {
    /// Starts `redis-server` (or [`REDIS_SERVER_ENV`]) and waits until it
    /// accepts connections.
    pub fn start() -> io::Result<Self> {
        let folder = tempfile::Builder::new()
            .prefix("state-sync-redis-")
            .tempdir()?;
        let socket = folder.path().join("redis.sock");
        let child = spawn(folder.path(), &socket)?;
        Ok(Self {
            child: Some(child),
            socket,
            folder,
        })
    }

    /// The URL clients connect with (`unix://…/redis.sock`).
    pub fn url(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// The server process's id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|guarded| guarded.server)
    }

    /// Stops the server (SIGKILL, as a crash would): clients see their
    /// connections break and cannot reconnect until [`RedisServer::restart`].
    pub fn stop(&mut self) {
        if let Some(guarded) = self.child.take() {
            guarded.stop();
        }
        let _ = std::fs::remove_file(&self.socket);
    }

    /// Stops the server if it runs and starts a new one at the same
    /// socket, empty (what a broker restarted without persistence is).
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop();
        self.child = Some(spawn(self.folder.path(), &self.socket)?);
        Ok(())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisServer")
            .field("pid", &self.pid())
            .field("socket", &self.socket)
            .finish()
    }
}

fn program() -> String {
    std::env::var(REDIS_SERVER_ENV).unwrap_or_else(|_| "redis-server".to_owned())
}

/// The guard `redis-server` runs under (`$0` is the program, `$@` its
/// arguments): it says the server's PID, then kills the server with
/// SIGKILL once its standard input — a pipe whose only writer is this
/// process — reaches its end, and exits with the server's status.
const GUARD: &str = r#"command -v "$0" >/dev/null 2>&1 || exit 127
exec 3<&0
"$0" "$@" </dev/null >/dev/null 2>&1 &
server=$!
echo "$server"
{ cat >/dev/null; kill -9 "$server" 2>/dev/null; } <&3 &
wait "$server""#;

/// A server under its guard.
struct Guarded {
    guard: Child,
    /// The server's PID.
    server: u32,
}

impl Guarded {
    /// Closes the guard's pipe (the guard kills the server) and waits for
    /// the guard, which ends once the server has.
    fn stop(mut self) {
        drop(self.guard.stdin.take());
        let _ = self.guard.wait();
    }
}

fn spawn(folder: &Path, socket: &Path) -> io::Result<Guarded> {
    let program = program();
    let mut guard = Command::new("sh")
        .arg("-c")
        .arg(GUARD)
        .arg(&program)
        .args(["--port", "0", "--save", "", "--appendonly", "no"])
        .arg("--unixsocket")
        .arg(socket)
        .args(["--unixsocketperm", "700"])
        .arg("--dir")
        .arg(folder)
        .arg("--logfile")
        .arg(folder.join("redis.log"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot start sh to run {program}: {e}")))?;
    let mut said = String::new();
    if let Some(out) = guard.stdout.take() {
        io::BufRead::read_line(&mut io::BufReader::new(out), &mut said)?;
    }
    let Ok(server) = said.trim().parse() else {
        let status = guard.wait()?;
        return Err(if status.code() == Some(127) {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "cannot start {program} (install Redis, or set {REDIS_SERVER_ENV}): not found"
                ),
            )
        } else {
            io::Error::other(format!(
                "the guard of {program} ended ({status}) before starting it"
            ))
        });
    };
    let mut guarded = Guarded { guard, server };
    let started = Instant::now();
    loop {
        if std::os::unix::net::UnixStream::connect(socket).is_ok_and(pings) {
            return Ok(guarded);
        }
        if let Some(status) = guarded.guard.try_wait()? {
            let said = std::fs::read_to_string(folder.join("redis.log")).unwrap_or_default();
            return Err(io::Error::other(format!(
                "{program} exited ({status}) before accepting connections: {}",
                said.trim()
            )));
        }
        if started.elapsed() > STARTUP_LIMIT {
            guarded.stop();
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "{program} did not accept connections within {} s",
                    STARTUP_LIMIT.as_secs()
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether the server answers a `PING` on `stream`.
fn pings(mut stream: std::os::unix::net::UnixStream) -> bool {
    use std::io::{Read, Write};
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut answer = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut answer).is_ok()
        && &answer == b"+PONG\r\n"
}
