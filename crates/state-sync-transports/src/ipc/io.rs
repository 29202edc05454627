//! The thread the IPC transport does its I/O on, and its streams.
//!
//! Sockets are read and written by tasks of an
//! [`IoThread`], started by the
//! [`Server`](super::Server) or [`Client`](super::Client) that owns it and
//! stopped when that is dropped. The caller's runtime, if any, is never
//! used for I/O: a window end may be polled on any runtime (a test's paused
//! clock included), and invalidation handlers are called from the I/O
//! thread.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use tokio::io::{AsyncRead, AsyncWrite};

/// Where a server listens and windows connect.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Address {
    /// A Unix domain socket at this path.
    Unix(PathBuf),
    /// TCP (use a loopback address: the protocol has no authentication).
    Tcp(SocketAddr),
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unix(path) => write!(f, "unix:{}", path.display()),
            Self::Tcp(addr) => write!(f, "tcp:{addr}"),
        }
    }
}

/// `unix:PATH` or `tcp:HOST:PORT`, as [`Address`] displays.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an IPC address: {0:?} (expected `unix:PATH` or `tcp:HOST:PORT`)")]
pub struct AddressError(String);

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(path) = s.strip_prefix("unix:").filter(|p| !p.is_empty()) {
            return Ok(Self::Unix(PathBuf::from(path)));
        }
        s.strip_prefix("tcp:")
            .and_then(|a| a.parse().ok())
            .map(Self::Tcp)
            .ok_or_else(|| AddressError(s.to_owned()))
    }
}

pub(crate) type Reader = Box<dyn AsyncRead + Send + Unpin>;
pub(crate) type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// Connects to `address`.
pub(crate) async fn connect(address: &Address) -> io::Result<(Reader, Writer)> {
    match address {
        #[cfg(unix)]
        Address::Unix(path) => {
            let (r, w) = tokio::net::UnixStream::connect(path).await?.into_split();
            Ok((Box::new(r), Box::new(w)))
        }
        #[cfg(not(unix))]
        Address::Unix(_) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "Unix domain sockets are not available here; use TCP",
        )),
        Address::Tcp(addr) => {
            let stream = tokio::net::TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            let (r, w) = stream.into_split();
            Ok((Box::new(r), Box::new(w)))
        }
    }
}

/// A listening socket.
pub(crate) enum Listener {
    #[cfg(unix)]
    Unix(tokio::net::UnixListener),
    Tcp(tokio::net::TcpListener),
}

impl Listener {
    /// Binds `address` (call on the I/O runtime). A TCP port of 0 picks a
    /// free port; the bound address is returned.
    pub(crate) fn bind(address: &Address) -> io::Result<(Self, Address)> {
        match address {
            #[cfg(unix)]
            Address::Unix(path) => {
                let listener = tokio::net::UnixListener::bind(path)?;
                Ok((Self::Unix(listener), address.clone()))
            }
            #[cfg(not(unix))]
            Address::Unix(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "Unix domain sockets are not available here; use TCP",
            )),
            Address::Tcp(addr) => {
                let std = std::net::TcpListener::bind(addr)?;
                std.set_nonblocking(true)?;
                let bound = std.local_addr()?;
                Ok((
                    Self::Tcp(tokio::net::TcpListener::from_std(std)?),
                    Address::Tcp(bound),
                ))
            }
        }
    }

    pub(crate) async fn accept(&self) -> io::Result<(Reader, Writer)> {
        match self {
            #[cfg(unix)]
            Self::Unix(l) => {
                let (r, w) = l.accept().await?.0.into_split();
                Ok((Box::new(r), Box::new(w)))
            }
            Self::Tcp(l) => {
                let stream = l.accept().await?.0;
                stream.set_nodelay(true)?;
                let (r, w) = stream.into_split();
                Ok((Box::new(r), Box::new(w)))
            }
        }
    }
}

pub(crate) use crate::io_thread::{IoThread, STACK_BYTES as IO_STACK_BYTES};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_from_what_they_display() {
        for address in [
            Address::Unix(PathBuf::from("/tmp/state-sync.sock")),
            Address::Tcp("127.0.0.1:4000".parse().expect("addr")),
            Address::Tcp("[::1]:4000".parse().expect("addr")),
        ] {
            assert_eq!(address.to_string().parse::<Address>(), Ok(address));
        }
        for bad in [
            "",
            "unix:",
            "tcp:",
            "tcp:localhost",
            "/tmp/x.sock",
            "udp:1.2.3.4:5",
        ] {
            assert!(bad.parse::<Address>().is_err(), "{bad}");
        }
    }
}
