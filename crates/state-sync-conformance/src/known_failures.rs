//! Known failures (in progress).
