//! # async-guard
//!
//! Six cures for the diseases that kill async services, for the smol
//! ecosystem and any executor (smol, async-std, `futures_lite::future::block_on`,
//! a bare `async_executor::Executor`). No tokio, no proc macros, no `unsafe`.
//!
//! | disease | cure | module |
//! |---|---|---|
//! | CPU work freezes the event loop | run it on a bounded CPU pool | [`offload`](mod@offload) |
//! | unbounded concurrency exhausts memory and CPU | a fair, weighted, closable limiter with load shedding | [`limit`] |
//! | operations and streams that hang forever | timeouts, deadline scopes, stream timeouts | [`time`] |
//! | hot loops starve other tasks | cooperative yielding, stall detection, lag probe | [`budget`] |
//! | idle tasks leak | activity tracking that reaps idle tasks | [`reaper`] |
//! | critical writes lost on cancellation | shielded work that survives its caller, drained at exit | [`shield`](mod@shield) |
//!
//! ```
//! use std::time::Duration;
//! use async_guard::prelude::*;
//! # futures_lite::future::block_on(async {
//! let answer = async { 42 }.timeout(Duration::from_secs(1)).await?;
//! assert_eq!(answer, 42);
//! # Ok::<(), async_guard::Error>(())
//! # }).unwrap();
//! ```
//!
//! # The six cures
//!
//! Each module starts with a table from the asyncio technique it replaces
//! to its Rust counterpart, then covers edge cases, cancellation safety,
//! measured cost and a comparison with other crates.
//!
//! - [`offload`](mod@offload): [`offload(f)`](offload()) runs CPU-bound
//!   work on a process-wide pool of one thread per core; [`CpuPool`] is a
//!   pool of your own, with a bounded queue
//!   ([`try_run`](CpuPool::try_run) sheds load) and statistics.
//!   [`offload::unblock`] (from `blocking`) is for blocking I/O instead.
//! - [`limit`]: [`Limiter`] is asyncio's `Semaphore` grown up: strict FIFO,
//!   weighted ([`acquire_many`](Limiter::acquire_many)), with timeouts,
//!   load shedding, [`close`](Limiter::close) and
//!   [`set_limit`](Limiter::set_limit); [`Permit`] releases on drop.
//!   [`limit::gather`] and [`map_limited`](StreamExt::map_limited) bound
//!   concurrency without a limiter.
//! - [`time`]: [`time::timeout`] and [`time::timeout_at`] (or
//!   [`FutureExt::timeout`]) with deadlines that can be moved, and
//!   *deadline scopes*: nested code sees and obeys the earliest enclosing
//!   deadline ([`time::remaining`]). Streams get
//!   [`timeout_each`](StreamExt::timeout_each),
//!   [`idle_timeout`](StreamExt::idle_timeout) and
//!   [`deadline`](StreamExt::deadline).
//! - [`budget`]: [`Budget`] makes a hot loop yield every `n` ticks or every
//!   time slice; [`budget::yield_now`], [`budget::iter`] and
//!   [`cooperative`](StreamExt::cooperative) streams. To find the culprit:
//!   [`detect_stalls`](FutureExt::detect_stalls) times each poll, a
//!   [`LagProbe`] measures how late the executor runs its tasks.
//! - [`reaper`]: a [`Reaper`] runs tasks under
//!   [`track`](Reaper::track) and cancels those that do not
//!   [`touch`](reaper::Activity::touch) their activity within a
//!   time-to-live; [`watch`](Reaper::watch) does the same for things that
//!   are not one future.
//! - [`shield`](mod@shield): [`shield::shield`] (or [`FutureExt::shield`]) runs
//!   critical work to its end whatever happens to the caller, and
//!   [`shield::drain`] waits for it at the end of `main`; a [`ShieldSet`]
//!   is a group of its own, closable, on your executor if you like.
//!
//! Every handle that counts things has a `stats()` snapshot
//! ([`Limiter::stats`], [`CpuPool::stats`], [`Reaper::stats`],
//! [`ShieldSet::stats`], [`LagProbe::stats`]).
//!
//! # Errors
//!
//! Every fallible operation returns a small typed error that says in plain
//! words what happened:
//!
//! | error | returned by |
//! |---|---|
//! | [`Elapsed`] | [`time::timeout`] and friends, the stream adaptors, [`Limiter::acquire_timeout`] (inside [`AcquireError`](limit::AcquireError)) |
//! | [`Closed`] | a closed [`Limiter`] (inside `AcquireError`), a closed [`ShieldSet`], a closed reaper's [`Idle`](reaper::Idle) |
//! | [`Overloaded`] | [`CpuPool::try_run`] on a full queue, a [`Limiter`] with `max_waiting` callers already waiting (inside `AcquireError`) |
//! | [`Reaped`] | a task of [`Reaper::track`] that went idle, or whose reaper was closed |
//! | [`Expired`] | work of [`shield::shield_within`] that ran out of its grace period |
//! | [`AcquireError`](limit::AcquireError) | the acquire methods of [`Limiter`]: one of the above, or a request that can never be granted |
//!
//! Each converts into the crate-wide [`Error`] with `?`, for callers that
//! want one type; `Error` is transparent (same message, no extra source).
//!
//! ```
//! use std::time::Duration;
//! use async_guard::{limit::Limiter, Error, FutureExt as _};
//! # futures_lite::future::block_on(async {
//! async fn handle(limiter: &Limiter) -> Result<u32, Error> {
//!     let _permit = limiter.acquire().await?; // AcquireError -> Error
//!     let reply = async { 7 }.timeout(Duration::from_secs(1)).await?; // Elapsed -> Error
//!     Ok(reply)
//! }
//! let limiter = Limiter::new(1);
//! assert_eq!(handle(&limiter).await?, 7);
//! limiter.close();
//! assert!(matches!(handle(&limiter).await, Err(Error::Limit(e)) if e.is_closed()));
//! # Ok::<(), Error>(())
//! # }).unwrap();
//! ```
//!
//! # Extension traits and prelude
//!
//! [`FutureExt`] puts `timeout`, `timeout_at`, `shield`, `shield_within`
//! and `detect_stalls` on every future; [`StreamExt`] puts `timeout_each`,
//! `idle_timeout`, `deadline`, `cooperative`, `cooperative_with` and
//! `map_limited` on every stream. None of these names exists on
//! `futures_lite`'s traits, and [`prelude`] imports both traits
//! anonymously, so `use async_guard::prelude::*;` sits next to
//! `use futures_lite::prelude::*;` without clashes. (`async_std::prelude`
//! has its own `timeout`; with both imported, call [`time::timeout`].)
//!
//! # Any runtime
//!
//! Nothing in the crate assumes a runtime: there is no runtime handle, no
//! task-local, no "must be called from within a runtime" panic. Futures
//! only use their `Waker`; deadline scopes travel in a thread-local that is
//! set only while a [`Timeout`](time::Timeout) polls its inner future, so
//! they work under every executor (a spawned task does not inherit its
//! parent's deadline: carry it with [`time::inherit`]). What must keep
//! running while your tasks are busy runs on the crate's own threads
//! (below). The integration tests run every cure under smol, async-std,
//! `block_on` and a bare `async_executor::Executor`.
//!
//! # Background threads
//!
//! Every cure shares one small runtime core (`src/rt/`): one clock, one
//! timer and one background executor. The crate starts a few threads, each
//! on first use of the feature that needs it (none at all if you only use,
//! say, [`Limiter::acquire`] and [`Budget`]):
//!
//! | thread name | started when | lives |
//! |---|---|---|
//! | `guard-timer` | the first deadline that stays pending: timeouts, [`time::sleep`], [`Limiter::acquire_timeout`], [`shield::shield_within`], drains, reaper ticks, [`LagProbe`] beats; one coarse, process-wide timer with 1 ms ticks | for the process; parked when nothing is due |
//! | `guard-runtime` | the first [`Reaper`] built or the first work shielded on the crate's executor ([`shield::shield`], [`ShieldSet::new`]; not [`ShieldSet::with_spawner`]) | for the process; one `async_executor::Executor` running one driver task per reaper and the shielded work |
//! | `offload-N` (or `{name}-N` of [`CpuPool::builder`]) | a job is queued and no pool thread is idle, up to the pool's thread count | until the pool shuts down (last [`CpuPool`] handle dropped, queue drained); the global pool's for the process |
//!
//! [`offload::unblock`] uses `blocking`'s pool, and `async-io` starts its
//! own reactor thread if your code uses its timers or sockets.
//!
//! **When the OS refuses a thread** (a `ulimit -u`, a container's pid
//! limit), one policy holds everywhere: the work that needed the thread
//! stays queued and the start is retried (every 10 ms by the timer thread,
//! and at the next use), so the work runs late once threads are available;
//! the caller is never blocked or spun, a CPU job is never run inline on
//! the caller's event loop, nothing is disabled for the rest of the process
//! (a [`Reaper`] built during the shortage starts reaping when its driver
//! can run), and `blocking`'s pool is never borrowed for a never-ending
//! task. If the timer thread itself cannot start, pending deadlines fire
//! late (at the next timer use after the shortage), never early.

