//! What the benchmarks of this crate share: the payload every contender
//! gets, the bare loops they are measured against, and an engine harness
//! whose snapshot fetch hangs until a burst is over.

#![allow(dead_code)] // each bench target uses its own part

pub mod bare;
pub mod feed;
pub mod harness;
pub mod rss;
