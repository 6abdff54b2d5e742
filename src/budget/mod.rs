//! Cure 4: cooperative yielding, so one hot loop cannot starve a thread,
//! and the tools to find the loops that do.
//!
//! An executor thread runs one task at a time and switches only when the
//! task's poll returns `Pending`: a future that loops without really
//! waiting keeps its thread, and every other task on it starves (timeouts
//! fire late, heartbeats miss). tokio hides part of the problem with a
//! per-task budget (its I/O resources force a yield after 128 operations);
//! smol's executors, async-std and `block_on` have none. This module is that
//! budget, explicit and for any executor: [`Budget`] (`budget.tick().await`
//! in the loop, yielding every `n` ticks or every time slice),
//! [`yield_now`], [`iter`] (an iterator as a stream that yields) and
//! [`cooperative`](crate::StreamExt::cooperative) streams; and, to find the
//! culprits, [`detect_stalls`](crate::FutureExt::detect_stalls) (times each
//! poll) and [`LagProbe`] (measures how late the executor runs a
//! heartbeat).
//!
//! ```
//! use std::time::Duration;
//! use async_guard::budget::Budget;
//! # futures_lite::future::block_on(async {
//! async fn checksum(data: &[u8]) -> u64 {
//!     let mut budget = Budget::default(); // yields every ~500 us of work
//!     let mut hash = 0xcbf29ce484222325u64;
//!     for byte in data {
//!         hash = (hash ^ u64::from(*byte)).wrapping_mul(0x100000001b3);
//!         budget.tick().await; // a counter decrement, almost always
//!     }
//!     hash
//! }
//! let other = smol::spawn(async_io::Timer::after(Duration::from_millis(1)));
//! checksum(&vec![7; 1 << 20]).await; // `other` keeps running meanwhile
//! other.await;
//! # });
//! ```
//!
//! # Which tool
//!
//! - You own the loop: put a [`Budget`] in it. Prefer a time slice when the
//!   cost of one iteration is unknown or varies; a count (`Budget::new(n)`)
//!   when it is known and you want exact, reproducible yield points.
//! - The loop consumes a stream that may always be ready (a full channel, a
//!   buffered reader): `stream.cooperative(n)`.
//! - The loop walks an iterator: [`iter`] makes it a stream that yields.
//! - One yield at a known point: [`yield_now`].
//! - You do not know which task blocks the thread: a [`LagProbe`] tells
//!   *that* the thread is blocked and how badly; wrapping suspects in
//!   [`detect_stalls`](crate::FutureExt::detect_stalls) tells *which*.
//!
//! # Why there is no `fut.cooperative()` for futures
//!
//! A wrapper around a future only runs between the inner future's polls.
//! The futures that starve a thread are those whose single poll never ends
//! (a loop with no await that really waits), and a wrapper cannot
//! interrupt that poll. Every poll that *does* end with `Pending` has
//! already yielded, so there is nothing left for the wrapper to do. tokio
//! solves it from the inside: its leaf resources consult a thread-local
//! budget and return `Pending` when it is spent; smol's resources do not,
//! so the fix must go where the loop is (a [`Budget`], a cooperative
//! stream). What a wrapper *can* do is measure each poll, and that is
//! [`DetectStalls`].
//!
//! # Cost
//!
//! A tick is a decrement and a branch; what a count budget really costs is
//! one yield spread over `n` ticks, so for tiny bodies pick `n` of 1 000
//! or more, or a time slice. A time-sliced budget reads the clock only
//! every `k` ticks, `k` adapted to keep about a dozen reads per slice (see
//! [`Budget`]). [`DetectStalls`] costs two clock readings per poll; a
//! [`LagProbe`] one timer registration and one short lock per beat.
//! `BENCHMARKS.md` has the measured overheads against the bare loop.
//!
//! # Edge cases
//!
//! - `Budget::new(0)` yields on every tick (as `Budget::new(1)`);
//!   `Budget::time_slice(Duration::ZERO)` too. `Duration::MAX` and
//!   `usize::MAX` never yield. Nothing overflows or panics.
//! - `stream.cooperative(0)` behaves as `cooperative(1)`.
//! - `detect_stalls(Duration::ZERO, ..)` reports every poll;
//!   `Duration::MAX` none.
//! - `LagProbe::new(Duration::ZERO)` beats every 100 µs (the minimum);
//!   `Duration::MAX` never beats.
//!
//! # Cancellation safety
//!
//! Everything here holds no resources across an await. Dropping a
//! [`YieldNow`] or [`Tick`] at any point loses nothing (a dropped yielding
//! tick just skips that yield; the budget has already started over).
//! Dropping a [`Cooperative`] stream drops the inner stream; no item is
//! ever buffered, so none is lost. Dropping a [`DetectStalls`] drops the
//! inner future. Dropping a [`Heartbeat`] ends the measurements and the
//! [`LagProbe`] keeps what it recorded; dropping every `LagProbe` ends the
//! heartbeat.
//!
//! # Comparison with other crates
//!
//! `futures_lite::future::yield_now`, `async_std::task::yield_now` and
//! `tokio::task::yield_now` are [`yield_now`]. tokio's automatic coop
//! budget and `tokio::task::consume_budget` work only on tokio's runtime.
//! No smol-ecosystem crate offers a tick budget, a time slice, cooperative
//! streams, a stall detector or a lag probe; the closest are tokio-metrics
//! (poll-time histograms, tokio only) and Python's asyncio debug mode. The
//! asyncio idioms (`await asyncio.sleep(0)` in a loop) map onto this module
//! in the README's migration table.

mod lag;
mod stall;
mod stream;
mod yielding;

pub use lag::{Heartbeat, LagProbe, LagStats};
pub use stall::DetectStalls;
pub use stream::Cooperative;
pub use yielding::{Budget, Tick, YieldNow, yield_now};

/// Turns a CPU-bound iterator into a stream that yields to the executor
/// every 500 µs of work (a [`Budget::default`]).
///
/// Each item is produced by calling `next()` on the iterator inside a poll,
/// so the work done *in the iterator* (a `map` closure, a parser) is what
/// the budget slices; work done by the consumer between items counts too,
/// since the clock runs from one item to the next. For another budget use
/// [`iter_with`].
///
/// # Examples
///
/// ```
/// use async_guard::budget;
/// use futures_lite::StreamExt;
/// # futures_lite::future::block_on(async {
/// let squares = budget::iter((0..1_000_000u64).map(|i| i * i));
/// let sum = squares.fold(0u64, |acc, x| acc.wrapping_add(x)).await;
/// assert_eq!(sum, (0..1_000_000u64).map(|i| i * i).fold(0, u64::wrapping_add));
/// # });
/// ```
pub fn iter<I: IntoIterator>(iter: I) -> Cooperative<futures_lite::stream::Iter<I::IntoIter>> {
    iter_with(Budget::default(), iter)
}

/// Like [`iter`], with the given budget.
///
/// # Examples
///
/// ```
/// use async_guard::budget::{self, Budget};
/// use futures_lite::StreamExt;
/// # futures_lite::future::block_on(async {
/// let mut steps = budget::iter_with(Budget::new(10), 0..100);
/// while let Some(step) = steps.next().await {
///     let _ = step; // a yield happens after every 10th step
/// }
/// assert_eq!(steps.budget().yields(), 10);
/// # });
/// ```
pub fn iter_with<I: IntoIterator>(
    budget: Budget,
    iter: I,
) -> Cooperative<futures_lite::stream::Iter<I::IntoIter>> {
    Cooperative::new(futures_lite::stream::iter(iter), budget)
}
