//! Cure 3: timeouts and deadlines for operations **and** streams.
//!
//! [`timeout`]`(d, fut)` (or `fut.timeout(d)`) bounds a future: `Err(`[`Elapsed`](crate::Elapsed)`)`
//! if it is not done in time, the future dropped (cancelled) with the
//! `Timeout`. Beyond the fixed timeout of `async_io::Timer` + `or`,
//! `async_std::future::timeout` or tokio's `time::timeout`, a deadline here
//! can be moved while pending ([`Timeout::reset`], [`Timeout::extend`]), is
//! a *scope* that bounds every timeout nested inside it (below), and has
//! stream forms: [`timeout_each`](crate::StreamExt::timeout_each),
//! [`idle_timeout`](crate::StreamExt::idle_timeout),
//! [`deadline`](crate::StreamExt::deadline). [`sleep`] and [`sleep_until`]
//! wait on the same timer, and with the `test-util` feature a `TestClock`
//! runs all of it on virtual time (see "Testing" below).
//!
//! ```
//! use std::time::Duration;
//! use async_guard::time::timeout;
//! # futures_lite::future::block_on(async {
//! async fn slow_task() -> &'static str {
//!     async_io::Timer::after(Duration::from_secs(5)).await;
//!     "done"
//! }
//! match timeout(Duration::from_millis(20), slow_task()).await {
//!     Ok(v) => println!("{v}"),
//!     Err(e) => println!("timed out: {e}"),
//! }
//! # });
//! ```
//!
//! # Deadline scopes
//!
//! A deadline is a *scope*, as in Trio or Go's `context`: while a
//! [`Timeout`] polls its inner future, its deadline bounds every timeout
//! nested inside, whatever their own durations: the effective deadline is the
//! earliest one. Code inside asks [`remaining`] or [`current_deadline`] how
//! much time it has.
//!
//! Who reports an expired deadline: the innermost timeout bounded by it.
//! Its `Elapsed` says whether the deadline was its own or an enclosing
//! scope's ([`Elapsed::is_enclosing`](crate::Elapsed::is_enclosing)), and a
//! deadline shared with an enclosing scope counts as the enclosing one's (as
//! in asyncio and Trio: the whole outer block is out of time). This holds
//! however the thread is scheduled: if the deadline passes between the
//! inner timeout's check and the outer's, the outer gives its child one
//! more poll to report it rather than contradict it. Each check reads the
//! clock when it is made (no reading is reused), so nested `block_on`s and
//! long synchronous stretches always see time move.
//!
//! This works on every executor because a poll is synchronous: the deadline
//! is published in a thread-local only while the parent polls its child, and
//! restored afterwards. The price: a task you `spawn` runs outside the
//! parent's poll and so does **not** inherit its deadline. Carry it over
//! explicitly with [`inherit`]:
//!
//! ```
//! use std::time::Duration;
//! use async_guard::time::{inherit, remaining, timeout};
//! # futures_lite::future::block_on(async {
//! timeout(Duration::from_secs(1), async {
//!     let child = inherit(async { remaining() }); // captures the deadline now
//!     let left = smol::spawn(child).await.unwrap();
//!     assert!(left.unwrap() <= Duration::from_secs(1));
//! })
//! .await
//! .unwrap();
//! # });
//! ```
//!
//! # Streams: which adaptor?
//!
//! | adaptor | the clock starts | on expiry | then |
//! |---|---|---|---|
//! | [`timeout_each(d)`](crate::StreamExt::timeout_each) | at each request for an item | yields `Err(Elapsed)` | keeps going (another gap, another `Err`) |
//! | [`idle_timeout(d)`](crate::StreamExt::idle_timeout) | at each request for an item | yields `Err(Elapsed)` | ends |
//! | [`deadline(at)`](crate::StreamExt::deadline) | once, for the whole stream | yields `Err(Elapsed)` | ends |
//!
//! The gap is measured from the moment the consumer asks for the next item,
//! so time the consumer spends on an item is never counted as silence.
//!
//! # Edge cases
//!
//! - `Duration::ZERO`: the inner future still gets one poll, and a future
//!   ready on that poll wins; otherwise `Elapsed` at once.
//! - `Duration::MAX`, or any deadline past what `Instant` can represent:
//!   never expires. Nothing here panics on overflow.
//! - A deadline in the past (including after [`Timeout::reset`]): expires
//!   on the next poll unless the inner future is ready.
//! - Precision: deadlines are rounded up to 1 ms and never fire early.
//! - When the clock starts: [`timeout_at`] has a fixed instant. [`timeout`]
//!   counts from the start of its first poll, as asyncio, Trio and tokio
//!   count from entry: synchronous work inside that poll uses up its time,
//!   and the operation is cancelled at its first suspension point after the
//!   deadline.
//!
//! # Cost
//!
//! A timeout whose future is ready on its first poll never arms a timer
//! (it reads the clock once, to start counting). A pending one registers in
//! the crate's one coarse timer, shared by all deadlines (one driver thread, deadlines bucketed per millisecond), not in
//! the reactor's per-timer map; a deadline that moves later keeps its old
//! registration and re-arms lazily when it fires. See `benches/time.rs`.
//!
//! # Cancellation safety
//!
//! Dropping a [`Timeout`] (or a stream adaptor) at any point drops the inner
//! future and removes its timer registration; nothing is left behind.
//!
//! # Testing
//!
//! With the `test-util` feature (for your dev-dependencies), `TestClock`
//! is a paused, virtual clock entered for the futures it drives: every
//! timer of the crate (these timeouts, [`sleep`], acquire timeouts, reaper
//! TTLs, shield grace periods, budgets' time slices, the lag probe) follows
//! it, and tests assert exact instants without waiting:
//!
//! ```
//! // [dev-dependencies] async-guard = { version = "0.1", features = ["test-util"] }
//! # #[cfg(feature = "test-util")] {
//! use std::{future::pending, time::Duration};
//! use async_guard::time::timeout;
//! let clock = async_guard::time::TestClock::new();
//! clock.set_auto_advance(true); // jump to the next deadline when all wait
//! clock.block_on(async {
//!     let start = async_guard::time::now();
//!     let err = timeout(Duration::from_secs(3600), pending::<()>()).await.unwrap_err();
//!     assert_eq!(err.deadline(), start + Duration::from_secs(3600)); // at once
//! });
//! # }
//! ```
//!
//! # Comparison with other crates
//!
//! `async_io::Timer` + `or` (the raw idiom), `smol-timeout` and
//! `async_std::future::timeout` give a fixed timeout per future. tokio's
//! `time::timeout` adds `reset` via `Sleep` but is tied to tokio's runtime.
//! `futures-time` has stream timeouts but no scopes. None of them lets
//! nested code see or obey an enclosing deadline.

