//! Engines in other languages, checked through a driver: a child process
//! that hosts an engine and speaks the driver protocol
//! (`docs/driver-protocol.md`) — newline-delimited JSON on its stdin and
//! stdout.
//!
//! The kit plays the source of truth and the transport: the spec's windows
//! are the driver's engines, their ports are the kit's (with the same fault
//! and observation layers as an in-process engine), and the kit's virtual
//! clock is the driver's. A [`Transport`](crate::Transport) given a driver
//! ([`Transport::with_driver`](crate::Transport::with_driver)) runs every
//! spec through it; [`Suite::driver`](crate::Suite::driver) adds one over
//! the memory transport.
//!
//! | module | what it owns |
//! |---|---|
//! | `protocol` | the messages, both ways |
//! | `program` | a driver's command line, and its handshake once asked |
//! | `process` | the child process: start, handshake, output lines, stderr, the end |
//! | `connection` | one case's conversation with its driver: commands in batches, acknowledgements, the driver's timers; its `reports` module takes the driver's reports in and serves the window's ports |
//! | `needs` | what a spec needs of a driver (its capabilities) |
//! | `vectors` | the revision golden vectors, run against the driver's parser |

mod connection;
mod needs;
mod process;
mod program;
pub mod protocol;
pub mod vectors;

pub(crate) use self::connection::{Connection, Ports, RemoteWindow};
pub use self::needs::{CAPABILITIES, needs};
pub use self::process::DriverInfo;
pub use self::program::Driver;
