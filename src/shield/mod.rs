//! Cure 6: critical work that survives cancellation, and is waited for at
//! shutdown.
//!
//! asyncio's `await asyncio.shield(critical())` runs `critical()` as a task
//! of its own, so cancelling the caller does not cut a message send or a
//! file write in half. In Rust, dropping a future cancels it, and in smol
//! dropping a `Task` cancels the task too, so the caller's cancellation
//! always reaches the work. [`shield`] gives the work a life of its own:
//!
//! | asyncio | async-guard |
//! |---|---|
//! | `await asyncio.shield(critical())` | [`shield`]`(critical()).await` or `critical().shield().await` |
//! | `asyncio.wait_for(asyncio.shield(op), t)` | `shield(op).timeout(t)`: the caller stops waiting, the work goes on |
//! | (no equivalent) a bound on the work itself | [`shield_within`]`(grace, op)` → `Err(`[`Expired`]`)` |
//! | keep a set of background tasks, `gather` them at exit | [`drain`]`(timeout).await` or a [`ShieldSet`] |
//!
//! ```
//! use std::time::Duration;
//! use async_guard::shield::{self, shield};
//! use async_guard::FutureExt as _;
//! # futures_lite::future::block_on(async {
//! async fn critical_task() -> &'static str {
//!     async_io::Timer::after(Duration::from_millis(20)).await; // a write, a send
//!     "done"
//! }
//! // The caller gives up after 5 ms; the critical work does not.
//! let caller = shield(critical_task()).timeout(Duration::from_millis(5));
//! assert!(caller.await.is_err());
//!
//! // At the end of `main`: wait for all shielded work, a bounded time.
//! let report = shield::drain(Duration::from_secs(5)).await;
//! assert_eq!(report.still_running, 0);
//! # });
//! ```
//!
//! # Where the work runs
//!
//! [`shield`] and [`shield_within`] start the work on a background
//! executor thread (`async-guard-shield`, started on first use) and track it
//! in a process-wide set, which [`drain`] and [`stats`] look at. That set is
//! never closed, so `shield` cannot fail. [`ShieldSet::with_spawner`] runs
//! the work on your executor instead (`smol::spawn(w).detach()`,
//! `async_std::task::spawn(w)`, ...) and [`ShieldSet::new`] gives a set of
//! its own on the background thread; both can be closed.
//!
//! The background thread is one thread: shielded work should be I/O-bound.
//! Offload CPU work or blocking calls inside it (`blocking::unblock`), as
//! anywhere else. Shielding from shielded work, and awaiting the inner
//! handle, is fine (no deadlock); blocking the thread is not (a `block_on`
//! inside shielded work stalls every other piece of work on it).
//!
//! A shielded future runs outside the caller's poll, so it does **not**
//! inherit the caller's deadline scope ([`crate::time`]): that is the point
//! of a shield. Bound it with [`shield_within`] instead.
//!
//! # Shutdown
//!
//! The real pitfall of shielding is that the process exits with the work
//! half done: background threads die with `main`. End `main` with
//! [`drain`] (or [`ShieldSet::close`] then [`ShieldSet::drain`]); the
//! [`DrainReport`] says what finished and what was still running when the
//! timeout ran out.
//!
//! # Panics
//!
//! A panic inside shielded work never takes down the executor. Awaiting the
//! handle re-raises it in the caller (original payload). When nobody awaits
//! (the handle was dropped), the panic is counted in
//! [`ShieldStats::unobserved_panics`] and passed to the hook set with
//! [`ShieldSet::on_panic`] or [`set_panic_hook`], so it is never silently
//! lost (asyncio's "Task exception was never retrieved", CPython issue
//! 86802).
//!
//! # Cancellation safety
//!
//! Dropping a [`Shielded`] handle, or the task awaiting it, at any point
//! never cancels the work; its output is dropped when it ends. Dropping a
//! [`drain`] future only stops waiting. Work is stopped early in exactly two
//! cases: its grace period from [`shield_within`] runs out (the future is
//! dropped at an `.await`, so the work should tolerate that, like any
//! timeout), or a user executor drops it (counted as
//! [`lost`](ShieldStats::lost)).
//!
//! # Edge cases
//!
//! - `shield_within(Duration::ZERO, fut)`: `fut` gets one poll; ready then,
//!   it wins, otherwise `Err(Expired)`. `Duration::MAX` never expires.
//! - `drain(Duration::ZERO)` takes stock without waiting; `Duration::MAX`
//!   waits as long as it takes. A drain does not close the set. A drain
//!   awaited by work of the same set waits for itself until its timeout.
//! - A closed set refuses with `Err(`[`Closed`](crate::Closed)`)` and drops
//!   the future unpolled.
//! - A user executor that drops the work makes the awaiting handle panic
//!   (there is no output to give); [`Shielded::is_finished`] tells without
//!   awaiting.
//! - A handle polled again after it returned its output panics, like most
//!   futures.
//!
//! # Cost
//!
//! One task spawn plus one small allocation for the result slot and a few
//! atomic counter updates; awaiting a shield costs about what spawning on
//! an `async_executor` and awaiting its `Task` costs (see `benches/shield.rs`).
//!
//! # Comparison with other crates
//!
//! `smol::spawn(..).detach()` survives the caller but loses the output and
//! the panic, and nothing waits for it at exit. tokio's `JoinHandle` does not
//! cancel on drop and tokio-util's `TaskTracker` waits at shutdown, but both
//! need tokio. asyncio's `shield` has no bound on the work and no drain.
//! This module gives the output, the panic, a grace bound and a drain, on
//! any executor.

