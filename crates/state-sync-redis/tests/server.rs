//! `RedisServer` never outlives the process that started it: dropped, it
//! stops the server; killed with SIGKILL (no drop, no panic hook), its
//! guard still does.
//!
//! The second test runs a copy of this test binary as the process to kill.
//! Waits are bounded (a server still running after a minute fails the
//! test), never timed.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use state_sync_redis::RedisServer;

/// How long a server may take to go away before the test calls it leaked.
const HANG: Duration = Duration::from_secs(60);
/// Set in the copy of this binary that starts a server and waits to die.
const CHILD_ENV: &str = "STATE_SYNC_REDIS_TEST_SERVER_CHILD";

/// Whether process `pid` still runs (a zombie does not).
fn runs(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // The state follows the command name, which is in parentheses.
            let state = stat.rsplit_once(')')?.1.trim_start().chars().next()?;
            Some(state != 'Z' && state != 'X')
        })
        .unwrap_or(false)
}

/// Waits until `pid` no longer runs; whether it stopped within [`HANG`].
fn ends(pid: u32) -> bool {
    let began = Instant::now();
    while runs(pid) {
        if began.elapsed() > HANG {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

#[test]
fn a_dropped_server_stops() {
    let server = RedisServer::start().expect("redis-server starts");
    let pid = server.pid().expect("it runs");
    assert!(runs(pid), "redis-server {pid} runs");
    drop(server);
    assert!(ends(pid), "redis-server {pid} still runs after its drop");
}

#[test]
fn a_server_does_not_outlive_a_process_killed_with_sigkill() {
    let test = std::env::current_exe().expect("this test binary");
    let mut child = Command::new(test)
        .args([
            "--exact",
            "server_of_a_process_to_kill",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the copy of this test starts");
    let out = BufReader::new(child.stdout.take().expect("its output"));
    let pid = out
        .lines()
        .map_while(Result::ok)
        .find_map(|line| {
            line.strip_prefix("redis-server pid ")?
                .trim()
                .parse::<u32>()
                .ok()
        })
        .expect("the copy says its server's pid");
    assert!(runs(pid), "redis-server {pid} runs");
    child.kill().expect("SIGKILL");
    child.wait().expect("the copy ends");
    assert!(
        ends(pid),
        "redis-server {pid} outlived the process that started it"
    );
}

/// The process the test above kills: starts a server, says its pid, and
/// waits to be killed.
#[test]
#[ignore = "run by a_server_does_not_outlive_a_process_killed_with_sigkill"]
fn server_of_a_process_to_kill() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let server = RedisServer::start().expect("redis-server starts");
    println!("redis-server pid {}", server.pid().expect("it runs"));
    std::thread::sleep(HANG * 2);
    drop(server);
}