mod deadline;
mod future;
mod scope;
mod sleep;
mod stream;
#[cfg(feature = "test-util")]
mod test_clock;

use deadline::Deadline;

use std::future::Future;
use std::time::{Duration, Instant};

pub use future::Timeout;
pub use sleep::{Sleep, sleep, sleep_until};
#[cfg(feature = "test-util")]
pub use test_clock::{OnClock, TestClock};

/// The time now on the crate's clock: the [`TestClock`](crate::time)
/// entered for the code being polled (feature `test-util`), else
/// `Instant::now()`. Code that measures time with it can be tested in
/// virtual time.
///
/// # Examples
///
/// ```
/// let t = async_guard::time::now();
/// assert!(t <= std::time::Instant::now());
/// ```
pub fn now() -> Instant {
    crate::rt::clock::now()
}
pub use stream::{IdleTimeout, TimeoutEach, WithDeadline};

/// Bounds `future` by `duration`: `Err(Elapsed)` if it is not done in time.
///
/// The future is dropped (cancelled) only when the `Timeout` is dropped; see
/// [`Timeout`] for resetting the deadline or recovering the future.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_guard::time::timeout;
/// # futures_lite::future::block_on(async {
/// assert_eq!(timeout(Duration::from_secs(1), async { 5 }).await, Ok(5));
/// let slow = async_io::Timer::after(Duration::from_secs(5));
/// assert!(timeout(Duration::from_millis(10), slow).await.is_err());
/// # });
/// ```
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout::new(future, Deadline::after(duration))
}

/// Bounds `future` by the instant `deadline`.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use async_guard::time::timeout_at;
/// # futures_lite::future::block_on(async {
/// let at = Instant::now() + Duration::from_millis(10);
/// let err = timeout_at(at, std::future::pending::<()>()).await.unwrap_err();
/// assert!(std::time::Instant::now() >= at);
/// assert_eq!(err.deadline(), at);
/// # });
/// ```
pub fn timeout_at<F: Future>(deadline: Instant, future: F) -> Timeout<F> {
    Timeout::new(future, Deadline::at(Some(deadline)))
}

/// The deadline in force for the code being polled right now: the earliest
/// of all enclosing [`Timeout`]s, or `None` when nothing bounds it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use std::time::Instant;
/// use async_guard::time::{current_deadline, timeout_at};
/// # futures_lite::future::block_on(async {
/// assert_eq!(current_deadline(), None);
/// let at = Instant::now() + Duration::from_secs(1);
/// let seen = timeout_at(at, async { current_deadline() }).await.unwrap();
/// assert_eq!(seen, Some(at));
/// # });
/// ```
pub fn current_deadline() -> Option<std::time::Instant> {
    scope::current()
}

/// How long the code being polled right now has before the earliest
/// enclosing deadline (`Some(Duration::ZERO)` once it passed), or `None`
/// when nothing bounds it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_guard::time::{remaining, timeout};
/// # futures_lite::future::block_on(async {
/// assert_eq!(remaining(), None);
/// let left = timeout(Duration::from_secs(2), async { remaining() }).await.unwrap();
/// assert!(left.unwrap() <= Duration::from_secs(2));
/// # });
/// ```
pub fn remaining() -> Option<Duration> {
    scope::current().map(|at| at.saturating_duration_since(crate::rt::clock::now()))
}

/// Binds `future` to the deadline in force *where `inherit` is called*, so
/// that it can be spawned as a separate task and still obey it.
///
/// Call it inside the parent (while it is polled); outside any scope the
/// result has no deadline.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_guard::time::{inherit, timeout};
/// # futures_lite::future::block_on(async {
/// // Built inside a 10 ms scope, the child carries that deadline with it...
/// let child = timeout(Duration::from_millis(10), async { inherit(std::future::pending::<()>()) })
///     .await
///     .unwrap();
/// // ...so even as a separate task, outside the scope, it stops in time.
/// assert!(smol::spawn(child).await.is_err());
/// # });
/// ```
pub fn inherit<F: Future>(future: F) -> Timeout<F> {
    Timeout::new(future, Deadline::at(scope::current()))
}

/// Runs `f` (one poll of a future) outside every deadline scope: code inside
/// sees no enclosing deadline, as if it ran in a task of its own. Used by
/// `shield`, whose work is polled by its caller but must not inherit the
/// caller's deadline.
#[inline]
pub(crate) fn outside_scopes<R>(f: impl FnOnce() -> R) -> R {
    scope::enter(None, f).0
}