mod background;
mod handle;
mod set;
mod track;

use std::fmt;
use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

pub use handle::Shielded;
pub use set::{BoxedWork, DrainReport, ShieldSet, ShieldStats};
pub use track::TrackedFuture;

/// The process-wide set behind [`shield`], [`drain`] and [`stats`].
fn default_set() -> &'static ShieldSet {
    static SET: OnceLock<ShieldSet> = OnceLock::new();
    SET.get_or_init(ShieldSet::new)
}

/// Runs `future` to its end on the background executor, whatever happens to
/// the caller; the handle gives its output.
///
/// The work is tracked in the process-wide set ([`drain`], [`stats`]),
/// which is never closed, so this cannot fail. Dropping the handle does not
/// cancel the work; awaiting it re-raises a panic of the work.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_guard::shield::shield;
/// # futures_lite::future::block_on(async {
/// let (tx, rx) = smol::channel::bounded(1);
/// let mut caller = Box::pin(async move {
///     shield(async move {
///         async_io::Timer::after(Duration::from_millis(10)).await;
///         tx.send("delivered").await.unwrap();
///     })
///     .await
/// });
/// // Poll the caller once (the send starts), then cancel it mid-operation.
/// assert!(futures_lite::future::poll_once(caller.as_mut()).await.is_none());
/// drop(caller);
/// assert_eq!(rx.recv().await.unwrap(), "delivered"); // not cut in half
/// # });
/// ```
pub fn shield<F>(future: F) -> Shielded<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match default_set().shield(future) {
        Ok(handle) => handle,
        Err(_) => unreachable!("the process-wide shield set is never closed"),
    }
}

/// Like [`shield`], but the work may take at most `grace`: when that runs
/// out the work is stopped (dropped at its current `.await`) and the handle
/// gives `Err(Expired)`.
///
/// The grace period starts when the work starts, and is independent of the
/// caller: cancelling the caller changes nothing.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_guard::shield::shield_within;
/// # futures_lite::future::block_on(async {
/// let quick = shield_within(Duration::from_secs(5), async { "flushed" });
/// assert_eq!(quick.await, Ok("flushed"));
/// let stuck = shield_within(Duration::from_millis(10), std::future::pending::<()>());
/// let err = stuck.await.unwrap_err();
/// assert_eq!(err.grace(), Duration::from_millis(10));
/// # });
/// ```
pub fn shield_within<F>(grace: Duration, future: F) -> Shielded<Result<F::Output, Expired>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match default_set().shield_within(grace, future) {
        Ok(handle) => handle,
        Err(_) => unreachable!("the process-wide shield set is never closed"),
    }
}

/// Waits until no work started with [`shield`] / [`shield_within`] is in
/// flight, or for at most `timeout`; call it at the end of `main`. See
/// [`ShieldSet::drain`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_guard::shield::{self, shield};
/// # futures_lite::future::block_on(async {
/// drop(shield(async_io::Timer::after(Duration::from_millis(10))));
/// let report = shield::drain(Duration::from_secs(5)).await;
/// assert!(report.is_complete());
/// # });
/// ```
pub fn drain(timeout: Duration) -> impl Future<Output = DrainReport> + Send + 'static {
    default_set().drain(timeout)
}

/// The counters of the process-wide set (see [`ShieldStats`]).
///
/// # Examples
///
/// ```
/// use async_guard::shield::{self, shield};
/// # futures_lite::future::block_on(async {
/// shield(async {}).await;
/// assert!(shield::stats().completed >= 1);
/// # });
/// ```
pub fn stats() -> ShieldStats {
    default_set().stats()
}

/// Sets the hook for panics of work started with [`shield`] that nobody
/// awaits; see [`ShieldSet::on_panic`].
///
/// # Examples
///
/// ```
/// async_guard::shield::set_panic_hook(|payload| {
///     let msg = payload.downcast_ref::<&str>().copied().unwrap_or("?");
///     eprintln!("shielded work panicked, nobody awaited it: {msg}");
/// });
/// ```
pub fn set_panic_hook<H>(hook: H)
where
    H: Fn(Box<dyn std::any::Any + Send + 'static>) + Send + Sync + 'static,
{
    default_set().on_panic(hook)
}

/// Shielded work ran out of its grace period and was stopped; returned by
/// [`shield_within`] and [`ShieldSet::shield_within`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_guard::shield::Expired;
/// let e = Expired::new(Duration::from_secs(2));
/// assert_eq!(e.grace(), Duration::from_secs(2));
/// assert!(e.to_string().contains("grace period"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expired {
    grace: Duration,
}

impl Expired {
    /// Creates the error for a grace period of `grace` (useful in tests and
    /// adapters).
    ///
    /// ```
    /// let e = async_guard::shield::Expired::new(std::time::Duration::ZERO);
    /// # let _ = e;
    /// ```
    pub fn new(grace: Duration) -> Self {
        Expired { grace }
    }

    /// The grace period that ran out.
    ///
    /// ```
    /// # use std::time::Duration;
    /// assert_eq!(async_guard::shield::Expired::new(Duration::MAX).grace(), Duration::MAX);
    /// ```
    pub fn grace(&self) -> Duration {
        self.grace
    }
}

impl fmt::Display for Expired {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "shielded work stopped: its grace period of {:?} ran out before it finished",
            self.grace
        )
    }
}

impl std::error::Error for Expired {}