//! # Features
//!
//! - `test-util` (off by default; for dev-dependencies): [`time::TestClock`](time),
//!   a virtual clock that drives every timer of the crate in tests.
//! - `tracing` (off by default): events where an operator wants a log line,
//!   through the `tracing` crate (no proc macros, no tokio):
//!
//! | target | level | message | fields |
//! |---|---|---|---|
//! | `async_guard::limit` | `WARN` | `load shed` | `limit`, `waiting` |
//! | `async_guard::limit` | `DEBUG` | `acquire timed out` | `timed_out_after` |
//! | `async_guard::limit` | `DEBUG` | `adaptive limit changed` | `limit`, `previous`, `no_load_rtt_ms`, `recent_rtt_ms` (-1: none yet) |
//! | `async_guard::offload` | `WARN` | `pool queue full` | `pool`, `waiting` |
//! | `async_guard::reaper` | `INFO` | `task reaped` | `reaper`, `task`, `idle_ms` |
//! | `async_guard::shield` | `ERROR` | `shielded work panicked` (nobody awaited it) | `panic` |
//! | `async_guard::shield` | `WARN` | `shielded work expired` | `grace_ms` |
//! | `async_guard::budget` | `WARN` | `stall detected` | `future`, `poll_ms` |
//!
//! # Cancellation safety
//!
//! Dropping any future of this crate at any `.await` leaks nothing: no
//! permit, no queued waiter, no timer registration, no tracked entry. The
//! details, per module:
//!
//! - [`time`](time#cancellation-safety): dropping a timeout drops the inner
//!   future and its timer registration.
//! - [`limit`](limit#cancellation-safety): a dropped waiter leaves the
//!   queue; permits granted to it but not yet collected go to the next
//!   waiter (the race that broke asyncio's semaphore).
//! - [`offload`](mod@offload#cancellation-safety): a job dropped before it
//!   started never runs; a running one finishes on its thread (threads
//!   cannot be interrupted) and its result is dropped there.
//! - [`budget`](budget#cancellation-safety): nothing is held across an
//!   await; no stream item is buffered, so none is lost.
//! - [`reaper`](reaper#cancellation-safety): dropping a tracked task takes
//!   it out of its reaper at once.
//! - [`shield`](mod@shield#cancellation-safety): dropping a handle never cancels
//!   the work; only a grace period or a user executor stops it early.
//!
//! These are checked by dropping every public future after 0, 1, 2, ...
//! polls (`tests/torture.rs`).
//!
//! # Panics
//!
//! A panic inside user work is caught where it runs and handed back: an
//! offloaded job's or shielded work's panic resumes in the task that
//! awaits it (with the original payload), a panic nobody awaits is counted
//! (and passed to a hook for shields), and the crate's threads survive.
//! Hooks (`on_reap`, `on_panic`) that panic are contained. Bad input
//! (zero or huge limits, `Duration::ZERO`/`MAX`, far-future instants) has
//! documented behaviour, listed in each module's "Edge cases", and does
//! not panic. Polling a completed [`Offload`](offload::Offload),
//! [`Shielded`] or [`Tracked`](reaper::Tracked) again panics, as for most
//! futures.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

pub mod budget;
mod error;
mod ext;
pub mod limit;
pub mod offload;
pub mod reaper;
mod rt;
pub mod shield;
mod sync;
pub mod time;
mod trace;

#[cfg(async_guard_loom)]
#[doc(hidden)]
pub use rt::timer::model as __loom_wheel;

pub use budget::{Budget, LagProbe};
pub use error::{Closed, Elapsed, Error, Expired, Overloaded, Reaped};
pub use ext::{FutureExt, StreamExt};
pub use limit::{Limiter, Permit};
pub use offload::{CpuPool, offload};
pub use reaper::Reaper;
pub use shield::{ShieldSet, Shielded, shield};
pub use time::{sleep, timeout, timeout_at};

/// The extension traits, imported anonymously so they never clash with
/// `futures_lite`'s traits of the same name.
///
/// ```
/// use async_guard::prelude::*;
/// use futures_lite::prelude::*; // both at once is fine
/// ```
pub mod prelude {
    pub use crate::ext::{FutureExt as _, StreamExt as _};
}

/// The README's Rust snippets (its quick start included), compiled and run
/// as doc tests by `cargo test`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
