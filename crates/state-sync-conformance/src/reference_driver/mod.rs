//! The Rust reference driver: `state-sync`'s own engine behind the driver
//! protocol (`docs/driver-protocol.md`), run by the
//! `state-sync-reference-driver` binary. Through it the whole corpus must
//! give the verdicts it gives in-process — the check that the protocol
//! carries everything a spec observes, and a worked example for authors
//! of drivers in other languages.
//!
//! Its engines run on a current-thread tokio runtime on paused time that
//! never moves by itself (the blocking task reading stdin holds tokio's
//! auto-advance off): each command's `now_ms` moves it, timer by timer,
//! and `done` names the next moment an engine's timer (debounce, throttle,
//! retry back-off) wants.
//!
//! | module | what it owns |
//! |---|---|
//! | `engine` | an engine as the `open` options describe it; its values in the protocol's words |
//! | `ports` | the engine's subscriber, provider and applier: requests to the kit, answered by its commands |
//! | `serve` | the command loop: the clock, the windows, the answers |

mod engine;
mod ports;
mod serve;

pub use self::serve::serve;
