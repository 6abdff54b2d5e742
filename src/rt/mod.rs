//! The runtime core every cure shares: one clock, one timer, one
//! background executor thread, and one policy for a thread the OS refuses.
//!
//! - [`clock`]: the time now, never cached across work; under the
//!   `test-util` feature, a virtual clock entered for the futures it drives
//!   (`virtual_clock`, behind [`TestClock`](crate::time::TestClock)).
//! - [`timer`]: one coarse timer (1 ms ticks, one driver thread
//!   `guard-timer`) behind every deadline of the crate.
//! - [`executor`]: one `async_executor::Executor` on one thread
//!   (`guard-runtime`) for reaper drivers and detached shielded work.
//! - [`thread`]: how the crate starts its threads and what happens when the
//!   OS refuses one (the work waits and the start is retried; the caller is
//!   never blocked and nothing is disabled for good).
//!
//! Nothing here assumes an executor: the threads drive themselves, so the
//! cures work the same under smol, async-std, `block_on` or a bare
//! `async_executor::Executor`.

pub(crate) mod clock;
pub(crate) mod executor;
pub(crate) mod thread;
pub(crate) mod timer;
#[cfg(feature = "test-util")]
pub(crate) mod virtual_clock;
