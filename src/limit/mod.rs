//! Cure 2: concurrency limits: a fair, weighted, closable limiter with load
//! shedding, and `gather` with a bound.
//!
//! asyncio bounds concurrency with `asyncio.Semaphore(n)` and
//! `async with semaphore:` around the body of each task started by
//! `asyncio.gather`, so that a burst cannot exhaust memory or CPU. This
//! module is that, for any executor:
//!
//! | asyncio | async-guard |
//! |---|---|
//! | `sem = asyncio.Semaphore(3)` | `let limiter = `[`Limiter::new`]`(3);` |
//! | `async with sem: ...` | `let _permit = limiter.acquire().await?;` or [`limiter.run(fut)`](Limiter::run) |
//! | `sem.locked()` / `sem._value` | [`Limiter::available`], [`Limiter::stats`] |
//! | `await asyncio.wait_for(sem.acquire(), 2)` | [`Limiter::acquire_timeout`] |
//! | `gather(*tasks)` under a semaphore | [`gather`]`(3, tasks)`, [`try_gather`] |
//! | semaphore inside an `async for` | [`StreamExt::map_limited`](crate::StreamExt::map_limited) |
//! | (none) | [`Limiter::acquire_many`] (weights), [`max_waiting`](LimiterBuilder::max_waiting) (shedding), [`Limiter::close`], [`Limiter::set_limit`], [`Limiter::add_permits`], [`Limiter::forget_permits`] |
//!
//! ```
//! use std::time::Duration;
//! use async_guard::limit::{gather, Limiter};
//! # futures_lite::future::block_on(async {
//! let limiter = Limiter::new(3);
//! let tasks = (0..10).map(|i| {
//!     let limiter = limiter.clone();
//!     async move {
//!         let _permit = limiter.acquire().await?; // async with semaphore:
//!         async_io::Timer::after(Duration::from_millis(2)).await;
//!         Ok::<_, async_guard::Error>(i)
//!     }
//! });
//! let done = gather(10, tasks).await; // asyncio.gather(*tasks)
//! assert!(done.iter().all(Result::is_ok));
//! // The same bound without a limiter: at most 3 run at once.
//! let squares = gather(3, (0..10).map(|i| async move { i * i })).await;
//! assert_eq!(squares[9], 81);
//! # });
//! ```
//!
//! # Fairness
//!
//! Waiters are served in strict FIFO order, weights included: when permits
//! come back they are *handed* to the head of the queue (the releaser does
//! not keep them, a newcomer cannot take them), so a waiter for 5 permits is
//! never starved by a stream of 1-permit requests. The price is
//! head-of-line blocking, exactly as with Go's
//! `golang.org/x/sync/semaphore`: while the head waits for 5 permits, a
//! 1-permit request behind it waits too, even if 1 permit is free. A new
//! request that finds others queued joins the queue even when permits are
//! free ([`try_acquire`](Limiter::try_acquire) fails in that case).
//!
//! Hand-off also costs throughput under heavy contention: every release
//! to a waiter wakes it (one more task switch per acquisition) instead of
//! letting the running task re-acquire at once. `benches/limit.rs` measures
//! it against `async_lock::Semaphore`, which lets newcomers barge, in the
//! same group (figures: `BENCHMARKS.md`). What fairness buys is the wait
//! distribution: everyone is served in turn, nobody loses every race.
//! Uncontended (nobody queues), an acquire and a release are one
//! compare-and-swap each on an atomic word, no lock and no allocation.
//!
//! # Load shedding, closing, resizing
//!
//! - [`max_waiting(m)`](LimiterBuilder::max_waiting): when `m` callers
//!   already wait, the next one gets [`AcquireError::Overloaded`] at once
//!   and is counted in [`LimiterStats::rejected`]; it is never queued.
//! - [`close`](Limiter::close): every queued waiter wakes with
//!   [`AcquireError::Closed`], later acquires fail at once; permits already
//!   held keep working and come back normally.
//! - [`set_limit`](Limiter::set_limit), and relative to the current limit
//!   [`add_permits`](Limiter::add_permits) and
//!   [`forget_permits`](Limiter::forget_permits) (each atomic with respect
//!   to the others): growing serves waiters at once; shrinking never
//!   revokes a held permit, the surplus is absorbed as permits are
//!   released; queued waiters stay queued.
//!
//! # Edge cases
//!
//! - A limit of 0 is a closed gate, as with tokio's and async-lock's
//!   `Semaphore::new(0)` and Trio's `total_tokens = 0`: `Limiter::new(0)`
//!   parks acquirers until [`add_permits`](Limiter::add_permits) or
//!   [`set_limit`](Limiter::set_limit) opens it, and `set_limit(0)` pauses
//!   admission: queued waiters stay queued (they are not failed), held
//!   permits are absorbed as they come back.
//! - A weighted request above the *current* limit waits until the limit
//!   grows enough (and, FIFO, everyone behind it waits too). Only a request
//!   above [`Limiter::MAX_PERMITS`] (`usize::MAX >> 3`), which no limiter
//!   can ever hold, fails at once with [`AcquireError::TooMany`]. Bound the
//!   wait with [`acquire_timeout`](Limiter::acquire_many_timeout) or
//!   [`max_waiting`](LimiterBuilder::max_waiting).
//! - Limits above `MAX_PERMITS` (`Limiter::new(usize::MAX)`, `set_limit`,
//!   `add_permits`) are clamped to it; nothing overflows.
//!   `forget_permits(n)` removes at most the whole limit and says how many
//!   it removed.
//! - [`available`](Limiter::available) is what a newcomer could take right
//!   now: 0 while anybody queues (free permits are then reserved for the
//!   head, see [`LimiterStats::reserved`]) and 0 once closed.
//! - `acquire_many(0)` succeeds at once with an empty permit (unless closed).
//! - [`Permit::forget`] removes the permits from the limiter for good (the
//!   limit shrinks by the weight).
//! - `gather(0, ..)` and `map_limited(0, ..)` behave like a limit of 1.
//! - A future polled again after it completed stays pending (no panic).
//!
//! # Cancellation safety
//!
//! Dropping any future of this module at any point loses nothing. A queued
//! [`Acquire`] that is dropped leaves the queue, and if it was the head the
//! next waiter is served at once. A waiter dropped *after* permits were
//! granted to it but before it collected them (the race that broke
//! asyncio's semaphore, CPython issues 90155 and 93222) hands them on to the
//! next waiter. A waker is never dropped or woken while the limiter's lock
//! is held, so a waker whose drop releases a permit of the same limiter
//! (the waker of a task that holds one) cannot deadlock it.
//! `acquire_timeout` firing in the same instant as a grant is
//! the same race and is handled the same way. Dropping a [`Gather`],
//! [`TryGather`] or [`MapLimited`] drops the futures it runs (and the
//! permits they hold).
//!
//! # Comparison with other crates
//!
//! `async_lock::Semaphore` (the smol ecosystem's) lets a newcomer barge
//! ahead of a woken waiter, and has no weights, close, timeout, shedding or
//! statistics. tokio's `Semaphore` has FIFO, weights and close, but no
//! shedding, no statistics, no safe shrink, and needs tokio. Go's weighted
//! semaphore has FIFO and weights but no close. None bounds a `gather`.

pub mod adaptive;
mod error;
pub mod futures;
mod gather;
mod limiter;
mod permit;
mod queue;
mod running;
mod stream;

pub use adaptive::{AdaptiveLimiter, AdaptivePermit};
pub use error::AcquireError;
pub use futures::{Acquire, AcquireTimeout, Run};
pub use gather::{Gather, TryGather, gather, try_gather};
pub use limiter::{Limiter, LimiterBuilder, LimiterStats};
pub use permit::Permit;
pub use stream::MapLimited;
